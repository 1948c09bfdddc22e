"""Long work as jobs: queued in the store, run in their own processes, with progress.

A job (:class:`Job`) is a row of the store's ``jobs`` table (:mod:`geogrid.store.jobs`): its
kind and parameters, state (:class:`JobState`), progress and result. A :class:`JobRunner`
runs queued jobs, each in its own operating-system process (:mod:`geogrid.jobs.runner`);
:func:`run_job_inline` does the same work in the calling process (tests, the CLI). The one
kind so far is ``partition`` (:mod:`geogrid.jobs.partition`): grids drawn afresh from
uploaded files or over part of a stored plan; its result plan is kept as bytes
(:func:`geogrid.io.plan_to_bytes`), read back with
``plan_from_bytes(JobStore.result_plan(job_id))``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from geogrid.jobs.model import Job, JobOutput, JobState
from geogrid.jobs.work import KINDS, pack_files, run_job_inline

if TYPE_CHECKING:
    from geogrid.jobs.runner import JobRunner

__all__ = ["KINDS", "Job", "JobOutput", "JobRunner", "JobState", "pack_files", "run_job_inline"]


def __getattr__(name: str) -> Any:
    # the runner uses the store, whose job table uses this package's model: loaded on use
    if name == "JobRunner":
        from geogrid.jobs.runner import JobRunner

        return JobRunner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
