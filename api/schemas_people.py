"""Response models of ``/people``: grid workers and their assignments over time."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from geogrid.store.people import Assignment, PersonRecord

__all__ = ["AssignmentOut", "PersonOut"]

_WHEN = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


class AssignmentOut(BaseModel):
    """A person's role on one grid for one period (UTC)."""

    grid_code: str = Field(examples=["110108001001004"])
    grid_name: str | None = Field(default=None, examples=["第4网格"])
    role: str = Field(
        examples=["head"], description="the staff role's key (head 网格长, full_time 专职网格员 …)"
    )
    plan: str = Field(examples=["示例街道"])
    versions: list[int] = Field(examples=[[1, 2]], description="plan versions the period spans")
    jurisdiction: str = Field(examples=["110108001"])
    valid_from: dt.datetime = Field(examples=[_WHEN])
    valid_to: dt.datetime | None = Field(
        default=None, description="end of the period; null while nothing ends it"
    )

    @classmethod
    def of(cls, item: Assignment) -> AssignmentOut:
        """The answer for ``item``."""
        return cls(
            grid_code=item.grid_code,
            grid_name=item.grid_name,
            role=item.role,
            plan=item.plan,
            versions=list(item.versions),
            jurisdiction=item.jurisdiction,
            valid_from=item.valid_from,
            valid_to=item.valid_to,
        )


class PersonOut(BaseModel):
    """A grid worker (人员) and the assignments the caller may see, oldest first."""

    id: int = Field(examples=[17])
    name: str = Field(examples=["王芳"])
    phone: str | None = Field(
        default=None,
        examples=["138****0000"],
        description="masked unless the key may read personal information",
    )
    id_number: str | None = Field(
        default=None, description="resident ID number; only for keys that read personal data"
    )
    assignments: list[AssignmentOut]

    @classmethod
    def of(cls, record: PersonRecord) -> PersonOut:
        """The answer for ``record``."""
        person = record.person
        return cls(
            id=person.id,
            name=person.name,
            phone=person.phone,
            id_number=person.id_number,
            assignments=[AssignmentOut.of(item) for item in record.assignments],
        )
