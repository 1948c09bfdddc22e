"""GCJ-02 / BD-09 polygons and lines: every vertex converted, long edges densified (reproject.py).

The library (`geoms_to_plan`, `resolve_crs`, `phone_map_offset`) and every command that takes
`--crs`: import, validate, partition, redraw, report.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Point, Polygon, box
from typer.testing import CliRunner

from geogrid.cli import app
from geogrid.crs import (
    metric_crs,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geogrid.errors import CRSError
from geogrid.io import read_plan
from geogrid.reproject import DENSIFY_M, frame_to_plan, geoms_to_plan, phone_map_offset, resolve_crs

FORWARD = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}


def forward(geom, system: str, step_m: float = 20.0):
    """``geom`` (WGS84) in ``system``: its vertices densified to ``step_m``, each converted."""
    dense = shapely.segmentize(geom, step_m / 111_320)
    return shapely.transform(dense, lambda xy: np.column_stack(FORWARD[system](xy[:, 0], xy[:, 1])))


def in_metres(geom, crs):
    project = Transformer.from_crs(4490, crs, always_xy=True)
    return shapely.transform(
        geom, lambda xy: np.column_stack(project.transform(xy[:, 0], xy[:, 1]))
    )


def distance_m(got, truth, samples_m: float = 10.0) -> float:
    """Largest distance in metres between the boundaries, both ways, sampled every ``samples_m``."""
    crs = metric_crs(gpd.GeoSeries([truth], crs=4490))
    # densified in lon/lat first: a straight edge in degrees is not straight in metres
    step = samples_m / 111_320
    a, b = (in_metres(shapely.segmentize(g.boundary, step), crs) for g in (got, truth))
    far = 0.0
    for one, other in ((a, b), (b, a)):
        points = shapely.get_coordinates(one)
        far = max(far, float(shapely.distance(shapely.points(points), other).max()))
    return far


# --------------------------------------------------------------------------- polygons over China


def gap_m(points_lonlat: np.ndarray, geom) -> float:
    """Largest distance in metres from the points to the boundary of ``geom`` (both lon/lat)."""
    crs = metric_crs(gpd.GeoSeries([geom], crs=4490))
    project = Transformer.from_crs(4490, crs, always_xy=True)
    x, y = project.transform(points_lonlat[:, 0], points_lonlat[:, 1])
    # densified in lon/lat first: a straight edge in degrees is not straight in metres
    boundary = in_metres(shapely.segmentize(geom.boundary, 10 / 111_320), crs)
    return float(shapely.distance(shapely.points(x, y), boundary).max())


def metres_apart(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distances in metres between matching lon/lat rows (local approximation, to ~1 %)."""
    dx = (a[:, 0] - b[:, 0]) * 111_320 * np.cos(np.radians(a[:, 1]))
    return np.hypot(dx, (a[:, 1] - b[:, 1]) * 111_320)


@st.composite
def polygons_over_china(draw):
    """Convex polygons with 3–7 corners and edges of 1–17 km anywhere in mainland China."""
    lon = draw(st.floats(74.0, 134.0))
    lat = draw(st.floats(19.0, 53.0))
    corners = draw(st.integers(3, 7))
    radius_m = draw(st.floats(1_000, 10_000))
    turn = draw(st.floats(0, 2 * np.pi))
    angles = turn + np.linspace(0, 2 * np.pi, corners, endpoint=False)
    dlat = radius_m / 111_320 * np.sin(angles)
    dlon = radius_m / (111_320 * np.cos(np.radians(lat))) * np.cos(angles)
    return Polygon(np.column_stack([lon + dlon, lat + dlat]))


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
@settings(max_examples=40, deadline=None)
@given(truth=polygons_over_china())
def test_phone_map_polygons_land_within_a_metre_of_truth(system: str, truth: Polygon) -> None:
    """A WGS84 polygon with long edges, its densified vertices shown on a phone map, back."""
    dense = shapely.segmentize(truth, 20 / 111_320)
    phone = forward(truth, system)  # every 20 m converted exactly with the forward formula
    assert metres_apart(shapely.get_coordinates(phone), shapely.get_coordinates(dense)).min() > 1
    (back,) = geoms_to_plan([phone], system)
    got = shapely.get_coordinates(back)
    assert got.shape == shapely.get_coordinates(dense).shape  # short edges: nothing added
    assert metres_apart(got, shapely.get_coordinates(dense)).max() < 0.01
    assert gap_m(got, truth) < 1.0  # on the straight WGS84 edges
    assert back.is_valid and abs(back.area / truth.area - 1) < 1e-6


def on_the_curve(drawn, system: str, step_m: float) -> np.ndarray:
    """Points every ``step_m`` along the edges of ``drawn`` (straight on the phone map), exact."""
    xy = shapely.get_coordinates(shapely.segmentize(drawn.exterior, step_m / 111_320))
    (converted,) = geoms_to_plan([shapely.multipoints(xy)], system)
    return shapely.get_coordinates(converted)


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
@settings(max_examples=30, deadline=None)
@given(drawn=polygons_over_china())
def test_straight_edges_drawn_on_a_phone_map_follow_the_offset(system: str, drawn) -> None:
    """A polygon drawn on the phone map has straight edges there; in WGS84 they curve.

    The truth: a point of the drawn edges every 10 m, converted exactly. The converted
    polygon (edges densified to 100 m) stays within a few centimetres of it (docs/crs.md).
    """
    (converted,) = geoms_to_plan([drawn], system)
    assert gap_m(on_the_curve(drawn, system, 10), converted) < 0.1
    assert len(converted.exterior.coords) > len(drawn.exterior.coords)


def test_without_densifying_long_bd09_edges_are_metres_off() -> None:
    drawn = box(116.30, 39.90, 116.40, 39.98)  # 8.5 km × 8.9 km, drawn on Baidu
    truth = on_the_curve(drawn, "bd09", 10)
    (corners_only,) = geoms_to_plan([drawn], "bd09", densify_m=1e9)
    (densified,) = geoms_to_plan([drawn], "bd09")
    assert gap_m(truth, corners_only) > 5
    assert gap_m(truth, densified) < 0.05
    assert DENSIFY_M == 100


def test_every_kind_of_geometry_is_converted() -> None:
    truth = [
        MultiPolygon([box(116.30, 39.99, 116.31, 40.00), box(116.32, 39.99, 116.33, 40.00)]),
        box(116.30, 39.99, 116.32, 40.01).difference(box(116.305, 39.995, 116.31, 40.0)),
        LineString([(116.30, 39.99), (116.35, 40.02)]),
        MultiLineString([[(116.30, 39.99), (116.31, 39.99)], [(116.30, 40.0), (116.31, 40.0)]]),
        Point(116.31, 39.995),
        None,
        Polygon(),
    ]
    phone = [None if g is None or g.is_empty else forward(g, "gcj02") for g in truth]
    phone[-1] = Polygon()
    frame = gpd.GeoDataFrame({"n": range(len(truth))}, geometry=phone, crs=4326)
    back = frame_to_plan(frame, "gcj02")
    assert back.crs.to_epsg() == 4490 and back["n"].tolist() == list(range(len(truth)))
    for got, want in zip(back.geometry, truth, strict=True):
        if want is None:
            assert got is None
        elif want.is_empty:
            assert got.is_empty
        else:
            assert got.geom_type == want.geom_type
            assert shapely.hausdorff_distance(got, want) < 1e-6  # 0.1 m
    assert len(back.geometry[1].interiors) == 1  # the hole is converted too


def test_outside_china_gcj02_is_wgs84() -> None:
    leicester = box(-1.2, 52.6, -1.1, 52.7)
    (got,) = geoms_to_plan([leicester], "gcj02")
    assert shapely.equals(got, leicester)


# --------------------------------------------------------------------------- the rule of --crs


@pytest.mark.parametrize(
    ("declared", "stated", "implicit", "expected"),
    [
        (None, None, False, None),
        (4490, None, False, 4490),
        (None, "gcj02", False, "gcj02"),
        (4326, "gcj02", False, "gcj02"),  # a phone app's file labelled WGS84
        (4490, "bd09", False, "bd09"),
        (4326, "cgcs2000", False, 4326),  # the same to centimetres: no conflict
        (4547, "EPSG:4547", False, 4547),
        (4326, "EPSG:4547", True, 4547),  # GeoJSON's WGS84 is only the format's convention
    ],
)
def test_what_a_stated_crs_means(declared, stated, implicit, expected) -> None:
    got = resolve_crs(declared, stated, implicit=implicit)
    if isinstance(expected, int):
        assert got.to_epsg() == expected
    else:
        assert got == expected


@pytest.mark.parametrize(
    ("declared", "stated", "names"),
    [
        (4547, "gcj02", ("EPSG:4547", "gcj02")),
        (4547, "cgcs2000", ("EPSG:4547", "EPSG:4490")),
        (4490, "EPSG:4547", ("EPSG:4490", "EPSG:4547")),
    ],
)
def test_a_conflicting_crs_names_both_unless_forced(declared, stated, names) -> None:
    with pytest.raises(CRSError, match="坐标系冲突") as caught:
        resolve_crs(declared, stated, where="grids.gpkg")
    for name in (*names, "grids.gpkg", "--force-crs"):
        assert name in str(caught.value)
    forced = resolve_crs(declared, stated, force=True)
    assert (forced if isinstance(forced, str) else forced.to_string()) in {stated, *names}


# --------------------------------------------------------------------------- the offset detector


def village(lon: float = 116.30, lat: float = 39.99, size: float = 0.02):
    """An area (WGS84) and 400 household points spread over it."""
    area = box(lon, lat, lon + size, lat + size)
    grid = np.linspace(0.02, 0.98, 20) * size
    x, y = np.meshgrid(lon + grid, lat + grid)
    return area, x.ravel(), y.ravel()


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_households_one_offset_off_their_areas_are_found(system: str) -> None:
    area, x, y = village()
    areas = gpd.GeoSeries([area], crs=4490)
    right = gpd.GeoSeries(gpd.points_from_xy(x, y), crs=4490)
    shifted = gpd.GeoSeries(gpd.points_from_xy(*FORWARD[system](x, y)), crs=4326)
    assert phone_map_offset(right, areas) is None
    found = phone_map_offset(shifted, areas, points_name="hh.geojson", areas_name="area.gpkg")
    assert found is not None and "hh.geojson" in found and "area.gpkg" in found
    assert ("GCJ-02" if system == "gcj02" else "BD-09") in found and f"--crs ({system}" in found
    # the other way round: the area traced on the phone map, the households right
    phone_area = gpd.GeoSeries([forward(area, system)], crs=4326)
    assert "area.gpkg are" in phone_map_offset(right, phone_area, areas_name="area.gpkg")


def test_households_partly_outside_are_no_offset() -> None:
    area, x, y = village()
    # a town's households around a village: 3/4 of them outside, in every direction
    xs, ys = np.meshgrid(np.linspace(116.28, 116.34, 30), np.linspace(39.97, 40.03, 30))
    town = gpd.GeoSeries(gpd.points_from_xy(xs.ravel(), ys.ravel()), crs=4490)
    assert phone_map_offset(town, gpd.GeoSeries([area], crs=4490)) is None
    buildings = gpd.GeoSeries(shapely.buffer(shapely.points(x, y), 1e-4), crs=4490)
    assert phone_map_offset(buildings, gpd.GeoSeries([area], crs=4490)) is None
    traced = gpd.GeoSeries([forward(b, "gcj02") for b in buildings], crs=4326)  # on AMap
    assert "GCJ-02" in phone_map_offset(traced, gpd.GeoSeries([area], crs=4490))
    assert phone_map_offset(gpd.GeoSeries([], crs=4490), gpd.GeoSeries([area], crs=4490)) is None


# --------------------------------------------------------------------------- the commands


def run(*args) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


LONG_EDGES = [  # two neighbouring communities, edges of 2–4 km, in Beijing
    ("110108001", "东村", box(116.30, 39.97, 116.33, 40.00)),
    ("110108002", "西村", box(116.33, 39.97, 116.36, 40.00)),
]


def truth_frame() -> gpd.GeoDataFrame:
    codes, names, geoms = zip(*LONG_EDGES, strict=True)
    return gpd.GeoDataFrame(
        {"code": list(codes), "name": list(names), "level": 1, "households": 0},
        geometry=list(geoms),
        crs=4490,
    )


def phone_frame(system: str = "gcj02") -> gpd.GeoDataFrame:
    frame = truth_frame()
    return frame.set_geometry([forward(g, system) for g in frame.geometry], crs=4326)


def write_geojson(frame: gpd.GeoDataFrame, path: Path) -> Path:
    frame.to_file(path, driver="GeoJSON", engine="pyogrio")
    return path


def assert_within_a_metre(got: gpd.GeoDataFrame, truth: gpd.GeoDataFrame) -> None:
    got = got.set_index("code").loc[truth["code"]]
    for geom, want in zip(got.geometry, truth.geometry, strict=True):
        assert distance_m(geom, want) < 1.0


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_import_converts_a_phone_map_geojson(tmp_path: Path, system: str) -> None:
    source = write_geojson(phone_frame(system), tmp_path / "grids.geojson")
    code, output = run("import", source, "--crs", system, "-o", tmp_path / "plan.gpkg")
    assert code == 0, output
    assert_within_a_metre(read_plan(tmp_path / "plan.gpkg").grids, truth_frame())
    code, output = run("import", source, "-o", tmp_path / "as_is.gpkg")  # as it was: ~500 m off
    grids = read_plan(tmp_path / "as_is.gpkg").grids.set_index("code")
    assert distance_m(grids.geometry.iloc[0], LONG_EDGES[0][2]) > 100


def test_import_of_a_declared_crs_that_conflicts(tmp_path: Path) -> None:
    source = tmp_path / "grids.gpkg"
    truth_frame().to_crs(4547).to_file(source, engine="pyogrio")
    code, output = run("import", source, "--crs", "gcj02", "-o", tmp_path / "plan.gpkg")
    assert code == 2 and "EPSG:4547" in output and "gcj02" in output
    assert "--force-crs" in output and not (tmp_path / "plan.gpkg").exists()
    # a wrong declaration: phone-map lon/lat labelled EPSG:4547 — forced
    wrong = tmp_path / "wrong.gpkg"
    phone_frame().set_crs(4547, allow_override=True).to_file(wrong, engine="pyogrio")
    code, output = run(
        "import", wrong, "--crs", "gcj02", "--force-crs", "-o", tmp_path / "forced.gpkg"
    )
    assert code == 0, output
    assert_within_a_metre(read_plan(tmp_path / "forced.gpkg").grids, truth_frame())


def test_validate_with_crs(tmp_path: Path) -> None:
    source = write_geojson(phone_frame(), tmp_path / "grids.geojson")
    code, output = run("validate", source, "--crs", "gcj02", "--json")
    assert code == 0, output
    assert json.loads(output)["valid"] is True
    gpkg = tmp_path / "grids.gpkg"
    truth_frame().to_crs(4547).to_file(gpkg, engine="pyogrio")
    code, output = run("validate", gpkg, "--crs", "bd09")
    assert code == 1 and "坐标系冲突" in output and "EPSG:4547" in output


def households(area: Polygon, per_side: int = 16) -> tuple[np.ndarray, np.ndarray]:
    minx, miny, maxx, maxy = area.bounds
    frac = np.linspace(0.03, 0.97, per_side)
    x, y = np.meshgrid(minx + frac * (maxx - minx), miny + frac * (maxy - miny))
    return x.ravel(), y.ravel()


def partition_inputs(tmp_path: Path, system: str | None) -> tuple[Path, Path, Path]:
    """An area, household points and a road along its middle (lat 39.985), maybe on a phone map."""
    area = truth_frame().iloc[:1]
    x, y = households(area.geometry.iloc[0])
    homes = gpd.GeoDataFrame(
        {"households": np.full(x.size, 3)}, geometry=gpd.points_from_xy(x, y), crs=4490
    )
    road = gpd.GeoDataFrame(geometry=[ROAD], crs=4490)
    if system is not None:
        area = area.set_geometry([forward(g, system) for g in area.geometry], crs=4326)
        homes = homes.set_geometry(gpd.points_from_xy(*FORWARD[system](x, y)), crs=4326)
        road = road.set_geometry([forward(g, system) for g in road.geometry], crs=4326)
    tmp_path.mkdir(exist_ok=True)
    paths = tmp_path / "area.geojson", tmp_path / "homes.geojson", tmp_path / "road.geojson"
    for frame, path in zip((area, homes, road), paths, strict=True):
        write_geojson(frame, path)
    return paths


ROAD = LineString([(116.29, 39.985), (116.34, 39.985)])
HOUSEHOLDS = 3 * 16 * 16


def test_partition_converts_area_households_and_barriers(tmp_path: Path, monkeypatch) -> None:
    import geogrid.partition

    given = {}
    partition_areas = geogrid.partition.partition_areas

    def spy(areas, homes, **kwargs):
        given.update(areas=areas, homes=homes, barriers=kwargs["barriers"])
        return partition_areas(areas, homes, **kwargs)

    monkeypatch.setattr(geogrid.partition, "partition_areas", spy)
    area, homes, road = partition_inputs(tmp_path, "gcj02")
    out = tmp_path / "plan.gpkg"
    args = ("partition", area, "--households", homes, "--barriers", road, "--grids", "2")
    code, output = run(*args, "--crs", "gcj02", "-o", out, "--seed", "1")
    assert code == 0, output
    assert "warning" not in output
    assert distance_m(given["barriers"].geometry.iloc[0].buffer(1e-9), ROAD.buffer(1e-9)) < 1
    x, y = households(LONG_EDGES[0][2])
    got = shapely.get_coordinates(given["homes"].geometry.to_numpy())
    assert np.abs(got - np.column_stack([x, y])).max() < 1e-8  # 1 mm
    plan = read_plan(out)
    assert_within_a_metre(plan.level(1), truth_frame().iloc[:1])
    assert int(plan.level(2)["households"].sum()) == HOUSEHOLDS  # every household inside


def test_partition_warns_of_households_one_offset_off(tmp_path: Path) -> None:
    area, _, _ = partition_inputs(tmp_path, None)
    _, homes, _ = partition_inputs(tmp_path / "phone", "gcj02")
    code, output = run(
        "partition", area, "--households", homes, "--grids", "2", "-o", tmp_path / "p.gpkg"
    )
    assert code == 0, output
    assert "warning" in output and "GCJ-02" in output and "homes.geojson" in output
    # said per input: only the households are GCJ-02, and nothing is left to warn about
    code, output = run(
        "partition", area, "--households", homes, "--grids", "2",
        "--crs", "households=gcj02", "-o", tmp_path / "q.gpkg",
    )  # fmt: skip
    assert code == 0, output
    assert "warning" not in output
    assert int(read_plan(tmp_path / "q.gpkg").level(2)["households"].sum()) == HOUSEHOLDS


def test_report_and_redraw_take_crs(tmp_path: Path) -> None:
    area, plain_homes, _ = partition_inputs(tmp_path, None)
    _, homes, road = partition_inputs(tmp_path / "phone", "gcj02")
    plan = tmp_path / "plan.gpkg"
    code, output = run("partition", area, "--households", plain_homes, "--grids", "2", "-o", plan)
    assert code == 0, output
    code, output = run("report", plan, "--households", homes)
    assert code == 0 and "warning" in output and "GCJ-02" in output  # off the plan
    code, output = run(
        "report", plan, "--households", homes, "--barriers", road, "--crs", "households=gcj02",
        "--crs", "barriers=gcj02", "--json",
    )  # fmt: skip
    assert code == 0, output
    grids = [g for g in json.loads(output)["grids"] if g["level"] == 2]
    assert sum(g["households"] for g in grids) == HOUSEHOLDS
    assert all(g["on_barriers"] > 0.9 for g in grids)  # the road, converted, is their edge
    code, output = run(
        "redraw", plan, "--households", homes, "--band", "300-500",
        "--crs", "households=gcj02", "-o", tmp_path / "redrawn.gpkg",
    )  # fmt: skip
    assert code == 0 and "warning" not in output, output
    assert "moved 0 households" in output
    code, output = run("report", plan, "--crs", "nowhere=gcj02")
    assert code == 2 and "plan, households, barriers" in output
