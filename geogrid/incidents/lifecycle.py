"""An incident (事件) and its lifecycle: the report, its placement, transitions, escalation.

Everything here is pure: no database, no clock (times are passed in). The lifecycle and the
escalation rule are described in :mod:`geogrid.incidents`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any, NamedTuple

import pandas as pd

from geogrid.errors import InvalidIncidentError, TransitionError
from geogrid.incidents.taxonomy import DEFAULT_TAXONOMY, Taxonomy
from geogrid.incidents.urgency import DEFAULT_POLICY, DeadlinePolicy, Urgency
from geogrid.plan import GridPlan
from geogrid.text import text_problem

__all__ = [
    "FAILED_ATTEMPTS",
    "MAX_DESCRIPTION",
    "MAX_PHOTOS",
    "OPEN_STATUSES",
    "TRANSITIONS",
    "CaseFacts",
    "Event",
    "EventAction",
    "Incident",
    "IncidentReport",
    "Placement",
    "StaffMember",
    "Status",
    "apply_transition",
    "check_transition",
    "incident_etag",
    "is_overdue",
    "open_incident",
    "reference_number",
    "request_hash",
    "should_escalate",
]

MAX_DESCRIPTION = 5000
"""Longest description accepted, in characters."""

MAX_PHOTOS = 20
"""Most photo references one incident may carry."""


class Status(StrEnum):
    """Where an incident is in its lifecycle."""

    REPORTED = "reported"  # 上报: received, not yet looked at
    ACCEPTED = "accepted"  # 受理: taken on by the grid
    DISPATCHED = "dispatched"  # 派遣: sent to the worker or department that handles it
    HANDLED = "handled"  # 处置: the handler says it is done
    FEEDBACK = "feedback"  # 反馈: the reporter / grid confirmed the result
    CLOSED = "closed"  # 办结: finished
    REJECTED = "rejected"  # 不予受理: not a case for the grid (duplicate, out of scope ...)
    REOPENED = "reopened"  # 重启: a closed or rejected case taken up again


TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    Status.REPORTED: frozenset({Status.ACCEPTED, Status.REJECTED}),
    Status.ACCEPTED: frozenset({Status.DISPATCHED, Status.REJECTED}),
    Status.DISPATCHED: frozenset({Status.HANDLED, Status.ACCEPTED}),
    Status.HANDLED: frozenset({Status.FEEDBACK, Status.DISPATCHED}),
    Status.FEEDBACK: frozenset({Status.CLOSED, Status.DISPATCHED}),
    Status.CLOSED: frozenset({Status.REOPENED}),
    Status.REJECTED: frozenset({Status.REOPENED}),
    Status.REOPENED: frozenset({Status.ACCEPTED, Status.REJECTED}),
}
"""Status → the statuses it may move to; every other move raises :class:`TransitionError`."""

FAILED_ATTEMPTS: frozenset[tuple[Status, Status]] = frozenset(
    {(Status.HANDLED, Status.DISPATCHED), (Status.FEEDBACK, Status.DISPATCHED)}
)
"""Moves that count as a failed handling or mediation attempt (``attempts`` + 1)."""

OPEN_STATUSES: frozenset[Status] = frozenset(TRANSITIONS) - {Status.CLOSED, Status.REJECTED}
"""Statuses of a case still being worked on; only these can be overdue."""


class EventAction(StrEnum):
    """What an :class:`Event` of an incident's history records."""

    REPORT = "report"  # the incident was created
    TRANSITION = "transition"  # its status changed
    ESCALATE = "escalate"  # its urgency was raised by the escalation rule


@dataclasses.dataclass(frozen=True)
class StaffMember:
    """A member of a grid's staff assigned to an incident (from the active plan)."""

    grid_code: str
    role: str
    name: str
    phone: str | None = None


@dataclasses.dataclass(frozen=True)
class IncidentReport:
    """What a reporter sends: the request body of a new incident.

    Attributes
    ----------
    category
        A category code of the taxonomy in use.
    description
        What happened, 1 to :data:`MAX_DESCRIPTION` characters.
    lon, lat
        The point exactly as sent, in ``crs``.
    crs
        The coordinate system of ``lon``/``lat`` as sent (``"wgs84"``, ``"cgcs2000"``,
        ``"gcj02"``, ``"bd09"`` ...); kept beside the converted point.
    reporter_name, reporter_phone
        Contact of the reporter: personal information (PIPL), masked for most roles.
    photos
        References to photos (URLs or storage keys), at most :data:`MAX_PHOTOS`.
    urgency
        Urgency asked by the reporter; ``None`` takes the category's default.
    """

    category: str
    description: str
    lon: float
    lat: float
    crs: str = "cgcs2000"
    reporter_name: str | None = None
    reporter_phone: str | None = None
    photos: tuple[str, ...] = ()
    urgency: Urgency | None = None

    def __post_init__(self) -> None:
        _check_text(self.description, "description", MAX_DESCRIPTION)
        for name in ("reporter_name", "reporter_phone"):
            value = getattr(self, name)
            if value is not None and str(value).strip():
                _check_text(str(value), name.replace("_", " "), 200)
        for name in ("lon", "lat"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidIncidentError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise InvalidIncidentError(f"{name} must be finite, got {value!r}")
        object.__setattr__(self, "photos", _photos(self.photos))
        if self.urgency is not None:
            object.__setattr__(self, "urgency", _urgency(self.urgency))


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where the service put a report: the point in EPSG:4490, its grids and their staff.

    Attributes
    ----------
    lon, lat
        The point converted to CGCS2000 (EPSG:4490).
    level_codes
        The grid code at each level from the top (``level_codes[0]`` is level 1); empty when
        the point is outside every grid.
    plan_name, plan_version
        The plan version that was used.
    staff
        Staff of the finest grid (head first).
    """

    lon: float
    lat: float
    level_codes: tuple[str, ...] = ()
    plan_name: str | None = None
    plan_version: int | None = None
    staff: tuple[StaffMember, ...] = ()

    def __post_init__(self) -> None:
        codes = tuple(self.level_codes)
        if len(codes) > 6 or not all(isinstance(c, str) and c for c in codes):
            raise InvalidIncidentError(
                f"level_codes must be 0 to 6 non-empty codes from the top level down, got {codes}"
            )
        object.__setattr__(self, "level_codes", codes)
        object.__setattr__(self, "staff", tuple(self.staff))

    @property
    def grid_code(self) -> str | None:
        """Code of the finest grid, ``None`` outside every grid."""
        return self.level_codes[-1] if self.level_codes else None

    @classmethod
    def from_plan(
        cls, plan: GridPlan, lon: float, lat: float, level_codes: Sequence[str | None]
    ) -> Placement:
        """A placement in ``plan`` (the version located against), with its finest grid's staff.

        ``level_codes`` are the located codes from level 1 down (e.g. one row of
        :meth:`geogrid.locate.LocateResult.level_codes`); trailing ``None`` entries (levels
        the point is not in, or that the plan does not have) are dropped.

        Examples
        --------
        >>> import geopandas as gpd
        >>> import pandas as pd
        >>> from shapely.geometry import box
        >>> grids = gpd.GeoDataFrame({"code": ["110108001"], "name": ["社区"], "level": [1]},
        ...                          geometry=[box(116.30, 39.99, 116.31, 40.00)], crs=4490)
        >>> staff = pd.DataFrame({"grid_code": ["110108001"], "role": ["head"],
        ...                       "name": ["王芳"], "phone": [None]})
        >>> where = Placement.from_plan(GridPlan("示例", ["社区"], grids, staff), 116.305, 39.995,
        ...                             ["110108001", None])
        >>> where.level_codes, where.staff
        (('110108001',), (StaffMember(grid_code='110108001', role='head', name='王芳', phone=None),))
        """
        codes = list(level_codes)
        while codes and codes[-1] is None:
            codes.pop()
        if any(code is None for code in codes):
            raise InvalidIncidentError(
                f"level codes have a gap: {codes}; give them from level 1 down"
            )
        finest = codes[-1] if codes else None
        rows = plan.staff_of(finest) if finest is not None else plan.staff.iloc[0:0]
        staff = tuple(
            StaffMember(finest or "", str(r.role), str(r.name), _text_or_none(r.phone))
            for r in rows.itertuples(index=False)
        )
        return cls(
            float(lon), float(lat), tuple(str(c) for c in codes), plan.name, plan.version, staff
        )


@dataclasses.dataclass(frozen=True)
class Incident:
    """An incident (事件) as stored; changed only through :func:`apply_transition`.

    ``id`` and ``reference`` are given by the store (``None`` / ``""`` before). Times are
    timezone-aware UTC. ``reporter_name`` and ``reporter_phone`` are personal information;
    :func:`geogrid.access.mask_incident` masks them for roles that do not need them.
    """

    id: int | None
    reference: str
    category: str
    description: str
    urgency: Urgency
    status: Status
    lon: float
    lat: float
    original_lon: float
    original_lat: float
    original_crs: str
    level_codes: tuple[str, ...]
    plan_name: str | None
    plan_version: int | None
    staff: tuple[StaffMember, ...]
    assignee: str | None
    reporter_name: str | None
    reporter_phone: str | None
    photos: tuple[str, ...]
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    closed_at: dt.datetime | None
    deadline: dt.datetime
    attempts: int = 0
    escalated_at: dt.datetime | None = None

    @property
    def grid_code(self) -> str | None:
        """Code of the finest grid, ``None`` outside every grid."""
        return self.level_codes[-1] if self.level_codes else None

    def overdue(self, now: dt.datetime) -> bool:
        """Whether the case is still open after its deadline at instant ``now``."""
        return is_overdue(self, now)


@dataclasses.dataclass(frozen=True)
class Event:
    """One entry of an incident's history: who did what, when, with a note."""

    action: EventAction
    from_status: Status | None
    to_status: Status
    urgency: Urgency
    by: str
    role: str
    at: dt.datetime
    note: str = ""


class CaseFacts(NamedTuple):
    """What statistics need of one incident."""

    status: Status
    created_at: dt.datetime
    closed_at: dt.datetime | None
    deadline: dt.datetime


def open_incident(
    report: IncidentReport,
    placement: Placement,
    *,
    at: dt.datetime,
    by: str = "",
    taxonomy: Taxonomy = DEFAULT_TAXONOMY,
    policy: DeadlinePolicy = DEFAULT_POLICY,
) -> Incident:
    """A new incident in status ``reported`` from ``report`` placed at ``placement``.

    The urgency is the report's, else the category's default; the deadline runs from ``at``.
    Raises :class:`InvalidIncidentError` for an unknown category.
    """
    category = taxonomy.resolve(report.category)
    urgency = report.urgency or category.urgency
    at = _aware(at, "at")
    return Incident(
        id=None,
        reference="",
        category=category.code,
        description=report.description.strip(),
        urgency=urgency,
        status=Status.REPORTED,
        lon=float(placement.lon),
        lat=float(placement.lat),
        original_lon=float(report.lon),
        original_lat=float(report.lat),
        original_crs=report.crs,
        level_codes=placement.level_codes,
        plan_name=placement.plan_name,
        plan_version=placement.plan_version,
        staff=placement.staff,
        assignee=None,
        reporter_name=_blank_to_none(report.reporter_name),
        reporter_phone=_blank_to_none(report.reporter_phone),
        photos=report.photos,
        created_by=by,
        created_at=at,
        updated_at=at,
        closed_at=None,
        deadline=policy.deadline(urgency, at),
    )


def check_transition(
    current: Status | str, target: Status | str, *, what: str = "the incident"
) -> None:
    """Raise :class:`TransitionError` unless ``current`` may move to ``target``.

    Examples
    --------
    >>> check_transition(Status.REPORTED, Status.ACCEPTED)
    >>> check_transition(Status.REPORTED, Status.CLOSED, what="incident 20260302-000001")
    Traceback (most recent call last):
    ...
    geogrid.errors.TransitionError: incident 20260302-000001 is reported and cannot become closed: from reported it can become accepted or rejected
    """
    current, target = Status(current), _status(target)
    allowed = TRANSITIONS[current]
    if target in allowed:
        return
    if target is current:
        raise TransitionError(f"{what} is already {current.value}")
    names = " or ".join(sorted(s.value for s in allowed))
    raise TransitionError(
        f"{what} is {current.value} and cannot become {target.value}: "
        f"from {current.value} it can become {names}"
    )


def apply_transition(
    incident: Incident,
    target: Status | str,
    *,
    by: str,
    role: str,
    at: dt.datetime,
    note: str = "",
    assignee: str | None = None,
    policy: DeadlinePolicy = DEFAULT_POLICY,
) -> tuple[Incident, list[Event]]:
    """Move ``incident`` to ``target``; return the changed incident and the new history events.

    Rules, beyond :data:`TRANSITIONS`: ``closed`` sets ``closed_at`` (reopening clears it and
    restarts the deadline from ``at``); a move in :data:`FAILED_ATTEMPTS` adds one to
    ``attempts``, and when :func:`should_escalate` then holds the case becomes yellow with a
    fresh yellow deadline from ``at`` (an ``escalate`` event follows the transition event).
    ``assignee`` (who handles it) may be set with any move; ``None`` keeps the current one.
    ``at`` may not be earlier than the incident's last change.
    """
    target = _status(target)
    label = f"incident {incident.reference}" if incident.reference else "the incident"
    check_transition(incident.status, target, what=label)
    at = _aware(at, "at")
    if at < incident.updated_at:
        raise InvalidIncidentError(
            f"{label} last changed at {incident.updated_at.isoformat()}; a change cannot be "
            f"dated earlier ({at.isoformat()})"
        )
    by = _check_by(by)
    if note:
        _check_text(note, "note", MAX_DESCRIPTION)
    changes: dict[str, Any] = {"status": target, "updated_at": at}
    if assignee is not None:
        changes["assignee"] = _check_text(assignee, "assignee", 200)
    if target is Status.CLOSED:
        changes["closed_at"] = at
    if target is Status.REOPENED:
        changes |= {"closed_at": None, "deadline": policy.deadline(incident.urgency, at)}
    if (incident.status, target) in FAILED_ATTEMPTS:
        changes["attempts"] = incident.attempts + 1
    moved = dataclasses.replace(incident, **changes)
    events = [
        Event(EventAction.TRANSITION, incident.status, target, moved.urgency, by, role, at, note)
    ]
    if should_escalate(moved, policy):
        moved = dataclasses.replace(
            moved,
            urgency=Urgency.YELLOW,
            deadline=policy.deadline(Urgency.YELLOW, at),
            escalated_at=at,
        )
        why = f"{moved.attempts} failed attempts: blue → yellow (蓝升黄)"
        events.append(
            Event(EventAction.ESCALATE, target, target, Urgency.YELLOW, by, role, at, why)
        )
    return moved, events


def should_escalate(incident: Incident, policy: DeadlinePolicy = DEFAULT_POLICY) -> bool:
    """Whether a blue, open case has failed :attr:`DeadlinePolicy.escalate_after` attempts."""
    return (
        incident.urgency is Urgency.BLUE
        and incident.status in OPEN_STATUSES
        and incident.attempts >= policy.escalate_after
    )


def is_overdue(incident: Incident | CaseFacts, now: dt.datetime) -> bool:
    """Whether a case is still open (not closed or rejected) after its deadline at ``now``."""
    return Status(incident.status) in OPEN_STATUSES and _aware(now, "now") > incident.deadline


def reference_number(incident_id: int, created_at: dt.datetime) -> str:
    """The public reference of an incident: report date (UTC+8, China time) and a number.

    Examples
    --------
    >>> import datetime as dt
    >>> reference_number(42, dt.datetime(2026, 3, 2, 17, 30, tzinfo=dt.UTC))
    '20260303-000042'
    """
    china = created_at.astimezone(dt.timezone(dt.timedelta(hours=8)))
    return f"{china:%Y%m%d}-{incident_id:06d}"


def incident_etag(incident: Incident) -> str:
    """An HTTP entity tag of the incident's current state: changes with every change.

    Examples
    --------
    >>> import datetime as dt
    >>> t0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
    >>> report = IncidentReport("dispute", "邻里噪音纠纷", 116.305, 39.995)
    >>> case = open_incident(report, Placement(116.305, 39.995), at=t0)
    >>> moved, _ = apply_transition(case, Status.ACCEPTED, by="王芳", role="worker", at=t0)
    >>> incident_etag(case) != incident_etag(moved), incident_etag(case).startswith('"')
    (True, True)
    """
    state = [
        incident.id,
        incident.status.value,
        incident.urgency.value,
        incident.updated_at.isoformat(),
        incident.attempts,
        incident.assignee,
    ]
    digest = hashlib.sha256(json.dumps(state, ensure_ascii=False).encode()).hexdigest()
    return f'"{digest[:20]}"'


def request_hash(report: IncidentReport) -> str:
    """SHA-256 of the canonical JSON of ``report``: equal bodies give equal hashes.

    Examples
    --------
    >>> a = IncidentReport("environment", "垃圾堆放", 116.3, 40.0, photos=["p/1.jpg"])
    >>> b = IncidentReport("environment", "垃圾堆放", 116.3, 40.0, photos=("p/1.jpg",))
    >>> request_hash(a) == request_hash(b), len(request_hash(a))
    (True, 64)
    """
    values = dataclasses.asdict(report)
    values["photos"] = list(report.photos)
    values["lon"], values["lat"] = float(report.lon), float(report.lat)
    text = json.dumps(values, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# -- checks ----------------------------------------------------------------------------------


def _status(value: Status | str) -> Status:
    try:
        return Status(value)
    except ValueError:
        names = ", ".join(s.value for s in Status)
        raise InvalidIncidentError(f"unknown status {value!r}: use one of {names}") from None


def _urgency(value: Urgency | str) -> Urgency:
    try:
        return Urgency(value)
    except ValueError:
        names = ", ".join(u.value for u in Urgency)
        raise InvalidIncidentError(f"unknown urgency {value!r}: use one of {names}") from None


def _check_text(value: object, name: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidIncidentError(f"{name} must be non-empty text")
    if len(value) > limit:
        raise InvalidIncidentError(f"{name} is {len(value)} characters long: at most {limit}")
    problem = text_problem(value)
    if problem is not None:
        raise InvalidIncidentError(f"{name} {problem}")
    return value


def _check_by(by: str) -> str:
    if not isinstance(by, str) or not by.strip():
        raise InvalidIncidentError("say who does this: pass by='user name' (kept in the history)")
    return by.strip()


def _photos(photos: Iterable[str]) -> tuple[str, ...]:
    if isinstance(photos, str):
        raise InvalidIncidentError("photos must be a list of references, not one string")
    refs = tuple(photos)
    if len(refs) > MAX_PHOTOS:
        raise InvalidIncidentError(f"{len(refs)} photos: at most {MAX_PHOTOS} per incident")
    for ref in refs:
        _check_text(ref, "a photo reference", 2000)
    return refs


def _text_or_none(value: object) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _blank_to_none(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _aware(value: dt.datetime, name: str) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise InvalidIncidentError(f"{name} must be a datetime, got {value!r}")
    return value.astimezone(dt.UTC)
