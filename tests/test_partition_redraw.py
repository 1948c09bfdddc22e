"""Redraw: the band restored after households change, few households moved, locks kept."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, box
from typer.testing import CliRunner

from geogrid.cli import app
from geogrid.errors import GeogridError
from geogrid.io import read_plan, write_plan
from geogrid.partition import Band, lower_bound, partition_areas, redraw
from geogrid.validate import validate_plan

CRS = 4547
BAND = Band(300, 500)


def community(seed=0, n=1200):
    rng = np.random.default_rng(seed)
    pts = rng.uniform([0, 0], [2000, 1500], size=(n, 2))
    hh = gpd.GeoDataFrame(
        {"households": rng.integers(1, 8, n)},
        geometry=gpd.points_from_xy(pts[:, 0], pts[:, 1]),
        crs=CRS,
    )
    areas = gpd.GeoDataFrame(
        {"code": ["420106001001"], "name": ["测试社区"]}, geometry=[box(0, 0, 2000, 1500)], crs=CRS
    )
    roads = gpd.GeoDataFrame(
        geometry=[LineString([(1000, -10), (1000, 1510)]), LineString([(-10, 750), (2010, 750)])],
        crs=CRS,
    )
    return hh, areas, roads


def add_corner(hh, share, seed=1):
    rng = np.random.default_rng(seed)
    extra = int(hh["households"].sum() * share)
    pts = rng.uniform([1600, 1200], [2000, 1500], size=(extra, 2))
    more = gpd.GeoDataFrame(
        {"households": np.ones(extra, int)},
        geometry=gpd.points_from_xy(pts[:, 0], pts[:, 1]),
        crs=CRS,
    )
    return pd.concat([hh, more], ignore_index=True)


@pytest.fixture(scope="module")
def planned():
    hh, areas, roads = community()
    plan, _ = partition_areas(areas, hh, band=BAND, barriers=roads)
    return hh, plan


def test_lower_bound():
    assert lower_bound(np.array([520.0, 400, 290]), BAND) == 20.0


def test_ten_percent_in_a_corner(planned):
    hh, plan = planned
    result = redraw(plan, add_corner(hh, 0.10), band=BAND)
    grids = result.plan.level(2)
    assert grids["households"].between(300, 500).all()
    assert result.out_of_band == []
    assert validate_plan(result.plan) == []
    assert result.plan.units["households"].sum() == int(add_corner(hh, 0.10)["households"].sum())
    largest = int(result.plan.units["households"].max())
    assert result.moved_households <= 1.25 * result.lower_bound + largest
    assert result.changes["households"].sum() == result.moved_households
    # every grid one polygon
    assert (shapely.get_num_geometries(grids.geometry.to_numpy()) == 1).all()
    # codes kept, one new grid with a fresh code
    old = set(plan.level(2)["code"])
    assert old <= set(grids["code"])
    new = result.lineage[result.lineage["change"] == "new"]
    assert len(new) == len(grids) - len(old) and not set(new["new_code"]) & old


def test_nothing_changed_moves_nothing(planned):
    hh, plan = planned
    result = redraw(plan, hh, band=BAND)
    assert result.moved_households == 0 and result.changes.empty
    assert set(result.lineage["change"]) == {"unchanged"}


def test_plan_without_units_is_redrawn_from_its_grids(planned):
    hh, plan = planned
    bare = plan.copy()
    bare.units = bare.units.iloc[:0]
    result = redraw(bare, add_corner(hh, 0.10), band=BAND)
    assert result.built_units and result.out_of_band == []
    assert result.plan.level(2)["households"].between(300, 500).all()
    assert validate_plan(result.plan) == []


def test_cli_redraw_and_max_moved(planned, tmp_path):
    hh, plan = planned
    plan_path, hh_path = tmp_path / "plan.gpkg", tmp_path / "new.gpkg"
    write_plan(plan, plan_path)
    add_corner(hh, 0.10).to_file(hh_path)
    runner = CliRunner()
    refused = runner.invoke(
        app,
        [
            "redraw",
            str(plan_path),
            "--households",
            str(hh_path),
            "--band",
            "300-500",
            "--max-moved",
            "10",
            "-o",
            str(tmp_path / "x.gpkg"),
        ],
    )
    assert refused.exit_code == 2 and "max-moved" in refused.output
    assert "lower bound" in refused.output
    assert not (tmp_path / "x.gpkg").exists()
    done = runner.invoke(
        app,
        [
            "redraw",
            str(plan_path),
            "--households",
            str(hh_path),
            "--band",
            "300-500",
            "-o",
            str(tmp_path / "new_plan.gpkg"),
        ],
    )
    assert done.exit_code == 0, done.output
    changes = pd.read_csv(tmp_path / "new_plan_changes.csv", dtype=str, encoding="utf-8-sig")
    assert {"楼栋 building", "原网格编码 old grid code", "新网格编码 new grid code"} <= set(
        changes.columns
    )
    assert changes["户数 households"].astype(int).sum() > 0
    assert (tmp_path / "new_plan_lineage.csv").exists()
    assert read_plan(tmp_path / "new_plan.gpkg").level(2)["households"].between(300, 500).all()


def test_locked_grid_untouched():
    hh, areas, roads = community(seed=3)
    school = gpd.GeoDataFrame(
        {"code": ["420106001001050"], "name": ["学校"]},
        geometry=[box(1500, 1000, 1900, 1400)],
        crs=CRS,
    )
    plan, _ = partition_areas(areas, hh, band=BAND, barriers=roads, locked=school)
    result = redraw(plan, add_corner(hh, 0.10, seed=5), band=BAND)
    before = plan.grids.set_index("code").loc["420106001001050"]
    after = result.plan.grids.set_index("code").loc["420106001001050"]
    assert before.geometry.equals(after.geometry)
    locked_units = result.plan.units[result.plan.units["locked"]]
    assert set(locked_units["grid_code"]) == {"420106001001050"}
    assert "420106001001050" not in set(result.changes["from_code"]) | set(
        result.changes["to_code"]
    )
    assert result.lineage.set_index("new_code").loc["420106001001050", "change"] == "locked"
    free = result.plan.level(2)
    free = free[free["code"] != "420106001001050"]
    assert free["households"].between(300, 500).all()


def test_sample_grows_in_the_north_east():
    # the sample's partition has sliver cells that the coverage cleaning of a redraw empties:
    # they must neither crash the unit measures nor seed a new grid of their own
    from test_redraw_imported import grown_sample

    from geogrid.io import read_layer
    from geogrid.samples import sample_path

    areas = read_layer(sample_path("haidian", "area.geojson"))
    roads = read_layer(sample_path("haidian", "roads.gpkg"), layer="roads")
    grown = grown_sample()
    plan, _ = partition_areas(
        areas, grown.assign(households=grown["households_before"]), band=BAND, barriers=roads
    )
    result = redraw(plan, grown, band=BAND)
    assert result.out_of_band == []
    assert result.plan.level(2)["households"].sum() == grown["households"].sum()
    largest = int(result.plan.units["households"].max())
    assert result.moved_households <= 1.25 * result.lower_bound + largest
    assert validate_plan(result.plan) == []


def test_micro_grids_recut_under_changed_grids_only():
    hh, areas, roads = community()
    plan, _ = partition_areas(areas, hh, band=BAND, barriers=roads, then_band=(20, 50))
    result = redraw(plan, add_corner(hh, 0.10), band=BAND, then_band=(20, 50))
    assert validate_plan(result.plan) == []
    touched = set(result.lineage.loc[result.lineage["change"] != "unchanged", "new_code"])
    assert touched and set(result.lineage["change"]) >= {"unchanged", "changed"}
    before, after = plan.level(3).set_index("code"), result.plan.level(3).set_index("code")
    for grid in result.plan.level(2)["code"]:
        old = before[before["parent_code"] == grid]
        new = after[after["parent_code"] == grid]
        assert len(new) > 0  # every grid, changed or not, has its micro-grids
        if grid in touched:
            assert new["households"].between(20, 50).mean() >= 0.9
        else:  # untouched: the same micro-grids, same codes and shapes
            assert list(new.index) == list(old.index)
            assert all(new.geometry.geom_equals_exact(old.geometry, 1e-9))
    units = result.plan.units
    assert set(units["grid_code"]) == set(after.index)  # units carry micro-grid codes


def test_then_band_needs_micro_grids(planned):
    hh, plan = planned
    with pytest.raises(GeogridError, match="partition with then_band first"):
        redraw(plan, hh, band=BAND, then_band=(20, 50))
