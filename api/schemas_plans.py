"""Request and response models of ``/plans`` and ``/grids/{code}/staff``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.schemas import ROLE_DOC, Instant, StaffOut
from geogrid.roles import current_roles
from geogrid.store import VersionInfo
from geogrid.store.staff import MAX_STAFF, GridStaff, StaffChange, StaffMember

__all__ = [
    "GridStaffOut",
    "PlanSummaryOut",
    "ProblemOut",
    "StaffChangeOut",
    "StaffIn",
    "StaffMemberIn",
    "UploadOut",
    "VersionOut",
]

_WHEN = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)


class ProblemOut(BaseModel):
    """One finding of the plan validation (``geogrid validate``)."""

    kind: str = Field(
        default="",
        examples=["households_mismatch"],
        description="empty for a warning kept before store migration 0004 (only its line)",
    )
    label: str = Field(default="", examples=["households mismatch (户数不符)"])
    severity: str = Field(examples=["warning"], description="error / warning")
    codes: list[str] = Field(default_factory=list, examples=[["110108001001"]])
    parent: str | None = None
    lon: float | None = None
    lat: float | None = None
    area_m2: float | None = None
    detail: str = ""
    line: str = Field(examples=["households mismatch (户数不符) of 110108001001: 812 ≠ 790"])


class VersionOut(BaseModel):
    """One stored version of a plan; who moved it to each state, and when (UTC)."""

    plan: str = Field(examples=["示例街道"])
    version: int = Field(examples=[2])
    status: str = Field(examples=["approved"], description="draft / approved / active / retired")
    levels: list[str] = Field(examples=[["社区", "网格"]])
    attribution: str = Field(examples=["© OpenStreetMap contributors"])
    note: str = Field(examples=["2026 redraw"])
    created_by: str = Field(examples=["规划员张三"])
    created_at: dt.datetime = Field(examples=[_WHEN])
    approved_by: str | None = Field(default=None, examples=["审核员李四"])
    approved_at: dt.datetime | None = Field(default=None, examples=[_WHEN])
    activated_by: str | None = None
    activated_at: dt.datetime | None = None
    deactivated_at: dt.datetime | None = None
    staff_revision: int = Field(default=0, description="staff changes made in place so far")
    jurisdiction: str = Field(
        default="", examples=["410326100"], description="code of the area the plan governs"
    )
    valid_from: dt.datetime | None = Field(
        default=None,
        description="when the version came (or comes) into force; null until activated",
    )
    valid_to: dt.datetime | None = Field(
        default=None, description="when the next version of its jurisdiction replaced it"
    )
    warnings: list[ProblemOut] = Field(
        default_factory=list,
        description="what validation warned of when the version was saved (kept with it)",
    )
    etag: str = Field(description="send as If-Match to approve or activate this state")

    @classmethod
    def of(cls, info: VersionInfo) -> VersionOut:
        """The answer for ``info``."""
        values: dict[str, Any] = {
            field: getattr(info, field)
            for field in cls.model_fields
            if field not in ("status", "etag")
        }
        return cls(**values, status=info.status.value, etag=info.etag)


class UploadOut(VersionOut):
    """The new draft version, with the warnings validation found (errors are a 422)."""


class PlanSummaryOut(BaseModel):
    """A stored plan: its latest version and the active one, if any."""

    name: str = Field(examples=["示例街道"])
    jurisdiction: str = Field(default="", examples=["410326100"])
    latest_version: int = Field(examples=[3])
    latest_status: str = Field(examples=["draft"])
    active_version: int | None = Field(default=None, examples=[2])


class JurisdictionIn(BaseModel):
    """A jurisdiction to register: a county, township, street … and the code it lies in."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=60, pattern=r"^[^\x00-\x1f\x7f]+$")
    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
    parent_code: str | None = Field(default=None, max_length=60, pattern=r"^[^\x00-\x1f\x7f]+$")
    level_name: str = Field(default="", max_length=60, pattern=r"^[^\x00-\x1f\x7f]*$")


class JurisdictionOut(BaseModel):
    """A registered jurisdiction, and the plan version in force in it now (if any)."""

    code: str = Field(examples=["410326100"])
    name: str = Field(examples=["城关镇"])
    parent_code: str | None = Field(default=None, examples=["410326"])
    level_name: str = Field(default="", examples=["乡镇"])
    plan: str | None = Field(default=None, description="its plan in force now")
    version: int | None = None


class StaffMemberIn(BaseModel):
    """A person on a grid's staff."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"role": "head", "name": "王芳", "phone": "13800000000"}]},
    )

    role: str = Field(
        examples=["head", "网格长"],
        description=f"{ROLE_DOC}; a key, its Chinese name or an alias, answered as the key",
    )
    name: str = Field(min_length=1, max_length=100, pattern=r"\S")
    phone: str | None = Field(default=None, max_length=40)

    @field_validator("role")
    @classmethod
    def _configured_role(cls, value: str) -> str:
        """One of the service's staff roles (exactly as the schema's enum spells it)."""
        roles = current_roles()
        if value not in roles.spellings:
            raise ValueError(f"unknown staff role {value[:40]!r}: {roles.describe()}")
        return roles.parse(value)


class StaffIn(BaseModel):
    """The new staff list of a grid (replaces the whole list; may be empty)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "staff": [
                        {"role": "head", "name": "王芳", "phone": "13800000000"},
                        {"role": "full_time", "name": "李明", "phone": "13900000000"},
                    ]
                }
            ]
        },
    )

    staff: list[StaffMemberIn] = Field(max_length=MAX_STAFF)
    effective: Instant | None = Field(
        default=None,
        examples=["2026-03-01T00:00:00Z"],
        description="when the change takes effect (UTC; default now): a past instant inside "
        "the period of the version in force now and not before the grid's latest change, or "
        "a future one (scheduled); the If-Match ETag is that of the staff in force then",
    )


class GridStaffOut(BaseModel):
    """The current staff of a grid of the active plan version."""

    plan: str = Field(examples=["示例街道"])
    version: int = Field(examples=[2])
    grid_code: str = Field(examples=["110108001001004"])
    staff: list[StaffOut]
    revision: int = Field(description="the version's staff revision after the last change")
    valid_from: dt.datetime | None = Field(
        default=None, description="since when this list is in force (UTC)"
    )
    valid_to: dt.datetime | None = Field(
        default=None, description="until when: the next change or the version's end; null: open"
    )
    etag: str = Field(description="send as If-Match with a PUT")

    @classmethod
    def of(cls, current: GridStaff) -> GridStaffOut:
        """The answer for ``current``."""
        return cls(
            plan=current.plan,
            version=current.version,
            grid_code=current.grid_code,
            staff=_people(current.staff),
            revision=current.revision,
            valid_from=current.valid_from,
            valid_to=current.valid_to,
            etag=current.etag,
        )


class StaffChangeOut(BaseModel):
    """One change of a grid's staff: before, after, who and when."""

    plan: str = Field(examples=["示例街道"])
    version: int = Field(examples=[2])
    grid_code: str = Field(examples=["110108001001004"])
    revision: int = Field(examples=[1])
    before: list[StaffOut]
    after: list[StaffOut]
    changed_by: str = Field(examples=["规划员张三"])
    role: str = Field(examples=["planner"], description="role of the key that changed it")
    changed_at: dt.datetime = Field(examples=[_WHEN])
    effective: dt.datetime | None = Field(
        default=None, examples=[_WHEN], description="when the change took effect"
    )

    @classmethod
    def of(cls, change: StaffChange) -> StaffChangeOut:
        """The answer for ``change``."""
        return cls(
            plan=change.plan,
            version=change.version,
            grid_code=change.grid_code,
            revision=change.revision,
            before=_people(change.before),
            after=_people(change.after),
            changed_by=change.changed_by,
            role=change.role,
            changed_at=change.changed_at,
            effective=change.effective,
        )


def _people(members: list[StaffMember]) -> list[StaffOut]:
    return [StaffOut(role=m.role, name=m.name, phone=m.phone) for m in members]
