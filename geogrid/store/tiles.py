"""Vector tiles of the grids of given plan versions, made by PostGIS (``ST_AsMVT``).

One query per tile: the tile's envelope (``ST_TileEnvelope``, grown by the buffer) taken to
EPSG:4490 picks the grids through the GiST index on ``grids.geom``; each is simplified by half
a pixel in lon/lat (:func:`geogrid.tiles.simplify_tolerance`), projected to EPSG:3857 and cut
and snapped to the tile's pixels by ``ST_AsMVTGeom``. The layer, extent, buffer and attributes
are those of :mod:`geogrid.tiles`, so the tiles match the ones cut in Python for a GeoPackage
store or a fixed plan.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from geogrid.store.database import translate_errors
from geogrid.store.repository import PlanStore
from geogrid.tiles import BUFFER, EXTENT, LAYER, check_tile, simplify_tolerance

__all__ = ["PostgisTiles"]

_TILE = sa.text(
    f"""
    WITH box AS (
        SELECT ST_TileEnvelope(:z, :x, :y) AS tile,
               ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => :margin), 4490) AS lonlat
    ), cut AS (
        SELECT ST_AsMVTGeom(
                   ST_Transform(ST_Simplify(g.geom, :tolerance), 3857),
                   box.tile, {EXTENT}, {BUFFER}, true
               ) AS geom,
               g.code, g.name, g.level, g.parent_code, g.households, g.kind,
               v.jurisdiction, v.plan_name AS plan, v.version
        FROM grids g JOIN plan_versions v ON v.id = g.version_id, box
        WHERE g.version_id = ANY(:ids) AND g.level = :level AND g.geom && box.lonlat
    )
    SELECT ST_AsMVT(cut, '{LAYER}', {EXTENT}, 'geom') FROM cut WHERE geom IS NOT NULL
    """
)
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

    def tile(self, ids: Sequence[int], level: int, z: int, x: int, y: int) -> bytes:
        """Tile ``z/x/y`` of the grids at ``level`` of versions ``ids``; ``b""`` if none."""
        check_tile(z, x, y)
        values = {
            "ids": list(ids),
            "level": level,
            "z": z,
            "x": x,
            "y": y,
            "margin": BUFFER / EXTENT,
            "tolerance": simplify_tolerance(z, y),
        }
        with (
            translate_errors(self._engine, "make a vector tile"),
            self._engine.connect() as connection,
        ):
            data = connection.scalar(_TILE, values)
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
