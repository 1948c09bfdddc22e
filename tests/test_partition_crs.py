"""Plans from ``partition`` and ``redraw`` pass validation whatever the input CRS.

Grids are cut in metres and converted to EPSG:4490 vertex by vertex; a straight edge in
metres is not straight in lon/lat, so a grid vertex on the parent's edge used to land
centimetres inside or outside it ("outside parent", "not covering parent").
:func:`geogrid.partition.plan.geoms_to_plan_crs` puts such vertices on the parent's lon/lat
edge; these tests hold every plan to ``validate_plan(plan) == []`` and a store save.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon

from geogrid.partition import partition_areas, redraw
from geogrid.partition.plan import geoms_to_plan_crs
from geogrid.plan import GridPlan
from geogrid.store import open_store
from geogrid.validate import validate_plan

CRSS = [4490, 4547, 4527, 32650]
"""CGCS2000 lon/lat, Gauss–Krüger CM 114°E (no zone prefix), zone 39 with prefix, UTM 50N."""


def _community(lon: float, lat: float, radii: list[float]) -> Polygon:
    """A star-shaped community around (lon, lat), one vertex per radius (degrees)."""
    angles = np.linspace(0, 2 * np.pi, len(radii), endpoint=False)
    return Polygon(
        [(lon + r * np.cos(a), lat + r * np.sin(a)) for r, a in zip(radii, angles, strict=True)]
    )


def _inputs(
    crs: int, lon: float, lat: float, radii: list[float], seed: int, n: int = 240
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    poly = _community(lon, lat, radii)
    rng = np.random.default_rng(seed)
    west, south, east, north = poly.bounds
    xy = rng.uniform((west, south), (east, north), size=(4 * n, 2))
    points = shapely.points(xy)
    points = points[shapely.contains_xy(poly, xy[:, 0], xy[:, 1])][:n]
    areas = gpd.GeoDataFrame(
        {"code": ["110108001"], "name": ["测试社区"]}, geometry=[poly], crs=4490
    ).to_crs(crs)
    homes = gpd.GeoDataFrame(
        {"households": rng.integers(1, 6, len(points))}, geometry=points, crs=4490
    ).to_crs(crs)
    return areas, homes


def _saved(plan: GridPlan) -> None:
    with (
        tempfile.TemporaryDirectory() as folder,
        open_store(f"sqlite:///{Path(folder) / 'plans.gpkg'}") as store,
    ):
        assert store.save(plan, by="测试").version == 1


def _partitioned(crs: int, drawn: tuple) -> tuple[GridPlan, gpd.GeoDataFrame]:
    lon, lat, radii, seed = drawn
    areas, homes = _inputs(crs, lon, lat, radii, seed)
    plan, _ = partition_areas(areas, homes, band=(150, 250), then_band=(20, 50), seed=seed)
    return plan, homes


community = st.tuples(
    st.floats(114.2, 116.8),  # centre longitude (all four CRSs' zones reach it)
    st.floats(22.0, 41.0),  # centre latitude
    st.lists(st.floats(0.004, 0.012), min_size=4, max_size=9),  # radii, about 0.4–1.3 km
    st.integers(0, 2**16),
)


@pytest.mark.parametrize("crs", CRSS)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(community)
def test_partition_plan_is_valid_in_any_input_crs(crs, drawn):
    plan, _ = _partitioned(crs, drawn)
    assert [p.line() for p in validate_plan(plan)] == []
    _saved(plan)


@pytest.mark.parametrize("crs", CRSS)
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(community)
def test_redraw_plan_is_valid_in_any_input_crs(crs, drawn):
    plan, homes = _partitioned(crs, drawn)
    grown = homes.copy()
    grown.loc[grown.index[: len(grown) // 3], "households"] *= 3  # one corner fills up
    result = redraw(plan, grown, band=(150, 250), then_band=(20, 50), seed=drawn[3])
    assert [p.line() for p in validate_plan(result.plan)] == []
    _saved(result.plan)


@pytest.mark.parametrize("crs", CRSS)
def test_grids_on_the_parent_edge_meet_it_exactly(crs):
    """A vertex on the parent's edge in metres lands on the parent's lon/lat edge."""
    areas, homes = _inputs(crs, 116.3, 39.99, [0.01, 0.012, 0.009, 0.011, 0.01], seed=3)
    plan, _ = partition_areas(areas, homes, grids=5)
    parent = plan.level(1).geometry.iloc[0]
    union = shapely.coverage_union_all(plan.level(2).geometry.to_numpy())
    assert shapely.coverage_is_valid(plan.level(2).geometry.to_numpy())
    # the symmetric difference is floating-point dust (degrees², ~1 m² is 1e-10)
    assert shapely.area(shapely.symmetric_difference(parent, union)) < 1e-14


def test_vertices_off_the_edge_are_converted_as_they_are():
    square = shapely.box(500000, 3380000, 501000, 3381000)
    parent_ll = geoms_to_plan_crs(np.array([square]), 4547)[0]
    inner = shapely.Point(500500, 3380500)
    plain = geoms_to_plan_crs(np.array([inner]), 4547)[0]
    fitted = geoms_to_plan_crs(np.array([inner]), 4547, parent=(square, parent_ll))[0]
    assert fitted.equals_exact(plain, 0)
    on_edge = shapely.Point(500000, 3380500)
    moved = geoms_to_plan_crs(np.array([on_edge]), 4547, parent=(square, parent_ll))[0]
    assert shapely.distance(shapely.boundary(parent_ll), moved) < 1e-12
