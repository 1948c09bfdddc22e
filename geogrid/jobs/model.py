"""What a job is: its state, progress, parameters, result and who started it."""

from __future__ import annotations

import dataclasses
import datetime as dt
from enum import StrEnum
from typing import Any

__all__ = ["Job", "JobOutput", "JobState"]


class JobState(StrEnum):
    """Where a job is: ``queued`` → ``running`` → ``succeeded`` / ``failed`` / ``cancelled``."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """Whether the job is over (nothing changes it any more).

        Examples
        --------
        >>> JobState.RUNNING.finished, JobState.CANCELLED.finished
        (False, True)
        """
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


@dataclasses.dataclass(frozen=True)
class Job:
    """One job as stored (:class:`geogrid.store.jobs.JobStore`).

    Attributes
    ----------
    id
        A UUID, as text.
    kind
        What it does, e.g. ``"partition"`` (:data:`geogrid.jobs.KINDS`).
    state
        The :class:`JobState`.
    done, total, message
        Progress: ``done`` of ``total`` steps, what it is doing now (Chinese, for planners).
    params
        The job's parameters (JSON), e.g. ``{"band": "300-500", "seed": 0}``.
    result
        What it made (JSON), when it succeeded: for a partition ``{"plan_blob": true,
        "grids": n, "households": n, "out_of_band": [...]}``.
    error
        Why it failed or was cancelled, readable by a planner.
    created_by
        The caller's name; ``owner`` its identity (``key:7``), ``role`` its role and ``scope``
        the code its key is bound to (``None``: everything).
    jurisdiction
        The area the job works on (an area's or a plan's jurisdiction code), for scope checks.
    created_at, started_at, finished_at
        When it was queued, started and ended (UTC).
    pid
        The operating-system process running it (while it runs).
    has_result_plan
        Whether a result plan is stored (:meth:`geogrid.store.jobs.JobStore.result_plan`).
    """

    id: str
    kind: str
    state: JobState
    done: int
    total: int
    message: str
    params: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    created_by: str
    owner: str
    role: str
    scope: str | None
    jurisdiction: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    pid: int | None = None
    has_result_plan: bool = False


@dataclasses.dataclass(frozen=True)
class JobOutput:
    """What a job's work returns: a JSON summary and, optionally, a plan as bytes.

    Attributes
    ----------
    result
        Stored as the job's ``result`` (JSON).
    plan
        The result plan as :func:`geogrid.io.plan_to_bytes` bytes, stored beside it.
    """

    result: dict[str, Any]
    plan: bytes | None = None
