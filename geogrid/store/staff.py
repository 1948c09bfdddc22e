"""Staff of a grid changed in place, without a new plan version, with history in time.

Grid heads and workers change more often than boundaries. :meth:`StaffStore.replace` swaps the
staff list of one grid in one transaction, **with effect from** an instant (now by default, or
a date in the past or the future): the rows in force then get ``valid_to`` = that instant,
the new rows start there (``valid_from``) and point at their people
(:func:`geogrid.store.people.link_people`), a ``staff_changes`` row keeps who changed what
(before and after) and when, the version's ``staff_revision`` goes up by one (so every
service worker notices the change with the one query it already makes) and an audit row is
written (its details hold the effective instant).

The version changed is the one **in force at the effective instant** holding the grid, in
any jurisdiction: the version in force now for a change made now or back-dated inside its
period, or a version announced to come into force later for a change scheduled after its
start. Two things are refused, with a message that says what to do instead: a change in a
version whose period has already ended (history is not rewritten), and a change taking
effect before the latest change of the same grid (the staff after it would be undefined).

Every read can ask ``at=``: :meth:`StaffStore.current` gives the staff in force at an
instant, :meth:`StaffStore.timeline` every period of a grid's staff across versions and
redraws, and :meth:`StaffStore.history` the changes, newest first.

Concurrent edits are refused rather than lost: a change names the ETag of the staff list it
was based on (:attr:`GridStaff.etag`: the list in force at the effective instant), which is
checked under a lock on the version row (``SELECT … FOR UPDATE`` on PostgreSQL; a SQLite
write transaction is exclusive anyway).

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
    InvalidInputError,
    InvalidPlanError,
    NotFoundError,
    PreconditionFailedError,
    VersionStateError,
)
from geogrid.plan import STAFF_COLUMNS
from geogrid.roles import current_roles
from geogrid.store import schema, staff_bulk
from geogrid.store._session import now_ms, reading, to_ms, write_transaction
from geogrid.store.access import insert_audit
from geogrid.store.people import PeopleStore, link_people, staff_in_force
from geogrid.store.scope import caller_subtree, lineage, lineages

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
    """One person on a grid's staff: role (a key of :func:`~geogrid.roles.current_roles`), name, phone."""

    role: str
    name: str
    phone: str | None = None

    @classmethod
    def parse(cls, value: StaffMember | Mapping[str, Any]) -> StaffMember:
        """A checked member from a mapping (``role``, ``name``, optional ``phone``).

        The role may be a key, Chinese name or alias of the configured roles; the member
        holds the key (:meth:`~geogrid.roles.RoleSet.parse`, whose error lists them).

        Examples
        --------
        >>> StaffMember.parse({"role": "网格长", "name": "王五"})
        StaffMember(role='head', name='王五', phone=None)
        """
        data = dataclasses.asdict(value) if isinstance(value, StaffMember) else dict(value)
        role = current_roles().parse(str(data.get("role") or ""))
        name = str(data.get("name") or "").strip()
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
    """The staff of one grid in force at an instant, and the period they are in force.

    Attributes
    ----------
    plan, version
        The version in force holding the grid.
    grid_code
        The grid.
    staff
        Its staff, in the order they were given.
    revision
        The version's staff revision (staff changes so far, any grid).
    valid_from, valid_to
        The period this list is in force (UTC): from the version's start or the last change,
        until the next change or the version's end (``None``: nothing ends it yet). Not part
        of equality.
    """

    plan: str
    version: int
    grid_code: str
    staff: list[StaffMember]
    revision: int
    valid_from: dt.datetime | None = dataclasses.field(default=None, compare=False)
    valid_to: dt.datetime | None = dataclasses.field(default=None, compare=False)

    @property
    def etag(self) -> str:
        """Tag of this staff list (:func:`staff_etag`); send it back to change the list."""
        return staff_etag(self.plan, self.version, self.grid_code, self.staff)


@dataclasses.dataclass(frozen=True)
class StaffChange:
    """One change of a grid's staff: before, after, who, when it was made and took effect.

    ``effective`` is the instant the change took effect (``changed_at`` for changes made
    before effective dates existed).
    """

    plan: str
    version: int
    grid_code: str
    revision: int
    before: list[StaffMember]
    after: list[StaffMember]
    changed_by: str
    role: str
    changed_at: dt.datetime
    effective: dt.datetime | None = None


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
    """Staff of the grids of the versions in force, in time; get one with ``store.staff()``.

    Parameters
    ----------
    engine
        A migrated engine of the store (PostGIS or GeoPackage).
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def people(self) -> PeopleStore:
        """The people behind the staff rows (:class:`geogrid.store.people.PeopleStore`)."""
        return PeopleStore(self._engine)

    def current(
        self, grid_code: str, *, at: dt.datetime | None = None, caller: Caller | None = None
    ) -> GridStaff:
        """The staff of grid ``grid_code`` in force now, or at instant ``at``.

        They are those of the version in force then holding the grid, in any jurisdiction
        (:class:`NotFoundError` if none). With a ``caller``, it must cover the grid
        (:func:`check_covers`).
        """
        when = now_ms() if at is None else _instant(at, "at")
        with reading(self._engine, "read a grid's staff") as connection:
            row = _holding(connection, grid_code, when, lock=False)
            check_covers(connection, caller, grid_code)
            return _grid_staff(connection, row, grid_code, when)

    def replace(
        self,
        grid_code: str,
        staff: Iterable[StaffMember | Mapping[str, Any]],
        *,
        caller: Caller,
        expect: Collection[str] | None = None,
        effective: dt.datetime | None = None,
    ) -> GridStaff:
        """Replace the staff of grid ``grid_code`` from instant ``effective`` on; all or nothing.

        Parameters
        ----------
        grid_code
            A grid of the version in force at ``effective``.
        staff
            The new list (may be empty): :class:`StaffMember` or mappings with ``role``,
            ``name`` and optional ``phone``.
        caller
            Who changes it: needs :attr:`~geogrid.access.Permission.MANAGE_PLANS` and must
            cover the grid; recorded in the history and the audit log.
        expect
            ETags (:attr:`GridStaff.etag`) the list in force at ``effective`` must have;
            otherwise :class:`PreconditionFailedError` and nothing changes. ``None``: no check.
        effective
            When the change takes effect: now by default; a past instant (the new head
            started last week) inside the period of the version in force now, and not before
            the grid's latest change; or a future one (scheduled). A naive datetime is UTC.

        Returns
        -------
        GridStaff
            The new staff list (in force from ``effective``), with its new ETag.
        """
        require(caller, Permission.MANAGE_PLANS)
        members = _checked(staff)
        with write_transaction(self._engine, "change a grid's staff") as connection:
            now = now_ms()
            when = now if effective is None else _instant(effective, "effective")
            return _replace(connection, grid_code, members, caller, (when, now), expect)

    def replace_many(
        self,
        staff: Mapping[str, Iterable[StaffMember | Mapping[str, Any]]],
        *,
        caller: Caller,
        effective: dt.datetime | None = None,
        source: str | None = None,
    ) -> list[GridStaff]:
        """Replace the staff of many grids from instant ``effective`` on, in ONE transaction.

        Every grid as :meth:`replace` does it (the same checks, people linked, a history row
        and a ``staff.replace`` audit row each), then one ``staff.import`` audit row listing
        the grids; the first problem (a grid not in force, not covered by ``caller``, a
        change before its latest one) changes nothing at all. A roster import
        (:func:`geogrid.io.rosters.read_roster`) is one call.

        Parameters
        ----------
        staff
            Grid code → its new list: :class:`StaffMember` or mappings with ``role``,
            ``name``, optional ``phone`` and optional ``id_number`` (身份证号, to link the
            person: :func:`~geogrid.store.people.link_people`).
        caller, effective
            As in :meth:`replace`.
        source
            What the lists came from (a roster's file name), kept in the audit row.

        Returns
        -------
        list of GridStaff
            The new lists, in the order of ``staff``.
        """
        require(caller, Permission.MANAGE_PLANS)
        lists = {str(code): _checked(members) for code, members in staff.items()}
        with write_transaction(self._engine, "import staff") as connection:
            now = now_ms()
            when = now if effective is None else _instant(effective, "effective")
            held = staff_bulk.holding_versions(connection, list(lists), _in_force(when))
            missing = [code for code in lists if code not in held]
            if missing:
                raise _not_held(connection, missing[0], when)
            _check_area(connection, caller, list(lists))
            latest = staff_bulk.latest_changes(connection, held)
            for code, row in held.items():
                _check_effective(row, code, when, now, latest.get(code))
            before = staff_bulk.members_at(connection, held, when)
            changes: list[staff_bulk.GridChange] = []
            revisions = {row.id: row.staff_revision for row in held.values()}
            for code, (members, ids) in lists.items():
                row = held[code]
                revisions[row.id] += 1
                after = [m | {"id_number": i} for m, i in zip(_json(members), ids, strict=True)]
                changes.append((row.id, code, before[code], after, revisions[row.id]))
            plans = {row.id: (row.plan_name, row.version) for row in held.values()}
            staff_bulk.write_changes(connection, changes, (when, now), caller, plans)
            details = {"grids": list(lists), "staff": sum(len(c[3]) for c in changes),
                       "effective": when, "source": source,
                       "versions": sorted({f"{p} v{v}" for p, v in plans.values()})}  # fmt: skip
            first = next(iter(plans.values()), (None, 0))[0]
            insert_audit(connection, caller, "staff.import", "plan", first, details)
            return [
                GridStaff(row.plan_name, row.version, code, members, revision, when, row.valid_to)
                for (code, (members, _)), (_, _, _, _, revision) in zip(
                    lists.items(), changes, strict=True
                )
                for row in (held[code],)
            ]

    def history(self, grid_code: str, *, caller: Caller | None = None) -> list[StaffChange]:
        """Every change of grid ``grid_code``'s staff, in any version, newest first.

        Each says when it was made (``changed_at``) and when it took effect (``effective``).
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
            effective = _effective_instants(connection, grid_code)
            return [_change(row, effective) for row in connection.execute(query)]

    def timeline(self, grid_code: str, *, caller: Caller | None = None) -> list[GridStaff]:
        """Every period of grid ``grid_code``'s staff, oldest first, across versions and redraws.

        One :class:`GridStaff` per period of constant staff of each version that held the
        grid while in force (or announced to be); ``valid_from``/``valid_to`` bound it.
        With a ``caller``, it must cover the grid (:func:`check_covers`).
        """
        with reading(self._engine, "read a grid's staff timeline") as connection:
            check_covers(connection, caller, grid_code)
            periods: list[GridStaff] = []
            for row in _versions_holding(connection, grid_code):
                periods += _periods(connection, row, grid_code)
            return periods

    def table(self, name: str, version: int, at: dt.datetime | None = None) -> pd.DataFrame:
        """The staff rows of a version in force now (or at ``at``), as a plan's ``staff`` table."""
        staff, versions = schema.staff, schema.plan_versions
        when = now_ms() if at is None else _instant(at, "at")
        query = (
            sa.select(*(staff.c[column] for column in STAFF_COLUMNS))
            .join(versions, versions.c.id == staff.c.version_id)
            .where(versions.c.plan_name == name, versions.c.version == int(version))
            .where(staff_in_force(when))
            .order_by(staff.c.id)
        )
        with reading(self._engine, "read staff") as connection:
            rows = connection.execute(query).all()
        return pd.DataFrame([tuple(r) for r in rows], columns=list(STAFF_COLUMNS), dtype=object)

    def next_change(self, after: dt.datetime | None = None) -> dt.datetime | None:
        """The first instant after ``after`` (default now) when some grid's staff change.

        Scheduled staff changes and versions coming into force or ending; ``None`` when none
        is known. A service holding today's staff reloads them then.
        """
        when = now_ms() if after is None else _instant(after, "after")
        staff, versions = schema.staff, schema.plan_versions
        candidates = [
            sa.select(sa.func.min(column)).where(column > when)
            for column in (
                staff.c.valid_from,
                staff.c.valid_to,
                versions.c.valid_from,
                versions.c.valid_to,
            )
        ]
        with reading(self._engine, "find the next staff change") as connection:
            found = [connection.execute(query).scalar() for query in candidates]
        return min((instant for instant in found if instant is not None), default=None)


def check_covers(connection: sa.Connection, caller: Caller | None, grid_code: str) -> None:
    """:class:`AccessDeniedError` unless ``caller`` (if any) covers grid ``grid_code``."""
    within = None if caller is None else caller_subtree(connection, caller)
    if within is not None and not within.contains(lineage(connection, grid_code)):
        assert caller is not None
        raise _denied(caller, grid_code)


def _check_area(connection: sa.Connection, caller: Caller, codes: list[str]) -> None:
    """:func:`check_covers` for many grids, with one query for their parent links."""
    within = caller_subtree(connection, caller)
    if within is None:
        return
    chains = lineages(connection, codes)
    outside = [code for code in codes if not within.contains(chains[code])]
    if outside:
        raise _denied(caller, outside[0])


def _denied(caller: Caller, grid_code: str) -> AccessDeniedError:
    return AccessDeniedError(
        f"{caller.name} covers grid {caller.grid_code} only, not {grid_code}: ask a planner "
        "of that grid, or one bound higher up"
    )


def _checked(
    staff: Iterable[StaffMember | Mapping[str, Any]],
) -> tuple[list[StaffMember], list[str | None]]:
    """Members parsed and counted, and the ID number each mapping carried (or ``None``)."""
    given = list(staff)
    members = [StaffMember.parse(member) for member in given]
    if len(members) > MAX_STAFF:
        raise InvalidPlanError(f"a grid has at most {MAX_STAFF} staff, got {len(members)}")
    ids = [m.get("id_number") if isinstance(m, Mapping) else None for m in given]
    return members, [str(i).strip() or None if i else None for i in ids]


def _replace(
    connection: sa.Connection,
    grid_code: str,
    checked: tuple[list[StaffMember], list[str | None]],
    caller: Caller,
    instants: tuple[dt.datetime, dt.datetime],
    expect: Collection[str] | None,
) -> GridStaff:
    """One grid's change inside the caller's transaction (:meth:`StaffStore.replace`)."""
    (members, ids), (when, now) = checked, instants
    row = _holding(connection, grid_code, when, lock=True)
    check_covers(connection, caller, grid_code)
    _check_effective(row, grid_code, when, now, _latest_change(connection, row.id, grid_code))
    before = _members(connection, row.id, grid_code, when)
    _check_expected(GridStaff(row.plan_name, row.version, grid_code, before, 0), expect)
    revision = row.staff_revision + 1
    _write(connection, row.id, grid_code, (before, members, ids), (revision, when), caller)
    change = {"before": _json(before), "after": _json(members), "revision": revision}
    details = {"plan": row.plan_name, "version": row.version, **change, "effective": when}
    insert_audit(connection, caller, "staff.replace", "grid", grid_code, details)
    return dataclasses.replace(_grid_staff(connection, row, grid_code, when), revision=revision)


# -- versions in force -----------------------------------------------------------------------


def _in_force(at: dt.datetime) -> sa.ColumnElement[bool]:
    versions = schema.plan_versions
    return sa.and_(
        versions.c.valid_from.is_not(None),
        versions.c.valid_from <= at,
        sa.or_(versions.c.valid_to.is_(None), versions.c.valid_to > at),
    )


def _holding(
    connection: sa.Connection, grid_code: str, at: dt.datetime, *, lock: bool
) -> sa.Row[Any]:
    """The version in force at ``at`` that holds grid ``grid_code`` (any jurisdiction)."""
    versions, grids = schema.plan_versions, schema.grids
    query = (
        sa.select(versions)
        .join(grids, grids.c.version_id == versions.c.id)
        .where(grids.c.code == grid_code, _in_force(at))
        .order_by(versions.c.valid_from.desc())
        .limit(1)
    )
    row = connection.execute(query.with_for_update(of=versions) if lock else query).first()
    if row is None:
        raise _not_held(connection, grid_code, at)
    return row


def _not_held(connection: sa.Connection, grid_code: str, at: dt.datetime) -> NotFoundError:
    versions = schema.plan_versions
    in_force = connection.execute(sa.select(versions.c.plan_name).where(_in_force(at))).scalars()
    plans = sorted(set(in_force))
    if not plans:
        return NotFoundError(
            f"no plan is active at {_day(at)}, so no grid has staff to show or change then: "
            "activate a plan first (or ask for an instant inside a version's period)"
        )
    held = [
        f"version {row.version} of plan {row.plan_name!r} holds it from {_day(row.valid_from)}"
        + (f" to {_day(row.valid_to)}" if row.valid_to else "")
        for row in _versions_holding(connection, grid_code)
    ]
    where = "; ".join(held[-2:]) if held else "no version in force ever held it"
    return NotFoundError(
        f"no grid {grid_code!r} in the plans in force at {_day(at)} ({', '.join(plans)}): "
        f"{where}. Check the code (GET /locate or the OGC items list them) and the instant"
    )


def _versions_holding(connection: sa.Connection, grid_code: str) -> list[sa.Row[Any]]:
    """Versions holding the grid that were, are or will be in force, oldest start first.

    A version replaced before its start (an empty period) is left out.
    """
    versions, grids = schema.plan_versions, schema.grids
    query = (
        sa.select(versions)
        .join(grids, grids.c.version_id == versions.c.id)
        .where(grids.c.code == grid_code, versions.c.valid_from.is_not(None))
        .where(sa.or_(versions.c.valid_to.is_(None), versions.c.valid_to > versions.c.valid_from))
        .order_by(versions.c.valid_from, versions.c.id)
    )
    return list(connection.execute(query))


def _check_effective(
    version: sa.Row[Any],
    grid_code: str,
    when: dt.datetime,
    now: dt.datetime,
    latest: dt.datetime | None,
) -> None:
    """Refuse a change in a version already ended, or before the grid's latest change."""
    name = f"version {version.version} of plan {version.plan_name!r}"
    if version.valid_to is not None and version.valid_to <= now:
        raise VersionStateError(
            f"{name} was in force from {_day(version.valid_from)} to {_day(version.valid_to)}: "
            f"staff of a past version are history and stay as they were; give an effective "
            f"date inside the period of the version in force now"
        )
    if latest is not None and when < latest:
        raise VersionStateError(
            f"the staff of grid {grid_code} in {name} change with effect from {_day(latest)}, "
            f"after {_day(when)}: a change may not take effect before the latest one (what "
            f"holds after it would be undefined); give {_day(latest)} or later"
        )


def _latest_change(
    connection: sa.Connection, version_id: int, grid_code: str
) -> dt.datetime | None:
    staff = schema.staff
    query = sa.select(sa.func.max(staff.c.valid_from), sa.func.max(staff.c.valid_to)).where(
        staff.c.version_id == version_id, staff.c.grid_code == grid_code
    )
    found = [instant for instant in connection.execute(query).one() if instant is not None]
    return max(found, default=None)


# -- staff rows ------------------------------------------------------------------------------


def _check_expected(current: GridStaff, expect: Collection[str] | None) -> None:
    if expect is not None and current.etag not in expect:
        raise PreconditionFailedError(
            f"the staff of grid {current.grid_code} changed since they were read (their ETag is "
            f'now "{current.etag}"): read them again, redo the change and send the new ETag'
        )


def _rows(connection: sa.Connection, version_id: int, grid_code: str) -> list[sa.Row[Any]]:
    staff = schema.staff
    query = (
        sa.select(staff.c.role, staff.c.name, staff.c.phone, staff.c.valid_from, staff.c.valid_to)
        .where(staff.c.version_id == version_id, staff.c.grid_code == grid_code)
        .order_by(staff.c.id)
    )
    return list(connection.execute(query))


def _held_at(rows: Iterable[sa.Row[Any]], at: dt.datetime) -> list[StaffMember]:
    """The members of ``rows`` in force at ``at`` (the rule of :func:`staff_in_force`)."""
    return [
        StaffMember(row.role, row.name, row.phone)
        for row in rows
        if (row.valid_from is None or row.valid_from <= at)
        and (row.valid_to is None or row.valid_to > at)
    ]


def _members(
    connection: sa.Connection, version_id: int, grid_code: str, at: dt.datetime
) -> list[StaffMember]:
    return _held_at(_rows(connection, version_id, grid_code), at)


def _grid_staff(
    connection: sa.Connection, version: sa.Row[Any], grid_code: str, at: dt.datetime
) -> GridStaff:
    """The staff of the grid in ``version`` at ``at``, with the period they hold."""
    rows = _rows(connection, version.id, grid_code)
    edges = _edges(version, rows)
    start = max((edge for edge in edges if edge <= at), default=version.valid_from)
    end = min((edge for edge in edges if edge > at), default=None)
    return _period(version, grid_code, rows, start, end)


def _period(
    version: sa.Row[Any],
    grid_code: str,
    rows: list[sa.Row[Any]],
    start: dt.datetime,
    end: dt.datetime | None,
) -> GridStaff:
    """The grid's staff in ``version`` from ``start`` to ``end`` (those in force at ``start``)."""
    staff = _held_at(rows, start)
    revision = version.staff_revision
    return GridStaff(version.plan_name, version.version, grid_code, staff, revision, start, end)


def _edges(version: sa.Row[Any], rows: Iterable[sa.Row[Any]]) -> list[dt.datetime]:
    """The instants inside the version's period where the grid's staff change, and its ends."""
    inside = {
        instant
        for row in rows
        for instant in (row.valid_from, row.valid_to)
        if instant is not None
        and instant > version.valid_from
        and (version.valid_to is None or instant < version.valid_to)
    }
    ends = {version.valid_from} | ({version.valid_to} if version.valid_to else set())
    return sorted(inside | ends)


def _periods(connection: sa.Connection, version: sa.Row[Any], grid_code: str) -> list[GridStaff]:
    rows = _rows(connection, version.id, grid_code)
    edges = _edges(version, rows)
    bounds = list(zip(edges, [*edges[1:], None], strict=True))
    if version.valid_to is not None:
        bounds = bounds[:-1]  # the last edge is the version's end
    return [_period(version, grid_code, rows, start, end) for start, end in bounds]


def _write(
    connection: sa.Connection,
    version_id: int,
    grid_code: str,
    change: tuple[list[StaffMember], list[StaffMember], list[str | None]],
    stamp: tuple[int, dt.datetime],
    caller: Caller,
) -> None:
    """End the rows in force, insert the new ones, bump the revision, keep the history row."""
    staff, versions, changes = schema.staff, schema.plan_versions, schema.staff_changes
    (before, members, ids), (revision, when) = change, stamp
    now = now_ms()
    current = (staff.c.version_id == version_id) & (staff.c.grid_code == grid_code)
    connection.execute(staff.update().where(current, staff_in_force(when)).values(valid_to=when))
    if members:
        rows = [
            {"version_id": version_id, "grid_code": grid_code, "valid_from": when, "valid_to": None}
            | dataclasses.asdict(member)
            | {"id_number": id_number}
            for member, id_number in zip(members, ids, strict=True)
        ]
        link_people(connection, rows, now)
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


def _effective_instants(
    connection: sa.Connection, grid_code: str
) -> dict[tuple[str, int, int], dt.datetime]:
    """(plan, version, revision) → effective instant of the grid's changes, from the audit log.

    The ``staff.replace`` audit row is written in the change's transaction; changes made
    before effective dates existed have none (their ``changed_at`` is when they took effect).
    """
    audit = schema.audit_log
    query = sa.select(audit.c.details).where(
        audit.c.action == "staff.replace",
        audit.c.object_type == "grid",
        audit.c.object_id == grid_code,
    )
    found = {}
    for (details,) in connection.execute(query):
        if isinstance(details, dict) and details.get("effective"):
            key = (details.get("plan"), details.get("version"), details.get("revision"))
            found[key] = dt.datetime.fromisoformat(str(details["effective"]))
    return found  # type: ignore[return-value]


def _instant(value: dt.datetime, what: str) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise InvalidInputError(f"{what} must be a date and time, not {value!r}")
    return to_ms(value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC))


def _day(instant: dt.datetime) -> str:
    return f"{instant:%Y-%m-%d %H:%M} UTC"


def _json(members: Iterable[StaffMember]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(member) for member in members]


def _change(row: Any, effective: Mapping[tuple[str, int, int], dt.datetime]) -> StaffChange:
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
        effective=effective.get((row.plan_name, row.version, row.revision), row.changed_at),
    )
