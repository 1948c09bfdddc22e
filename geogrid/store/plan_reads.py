"""Reading plans from the store's tables: one version, or every version in force at once.

:func:`load_plan` reads one version (three queries: grids, staff, units). A county's service
starting up needs every jurisdiction's plan in force — a thousand at province size, three
thousand queries that way — so :func:`load_plans` reads them all with **one query per
table**, streaming the grids version by version so that a caller can index each plan while
the next is read. :func:`in_force_digest` answers "did anything in force change?" with one
aggregate row, cheap enough to ask every second.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa

from geogrid.errors import InvalidInputError
from geogrid.plan import GRID_COLUMNS, PLAN_CRS, STAFF_COLUMNS, UNIT_COLUMNS, GridPlan
from geogrid.store import schema
from geogrid.store.gpkg import gpkg_wkb
from geogrid.store.versions import VersionStatus

__all__ = [
    "in_force_digest",
    "in_force_filter",
    "in_force_rows",
    "load_plan",
    "load_plans",
    "read_table",
    "sort_plan",
    "staff_in_force",
]

_GRID_ORDER = ["level", "code"]
_STAFF_ORDER = ["grid_code", "role", "name"]
_UNIT_ORDER = ["unit_id"]
_STREAM_ROWS = 5000  # grid rows fetched at a time while streaming every plan in force


def sort_plan(plan: GridPlan) -> GridPlan:
    """A copy of ``plan`` in the store's row order, with a fresh ``RangeIndex``.

    Grids are sorted by (level, code), staff by (grid_code, role, name) and units by unit_id,
    comparing text by code point; :meth:`PlanStore.get` returns plans in this order.
    """
    out = copy.copy(plan)  # shallow: no second normalisation of the tables
    out.levels = list(plan.levels)
    out.grids = sorted_frame(plan.grids, _GRID_ORDER)
    out.staff = sorted_frame(plan.staff, _STAFF_ORDER)
    out.units = sorted_frame(plan.units, _UNIT_ORDER)
    return out


def sorted_frame(frame: pd.DataFrame, order: list[str]) -> Any:
    """``frame`` sorted by ``order`` (stable, missing last), with a fresh index."""
    if len(frame) == 0:
        return frame.reset_index(drop=True)
    return frame.sort_values(order, kind="stable", na_position="last").reset_index(drop=True)


def now() -> dt.datetime:
    """The current instant, in UTC."""
    return dt.datetime.now(dt.UTC)


def instant(value: dt.datetime) -> dt.datetime:
    """``value`` as an aware instant (naive means UTC)."""
    if not isinstance(value, dt.datetime):
        raise InvalidInputError(f"valid_from must be a date and time, not {value!r}")
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def in_force_filter(at: dt.datetime | None) -> sa.ColumnElement[bool]:
    """``plan_versions`` rows in force at ``at`` (now by default)."""
    table = schema.plan_versions
    at = now() if at is None else instant(at)
    return sa.and_(
        table.c.status.in_((VersionStatus.ACTIVE.value, VersionStatus.RETIRED.value)),
        table.c.valid_from <= at,
        sa.or_(table.c.valid_to.is_(None), table.c.valid_to > at),
    )


def in_force_digest(connection: sa.Connection, at: dt.datetime | None = None) -> tuple[int, ...]:
    """A digest of the versions in force and their staff revisions, in one aggregate row.

    It changes when a version comes into or goes out of force (ids are never reused) or a
    version's staff revision rises; comparing it costs one row instead of reading every
    version in force (a thousand rows at province size) every few seconds.
    """
    table = schema.plan_versions
    ident = sa.cast(table.c.id, sa.BigInteger)
    staff = sa.cast(sa.func.coalesce(table.c.staff_revision, 0), sa.BigInteger)
    query = sa.select(
        sa.func.count(),
        sa.func.coalesce(sa.func.sum(ident), 0),
        sa.func.coalesce(sa.func.sum(ident * ident), 0),
        sa.func.coalesce(sa.func.sum(staff), 0),
        sa.func.coalesce(sa.func.sum(staff * (ident + 1)), 0),
    ).where(in_force_filter(at))
    return tuple(int(v) for v in connection.execute(query).one())


def staff_in_force(at: dt.datetime | None) -> sa.ColumnElement[bool]:
    """Staff rows in force at ``at`` (now by default): started, and not yet ended."""
    staff = schema.staff
    at = now() if at is None else instant(at)
    return sa.and_(
        sa.or_(staff.c.valid_from.is_(None), staff.c.valid_from <= at),
        sa.or_(staff.c.valid_to.is_(None), staff.c.valid_to > at),
    )


def load_plan(
    connection: sa.Connection, row: sa.Row[Any], at: dt.datetime | None = None
) -> GridPlan:
    """The plan of ``plan_versions`` row ``row``, staff in force at ``at`` (default now)."""
    grids = read_table(connection, schema.grids, row.id, list(GRID_COLUMNS), geometry=True)
    staff_query = staff_in_force(at)
    staff = read_table(connection, schema.staff, row.id, list(STAFF_COLUMNS), where=staff_query)
    units = read_table(connection, schema.units, row.id, list(UNIT_COLUMNS), geometry=True)
    return _plan(row, grids, staff, units)


def in_force_rows(
    connection: sa.Connection, at: dt.datetime | None, jurisdiction: str | None = None
) -> list[sa.Row[Any]]:
    """The ``plan_versions`` rows in force at ``at`` (now), by jurisdiction code."""
    table = schema.plan_versions
    query = sa.select(table).where(in_force_filter(at))
    if jurisdiction is not None:
        query = query.where(table.c.jurisdiction == jurisdiction)
    return list(connection.execute(query.order_by(table.c.jurisdiction)).all())


def load_plans(
    connection: sa.Connection, at: dt.datetime | None = None
) -> Iterator[tuple[sa.Row[Any], GridPlan]]:
    """Every version in force at ``at`` (now) and its plan, with one query per table.

    Plans are as :func:`load_plan` reads them. Staff and units are read whole; grids are
    streamed in version order and each plan is yielded as soon as its grids are in (so that
    the caller can index it while the rest is read).
    """
    at = now() if at is None else instant(at)
    by_id = {row.id: row for row in in_force_rows(connection, at)}
    if not by_id:
        return
    ids = sorted(by_id)  # those of the first query: a version retired by a back-dated
    # activation meanwhile keeps its grids here instead of coming back empty
    staff = _read_many(connection, schema.staff, ids, list(STAFF_COLUMNS), staff_in_force(at))
    units = _read_many(connection, schema.units, ids, list(UNIT_COLUMNS), geometry=True)
    columns = list(GRID_COLUMNS)
    table = schema.grids
    query = (
        sa.select(
            table.c.version_id, *[table.c[c] for c in columns], raw_geometry(connection, table)
        )
        .where(table.c.version_id.in_(ids))
        .order_by(table.c.version_id, table.c.id)
    )
    stream = connection.execution_options(stream_results=True, yield_per=_STREAM_ROWS)
    for version_id, group in itertools.groupby(stream.execute(query), key=lambda r: r[0]):
        row = by_id.pop(version_id, None)
        if row is not None:
            grids = _frame([tuple(r)[1:] for r in group], columns, geometry=connection)
            yield row, _plan(row, grids, *_parts(connection, staff, units, version_id))
    for version_id, row in sorted(by_id.items()):  # a version without grids
        grids = _frame([], columns, geometry=connection)
        yield row, _plan(row, grids, *_parts(connection, staff, units, version_id))


def read_table(
    connection: sa.Connection,
    table: sa.Table,
    version_id: int,
    columns: list[str],
    *,
    geometry: bool = False,
    where: sa.ColumnElement[bool] | None = None,
) -> pd.DataFrame:
    """The rows of one version in ``table``, in insertion order (object columns).

    Geometries are fetched as raw bytes and decoded all at once (:func:`decode_geometries`).
    """
    selected: list[sa.ColumnElement[Any]] = [table.c[c] for c in columns]
    if geometry:
        selected.append(raw_geometry(connection, table))
    query = sa.select(*selected).where(table.c.version_id == version_id)
    if where is not None:
        query = query.where(where)
    rows = connection.execute(query.order_by(table.c.id)).all()
    return _frame(rows, columns, geometry=connection if geometry else None)


def raw_geometry(connection: sa.Connection, table: sa.Table) -> sa.ColumnElement[Any]:
    """``table.geom`` as the bytes the database keeps, with no per-row conversion.

    PostGIS: ISO WKB (``ST_AsBinary``); SQLite: the GeoPackage blob. Decoding them one row
    at a time through the column type took seconds for 60,000 units; :func:`decode_geometries`
    decodes them all in one vectorised call.
    """
    if connection.dialect.name == "postgresql":
        return sa.func.ST_AsBinary(table.c.geom, type_=sa.LargeBinary)
    return sa.type_coerce(table.c.geom, sa.LargeBinary)


def decode_geometries(connection: sa.Connection, values: list[Any]) -> np.ndarray:
    """Geometries (no SRID, ``None`` kept) of bytes selected by :func:`raw_geometry`."""
    if connection.dialect.name == "postgresql":
        wkb: list[Any] = [None if v is None else bytes(v) for v in values]
    else:
        wkb = gpkg_wkb(values)
    return shapely.from_wkb(np.array(wkb, dtype=object))


def _frame(
    rows: Sequence[Sequence[Any]], columns: list[str], *, geometry: sa.Connection | None
) -> pd.DataFrame:
    """Rows as a frame of object columns; with ``geometry``, raw geometry bytes come last."""
    width = len(columns)
    if not rows:
        values: list[list[Any]] = [[] for _ in range(width + 1)]
    else:
        values = [list(column) for column in zip(*rows, strict=True)]
    frame = pd.DataFrame(
        {c: pd.Series(values[i], dtype=object) for i, c in enumerate(columns)},
        columns=columns,
    )
    if geometry is None:
        return frame
    geoms = decode_geometries(geometry, values[width])
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=PLAN_CRS), crs=PLAN_CRS)


def _read_many(
    connection: sa.Connection,
    table: sa.Table,
    ids: list[int],
    columns: list[str],
    where: sa.ColumnElement[bool] | None = None,
    *,
    geometry: bool = False,
) -> dict[int, list[tuple[Any, ...]]]:
    """Rows of every version of ``ids``, in one query, by version (insertion order).

    With ``geometry``, the last item of each row is the raw geometry (:func:`raw_geometry`).
    """
    selected: list[sa.ColumnElement[Any]] = [table.c[c] for c in columns]
    if geometry:
        selected.append(raw_geometry(connection, table))
    query = sa.select(table.c.version_id, *selected).where(table.c.version_id.in_(ids))
    if where is not None:
        query = query.where(where)
    out: dict[int, list[tuple[Any, ...]]] = {}
    for row in connection.execute(query.order_by(table.c.version_id, table.c.id)):
        out.setdefault(row[0], []).append(tuple(row)[1:])
    return out


def _parts(
    connection: sa.Connection,
    staff: dict[int, list[tuple[Any, ...]]],
    units: dict[int, list[tuple[Any, ...]]],
    version_id: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (
        _frame(staff.get(version_id, []), list(STAFF_COLUMNS), geometry=None),
        _frame(units.get(version_id, []), list(UNIT_COLUMNS), geometry=connection),
    )


def _plan(
    row: sa.Row[Any], grids: pd.DataFrame, staff: pd.DataFrame, units: pd.DataFrame
) -> GridPlan:
    plan = GridPlan(
        name=row.plan_name,
        levels=list(row.levels),
        grids=grids,
        staff=staff,
        units=units if len(units) else None,
        attribution=row.attribution,
        version=row.version,
    )
    return sort_plan(plan)
