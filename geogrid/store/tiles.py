"""Vector tiles of the grids of given plan versions, made by PostGIS (``ST_AsMVT``).

One query per tile. At zoom ≤ 10 it reads the versions' generalised copies of the tile's
zoom band (``generalised_grids``, :mod:`geogrid.store.generalised`: already simplified as a
coverage and in EPSG:3857) through that band's partial GiST index, so a province's zoom-8
tile reads a few vertices per grid rather than hundreds, and with them the attributes the
tile carries (copied there from ``grids``, migration 0012: no row of ``grids`` is read). At
a band's own zoom (4, 6, 8, 10) a grid inside the tile and its buffer is its stored
``pixels`` (what ``ST_AsMVTGeom`` makes of it at that zoom, made at activation) shifted by
the tile's offset (``ST_Translate``), and one zoom out (3, 5, 7, 9) its ``pixels_out``
(migration 0014); only the grids crossing the tile's edge are cut by
``ST_AsMVTGeom``, the per-grid clip, snap and validation (Wagyu) that dominated such a tile.
Deeper tiles, and versions without copies, read ``grids``: the tile's envelope
(``ST_TileEnvelope``, grown by the buffer) taken to EPSG:4490 picks the grids through the
GiST index on ``grids.geom``; each is simplified by half a pixel in lon/lat
(:func:`geogrid.tiles.simplify_tolerance`), projected to EPSG:3857 and cut by
``ST_AsMVTGeom``. The layer, extent, buffer and attributes are those of
:mod:`geogrid.tiles`, so the tiles match the ones cut in Python for a GeoPackage store
(which gets its copies from :func:`read_generalised`) or a fixed plan.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

import sqlalchemy as sa
from shapely.geometry.base import BaseGeometry

from geogrid.store import schema
from geogrid.store.database import translate_errors
from geogrid.store.generalised import generalised_ids
from geogrid.store.repository import PlanStore
from geogrid.tiles import BUFFER, EXTENT, LAYER, band_of, check_tile, simplify_tolerance

__all__ = ["PostgisTiles", "read_generalised"]

_CHUNK = 5000  # bound parameters per IN (...) query

_RAW = f"""
    SELECT ST_AsMVTGeom(
               ST_Transform(ST_Simplify(g.geom, :tolerance), 3857), box.tile, {EXTENT}, {BUFFER}, true
           ) AS geom,
           g.code, g.name, g.level, g.parent_code, g.households, g.kind,
           v.jurisdiction, v.plan_name AS plan, v.version
    FROM grids g JOIN plan_versions v ON v.id = g.version_id, box
    WHERE g.version_id = ANY(:raw) AND g.level = :level AND g.geom && box.lonlat
"""
# band and level are written into the statement: the planner must see the band to pick its
# partial GiST index (a generic plan of a parameter would not). The attributes are the
# copy's own (migration 0012): no row of ``grids`` is read.
_BANDED = """
    SELECT {geometry} AS geom,
           s.code, s.name, s.level, s.parent_code, s.households, s.kind,
           v.jurisdiction, v.plan_name AS plan, v.version
    FROM generalised_grids s JOIN plan_versions v ON v.id = s.version_id, box
    WHERE s.band = {band:d} AND s.level = {level:d} AND s.version_id = ANY(:banded)
      AND s.geom && box.mercator
"""
_CUT = f"ST_AsMVTGeom(s.geom, box.tile, {EXTENT}, {BUFFER}, true)"
# at the band's own zoom, or one out: a grid inside the tile and its buffer is its pixels of
# that zoom shifted by the tile's offset (what ST_AsMVTGeom would make of it, made at
# activation); one crossing the edge, or without pixels, is cut
_PIXELS = {0: "pixels", 1: "pixels_out"}  # band - zoom → the column of that zoom's pixels


def _shift(column: str) -> str:
    return (
        f"CASE WHEN s.{column} @ box.pixels THEN ST_Translate(s.{column}, :dx, :dy) ELSE {_CUT} END"
    )


_TILE = f"""
    WITH box AS (
        SELECT ST_TileEnvelope(:z, :x, :y) AS tile,
               ST_TileEnvelope(:z, :x, :y, margin => :margin) AS mercator,
               ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => :margin), 4490) AS lonlat,
               ST_MakeEnvelope(:left, :top, :right, :bottom, 0) AS pixels
    ), cut AS ({{parts}})
    SELECT ST_AsMVT(cut, '{LAYER}', {EXTENT}, 'geom') FROM cut
"""
# no ``WHERE geom IS NOT NULL``: ST_AsMVT skips a row whose geometry is NULL (a grid cut
# away, or under half a pixel) and gives empty bytes for a tile without features; the
# filter, pushed down into ``cut``, had every grid's geometry made twice (once for the
# filter, once for the tile)
_IDS = sa.text(
    """
    SELECT v.id FROM plan_versions v
    JOIN unnest(CAST(:names AS text[]), CAST(:versions AS int[])) AS w(name, version)
      ON v.plan_name = w.name AND v.version = w.version
    ORDER BY v.id
    """
)
_EXTENT = sa.text(
    """
    SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), n
    FROM (SELECT ST_Extent(geom) AS e, count(*) AS n FROM grids
          WHERE version_id = ANY(:ids) AND level = :level) AS x
    """
)


class PostgisTiles:
    """Tiles of a PostGIS store's grids, by plan version ids.

    Parameters
    ----------
    store
        An open PostGIS :class:`~geogrid.store.PlanStore`.
    """

    def __init__(self, store: PlanStore) -> None:
        if store.backend != "postgis":
            raise ValueError(f"PostgisTiles needs a PostGIS store, not {store.backend}")
        self._engine = store._engine  # the store package's own engine: same pool, same DSN

    def version_ids(self, versions: Sequence[tuple[str, int]]) -> list[int]:
        """Row ids of the ``(plan, version)`` pairs (those that exist)."""
        names = [name for name, _ in versions]
        numbers = [int(version) for _, version in versions]
        with (
            translate_errors(self._engine, "find plan versions"),
            self._engine.connect() as connection,
        ):
            return list(connection.scalars(_IDS, {"names": names, "versions": numbers}))

    def generalised_ids(self, ids: Sequence[int]) -> list[int]:
        """Those of version ids ``ids`` with generalised levels (:mod:`.generalised`)."""
        with (
            translate_errors(self._engine, "find generalised grids"),
            self._engine.connect() as connection,
        ):
            return generalised_ids(connection, ids)

    def tile(
        self,
        ids: Sequence[int],
        level: int,
        z: int,
        x: int,
        y: int,
        *,
        generalised: Collection[int] = (),
        shift: bool = True,
    ) -> bytes:
        """Tile ``z/x/y`` of the grids at ``level`` of versions ``ids``; ``b""`` if none.

        At zoom ≤ 10 the versions in ``generalised`` (:meth:`generalised_ids`) are cut from
        their copy of the tile's zoom band (:func:`geogrid.tiles.band_of`), already
        simplified and projected; the others, and every version at deeper zooms, from
        their grids. At a band's own zoom (4, 6, 8, 10) or one out (3, 5, 7, 9) a grid that
        lies inside the tile is its stored pixels of that zoom shifted, only those across
        the tile's edge are cut; ``shift=False`` cuts every grid (as before migration 0012:
        for comparisons).
        """
        check_tile(z, x, y)
        band = band_of(z)
        banded = sorted(set(ids) & set(generalised)) if band is not None else []
        raw = sorted(set(ids) - set(banded))
        parts = [_RAW] if raw else []
        if banded and band is not None:
            column = _PIXELS.get(band - z) if shift else None
            geometry = _shift(column) if column else _CUT
            parts.append(_BANDED.format(geometry=geometry, band=band, level=int(level)))
        if not parts:
            return b""
        values = {
            "raw": raw,
            "banded": banded,
            "level": level,
            "z": z,
            "x": x,
            "y": y,
            "margin": BUFFER / EXTENT,
            "tolerance": simplify_tolerance(z, y),
            # the tile and its buffer in pixels of its zoom (y down), and its offset there
            "left": x * EXTENT - BUFFER,
            "top": y * EXTENT - BUFFER,
            "right": (x + 1) * EXTENT + BUFFER,
            "bottom": (y + 1) * EXTENT + BUFFER,
            "dx": -x * EXTENT,
            "dy": -y * EXTENT,
        }
        query = sa.text(_TILE.format(parts=" UNION ALL ".join(parts)))
        with (
            translate_errors(self._engine, "make a vector tile"),
            self._engine.connect() as connection,
        ):
            data = connection.scalar(query, values)
        return bytes(data or b"")

    def extent(
        self, ids: Sequence[int], level: int
    ) -> tuple[tuple[float, float, float, float] | None, int]:
        """``(west, south, east, north)`` and number of the grids at ``level`` of ``ids``."""
        with translate_errors(self._engine, "measure grids"), self._engine.connect() as connection:
            row = connection.execute(_EXTENT, {"ids": list(ids), "level": level}).one()
        if row[0] is None:
            return None, 0
        return (float(row[0]), float(row[1]), float(row[2]), float(row[3])), int(row[4])


def read_generalised(
    store: PlanStore, versions: Sequence[tuple[str, int]], level: int, band: int
) -> dict[tuple[str, int, str], BaseGeometry]:
    """Band ``band``'s copies of level ``level`` of the ``(plan, version)`` pairs.

    By ``(plan, version, code)``, in EPSG:3857; nothing for versions without them.
    """
    versions_table = schema.plan_versions
    table = schema.generalised_grids
    wanted = set(versions)
    query = (
        sa.select(versions_table.c.plan_name, versions_table.c.version, table.c.code, table.c.geom)
        .join(versions_table, versions_table.c.id == table.c.version_id)
        .where(table.c.level == level, table.c.band == band)
    )
    out: dict[tuple[str, int, str], BaseGeometry] = {}
    engine = store._engine  # the store package's own engine
    with translate_errors(engine, "read generalised grids"), engine.connect() as connection:
        for names in _chunked(sorted({name for name, _ in wanted})):
            rows = connection.execute(query.where(versions_table.c.plan_name.in_(names)))
            for name, version, code, geom in rows:
                if (name, version) in wanted:
                    out[(name, int(version), str(code))] = geom
    return out


def _chunked(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]
