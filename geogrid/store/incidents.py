"""Incidents in the store: create (idempotently), read, list, move through the lifecycle, count.

Every method takes the :class:`~geogrid.access.Caller` and enforces, in one place, what the
caller may do (:data:`geogrid.access.ROLE_PERMISSIONS`) and where (its grid subtree); answers
carry the reporter's contact masked for roles that do not need it; every read and change
writes an audit row **in the same transaction**, so a change is never left unaudited and a
failure writes nothing. A refused request is audited too (in its own transaction).

Idempotency: :meth:`IncidentStore.create_incident` with an ``idempotency_key`` claims the key
(unique per caller) in the transaction that inserts the incident. A retry with the same key
and the same report returns the same incident (``replayed=True``); a different report gets
:class:`~geogrid.errors.IdempotencyConflictError`. Two retries racing each other:
the second waits for the first's unique-key insert (PostgreSQL) or write lock (SQLite), then
finds its row and replays it — never a second incident.

Examples
--------
>>> import datetime as dt
>>> import tempfile
>>> from geogrid.access import Caller, Role
>>> from geogrid.incidents import IncidentReport, Placement, Status
>>> from geogrid.store import open_store
>>> folder = tempfile.TemporaryDirectory()
>>> store = open_store(f"sqlite:///{folder.name}/plans.gpkg")
>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> from geogrid.plan import GridPlan
>>> area = box(116.29, 39.99, 116.31, 40.00)
>>> grids = gpd.GeoDataFrame({"code": ["110108001", "110108001001"], "name": ["社区", "网格一"],
...                           "level": [1, 2], "parent_code": [None, "110108001"]},
...                          geometry=[area, area], crs=4490)
>>> _ = store.save(GridPlan("示例", ["社区", "网格"], grids), by="张三")  # scopes follow it
>>> incidents = store.incidents()
>>> app = Caller("居民上报App", Role.REPORTER, key_id=7)
>>> report = IncidentReport("environment", "垃圾堆放", 116.305, 39.995, "gcj02",
...                         reporter_name="张三", reporter_phone="13800000001")
>>> where = Placement(116.2990, 39.9937, ("110108001", "110108001001"))
>>> t0 = dt.datetime(2026, 3, 2, 8, tzinfo=dt.UTC)
>>> created = incidents.create_incident(report, where, caller=app, idempotency_key="a1", at=t0)
>>> created.incident.reference, created.incident.reporter_phone, created.replayed
('20260302-000001', '138****0001', False)
>>> again = incidents.create_incident(report, where, caller=app, idempotency_key="a1")
>>> again.incident.id == created.incident.id, again.replayed
(True, True)
>>> worker = Caller("王芳", Role.WORKER, grid_code="110108001001")
>>> case = incidents.transition(created.incident.id, Status.ACCEPTED, caller=worker)
>>> case.status.value, case.reporter_phone
('accepted', '13800000001')
>>> store.close()
>>> folder.cleanup()
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geogrid.access import Caller, Permission, Subtree, mask_incident, require
from geogrid.errors import (
    AccessDeniedError,
    IdempotencyConflictError,
    InvalidIncidentError,
    NotFoundError,
    PreconditionFailedError,
    StoreError,
)
from geogrid.incidents import (
    DEFAULT_POLICY,
    DEFAULT_TAXONOMY,
    OPEN_STATUSES,
    CaseFacts,
    DeadlinePolicy,
    Event,
    EventAction,
    GridStats,
    Incident,
    IncidentReport,
    Placement,
    StaffMember,
    Status,
    Taxonomy,
    Urgency,
    apply_transition,
    grid_stats,
    incident_etag,
    open_incident,
    reference_number,
    request_hash,
)
from geogrid.store import schema
from geogrid.store._session import now_ms, to_ms, write_transaction
from geogrid.store.access import MAX_PAGE, insert_audit
from geogrid.store.scope import subtree, subtree_condition

__all__ = ["MAX_IDEMPOTENCY_KEY", "RECONNECT_RETRIES", "Created", "IncidentPage", "IncidentStore"]

MAX_IDEMPOTENCY_KEY = 255
"""Longest idempotency key accepted, in characters."""

RECONNECT_RETRIES = 3
"""Retries of a keyed report whose database connection was lost (e.g. PostgreSQL restarted)."""

IncidentRef = int | str
"""An incident's id (``int``) or public reference (``"20260302-000001"``)."""

_T = schema.incidents
_LEVELS = [_T.c[name] for name in schema.LEVEL_COLUMNS]


@dataclasses.dataclass(frozen=True)
class Created:
    """Answer of :meth:`IncidentStore.create_incident`.

    Attributes
    ----------
    incident
        The incident (masked for the caller's role).
    replayed
        ``True`` when the idempotency key had been used with the same report: ``incident``
        is the one created then, and nothing new was stored.
    """

    incident: Incident
    replayed: bool


@dataclasses.dataclass(frozen=True)
class IncidentPage:
    """One page of :meth:`IncidentStore.list_incidents`, last stored first (by id).

    Attributes
    ----------
    items
        The incidents of this page (masked for the caller's role).
    total
        How many incidents match the filters, on all pages.
    next_before_id
        Pass as ``before_id`` for the next page; ``None`` on the last page.
    """

    items: list[Incident]
    total: int
    next_before_id: int | None


class IncidentStore:
    """Incidents of one store (PostGIS or GeoPackage); get one with ``store.incidents()``.

    Parameters
    ----------
    engine
        A migrated engine of the store.
    taxonomy
        The categories reports may use (default :data:`~geogrid.incidents.DEFAULT_TAXONOMY`).
    policy
        Deadlines and escalation (default :data:`~geogrid.incidents.DEFAULT_POLICY`).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        taxonomy: Taxonomy = DEFAULT_TAXONOMY,
        policy: DeadlinePolicy = DEFAULT_POLICY,
    ) -> None:
        self._engine = engine
        self.taxonomy = taxonomy
        self.policy = policy

    # -- writing -----------------------------------------------------------------------------

    def create_incident(
        self,
        report: IncidentReport,
        placement: Placement,
        *,
        caller: Caller,
        idempotency_key: str | None = None,
        at: dt.datetime | None = None,
    ) -> Created:
        """Store a new incident reported by ``caller``, in status ``reported``; all or nothing.

        Parameters
        ----------
        report
            What was sent (category, description, the point as sent and its CRS, contact,
            photos).
        placement
            Where the service put it: the point in EPSG:4490, the grid code at every level,
            the plan version and the staff of the finest grid.
        caller
            Who reports; needs :attr:`~geogrid.access.Permission.REPORT`.
        idempotency_key
            The client's ``Idempotency-Key``: a retry with the same key and report returns
            the first answer; with another report raises
            :class:`~geogrid.errors.IdempotencyConflictError`. Keys are per caller.
            With a key, a lost connection (e.g. PostgreSQL restarting) is retried up to
            :data:`RECONNECT_RETRIES` times: safe, since a retry of a committed report is a
            replay. Without a key the error is raised (a blind retry could duplicate).
        at
            Report time (default: now); for imports from older systems and tests.

        Returns
        -------
        Created
            The incident and whether it was a replay.
        """
        key = _check_idempotency_key(idempotency_key)
        digest = request_hash(report)
        at = to_ms(at) if at else now_ms()
        draft = open_incident(
            report, placement, at=at, by=caller.name, taxonomy=self.taxonomy, policy=self.policy
        )
        with self._denials(caller, "incident.create", None):
            require(caller, Permission.REPORT)
        for attempt in itertools.count():
            try:
                return self._create(report, draft, caller, key, digest)
            except StoreError as exc:
                if key is None or attempt >= RECONNECT_RETRIES or not _disconnected(exc):
                    raise
                time.sleep(0.1 * 2**attempt)  # the server restarts: the pool reconnects
        raise AssertionError("unreachable")  # pragma: no cover

    def _create(
        self, report: IncidentReport, draft: Incident, caller: Caller, key: str | None, digest: str
    ) -> Created:
        with write_transaction(self._engine, "report an incident") as connection:
            if key is not None:
                claim = _claim(connection, caller.identity, key, digest, draft.created_at)
                if claim is not None:
                    replayed = self._replay(connection, claim, digest, key, caller, report)
                    return Created(replayed, True)
            incident = _insert_incident(connection, draft)
            if key is not None:
                _bind_claim(connection, caller.identity, key, incident.id)
            details = {"reference": incident.reference, "grid_code": incident.grid_code}
            insert_audit(connection, caller, "incident.create", "incident", incident.id, details)
        return Created(mask_incident(incident, caller), False)

    def transition(
        self,
        ref: IncidentRef,
        target: Status | str,
        *,
        caller: Caller,
        note: str = "",
        assignee: str | None = None,
        at: dt.datetime | None = None,
        if_match: str | None = None,
    ) -> Incident:
        """Move incident ``ref`` to status ``target`` (see :data:`~geogrid.incidents.TRANSITIONS`).

        ``if_match``, an :func:`~geogrid.incidents.incident_etag` read earlier, makes the move
        conditional: when the incident changed since, nothing is written and
        :class:`~geogrid.errors.PreconditionFailedError` is raised (HTTP 412).

        The change, its history events (and an escalation, when the rule fires) and the audit
        row are written in one transaction, with the incident row locked. Raises
        :class:`~geogrid.errors.TransitionError` for a move the lifecycle forbids,
        :class:`~geogrid.errors.NotFoundError` for an incident missing or outside the
        caller's grids, :class:`~geogrid.errors.AccessDeniedError` for a role that
        may not change incidents.
        """
        given = to_ms(at) if at else None
        with self._denials(caller, "incident.transition", ref):
            require(caller, Permission.CHANGE_INCIDENTS)
            with write_transaction(self._engine, "change an incident") as connection:
                current = _load(connection, ref, caller, lock=True)
                if if_match is not None and if_match.strip() not in (
                    "*",
                    incident_etag(current),
                ):
                    raise PreconditionFailedError(
                        f"incident {current.reference} changed since you read it (it is now "
                        f"{current.status.value}): read it again, then retry"
                    )
                # now, read under the lock (never before the last change, whatever the clocks)
                when = given or max(now_ms(), current.updated_at)
                moved, events = apply_transition(
                    current,
                    target,
                    by=caller.name,
                    role=caller.role.value,
                    at=when,
                    note=note,
                    assignee=assignee,
                    policy=self.policy,
                )
                _update_incident(connection, moved)
                _insert_events(connection, moved, events)
                details = {
                    "from": current.status,
                    "to": moved.status,
                    "escalated": len(events) > 1,
                }
                insert_audit(
                    connection, caller, "incident.transition", "incident", moved.id, details
                )
        return mask_incident(moved, caller)

    # -- reading -----------------------------------------------------------------------------

    def get_incident(self, ref: IncidentRef, *, caller: Caller) -> Incident:
        """Incident ``ref`` (id or reference), if ``caller`` may read it; the read is audited.

        An incident outside the caller's grids is answered like a missing one
        (:class:`~geogrid.errors.NotFoundError`), so a caller cannot learn it exists.
        """
        with self._denials(caller, "incident.read", ref):
            require(caller, Permission.READ_INCIDENTS)
            with write_transaction(self._engine, "read an incident") as connection:
                incident = _load(connection, ref, caller)
                details = {"personal": caller.can(Permission.READ_PERSONAL)}
                insert_audit(connection, caller, "incident.read", "incident", incident.id, details)
        return mask_incident(incident, caller)

    def history(self, ref: IncidentRef, *, caller: Caller) -> list[Event]:
        """Every event of incident ``ref``, oldest first (creation, transitions, escalations)."""
        with self._denials(caller, "incident.history", ref):
            require(caller, Permission.READ_INCIDENTS)
            with write_transaction(self._engine, "read an incident's history") as connection:
                incident = _load(connection, ref, caller)
                events = _events(connection, incident.id)
                insert_audit(connection, caller, "incident.history", "incident", incident.id, {})
        return events

    def list_incidents(
        self,
        *,
        caller: Caller,
        grid_code: str | None = None,
        status: Status | str | Iterable[Status | str] | None = None,
        category: str | Iterable[str] | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        overdue: bool | None = None,
        now: dt.datetime | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> IncidentPage:
        """Incidents the caller may read, last stored first (by id), filtered and paged.

        Parameters
        ----------
        caller
            Needs :attr:`~geogrid.access.Permission.READ_INCIDENTS`; sees its subtree only.
        grid_code
            Only incidents in this grid's subtree (a grid of any level by parent links, or a
            code above the plans such as a street's: :class:`~geogrid.access.Subtree`).
        status, category
            One value or several.
        since, until
            Reported at or after ``since`` and before ``until``.
        overdue
            ``True``: only open cases past their deadline at ``now``; ``False``: the others.
        now
            The instant for ``overdue`` (default: now).
        limit, before_id
            Page size (1 to 500) and the ``next_before_id`` of the previous page.
        """
        statuses, categories = _statuses(status), _texts(category)
        filters = {
            "grid_code": grid_code,
            "status": statuses,
            "category": categories,
            "since": since,
            "until": until,
            "overdue": overdue,
        }
        now = to_ms(now) if now else now_ms()
        limit = _limit(limit)
        with self._denials(caller, "incident.list", None):
            require(caller, Permission.READ_INCIDENTS)
            with write_transaction(self._engine, "list incidents") as connection:
                conditions = _conditions(
                    connection,
                    caller,
                    now=now,
                    grid_code=grid_code,
                    status=statuses,
                    category=categories,
                    since=since,
                    until=until,
                    overdue=overdue,
                )
                page = conditions + ([_T.c.id < int(before_id)] if before_id is not None else [])
                query = sa.select(_T).where(*page).order_by(_T.c.id.desc()).limit(limit + 1)
                rows = connection.execute(query).all()
                total = connection.scalar(
                    sa.select(sa.func.count()).select_from(_T).where(*conditions)
                )
                items = [_incident_from_row(row) for row in rows[:limit]]
                details = {
                    "filters": {k: v for k, v in filters.items() if v is not None},
                    "ids": [i.id for i in items],
                    "personal": caller.can(Permission.READ_PERSONAL),
                }
                insert_audit(connection, caller, "incident.list", "incident", None, details)
        more = len(rows) > limit
        return IncidentPage(
            items=[mask_incident(i, caller) for i in items],
            total=int(total or 0),
            next_before_id=items[-1].id if more and items else None,
        )

    def stats(
        self,
        *,
        caller: Caller,
        level: int | None = None,
        grid_code: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        now: dt.datetime | None = None,
    ) -> list[GridStats]:
        """Counts, closure rate (办结率), median time to close and overdue cases per grid.

        Parameters
        ----------
        caller
            Needs :attr:`~geogrid.access.Permission.READ_STATS`; figures cover its subtree
            only, and grids above its own are left out.
        level
            One level (1 = top); ``None``: every level.
        grid_code
            Only grids in this subtree.
        since, until
            Incidents reported in ``[since, until)``.
        now
            The instant for ``overdue`` (default: now).

        Returns
        -------
        list of GridStats
            One per grid with at least one incident, by level then code.
        """
        if level is not None and (
            isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 6
        ):
            raise InvalidIncidentError(f"level must be 1 to 6, got {level!r}")
        now = to_ms(now) if now else now_ms()
        with self._denials(caller, "incident.stats", None):
            require(caller, Permission.READ_STATS)
            columns = [_T.c.status, _T.c.created_at, _T.c.closed_at, _T.c.deadline, *_LEVELS]
            with write_transaction(self._engine, "count incidents") as connection:
                scopes = _scopes(connection, caller, grid_code)
                conditions = _conditions(
                    connection, caller, grid_code=grid_code, since=since, until=until, now=now
                )
                rows = connection.execute(sa.select(*columns).where(*conditions)).all()
                details = {"level": level, "grid_code": grid_code, "since": since, "until": until}
                insert_audit(connection, caller, "incident.stats", "incident", None, details)
        return _group_stats(
            rows, level, now, lambda lineage: all(s.contains(lineage) for s in scopes)
        )

    # -- helpers -----------------------------------------------------------------------------

    def _replay(
        self,
        connection: sa.Connection,
        claim: sa.Row[Any],
        digest: str,
        key: str,
        caller: Caller,
        report: IncidentReport,
    ) -> Incident:
        """The first answer again: the incident as it was created, whatever happened since."""
        if claim.request_hash != digest:
            raise IdempotencyConflictError(
                f"the Idempotency-Key {key!r} was used on {claim.created_at:%Y-%m-%d %H:%M} UTC "
                "with a different report: send the same report to retry it, or a new key for a "
                "new report"
            )
        incident = _load(connection, int(claim.incident_id), None)
        details = {"reference": incident.reference, "idempotency_key": key}
        insert_audit(connection, caller, "incident.replay", "incident", incident.id, details)
        return mask_incident(self._as_created(incident, report), caller)

    def _as_created(self, stored: Incident, report: IncidentReport) -> Incident:
        """``stored`` as :func:`~geogrid.incidents.open_incident` made it from ``report``."""
        where = Placement(
            stored.lon,
            stored.lat,
            stored.level_codes,
            stored.plan_name,
            stored.plan_version,
            stored.staff,
        )
        opened = open_incident(
            report,
            where,
            at=stored.created_at,
            by=stored.created_by,
            taxonomy=self.taxonomy,
            policy=self.policy,
        )
        return dataclasses.replace(opened, id=stored.id, reference=stored.reference)

    @contextmanager
    def _denials(self, caller: Caller, action: str, ref: IncidentRef | None) -> Iterator[None]:
        """Audit a refusal (in its own transaction) before it reaches the caller."""
        try:
            yield
        except (AccessDeniedError, NotFoundError) as exc:
            details = {"denied": type(exc).__name__, "reason": str(exc)}
            object_id = None if ref is None else str(ref)
            with write_transaction(self._engine, "write the audit log") as connection:
                insert_audit(connection, caller, action, "incident", object_id, details)
            raise


# -- idempotency -------------------------------------------------------------------------------


def _disconnected(exc: StoreError) -> bool:
    """Whether ``exc`` comes from a lost connection (the pool has dropped it; a retry reconnects)."""
    cause = exc.__cause__
    return isinstance(cause, sa.exc.DBAPIError) and bool(cause.connection_invalidated)


def _check_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidIncidentError(
            f"an Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters, e.g. a UUID"
        )
    return key.strip()


def _claim(
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


def _bind_claim(connection: sa.Connection, owner: str, key: str, incident_id: int | None) -> None:
    table = schema.idempotency_keys
    connection.execute(
        table.update()
        .where(table.c.owner == owner, table.c.key == key)
        .values(incident_id=incident_id)
    )


# -- rows --------------------------------------------------------------------------------------


def _insert_incident(connection: sa.Connection, draft: Incident) -> Incident:
    values = _values(draft)
    values["reference"] = f"pending-{uuid.uuid4().hex}"
    incident_id = int(
        connection.execute(_T.insert().values(values).returning(_T.c.id)).scalar_one()
    )
    reference = reference_number(incident_id, draft.created_at)
    connection.execute(_T.update().where(_T.c.id == incident_id).values(reference=reference))
    incident = dataclasses.replace(draft, id=incident_id, reference=reference)
    report = Event(
        EventAction.REPORT,
        None,
        Status.REPORTED,
        incident.urgency,
        incident.created_by,
        "",
        incident.created_at,
    )
    _insert_events(connection, incident, [report])
    return _load(connection, incident_id, None)


def _update_incident(connection: sa.Connection, incident: Incident) -> None:
    values = {
        k: v
        for k, v in _values(incident).items()
        if k
        in {
            "status",
            "urgency",
            "assignee",
            "updated_at",
            "closed_at",
            "deadline",
            "attempts",
            "escalated_at",
        }
    }
    connection.execute(_T.update().where(_T.c.id == incident.id).values(values))


def _insert_events(connection: sa.Connection, incident: Incident, events: list[Event]) -> None:
    rows = [
        {
            "incident_id": incident.id,
            "action": e.action.value,
            "from_status": None if e.from_status is None else e.from_status.value,
            "to_status": e.to_status.value,
            "urgency": e.urgency.value,
            "actor": e.by,
            "role": e.role,
            "at": e.at,
            "note": e.note or "",
        }
        for e in events
    ]
    connection.execute(schema.incident_events.insert(), rows)


def _values(incident: Incident) -> dict[str, Any]:
    codes = list(incident.level_codes) + [None] * (len(_LEVELS) - len(incident.level_codes))
    return {
        "category": incident.category,
        "description": incident.description,
        "urgency": incident.urgency.value,
        "status": incident.status.value,
        "lon": incident.lon,
        "lat": incident.lat,
        "original_lon": incident.original_lon,
        "original_lat": incident.original_lat,
        "original_crs": incident.original_crs,
        "plan_name": incident.plan_name,
        "plan_version": incident.plan_version,
        **dict(zip(schema.LEVEL_COLUMNS, codes, strict=True)),
        "grid_code": incident.grid_code,
        "staff": [dataclasses.asdict(s) for s in incident.staff],
        "assignee": incident.assignee,
        "reporter_name": incident.reporter_name,
        "reporter_phone": incident.reporter_phone,
        "photos": list(incident.photos),
        "created_by": incident.created_by,
        "created_at": incident.created_at,
        "updated_at": incident.updated_at,
        "closed_at": incident.closed_at,
        "deadline": incident.deadline,
        "attempts": incident.attempts,
        "escalated_at": incident.escalated_at,
    }


def _incident_from_row(row: Any) -> Incident:
    codes = tuple(code for code in (row._mapping[c.name] for c in _LEVELS) if code is not None)
    return Incident(
        id=row.id,
        reference=row.reference,
        category=row.category,
        description=row.description,
        urgency=Urgency(row.urgency),
        status=Status(row.status),
        lon=row.lon,
        lat=row.lat,
        original_lon=row.original_lon,
        original_lat=row.original_lat,
        original_crs=row.original_crs,
        level_codes=codes,
        plan_name=row.plan_name,
        plan_version=row.plan_version,
        staff=tuple(StaffMember(**s) for s in row.staff or []),
        assignee=row.assignee,
        reporter_name=row.reporter_name,
        reporter_phone=row.reporter_phone,
        photos=tuple(row.photos or []),
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        closed_at=row.closed_at,
        deadline=row.deadline,
        attempts=row.attempts,
        escalated_at=row.escalated_at,
    )


def _load(
    connection: sa.Connection, ref: IncidentRef, caller: Caller | None, *, lock: bool = False
) -> Incident:
    """Incident ``ref``; missing or outside ``caller``'s grids: :class:`NotFoundError`."""
    if isinstance(ref, bool) or not isinstance(ref, int | str):
        raise InvalidIncidentError(f"an incident is named by its id or reference, got {ref!r}")
    column = _T.c.id if isinstance(ref, int) else _T.c.reference
    query = sa.select(_T).where(column == ref)
    if lock:
        query = query.with_for_update()
    row = connection.execute(query).first()
    if row is None or not all(s.contains(_lineage(row)) for s in _scopes(connection, caller)):
        raise NotFoundError(
            f"no incident {ref!r}"
            + ("" if caller is None or caller.grid_code is None else f" in grid {caller.grid_code}")
            + ": check the id or reference (store.incidents().list_incidents(...) lists them)"
        )
    return _incident_from_row(row)


def _events(connection: sa.Connection, incident_id: int | None) -> list[Event]:
    table = schema.incident_events
    query = sa.select(table).where(table.c.incident_id == incident_id).order_by(table.c.id)
    return [
        Event(
            action=EventAction(row.action),
            from_status=None if row.from_status is None else Status(row.from_status),
            to_status=Status(row.to_status),
            urgency=Urgency(row.urgency),
            by=row.actor,
            role=row.role,
            at=row.at,
            note=row.note,
        )
        for row in connection.execute(query)
    ]


# -- filters -----------------------------------------------------------------------------------


def _scopes(
    connection: sa.Connection, caller: Caller | None, grid_code: str | None = None
) -> list[Subtree]:
    """The subtrees an incident must lie in: the caller's and the asked grid's, if any."""
    codes = [None if caller is None else caller.grid_code, grid_code]
    return [subtree(connection, _code(code)) for code in codes if code is not None]


def _lineage(row: Any) -> tuple[str, ...]:
    """The level codes an incident was located in, top level first."""
    codes = (row._mapping[name] for name in schema.LEVEL_COLUMNS)
    return tuple(code for code in codes if code)


def _conditions(
    connection: sa.Connection,
    caller: Caller,
    *,
    now: dt.datetime,
    grid_code: str | None = None,
    status: list[str] | None = None,
    category: list[str] | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    overdue: bool | None = None,
) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    for within in _scopes(connection, caller, grid_code):
        conditions.append(subtree_condition(_LEVELS, within))
    if status:
        conditions.append(_T.c.status.in_(status))
    if category:
        conditions.append(_T.c.category.in_(category))
    if since is not None:
        conditions.append(_T.c.created_at >= since)
    if until is not None:
        conditions.append(_T.c.created_at < until)
    if overdue is not None:
        late = sa.and_(_T.c.status.in_([s.value for s in OPEN_STATUSES]), _T.c.deadline < now)
        conditions.append(late if overdue else sa.not_(late))
    return conditions


def _code(code: str) -> str:
    if not isinstance(code, str) or not code.strip():
        raise InvalidIncidentError(f"a grid code must be non-empty text, got {code!r}")
    return code.strip()


def _statuses(value: Status | str | Iterable[Status | str] | None) -> list[str] | None:
    values = _texts(value)
    if values is None:
        return None
    names = {s.value for s in Status}
    unknown = [v for v in values if v not in names]
    if unknown:
        raise InvalidIncidentError(
            f"unknown status {unknown[0]!r}: use one of {', '.join(s.value for s in Status)}"
        )
    return values


def _texts(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    values = [value] if isinstance(value, str) else list(value)
    return [str(v) for v in values] or None


def _limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidIncidentError(f"limit must be 1 to {MAX_PAGE}, got {limit!r}")
    return limit


# -- statistics --------------------------------------------------------------------------------


def _group_stats(
    rows: Sequence[Any],
    level: int | None,
    now: dt.datetime,
    keep: Callable[[tuple[str, ...]], bool],
) -> list[GridStats]:
    """Figures per (level, grid) for the grids whose lineage ``keep`` accepts."""
    levels = [level] if level is not None else list(range(1, len(_LEVELS) + 1))
    groups: defaultdict[tuple[int, str], list[CaseFacts]] = defaultdict(list)
    for row in rows:
        facts = CaseFacts(Status(row.status), row.created_at, row.closed_at, row.deadline)
        lineage = _lineage(row)
        for n in levels:
            if n <= len(lineage) and keep(lineage[:n]):
                groups[(n, lineage[n - 1])].append(facts)
    return [grid_stats(code, n, cases, now) for (n, code), cases in sorted(groups.items())]
