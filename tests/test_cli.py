"""The geogrid command line, run in-process through typer's runner on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import shapely
from plans import COMMUNITY, QUADRANTS, community_plan, mbox
from typer.testing import CliRunner

from geogrid.cli import app
from geogrid.io import read_plan, write_plan

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_valid_plan_exits_zero(tmp_path: Path) -> None:
    path = write_plan(community_plan(), tmp_path / "ok.gpkg")
    code, output = run("validate", str(path))
    assert code == 0, output
    assert "valid" in output


def test_each_problem_gets_one_line_and_exit_one(tmp_path: Path) -> None:
    shrunk = {QUADRANTS[0]: {"geometry": mbox(0, 0, 150, 200)}}  # a 50 m x 200 m gap
    path = write_plan(community_plan(shrunk), tmp_path / "gap.gpkg")
    code, output = run("validate", str(path))
    assert code == 1
    gap_lines = [line for line in output.splitlines() if line.startswith("gap (缝隙)")]
    assert len(gap_lines) == 1 and QUADRANTS[0] in gap_lines[0] and "m²" in gap_lines[0]


def test_json_output(tmp_path: Path) -> None:
    overlap = {QUADRANTS[0]: {"geometry": mbox(0, 0, 250, 200)}}
    path = write_plan(community_plan(overlap), tmp_path / "overlap.geojson")
    code, output = run("validate", str(path), "--json")
    doc = json.loads(output)
    assert code == 1 and doc["valid"] is False
    kinds = {p["kind"] for p in doc["problems"]}
    assert "overlap" in kinds
    problem = next(p for p in doc["problems"] if p["kind"] == "overlap")
    assert set(problem["codes"]) == {QUADRANTS[0], QUADRANTS[1]}
    assert problem["area_m2"] == pytest.approx(50 * 200, rel=0.03)


def test_fix_writes_a_clean_plan_only_when_asked(tmp_path: Path) -> None:
    sliver = {QUADRANTS[0]: {"geometry": mbox(0, 0, 199.8, 200)}}  # a 0.2 m gap
    path = write_plan(community_plan(sliver), tmp_path / "sliver.gpkg")
    fixed = tmp_path / "fixed.gpkg"
    code, output = run("validate", str(path), "--fix", "-o", str(fixed))
    assert code == 0, output
    assert "fixed:" in output and fixed.exists()
    code, _ = run("validate", str(fixed))
    assert code == 0
    before = read_plan(path)
    assert shapely.equals_exact(  # the input file is untouched
        before.grid(QUADRANTS[0]).geometry, community_plan(sliver).grid(QUADRANTS[0]).geometry, 1e-9
    )


def test_swapped_coordinates_reported_as_a_problem(tmp_path: Path) -> None:
    plan = community_plan()
    swapped = plan.grids.set_geometry(
        shapely.transform(plan.grids.geometry.to_numpy(), lambda xy: xy[:, ::-1])
    )
    path = tmp_path / "swapped.gpkg"
    swapped.to_file(path, layer="grids", engine="pyogrio")
    code, output = run("validate", str(path))
    assert code == 1
    assert "swapped" in output and "经纬度颠倒" in output


def test_import_with_column_mapping_then_convert(tmp_path: Path) -> None:
    grids = community_plan().grids.rename(
        columns={"code": "WGBM", "name": "WGMC", "parent_code": "SJBM"}
    )
    source = tmp_path / "theirs.gpkg"
    grids[["WGBM", "WGMC", "SJBM", "geometry"]].to_file(source, layer="wg", engine="pyogrio")
    target = tmp_path / "plan.parquet"
    code, output = run(
        "import", str(source), "-o", str(target), "-c", "code=WGBM", "-c", "name=WGMC",
        "-c", "parent_code=SJBM", "--levels", "社区,网格",
    )  # fmt: skip
    assert code == 0, output
    plan = read_plan(target)
    assert plan.levels == ["社区", "网格"] and sorted(plan.level(2)["code"]) == sorted(QUADRANTS)
    assert plan.grid(COMMUNITY)["level"] == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [("not a geo file at all", "cannot read"), ("", "cannot read")],
)
def test_bad_file_one_error_line_nothing_written(
    tmp_path: Path, content: str, message: str
) -> None:
    source = tmp_path / "bad.gpkg"
    source.write_text(content, encoding="utf-8")
    target = tmp_path / "out.gpkg"
    code, output = run("import", str(source), "-o", str(target))
    assert code == 2
    assert message in output and "Traceback" not in output
    assert not target.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad.gpkg"]


def test_bad_column_mapping_syntax(tmp_path: Path) -> None:
    path = write_plan(community_plan(), tmp_path / "ok.gpkg")
    code, output = run("validate", str(path), "-c", "code")
    assert code == 2 and "OURS=THEIRS" in output


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the default (embedded) store at a fresh folder."""
    monkeypatch.delenv("GEOGRID_DATABASE_URL", raising=False)
    monkeypatch.setenv("GEOGRID_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data" / "geogrid.gpkg"


def test_demo_runs_the_main_job(embedded: Path, tmp_path: Path) -> None:
    code, output = run("demo", "-o", str(tmp_path / "out"))
    assert code == 0, output
    assert "valid" in output and "active: version 1" in output
    assert embedded.exists()
    assert (tmp_path / "out" / "report.csv").stat().st_size > 0
    exported = read_plan(tmp_path / "out" / "haidian.geojson")
    assert len(exported.grids) > 10 and exported.attribution.startswith("©")
    partitioned = read_plan(tmp_path / "out" / "haidian-partition.gpkg")
    assert partitioned.level(2)["households"].sum() == exported.level(2)["households"].sum()
    assert (tmp_path / "out" / "wall-map.pdf").read_bytes().startswith(b"%PDF")
    assert "leaflet" in (tmp_path / "out" / "map.html").read_text(encoding="utf-8").lower()
    # readable in an 80-column terminal: the level table has a row per figure, no "l…" columns
    levels = output[output.index("levels (层级)") : output.index("4. store")]
    assert "households" in levels and "1 社区" in levels and "…" not in levels
    assert max(_width(line) for line in levels.splitlines()) <= 80


def _width(line: str) -> int:
    """Terminal columns of ``line`` (CJK characters take two)."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line)


def store_cycle(plan_path: Path, tmp_path: Path) -> None:
    """Save twice, approve, activate, export: the commands a planner runs."""
    assert run("store", "save", str(plan_path), "--by", "王芳")[0] == 0
    code, output = run("store", "save", str(plan_path), "--by", "王芳")
    assert code == 0 and "version 2" in output
    code, output = run("store", "activate", "测试", "1")
    assert code == 2 and "approve" in output  # a draft cannot go live
    assert run("store", "approve", "测试", "1", "--by", "李强")[0] == 0
    assert run("store", "activate", "测试", "1", "--by", "李强")[0] == 0
    code, output = run("store", "list")
    assert code == 0 and "active" in output and "draft" in output
    exported = tmp_path / "exported.gpkg"
    assert run("store", "export", "测试", "--version", "1", "-o", str(exported))[0] == 0
    assert sorted(read_plan(exported).grids["code"]) == sorted(community_plan().grids["code"])


def test_store_commands_on_both_backends(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEOGRID_DATABASE_URL", store_url)
    store_cycle(write_plan(community_plan(), tmp_path / "plan.gpkg"), tmp_path)


def test_invalid_plan_is_not_stored(embedded: Path, tmp_path: Path) -> None:
    overlap = {QUADRANTS[0]: {"geometry": mbox(0, 0, 250, 200)}}
    path = write_plan(community_plan(overlap), tmp_path / "bad.gpkg")
    code, output = run("store", "save", str(path))
    assert code == 2 and "overlap" in output and "not saved" in output
    assert run("store", "list")[1].strip() == "the store is empty"


def _missing_crs(grids, path: Path) -> None:
    with pytest.warns(UserWarning, match="crs"):
        grids.set_crs(None, allow_override=True).to_file(path, engine="pyogrio")


def _wrong_crs(grids, path: Path) -> None:  # metres labelled as lon/lat
    grids.to_crs(4548).set_crs(4490, allow_override=True).to_file(path, engine="pyogrio")


def _swapped(grids, path: Path) -> None:
    swapped = shapely.transform(grids.geometry.to_numpy(), lambda xy: xy[:, ::-1])
    grids.set_geometry(swapped).to_file(path, engine="pyogrio")


@pytest.mark.parametrize(
    ("craft", "kind"),
    [(_missing_crs, "missing_crs"), (_wrong_crs, "wrong_crs"), (_swapped, "swapped_latlon")],
)
def test_crs_problems_have_their_own_kind(tmp_path: Path, craft, kind: str) -> None:
    path = tmp_path / "grids.shp"
    craft(community_plan().grids[["code", "name", "level", "geometry"]], path)
    code, output = run("validate", str(path), "--json")
    assert code == 1
    assert [p["kind"] for p in json.loads(output)["problems"]] == [kind]


def test_import_of_a_foreign_layer_says_what_missing_columns_became(tmp_path: Path) -> None:
    plan = community_plan()
    grids = plan.grids[["code", "parent_code", "geometry"]].rename(
        columns={"code": "WGBM", "parent_code": "SQBM"}
    )
    grids.to_file(tmp_path / "my_grids.shp", encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "import",
            str(tmp_path / "my_grids.shp"),
            "-c",
            "code=WGBM",
            "-o",
            str(tmp_path / "p.gpkg"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "no name column" in result.output and "-c name=" in result.output
    assert "no parent_code column" in result.output and "-c parent_code=" in result.output
    imported = read_plan(tmp_path / "p.gpkg")
    assert (imported.grids["name"] == imported.grids["code"]).all()
    mapped = ["-c", "code=WGBM", "-c", "parent_code=SQBM", "-o", str(tmp_path / "q.gpkg")]
    result = runner.invoke(app, ["import", str(tmp_path / "my_grids.shp"), *mapped])
    assert result.exit_code == 0 and "no parent_code column" not in result.output
    assert read_plan(tmp_path / "q.gpkg").depth == 2
