"""Staff of a grid changed in place, without a new plan version, with history.

Grid heads and workers change more often than boundaries. :meth:`StaffStore.replace` swaps the
staff list of one grid of the **active** version in one transaction: the old rows get a
``valid_to``, the new rows are inserted, a ``staff_changes`` row keeps who changed what
(before and after) and when, the version's ``staff_revision`` goes up by one (so every service
worker notices the change with the one query it already makes) and an audit row is written.

Concurrent edits are refused rather than lost: a change names the ETag of the staff list it
was based on (:attr:`GridStaff.etag`), which is checked under a lock on the version row
(``SELECT … FOR UPDATE`` on PostgreSQL; a SQLite write transaction is exclusive anyway).

Examples
--------
>>> import tempfile
>>> from geogrid.access import Caller
>>> from geogrid.samples import load_sample
>>> from geogrid.store import open_store
>>> folder = tempfile.TemporaryDirectory()
>>> with open_store(f"sqlite:///{folder.name}/plans.gpkg") as store:
...     plan = load_sample()
...     info = store.save(plan, by="张三")
...     _ = store.approve(plan.name, 1, by="李四")
...     _ = store.activate(plan.name, 1, by="李四")
...     code = plan.grids["code"].iloc[-1]
...     now = store.staff().current(code)
...     new = store.staff().replace(code, [StaffMember("head", "王五", "13800000009")],
...                                 caller=Caller.local("李四"), expect=[now.etag])
...     [change.after for change in store.staff().history(code)], new.revision
([[StaffMember(role='head', name='王五', phone='13800000009')]], 1)
>>> folder.cleanup()
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geogrid.access import Caller, Permission, require
from geogrid.errors import (
    AccessDeniedError,
    InvalidPlanError,
    NotFoundError,
    PreconditionFailedError,
)
from geogrid.plan import STAFF_COLUMNS, StaffRole
from geogrid.store import schema
from geogrid.store._session import now_ms, reading, write_transaction
from geogrid.store.access import insert_audit
from geogrid.store.scope import caller_subtree, lineage

__all__ = [
    "MAX_STAFF",
    "GridStaff",
    "StaffChange",
    "StaffMember",
    "StaffStore",
    "check_covers",
    "staff_etag",
]

MAX_STAFF = 100
"""Most people one grid's staff list may hold."""


@dataclasses.dataclass(frozen=True)
class StaffMember:
    """One person on a grid's staff: role (:class:`~geogrid.plan.StaffRole`), name, phone."""

    role: str
    name: str
    phone: str | None = None

    @classmethod
    def parse(cls, value: StaffMember | Mapping[str, Any]) -> StaffMember:
        """A checked member from a mapping (``role``, ``name``, optional ``phone``)."""
        data = dataclasses.asdict(value) if isinstance(value, StaffMember) else dict(value)
        role, name = str(data.get("role") or ""), str(data.get("name") or "").strip()
        roles = [r.value for r in StaffRole]
        if role not in roles:
            raise InvalidPlanError(f"unknown staff role {role!r}: use one of {', '.join(roles)}")
        if not name:
            raise InvalidPlanError("every staff member needs a name")
        phone = str(data.get("phone") or "").strip() or None
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in name + (phone or "")):
            raise InvalidPlanError(
                f"staff name and phone may not hold control characters: {name!r}"
            )
        return cls(role, name, phone)


@dataclasses.dataclass(frozen=True)
class GridStaff:
    """The current staff of one grid of the active version.

    Attributes
    ----------
    plan, version
        The active version the grid belongs to.
    grid_code
        The grid.
    staff
        Its staff, in the order they were given.
    revision
        The version's staff revision (staff changes so far, any grid).
    """

    plan: str
    version: int
    grid_code: str
    staff: list[StaffMember]
    revision: int

    @property
    def etag(self) -> str:
        """Tag of this staff list (:func:`staff_etag`); send it back to change the list."""
        return staff_etag(self.plan, self.version, self.grid_code, self.staff)


@dataclasses.dataclass(frozen=True)
class StaffChange:
    """One change of a grid's staff: before, after, who and when."""

    plan: str
    version: int
    grid_code: str
    revision: int
    before: list[StaffMember]
    after: list[StaffMember]
    changed_by: str
    role: str
    changed_at: dt.datetime


def staff_etag(plan: str, version: int, grid_code: str, staff: Iterable[StaffMember]) -> str:
    """Hash of a grid's staff rows in one version: equal tags, equal staff lists.

    Examples
    --------
    >>> one = [StaffMember("head", "王五", "13800000009")]
    >>> staff_etag("示例", 1, "110108001001", one) == staff_etag("示例", 1, "110108001001", [])
    False
    """
    rows = [dataclasses.astuple(member) for member in staff]
    text = json.dumps([plan, version, grid_code, rows], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class StaffStore:
    """Staff of the active version's grids; get one with ``store.staff()``.

    Parameters
    ----------
    engine
        A migrated engine of the store (PostGIS or GeoPackage).
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def current(self, grid_code: str, *, caller: Caller | None = None) -> GridStaff:
        """The staff of grid ``grid_code`` in the active version (:class:`NotFoundError` if none).

        With a ``caller``, it must cover the grid (:func:`check_covers`).
        """
        with reading(self._engine, "read a grid's staff") as connection:
            row = _active(connection, lock=False)
            _check_grid(connection, row, grid_code)
            check_covers(connection, caller, grid_code)
            members = _members(connection, row.id, grid_code)
        return GridStaff(row.plan_name, row.version, grid_code, members, row.staff_revision)

    def replace(
        self,
        grid_code: str,
        staff: Iterable[StaffMember | Mapping[str, Any]],
        *,
        caller: Caller,
        expect: Collection[str] | None = None,
    ) -> GridStaff:
        """Replace the staff of grid ``grid_code`` in the active version; all or nothing.

        Parameters
        ----------
        grid_code
            A grid of the active version.
        staff
            The new list (may be empty): :class:`StaffMember` or mappings with ``role``,
            ``name`` and optional ``phone``.
        caller
            Who changes it: needs :attr:`~geogrid.access.Permission.MANAGE_PLANS` and must
            cover the grid; recorded in the history and the audit log.
        expect
            ETags (:attr:`GridStaff.etag`) the current list must have; otherwise
            :class:`PreconditionFailedError` and nothing changes. ``None``: no check.

        Returns
        -------
        GridStaff
            The new staff list, with its new ETag.
        """
        require(caller, Permission.MANAGE_PLANS)
        members = [StaffMember.parse(member) for member in staff]
        if len(members) > MAX_STAFF:
            raise InvalidPlanError(f"a grid has at most {MAX_STAFF} staff, got {len(members)}")
        with write_transaction(self._engine, "change a grid's staff") as connection:
            row = _active(connection, lock=True)
            _check_grid(connection, row, grid_code)
            check_covers(connection, caller, grid_code)
            before = _members(connection, row.id, grid_code)
            _check_expected(GridStaff(row.plan_name, row.version, grid_code, before, 0), expect)
            revision = row.staff_revision + 1
            _write(connection, row.id, grid_code, (before, members), revision, caller)
            change = {"before": _json(before), "after": _json(members), "revision": revision}
            details = {"plan": row.plan_name, "version": row.version, **change}
            insert_audit(connection, caller, "staff.replace", "grid", grid_code, details)
        return GridStaff(row.plan_name, row.version, grid_code, members, revision)

    def history(self, grid_code: str, *, caller: Caller | None = None) -> list[StaffChange]:
        """Every change of grid ``grid_code``'s staff, in any version, newest first.

        With a ``caller``, it must cover the grid (:func:`check_covers`).
        """
        changes, versions = schema.staff_changes, schema.plan_versions
        query = (
            sa.select(changes, versions.c.plan_name, versions.c.version)
            .join(versions, versions.c.id == changes.c.version_id)
            .where(changes.c.grid_code == grid_code)
            .order_by(changes.c.id.desc())
        )
        with reading(self._engine, "read a grid's staff history") as connection:
            check_covers(connection, caller, grid_code)
            return [_change(row) for row in connection.execute(query)]

    def table(self, name: str, version: int) -> pd.DataFrame:
        """The current staff rows of a version, as a plan's ``staff`` table."""
        staff, versions = schema.staff, schema.plan_versions
        query = (
            sa.select(*(staff.c[column] for column in STAFF_COLUMNS))
            .join(versions, versions.c.id == staff.c.version_id)
            .where(versions.c.plan_name == name, versions.c.version == int(version))
            .where(staff.c.valid_to.is_(None))
            .order_by(staff.c.id)
        )
        with reading(self._engine, "read staff") as connection:
            rows = connection.execute(query).all()
        return pd.DataFrame([tuple(r) for r in rows], columns=list(STAFF_COLUMNS), dtype=object)


def check_covers(connection: sa.Connection, caller: Caller | None, grid_code: str) -> None:
    """:class:`AccessDeniedError` unless ``caller`` (if any) covers grid ``grid_code``."""
    within = None if caller is None else caller_subtree(connection, caller)
    if within is not None and not within.contains(lineage(connection, grid_code)):
        assert caller is not None
        raise AccessDeniedError(
            f"{caller.name} covers grid {caller.grid_code} only, not {grid_code}: ask a planner "
            "of that grid, or one bound higher up"
        )


def _active(connection: sa.Connection, *, lock: bool) -> sa.Row[Any]:
    table = schema.plan_versions
    query = sa.select(table).where(table.c.status == "active")
    row = connection.execute(query.with_for_update() if lock else query).one_or_none()
    if row is None:
        raise NotFoundError(
            "no plan is active, so no grid has staff to show or change: activate a plan first"
        )
    return row


def _check_grid(connection: sa.Connection, version: sa.Row[Any], grid_code: str) -> None:
    grids = schema.grids
    query = sa.select(grids.c.id).where(grids.c.version_id == version.id, grids.c.code == grid_code)
    if connection.execute(query).first() is None:
        raise NotFoundError(
            f"no grid {grid_code!r} in the active plan {version.plan_name!r} "
            f"(version {version.version}): check the code (GET /locate or the OGC items list them)"
        )


def _check_expected(current: GridStaff, expect: Collection[str] | None) -> None:
    if expect is not None and current.etag not in expect:
        raise PreconditionFailedError(
            f"the staff of grid {current.grid_code} changed since they were read (their ETag is "
            f'now "{current.etag}"): read them again, redo the change and send the new ETag'
        )


def _members(connection: sa.Connection, version_id: int, grid_code: str) -> list[StaffMember]:
    staff = schema.staff
    query = (
        sa.select(staff.c.role, staff.c.name, staff.c.phone)
        .where(staff.c.version_id == version_id, staff.c.grid_code == grid_code)
        .where(staff.c.valid_to.is_(None))
        .order_by(staff.c.id)
    )
    return [StaffMember(row.role, row.name, row.phone) for row in connection.execute(query)]


def _write(
    connection: sa.Connection,
    version_id: int,
    grid_code: str,
    change: tuple[list[StaffMember], list[StaffMember]],
    revision: int,
    caller: Caller,
) -> None:
    """Close the old rows, insert the new ones, bump the revision, keep the history row."""
    staff, versions, changes = schema.staff, schema.plan_versions, schema.staff_changes
    before, members = change
    now = now_ms()
    current = (staff.c.version_id == version_id) & (staff.c.grid_code == grid_code)
    connection.execute(
        staff.update().where(current, staff.c.valid_to.is_(None)).values(valid_to=now)
    )
    if members:
        rows = [
            {"version_id": version_id, "grid_code": grid_code, "valid_from": now, "valid_to": None}
            | dataclasses.asdict(member)
            for member in members
        ]
        connection.execute(staff.insert(), rows)
    connection.execute(
        versions.update().where(versions.c.id == version_id).values(staff_revision=revision)
    )
    connection.execute(
        changes.insert().values(
            version_id=version_id,
            grid_code=grid_code,
            revision=revision,
            before=_json(before),
            after=_json(members),
            changed_by=caller.name,
            role=caller.role.value,
            changed_at=now,
        )
    )


def _json(members: Iterable[StaffMember]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(member) for member in members]


def _change(row: Any) -> StaffChange:
    return StaffChange(
        plan=row.plan_name,
        version=row.version,
        grid_code=row.grid_code,
        revision=row.revision,
        before=[StaffMember(**member) for member in row.before],
        after=[StaffMember(**member) for member in row.after],
        changed_by=row.changed_by,
        role=row.role,
        changed_at=row.changed_at,
    )
