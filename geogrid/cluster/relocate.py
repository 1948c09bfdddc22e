"""A store's incident history re-located against the plans in force now, on a cluster.

After a redraw, ``GET /stats?grouped=current`` re-locates every incident on each request.
:func:`relocate_incidents` does it once, in bulk: it reads the incidents in batches of ids,
locates each batch on a worker (the plans shipped once per worker, indexed once per worker:
:mod:`geogrid.cluster.locate`) with the rule ``grouped=current`` uses — the grids covering
the point, ``index.locate(lon, lat, nearest=False).lineages()`` — and writes back the
lineage columns (``level1_code`` … ``level6_code``, ``grid_code``, ``plan_name``,
``plan_version``) of the incidents whose grids changed, one transaction per batch. The
statistics grouped as reported (``grouped=reported``, grouped by PostgreSQL) then equal
those grouped by today's grids. The staff recorded at report time are left as they were.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

from geogrid.cluster.history import TimedLocator
from geogrid.cluster.locate import _PlansPlugin, _worker_index, plans_in_force
from geogrid.store import schema
from geogrid.store._session import reading, write_transaction

if TYPE_CHECKING:
    from distributed import Client

    from geogrid.store import PlanStore

__all__ = ["RelocateSummary", "relocate_incidents"]

Progress = Callable[[int, int, str], None]
_LINEAGE = (*schema.LEVEL_COLUMNS, "grid_code", "plan_name", "plan_version")
_AHEAD = 4  # batches in flight per worker


@dataclasses.dataclass(frozen=True)
class RelocateSummary:
    """Incidents read, those whose grids changed (rewritten), those now outside every grid."""

    incidents: int
    changed: int
    outside: int
    batches: int
    seconds: float


def relocate_incidents(
    store: PlanStore,
    client: Client,
    *,
    batch: int = 100_000,
    on_progress: Progress | None = None,
) -> RelocateSummary:
    """Re-locate every incident of ``store`` against its plans in force, in bulk.

    Parameters
    ----------
    store
        The store (its plans in force now, its incidents).
    client
        A ``distributed.Client`` (:func:`geogrid.cluster.client_for`).
    batch
        Incidents per task and per write transaction.
    on_progress
        Called as ``on_progress(done, total, message)`` as batches are written.

    Returns
    -------
    RelocateSummary
    """
    started = time.perf_counter()
    plans = dict(sorted(plans_in_force(store).items()))
    answering = [(p.name, p.version) for p in plans.values()]
    engine = store._engine  # the store's own engine: bulk reads and writes of one table
    table = schema.incidents
    with reading(engine, "count incidents") as connection:
        total = int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
    report = on_progress or (lambda done, total, message: None)
    report(0, total, f"重新定位：{total:,} 件事件")
    plugin = _PlansPlugin.of(plans)
    digest = plugin.digest
    client.register_plugin(plugin)
    from distributed import as_completed

    ahead = max(1, len(client.scheduler_info()["workers"])) * _AHEAD
    pending = as_completed()
    rows_of: dict[Any, Any] = {}
    counts = {"incidents": 0, "changed": 0, "outside": 0, "batches": 0}
    last: int | None = 0
    try:
        while True:
            while len(rows_of) < ahead and last is not None:
                rows = _read(engine, last, batch)
                if not rows:
                    last = None
                    break
                last = rows[-1].id
                lon = np.array([r.lon for r in rows], dtype=float)
                lat = np.array([r.lat for r in rows], dtype=float)
                future = client.submit(_lineages, lon, lat, digest, pure=False)
                rows_of[future] = rows
                pending.add(future)
            if not rows_of:
                break
            future = next(pending)
            rows = rows_of.pop(future)
            lineages, parts = future.result()
            future.release()
            changed = _changes(rows, lineages, parts, answering)
            if changed:
                with write_transaction(engine, "relocate incidents") as connection:
                    _write(connection, changed)
            counts["incidents"] += len(rows)
            counts["changed"] += len(changed)
            counts["outside"] += sum(1 for lineage in lineages if not lineage)
            counts["batches"] += 1
            report(counts["incidents"], total, f"重新定位：{counts['changed']:,} 件改变")
    finally:
        client.unregister_worker_plugin(plugin.name)
    return RelocateSummary(**counts, seconds=time.perf_counter() - started)


def _read(engine: sa.Engine, after: int, batch: int) -> list[Any]:
    table = schema.incidents
    columns = [table.c.id, table.c.lon, table.c.lat, *(table.c[name] for name in _LINEAGE)]
    query = sa.select(*columns).where(table.c.id > after).order_by(table.c.id).limit(batch)
    with reading(engine, "read incidents") as connection:
        return list(connection.execute(query).all())


def _lineages(
    lon: np.ndarray, lat: np.ndarray, digest: str
) -> tuple[list[tuple[str, ...]], np.ndarray | None]:
    """On a worker: each point's grid codes from the top down, and the plan that answered."""
    built = _worker_index(digest)
    assert not isinstance(built, TimedLocator)  # relocation sends today's plans
    index, _ = built
    result = index.locate(lon, lat, nearest=False)
    return result.lineages(), result.part


def _changes(
    rows: list[Any],
    lineages: list[tuple[str, ...]],
    parts: np.ndarray | None,
    answering: list[tuple[str, int | None]],
) -> list[dict[str, Any]]:
    """The new lineage values of the rows whose values differ from the stored ones."""
    if not rows:
        return []
    depth = len(schema.LEVEL_COLUMNS)
    new = np.empty((len(rows), len(_LINEAGE)), dtype=object)
    new[:, :depth] = [(*lineage, *(None,) * (depth - len(lineage))) for lineage in lineages]
    new[:, depth] = [lineage[-1] if lineage else None for lineage in lineages]
    found = np.array([bool(lineage) for lineage in lineages])
    plan = np.zeros(len(rows), dtype=np.int64) if parts is None else np.asarray(parts)
    names = np.array([name for name, _ in answering] + [None], dtype=object)
    versions = np.array([version for _, version in answering] + [None], dtype=object)
    new[:, depth + 1] = names[np.where(found, plan, -1)]  # -1: no plan answers, None
    new[:, depth + 2] = versions[np.where(found, plan, -1)]
    old = np.array([tuple(row[3:]) for row in rows], dtype=object).reshape(new.shape)
    changed = np.flatnonzero((new != old).any(axis=1))
    return [
        {"key": rows[i].id, **dict(zip(_LINEAGE, new[i].tolist(), strict=True))} for i in changed
    ]


def _write(connection: sa.Connection, changed: list[dict[str, Any]]) -> None:
    """The new values of ``changed``: PostgreSQL by ``COPY`` and one ``UPDATE … FROM``."""
    table = schema.incidents
    if connection.dialect.name == "postgresql":
        quote = connection.dialect.identifier_preparer.quote
        names = ", ".join(quote(n) for n in _LINEAGE)
        types = ", ".join(
            f"{quote(n)} {'integer' if n == 'plan_version' else 'text'}" for n in _LINEAGE
        )
        connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE relocated (id bigint, {types}) ON COMMIT DROP"
        )
        driver = connection.connection.driver_connection
        assert driver is not None
        copy_sql = f"COPY relocated (id, {names}) FROM STDIN"
        with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in changed:
                copy.write_row((row["key"], *(row[n] for n in _LINEAGE)))
        assignments = ", ".join(f"{quote(n)} = r.{quote(n)}" for n in _LINEAGE)
        connection.exec_driver_sql(
            f"UPDATE {quote(table.name)} AS i SET {assignments} FROM relocated AS r WHERE i.id = r.id"
        )
        return
    statement = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("key"))
        .values({name: sa.bindparam(name) for name in _LINEAGE})
    )
    connection.execute(statement, changed)
