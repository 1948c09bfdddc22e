"""Each version's levels generalised per zoom band, kept in the store for low-zoom tiles.

Table ``generalised_grids`` (migration 0010) holds, per plan version, level and zoom band of
:data:`geogrid.tiles.BANDS`, every grid's generalised geometry in EPSG:3857
(:func:`geogrid.tiles.generalise`: a coverage simplification, so neighbours still share their
edges). :meth:`~geogrid.store.PlanStore.activate` writes them in the activating transaction;
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
from geogrid.tiles import generalise, mercator_geometries

__all__ = ["backfill_generalised", "generalised_ids", "write_generalised"]

_CHUNK = 5000  # bound parameters per IN (...) query


def write_generalised(connection: sa.Connection, version_id: int, plan: GridPlan) -> int:
    """Write version ``version_id``'s generalised levels unless it has them; rows written."""
    table = schema.generalised_grids
    done = sa.select(table.c.id).where(table.c.version_id == version_id).limit(1)
    if connection.scalar(done) is not None:
        return 0
    rows = list(_rows(version_id, plan))
    if rows:
        connection.execute(table.insert(), rows)
    return len(rows)


def backfill_generalised(connection: sa.Connection) -> int:
    """Write the generalised levels of every active version lacking them; versions done."""
    versions = schema.plan_versions
    table = schema.generalised_grids
    has = sa.select(table.c.id).where(table.c.version_id == versions.c.id).exists()
    query = sa.select(versions).where(versions.c.status == "active", ~has)
    done = 0
    for row in connection.execute(query.order_by(versions.c.id)).all():
        write_generalised(connection, row.id, load_plan(connection, row))
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
