"""`geogrid partition` on the shipped sample (Haidian, OpenStreetMap); `geogrid redraw`."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box
from typer.testing import CliRunner

from geogrid.cli import app
from geogrid.io import read_plan, write_plan
from geogrid.partition import partition_areas
from geogrid.validate import validate_plan

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "boundaries" / "haidian"
needs_sample = pytest.mark.skipif(
    not (SAMPLE / "households.gpkg").exists(), reason="sample data not built yet"
)


def run(*args: str):
    return CliRunner().invoke(app, ["partition", *args])


@needs_sample
def test_partition_sample_with_micro_grids(tmp_path):
    out = tmp_path / "plan.gpkg"
    result = run(
        str(SAMPLE / "area.geojson"),
        "--households",
        str(SAMPLE / "households.gpkg"),
        "--barriers",
        str(SAMPLE / "roads.gpkg"),
        "--keep-whole",
        f"{SAMPLE / 'households.gpkg'}:estates",
        "--band",
        "300-500",
        "--then-band",
        "20-50",
        "--seed",
        "1",
        "-o",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert "partition" in result.output and "wrote" in result.output
    plan = read_plan(out)
    assert plan.depth == 3
    assert [p for p in validate_plan(plan) if p.severity == "error"] == []
    grids = plan.level(2)
    assert set(grids["parent_code"]) == set(plan.level(1)["code"])
    assert (grids["code"].str.len() == 15).all()
    # every household inside an area is in exactly one grid
    assert int(plan.units["households"].sum()) == int(plan.level(1)["households"].sum())


@needs_sample
def test_partition_exact_grid_count(tmp_path):
    out = tmp_path / "plan.geojson"
    result = run(
        str(SAMPLE / "area.geojson"),
        "--households",
        str(SAMPLE / "households.gpkg"),
        "--grids",
        "3",
        "-o",
        str(out),
    )
    assert result.exit_code == 0, result.output
    plan = read_plan(out)
    counts = plan.level(2).groupby("parent_code").size()
    assert (counts == 3).all()


@needs_sample
def test_partition_needs_band_or_grids(tmp_path):
    result = run(
        str(SAMPLE / "area.geojson"),
        "--households",
        str(SAMPLE / "households.gpkg"),
        "-o",
        str(tmp_path / "x.gpkg"),
    )
    assert result.exit_code == 2
    assert "--band" in result.output


@needs_sample
def test_partition_too_many_grids_is_a_clear_error(tmp_path):
    result = run(
        str(SAMPLE / "area.geojson"),
        "--households",
        str(SAMPLE / "households.gpkg"),
        "--grids",
        "100000",
        "-o",
        str(tmp_path / "x.gpkg"),
    )
    assert result.exit_code == 2
    assert "cannot make 100000 grids" in result.output


def test_redraw_then_band_recuts_micro_grids(tmp_path):
    rng = np.random.default_rng(0)
    pts = rng.uniform([0, 0], [2000, 1500], size=(1200, 2))
    hh = gpd.GeoDataFrame(
        {"households": rng.integers(1, 8, len(pts))},
        geometry=gpd.points_from_xy(pts[:, 0], pts[:, 1]),
        crs=4547,
    )
    areas = gpd.GeoDataFrame(
        {"code": ["420106001001"], "name": ["测试社区"]},
        geometry=[box(0, 0, 2000, 1500)],
        crs=4547,
    )
    plan, _ = partition_areas(areas, hh, band=(300, 500), then_band=(20, 50))
    write_plan(plan, tmp_path / "plan.gpkg")
    grown = hh.copy()
    corner = (grown.geometry.x > 1500) & (grown.geometry.y > 1000)
    grown.loc[corner, "households"] += 3
    grown.to_file(tmp_path / "now.gpkg")
    args = ["redraw", str(tmp_path / "plan.gpkg"), "--households", str(tmp_path / "now.gpkg")]
    args += ["--band", "300-500", "--then-band", "20-50", "-o", str(tmp_path / "new.gpkg")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    new = read_plan(tmp_path / "new.gpkg")
    assert new.depth == 3 and validate_plan(new) == []
    assert set(new.level(2)["code"]) <= set(new.level(3)["parent_code"])
    before = plan.level(2).set_index("code").geometry
    after = new.level(2).set_index("code").geometry
    changed = [c for c, g in after.items() if c not in before or not g.equals(before[c])]
    assert changed  # the corner's grids changed, and their micro-grids were cut again
    micro = new.level(3)
    recut = micro[micro["parent_code"].isin(changed)]
    assert len(recut) and recut["households"].between(20, 50).mean() >= 0.9
