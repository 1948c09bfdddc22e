"""The shipped Haidian sample data (data/boundaries/haidian) keeps its promises.

These tests read only the shipped files; they never need /work/shared or the OSM source.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from geogrid.io import read_plan

DATA = Path(__file__).parents[1] / "data" / "boundaries" / "haidian"
FILES = ("area.geojson", "households.gpkg", "roads.gpkg", "plan.gpkg")
HOUSEHOLD_BAND = (150, 700)


@pytest.fixture(scope="module")
def plan():
    return read_plan(DATA / "plan.gpkg")


@pytest.fixture(scope="module")
def area() -> gpd.GeoDataFrame:
    return pyogrio.read_dataframe(DATA / "area.geojson")


@pytest.fixture(scope="module")
def buildings() -> gpd.GeoDataFrame:
    return pyogrio.read_dataframe(DATA / "households.gpkg", layer="buildings")


def test_files_are_shipped_small_and_documented():
    sizes = {name: (DATA / name).stat().st_size for name in FILES}
    assert sum(sizes.values()) < 3_000_000, sizes
    for doc in ("README.md", "LICENSE-ODbL.txt", "make_sample.py"):
        assert (DATA / doc).is_file()
    assert "opendatacommons.org/licenses/odbl/1-0" in (DATA / "LICENSE-ODbL.txt").read_text("utf-8")


@pytest.mark.parametrize(
    ("file", "layer"),
    [
        ("area.geojson", None),
        ("households.gpkg", "buildings"),
        ("households.gpkg", "estates"),
        ("roads.gpkg", "roads"),
        ("plan.gpkg", "grids"),
        ("plan.gpkg", "units"),
    ],
)
def test_layers_are_in_cgcs2000_lon_lat(file, layer):
    info = pyogrio.read_info(DATA / file, layer=layer)
    assert info["crs"] == "EPSG:4490"
    xmin, ymin, xmax, ymax = info["total_bounds"]
    assert 116.29 < xmin < xmax < 116.34  # longitude first: Haidian, Beijing
    assert 39.98 < ymin < ymax < 40.02


def test_communities_are_an_exact_coverage(area, plan):
    assert 2 <= len(area) <= 4
    assert area.is_valid.all()
    assert shapely.coverage_is_valid(area.geometry.to_numpy())
    outline = shapely.coverage_union_all(area.geometry.to_numpy())
    assert outline.geom_type == "Polygon" and not outline.interiors  # one area, no gaps inside
    assert np.isclose(shapely.area(area.geometry.to_numpy()).sum(), outline.area, rtol=1e-12)
    assert all(len(c) == 12 and c.startswith("110108") for c in area["code"])
    assert all(name.endswith("社区") for name in area["name"])
    top = plan.level(1).set_index("code")
    assert sorted(top.index) == sorted(area["code"])
    for code, geom in zip(area["code"], area.geometry, strict=True):
        assert shapely.equals(geom, top.loc[code, "geometry"])


def test_grids_cover_each_community_exactly(plan):
    assert plan.levels == ["社区", "网格"]
    assert plan.grids.is_valid.all()
    for code, parent in zip(plan.level(1)["code"], plan.level(1).geometry, strict=True):
        kids = plan.children(code)
        assert len(kids) >= 2
        assert shapely.coverage_is_valid(kids.geometry.to_numpy())
        union = shapely.coverage_union_all(kids.geometry.to_numpy())
        assert union.symmetric_difference(parent).area <= 1e-9 * parent.area
        assert np.isclose(shapely.area(kids.geometry.to_numpy()).sum(), parent.area, rtol=1e-9)
        assert all(c.startswith(code) and len(c) == len(code) + 3 for c in kids["code"])


def test_every_grid_is_one_piece(plan):
    level2 = plan.level(2)
    assert 10 <= len(level2) <= 25
    assert all(len(geom.geoms) == 1 for geom in level2.geometry)


def test_households_are_balanced_and_add_up(plan, buildings):
    level2 = plan.level(2)
    low, high = HOUSEHOLD_BAND
    assert level2["households"].between(low, high).all(), level2[["code", "households"]]
    for code, households in zip(plan.level(1)["code"], plan.level(1)["households"], strict=True):
        assert plan.children(code)["households"].sum() == households
    per_grid = plan.units.groupby("grid_code")["households"].sum()
    assert per_grid.reindex(level2["code"]).fillna(0).tolist() == level2["households"].tolist()
    assert buildings["households"].sum() == level2["households"].sum()


def test_each_building_lies_in_its_grid(plan):
    units = plan.units
    assert units["unit_id"].is_unique and (units["kind"] == "building").all()
    assert not units["locked"].any()
    grids = plan.level(2).set_index("code").geometry
    points = shapely.point_on_surface(units.geometry.to_numpy())
    inside = [
        grids[code].contains(point) for code, point in zip(units["grid_code"], points, strict=True)
    ]
    assert all(inside)


def test_units_match_the_households_file(plan, buildings):
    assert sorted(plan.units["unit_id"]) == sorted(buildings["unit_id"])
    merged = plan.units.merge(
        buildings[["unit_id", "households"]], on="unit_id", suffixes=("", "_file")
    )
    assert (merged["households"] == merged["households_file"]).all()
    assert (buildings.loc[buildings["building"] == "dormitory", "households"] == 0).all()
    assert (
        buildings.loc[buildings["household_rule"] == "non-residential", "households"] == 0
    ).all()


def test_staff_are_complete_and_fictitious(plan):
    staff = plan.staff
    heads = staff[staff["role"] == "head"]["grid_code"]
    assert sorted(heads) == sorted(plan.grids["code"])  # one head per grid, every level
    workers = staff[staff["role"] != "head"]["grid_code"]
    assert set(plan.level(2)["code"]) <= set(workers)
    assert staff["phone"].str.fullmatch(r"1380000\d{4}").all()
    assert staff["phone"].is_unique


def test_attribution_names_openstreetmap(plan):
    assert "OpenStreetMap contributors" in plan.attribution
    assert "示例" in plan.name


def test_roads_are_lines_near_the_area(area):
    roads = pyogrio.read_dataframe(DATA / "roads.gpkg", layer="roads")
    assert (roads.geom_type == "LineString").all()
    assert {"trunk", "primary", "secondary"} & set(roads["highway"])
    margin = shapely.coverage_union_all(area.geometry.to_numpy()).buffer(0.001)
    assert shapely.within(roads.geometry.to_numpy(), margin).all()
