"""Each version's levels generalised per zoom band, kept in the store for low-zoom tiles.

Table ``generalised_grids`` (migration 0010) holds, per plan version, level and zoom band of
:data:`geogrid.tiles.BANDS`, every grid's generalised geometry in EPSG:3857
(:func:`geogrid.tiles.generalise`: a coverage simplification, so neighbours still share their
edges), with the attributes a tile carries (name, parent, households, kind: copied from the
grid, so a tile reads nothing else of it) and, on PostGIS, the copy in the band's tile
pixels (``pixels``, :func:`pixels_sql`; migration 0012) and in those of one zoom out
(``pixels_out``, 0014), so that a tile at the band's zoom or the one below it only shifts
the grids inside it. :meth:`~geogrid.store.PlanStore.activate` writes them
in the activating transaction;
migration 0010 writes them for the versions active when it runs. A version without them (one
retired before the migration, asked for with ``at=``) is cut from its grids as before.
PostGIS tiles read them in their query, Python tiles of the GeoPackage store through
:func:`geogrid.store.tiles.read_generalised`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import shapely
import sqlalchemy as sa
from shapely.geometry import MultiPolygon

from geogrid.plan import GridPlan
from geogrid.store import schema
from geogrid.store.plan_reads import load_plan
from geogrid.tiles import EXTENT, generalise, mercator_geometries

__all__ = [
    "backfill_generalised",
    "complete_rows",
    "generalised_ids",
    "pixels_sql",
    "write_generalised",
]

_CHUNK = 5000  # bound parameters per IN (...) query
_ATTRIBUTES = ("name", "parent_code", "households", "kind")


def pixels_sql(alias: str, out: int = 0) -> str:
    """SQL of the ``pixels`` of row ``alias`` of ``generalised_grids``, from its ``geom``.

    ``ST_AsMVTGeom`` of the whole world at zoom ``band - out`` (extent ``4096 << zoom``),
    not clipped: what it makes of the grid for any tile of that zoom (affine to the tile's
    pixels, snapped to whole pixels, validated and oriented by Wagyu, dropped under half a
    pixel), less the tile's offset, which is a whole number of pixels. No SRID. ``out=0``:
    column ``pixels`` (migration 0012); ``out=1``: ``pixels_out``, one zoom out (0014).
    """
    zoom = f"{alias}.band" if out == 0 else f"({alias}.band - {int(out)})"
    return (
        f"ST_SetSRID(ST_Multi(ST_AsMVTGeom({alias}.geom, ST_TileEnvelope(0, 0, 0), "
        f"{EXTENT} << {zoom}, 0, false)), 0)"
    )


def complete_rows(connection: sa.Connection, version_id: int | None = None) -> None:
    """Fill the columns of migrations 0012 and 0014 for version ``version_id`` (``None``: all).

    The attributes from the grid's row in ``grids``; on PostGIS the pixels at the band's
    zoom and one zoom out (:func:`pixels_sql`), in the same ``UPDATE`` (each row rewritten
    once).
    """
    where = "" if version_id is None else " AND s.version_id = :version_id"
    values = {"version_id": version_id}
    if connection.dialect.name == "postgresql":
        copy = ", ".join(f"{c} = g.{c}" for c in _ATTRIBUTES)
        connection.execute(
            sa.text(
                f"UPDATE generalised_grids s SET {copy}, pixels = {pixels_sql('s')}, "
                f"pixels_out = {pixels_sql('s', 1)} FROM grids g "
                f"WHERE g.version_id = s.version_id AND g.code = s.code{where}"
            ),
            values,
        )
        return
    copy = ", ".join(
        f"{c} = (SELECT g.{c} FROM grids g WHERE g.version_id = s.version_id AND g.code = s.code)"
        for c in _ATTRIBUTES
    )
    connection.execute(
        sa.text(f"UPDATE generalised_grids AS s SET {copy} WHERE true{where}"), values
    )


def write_generalised(
    connection: sa.Connection,
    version_id: int,
    plan: GridPlan,
    *,
    complete: bool = True,
) -> int:
    """Write version ``version_id``'s generalised levels unless it has them; rows written.

    ``complete``: with the columns of migrations 0012 and 0014 (:func:`complete_rows`);
    ``False`` for migration 0010's backfill, which runs before they exist.
    """
    table = schema.generalised_grids
    done = sa.select(table.c.id).where(table.c.version_id == version_id).limit(1)
    if connection.scalar(done) is not None:
        return 0
    rows = list(_rows(version_id, plan))
    if rows:
        connection.execute(table.insert(), rows)
        if complete:
            complete_rows(connection, version_id)
    return len(rows)


def backfill_generalised(connection: sa.Connection, *, complete: bool = True) -> int:
    """Write the generalised levels of every active version lacking them; versions done.

    ``complete``: as for :func:`write_generalised`.
    """
    versions = schema.plan_versions
    table = schema.generalised_grids
    has = sa.select(table.c.id).where(table.c.version_id == versions.c.id).exists()
    query = sa.select(versions).where(versions.c.status == "active", ~has)
    done = 0
    for row in connection.execute(query.order_by(versions.c.id)).all():
        write_generalised(connection, row.id, load_plan(connection, row), complete=complete)
        done += 1
    return done


def generalised_ids(connection: sa.Connection, ids: Sequence[int]) -> list[int]:
    """Those of version ids ``ids`` that have their generalised levels."""
    versions = schema.plan_versions
    table = schema.generalised_grids
    has = sa.select(table.c.id).where(table.c.version_id == versions.c.id).exists()
    out: list[int] = []
    for start in range(0, len(ids), _CHUNK):
        chunk = [int(i) for i in ids[start : start + _CHUNK]]
        query = sa.select(versions.c.id).where(versions.c.id.in_(chunk), has)
        out.extend(connection.scalars(query))
    return sorted(out)


def _rows(version_id: int, plan: GridPlan) -> Iterable[dict[str, object]]:
    for level in range(1, plan.depth + 1):
        grids = plan.level(level)
        lonlat = np.asarray(grids.geometry.array, dtype=object)
        codes = grids["code"].astype(str).tolist()
        for band, geoms in generalise(mercator_geometries(lonlat)).items():
            for code, geom in zip(codes, geoms, strict=True):
                yield {
                    "version_id": version_id,
                    "level": level,
                    "band": band,
                    "code": code,
                    "geom": _multi(geom),
                }


def _multi(geom: shapely.Geometry) -> MultiPolygon:
    """``geom`` as a MultiPolygon (its polygons; the column's type)."""
    if isinstance(geom, MultiPolygon):
        return geom
    return MultiPolygon(
        [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon" and not g.is_empty]
    )
