"""`geogrid partition` on the shipped sample (Haidian, OpenStreetMap)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from geogrid.cli import app
from geogrid.io import read_plan
from geogrid.validate import validate_plan

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "boundaries" / "haidian"
pytestmark = pytest.mark.skipif(
    not (SAMPLE / "households.gpkg").exists(), reason="sample data not built yet"
)


def run(*args: str):
    return CliRunner().invoke(app, ["partition", *args])


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
