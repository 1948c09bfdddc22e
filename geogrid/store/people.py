"""People behind the staff rows (人员): who holds which grid, when, across versions.

A grid worker is a **person** (name, phone, optional ID number) holding **assignments**: a
staff row of a plan version says "this person is the head (网格长) of grid A". Every staff
row points at its person (``staff.person_id``, migration 0005). :func:`link_people` sets it
whenever rows are written — when a plan version is saved and when a grid's staff change in
place — so that a redraw or a new plan version that moves 王芳 from grid A to grid B keeps
her history: "head of A from 2025-01-01 to 2026-03-01, then of B".

An assignment's **period** is the intersection of the staff row's own validity
(``valid_from`` / ``valid_to``: ``NULL`` = the version's whole period) and its version's
period in force; rows of versions never in force, and empty intersections, are no
assignment. Consecutive periods of one grid and role (a new version keeping her, a staff
change that keeps her) are one :class:`Assignment`.

Examples
--------
>>> start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
>>> one = Assignment("110108001001004", "head", "示例街道", (1,), "110108001001", start, None)
>>> one.in_force(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)), one.in_force(start - dt.timedelta(1))
(True, False)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geogrid.access import Caller, Permission, mask_phone, require
from geogrid.errors import InvalidInputError, NotFoundError
from geogrid.store import schema
from geogrid.store._session import reading
from geogrid.store.scope import caller_subtree, lineages

__all__ = [
    "Assignment",
    "PeopleStore",
    "Person",
    "PersonRecord",
    "assignments_of",
    "link_people",
    "staff_in_force",
]

_CHUNK = 1000  # bound parameters per IN (...) query
_PAGE = 500  # people read at a time while searching
MAX_QUERY = 100
"""Longest search text :meth:`PeopleStore.find` takes."""


@dataclasses.dataclass(frozen=True)
class Person:
    """A grid worker: one row of ``people``.

    Attributes
    ----------
    id
        The person's id (``staff.person_id`` points at it).
    name, phone
        As first seen on a staff row (a later row with the same ID number keeps these).
    id_number
        Resident ID number (身份证号) when a roster gave one; ``None`` otherwise, and for
        callers without :attr:`~geogrid.access.Permission.READ_PERSONAL`.
    created_at
        When the person was first stored (UTC).
    """

    id: int
    name: str
    phone: str | None
    id_number: str | None
    created_at: dt.datetime

    def masked(self) -> Person:
        """The person as shown without READ_PERSONAL: phone masked (138****0001), no ID number."""
        return dataclasses.replace(self, phone=mask_phone(self.phone), id_number=None)


@dataclasses.dataclass(frozen=True)
class Assignment:
    """A person's role on one grid for one period (a run of staff rows, merged).

    Attributes
    ----------
    grid_code
        The grid.
    role
        The staff role's key (:func:`geogrid.roles.current_roles`).
    plan, versions
        The plan and the versions whose staff rows make up the period, oldest first.
    jurisdiction
        The jurisdiction of the plan.
    valid_from, valid_to
        The period (UTC): ``valid_to`` is ``None`` while nothing ends it.
    grid_name
        The grid's name in the latest of ``versions``.
    """

    grid_code: str
    role: str
    plan: str
    versions: tuple[int, ...]
    jurisdiction: str
    valid_from: dt.datetime
    valid_to: dt.datetime | None
    grid_name: str | None = None

    def in_force(self, at: dt.datetime) -> bool:
        """Whether the assignment holds at instant ``at``."""
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)


@dataclasses.dataclass(frozen=True)
class PersonRecord:
    """A person and their assignments, oldest first (what ``GET /people/{id}`` answers)."""

    person: Person
    assignments: list[Assignment]

    def at(self, at: dt.datetime) -> list[Assignment]:
        """The assignments held at instant ``at``."""
        return [a for a in self.assignments if a.in_force(at)]


class PeopleStore:
    """People and their assignments in a store; get one with ``store.staff().people()``.

    Parameters
    ----------
    engine
        A migrated engine of the store (PostGIS or GeoPackage).
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def find(
        self, query: str = "", *, caller: Caller | None = None, limit: int = 50
    ) -> list[PersonRecord]:
        """People whose name or phone holds ``query`` (all with ``""``), by id.

        With a ``caller``: it needs a role that reads staff (planner, worker, supervisor,
        admin); one bound to a code sees only people with an assignment in its subtree, and
        only those assignments; phones are masked unless it may read personal information.
        """
        _check_reader(caller)
        text = _check_query(query)
        found: list[PersonRecord] = []
        chains: dict[str, tuple[str, ...]] = {}
        with reading(self._engine, "find people") as connection:
            for people in _matching(connection, text):
                found += _visible(connection, people, caller, chains)
                if len(found) >= limit:
                    break
        return found[:limit]

    def get(self, person_id: int, *, caller: Caller | None = None) -> PersonRecord:
        """Person ``person_id`` with every assignment (:class:`NotFoundError` if none).

        ``caller`` as in :meth:`find`: a person outside its subtree is not found.
        """
        _check_reader(caller)
        with reading(self._engine, "read a person") as connection:
            row = connection.execute(
                sa.select(schema.people).where(schema.people.c.id == int(person_id))
            ).one_or_none()
            visible = [] if row is None else _visible(connection, [_person(row)], caller)
        if not visible:
            raise NotFoundError(
                f"no person {person_id} in the store (or not in your area): search with "
                "GET /people?q=NAME or `geogrid store people NAME`"
            )
        return visible[0]


# -- linking -------------------------------------------------------------------------------


def link_people(
    connection: sa.Connection, staff_rows: list[dict[str, Any]], now: dt.datetime
) -> None:
    """Set ``person_id`` on staff row dicts before they are inserted; create people as needed.

    The same person is the one with the row's ``id_number`` when the row carries one (the key
    is removed from the row: the staff table has no such column), else the one with the same
    name and phone (the oldest, if several). A row with an ID number nobody has yet takes
    over a person of its name and phone that has none. Queries go by chunks, so a county's
    5,724 workers cost a handful of statements.

    Parameters
    ----------
    connection
        Inside the transaction that inserts the rows.
    staff_rows
        Dicts with ``name``, ``phone`` and optional ``id_number``; changed in place.
    now
        ``created_at`` of new people.
    """
    ids = [_text(row.pop("id_number", None)) for row in staff_rows]
    keys = [(_text(row.get("name")) or "", _text(row.get("phone"))) for row in staff_rows]
    by_id = _people_by_id_number(connection, {i for i in ids if i})
    by_key = _people_by_name_phone(connection, {key[0] for key in keys})
    adopted: set[int] = set()
    for row, id_number, key in zip(staff_rows, ids, keys, strict=True):
        if id_number and id_number in by_id:
            row["person_id"] = by_id[id_number]
        elif id_number:
            person = _adoptable(by_key.get(key, []), adopted)
            if person is not None:
                _set_id_number(connection, person, id_number)
                by_id[id_number] = row["person_id"] = person
        elif by_key.get(key):
            row["person_id"] = by_key[key][0][0]
    _create_missing(connection, staff_rows, ids, keys, now)


def _people_by_id_number(connection: sa.Connection, numbers: set[str]) -> dict[str, int]:
    table = schema.people
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(numbers)):
        query = sa.select(table.c.id_number, table.c.id).where(table.c.id_number.in_(chunk))
        found.update({number: int(pid) for number, pid in connection.execute(query)})
    return found


def _people_by_name_phone(
    connection: sa.Connection, names: set[str]
) -> dict[tuple[str, str | None], list[tuple[int, str | None]]]:
    """(name, phone) → [(person id, id_number)], oldest first."""
    table = schema.people
    found: dict[tuple[str, str | None], list[tuple[int, str | None]]] = {}
    for chunk in _chunks(sorted(names)):
        query = (
            sa.select(table.c.id, table.c.name, table.c.phone, table.c.id_number)
            .where(table.c.name.in_(chunk))
            .order_by(table.c.id)
        )
        for pid, name, phone, id_number in connection.execute(query):
            found.setdefault((name, _text(phone)), []).append((int(pid), id_number))
    return found


def _adoptable(candidates: list[tuple[int, str | None]], adopted: set[int]) -> int | None:
    """The oldest person of a name and phone without an ID number, not adopted yet."""
    for pid, id_number in candidates:
        if id_number is None and pid not in adopted:
            adopted.add(pid)
            return pid
    return None


def _set_id_number(connection: sa.Connection, person: int, id_number: str) -> None:
    table = schema.people
    connection.execute(table.update().where(table.c.id == person).values(id_number=id_number))


def _create_missing(
    connection: sa.Connection,
    staff_rows: list[dict[str, Any]],
    ids: list[str | None],
    keys: list[tuple[str, str | None]],
    now: dt.datetime,
) -> None:
    """Insert one person per unmatched ID number, then per unmatched (name, phone); link rows.

    People created for ID numbers come first, so a row without one finds the person of its
    name and phone created for another row of the same batch.
    """
    made: dict[tuple[str, str | None] | str, int] = {}
    for with_id in (True, False):
        wanted: dict[tuple[str, str | None] | str, dict[str, Any]] = {}
        for row, id_number, key in zip(staff_rows, ids, keys, strict=True):
            if row.get("person_id") is None and bool(id_number) == with_id:
                if not with_id and key in made:
                    row["person_id"] = made[key]
                    continue
                values = {"name": key[0], "phone": key[1], "id_number": id_number}
                wanted.setdefault(id_number or key, values | {"created_at": now})
        created = _insert_people(connection, list(wanted.values()))
        for identity, person, pid in zip(wanted, wanted.values(), created, strict=True):
            made[identity] = pid
            made.setdefault((person["name"], person["phone"]), pid)
        for row, id_number, key in zip(staff_rows, ids, keys, strict=True):
            if row.get("person_id") is None and bool(id_number) == with_id:
                row["person_id"] = made[id_number or key]


def _insert_people(connection: sa.Connection, rows: list[dict[str, Any]]) -> list[int]:
    if not rows:
        return []
    table = schema.people
    insert = table.insert().returning(table.c.id, sort_by_parameter_order=True)
    return [int(pid) for pid in connection.execute(insert, rows).scalars()]


# -- reading -------------------------------------------------------------------------------


def staff_in_force(at: dt.datetime) -> sa.ColumnElement[bool]:
    """SQL: the staff rows in force at ``at`` — started (or from the version's start), not ended."""
    staff = schema.staff
    return sa.and_(
        sa.or_(staff.c.valid_from.is_(None), staff.c.valid_from <= at),
        sa.or_(staff.c.valid_to.is_(None), staff.c.valid_to > at),
    )


def assignments_of(
    connection: sa.Connection, person_ids: Iterable[int]
) -> dict[int, list[Assignment]]:
    """Every assignment of each person, oldest first, over every version and jurisdiction."""
    staff, versions, grids = schema.staff, schema.plan_versions, schema.grids
    found: dict[int, list[Assignment]] = {}
    for chunk in _chunks(sorted(set(person_ids))):
        query = (
            sa.select(
                staff.c.person_id,
                staff.c.grid_code,
                staff.c.role,
                staff.c.valid_from,
                staff.c.valid_to,
                versions.c.plan_name,
                versions.c.version,
                versions.c.jurisdiction,
                versions.c.valid_from.label("version_from"),
                versions.c.valid_to.label("version_to"),
                grids.c.name.label("grid_name"),
            )
            .join(versions, versions.c.id == staff.c.version_id)
            .outerjoin(
                grids,
                sa.and_(
                    grids.c.version_id == staff.c.version_id, grids.c.code == staff.c.grid_code
                ),
            )
            .where(staff.c.person_id.in_(chunk), versions.c.valid_from.is_not(None))
        )
        for row in connection.execute(query):
            period = _period(row)
            if period is not None:
                found.setdefault(int(row.person_id), []).append(period)
    return {pid: _merged(items) for pid, items in found.items()}


def _period(row: Any) -> Assignment | None:
    """The staff row's validity cut to its version's period; ``None`` when empty."""
    start = max(row.valid_from or row.version_from, row.version_from)
    ends = [end for end in (row.valid_to, row.version_to) if end is not None]
    end = min(ends) if ends else None
    if end is not None and end <= start:
        return None
    return Assignment(
        grid_code=row.grid_code,
        role=row.role,
        plan=row.plan_name,
        versions=(int(row.version),),
        jurisdiction=row.jurisdiction,
        valid_from=start,
        valid_to=end,
        grid_name=row.grid_name,
    )


def _merged(items: list[Assignment]) -> list[Assignment]:
    """Consecutive periods of one grid, role and plan joined into one assignment."""
    items = sorted(items, key=lambda a: (a.grid_code, a.role, a.plan, a.valid_from))
    merged: list[Assignment] = []
    for item in items:
        last = merged[-1] if merged else None
        same = last is not None and (last.grid_code, last.role, last.plan) == (
            item.grid_code,
            item.role,
            item.plan,
        )
        if last is not None and same and last.valid_to == item.valid_from:
            versions = tuple(sorted(set(last.versions) | set(item.versions)))
            merged[-1] = dataclasses.replace(
                last, versions=versions, valid_to=item.valid_to, grid_name=item.grid_name
            )
        else:
            merged.append(item)
    return sorted(merged, key=lambda a: (a.valid_from, a.grid_code, a.role))


def _matching(connection: sa.Connection, text: str) -> Iterator[list[Person]]:
    """People whose name or phone holds ``text``, by id, a page at a time."""
    table = schema.people
    query = sa.select(table).order_by(table.c.id)
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            sa.or_(
                table.c.name.like(pattern, escape="\\"), table.c.phone.like(pattern, escape="\\")
            )
        )
    last = 0
    while True:
        page = connection.execute(query.where(table.c.id > last).limit(_PAGE)).all()
        if not page:
            return
        last = page[-1].id
        yield [_person(row) for row in page]


def _visible(
    connection: sa.Connection,
    people: Sequence[Person],
    caller: Caller | None,
    chains: dict[str, tuple[str, ...]] | None = None,
) -> list[PersonRecord]:
    """Records of ``people`` as ``caller`` may see them (scope and masking).

    ``chains``: grid lineages known already (filled in), so that paging through many
    people asks for each grid's lineage once.
    """
    held = assignments_of(connection, (p.id for p in people))
    within = None if caller is None else caller_subtree(connection, caller)
    if within is not None:
        chains = {} if chains is None else chains
        codes = {a.grid_code for items in held.values() for a in items} - chains.keys()
        chains.update(lineages(connection, codes))
        held = {
            pid: [a for a in items if within.contains(chains.get(a.grid_code))]
            for pid, items in held.items()
        }
    records = []
    for person in people:
        assignments = held.get(person.id, [])
        if within is not None and not assignments:
            continue
        if caller is not None and not caller.can(Permission.READ_PERSONAL):
            person = person.masked()
        records.append(PersonRecord(person, assignments))
    return records


def _check_reader(caller: Caller | None) -> None:
    """Staff are read by planners and admins, and by workers and supervisors of incidents."""
    if caller is not None and not caller.can(Permission.READ_INCIDENTS):
        require(caller, Permission.MANAGE_PLANS)


def _check_query(query: str) -> str:
    text = (query or "").strip()
    if len(text) > MAX_QUERY or any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise InvalidInputError(
            f"search people by a part of a name or phone: at most {MAX_QUERY} characters, "
            "no control characters"
        )
    return text


def _person(row: Any) -> Person:
    return Person(int(row.id), row.name, row.phone, row.id_number, row.created_at)


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]
