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

The store's helpers live beside it: :mod:`geogrid.store.idempotency` (the keys),
:mod:`geogrid.store.incident_rows` (incidents and events as rows),
:mod:`geogrid.store.incident_filters` (what a request sees) and
:mod:`geogrid.store.incident_stats` (figures per grid).

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
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geogrid.access import Caller, Permission, mask_incident, require
from geogrid.errors import (
    AccessDeniedError,
    IdempotencyConflictError,
    InvalidIncidentError,
    NotFoundError,
    PreconditionFailedError,
    StoreError,
)
from geogrid.incidents import (
    DEFAULT_CHAIN,
    DEFAULT_POLICY,
    DEFAULT_TAXONOMY,
    DeadlinePolicy,
    Event,
    GridStats,
    Incident,
    IncidentReport,
    Placement,
    ReferralChain,
    Status,
    Taxonomy,
    apply_transition,
    incident_etag,
    open_incident,
    refer_overdue,
    referral_tier,
    request_hash,
)
from geogrid.store import schema
from geogrid.store._session import now_ms, to_ms, write_transaction
from geogrid.store.access import insert_audit
from geogrid.store.idempotency import (
    MAX_IDEMPOTENCY_KEY,
    bind_claim,
    check_idempotency_key,
    claim_key,
    disconnected,
)
from geogrid.store.incident_bulk import History, write_histories
from geogrid.store.incident_filters import (
    LEVELS,
    filter_conditions,
    page_limit,
    scopes_for,
    status_filter,
    text_filter,
)
from geogrid.store.incident_rows import (
    IncidentRef,
    create_details,
    incident_from_row,
    insert_events,
    insert_incident,
    load_events,
    load_incident,
    referral_details,
    transition_details,
    update_incident,
)
from geogrid.store.incident_stats import group_stats, sql_stats

__all__ = [
    "MAX_IDEMPOTENCY_KEY",
    "RECONNECT_RETRIES",
    "Created",
    "IncidentPage",
    "IncidentStore",
    "Relocate",
]

Relocate = Callable[[np.ndarray, np.ndarray], Sequence[tuple[str, ...]]]
"""Incident lon/lat arrays → each point's grid codes, top level first, in today's plans."""

RECONNECT_RETRIES = 3
"""Retries of a keyed report whose database connection was lost (e.g. PostgreSQL restarted)."""

_T = schema.incidents


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
        key = check_idempotency_key(idempotency_key)
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
                if key is None or attempt >= RECONNECT_RETRIES or not disconnected(exc):
                    raise
                time.sleep(0.1 * 2**attempt)  # the server restarts: the pool reconnects
        raise AssertionError("unreachable")  # pragma: no cover

    def _create(
        self, report: IncidentReport, draft: Incident, caller: Caller, key: str | None, digest: str
    ) -> Created:
        with write_transaction(self._engine, "report an incident") as connection:
            if key is not None:
                claim = claim_key(connection, caller.identity, key, digest, draft.created_at)
                if claim is not None:
                    replayed = self._replay(connection, claim, digest, key, caller, report)
                    return Created(replayed, True)
            incident = insert_incident(connection, draft, caller.role.value)
            if key is not None:
                bind_claim(connection, caller.identity, key, incident.id)
            details = create_details(incident)
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
                current = load_incident(connection, ref, caller, lock=True)
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
                update_incident(connection, moved)
                insert_events(connection, moved, events)
                details = transition_details(current.status, moved, events)
                insert_audit(
                    connection, caller, "incident.transition", "incident", moved.id, details
                )
        return mask_incident(moved, caller)

    def refer_overdue(
        self,
        ref: IncidentRef,
        *,
        caller: Caller,
        at: dt.datetime | None = None,
        chain: ReferralChain = DEFAULT_CHAIN,
    ) -> Incident:
        """Refer overdue incident ``ref`` one tier up (网格 → 社区 → 街道 → 部门).

        The tier reached is counted from the history (:func:`~geogrid.incidents.referral_tier`);
        the rule is :func:`~geogrid.incidents.refer_overdue`. The change, its ``escalate``
        event and an ``incident.refer`` audit row are written in one transaction, with the
        incident row locked. Raises :class:`~geogrid.errors.TransitionError` when the case is
        not yet due, closed or rejected, or at the top tier.
        """
        given = to_ms(at) if at else None
        with self._denials(caller, "incident.refer", ref):
            require(caller, Permission.CHANGE_INCIDENTS)
            with write_transaction(self._engine, "refer an incident") as connection:
                current = load_incident(connection, ref, caller, lock=True)
                tier = referral_tier(load_events(connection, current.id))
                when = given or max(now_ms(), current.updated_at)
                moved, events = refer_overdue(
                    current,
                    tier=tier,
                    at=when,
                    by=caller.name,
                    role=caller.role.value,
                    chain=chain,
                    policy=self.policy,
                )
                update_incident(connection, moved)
                insert_events(connection, moved, events)
                details = referral_details(chain, tier, moved)
                insert_audit(connection, caller, "incident.refer", "incident", moved.id, details)
        return mask_incident(moved, caller)

    def import_histories(
        self,
        histories: Sequence[History],
        *,
        caller: Caller,
        progress: Callable[[int], None] | None = None,
    ) -> list[int]:
        """Store many incidents with their whole history in one transaction; their ids.

        For imports and simulations (:mod:`geogrid.store.incident_bulk`): the rows are those
        :meth:`create_incident`, :meth:`transition` and :meth:`refer_overdue` write for the
        same changes, made in time order. ``caller`` (who imports) needs to report and change
        incidents everywhere (an admin bound to no grid). The histories are written as given:
        make them with the rules (:func:`geogrid.incidents.timeline.replay` does), since
        nothing here checks them again.
        """
        with self._denials(caller, "incident.import", None):
            require(caller, Permission.REPORT)
            require(caller, Permission.CHANGE_INCIDENTS)
            if caller.grid_code is not None:
                raise AccessDeniedError(
                    f"{caller.name} covers grid {caller.grid_code} only: an import needs a "
                    "caller bound to no grid"
                )
        return write_histories(self._engine, histories, progress=progress)

    # -- reading -----------------------------------------------------------------------------

    def get_incident(self, ref: IncidentRef, *, caller: Caller) -> Incident:
        """Incident ``ref`` (id or reference), if ``caller`` may read it; the read is audited.

        An incident outside the caller's grids is answered like a missing one
        (:class:`~geogrid.errors.NotFoundError`), so a caller cannot learn it exists.
        """
        with self._denials(caller, "incident.read", ref):
            require(caller, Permission.READ_INCIDENTS)
            with write_transaction(self._engine, "read an incident") as connection:
                incident = load_incident(connection, ref, caller)
                details = {"personal": caller.can(Permission.READ_PERSONAL)}
                insert_audit(connection, caller, "incident.read", "incident", incident.id, details)
        return mask_incident(incident, caller)

    def history(self, ref: IncidentRef, *, caller: Caller) -> list[Event]:
        """Every event of incident ``ref``, oldest first (creation, transitions, escalations)."""
        with self._denials(caller, "incident.history", ref):
            require(caller, Permission.READ_INCIDENTS)
            with write_transaction(self._engine, "read an incident's history") as connection:
                incident = load_incident(connection, ref, caller)
                events = load_events(connection, incident.id)
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
        statuses, categories = status_filter(status), text_filter(category)
        filters = {
            "grid_code": grid_code,
            "status": statuses,
            "category": categories,
            "since": since,
            "until": until,
            "overdue": overdue,
        }
        now = to_ms(now) if now else now_ms()
        limit = page_limit(limit)
        with self._denials(caller, "incident.list", None):
            require(caller, Permission.READ_INCIDENTS)
            with write_transaction(self._engine, "list incidents") as connection:
                conditions = filter_conditions(
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
                items = [incident_from_row(row) for row in rows[:limit]]
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
        relocate: Relocate | None = None,
        in_database: bool | None = None,
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
        relocate
            Group by the grids as they are now instead of as reported: a function giving,
            for arrays of incident lon/lat (CGCS2000), each point's grid codes from the top
            level down in today's plans (e.g. ``lambda x, y: index.locate(x, y,
            nearest=False).lineages()``). Scopes then apply to today's grids.
        in_database
            Where the rows are grouped. ``None`` (default): by PostgreSQL when the store is
            PostGIS and ``relocate`` is not given (one ``GROUP BY``, nothing but the figures
            leaves the database: a year of a county in about a second), else in Python.
            ``True`` asks for the database (PostgreSQL only, without ``relocate``);
            ``False`` for Python. Both give the same figures.

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
        grouped_in_sql = self._stats_in_database(in_database, relocate)
        with self._denials(caller, "incident.stats", None):
            require(caller, Permission.READ_STATS)
            columns = [_T.c.status, _T.c.created_at, _T.c.closed_at, _T.c.deadline, *LEVELS]
            columns += [_T.c.lon, _T.c.lat] if relocate is not None else []
            with write_transaction(self._engine, "count incidents") as connection:
                scopes = scopes_for(connection, caller, grid_code)
                figures = None
                if grouped_in_sql:  # None: a code under two lineages, grouped in Python
                    conditions = filter_conditions(
                        connection, caller, since=since, until=until, now=now, scoped=False
                    )
                    figures = sql_stats(connection, conditions, level, now, scopes)
                if figures is None:
                    conditions = filter_conditions(
                        connection,
                        caller,
                        grid_code=grid_code,
                        since=since,
                        until=until,
                        now=now,
                        scoped=relocate is None,
                    )
                    rows = connection.execute(sa.select(*columns).where(*conditions)).all()
                details = {
                    "level": level,
                    "grid_code": grid_code,
                    "since": since,
                    "until": until,
                    "grouped": "reported" if relocate is None else "current",
                }
                insert_audit(connection, caller, "incident.stats", "incident", None, details)
        if figures is not None:
            return figures
        lineages = None
        if relocate is not None:
            lon = np.array([row.lon for row in rows], dtype=float)
            lat = np.array([row.lat for row in rows], dtype=float)
            lineages = relocate(lon, lat) if len(rows) else []
        return group_stats(
            rows, level, now, lambda lineage: all(s.contains(lineage) for s in scopes), lineages
        )

    def _stats_in_database(self, asked: bool | None, relocate: Relocate | None) -> bool:
        """Whether :meth:`stats` groups in PostgreSQL (``asked``: the caller's choice)."""
        postgres = self._engine.dialect.name == "postgresql"
        if not asked:
            return asked is None and postgres and relocate is None
        if not postgres or relocate is not None:
            raise InvalidIncidentError(
                "statistics are grouped in the database on PostgreSQL only, and never when "
                "regrouped by today's grids (relocate): leave in_database unset"
            )
        return True

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
        incident = load_incident(connection, int(claim.incident_id), None)
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
