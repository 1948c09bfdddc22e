"""Request and response models of the service (input models forbid extra fields)."""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic.json_schema import JsonDict

from geogrid.roles import DEFAULT_ROLES

__all__ = [
    "LAT_RANGE",
    "LON_RANGE",
    "MAX_ID",
    "ROLE_DOC",
    "BatchLocateIn",
    "BatchLocateOut",
    "BatchPoint",
    "BatchResult",
    "CategoryOut",
    "Crs",
    "EventOut",
    "GridOut",
    "GridStatsOut",
    "IncidentIn",
    "IncidentOut",
    "IncidentPageOut",
    "Instant",
    "LevelAnswer",
    "LocateOut",
    "NearestOut",
    "OriginalPoint",
    "PlanRef",
    "StaffOut",
    "StaffRef",
    "StatsOut",
    "TransitionIn",
    "VersionRef",
    "as_utc",
]


LON_RANGE: JsonDict = {"minimum": -180, "maximum": 180}
"""A longitude's range in the schema; the check itself, whose message tells swapped
coordinates apart from wrong ones, is :func:`geogrid.crs.check_lonlat` (422)."""
LAT_RANGE: JsonDict = {"minimum": -90, "maximum": 90}
"""A latitude's range in the schema (see :data:`LON_RANGE`)."""


class Crs(StrEnum):
    """Coordinate system of an incoming point."""

    WGS84 = "wgs84"  # GPS
    CGCS2000 = "cgcs2000"  # 国家2000, the plans' own
    GCJ02 = "gcj02"  # AMap 高德, Tencent 腾讯
    BD09 = "bd09"  # Baidu 百度


ROLE_DOC = (
    "staff role, one of the service's (GEOGRID_ROLES_FILE; by default "
    + ", ".join(f"{r.key} {r.name}" for r in DEFAULT_ROLES)
    + "), listed in that order"
)
"""What a ``role`` field of a staff member is (the schema lists the service's own roles)."""


class StaffOut(BaseModel):
    """A person on a grid's staff."""

    role: str = Field(examples=["head"], description=f"{ROLE_DOC}; its key")
    name: str = Field(examples=["王芳"])
    phone: str | None = Field(default=None, examples=["13800000000"])


class GridOut(BaseModel):
    """A grid and who is responsible for it."""

    code: str = Field(examples=["110108001001"])
    name: str = Field(examples=["清华园社区第一网格"])
    level: int = Field(examples=[2])
    kind: str = Field(examples=["urban"], description="urban / rural / special")
    staff: list[StaffOut] = Field(default_factory=list)


class LevelAnswer(BaseModel):
    """The grid of one level covering the point (``grid`` null: no grid of that level does)."""

    level: int
    level_name: str = Field(examples=["网格"])
    grid: GridOut | None


class NearestOut(BaseModel):
    """For an outside point: the nearest grid of the finest level and the distance to it."""

    grid: GridOut
    distance_m: float = Field(examples=[152.3])


class VersionRef(BaseModel):
    """A plan version, by name and number."""

    name: str
    version: int | None


class PlanRef(VersionRef):
    """The plan version that answered."""

    jurisdiction: str | None = Field(
        default=None, description="code of the area the plan governs (街道/乡镇/社区 …)"
    )


class JurisdictionPlanOut(PlanRef):
    """One jurisdiction's plan in force, with its own level names."""

    levels: list[str]


class LocateOut(BaseModel):
    """Where one point falls, at every level."""

    status: Literal["inside", "outside"] = Field(
        description="inside: a grid of the finest level covers the point"
    )
    plan: PlanRef
    lon: float = Field(description="the point in CGCS2000 (plan) longitude")
    lat: float = Field(description="the point in CGCS2000 (plan) latitude")
    grid_code: str | None = Field(description="code of the finest-level grid, null outside")
    levels: list[LevelAnswer]
    nearest: NearestOut | None = Field(default=None, description="set when outside")


class BatchPoint(BaseModel):
    """One point of a batch."""

    model_config = ConfigDict(extra="forbid")

    lon: float = Field(examples=[116.3265], json_schema_extra=LON_RANGE)
    lat: float = Field(examples=[40.0034], json_schema_extra=LAT_RANGE)
    id: str | int | None = Field(default=None, description="your own id, echoed back")


class BatchLocateIn(BaseModel):
    """Up to ``max_batch_points`` points in one coordinate system."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"crs": "gcj02", "points": [{"lon": 116.3326, "lat": 40.0047, "id": 1}]}]
        },
    )

    crs: Crs = Crs.WGS84
    points: list[BatchPoint]


class BatchResult(BaseModel):
    """Where one batch point falls; grids are described once in ``BatchLocateOut.grids``."""

    id: str | int | None = None
    status: Literal["inside", "outside"]
    codes: list[str | None] = Field(description="grid code per level, top level first")
    grid_code: str | None
    nearest_code: str | None = None
    distance_m: float | None = None
    jurisdiction: str | None = Field(
        default=None, description="the jurisdiction whose plan answered (a key of `plans`)"
    )


class BatchLocateOut(BaseModel):
    """Per-point codes plus one table of the grids (and their staff) they mention."""

    plan: PlanRef = Field(
        description="the plan that answered; over several jurisdictions their names joined "
        "with '+' and no version (each is in `plans`)"
    )
    levels: list[str] = Field(description="level names of the deepest plan")
    plans: dict[str, JurisdictionPlanOut] = Field(
        default_factory=dict, description="the plan in force per jurisdiction that answered"
    )
    results: list[BatchResult]
    grids: dict[str, GridOut]


# -- incidents -------------------------------------------------------------------------------

Status = Literal[
    "reported", "accepted", "dispatched", "handled", "feedback", "closed", "rejected", "reopened"
]
Urgency = Literal["red", "yellow", "blue"]


class IncidentIn(BaseModel):
    """A report: where (as the phone sent it), what, and who to call back."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "category": "environment",
                    "description": "小区东门垃圾堆放三天无人清运",
                    "lon": 116.3326,
                    "lat": 40.0047,
                    "crs": "gcj02",
                    "reporter_name": "张三",
                    "reporter_phone": "13800000001",
                    "photos": ["photos/2026/03/02/a1.jpg"],
                }
            ]
        },
    )

    category: str = Field(
        min_length=1, max_length=100, description="a category code (GET /categories)"
    )
    description: str = Field(min_length=1, max_length=5000)
    lon: float = Field(
        description="longitude in `crs`", examples=[116.3326], json_schema_extra=LON_RANGE
    )
    lat: float = Field(
        description="latitude in `crs`", examples=[40.0047], json_schema_extra=LAT_RANGE
    )
    crs: Crs = Field(default=Crs.WGS84, description="as sent by the phone map")
    reporter_name: str | None = Field(default=None, max_length=100)
    reporter_phone: str | None = Field(default=None, max_length=40)
    photos: list[str] = Field(default_factory=list, max_length=20)
    urgency: Urgency | None = Field(
        default=None, description="red / yellow / blue; default: the category's"
    )


class StaffRef(BaseModel):
    """A member of the grid's staff at the time of the report."""

    grid_code: str
    role: str = Field(description=f"{ROLE_DOC}; its key")
    name: str
    phone: str | None = None


class OriginalPoint(BaseModel):
    """The point exactly as the client sent it."""

    lon: float
    lat: float
    crs: str


class IncidentOut(BaseModel):
    """An incident, with the reporter's contact masked for roles that do not need it."""

    id: int
    reference: str = Field(examples=["20260302-000001"], description="public number (China date)")
    category: str
    category_name: str = Field(examples=["环境卫生"])
    description: str
    urgency: Urgency
    status: Status
    lon: float = Field(description="CGCS2000 longitude")
    lat: float = Field(description="CGCS2000 latitude")
    original: OriginalPoint
    located: Literal["inside", "outside"] = Field(description="outside: in no grid of the plan")
    level_codes: list[str] = Field(description="grid code per level, top level first")
    grid_code: str | None
    plan: VersionRef | None
    staff: list[StaffRef]
    assignee: str | None
    reporter_name: str | None = Field(examples=["张*"])
    reporter_phone: str | None = Field(examples=["138****0001"])
    photos: list[str]
    created_by: str
    created_at: str
    updated_at: str
    closed_at: str | None
    deadline: str
    overdue: bool
    attempts: int = Field(description="failed handling or mediation attempts")
    escalated_at: str | None


class TransitionIn(BaseModel):
    """Move an incident to another status (see the lifecycle in docs/incidents.md)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"to": "dispatched", "assignee": "王芳", "note": "派单"}]},
    )

    to: Status
    note: str = Field(default="", max_length=2000)
    assignee: str | None = Field(default=None, min_length=1, max_length=200)


class EventOut(BaseModel):
    """One entry of an incident's history."""

    action: Literal["report", "transition", "escalate"]
    from_status: Status | None
    to_status: Status
    urgency: Urgency
    by: str
    role: str
    at: str
    note: str


class IncidentPageOut(BaseModel):
    """One page of incidents, newest first; pass ``next_before_id`` as ``before_id``."""

    items: list[IncidentOut]
    total: int
    next_before_id: int | None


class GridStatsOut(BaseModel):
    """Figures of one grid over the period asked."""

    grid_code: str
    grid_name: str | None = Field(description="from the active plan, when the grid is in it")
    level: int
    total: int
    open: int
    closed: int
    rejected: int
    closure_rate: float | None = Field(description="办结率: closed / (total - rejected)")
    median_hours_to_close: float | None
    overdue: int = Field(description="open cases past their deadline now")
    closed_late: int


class StatsOut(BaseModel):
    """Figures per grid and level."""

    now: str
    grouped: Literal["reported", "current"] = Field(
        default="reported",
        description="reported: by the grids as they were when each incident was reported; "
        "current: by today's grids (incidents re-located against the plans in force now)",
    )
    grids: list[GridStatsOut]


class CategoryOut(BaseModel):
    """One incident category of the configured taxonomy."""

    code: str
    name: str
    name_en: str
    urgency: Urgency
    focus: bool = Field(description="one of the five focus areas of grid work")


MAX_ID = 2**31 - 1
"""Largest row id (PostgreSQL ``integer``): bigger ids in a request are refused with 422."""


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A datetime made timezone-aware in UTC: one without an offset is taken as UTC.

    Raises ``ValueError`` (a 422 inside a model) for an instant that UTC cannot hold, such as
    ``0001-01-01T00:00:00+14:00``.

    Examples
    --------
    >>> as_utc(dt.datetime(2026, 3, 2, 8)).isoformat()
    '2026-03-02T08:00:00+00:00'
    >>> as_utc(dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=14))))
    Traceback (most recent call last):
    ...
    ValueError: 0001-01-01T00:00:00+14:00 is before the year 1 in UTC: give a date-time between 0001-01-01 and 9999-12-31
    """
    if value is None:
        return None
    aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    try:
        return aware.astimezone(dt.UTC)
    except OverflowError:
        side = "before the year 1" if aware.year == 1 else "after the year 9999"
        raise ValueError(
            f"{aware.isoformat()} is {side} in UTC: give a date-time between 0001-01-01 and "
            "9999-12-31"
        ) from None


_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _not_a_number(value: object) -> object:
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError(
            f"{value!r} is a number: give an ISO 8601 date-time such as 2026-03-02T08:00:00+08:00"
        )
    return value


Instant = Annotated[
    dt.datetime,
    BeforeValidator(_not_a_number),
    AfterValidator(as_utc),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""An ISO 8601 date-time in a request, in UTC (no offset: UTC); never a Unix time."""
