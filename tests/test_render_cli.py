"""The `geogrid map`, `geogrid signs` and `geogrid cards` commands."""

from __future__ import annotations

import geopandas as gpd
import shapely
from test_render import crafted_plan, page_sizes_mm
from typer.testing import CliRunner

from geogrid.cli import app
from geogrid.io import write_plan

runner = CliRunner()


def test_map_command_writes_pdf_png_and_html(tmp_path):
    plan_file = write_plan(crafted_plan(), tmp_path / "plan.gpkg")
    roads = gpd.GeoDataFrame(
        geometry=[shapely.LineString([(116.295, 40.01), (116.345, 40.012)])], crs=4490
    )
    roads.to_file(tmp_path / "roads.gpkg")
    args = [
        "map",
        str(plan_file),
        "--pdf",
        str(tmp_path / "wall.pdf"),
        "--png",
        str(tmp_path / "wall.png"),
    ]
    args += ["--html", str(tmp_path / "map.html"), "--paper", "A3", "--landscape", "--dpi", "50"]
    args += ["--context", f"roads={tmp_path / 'roads.gpkg'}", "--title", "清华园街道网格图"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "6 grids" in result.output and "1 callouts" in result.output
    width, height = page_sizes_mm(tmp_path / "wall.pdf")[0]
    assert abs(width - 420) < 0.05 and abs(height - 297) < 0.05
    assert (tmp_path / "wall.png").exists() and (tmp_path / "map.html").exists()


def test_map_command_needs_an_output_and_a_known_paper(tmp_path):
    plan_file = write_plan(crafted_plan(), tmp_path / "plan.gpkg")
    result = runner.invoke(app, ["map", str(plan_file)])
    assert result.exit_code == 2 and "--pdf" in result.output
    result = runner.invoke(
        app, ["map", str(plan_file), "--pdf", str(tmp_path / "x.pdf"), "--paper", "B5"]
    )
    assert result.exit_code == 2 and "A0, A1, A2, A3, A4" in result.output


def test_signs_and_cards_commands(tmp_path):
    plan_file = write_plan(crafted_plan(), tmp_path / "plan.gpkg")
    result = runner.invoke(app, ["signs", str(plan_file), "--pdf", str(tmp_path / "signs.pdf")])
    assert result.exit_code == 0, result.output
    assert "6 signs" in result.output
    homes = gpd.GeoDataFrame(
        {"courtyard": ["袁家院子", "袁家院子"], "households": [1, 1]},
        geometry=[shapely.Point(116.3051, 40.0151), shapely.Point(116.3052, 40.0152)],
        crs=4490,
    )
    homes.to_file(tmp_path / "homes.gpkg", layer="homes")
    args = ["cards", str(plan_file), "--households", f"{tmp_path / 'homes.gpkg'}:homes"]
    args += ["--pdf", str(tmp_path / "cards.pdf"), "--group-by", "courtyard"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "1 cards on 1 sheets" in result.output
