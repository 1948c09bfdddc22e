"""Many incidents with their whole history written at once: imports and simulations.

:meth:`~geogrid.store.incidents.IncidentStore.create_incident`, ``transition`` and
``refer_overdue`` write one incident change per transaction, a few milliseconds each: fine
for a service, too slow for a year of a city's incidents (~100,000 cases, ~700,000 changes).
:func:`write_histories` writes the **same rows** in one transaction: each incident as it ends
up (the final state of the same pure rules, :func:`~geogrid.incidents.open_incident`,
:func:`~geogrid.incidents.apply_transition`, :func:`~geogrid.incidents.refer_overdue`), its
events and one audit row per change, with the same row helpers and audit details as the
one-by-one calls. Incident ids are reserved from the table's own sequence; events and audit
rows are written in the order the changes happened (by time, then incident, then step), which
is the order the one-by-one calls made in that order would write them. The only difference:
audit rows are all stamped with the instant of the write (the service stamps each request's).
``tests/test_simulate.py`` compares both, row by row, on both backends.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geogrid.access import Caller
from geogrid.incidents import Event, Incident, reference_number
from geogrid.store import schema
from geogrid.store._session import now_ms, write_transaction
from geogrid.store.access import json_safe
from geogrid.store.incident_rows import create_details, event_rows, incident_values

__all__ = ["CREATE", "History", "Write", "write_histories"]

CREATE = "incident.create"
"""Audit action of an incident's creation (its first :class:`Write`)."""

_CHUNK = 20_000


@dataclasses.dataclass(frozen=True)
class Write:
    """One change the service makes to an incident: its creation, a move or a referral.

    Attributes
    ----------
    at
        When (the time of its events).
    caller
        Who made it (audited as the actor).
    action
        The audit action: :data:`CREATE`, ``"incident.transition"`` or ``"incident.refer"``.
    events
        The history events it adds.
    details
        The audit details; ``None`` for a creation (its reference is known only once stored).
    """

    at: dt.datetime
    caller: Caller
    action: str
    events: tuple[Event, ...]
    details: Mapping[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class History:
    """An incident as it ends up (``id`` not yet given) and the changes that made it, in order."""

    incident: Incident
    writes: tuple[Write, ...]


def write_histories(
    engine: Engine,
    histories: Sequence[History],
    *,
    progress: Callable[[int], None] | None = None,
) -> list[int]:
    """Store ``histories`` in one transaction (all or nothing); their incident ids, in order.

    Incidents get ids in the order given (give them in report order, as a service would
    receive them). ``progress`` is called with the number of rows written after each chunk.
    """
    if not histories:
        return []
    with write_transaction(engine, "store incidents in bulk") as connection:
        ids = _reserve_ids(connection, len(histories))
        stored = [
            dataclasses.replace(
                h.incident, id=i, reference=reference_number(i, h.incident.created_at)
            )
            for h, i in zip(histories, ids, strict=True)
        ]
        rows = (incident_values(s) | {"id": s.id, "reference": s.reference} for s in stored)
        _insert(connection, schema.incidents, rows, progress)
        # the changes in the order they happened; rows made chunk by chunk, never all at once
        order = sorted(
            (w.at, n, k) for n, h in enumerate(histories) for k, w in enumerate(h.writes)
        )
        changes = [(histories[n].writes[k], stored[n]) for _, n, k in order]
        del order
        events = (row for write, i in changes for row in event_rows(i.id, list(write.events)))
        _insert(connection, schema.incident_events, events, progress)
        stamp = now_ms()
        audits = (_audit_row(write, i, stamp) for write, i in changes)
        _insert(connection, schema.audit_log, audits, progress)
    return ids


def _audit_row(write: Write, incident: Incident, stamp: dt.datetime) -> dict[str, Any]:
    """The audit row of ``write`` on stored ``incident``, stamped ``stamp``."""
    details = create_details(incident) if write.details is None else write.details
    return {
        "at": stamp,
        "actor": write.caller.name,
        "role": write.caller.role.value,
        "key_id": write.caller.key_id,
        "action": write.action,
        "object_type": "incident",
        "object_id": str(incident.id),
        "details": json_safe(dict(details)),
    }


def _reserve_ids(connection: sa.Connection, count: int) -> list[int]:
    """``count`` new incident ids from the table's own sequence (under the write lock)."""
    if connection.dialect.name == "postgresql":
        query = sa.text(
            "SELECT nextval(pg_get_serial_sequence('incidents', 'id')) FROM generate_series(1, :n)"
        )
        return sorted(int(v) for v in connection.execute(query, {"n": count}).scalars())
    # SQLite (AUTOINCREMENT): above every id ever given; explicit ids advance the sequence
    used = connection.execute(
        sa.text(
            "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'incidents'), 0),"
            " coalesce((SELECT max(id) FROM incidents), 0))"
        )
    ).scalar_one()
    return list(range(int(used) + 1, int(used) + 1 + count))


def _insert(
    connection: sa.Connection,
    table: sa.Table,
    rows: Iterable[dict[str, Any]],
    progress: Callable[[int], None] | None,
) -> None:
    """Insert ``rows`` with the values SQLAlchemy would bind, by the driver's fastest path.

    Each value goes through its column type's own bind processor (UTC milliseconds, JSON), as
    in ``connection.execute(table.insert(), rows)``; PostgreSQL then takes them by ``COPY``,
    SQLite by the driver's ``executemany``, in the same transaction, a chunk at a time.
    """
    dialect = connection.dialect
    quote = dialect.identifier_preparer.quote
    driver = connection.connection.driver_connection
    assert driver is not None
    rows = iter(rows)
    while part := list(itertools.islice(rows, _CHUNK)):
        columns = list(part[0])
        names = ", ".join(quote(c) for c in columns)
        processors = [
            table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns
        ]
        values = [
            tuple(v if p is None else p(v) for p, v in zip(processors, row.values(), strict=True))
            for row in part
        ]
        if dialect.name == "postgresql":
            statement = f"COPY {quote(table.name)} ({names}) FROM STDIN"
            with driver.cursor() as cursor, cursor.copy(statement) as copy:
                for row_values in values:
                    copy.write_row(row_values)
        else:
            marks = ", ".join("?" * len(columns))
            cursor = driver.cursor()
            cursor.executemany(
                f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})", values
            )
            cursor.close()
        if progress is not None:
            progress(len(part))
