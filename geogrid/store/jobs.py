"""Jobs in the store: the queue, their progress and results (table ``jobs``, migration 0007).

The store is the queue: :meth:`JobStore.create` adds a ``queued`` row, a runner
(:class:`geogrid.jobs.JobRunner`, in any server process) claims it with :meth:`JobStore.claim`
— no more than a limit of jobs run at once in the whole store — and the job's own process
writes its progress and result through its own connection. Every write of a running job
names the runner that claimed it and changes nothing once the job is over: a job cancelled
(or failed over) meanwhile stays as it is.

Examples
--------
>>> import tempfile
>>> from geogrid.access import Caller, Role
>>> from geogrid.store import open_store
>>> folder = tempfile.TemporaryDirectory()
>>> with open_store(f"sqlite:///{folder.name}/plans.gpkg") as store:
...     jobs = JobStore.of_url(store.url)
...     job = jobs.create("partition", {"band": "300-500"}, caller=Caller("规划员", Role.PLANNER))
...     claimed = jobs.claim("host:1:a", limit=1)
...     _ = jobs.progress(job.id, "host:1:a", 1, 2, "划分网格")
...     _ = jobs.finish(job.id, "host:1:a", JobOutput({"grids": 3}))
...     done = jobs.get(job.id)
...     jobs.close()
>>> claimed.id == job.id, done.state.value, (done.done, done.total), done.result
(True, 'succeeded', (2, 2), {'grids': 3})
>>> folder.cleanup()
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geogrid.access import Caller
from geogrid.errors import ConflictError, NotFoundError
from geogrid.jobs.model import Job, JobOutput, JobState
from geogrid.store import schema
from geogrid.store._session import now_ms, reading, write_transaction
from geogrid.store.database import create_engine

__all__ = ["MAX_LISTED", "JobStore"]

MAX_LISTED = 200
"""Most jobs one listing holds (newest first)."""

_T = schema.jobs
_SUMMARY = [c for c in _T.c if c.name not in ("inputs", "result_blob")]
_OVER = [s.value for s in JobState if s.finished]


class JobStore:
    """The jobs of one store (PostGIS or GeoPackage).

    Parameters
    ----------
    engine
        A migrated engine of the store; :meth:`of_url` makes one.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    def of_url(cls, url: str) -> JobStore:
        """A job store with its own engine on the (migrated) store at ``url``; close it."""
        return cls(create_engine(url))

    def close(self) -> None:
        """Close the engine's connections."""
        self._engine.dispose()

    # -- the caller's side -----------------------------------------------------------------

    def create(
        self,
        kind: str,
        params: Mapping[str, Any],
        *,
        caller: Caller,
        inputs: bytes | None = None,
        jurisdiction: str | None = None,
    ) -> Job:
        """Queue a job of ``kind`` for ``caller``; ``inputs``: its files (a zip), if any."""
        values = {
            "id": str(uuid.uuid4()),
            "kind": kind,
            "state": JobState.QUEUED.value,
            "params": dict(params),
            "inputs": inputs,
            "created_by": caller.name,
            "owner": caller.identity,
            "role": caller.role.value,
            "scope": caller.grid_code,
            "jurisdiction": jurisdiction,
            "created_at": now_ms(),
        }
        with write_transaction(self._engine, f"queue a {kind} job") as connection:
            connection.execute(_T.insert().values(values))
            return _job(connection.execute(_select().where(_T.c.id == values["id"])).one())

    def get(self, job_id: str) -> Job:
        """The job ``job_id``; :class:`NotFoundError` when there is none."""
        with reading(self._engine, "read a job") as connection:
            row = connection.execute(_select().where(_T.c.id == job_id)).first()
        if row is None:
            raise NotFoundError(f"no job {job_id!r}: list yours with GET /jobs")
        return _job(row)

    def list_jobs(self, *, owner: str | None = None, limit: int = MAX_LISTED) -> list[Job]:
        """Jobs, newest first: those of ``owner`` (a caller's identity), or all."""
        query = _select().order_by(_T.c.created_at.desc(), _T.c.id).limit(limit)
        if owner is not None:
            query = query.where(_T.c.owner == owner)
        with reading(self._engine, "list jobs") as connection:
            return [_job(row) for row in connection.execute(query)]

    def cancel(self, job_id: str, *, reason: str = "已取消 (cancelled)") -> Job:
        """Mark a queued or running job cancelled; :class:`ConflictError` when it is over.

        The runner holding its process terminates it (:class:`geogrid.jobs.JobRunner`).
        """
        with write_transaction(self._engine, "cancel a job") as connection:
            done = connection.execute(
                _T.update()
                .where(_T.c.id == job_id, _T.c.state.notin_(_OVER))
                .values(state=JobState.CANCELLED.value, error=reason, finished_at=now_ms())
            ).rowcount
            row = connection.execute(_select().where(_T.c.id == job_id)).first()
        if row is None:
            raise NotFoundError(f"no job {job_id!r}: list yours with GET /jobs")
        job = _job(row)
        if not done:
            raise ConflictError(
                f"job {job_id} is already {job.state.value} (finished at "
                f"{job.finished_at:%Y-%m-%d %H:%M:%S} UTC): only a queued or running job "
                "can be cancelled"
            )
        return job

    def result_plan(self, job_id: str) -> bytes | None:
        """The result plan of a job (:func:`geogrid.io.plan_from_bytes` reads it), or ``None``."""
        return self._blob(job_id, _T.c.result_blob)

    def inputs(self, job_id: str) -> bytes | None:
        """The files a job was given (a zip), or ``None``."""
        return self._blob(job_id, _T.c.inputs)

    # -- the runner's side -----------------------------------------------------------------

    def claim(self, runner: str, *, limit: int) -> Job | None:
        """Start the oldest queued job for ``runner``, unless ``limit`` jobs run already."""
        with write_transaction(self._engine, "claim a job") as connection:
            if (
                connection.dialect.name == "postgresql"
            ):  # one claimer at a time (SQLite: BEGIN IMMEDIATE)
                connection.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('geogrid.jobs'))")
            running = connection.scalar(
                sa.select(sa.func.count()).where(_T.c.state == JobState.RUNNING.value)
            )
            if running is not None and running >= limit:
                return None
            queued = connection.scalar(
                sa.select(_T.c.id)
                .where(_T.c.state == JobState.QUEUED.value)
                .order_by(_T.c.created_at, _T.c.id)
                .limit(1)
            )
            if queued is None:
                return None
            now = now_ms()
            connection.execute(
                _T.update()
                .where(_T.c.id == queued)
                .values(
                    state=JobState.RUNNING.value,
                    runner=runner,
                    started_at=now,
                    heartbeat_at=now,
                    message="启动中 (starting)",
                )
            )
            return _job(connection.execute(_select().where(_T.c.id == queued)).one())

    def has_queued(self) -> bool:
        """Whether a job waits (a read: the runner claims only then, in a write)."""
        query = sa.select(_T.c.id).where(_T.c.state == JobState.QUEUED.value).limit(1)
        with reading(self._engine, "look for queued jobs") as connection:
            return connection.scalar(query) is not None

    def started(self, job_id: str, runner: str, pid: int) -> None:
        """Record the process running the job."""
        self._update(job_id, runner, {"pid": pid}, "record a job's process")

    def progress(self, job_id: str, runner: str, done: int, total: int, message: str) -> bool:
        """Write progress; ``False`` when the job no longer runs for ``runner`` (stop then)."""
        values = {"done": done, "total": total, "message": message, "heartbeat_at": now_ms()}
        return self._update(job_id, runner, values, "write a job's progress")

    def finish(
        self,
        job_id: str,
        runner: str,
        output: JobOutput | None = None,
        *,
        error: str | None = None,
        state: JobState | None = None,
    ) -> bool:
        """End a running job: succeeded with ``output``, else failed (or ``state``) with ``error``."""
        if state is None:
            state = JobState.SUCCEEDED if error is None else JobState.FAILED
        values: dict[str, Any] = {"state": state.value, "finished_at": now_ms(), "error": error}
        if output is not None:
            values |= {"result": output.result, "result_blob": output.plan}
            values |= {"done": _T.c.total, "message": "完成 (done)"}
        return self._update(job_id, runner, values, "store a job's result")

    def annotate(self, job_id: str, key: str, value: Any) -> bool:
        """Add ``key: value`` to a succeeded job's result once (e.g. the draft made of it).

        Returns False when the key is there already (another request added it first).
        """
        with write_transaction(self._engine, "annotate a job's result") as connection:
            result = connection.scalar(
                sa.select(_T.c.result)
                .where(_T.c.id == job_id, _T.c.state == JobState.SUCCEEDED.value)
                .with_for_update()
            )
            if not isinstance(result, dict) or key in result:
                return False
            connection.execute(
                _T.update().where(_T.c.id == job_id).values(result={**result, key: value})
            )
        return True

    def heartbeat(self, runner: str) -> None:
        """Mark every job running for ``runner`` as alive now."""
        with write_transaction(self._engine, "mark jobs alive") as connection:
            connection.execute(
                _T.update()
                .where(_T.c.runner == runner, _T.c.state == JobState.RUNNING.value)
                .values(heartbeat_at=now_ms())
            )

    def states(self, job_ids: list[str]) -> dict[str, JobState]:
        """The state of each of ``job_ids`` (those that exist)."""
        if not job_ids:
            return {}
        query = sa.select(_T.c.id, _T.c.state).where(_T.c.id.in_(job_ids))
        with reading(self._engine, "read job states") as connection:
            return {row.id: JobState(row.state) for row in connection.execute(query)}

    def fail_orphans(self, dead: Callable[[str, dt.datetime | None], bool], reason: str) -> int:
        """Mark failed every running job whose runner ``dead(runner, heartbeat_at)`` says is gone."""
        query = sa.select(_T.c.id, _T.c.runner, _T.c.heartbeat_at).where(
            _T.c.state == JobState.RUNNING.value
        )
        with reading(self._engine, "look for jobs of a dead server") as connection:
            rows = connection.execute(query).all()
        lost = [row.id for row in rows if dead(row.runner or "", row.heartbeat_at)]
        if lost:
            with write_transaction(self._engine, "fail jobs of a dead server") as connection:
                connection.execute(
                    _T.update()
                    .where(_T.c.id.in_(lost), _T.c.state == JobState.RUNNING.value)
                    .values(state=JobState.FAILED.value, error=reason, finished_at=now_ms())
                )
        return len(lost)

    # -- helpers ---------------------------------------------------------------------------

    def _update(self, job_id: str, runner: str, values: Mapping[str, Any], action: str) -> bool:
        with write_transaction(self._engine, action) as connection:
            changed = connection.execute(
                _T.update()
                .where(
                    _T.c.id == job_id,
                    _T.c.runner == runner,
                    _T.c.state == JobState.RUNNING.value,
                )
                .values(**values)
            ).rowcount
        return bool(changed)

    def _blob(self, job_id: str, column: sa.Column[Any]) -> bytes | None:
        with reading(self._engine, "read a job's data") as connection:
            value = connection.scalar(sa.select(column).where(_T.c.id == job_id))
        return None if value is None else bytes(value)


def _select() -> sa.Select[Any]:
    has_plan = _T.c.result_blob.is_not(None).label("has_result_plan")
    return sa.select(*_SUMMARY, has_plan)


def _job(row: sa.Row[Any]) -> Job:
    return Job(
        id=row.id,
        kind=row.kind,
        state=JobState(row.state),
        done=int(row.done),
        total=int(row.total),
        message=row.message,
        params=dict(row.params or {}),
        result=row.result,
        error=row.error,
        created_by=row.created_by,
        owner=row.owner,
        role=row.role,
        scope=row.scope,
        jurisdiction=row.jurisdiction,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        pid=row.pid,
        has_result_plan=bool(row.has_result_plan),
    )
