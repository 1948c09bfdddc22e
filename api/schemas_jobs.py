"""Request and response models of ``/jobs``: a partition started, a job's state and progress."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from geogrid.errors import InvalidInputError
from geogrid.jobs import Job
from geogrid.partition import parse_band

__all__ = ["BandText", "JobOut", "PartitionFilesIn", "PartitionPlanIn", "ProgressOut"]

_BAND_PATTERN = r"^\s*\d{1,7}(\.\d{1,3})?\s*[-–]\s*\d{1,7}(\.\d{1,3})?\s*$"
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
_WHEN = "2026-06-01T08:00:00Z"


def _readable_band(value: Any) -> Any:
    """A band that ``parse_band`` refuses fails with its planner-readable message."""
    if isinstance(value, str):
        try:
            parse_band(value)
        except InvalidInputError as exc:
            raise ValueError(str(exc)) from None
    return value


BandText = Annotated[
    str,
    BeforeValidator(_readable_band),
    Field(
        max_length=40,
        pattern=_BAND_PATTERN,
        description="households per grid, MIN-MAX (户数区间)",
        examples=["300-500"],
    ),
]
Text = Annotated[str, Field(min_length=1, max_length=200, pattern=_PRINTABLE)]
Code = Annotated[str, Field(min_length=1, max_length=60, pattern=_PRINTABLE)]


class PartitionFilesIn(BaseModel):
    """The form fields of a partition of files (the files: `area`, `households`, `barriers`)."""

    model_config = ConfigDict(extra="forbid")

    band: BandText
    then_band: BandText | None = Field(
        default=None, description="micro-grids (微网格) inside every grid, e.g. 20-50"
    )
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="same seed, same plan")
    name: Text | None = Field(default=None, description="the new plan's name")
    cluster: bool | None = Field(
        default=None,
        description="run on the service's Dask cluster (GEOGRID_DASK_SCHEDULER), one task per "
        "area; refused when the service has none",
    )
    crs: Annotated[str, Field(max_length=100, pattern=_PRINTABLE)] | None = Field(
        default=None,
        description="what the files' coordinates are: gcj02 / bd09 for layers traced on a "
        "phone map, or an EPSG code for a file without one",
        examples=["gcj02"],
    )


class PartitionPlanIn(BaseModel):
    """A partition over grids of a stored plan, its units (buildings) as the households."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"plan": "示例街道", "grids": ["110108001001004"], "band": "300-500"}]
        },
    )

    plan: Text = Field(description="the stored plan's name")
    version: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="default: the latest version"
    )
    grids: list[Code] = Field(
        min_length=1, max_length=10_000, description="codes of the grids to re-partition"
    )
    band: BandText
    then_band: BandText | None = None
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


class ProgressOut(BaseModel):
    """How far a job is."""

    done: int = Field(examples=[3], description="steps done")
    total: int = Field(examples=[9], description="steps in all (0 while unknown)")
    message: str = Field(examples=["荷清苑社区：划分网格"], description="what it does now")


class JobOut(BaseModel):
    """A job: what it does, its state and progress, and its result when it succeeded."""

    id: str = Field(examples=["5b0c6f5e-7a4f-4c55-9d43-2f9a7c1d2e10"])
    kind: str = Field(examples=["partition"])
    state: str = Field(
        examples=["running"], description="queued / running / succeeded / failed / cancelled"
    )
    progress: ProgressOut
    params: dict[str, Any] = Field(examples=[{"band": "300-500", "seed": 0}])
    result: dict[str, Any] | None = Field(
        default=None,
        description="for a partition: plan_blob (the result plan is kept), grids, "
        "micro_grids, households, out_of_band, areas, exceptions",
    )
    error: str | None = Field(default=None, description="why it failed or was cancelled")
    created_by: str = Field(examples=["规划员张三"])
    jurisdiction: str | None = Field(default=None, examples=["110108900001"])
    created_at: dt.datetime = Field(examples=[_WHEN])
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @classmethod
    def of(cls, job: Job) -> JobOut:
        """The answer for ``job``."""
        return cls(
            id=job.id,
            kind=job.kind,
            state=job.state.value,
            progress=ProgressOut(done=job.done, total=job.total, message=job.message),
            params=job.params,
            result=job.result,
            error=job.error,
            created_by=job.created_by,
            jurisdiction=job.jurisdiction,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
        )
