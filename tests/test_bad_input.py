"""A catalogue of bad input: each case ends in one clear error that names the problem.

Every case is a file made in ``tmp_path`` and tried twice: through the library function that
reads it (:func:`geogrid.io.read_plan`, :func:`geogrid.io.read_areas`) and through the command
line (``geogrid import`` / ``validate`` / ``partition``), where it must exit non-zero with one
line naming the problem, no traceback, and no output file. The service reads uploads with
:func:`geogrid.io.read_plan` too, so these cases hold for ``POST /plans`` as well.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from plans import COMMUNITY, QUADRANTS, community_plan, mbox
from shapely.geometry import Point, Polygon
from typer.testing import CliRunner

from geogrid.cli import app
from geogrid.codes import MAX_CODE_LENGTH, code_problem
from geogrid.errors import (
    CoordinateError,
    CRSError,
    GeogridError,
    InvalidInputError,
    InvalidPlanError,
    PlanFileError,
)
from geogrid.io import read_areas, read_plan, write_plan
from geogrid.partition import partition_areas
from geogrid.validate import ProblemKind, Severity, geometry_problems, validate_plan

runner = CliRunner()
Doc = dict[str, Any]

# --------------------------------------------------------------------------- helpers


def _plan_doc(tmp_path: Path) -> Doc:
    """A valid plan (one community, four quadrant grids) as a GeoJSON document."""
    doc: Doc = json.loads(write_plan(community_plan(), tmp_path / "good.geojson").read_text())
    (tmp_path / "good.geojson").unlink()
    return doc


def _meta(key: str, value: Any) -> Callable[[Doc], None]:
    return lambda doc: doc["geogrid"].__setitem__(key, value)


def _member(key: str, value: Any) -> Callable[[Doc], None]:
    return lambda doc: doc.__setitem__(key, value)


def _grid(i: int, key: str, value: Any) -> Callable[[Doc], None]:
    """Set property ``key`` of feature ``i`` (0 is the community, 1-4 the quadrants)."""
    return lambda doc: doc["features"][i]["properties"].__setitem__(key, value)


def _drop_code(doc: Doc) -> None:
    del doc["features"][2]["properties"]["code"]


def _properties_list(doc: Doc) -> None:
    doc["features"][0]["properties"] = ["layer", "grids"]


def _no_features(doc: Doc) -> None:
    doc["features"] = []


def _deep(path: Path) -> None:
    depth = 20_000
    path.write_text('{"type":"FeatureCollection","features":' + "[" * depth + "]" * depth + "}")


def _geojson_case(change: Callable[[Doc], None]) -> Callable[[Path], Path]:
    def make(tmp_path: Path) -> Path:
        doc = _plan_doc(tmp_path)
        change(doc)
        path = tmp_path / "bad.geojson"
        path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        return path

    return make


def _gpkg_meta_case(key: str, value: Any) -> Callable[[Path], Path]:
    """A GeoPackage plan whose ``plan`` layer (key/value metadata) has ``key`` = ``value``."""

    def make(tmp_path: Path) -> Path:
        path = write_plan(community_plan(), tmp_path / "bad.gpkg")
        meta = pyogrio.read_dataframe(path, layer="plan")
        meta.loc[meta["key"] == key, "value"] = json.dumps(value)
        pyogrio.write_dataframe(meta, path, layer="plan")
        return path

    return make


def _nan_case(tmp_path: Path) -> Path:
    """A foreign GeoPackage grids layer with a NaN coordinate in one grid."""
    grids = community_plan().grids
    geoms = grids.geometry.to_numpy().copy()
    coords = shapely.get_coordinates(geoms[1])
    coords[1, 0] = np.nan
    with np.errstate(invalid="ignore"):
        geoms[1] = shapely.MultiPolygon([shapely.Polygon(coords)])
    path = tmp_path / "bad.gpkg"
    grids.set_geometry(geoms, crs=4490).to_file(path, layer="grids", engine="pyogrio")
    return path


def _from_text(text: Callable[[Path], None]) -> Callable[[Path], Path]:
    def make(tmp_path: Path) -> Path:
        path = tmp_path / "bad.geojson"
        text(path)
        return path

    return make


def _one_error_line(result: Any) -> str:
    """The output of a failed command: exactly one line, an ``error:``, no traceback."""
    assert isinstance(result.exception, SystemExit), result.exception  # no uncaught exception
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --------------------------------------------------------------------------- plan files

PLAN_CASES = [
    ("nested-20000-deep", _from_text(_deep), PlanFileError, "nested too deeply"),
    (
        "metadata-not-an-object",
        _geojson_case(_member("geogrid", "x")),
        PlanFileError,
        "the plan metadata (the `geogrid` member) must be a JSON object with name, levels",
    ),
    (
        "levels-a-number",
        _geojson_case(_member("geogrid", {"levels": 5})),
        InvalidPlanError,
        "`levels` (层级) must be a list of 1 to 6 level names, top first",
    ),
    ("levels-empty", _geojson_case(_meta("levels", [])), InvalidPlanError, "`levels`"),
    ("levels-not-names", _geojson_case(_meta("levels", [1, 2])), InvalidPlanError, "got [1, 2]"),
    (
        "version-text",
        _geojson_case(_meta("version", "abc")),
        InvalidPlanError,
        "`version` (版本号) must be a whole number ≥ 1",
    ),
    ("name-a-list", _geojson_case(_meta("name", ["a"])), InvalidPlanError, "`name`"),
    ("attribution-a-number", _geojson_case(_meta("attribution", 3)), InvalidPlanError, "got 3"),
    ("format-newer", _geojson_case(_meta("format", 99)), PlanFileError, "upgrade geogrid"),
    ("format-text", _geojson_case(_meta("format", "1")), PlanFileError, "`format` is the text"),
    (
        "staff-not-a-list",
        _geojson_case(_member("staff", {"head": "王芳"})),
        PlanFileError,
        "the `staff` member must be a list of JSON objects",
    ),
    (
        "features-not-a-list",
        _geojson_case(_member("features", {"a": 1})),
        PlanFileError,
        "`features` must be a list",
    ),
    (
        "properties-a-list",
        _geojson_case(_properties_list),
        PlanFileError,
        "feature 1: its `properties` must be a JSON object, not a list",
    ),
    (
        "grid-without-code",
        _geojson_case(_drop_code),
        InvalidPlanError,
        "has no code (编码); every grid needs one",
    ),
    (
        "grid-name-a-list",
        _geojson_case(_grid(1, "name", ["a"])),
        PlanFileError,
        "column 'name', row 2: ['a'] is a list or an object",
    ),
    ("no-features", _geojson_case(_no_features), PlanFileError, "no grids (网格)"),
    (
        "unknown-crs-member",
        _geojson_case(
            _member("crs", {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::999999"}})
        ),
        CRSError,
        "'urn:ogc:def:crs:EPSG::999999', an unknown coordinate reference system",
    ),
    (
        "linked-crs-member",
        _geojson_case(_member("crs", {"type": "link", "properties": {"href": "x.prj"}})),
        CRSError,
        "the `crs` member is not a named CRS",
    ),
    (
        "code-sql-injection",
        _geojson_case(_grid(1, "code", "110108001001001'; DROP TABLE grids;--")),
        InvalidPlanError,
        "grid code \"110108001001001'; DROP TABLE grids;--\" has a quote (')",
    ),
    (
        "code-with-space",
        _geojson_case(_grid(1, "code", "110108001 001")),
        InvalidPlanError,
        "grid code '110108001 001' has whitespace at character 10",
    ),
    (
        "code-with-control",
        _geojson_case(_grid(1, "code", "110108001\x07001")),
        InvalidPlanError,
        "a control character (U+0007)",
    ),
    (
        "code-too-long",
        _geojson_case(_grid(1, "code", "1" * (MAX_CODE_LENGTH + 1))),
        InvalidPlanError,
        f"is {MAX_CODE_LENGTH + 1} characters long",
    ),
    (
        "parent-code-quoted",
        _geojson_case(_grid(1, "parent_code", '"110108001"')),
        InvalidPlanError,
        "parent_code '\"110108001\"' has a quote",
    ),
    ("gpkg-version-text", _gpkg_meta_case("version", "abc"), InvalidPlanError, "`version`"),
    ("gpkg-levels-a-number", _gpkg_meta_case("levels", 5), InvalidPlanError, "`levels`"),
    (
        "nan-coordinate",
        _nan_case,
        CoordinateError,
        "grid '110108001001' has a coordinate that is not a finite number",
    ),
]


plan_cases = pytest.mark.parametrize(
    ("make", "error", "fragment"),
    [case[1:] for case in PLAN_CASES],
    ids=[case[0] for case in PLAN_CASES],
)


@plan_cases
def test_bad_plan_file_library(
    make: Callable[[Path], Path], error: type[GeogridError], fragment: str, tmp_path: Path
) -> None:
    path = make(tmp_path)
    with pytest.raises(error) as caught:
        read_plan(path)
    message = str(caught.value)
    assert fragment in message and message.startswith(f"{path.name}: ")
    assert "\n" not in message


@plan_cases
def test_bad_plan_file_cli(
    make: Callable[[Path], Path], error: type[GeogridError], fragment: str, tmp_path: Path
) -> None:
    path = make(tmp_path)
    before = _files(tmp_path)
    result = runner.invoke(app, ["import", str(path), "-o", str(tmp_path / "out.gpkg")])
    assert result.exit_code == 2
    assert fragment in _one_error_line(result)
    assert _files(tmp_path) == before  # nothing written, no temporary folder left

    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code in (1, 2) and isinstance(result.exception, SystemExit)
    assert fragment in result.output and "Traceback" not in result.output
    if issubclass(error, CRSError | CoordinateError):  # a problem of the plan, one a line
        assert result.exit_code == 1 and "1 error(s)" in result.output
    else:
        _one_error_line(result)


def test_known_crs_member_is_honoured(tmp_path: Path) -> None:
    doc = _plan_doc(tmp_path)
    plan = community_plan()
    projected = plan.grids.to_crs(4547)  # CGCS2000 / 3-degree Gauss-Kruger CM 114E, metres
    for feature, geom in zip(doc["features"], projected.geometry, strict=True):
        feature["geometry"] = json.loads(shapely.to_geojson(geom))
    doc["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4547"}}
    path = tmp_path / "projected.geojson"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    read = read_plan(path)
    assert read.grids.crs.to_epsg() == 4490
    assert np.allclose(read.grids.total_bounds, plan.grids.total_bounds, atol=1e-7)


def test_brackets_in_a_message_are_printed_as_written(tmp_path: Path) -> None:
    path = _geojson_case(_member("geogrid", "x"))(tmp_path)
    odd = path.rename(tmp_path / "[bold]plan.geojson")
    result = runner.invoke(app, ["import", str(odd), "-o", str(tmp_path / "out.gpkg")])
    line = _one_error_line(result)
    assert result.exit_code == 2 and "[bold]plan.geojson: the plan metadata" in line


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("110108001001001", None),
        ("海淀-A01", None),
        ("110108 001", "has whitespace at character 7"),
        ("110108\u3000001", "has whitespace at character 7"),  # ideographic space
        ("110108\u200b001", "has a control character (U+200B)"),  # zero-width space
        ("“110108”", "has a quote (“) at character 1"),
        ("x" * MAX_CODE_LENGTH, None),
    ],
)
def test_code_problem(code: str, problem: str | None) -> None:
    found = code_problem(code)
    assert found == problem if problem is None else found is not None and problem in found


# --------------------------------------------------------------------------- warnings, not errors


def test_child_code_not_under_parent_code_is_a_warning(tmp_path: Path) -> None:
    plan = community_plan({QUADRANTS[0]: {"code": "220108001001"}})
    problems = validate_plan(plan)
    assert [(p.kind, p.severity, p.codes) for p in problems] == [
        (ProblemKind.CODE_SCHEME, Severity.WARNING, ("220108001001",))
    ]
    result = runner.invoke(app, ["validate", str(write_plan(plan, tmp_path / "plan.gpkg"))])
    assert result.exit_code == 0, result.output
    assert "code scheme (编码不规范) 220108001001 (parent 110108001)" in result.output


def test_import_of_a_bow_tie_grid_warns_as_validate_reports(tmp_path: Path) -> None:
    corners = mbox(0, 0, 200, 200).exterior.coords
    bow_tie = Polygon([corners[0], corners[2], corners[1], corners[3]])
    path = write_plan(
        community_plan({QUADRANTS[0]: {"geometry": bow_tie}}), tmp_path / "bow.geojson"
    )
    (problem,) = geometry_problems(read_plan(path))  # the library: the same finding as validate
    assert problem.kind is ProblemKind.INVALID_GEOMETRY and problem.codes == (QUADRANTS[0],)
    assert "Self-intersection" in problem.detail

    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1 and problem.line() in result.output

    out = tmp_path / "out.gpkg"
    result = runner.invoke(app, ["import", str(path), "-o", str(out)])
    assert result.exit_code == 0 and out.exists(), result.output
    assert f"warning: {problem.line()}" in result.output
    assert "geogrid validate --fix" in result.output


# --------------------------------------------------------------------------- partition areas


def _area_file(geojson_geometry: str) -> Callable[[Path], Path]:
    """An AREA file with one community whose geometry is written as given (raw JSON)."""

    def make(tmp_path: Path) -> Path:
        path = tmp_path / "area.geojson"
        path.write_text(
            '{"type":"FeatureCollection","features":[{"type":"Feature","properties":'
            f'{{"code":"{COMMUNITY}","name":"社区"}},"geometry":{geojson_geometry}}}]}}'
        )
        return path

    return make


def _ring(points: list[tuple[float, float]]) -> str:
    return json.dumps({"type": "Polygon", "coordinates": [[list(p) for p in points]]})


_SQUARE = [(116.30, 40.00), (116.31, 40.00), (116.31, 40.01), (116.30, 40.01), (116.30, 40.00)]
_BOW_TIE = [(116.30, 40.00), (116.31, 40.01), (116.31, 40.00), (116.30, 40.01), (116.30, 40.00)]
AREA_CASES = [
    (
        "unclosed-ring",
        _area_file(_ring(_SQUARE[:-1])),
        f"feature 1 (code {COMMUNITY}) has a geometry that cannot be read",
    ),
    (
        "nan-coordinate",
        _area_file(_ring(_SQUARE).replace("116.31, 40.01", "NaN, 40.01")),
        f"feature 1 (code {COMMUNITY}) has a coordinate that is not a finite number",
    ),
    (
        "bow-tie",
        _area_file(_ring(_BOW_TIE)),
        f"feature 1 (code {COMMUNITY}) is not a valid polygon: Self-intersection at 116.30500, "
        "40.00500",
    ),
    (
        "a-point",
        _area_file('{"type":"Point","coordinates":[116.3,40.0]}'),
        "is a Point, not a polygon",
    ),
    ("no-geometry", _area_file("null"), "has no geometry"),
]


area_cases = pytest.mark.parametrize(
    ("make", "fragment"), [case[1:] for case in AREA_CASES], ids=[c[0] for c in AREA_CASES]
)


@area_cases
def test_bad_area_library(make: Callable[[Path], Path], fragment: str, tmp_path: Path) -> None:
    path = make(tmp_path)
    with pytest.raises(PlanFileError) as caught:
        read_areas(path)
    message = str(caught.value)
    assert message.startswith("area.geojson: ") and fragment in message and "\n" not in message


@area_cases
def test_bad_area_cli(make: Callable[[Path], Path], fragment: str, tmp_path: Path) -> None:
    path = make(tmp_path)
    homes = tmp_path / "households.gpkg"
    gpd.GeoDataFrame({"households": [10]}, geometry=[Point(116.305, 40.005)], crs=4490).to_file(
        homes, engine="pyogrio"
    )
    before = _files(tmp_path)
    out = tmp_path / "plan.gpkg"
    args = [str(path), "--households", str(homes), "--band", "5-20", "-o", str(out)]
    result = runner.invoke(app, ["partition", *args])
    assert result.exit_code == 2
    assert fragment in _one_error_line(result)
    assert _files(tmp_path) == before
    # checked before any work: the households are not even read
    args[2] = str(tmp_path / "no-such-file.gpkg")
    result = runner.invoke(app, ["partition", *args])
    assert result.exit_code == 2 and fragment in _one_error_line(result)


@pytest.mark.parametrize(
    ("geometry", "fragment"),
    [
        (_ring(_BOW_TIE), "is not a valid polygon: Self-intersection"),
        (
            _ring(_SQUARE).replace("116.31, 40.01", "NaN, 40.01"),
            "has a coordinate that is not a finite",
        ),
        ('{"type":"Point","coordinates":[116.3,40.0]}', "is a Point, not a polygon"),
        (None, "has no geometry"),
    ],
    ids=["bow-tie", "nan-coordinate", "a-point", "no-geometry"],
)
def test_bad_area_partition_areas(geometry: str | None, fragment: str) -> None:
    """The library refuses what ``read_areas`` refuses, for areas made in memory."""
    with np.errstate(invalid="ignore"):
        geom = None if geometry is None else shapely.geometry.shape(json.loads(geometry))
    areas = gpd.GeoDataFrame({"code": [COMMUNITY], "name": ["社区"]}, geometry=[geom], crs=4490)
    homes = gpd.GeoDataFrame({"households": [10]}, geometry=[Point(116.305, 40.005)], crs=4490)
    with pytest.raises(InvalidInputError) as caught:
        partition_areas(areas, homes, band=(5, 20))
    assert f"area {COMMUNITY} (row 1) {fragment}" in str(caught.value)


def test_a_good_area_reads(tmp_path: Path) -> None:
    areas = read_areas(_area_file(_ring(_SQUARE))(tmp_path))
    assert areas["code"].tolist() == [COMMUNITY] and areas.geometry.iloc[0].is_valid
