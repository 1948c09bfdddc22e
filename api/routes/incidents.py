"""``/incidents`` and ``/stats``: report, follow and count incidents (事件).

Every route needs an API key. What a caller may do and where (its grid subtree) is decided
by the store (:class:`geogrid.store.incidents.IncidentStore`), which also masks reporters'
contacts for roles that do not need them and writes the audit log: the routes only translate
HTTP to those calls. Handlers are plain ``def``: FastAPI runs them in its thread pool while
they wait for the database.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Header, Path, Query, Request, Response

from api.auth import CurrentCaller, store_of
from api.plans import LoadedCounty
from api.schemas import (
    MAX_ID,
    CategoryOut,
    EventOut,
    GridStatsOut,
    IncidentIn,
    IncidentOut,
    IncidentPageOut,
    Instant,
    StatsOut,
    Status,
    TransitionIn,
)
from geogrid.crs import check_lonlat, to_plan_lonlat
from geogrid.errors import NoActivePlanError
from geogrid.incidents import (
    Event,
    GridStats,
    Incident,
    IncidentReport,
    Placement,
    Taxonomy,
    Urgency,
    incident_etag,
)
from geogrid.locate import locate_points
from geogrid.store.incidents import IncidentStore

__all__ = ["router"]

Grouping = Literal["reported", "current"]

router = APIRouter(tags=["incidents"])

_IDEMPOTENCY = Header(
    alias="Idempotency-Key",
    max_length=255,
    description="retry with the same key and body: the same answer, never a second incident",
)
_IF_MATCH = Header(
    alias="If-Match", description="the ETag read last: 412 and no change if it is stale"
)
_REF = Path(
    description="incident id or public reference",
    examples=["20260302-000001"],
    max_length=64,
)


@router.get("/categories", response_model=list[CategoryOut])
def categories(request: Request) -> list[CategoryOut]:
    """The incident categories this service accepts (configurable: GEOGRID_TAXONOMY_FILE)."""
    taxonomy: Taxonomy = request.app.state.taxonomy
    return [
        CategoryOut(
            code=c.code, name=c.name, name_en=c.name_en, urgency=c.urgency.value, focus=c.focus
        )
        for c in taxonomy
    ]


@router.post("/incidents", status_code=201, response_model=IncidentOut)
def report_incident(
    request: Request,
    response: Response,
    body: IncidentIn,
    caller: CurrentCaller,
    idempotency_key: Annotated[str | None, _IDEMPOTENCY] = None,
) -> dict[str, Any]:
    """Report an incident: it is placed in its grid at every level and given its staff.

    The point is kept as sent (``original``) beside its CGCS2000 conversion. A point outside
    every grid is stored too (``located: outside``), for callers bound to no grid.
    422: unknown category, swapped or out-of-range coordinates, an ``Idempotency-Key`` reused
    with another body.
    """
    check_lonlat(body.lon, body.lat)
    report = IncidentReport(
        category=body.category,
        description=body.description,
        lon=body.lon,
        lat=body.lat,
        crs=body.crs.value,
        reporter_name=body.reporter_name,
        reporter_phone=body.reporter_phone,
        photos=tuple(body.photos),
        urgency=Urgency(body.urgency) if body.urgency else None,
    )
    created = _incidents(request).create_incident(
        report, _place(request, report), caller=caller, idempotency_key=idempotency_key
    )
    incident = created.incident
    response.headers["Location"] = f"/incidents/{incident.reference}"
    response.headers["ETag"] = incident_etag(incident)
    if created.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return _out(request, incident)


@router.get("/incidents", response_model=IncidentPageOut)
def list_incidents(
    request: Request,
    caller: CurrentCaller,
    grid_code: Annotated[
        str | None, Query(max_length=64, description="a grid of any level: its whole subtree")
    ] = None,
    status: Annotated[list[Status] | None, Query(description="one or more statuses")] = None,
    category: Annotated[list[str] | None, Query(description="one or more category codes")] = None,
    since: Annotated[Instant | None, Query(description="reported at or after")] = None,
    until: Annotated[Instant | None, Query(description="reported before")] = None,
    overdue: Annotated[bool | None, Query(description="only (or no) overdue cases")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="next_before_id of a page")
    ] = None,
) -> dict[str, Any]:
    """Incidents of the caller's grids, newest first, filtered and paged."""
    page = _incidents(request).list_incidents(
        caller=caller,
        grid_code=grid_code,
        status=status,
        category=category,
        since=since,
        until=until,
        overdue=overdue,
        limit=limit,
        before_id=before_id,
    )
    return {
        "items": [_out(request, i) for i in page.items],
        "total": page.total,
        "next_before_id": page.next_before_id,
    }


@router.get("/incidents/{ref}", response_model=IncidentOut)
def get_incident(
    request: Request, response: Response, ref: Annotated[str, _REF], caller: CurrentCaller
) -> dict[str, Any]:
    """One incident (404 when missing or outside the caller's grids); ETag for If-Match."""
    incident = _incidents(request).get_incident(_ref(ref), caller=caller)
    response.headers["ETag"] = incident_etag(incident)
    return _out(request, incident)


@router.get("/incidents/{ref}/history", response_model=list[EventOut])
def incident_history(
    request: Request, ref: Annotated[str, _REF], caller: CurrentCaller
) -> list[dict[str, Any]]:
    """Every event of an incident, oldest first: report, transitions, escalations."""
    events = _incidents(request).history(_ref(ref), caller=caller)
    return [_event_out(e) for e in events]


@router.post("/incidents/{ref}/transitions", response_model=IncidentOut)
def transition_incident(
    request: Request,
    response: Response,
    ref: Annotated[str, _REF],
    body: TransitionIn,
    caller: CurrentCaller,
    if_match: Annotated[str | None, _IF_MATCH] = None,
) -> dict[str, Any]:
    """Move an incident along its lifecycle; who and when go to its history.

    409 for a move the lifecycle forbids (the answer lists the allowed ones); 412 when
    ``If-Match`` names a state that is no longer current.
    """
    incident = _incidents(request).transition(
        _ref(ref),
        body.to,
        caller=caller,
        note=body.note,
        assignee=body.assignee,
        if_match=if_match,
    )
    response.headers["ETag"] = incident_etag(incident)
    return _out(request, incident)


@router.get("/stats", response_model=StatsOut, tags=["incidents"])
def stats(
    request: Request,
    caller: CurrentCaller,
    level: Annotated[int | None, Query(ge=1, le=6, description="one level (1 = top)")] = None,
    grid_code: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[Instant | None, Query(description="reported at or after")] = None,
    until: Annotated[Instant | None, Query(description="reported before")] = None,
    grouped: Annotated[
        Grouping,
        Query(
            description="`reported`: by the grids each incident was reported to (as they were "
            "then); `current`: re-located against the plans in force now"
        ),
    ] = "reported",
) -> dict[str, Any]:
    """Per grid and level: counts, closure rate (办结率), median time to close, overdue.

    The answer's `grouped` says which grids the figures follow.
    """
    now = dt.datetime.now(dt.UTC)
    relocate = None
    if grouped == "current":
        index = request.app.state.plans.get().index

        def relocate(lon: np.ndarray, lat: np.ndarray) -> list[tuple[str, ...]]:
            return index.locate(lon, lat, nearest=False).lineages()

    figures = _incidents(request).stats(
        caller=caller,
        level=level,
        grid_code=grid_code,
        since=since,
        until=until,
        now=now,
        relocate=relocate,
    )
    names = _grid_names(request)
    return {
        "now": now.isoformat(),
        "grouped": grouped,
        "grids": [_stats_out(s, names) for s in figures],
    }


# -- helpers -------------------------------------------------------------------------------


def _incidents(request: Request) -> IncidentStore:
    return store_of(request).incidents(
        taxonomy=request.app.state.taxonomy, policy=request.app.state.policy
    )


def _place(request: Request, report: IncidentReport) -> Placement:
    """The report's point in CGCS2000 and its grids in the active plan (none if no plan)."""
    try:
        loaded: LoadedCounty = request.app.state.plans.get()
    except NoActivePlanError:  # keep the report: it is placed once a plan is active
        x, y = to_plan_lonlat([report.lon], [report.lat], report.crs)
        return Placement(float(x[0]), float(y[0]))
    result = locate_points(loaded.index, [report.lon], [report.lat], report.crs)
    codes = [result.level_codes(level)[0] for level in result.levels]
    part = -1 if result.part is None else int(result.part[0])
    answering = loaded.part_of(max(part, 0))  # the jurisdiction's plan it is reported to
    return Placement.from_plan(answering.plan, result.lon[0], result.lat[0], codes)


def _grid_names(request: Request) -> dict[str, str]:
    loaded = request.app.state.plans.cached()
    if loaded is None:
        try:
            loaded = request.app.state.plans.get()
        except NoActivePlanError:
            return {}
    return {code: facts["name"] for code, facts in loaded.grids.items()}


def _ref(ref: str) -> int | str:
    """An id when ``ref`` is ASCII digits a row id can be, else a reference.

    Only ASCII digits make an id: ``²``, ``①`` or a full-width ``５`` are references that no
    incident has (404), never the id 5.
    """
    ascii_digits = ref.isascii() and ref.isdigit()
    return int(ref) if ascii_digits and len(ref) <= 10 and int(ref) <= MAX_ID else ref


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _out(request: Request, incident: Incident) -> dict[str, Any]:
    taxonomy: Taxonomy = request.app.state.taxonomy
    category = incident.category
    name = taxonomy[category].name if category in taxonomy else category
    plan = (
        None
        if incident.plan_name is None
        else {"name": incident.plan_name, "version": incident.plan_version}
    )
    return {
        "id": incident.id,
        "reference": incident.reference,
        "category": category,
        "category_name": name,
        "description": incident.description,
        "urgency": incident.urgency.value,
        "status": incident.status.value,
        "lon": incident.lon,
        "lat": incident.lat,
        "original": {
            "lon": incident.original_lon,
            "lat": incident.original_lat,
            "crs": incident.original_crs,
        },
        "located": "inside" if incident.level_codes else "outside",
        "level_codes": list(incident.level_codes),
        "grid_code": incident.grid_code,
        "plan": plan,
        "staff": [
            {"grid_code": s.grid_code, "role": s.role, "name": s.name, "phone": s.phone}
            for s in incident.staff
        ],
        "assignee": incident.assignee,
        "reporter_name": incident.reporter_name,
        "reporter_phone": incident.reporter_phone,
        "photos": list(incident.photos),
        "created_by": incident.created_by,
        "created_at": incident.created_at.isoformat(),
        "updated_at": incident.updated_at.isoformat(),
        "closed_at": _iso(incident.closed_at),
        "deadline": incident.deadline.isoformat(),
        "overdue": incident.overdue(dt.datetime.now(dt.UTC)),
        "attempts": incident.attempts,
        "escalated_at": _iso(incident.escalated_at),
    }


def _event_out(event: Event) -> dict[str, Any]:
    return {
        "action": event.action.value,
        "from_status": None if event.from_status is None else event.from_status.value,
        "to_status": event.to_status.value,
        "urgency": event.urgency.value,
        "by": event.by,
        "role": event.role,
        "at": event.at.isoformat(),
        "note": event.note,
    }


def _stats_out(figures: GridStats, names: dict[str, str]) -> GridStatsOut:
    median = figures.median_time_to_close
    return GridStatsOut(
        grid_code=figures.grid_code,
        grid_name=names.get(figures.grid_code),
        level=figures.level,
        total=figures.total,
        open=figures.open,
        closed=figures.closed,
        rejected=figures.rejected,
        closure_rate=figures.closure_rate,
        median_hours_to_close=None if median is None else round(median.total_seconds() / 3600, 3),
        overdue=figures.overdue,
        closed_late=figures.closed_late,
    )
