"""Plan report: per-grid balance, shape, contiguity and barriers; per-level bounds; exceptions."""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from plans import lonlat, mbox, to_lonlat
from shapely.geometry import LineString, MultiPolygon, Point
from typer.testing import CliRunner

from geogrid.cli import app
from geogrid.io import write_plan
from geogrid.partition import Band
from geogrid.plan import GridPlan
from geogrid.report import grid_table, level_summary, plan_report, terminal_tables

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "boundaries" / "haidian"
BAND = Band(300, 500)
A, B, C = "110108001001", "110108001002", "110108001003"


@pytest.fixture(scope="module")
def crafted() -> GridPlan:
    """A 400 m × 200 m community in three grids.

    A the west half (200×200 m, 400 households); B the east half's bottom (200×100 m) and top
    (200×50 m) strips, not contiguous, 350 households; C the 200×50 m strip between them,
    600 households (out of band) with a 550-household unit.
    """
    grids = gpd.GeoDataFrame(
        {
            "code": ["110108001", A, B, C],
            "name": ["社区", "甲", "乙", "丙"],
            "level": [1, 2, 2, 2],
            "parent_code": [None, "110108001", "110108001", "110108001"],
            "households": [1350, 400, 350, 600],
        },
        geometry=[
            mbox(0, 0, 400, 200),
            mbox(0, 0, 200, 200),
            MultiPolygon([mbox(200, 0, 400, 100), mbox(200, 150, 400, 200)]),
            mbox(200, 100, 400, 150),
        ],
        crs=4490,
    )
    units = gpd.GeoDataFrame(
        {
            "unit_id": ["u1", "u2", "u3", "u4"],
            "name": ["甲楼", "乙楼", "大院", None],
            "households": [400, 350, 550, 50],
            "grid_code": [A, B, C, C],
        },
        geometry=[
            mbox(10, 10, 190, 190),
            mbox(210, 10, 390, 90),
            mbox(210, 110, 300, 140),
            mbox(310, 110, 390, 140),
        ],
        crs=4490,
    )
    return GridPlan("测试", ["社区", "网格"], grids, units=units)


@pytest.fixture(scope="module")
def road() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=[to_lonlat(LineString([(200, -50), (200, 250)]))], crs=4490)


def row(frame: pd.DataFrame, code: str) -> pd.Series:
    return frame.set_index("code").loc[code]


def test_known_areas_shape_and_deviation(crafted):
    grids = grid_table(crafted, band=BAND)
    a = row(grids, A)
    assert a["area_m2"] == pytest.approx(40_000, rel=2e-3)
    assert a["polsby_popper"] == pytest.approx(math.pi / 4, abs=2e-3)
    assert a["target"] == 400 and a["deviation"] == 0 and a["in_band"] is True
    assert row(grids, C)["deviation"] == pytest.approx(0.5)
    assert row(grids, B)["parts"] == 2 and a["parts"] == 1
    assert row(grids, C)["largest_unit"] == 550
    # the community level: no band, target its mean, in_band not applicable
    community = row(grids, "110108001")
    assert community["target"] == 1350 and community["in_band"] is None
    assert "households_plan" not in grids  # only when households are recounted


def test_barrier_share(crafted, road):
    grids = grid_table(crafted, barriers=road)
    assert row(grids, A)["on_barriers"] == pytest.approx(1.0, abs=0.01)
    assert row(grids, B)["on_barriers"] == pytest.approx(150 / 550, abs=0.01)
    assert row(grids, C)["on_barriers"] == pytest.approx(50 / 450, abs=0.01)
    assert pd.isna(row(grids, "110108001")["on_barriers"])  # no inner boundary
    assert grid_table(crafted)["on_barriers"].isna().all()  # no barriers given


def test_level_summary_bounds(crafted):
    levels = level_summary(crafted, band=BAND).set_index("level")
    grids = levels.loc[2]
    assert grids["in_band"] == 2
    assert grids["worst_deviation"] == pytest.approx(0.5)
    # mean of the three grids is 450 (|450 − 400| = 50); the 550 unit forces 150 → 150/400
    assert grids["imbalance_bound"] == pytest.approx(150 / 400)
    assert grids["moves_bound"] == 100  # excess 100 over 500, no shortfall
    assert grids["split_grids"] == 1
    assert pd.isna(levels.loc[1]["in_band"])


def test_exceptions(crafted):
    report = plan_report(crafted, band=BAND)
    kinds = report.exceptions.groupby("kind")["code"].apply(list).to_dict()
    assert kinds == {"non-contiguous": [B], "out-of-band": [C], "large-unit": [C]}
    assert "大院" in report.exceptions.set_index("kind").loc["large-unit", "message"]


def test_recount_from_households(crafted):
    points = [lonlat(50, 50), lonlat(100, 100), lonlat(150, 150), lonlat(300, 125), (117, 41)]
    homes = gpd.GeoDataFrame(
        {"households": [100, 100, 100, 700, 5]},
        geometry=[Point(p) for p in points],
        crs=4490,
    )
    report = plan_report(crafted, households=homes, band=BAND)
    grids = report.grids
    assert row(grids, A)["households"] == 300 and row(grids, A)["households_plan"] == 400
    assert row(grids, B)["households"] == 0
    assert row(grids, C)["households"] == 700
    assert row(grids, "110108001")["households"] == 1000
    assert row(grids, C)["largest_unit"] == 700  # units recounted: 大院 holds the 700
    outside = report.exceptions[report.exceptions["kind"] == "households-outside"]
    assert len(outside) == 1 and outside["message"].iloc[0].startswith("5 household(s)")
    assert set(report.exceptions["kind"]) >= {"out-of-band", "large-unit"}


def test_without_units_household_rows_are_the_units(crafted):
    plan = GridPlan(crafted.name, crafted.levels, crafted.grids)
    homes = gpd.GeoDataFrame(
        {"households": [520, 30], "name": ["高楼", None]},
        geometry=[mbox(10, 10, 50, 50), mbox(60, 60, 70, 70)],
        crs=4490,
    )
    report = plan_report(plan, households=homes, band=BAND)
    assert row(report.grids, A)["largest_unit"] == 520
    assert pd.isna(row(report.grids, B)["largest_unit"])
    large = report.exceptions[report.exceptions["kind"] == "large-unit"]
    assert large["code"].tolist() == [A] and "高楼" in large["message"].iloc[0]


def test_terminal_tables_and_json(crafted):
    report = plan_report(crafted, band=BAND)
    levels, grids = terminal_tables(report)
    assert list(levels.columns) == ["figure", "1 社区", "2 网格"]
    assert grids.set_index("code").loc[C, "band"] == "NO"
    doc = json.loads(json.dumps(report.to_dict(), ensure_ascii=False))
    assert doc["band"] == "300-500" and len(doc["grids"]) == 4
    assert doc["levels"][1]["moves_bound"] == 100


def test_cli_crafted_plan(crafted, tmp_path):
    path = tmp_path / "plan.gpkg"
    write_plan(crafted, path)
    result = CliRunner().invoke(app, ["report", str(path), "--band", "300-500"])
    assert result.exit_code == 0, result.output
    assert "non-contiguous" in result.output and "out-of-band" in result.output


def test_cli_haidian_sample(tmp_path):
    args = [
        "report",
        str(SAMPLE / "plan.gpkg"),
        "--households",
        str(SAMPLE / "households.gpkg"),
        "--barriers",
        str(SAMPLE / "roads.gpkg"),
        "--band",
        "300-500",
        "--csv",
        str(tmp_path / "grids.csv"),
    ]
    runner = CliRunner()
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    grids = pd.DataFrame(doc["grids"])
    level2 = grids[grids["level"] == 2]
    assert len(level2) == 23 and level2["in_band"].all()
    assert level2["households"].sum() == 9395
    assert (level2["households"] == level2["households_plan"]).all()
    assert level2["on_barriers"].between(0, 1).all() and level2["on_barriers"].mean() > 0.5
    assert (grids["parts"] == 1).all()
    summary = doc["levels"][1]
    assert summary["in_band"] == 23 and summary["moves_bound"] == 0
    assert 0 < summary["imbalance_bound"] <= summary["worst_deviation"]
    assert doc["exceptions"] == []
    csv = pd.read_csv(tmp_path / "grids.csv", dtype={"code": str})
    assert len(csv) == 27 and "polsby_popper" in csv
    terminal = runner.invoke(app, args)
    assert terminal.exit_code == 0, terminal.output
    assert "no exceptions" in terminal.output and "110108900004008" in terminal.output
