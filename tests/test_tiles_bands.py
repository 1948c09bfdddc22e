"""Zoom bands: each level generalised as a coverage, kept by the store, low-zoom tiles cut from it.

* property: for random coverages (jittered lattices with wiggly shared edges), every band's
  copy is still an exact coverage (``shapely.coverage_is_valid``: no overlap, every shared
  edge matched vertex for vertex), each grid stays within tile precision at the band's zoom
  (half a pixel on average along its outline, a vertex four at most), and
  snapped to the band's tile pixels neighbours neither overlap nor leave gaps beyond a pixel
  per grid;
* a level that is no coverage is simplified grid by grid, each result valid;
* the store writes the copies at activation (once), migration 0010 writes them for the
  versions active when it runs, on both stores;
* a low-zoom tile from PostGIS decodes to neighbours that share their edges.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import shapely
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from api.main import create_app
from geogrid.plan import GridPlan
from geogrid.store import open_store
from geogrid.store.database import alembic_config, writing
from geogrid.store.tiles import PostgisTiles
from geogrid.tiles import (
    BANDS,
    band_of,
    band_tolerance,
    generalise,
    mercator_geometries,
    mercator_to_lonlat,
    tile_bounds,
)
from tests.service import service_settings
from tests.test_county import publish
from tests.test_tiles import CENTRE, PLAN, assert_tile_is_the_plan, decoded, lonlat_to_tile


def lattice(seed: int, nx: int, ny: int, amplitude: float) -> np.ndarray:
    """``nx × ny`` cells of a jittered lattice near 112°E 33°N, ~1 km, wiggly shared edges."""
    rng = np.random.default_rng(seed)
    cell = 0.01
    xs = (np.arange(nx + 1)[:, None] + rng.uniform(-0.3, 0.3, (nx + 1, ny + 1))) * cell + 112
    ys = (np.arange(ny + 1)[None, :] + rng.uniform(-0.3, 0.3, (nx + 1, ny + 1))) * cell + 33
    xs[0, :], xs[-1, :], ys[:, 0], ys[:, -1] = 112, 112 + nx * cell, 33, 33 + ny * cell
    edges: dict[tuple, np.ndarray] = {}

    def edge(a: tuple[int, int], b: tuple[int, int]) -> np.ndarray:
        if (b, a) in edges:
            return edges[(b, a)][::-1]  # the same vertices, backwards: shared exactly
        if (a, b) not in edges:
            p, q = np.array([xs[a], ys[a]]), np.array([xs[b], ys[b]])
            t = np.linspace(0, 1, 22)[1:-1]
            normal = np.array([p[1] - q[1], q[0] - p[0]])
            bump = rng.normal(0, amplitude, len(t)) * np.sin(np.pi * t)
            inner = p + t[:, None] * (q - p) + bump[:, None] * normal
            edges[(a, b)] = np.vstack([p, inner, q])
        return edges[(a, b)]

    cells = []
    for i in range(nx):
        for j in range(ny):
            a, b, c, d = (i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)
            ring = [edge(a, b)[:-1], edge(b, c)[:-1], edge(c, d)[:-1], edge(d, a)]
            cells.append(shapely.Polygon(np.vstack(ring)))
    return np.array(cells, dtype=object)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    nx=st.integers(1, 7),
    ny=st.integers(1, 7),
    amplitude=st.floats(0.0, 0.04),
)
def test_every_band_is_still_a_coverage_within_tile_precision(seed, nx, ny, amplitude) -> None:
    grids = mercator_geometries(lattice(seed, nx, ny, amplitude))
    assert shapely.coverage_is_valid(grids)
    bands = generalise(grids)
    assert sorted(bands) == sorted(BANDS)
    whole = shapely.union_all(grids)
    for band, geoms in bands.items():
        pixel = band_tolerance(band) / 2  # a tile pixel at the band's zoom
        assert len(geoms) == len(grids) and shapely.is_valid(geoms).all()
        assert shapely.coverage_is_valid(geoms), band  # no overlap, edges still matched
        # each grid within tile precision: half a pixel on average along its outline; a
        # vertex may move further (Visvalingam–Whyatt cuts a narrow spike of little area),
        # but by no more than twice the tolerance, four pixels

        moved = shapely.area(shapely.symmetric_difference(geoms, grids)) / shapely.length(grids)
        assert moved.max() <= pixel / 2, band
        assert shapely.hausdorff_distance(geoms, grids).max() <= 4 * pixel, band
        assert abs(shapely.union_all(geoms).area - whole.area) <= whole.length * pixel
        # at the band's tile precision: snapped to its pixels, neighbours still tile the area
        snapped = shapely.set_precision(shapely.transform(geoms, lambda c, p=pixel: c / p), 1.0)
        union = shapely.union_all(snapped)
        overlaps = shapely.area(snapped).sum() - union.area
        gaps = _holes(union)
        assert abs(overlaps) <= len(grids) and gaps <= len(grids), (band, overlaps, gaps)


def _holes(geom: shapely.Geometry) -> float:
    """The area of the holes of ``geom``'s polygons."""
    parts = shapely.get_parts(geom)
    rings = [shapely.get_interior_ring(p, n) for p in parts for n in range(len(p.interiors))]
    return float(shapely.area(shapely.polygons(rings)).sum()) if rings else 0.0


def test_a_level_that_is_no_coverage_is_simplified_grid_by_grid() -> None:
    grids = mercator_geometries(lattice(7, 3, 2, 0.03))
    grids[1] = shapely.buffer(grids[1], 50.0)  # overlaps its neighbours
    assert not shapely.coverage_is_valid(grids)
    for band, geoms in generalise(grids).items():
        assert shapely.is_valid(geoms).all() and not shapely.is_empty(geoms).any()
        assert shapely.hausdorff_distance(geoms, grids).max() <= 1.5 * band_tolerance(band)


def test_band_of_picks_the_first_band_at_or_above_the_zoom() -> None:
    assert [band_of(z) for z in range(13)] == [4] * 5 + [6] * 2 + [8] * 2 + [10] * 2 + [None] * 2


def _count(url: str) -> dict[int, int]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT version_id, count(*) FROM generalised_grids GROUP BY version_id")
        ).all()
    engine.dispose()
    return {int(v): int(n) for v, n in rows}


@pytest.mark.parametrize("backend", ["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_activation_writes_the_copies_and_the_migration_backfills_them(backend, tmp_path):
    rows = len(PLAN.grids) * len(BANDS)  # every grid of every level, once per band
    with service_settings(backend, tmp_path) as config, open_store(config.store_url) as store:
        publish(store, PLAN)
        assert _count(config.store_url) == {1: rows}
        second = store.save(PLAN, by="t")  # saved: no copies until activated
        assert _count(config.store_url) == {1: rows}
        store.approve(PLAN.name, second.version, by="t")
        store.activate(PLAN.name, second.version, by="t")  # version 1 retired
        assert _count(config.store_url) == {1: rows, 2: rows}
        with writing(store._engine) as connection:  # back to before 0010, then up again
            command.downgrade(alembic_config(connection), "0009_plan_notify")
            command.upgrade(alembic_config(connection), "head")
        assert _count(config.store_url) == {2: rows}  # the active version only


@pytest.mark.postgis
def test_a_low_zoom_postgis_tile_keeps_neighbours_edges_shared(tmp_path) -> None:
    with service_settings("postgis", tmp_path) as config:
        with open_store(config.store_url) as store:
            publish(store, PLAN)
        with TestClient(create_app(config)) as client:
            for z in (8, 10):
                x, y = lonlat_to_tile(*CENTRE, z)
                features = decoded(client.get(f"/tiles/2/{z}/{x}/{y}.mvt").content)
                geoms = np.array([g for g, _ in features.values()], dtype=object)
                assert len(geoms) == len(PLAN.level(2))
                union = shapely.union_all(geoms)
                # within tile precision: a pixel's area per grid at most, overlaps or gaps
                assert shapely.area(geoms).sum() - union.area <= len(geoms), z
                assert _holes(union) <= len(geoms), z


@pytest.mark.parametrize("backend", ["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_low_zoom_tiles_are_cut_from_the_stored_copies(backend, tmp_path) -> None:
    """Grid A's stored band-10 copy (and its pixels) replaced by B's: zoom 10 draws A at B."""
    a, b = (str(c) for c in PLAN.level(2)["code"].iloc[:2])
    with service_settings(backend, tmp_path) as config:
        with open_store(config.store_url) as store:
            publish(store, PLAN)
        engine = sa.create_engine(config.store_url)
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "UPDATE generalised_grids SET (geom, pixels) = (SELECT geom, pixels "
                    "FROM generalised_grids WHERE code = :b AND level = 2 AND band = 10) "
                    "WHERE code = :a AND level = 2 AND band = 10"
                ),
                {"a": a, "b": b},
            )
        engine.dispose()
        with TestClient(create_app(config)) as client:
            x, y = lonlat_to_tile(*CENTRE, 10)
            features = decoded(client.get(f"/tiles/2/10/{x}/{y}.mvt").content)
            deep = decoded(client.get(f"/tiles/2/11/{x * 2}/{y * 2}.mvt").content)
    assert features[a][0].equals(features[b][0])  # A drawn from its (tampered) copy
    if a in deep and b in deep:  # zoom 11: from the grids, A is itself again
        assert not deep[a][0].equals(deep[b][0])


def _straddling(z: int) -> GridPlan:
    """The wiggly street moved so that the west edge of a zoom-``z`` tile runs through it."""
    x, _ = lonlat_to_tile(*CENTRE, z)
    edge = mercator_to_lonlat(np.array([tile_bounds(z, x, 0)[0]]), np.array([0.0]))[0][0]
    shift = float(edge) - CENTRE[0]
    grids = PLAN.grids.copy()
    moved = shapely.transform(
        np.asarray(grids.geometry.array), lambda c: c + np.array([shift, 0.0])
    )
    return dataclasses.replace(PLAN, grids=grids.set_geometry(list(moved), crs=grids.crs))


@pytest.mark.postgis
@pytest.mark.parametrize("z", [8, 9, 10])  # 9: one zoom out of band 10 (``pixels_out``)
def test_a_tile_at_a_bands_zoom_is_the_one_cut_grid_by_grid(tmp_path, z) -> None:
    """The stored pixels shifted (grids inside) and cut (grids across the edge) give the tile
    ``ST_AsMVTGeom`` makes of every grid, on both tiles either side of the edge."""
    plan = _straddling(z)
    with service_settings("postgis", tmp_path) as config, open_store(config.store_url) as store:
        publish(store, plan)
        maker = PostgisTiles(store)
        ids = maker.version_ids([(plan.name, 1)])
        assert maker.generalised_ids(ids) == ids
        engine = sa.create_engine(config.store_url)
        with engine.connect() as connection:
            pixels = connection.execute(
                sa.text(
                    "SELECT band, count(pixels), count(pixels_out) FROM generalised_grids "
                    "GROUP BY band"
                )
            ).all()
        engine.dispose()
        # a grid under half a tile pixel has none (100 m grids at zoom 4: 611 m pixels)
        counts = {band: (n, out) for band, n, out in pixels}
        assert counts[8] == counts[10] == (len(plan.grids), len(plan.grids))
        x, y = lonlat_to_tile(*CENTRE, z)
        for column in (x - 1, x):
            shifted = decoded(maker.tile(ids, 2, z, column, y, generalised=ids))
            everything = decoded(maker.tile(ids, 2, z, column, y, generalised=ids, shift=False))
            assert set(shifted) == set(everything) and shifted
            for code, (geom, properties) in shifted.items():
                assert geom.equals(everything[code][0]), (column, code)
                assert properties == everything[code][1]
            assert_tile_is_the_plan(
                maker.tile(ids, 2, z, column, y, generalised=ids), plan, 2, z, column, y
            )
