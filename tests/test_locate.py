"""The locate index answers exactly like ``shapely.covers`` + the smallest-code rule."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from geogrid.crs import wgs84_to_bd09, wgs84_to_gcj02
from geogrid.errors import PlanFileError
from geogrid.locate import (
    OUTSIDE,
    GridIndex,
    locate_points,
    postgis_locate_sql,
    postgis_nearest_sql,
)
from geogrid.plan import GridPlan
from tests._pg import scratch_database

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ORIGIN = (116.30, 39.95)


# --------------------------------------------------------------------------- coverages


def _split(rng: np.random.Generator, rect: tuple[int, int, int, int], parts: int) -> list:
    """Guillotine-split an integer rectangle into up to ``parts`` rectangles."""
    rects = [rect]
    for _ in range(parts - 1):
        rects.sort(key=lambda r: (r[2] - r[0]) * (r[3] - r[1]))
        x0, y0, x1, y1 = rects.pop()
        if x1 - x0 >= y1 - y0 and x1 - x0 > 1:
            cut = int(rng.integers(x0 + 1, x1))
            rects += [(x0, y0, cut, y1), (cut, y0, x1, y1)]
        elif y1 - y0 > 1:
            cut = int(rng.integers(y0 + 1, y1))
            rects += [(x0, y0, x1, cut), (x0, cut, x1, y1)]
        else:
            rects.append((x0, y0, x1, y1))
            break
    return rects


def _lattice_box(rect: tuple[int, int, int, int], unit: float) -> shapely.Geometry:
    ox, oy = ORIGIN
    x0, y0, x1, y1 = rect
    return box(ox + x0 * unit, oy + y0 * unit, ox + x1 * unit, oy + y1 * unit)


def nested_plan(seed: int, unit: float, drop: bool = False) -> GridPlan:
    """Two levels of lattice rectangles; codes numbered in random order."""
    rng = np.random.default_rng(seed)
    rows = []
    tops = _split(rng, (0, 0, 16, 12), int(rng.integers(1, 6)))
    for i, top in zip(rng.permutation(len(tops)), tops, strict=True):
        code = f"110108001{i + 1:03d}"
        rows.append((code, 1, None, _lattice_box(top, unit)))
        subs = _split(rng, top, int(rng.integers(1, 6)))
        for j, sub in zip(rng.permutation(len(subs)), subs, strict=True):
            rows.append((f"{code}{j + 1:03d}", 2, code, _lattice_box(sub, unit)))
    if drop and len(rows) > 2:
        del rows[-1]  # a hole at level 2: level 1 answers, the finest level does not
    codes, levels, parents, geoms = zip(*rows, strict=True)
    grids = gpd.GeoDataFrame(
        {
            "code": codes,
            "name": [f"网格{c}" for c in codes],
            "level": levels,
            "parent_code": parents,
        },
        geometry=list(geoms),
        crs=4490,
    )
    return GridPlan("测试", ["社区", "网格"], grids)


def voronoi_grids(seed: int, n: int, size: float) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    ox, oy = ORIGIN
    seeds = shapely.multipoints(
        np.column_stack([ox + rng.random(n) * size, oy + rng.random(n) * size])
    )
    frame = box(ox, oy, ox + size, oy + size)
    cells = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=frame))
    cells = shapely.intersection(cells, frame)
    cells = cells[shapely.area(cells) > 0]
    codes = [f"{i:04d}" for i in rng.permutation(len(cells))]
    return codes, cells


def probe_points(geoms: np.ndarray, seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Vertices, edge midpoints, near-edge and random points around the geometries."""
    rng = np.random.default_rng(seed)
    coords = shapely.get_coordinates(shapely.get_rings(shapely.get_parts(geoms)))
    mids = (coords[:-1] + coords[1:]) / 2.0
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    pad = 0.1 * max(maxx - minx, maxy - miny)
    rand = np.column_stack(
        [rng.uniform(minx - pad, maxx + pad, n), rng.uniform(miny - pad, maxy + pad, n)]
    )
    tiny = coords + rng.normal(scale=1e-12, size=coords.shape)
    pts = np.vstack([coords, mids, tiny, rand])
    return pts[:, 0], pts[:, 1]


def brute_force(codes: np.ndarray, geoms: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per point the smallest code whose polygon covers it, ``None`` when none does."""
    points = shapely.points(x, y)
    covered = shapely.covers(geoms[:, None], points[None, :])
    order = np.argsort(codes.astype(str))
    out = np.full(x.size, None, dtype=object)
    for i in order[::-1]:
        out[covered[i]] = codes[i]
    return out


def assert_matches_brute_force(index: GridIndex, x: np.ndarray, y: np.ndarray) -> None:
    result = index.locate(x, y, nearest=False)
    for level in index.levels:
        members = index.grid_levels == level
        expected = brute_force(index.codes[members], index.geometries[members], x, y)
        got = result.level_codes(level)
        bad = np.flatnonzero(expected != got)
        assert bad.size == 0, (
            f"level {level}: {bad.size} of {x.size} differ, e.g. point "
            f"({x[bad[0]]!r}, {y[bad[0]]!r}): index {got[bad[0]]}, covers {expected[bad[0]]}"
        )


# --------------------------------------------------------------------------- exactness


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), unit=st.sampled_from([1 / 1024, 0.001, 0.0007, 1e-5]))
def test_nested_rectangles_match_brute_force(seed: int, unit: float) -> None:
    plan = nested_plan(seed, unit, drop=seed % 3 == 0)
    index = GridIndex.from_plan(plan)
    x, y = probe_points(index.geometries, seed)
    assert_matches_brute_force(index, x, y)


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 60),
    size=st.sampled_from([0.002, 0.05, 0.7]),
)
def test_voronoi_coverage_matches_brute_force(seed: int, n: int, size: float) -> None:
    codes, cells = voronoi_grids(seed, n, size)
    index = GridIndex(codes, [1] * len(codes), cells)
    x, y = probe_points(cells, seed)
    assert_matches_brute_force(index, x, y)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 12))
def test_overlapping_grids_match_brute_force(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    ox, oy = ORIGIN
    centres = np.column_stack([ox + rng.random(n) * 0.01, oy + rng.random(n) * 0.01])
    geoms = shapely.buffer(shapely.points(centres), rng.uniform(5e-4, 4e-3, n), quad_segs=4)
    inner = shapely.buffer(shapely.points(centres[:1]), 1e-4)  # a grid inside another
    geoms = np.append(geoms, inner)
    codes = [f"{i:03d}" for i in rng.permutation(geoms.size)]
    index = GridIndex(codes, [1] * geoms.size, geoms)
    x, y = probe_points(geoms, seed)
    assert_matches_brute_force(index, x, y)


def test_shared_edge_and_vertex_go_to_smallest_code() -> None:
    geoms = [box(0, 0, 1, 1), box(1, 0, 2, 1), box(0, 1, 1, 2), box(1, 1, 2, 2)]
    index = GridIndex(["d", "b", "c", "a"], [1] * 4, geoms)
    result = index.locate([1.0, 1.0, 0.5, 1.5, 2.0], [1.0, 0.5, 1.0, 1.0, 2.0])
    assert result.grid_codes().tolist() == ["a", "b", "c", "a", "a"]
    assert result.status.tolist() == ["inside"] * 5


# --------------------------------------------------------------------------- levels, outside


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), unit=st.sampled_from([1 / 1024, 0.001, 0.0013]))
def test_level_one_is_parent_of_level_two(seed: int, unit: float) -> None:
    plan = nested_plan(seed, unit)
    index = GridIndex.from_plan(plan)
    x, y = probe_points(index.geometries, seed)
    result = index.locate(x, y, nearest=False)
    parents = dict(zip(plan.grids["code"], plan.grids["parent_code"], strict=True))
    top, fine = result.level_codes(1), result.level_codes(2)
    both = np.flatnonzero(fine != None)  # noqa: E711 - object array comparison
    assert [parents[c] for c in fine[both]] == top[both].tolist()
    assert (top[fine == None] == None).all()  # noqa: E711


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 30))
def test_outside_points_get_nearest_grid_and_distance(seed: int, n: int) -> None:
    codes, cells = voronoi_grids(seed, n, 0.01)
    index = GridIndex(codes, [1] * len(codes), cells)
    rng = np.random.default_rng(seed)
    ox, oy = ORIGIN
    angle = rng.uniform(0, 2 * np.pi, 200)
    radius = rng.uniform(0.0075, 0.03, 200)
    x, y = ox + 0.005 + radius * np.cos(angle), oy + 0.005 + radius * np.sin(angle)
    result = index.locate(x, y)
    assert (result.status == "outside").all()
    assert (result.grid == OUTSIDE).all()
    metric = gpd.GeoSeries(index.geometries, crs=4490).to_crs(index.metric_crs)
    pts = gpd.GeoSeries(shapely.points(x, y), crs=4490).to_crs(index.metric_crs)
    dist = shapely.distance(np.asarray(metric.array)[:, None], np.asarray(pts.array)[None, :])
    best = dist.min(axis=0)
    np.testing.assert_allclose(result.distance_m, best, rtol=1e-9, atol=1e-6)
    clear = np.sort(dist, axis=0)[1] - best > 1e-6  # no tie within a micrometre
    expected = index.codes[dist.argmin(axis=0)]
    assert (result.nearest_codes()[clear] == expected[clear]).all()
    assert (best > 0).all()


def test_invalid_points_are_marked_not_located() -> None:
    index = GridIndex(["1"], [1], [box(0, 0, 1, 1)])
    result = index.locate([np.nan, 0.5, np.inf], [0.5, 0.5, 0.5])
    assert result.status.tolist() == ["invalid", "inside", "invalid"]
    assert np.isnan(result.distance_m[[0, 2]]).all()


def test_bad_plans_are_refused_with_advice() -> None:
    with pytest.raises(PlanFileError, match="unique"):
        GridIndex(["1", "1"], [1, 1], [box(0, 0, 1, 1), box(1, 0, 2, 1)])
    with pytest.raises(PlanFileError, match="no grids"):
        GridIndex([], [], [])
    with pytest.raises(PlanFileError, match="not a polygon"):
        GridIndex(["1"], [1], [shapely.Point(0, 0)])


# --------------------------------------------------------------------------- phone-map CRS


def _street_of_100m_grids() -> GridIndex:
    """Forty grids about 100 m wide in a row across Beijing, codes west to east."""
    ox, oy = 116.39, 39.90
    dx, dy = 0.00117, 0.0009  # ≈ 100 m × 100 m at 40°N
    geoms = [box(ox + i * dx, oy, ox + (i + 1) * dx, oy + 10 * dy) for i in range(40)]
    return GridIndex([f"{i:03d}" for i in range(40)], [1] * 40, geoms)


@pytest.mark.parametrize(("crs", "forward"), [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_phone_map_points_land_in_the_right_grid(crs, forward) -> None:
    index = _street_of_100m_grids()
    lon = 116.39 + (np.arange(5, 30) + 0.5) * 0.00117
    lat = np.full(lon.size, 39.90 + 5 * 0.0009)
    truth = index.locate(lon, lat).grid_codes()
    phone_lon, phone_lat = forward(lon, lat)
    converted = locate_points(index, phone_lon, phone_lat, crs, chunk_size=7)
    raw = index.locate(phone_lon, phone_lat)
    assert converted.grid_codes().tolist() == truth.tolist()
    assert (raw.grid_codes() != truth).all()  # unconverted: several grids off


def test_locate_points_reports_progress() -> None:
    index = _street_of_100m_grids()
    done: list[int] = []
    result = locate_points(
        index, np.full(10, 116.3905), np.full(10, 39.9005), chunk_size=3, progress=done.append
    )
    assert done == [3, 3, 3, 1]
    assert result.grid_codes().tolist() == ["000"] * 10


# --------------------------------------------------------------------------- PostGIS twin


@pytest.mark.postgis
def test_postgis_sql_gives_the_same_answers() -> None:
    import psycopg

    plan = nested_plan(7, 0.001, drop=True)
    codes, cells = voronoi_grids(11, 25, 0.02)
    index = GridIndex.from_plan(plan)
    voronoi = GridIndex(codes, [1] * len(codes), cells)
    with scratch_database() as dsn, psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE grids (code text, level int, geom geometry(MultiPolygon, 4490))")
        for idx, offset in ((index, 0), (voronoi, 10)):
            rows = [
                (
                    str(code),
                    int(level) + offset,
                    shapely.to_wkb(shapely.multipolygons([g]) if g.geom_type == "Polygon" else g),
                )
                for code, level, g in zip(idx.codes, idx.grid_levels, idx.geometries, strict=True)
            ]
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO grids VALUES (%s, %s, ST_GeomFromWKB(%s, 4490))", rows)
        conn.execute("CREATE INDEX ON grids USING gist (geom)")
        for idx, offset in ((index, 0), (voronoi, 10)):
            x, y = probe_points(idx.geometries, 3, n=300)
            _assert_postgis_agrees(conn, idx, x, y, offset)


def _assert_postgis_agrees(conn, index: GridIndex, x, y, offset: int) -> None:
    result = index.locate(x, y)
    locate_sql, nearest_sql = postgis_locate_sql(), postgis_nearest_sql()
    srid = index.metric_crs.to_epsg()
    with conn.cursor() as cur:
        for level in index.levels:
            got = result.level_codes(level)
            for i in range(x.size):
                params = {"lon": float(x[i]), "lat": float(y[i]), "level": level + offset}
                found = cur.execute(locate_sql, params).fetchone()
                assert (found[0] if found else None) == got[i], (level, x[i], y[i])
        outside = np.flatnonzero(result.status == "outside")
        assert outside.size > 10
        for i in outside:
            params = {
                "lon": float(x[i]),
                "lat": float(y[i]),
                "level": index.levels[-1] + offset,
                "metric_srid": srid,
            }
            code, distance = cur.execute(nearest_sql, params).fetchone()
            assert distance == pytest.approx(result.distance_m[i], abs=1e-3)
            assert code == result.nearest_codes()[i]


# --------------------------------------------------------------------------- tables


def test_locate_frame_adds_level_columns_and_keeps_input() -> None:
    import pandas as pd

    from geogrid.locate import locate_frame

    plan = nested_plan(3, 0.001)
    index = GridIndex.from_plan(plan)
    inside = plan.level(2).geometry.representative_point()
    table = pd.DataFrame(
        {
            "report": ["a", "b", "c"],
            "lon": [inside.iloc[0].x, 0.0, "not a number"],
            "lat": [inside.iloc[0].y, 0.0, 1.0],
        }
    )
    out = locate_frame(index, table)
    assert list(out.columns) == [
        "report", "lon", "lat", "level1_code", "level2_code", "grid_code", "status",
        "nearest_code", "distance_m",
    ]  # fmt: skip
    assert out["grid_code"].iloc[0] == plan.level(2)["code"].iloc[0]
    assert out["level1_code"].iloc[0] == plan.level(2)["parent_code"].iloc[0]
    assert out["status"].tolist() == ["inside", "outside", "invalid"]
    assert out["distance_m"].iloc[1] > 1e6 and np.isnan(out["distance_m"].iloc[[0, 2]]).all()
    with pytest.raises(PlanFileError, match="lacks the column"):
        locate_frame(index, table.rename(columns={"lat": "y"}))


def test_locate_frame_reads_point_layers_in_their_crs() -> None:
    from geogrid.locate import locate_frame

    index = _street_of_100m_grids()
    lon, lat = wgs84_to_gcj02(116.39 + 3.5 * 0.00117, 39.9045)
    layer = gpd.GeoDataFrame({"n": [1]}, geometry=[shapely.Point(lon, lat)], crs=None)
    assert locate_frame(index, layer, "gcj02")["grid_code"].tolist() == ["003"]
    metric = gpd.GeoDataFrame(
        {"n": [1]}, geometry=[shapely.Point(116.39 + 3.5 * 0.00117, 39.9045)], crs=4490
    ).to_crs(index.metric_crs)
    located = locate_frame(index, metric)
    assert located["grid_code"].tolist() == ["003"]
    assert isinstance(located, gpd.GeoDataFrame)


def test_far_away_point_gets_the_nearest_grid_and_a_geodesic_distance() -> None:
    """A point on another continent (outside the plan's metric zone) is answered, not a crash."""
    from pyproj import Geod

    plan = nested_plan(seed=3, unit=0.001)
    index = GridIndex.from_plan(plan)
    result = index.locate(np.array([18.0]), np.array([0.0]))
    assert result.status_code[0] == 1  # outside
    finest = plan.level(2)
    nearest = shapely.shortest_line(finest.geometry.to_numpy(), shapely.Point(18.0, 0.0))
    lengths = [Geod(ellps="GRS80").line_length(*np.asarray(line.coords).T) for line in nearest]
    assert result.distance_m[0] == pytest.approx(min(lengths), rel=1e-3)
