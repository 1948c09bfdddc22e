"""Many grids' staff changed at once: the batched reads and writes of a roster import.

:meth:`geogrid.store.staff.StaffStore.replace_many` makes the checks of
:meth:`~geogrid.store.staff.StaffStore.replace` for every grid, then writes every change in
the same transaction; this module holds its SQL, a chunk of codes per statement, so a
county's roster (2,496 grids, 5,722 people) costs a few dozen statements, not a dozen per
grid. Staff members travel as plain ``{"role", "name", "phone"}`` dicts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from geogrid.access import Caller
from geogrid.store import schema
from geogrid.store.access import json_safe
from geogrid.store.people import link_people, staff_in_force

__all__ = [
    "GridChange",
    "holding_versions",
    "latest_changes",
    "members_at",
    "write_changes",
]

_CHUNK = 500  # codes per IN (...)

GridChange = tuple[int, str, list[dict[str, Any]], list[dict[str, Any]], int]
"""(version id, grid code, staff before, staff after — with ``id_number`` —, revision)."""


def holding_versions(
    connection: sa.Connection, codes: Sequence[str], in_force: sa.ColumnElement[bool]
) -> dict[str, sa.Row[Any]]:
    """Code → the version row in force holding it (the latest start first); rows locked."""
    versions, grids = schema.plan_versions, schema.grids
    found: dict[str, sa.Row[Any]] = {}
    for chunk in _chunks(codes):
        query = (
            sa.select(versions, grids.c.code.label("grid_code"))
            .join(grids, grids.c.version_id == versions.c.id)
            .where(grids.c.code.in_(chunk), in_force)
            .order_by(versions.c.valid_from)
        )
        for row in connection.execute(query):
            found[row.grid_code] = row  # the latest start wins
    ids = sorted({row.id for row in found.values()})
    if ids:  # lock them as replace() does (FOR UPDATE on PostgreSQL)
        connection.execute(
            sa.select(versions.c.id).where(versions.c.id.in_(ids)).with_for_update()
        ).all()
    return found


def latest_changes(
    connection: sa.Connection, held: Mapping[str, sa.Row[Any]]
) -> dict[str, dt.datetime]:
    """Code → the latest instant its staff change in its version (rows' starts and ends)."""
    staff = schema.staff
    found: dict[str, dt.datetime] = {}
    for version_id, codes in _by_version(held).items():
        for chunk in _chunks(codes):
            query = (
                sa.select(
                    staff.c.grid_code,
                    sa.func.max(staff.c.valid_from),
                    sa.func.max(staff.c.valid_to),
                )
                .where(staff.c.version_id == version_id, staff.c.grid_code.in_(chunk))
                .group_by(staff.c.grid_code)
            )
            for code, start, end in connection.execute(query):
                instants = [i for i in (start, end) if i is not None]
                if instants:
                    found[code] = max(instants)
    return found


def members_at(
    connection: sa.Connection, held: Mapping[str, sa.Row[Any]], at: dt.datetime
) -> dict[str, list[dict[str, Any]]]:
    """Code → its staff in force at ``at`` in its version, in row order."""
    staff = schema.staff
    found: dict[str, list[dict[str, Any]]] = {code: [] for code in held}
    for version_id, codes in _by_version(held).items():
        for chunk in _chunks(codes):
            query = (
                sa.select(staff.c.grid_code, staff.c.role, staff.c.name, staff.c.phone)
                .where(staff.c.version_id == version_id, staff.c.grid_code.in_(chunk))
                .where(staff_in_force(at))
                .order_by(staff.c.id)
            )
            for code, role, name, phone in connection.execute(query):
                found[code].append({"role": role, "name": name, "phone": phone})
    return found


def write_changes(
    connection: sa.Connection,
    changes: Sequence[GridChange],
    instants: tuple[dt.datetime, dt.datetime],
    caller: Caller,
    plans: Mapping[int, tuple[str, int]],
) -> None:
    """End the rows in force, insert the new ones, keep history and audit rows, raise revisions.

    ``instants`` is (effective, now); ``plans`` maps a version id to (plan name, version).
    """
    staff, versions, history = schema.staff, schema.plan_versions, schema.staff_changes
    when, now = instants
    for version_id, codes in _codes_by_version(changes).items():
        for chunk in _chunks(codes):
            ending = staff.update().where(
                staff.c.version_id == version_id, staff.c.grid_code.in_(chunk)
            )
            connection.execute(ending.where(staff_in_force(when)).values(valid_to=when))
    rows = [
        {"version_id": vid, "grid_code": code, "valid_from": when, "valid_to": None} | dict(m)
        for vid, code, _, after, _ in changes
        for m in after
    ]
    link_people(connection, rows, now)  # takes the id_number keys out of the rows
    if rows:
        connection.execute(staff.insert(), rows)
    public = [[_public(m) for m in after] for _, _, _, after, _ in changes]
    connection.execute(
        history.insert(),
        [
            {"version_id": vid, "grid_code": code, "revision": revision, "before": before,
             "after": shown, "changed_by": caller.name, "role": caller.role.value,
             "changed_at": now}
            for (vid, code, before, _, revision), shown in zip(changes, public, strict=True)
        ],
    )  # fmt: skip
    _audit(connection, changes, public, instants, caller, plans)
    for version_id, revision in _last_revisions(changes).items():
        connection.execute(
            versions.update().where(versions.c.id == version_id).values(staff_revision=revision)
        )


def _audit(
    connection: sa.Connection,
    changes: Sequence[GridChange],
    public: list[list[dict[str, Any]]],
    instants: tuple[dt.datetime, dt.datetime],
    caller: Caller,
    plans: Mapping[int, tuple[str, int]],
) -> None:
    """One ``staff.replace`` audit row per grid, as :meth:`StaffStore.replace` writes it."""
    when, now = instants
    rows = []
    for (vid, code, before, _, revision), after in zip(changes, public, strict=True):
        plan, version = plans[vid]
        details = {"plan": plan, "version": version, "before": before, "after": after,
                   "revision": revision, "effective": when}  # fmt: skip
        rows.append(
            {"at": now, "actor": caller.name, "role": caller.role.value, "key_id": caller.key_id,
             "action": "staff.replace", "object_type": "grid", "object_id": code,
             "details": json_safe(details)}
        )  # fmt: skip
    if rows:
        connection.execute(schema.audit_log.insert(), rows)


def _public(member: Mapping[str, Any]) -> dict[str, Any]:
    return {"role": member["role"], "name": member["name"], "phone": member.get("phone")}


def _last_revisions(changes: Iterable[GridChange]) -> dict[int, int]:
    last: dict[int, int] = {}
    for version_id, _, _, _, revision in changes:
        last[version_id] = max(revision, last.get(version_id, 0))
    return last


def _by_version(held: Mapping[str, sa.Row[Any]]) -> dict[int, list[str]]:
    grouped: dict[int, list[str]] = {}
    for code, row in held.items():
        grouped.setdefault(row.id, []).append(code)
    return grouped


def _codes_by_version(changes: Iterable[GridChange]) -> dict[int, list[str]]:
    grouped: dict[int, list[str]] = {}
    for version_id, code, *_ in changes:
        grouped.setdefault(version_id, []).append(code)
    return grouped


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]
