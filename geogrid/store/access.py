"""API keys and the audit log in the store.

A raw key is shown once, when it is created; the store keeps only its SHA-256
(:func:`geogrid.access.hash_key`) and its first characters (to recognise it in lists).
Every read or change of incidents and personal data writes a row to ``audit_log``; the
incident repository writes its rows in the same transaction as the read or change, with
:func:`insert_audit`.

Examples
--------
>>> import tempfile
>>> from geogrid.access import Caller, Role
>>> from geogrid.store import open_store
>>> folder = tempfile.TemporaryDirectory()
>>> with open_store(f"sqlite:///{folder.name}/plans.gpkg") as store:
...     keys = store.access()
...     raw, key = keys.create_key(Role.SUPERVISOR, name="街道督办", caller=Caller.local("admin"))
...     caller = keys.authenticate(raw)
...     _ = keys.revoke_key(key.id, caller=Caller.local("admin"))
...     [entry.action for entry in keys.list_audit(caller=Caller.local("admin"))]
['key.revoke', 'key.create']
>>> caller.role.value, caller.name
('supervisor', '街道督办')
>>> folder.cleanup()
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geogrid.access import (
    GRID_REQUIRED,
    ApiKey,
    AuditEntry,
    Caller,
    Permission,
    Role,
    generate_key,
    hash_key,
    key_prefix,
    require,
)
from geogrid.errors import (
    AccessDeniedError,
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
)
from geogrid.store import schema
from geogrid.store._session import now_ms, reading, to_ms, write_transaction
from geogrid.store.jurisdictions import registered
from geogrid.store.scope import caller_subtree, is_grid_code, lineage, lineages, reach

__all__ = ["MAX_PAGE", "AccessStore", "insert_audit", "json_safe"]

MAX_PAGE = 500
"""Most rows one page of a listing may hold."""


class AccessStore:
    """API keys and the audit log of one store; get one with ``store.access()``.

    Parameters
    ----------
    engine
        A migrated engine of the store (PostGIS or GeoPackage).
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- keys --------------------------------------------------------------------------------

    def create_key(
        self,
        role: Role | str,
        *,
        name: str,
        caller: Caller,
        grid_code: str | None = None,
        at: dt.datetime | None = None,
    ) -> tuple[str, ApiKey]:
        """Create an API key; return the raw key (shown only now) and the stored key.

        Parameters
        ----------
        role
            The key's :class:`~geogrid.access.Role`.
        name
            Label of the key (the worker's or the app's name), recorded in the audit log of
            everything done with it.
        caller
            Who creates it; needs :attr:`~geogrid.access.Permission.MANAGE_KEYS` (admin).
        grid_code
            Bind the key to this grid's subtree (required for workers). Some grid stored in
            the store must have this code or start with it.
        at
            Creation time (default: now).
        """
        key_caller = Caller(name, Role.parse(role), grid_code)  # validates the name
        require(caller, Permission.MANAGE_KEYS)
        _check_bound(key_caller)
        raw = generate_key()
        values = {
            "key_hash": hash_key(raw),
            "prefix": key_prefix(raw),
            "name": key_caller.name.strip(),
            "role": key_caller.role.value,
            "grid_code": key_caller.grid_code,
            "created_by": caller.name,
            "created_at": to_ms(at) if at else now_ms(),
        }
        with write_transaction(self._engine, "create an API key") as connection:
            if key_caller.grid_code is not None:
                _check_grid(connection, key_caller.grid_code)
            if not _covers_key(connection, caller, key_caller.grid_code):
                raise AccessDeniedError(
                    f"{caller.name} covers grid {caller.grid_code} only: cannot create a key "
                    f"for {key_caller.grid_code or 'every grid'}"
                )
            table = schema.api_keys
            key_id = connection.execute(
                table.insert().values(values).returning(table.c.id)
            ).scalar_one()
            key = _key(connection, int(key_id))
            details = {"role": key.role.value, "grid_code": key.grid_code, "name": key.name}
            insert_audit(connection, caller, "key.create", "api_key", key.id, details)
        return raw, key

    def authenticate(self, raw_key: str) -> Caller:
        """The :class:`~geogrid.access.Caller` of a raw key.

        Raises :class:`~geogrid.errors.AuthenticationError` for a malformed, unknown
        or revoked key.
        """
        digest = hash_key(raw_key)
        table = schema.api_keys
        with reading(self._engine, "check an API key") as connection:
            row = connection.execute(sa.select(table).where(table.c.key_hash == digest)).first()
            if row is None:
                raise AuthenticationError(
                    "unknown API key: check it was copied whole, or ask an administrator for "
                    "one (`geogrid keys create --role ROLE`)"
                )
            key = _key_from_row(row)
            tops = frozenset() if key.grid_code is None else reach(connection, key.grid_code)
        if not key.active:
            assert key.revoked_at is not None
            raise AuthenticationError(
                f"API key {key.prefix}… was revoked on {key.revoked_at:%Y-%m-%d %H:%M} UTC: "
                "ask an administrator for a new one"
            )
        return key.caller(tops=tops)

    def revoke_key(self, key_id: int, *, caller: Caller, at: dt.datetime | None = None) -> ApiKey:
        """Revoke key ``key_id``: it authenticates nobody from now on (revoking twice is a no-op).

        A caller bound to a grid may revoke only the keys bound inside its subtree; any other
        key is "not found" to it, as if it did not exist.
        """
        require(caller, Permission.MANAGE_KEYS)
        table = schema.api_keys
        with write_transaction(self._engine, "revoke an API key") as connection:
            key = _key(connection, key_id)
            if not _covers_key(connection, caller, key.grid_code):
                raise _no_key(key_id)
            if key.active:
                values = {"revoked_by": caller.name, "revoked_at": to_ms(at) if at else now_ms()}
                connection.execute(table.update().where(table.c.id == key.id).values(values))
                key = _key(connection, key.id)
                insert_audit(connection, caller, "key.revoke", "api_key", key.id, {})
        return key

    def list_keys(self, *, caller: Caller, include_revoked: bool = True) -> list[ApiKey]:
        """Every key the caller covers (without secrets), oldest first.

        A caller bound to a grid sees the keys bound inside its subtree only.
        """
        require(caller, Permission.MANAGE_KEYS)
        table = schema.api_keys
        query = sa.select(table).order_by(table.c.id)
        if not include_revoked:
            query = query.where(table.c.revoked_at.is_(None))
        with reading(self._engine, "list API keys") as connection:
            keys = [_key_from_row(row) for row in connection.execute(query)]
            return _covered_keys(connection, caller, keys)

    # -- audit -------------------------------------------------------------------------------

    def write_audit(
        self,
        caller: Caller,
        action: str,
        *,
        object_type: str,
        object_id: str | int | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Record that ``caller`` did ``action`` (e.g. ``"locate"``) to an object."""
        if not action or not object_type:
            raise InvalidInputError("an audit row needs an action and an object type")
        with write_transaction(self._engine, "write the audit log") as connection:
            insert_audit(connection, caller, action, object_type, object_id, details or {})

    def list_audit(
        self,
        *,
        caller: Caller,
        actor: str | None = None,
        action: str | None = None,
        object_type: str | None = None,
        object_id: str | int | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[AuditEntry]:
        """Audit rows, newest first, filtered; page on with ``before_id`` = the last id seen.

        Needs :attr:`~geogrid.access.Permission.READ_AUDIT` (admin). An administrator bound
        to a grid sees only the rows written with the keys bound inside its subtree.
        """
        require(caller, Permission.READ_AUDIT)
        table = schema.audit_log
        conditions: list[sa.ColumnElement[bool]] = []
        for column, value in (
            (table.c.actor, actor),
            (table.c.action, action),
            (table.c.object_type, object_type),
            (table.c.object_id, None if object_id is None else str(object_id)),
        ):
            if value is not None:
                conditions.append(column == value)
        if since is not None:
            conditions.append(table.c.at >= since)
        if until is not None:
            conditions.append(table.c.at < until)
        if before_id is not None:
            conditions.append(table.c.id < int(before_id))
        limit = _limit(limit)
        with reading(self._engine, "read the audit log") as connection:
            if caller.grid_code is not None:
                keys = [
                    _key_from_row(row) for row in connection.execute(sa.select(schema.api_keys))
                ]
                own = [key.id for key in _covered_keys(connection, caller, keys)]
                conditions.append(table.c.key_id.in_(own))
            query = sa.select(table).where(*conditions).order_by(table.c.id.desc()).limit(limit)
            return [_entry_from_row(row) for row in connection.execute(query)]


def _check_bound(key: Caller) -> None:
    if key.role in GRID_REQUIRED and key.grid_code is None:
        raise InvalidInputError(
            f"a {key.role.value} key must be bound to a grid: pass grid_code=... "
            "(`geogrid keys create --role worker --grid CODE`)"
        )


def _covers_key(connection: sa.Connection, caller: Caller, grid_code: str | None) -> bool:
    """Whether a key bound to ``grid_code`` (``None``: everything) is inside ``caller``'s."""
    within = caller_subtree(connection, caller)
    if within is None:
        return True
    return grid_code is not None and within.contains(lineage(connection, grid_code))


def _covered_keys(connection: sa.Connection, caller: Caller, keys: list[ApiKey]) -> list[ApiKey]:
    within = caller_subtree(connection, caller)
    if within is None:
        return keys
    chains = lineages(connection, {k.grid_code for k in keys if k.grid_code is not None})
    return [k for k in keys if k.grid_code is not None and within.contains(chains[k.grid_code])]


def insert_audit(
    connection: sa.Connection,
    caller: Caller,
    action: str,
    object_type: str,
    object_id: str | int | None,
    details: Mapping[str, Any],
    at: dt.datetime | None = None,
) -> None:
    """Write one audit row on ``connection`` (inside the caller's transaction)."""
    values = {
        "at": to_ms(at) if at else now_ms(),
        "actor": caller.name,
        "role": caller.role.value,
        "key_id": caller.key_id,
        "action": action,
        "object_type": object_type,
        "object_id": None if object_id is None else str(object_id),
        "details": json_safe(dict(details)),
    }
    connection.execute(schema.audit_log.insert().values(values))


def json_safe(value: Any) -> Any:
    """``value`` with datetimes as ISO text, enums as values, sets and tuples as lists."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [json_safe(v) for v in value]
        return sorted(items) if isinstance(value, set | frozenset) else items
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if hasattr(value, "value") and isinstance(value.value, str):
        return value.value
    return value


def _limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError(f"limit must be 1 to {MAX_PAGE}, got {limit!r}")
    return limit


def _check_grid(connection: sa.Connection, grid_code: str) -> None:
    if is_grid_code(connection, grid_code) or registered(connection, grid_code) is not None:
        return
    raise NotFoundError(
        f"{grid_code!r} is neither a grid of a stored plan nor a registered jurisdiction: "
        "check the code (store.used_codes() lists grids), save the plan first, or register "
        f"it (`geogrid store jurisdiction add {grid_code} NAME [--parent CODE]`)"
    )


def _key(connection: sa.Connection, key_id: int) -> ApiKey:
    table = schema.api_keys
    row = connection.execute(sa.select(table).where(table.c.id == int(key_id))).first()
    if row is None:
        raise _no_key(key_id)
    return _key_from_row(row)


def _no_key(key_id: int) -> NotFoundError:
    return NotFoundError(f"no API key with id {key_id}: list them with store.access().list_keys()")


def _key_from_row(row: Any) -> ApiKey:
    return ApiKey(
        id=row.id,
        prefix=row.prefix,
        name=row.name,
        role=Role(row.role),
        grid_code=row.grid_code,
        created_by=row.created_by,
        created_at=row.created_at,
        revoked_by=row.revoked_by,
        revoked_at=row.revoked_at,
    )


def _entry_from_row(row: Any) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        at=row.at,
        actor=row.actor,
        role=row.role,
        key_id=row.key_id,
        action=row.action,
        object_type=row.object_type,
        object_id=row.object_id,
        details=dict(row.details or {}),
    )
