"""Incidents and their events as table rows: insert, update, load.

The one place where :class:`~geogrid.incidents.Incident` and the ``incidents`` and
``incident_events`` tables meet.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import sqlalchemy as sa

from geogrid.access import Caller
from geogrid.errors import InvalidIncidentError, NotFoundError
from geogrid.incidents import (
    Event,
    EventAction,
    Incident,
    ReferralChain,
    StaffMember,
    Status,
    Urgency,
    reference_number,
)
from geogrid.store import schema
from geogrid.store.incident_filters import LEVELS, row_lineage, scopes_for

__all__ = [
    "IncidentRef",
    "create_details",
    "event_rows",
    "incident_from_row",
    "incident_values",
    "insert_events",
    "insert_incident",
    "load_events",
    "load_incident",
    "referral_details",
    "transition_details",
    "update_incident",
]

IncidentRef = int | str
"""An incident's id (``int``) or public reference (``"20260302-000001"``)."""

_T = schema.incidents


def insert_incident(connection: sa.Connection, draft: Incident, role: str) -> Incident:
    """Insert ``draft`` and its ``report`` event (by a caller of ``role``); return it stored."""
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
        role,
        incident.created_at,
    )
    insert_events(connection, incident, [report])
    return load_incident(connection, incident_id, None)


def update_incident(connection: sa.Connection, incident: Incident) -> None:
    """Write the fields a transition changes (status, urgency, times, attempts...)."""
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


def insert_events(connection: sa.Connection, incident: Incident, events: list[Event]) -> None:
    """Append ``events`` to the history of ``incident``."""
    connection.execute(schema.incident_events.insert(), event_rows(incident.id, events))


def event_rows(incident_id: int | None, events: list[Event]) -> list[dict[str, Any]]:
    """The ``incident_events`` rows of ``events`` of incident ``incident_id``."""
    return [
        {
            "incident_id": incident_id,
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


def create_details(incident: Incident) -> dict[str, Any]:
    """Details of the ``incident.create`` audit row of a new ``incident``."""
    return {"reference": incident.reference, "grid_code": incident.grid_code}


def transition_details(before: Status, moved: Incident, events: list[Event]) -> dict[str, Any]:
    """Details of the ``incident.transition`` audit row of a move from ``before``."""
    return {"from": before, "to": moved.status, "escalated": len(events) > 1}


def referral_details(chain: ReferralChain, tier: int, moved: Incident) -> dict[str, Any]:
    """Details of the ``incident.refer`` audit row of a referral from ``tier`` one tier up."""
    return {"from": chain.tiers[tier], "to": chain.tiers[tier + 1], "assignee": moved.assignee}


def incident_values(incident: Incident) -> dict[str, Any]:
    """The ``incidents`` row of ``incident`` (without ``id`` and ``reference``)."""
    return _values(incident)


def _values(incident: Incident) -> dict[str, Any]:
    codes = list(incident.level_codes) + [None] * (len(LEVELS) - len(incident.level_codes))
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
        "staff": [_staff_row(s) for s in incident.staff],
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


def incident_from_row(row: Any) -> Incident:
    """The :class:`~geogrid.incidents.Incident` of an ``incidents`` row."""
    codes = tuple(code for code in (row._mapping[c.name] for c in LEVELS) if code is not None)
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


def load_incident(
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
    if row is None or not all(s.contains(row_lineage(row)) for s in scopes_for(connection, caller)):
        raise NotFoundError(
            f"no incident {ref!r}"
            + ("" if caller is None or caller.grid_code is None else f" in grid {caller.grid_code}")
            + ": check the id or reference (store.incidents().list_incidents(...) lists them)"
        )
    return incident_from_row(row)


def load_events(connection: sa.Connection, incident_id: int | None) -> list[Event]:
    """The history of incident ``incident_id``, oldest first."""
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


def _staff_row(member: StaffMember) -> dict[str, Any]:
    """``dataclasses.asdict(member)``, without its deep copy (a hundred thousand rows at once)."""
    return {
        "grid_code": member.grid_code,
        "role": member.role,
        "name": member.name,
        "phone": member.phone,
    }
