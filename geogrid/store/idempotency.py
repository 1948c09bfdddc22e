"""Idempotency keys of incident reports: one key, one incident, per caller.

:meth:`geogrid.store.incidents.IncidentStore.create_incident` claims the key in the
transaction that inserts the incident; a retry finds the claim and replays its incident.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from geogrid.errors import InvalidIncidentError, StoreError
from geogrid.store import schema

__all__ = [
    "MAX_IDEMPOTENCY_KEY",
    "bind_claim",
    "check_idempotency_key",
    "claim_key",
    "disconnected",
]

MAX_IDEMPOTENCY_KEY = 255
"""Longest idempotency key accepted, in characters."""


def disconnected(exc: StoreError) -> bool:
    """Whether ``exc`` comes from a lost connection (the pool has dropped it; a retry reconnects)."""
    cause = exc.__cause__
    return isinstance(cause, sa.exc.DBAPIError) and bool(cause.connection_invalidated)


def check_idempotency_key(key: str | None) -> str | None:
    """``key`` stripped, or :class:`InvalidIncidentError` when it is blank or too long."""
    if key is None:
        return None
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidIncidentError(
            f"an Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters, e.g. a UUID"
        )
    return key.strip()


def claim_key(
    connection: sa.Connection, owner: str, key: str, digest: str, at: dt.datetime
) -> sa.Row[Any] | None:
    """Claim ``key`` for a new incident; return the earlier claim when there is one."""
    table = schema.idempotency_keys
    found = sa.select(table).where(table.c.owner == owner, table.c.key == key)
    earlier = connection.execute(found).first()
    if earlier is not None:
        return earlier
    values = {"owner": owner, "key": key, "request_hash": digest, "created_at": at}
    try:
        with connection.begin_nested():
            connection.execute(table.insert().values(values))
    except sa.exc.IntegrityError:
        # a concurrent request with the same key committed first: replay its incident
        return connection.execute(found).one()
    return None


def bind_claim(connection: sa.Connection, owner: str, key: str, incident_id: int | None) -> None:
    """Point the claim of ``key`` at the incident just inserted."""
    table = schema.idempotency_keys
    connection.execute(
        table.update()
        .where(table.c.owner == owner, table.c.key == key)
        .values(incident_id=incident_id)
    )
