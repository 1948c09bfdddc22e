"""Partition: band, contiguity, coverage, determinism, nesting and the hard cases."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, Polygon, box

from geogrid.errors import GeogridError
from geogrid.partition import (
    Band,
    grid_count,
    parse_band,
    partition,
    partition_areas,
    summary,
)
from geogrid.units import build_units
from geogrid.validate import validate_plan

CRS = 4547


def community(seed: int, n: int = 150, irregular: bool = False, roads: int = 2):
    """A random community: households 1–5 at random points, a few straight roads."""
    rng = np.random.default_rng(seed)
    if irregular:
        # one vertex per 40° sector: the polygon is star-shaped around the centre, so simple
        angles = (np.arange(9) + rng.uniform(0.1, 0.9, 9)) * (2 * np.pi / 9)
        radii = rng.uniform(300, 500, 9)
        parent = Polygon(
            np.column_stack([500 + radii * np.cos(angles), 500 + radii * np.sin(angles)])
        )
    else:
        parent = box(0, 0, 1000, 800)
    minx, miny, maxx, maxy = parent.bounds
    pts = []
    while len(pts) < n:
        p = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if parent.contains(p):
            pts.append(p)
    hh = gpd.GeoDataFrame({"households": rng.integers(1, 6, n)}, geometry=pts, crs=CRS)
    lines = []
    for _ in range(roads):
        x0, y0, x1, y1 = rng.uniform(0, 1000, 4)
        direction = np.array([x1 - x0, y1 - y0]) / max(np.hypot(x1 - x0, y1 - y0), 1e-9)
        a, b = np.array([x0, y0]) - 2000 * direction, np.array([x0, y0]) + 2000 * direction
        lines.append(LineString([a, b]))
    barriers = gpd.GeoDataFrame(geometry=lines, crs=CRS)
    return parent, hh, barriers


def check_partition(result, parent):
    geoms = result.grid_geometries()
    assert shapely.coverage_is_valid(geoms)
    assert shapely.area(geoms).sum() == pytest.approx(parent.area, rel=1e-9)
    assert shapely.coverage_union_all(geoms).symmetric_difference(parent).area < 1e-3
    assert (result.assignment >= 0).all() and (result.assignment < result.k).all()
    assert result.grid_households().sum() == result.units.households
    islands = {e.grid for e in result.exceptions if e.kind == "island"}
    for g, geom in enumerate(geoms):
        if g not in islands:
            assert shapely.get_num_geometries(geom) == 1, f"grid {g} is split"


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), irregular=st.booleans())
def test_random_communities(seed, irregular):
    parent, hh, barriers = community(seed, irregular=irregular)
    units = build_units(parent, hh, barriers=barriers, crs=CRS)
    band = Band(100, 200)
    result = partition(units, band=band, seed=seed)
    check_partition(result, parent)
    _, feasible = grid_count(units.households, band)
    if feasible:  # units of ≤ 5 households: the band can always be met
        loads = result.grid_loads()
        assert all(band.contains(x) for x in loads), loads
        assert not [e for e in result.exceptions if e.kind == "out-of-band"]
    again = partition(units, band=band, seed=seed)
    assert np.array_equal(again.assignment, result.assignment)


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 6))
def test_exactly_k_grids_as_equal_as_possible(seed, k):
    parent, hh, barriers = community(seed, n=120)
    units = build_units(parent, hh, barriers=barriers, crs=CRS)
    result = partition(units, grids=k, seed=seed)
    check_partition(result, parent)
    assert result.k == k
    loads = result.grid_loads()
    assert loads.max() - loads.min() <= max(0.25 * units.households / k, 10)


def test_nested_micro_grids_inside_their_grid_and_plan_valid():
    parent, hh, barriers = community(7, n=200)
    areas = gpd.GeoDataFrame(
        {"code": ["420106001001"], "name": ["样例社区"]}, geometry=[parent], crs=CRS
    )
    plan, _report = partition_areas(
        areas, hh, band=(100, 200), barriers=barriers, then_band=(20, 50)
    )
    assert plan.levels == ["社区", "网格", "微网格"]
    assert validate_plan(plan) == []
    grids, micro = plan.level(2), plan.level(3)
    assert set(micro["parent_code"]) <= set(grids["code"])
    assert all(len(c) == 18 for c in micro["code"])
    for _, row in micro.iterrows():
        host = grids[grids["code"] == row["parent_code"]].geometry.iloc[0]
        assert row.geometry.difference(host).area < 1e-12
    assert plan.units["households"].sum() == hh["households"].sum()
    assert set(plan.units["grid_code"]) <= set(micro["code"])
    assert int(plan.level(1)["households"].iloc[0]) == int(hh["households"].sum())


def test_same_seed_same_plan():
    parent, hh, barriers = community(11)
    areas = gpd.GeoDataFrame(
        {"code": ["420106001001"], "name": ["样例社区"]}, geometry=[parent], crs=CRS
    )
    first, _ = partition_areas(areas, hh, band=(100, 200), barriers=barriers, seed=4)
    second, _ = partition_areas(areas, hh, band=(100, 200), barriers=barriers, seed=4)
    assert first.grids.drop(columns="geometry").equals(second.grids.drop(columns="geometry"))
    assert all(
        shapely.equals_exact(first.grids.geometry.to_numpy(), second.grids.geometry.to_numpy())
    )


# --------------------------------------------------------------------------- hard cases


def test_island_is_attached_and_reported():
    rng = np.random.default_rng(0)
    main = box(0, 0, 600, 600)
    island = box(800, 0, 850, 50)
    pts = [Point(p) for p in rng.uniform(5, 595, (120, 2))] + [Point(820, 20)]
    hh = gpd.GeoDataFrame({"households": [5] * 120 + [10]}, geometry=pts, crs=CRS)
    parent = shapely.MultiPolygon([main, island])
    result = partition(build_units(parent, hh, crs=CRS), band=(250, 350))
    check_partition(result, parent)
    kinds = [e.kind for e in result.exceptions]
    assert "island" in kinds
    grid = next(e.grid for e in result.exceptions if e.kind == "island")
    assert shapely.get_num_geometries(result.grid_geometries()[grid]) == 2


def test_big_island_gets_its_own_grids():
    pts = [Point(x, y) for x in range(10, 600, 40) for y in range(10, 300, 40)]
    pts += [Point(x, y) for x in range(1010, 1300, 40) for y in range(10, 300, 40)]
    hh = gpd.GeoDataFrame({"households": [4] * len(pts)}, geometry=pts, crs=CRS)
    parent = shapely.MultiPolygon([box(0, 0, 600, 300), box(1000, 0, 1300, 300)])
    result = partition(build_units(parent, hh, crs=CRS), band=(80, 160))
    check_partition(result, parent)
    assert not [e for e in result.exceptions if e.kind == "island"]
    assert all(Band(80, 160).contains(x) for x in result.grid_loads())


def test_lake_hole_stays_out():
    lake = box(300, 300, 500, 500)
    parent = box(0, 0, 800, 800).difference(lake)
    _, hh, _ = community(2, n=150)
    hh = hh[hh.within(parent)]
    result = partition(build_units(parent, hh, crs=CRS), band=(100, 200))
    check_partition(result, parent)
    assert shapely.coverage_union_all(result.grid_geometries()).intersection(lake).area < 1e-6


def test_unit_above_band_max_is_reported():
    pts = [Point(50, 50), *[Point(x, 150) for x in range(10, 400, 20)]]
    hh = gpd.GeoDataFrame(
        {"households": [900] + [20] * 20, "name": ["大楼"] + [None] * 20}, geometry=pts, crs=CRS
    )
    result = partition(build_units(box(0, 0, 400, 200), hh, crs=CRS), band=(300, 500))
    check_partition(result, box(0, 0, 400, 200))
    large = [e for e in result.exceptions if e.kind == "large-unit"]
    assert len(large) == 1 and "大楼" in large[0].message


def test_parent_too_small_for_one_grid():
    hh = gpd.GeoDataFrame(
        {"households": [20, 30]}, geometry=[Point(10, 10), Point(50, 10)], crs=CRS
    )
    result = partition(build_units(box(0, 0, 100, 20), hh, crs=CRS), band=(300, 500))
    assert result.k == 1
    assert [e.kind for e in result.exceptions] == ["small-parent"]


def test_zero_households_everywhere():
    hh = gpd.GeoDataFrame({"households": [0, 0]}, geometry=[Point(10, 10), Point(50, 10)], crs=CRS)
    result = partition(build_units(box(0, 0, 100, 20), hh, crs=CRS), band=(300, 500))
    assert result.k == 1
    check_partition(result, box(0, 0, 100, 20))
    assert [e.kind for e in result.exceptions] == ["small-parent"]
    nobody = gpd.GeoDataFrame({"households": []}, geometry=[], crs=CRS)
    roads = gpd.GeoSeries([LineString([(50, -1), (50, 21)])], crs=CRS)
    empty = build_units(box(0, 0, 100, 20), nobody, barriers=roads, crs=CRS)
    assert len(empty) == 2 and empty.households == 0
    assert partition(empty, band=(300, 500)).k == 1
    assert partition(empty, grids=2).k == 2


def test_households_outside_reported():
    parent, hh, _ = community(5, n=100)
    far = gpd.GeoDataFrame({"households": [3]}, geometry=[Point(5000, 5000)], crs=CRS)
    hh = gpd.GeoDataFrame(
        {"households": [*hh["households"], 3]},
        geometry=[*hh.geometry, far.geometry.iloc[0]],
        crs=CRS,
    )
    result = partition(build_units(parent, hh, crs=CRS), band=(100, 200))
    assert [e.kind for e in result.exceptions].count("households-outside") == 1


def test_locked_grid_stays_as_given():
    parent, hh, barriers = community(9, n=200)
    school = gpd.GeoDataFrame(
        {"code": ["420106001001050"], "name": ["学校"]}, geometry=[box(100, 100, 300, 250)], crs=CRS
    )
    areas = gpd.GeoDataFrame(
        {"code": ["420106001001"], "name": ["样例社区"]}, geometry=[parent], crs=CRS
    )
    plan, _report = partition_areas(areas, hh, band=(100, 200), barriers=barriers, locked=school)
    assert validate_plan(plan) == []
    row = plan.grids[plan.grids["code"] == "420106001001050"]
    assert len(row) == 1
    kept = gpd.GeoSeries(row.geometry, crs=4490).to_crs(CRS).iloc[0]
    assert kept.symmetric_difference(box(100, 100, 300, 250)).area < 1e-3
    locked_units = plan.units[plan.units["locked"]]
    assert set(locked_units["grid_code"]) == {"420106001001050"}


def test_locked_special_grid_keeps_its_kind_in_the_plan():
    parent, hh, barriers = community(9, n=200)
    school = gpd.GeoDataFrame(
        {
            "code": ["420106001001050"],
            "name": ["第一小学"],
            "kind": ["special"],
            "subtype": ["school"],
            "priority": ["key"],
        },
        geometry=[box(100, 100, 300, 250)],
        crs=CRS,
    )
    areas = gpd.GeoDataFrame(
        {"code": ["420106001001"], "name": ["样例社区"]}, geometry=[parent], crs=CRS
    )
    plan, _ = partition_areas(areas, hh, band=(100, 200), barriers=barriers, locked=school)
    assert validate_plan(plan) == []
    grids = plan.level(2).set_index("code")
    kept = grids.loc["420106001001050"]
    assert (kept["name"], kept["kind"], kept["subtype"], kept["priority"]) == (
        "第一小学",
        "special",
        "school",
        "key",
    )
    others = grids.drop(index="420106001001050")
    assert (others["kind"] == "urban").all() and (others["priority"] == "normal").all()
    assert others["subtype"].isna().all()


def test_more_grids_than_units_is_a_clear_error():
    hh = gpd.GeoDataFrame({"households": [5, 5]}, geometry=[Point(10, 10), Point(50, 10)], crs=CRS)
    units = build_units(box(0, 0, 100, 20), hh, crs=CRS)
    with pytest.raises(GeogridError, match="cannot make 5 grids from 2 units"):
        partition(units, grids=5)
    with pytest.raises(GeogridError, match="either a band"):
        partition(units)
    with pytest.raises(GeogridError, match="either a band"):
        partition(units, band=(1, 2), grids=1)


def test_band_parsing_and_count():
    assert parse_band("20-50") == Band(20, 50)
    with pytest.raises(GeogridError, match="MIN-MAX"):
        parse_band("fifty")
    with pytest.raises(GeogridError, match="min ≤ max"):
        Band(500, 300)
    assert grid_count(1000, Band(300, 350)) == (3, True)
    assert grid_count(1000, Band(340, 360))[1] is False


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000))
def test_random_buildings_never_split(seed):
    rng = np.random.default_rng(seed)
    parent = box(0, 0, 600, 400)
    corners = rng.uniform(5, [560, 360], size=(60, 2))
    sizes = rng.uniform(5, 40, size=(60, 2))
    footprints = [box(x, y, x + w, y + h) for (x, y), (w, h) in zip(corners, sizes, strict=True)]
    hh = gpd.GeoDataFrame({"households": rng.integers(1, 12, 60)}, geometry=footprints, crs=CRS)
    roads = gpd.GeoDataFrame(geometry=[LineString([(300, -10), (300, 410)])], crs=CRS)
    units = build_units(parent, hh, barriers=roads, crs=CRS)
    result = partition(units, band=(60, 120), seed=seed)
    check_partition(result, parent)
    assert result.grid_households().sum() == hh["households"].sum()
    geoms = result.grid_geometries()
    # a building that does not overlap another or cross the road lies in one grid
    alone = [
        f
        for i, f in enumerate(footprints)
        if not any(f.intersects(g) for j, g in enumerate(footprints) if j != i)
        and not f.intersects(roads.geometry.iloc[0])
    ]
    for f in alone:
        inside = [g for g in geoms if g.intersection(f).area > 1e-6]
        assert len(inside) == 1


def test_workload_weights_and_count_column():
    parent, hh, _ = community(13, n=150)
    hh = hh.rename(columns={"households": "hh"})
    hh["shops"] = np.random.default_rng(0).integers(0, 3, len(hh))
    areas = gpd.GeoDataFrame(
        {"code": ["420106001001"], "name": ["样例社区"]}, geometry=[parent], crs=CRS
    )
    plan, report = partition_areas(
        areas, hh, band=(150, 300), weights={"hh": 1, "shops": 2}, count_column="hh"
    )
    result = report.areas[0].result
    workload = hh["hh"].sum() + 2 * hh["shops"].sum()
    assert result.grid_loads().sum() == pytest.approx(workload)
    assert result.grid_households().sum() == hh["hh"].sum()
    assert int(plan.level(1)["households"].iloc[0]) == hh["hh"].sum()
    assert all(Band(150, 300).contains(x) for x in result.grid_loads())


def test_summary_figures():
    parent, hh, barriers = community(21, n=150)
    result = partition(build_units(parent, hh, barriers=barriers, crs=CRS), band=(100, 200))
    figures = summary(result)
    assert figures["grids"] == result.k
    assert figures["in_band"] == 1.0 and figures["split_grids"] == 0
    assert 0 < figures["pp_min"] <= figures["pp_mean"] <= 1
    assert 0 <= figures["on_barriers"] <= 1
    # units of ≤ 5 households: only the count of grids keeps the mean off the target
    assert 0 <= figures["imbalance_bound"] <= min(figures["worst_deviation"], 0.05)


def test_coarse_units_out_of_band_grids_are_reported():
    # census-area-like units (45–273 households) on a square lattice, band 300–500
    from geogrid.units import units_from_polygons

    rng = np.random.default_rng(4)
    cells = [
        box(i * 100, j * 100, (i + 1) * 100, (j + 1) * 100) for i in range(12) for j in range(9)
    ]
    frame = gpd.GeoDataFrame(
        {"households": rng.integers(45, 274, len(cells))}, geometry=cells, crs=CRS
    )
    result = partition(units_from_polygons(frame), band=(300, 500))
    check_partition(result, box(0, 0, 1200, 900))
    loads = result.grid_loads()
    outside = {g for g, x in enumerate(loads) if not Band(300, 500).contains(x)}
    reported = {e.grid for e in result.exceptions if e.kind == "out-of-band"}
    assert outside == reported
    assert len(outside) <= 0.1 * result.k


@pytest.fixture(scope="module")
def heqingyuan():
    """Units of the sample's 荷清苑社区: three big buildings far inside an empty campus."""
    from geogrid.io import read_households, read_layer
    from geogrid.samples import sample_path

    areas = read_layer(sample_path("haidian", "area.geojson"))
    area = areas[areas["code"] == "110108900001"]
    homes = read_households(sample_path("haidian", "households.gpkg"), layer="buildings")
    inside = homes.representative_point().within(area.geometry.iloc[0])
    roads = read_layer(sample_path("haidian", "roads.gpkg"), layer="roads")
    return build_units(area, homes[inside], barriers=roads)


@pytest.mark.parametrize("seed", [0, 3, 5])
def test_households_beyond_empty_land_are_reached(heqingyuan, seed):
    # 3,010 households, 8 grids: a grid of two buildings (205) next to one whose 547
    # households sit in buildings 3-4 empty cells away; no single move or chain fixed it
    result = partition(heqingyuan, band=(300, 500), seed=seed)
    assert result.units.households == 3010 and result.k == 8
    assert result.metrics()["in_band"].all(), result.grid_loads().tolist()
    assert not [e for e in result.exceptions if e.kind == "out-of-band"]
    assert (result.metrics()["parts"] == 1).all()


@pytest.mark.parametrize("floor", [0.0, 5.0])
def test_all_moves_at_once_match_move_by_move(floor):
    # the numpy evaluation of every move picks exactly the units whose best move improves
    from geogrid.partition.objective import RefineState
    from geogrid.partition.solve import unit_graph

    parent, hh, barriers = community(4, n=300, irregular=True)
    units = build_units(parent, hh, barriers=barriers, crs=CRS)
    result = partition(units, band=(100, 200))
    graph = unit_graph(units, np.arange(len(units)), result.loads)
    start = np.roll(result.assignment, 7)  # a poor start: many improving moves
    state = RefineState(graph, start, result.k, 100, 200, 150)
    state.floor = floor
    state.shape_of = [state.grid_shape(g) for g in range(result.k)]
    scalar = [state.best_move(u)[0] < -1e-9 for u in range(len(units))]
    assert any(scalar) and state.improving().tolist() == scalar
