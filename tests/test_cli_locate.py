"""`geogrid locate`: a points file or one point, run through typer's runner on real files."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from plans import COMMUNITY, lonlat, split_plan
from typer.testing import CliRunner

from geogrid.cli import app
from geogrid.crs import wgs84_to_gcj02
from geogrid.io import write_plan
from geogrid.plan import GridPlan

runner = CliRunner()

# a 1,200 m × 400 m community cut into 100 m cells, numbered row by row from the south-west:
# GCJ-02 shifts Beijing by hundreds of metres, so raw GCJ-02 points land in other cells
WIDTH, HEIGHT, CELL = 1200.0, 400.0, 100.0
COLUMNS = int(WIDTH // CELL)


def cell_code(col: int, row: int) -> str:
    return f"{COMMUNITY}{row * COLUMNS + col + 1:03d}"


def cell_centre(col: int, row: int) -> tuple[float, float]:
    return lonlat((col + 0.5) * CELL, (row + 0.5) * CELL)


@pytest.fixture
def plan_path(tmp_path: Path) -> Path:
    plan = split_plan(
        np.arange(CELL, WIDTH, CELL), np.arange(CELL, HEIGHT, CELL), width=WIDTH, height=HEIGHT
    )
    staff = pd.DataFrame(
        [(cell_code(0, 0), "head", "王网格长", "13800000001"), (COMMUNITY, "head", "李书记", "")],
        columns=["grid_code", "role", "name", "phone"],
    )
    plan = GridPlan(plan.name, plan.levels, plan.grids, staff=staff)
    return write_plan(plan, tmp_path / "plan.gpkg")


def run(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


CELLS = [(0, 0), (3, 1), (7, 2), (11, 3)]


def gcj_points_csv(path: Path) -> Path:
    """Cell centres in GCJ-02, ids with leading zeros, a note column, and one point outside."""
    lon, lat = wgs84_to_gcj02(*np.array([cell_centre(c, r) for c, r in CELLS]).T)
    out_lon, out_lat = wgs84_to_gcj02(*lonlat(50.0, -300.0))  # 300 m south of cell (0, 0)
    table = pd.DataFrame(
        {
            "id": ["001", "002", "003", "004", "005"],
            "lon": [*lon, out_lon],
            "lat": [*lat, out_lat],
            "备注": ["井盖", "积水", "", "马蜂窝", "路外"],
        }
    )
    table.to_csv(path, index=False)
    return path


def read_located(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_gcj02_csv_lands_in_the_right_grids(plan_path: Path, tmp_path: Path) -> None:
    points = gcj_points_csv(tmp_path / "reports.csv")
    target = tmp_path / "located.csv"
    code, output = run("locate", plan_path, points, "--crs", "gcj02", "-o", target)
    assert code == 0, output
    assert "4 inside, 1 outside" in output
    located = read_located(target)
    assert list(located.columns) == [
        *pd.read_csv(points, nrows=0).columns,
        "level1_code",
        "level2_code",
        "grid_code",
        "status",
        "nearest_code",
        "distance_m",
    ]
    assert located["id"].tolist() == ["001", "002", "003", "004", "005"]  # text kept as written
    assert located["备注"].tolist() == ["井盖", "积水", "", "马蜂窝", "路外"]
    assert located["grid_code"].tolist()[:4] == [cell_code(c, r) for c, r in CELLS]
    assert set(located["level1_code"][:4]) == {COMMUNITY}
    assert located["status"].tolist() == ["inside"] * 4 + ["outside"]
    assert located["nearest_code"].tolist() == [""] * 4 + [cell_code(0, 0)]
    assert float(located["distance_m"].iloc[4]) == pytest.approx(300.0, abs=1.0)
    assert located["distance_m"].tolist()[:4] == [""] * 4

    raw = tmp_path / "raw.csv"  # the same coordinates taken as WGS84 land elsewhere
    assert run("locate", plan_path, points, "-o", raw)[0] == 0
    wrong = read_located(raw)["grid_code"].tolist()[:4]
    assert all(w != cell_code(c, r) for w, (c, r) in zip(wrong, CELLS, strict=True))


def test_bad_rows_are_named_and_nothing_is_written(plan_path: Path, tmp_path: Path) -> None:
    points = gcj_points_csv(tmp_path / "reports.csv")
    table = pd.read_csv(points, dtype=str)
    table.loc[1, ["lon", "lat"]] = table.loc[1, ["lat", "lon"]].to_numpy()  # swapped
    table.loc[3, "lat"] = ""
    table.to_csv(points, index=False)
    target = tmp_path / "located.csv"
    code, output = run("locate", plan_path, points, "--crs", "gcj02", "-o", target)
    assert code == 2
    assert "2 of 5 points cannot be located; nothing written" in output
    assert "line 3: latitude and longitude look swapped" in output
    assert "line 5: not a finite number" in output and "--keep-invalid" in output
    assert "Traceback" not in output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.gpkg", "reports.csv"]

    code, output = run(
        "locate", plan_path, points, "--crs", "gcj02", "-o", target, "--keep-invalid"
    )
    assert code == 0, output
    located = read_located(target)
    assert located["status"].tolist() == ["inside", "invalid", "inside", "invalid", "outside"]
    assert located.loc[1, "grid_code"] == "" and "经纬度颠倒" in located.loc[1, "reason"]
    assert located.loc[0, "reason"] == ""


def test_a_point_file_brings_its_own_crs(plan_path: Path, tmp_path: Path) -> None:
    lon, lat = np.array([cell_centre(c, r) for c, r in CELLS]).T
    points = gpd.GeoDataFrame(
        {"name": ["a", "b", "c", "d"]}, geometry=gpd.points_from_xy(lon, lat), crs=4490
    ).to_crs(4548)  # CGCS2000 Gauss–Krüger metres
    source = tmp_path / "points.gpkg"
    points.to_file(source, engine="pyogrio")
    target = tmp_path / "located.gpkg"
    code, output = run("locate", plan_path, source, "-o", target)
    assert code == 0, output
    located = gpd.read_file(target, engine="pyogrio")
    assert located["grid_code"].tolist() == [cell_code(c, r) for c, r in CELLS]
    assert located["name"].tolist() == ["a", "b", "c", "d"] and located.crs.to_epsg() == 4548


def test_output_format_and_crs_are_checked_first(plan_path: Path, tmp_path: Path) -> None:
    points = gcj_points_csv(tmp_path / "reports.csv")
    code, output = run("locate", plan_path, points)
    assert code == 2 and "-o located.csv" in output
    code, output = run("locate", plan_path, points, "-o", tmp_path / "out.gpkg")
    assert code == 2 and "no geometry" in output
    code, output = run("locate", plan_path, points, "--crs", "mars", "-o", tmp_path / "o.csv")
    assert code == 2 and "gcj02" in output
    code, output = run(
        "locate", plan_path, points, "--lat-column", "纬度", "-o", tmp_path / "o.csv"
    )
    assert code == 2 and "no column 纬度" in output and "--lat-column" in output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.gpkg", "reports.csv"]


def test_one_point_shows_every_level_and_the_staff(plan_path: Path) -> None:
    lon, lat = wgs84_to_gcj02(*cell_centre(0, 0))
    code, output = run(
        "locate", plan_path, "--lon", f"{lon:.8f}", "--lat", f"{lat:.8f}", "--crs", "gcj02"
    )
    assert code == 0, output
    assert "inside" in output and cell_code(0, 0) in output and COMMUNITY in output
    assert "王网格长" in output and "13800000001" in output and "李书记" in output


def test_one_point_outside_as_json(plan_path: Path) -> None:
    lon, lat = lonlat(50.0, -300.0)
    code, output = run("locate", plan_path, "--lon", str(lon), "--lat", str(lat), "--json")
    assert code == 0, output
    answer = json.loads(output)
    assert answer["status"] == "outside" and answer["grid_code"] is None
    assert [level["grid"] for level in answer["levels"]] == [None, None]
    nearest = answer["nearest"]
    assert nearest["grid"]["code"] == cell_code(0, 0)
    assert nearest["distance_m"] == pytest.approx(300.0, abs=1.0)
    assert nearest["grid"]["staff"] == [
        {"role": "head", "name": "王网格长", "phone": "13800000001"}
    ]


def test_one_bad_point_is_refused(plan_path: Path) -> None:
    code, output = run("locate", plan_path, "--lon", "40.0", "--lat", "116.3")
    assert code == 2 and "swapped" in output
    code, output = run("locate", plan_path, "--lon", "116.3")
    assert code == 2 and "--lat" in output
