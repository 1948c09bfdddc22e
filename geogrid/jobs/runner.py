"""Run queued jobs, each in its own operating-system process, and watch over them.

A :class:`JobRunner` lives in a server process (the service starts one in its lifespan). A
thread of it claims queued jobs from the store (:meth:`geogrid.store.jobs.JobStore.claim`:
at most ``limit`` run at once in the whole store; the others wait, queued) and starts a
process for each (``multiprocessing``, *forkserver* on Linux, else *spawn*: never a thread,
so a CPU-bound partition neither holds the server's GIL nor dies with a request). The
process opens its own store connection and writes its progress and result to the job's row
(:func:`_job_process`); the API reads them from the store, so a job outlives the browser
that started it, and any server process answers for it.

* **Cancel** (:meth:`JobRunner.cancel`, or any server process marking the row cancelled):
  the runner holding the process terminates it.
* **A process that dies** (killed, out of memory) leaves its row ``running``: the runner
  sees the process gone and marks the job failed, with the exit code.
* **A result hook** (``on_result="module:function"``): the job's process calls
  ``function(job, output, store_url)`` after the work and before the job is marked
  succeeded; the keys it returns join the job's ``result`` (e.g. ``{"draft": id}`` of a draft
  opened from the result plan), and an error it raises fails the job with its message.
* **A server that dies** leaves its jobs ``running``: every runner, when it starts and then
  every few seconds, marks failed the running jobs of runners that are gone ("server
  restarted") — a runner on this host whose process is gone, or any whose heartbeat is
  older than :data:`STALE`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from multiprocessing.process import BaseProcess
from typing import Any

from geogrid.access import Caller
from geogrid.errors import ConfigurationError, GeogridError
from geogrid.jobs.model import Job, JobOutput, JobState
from geogrid.jobs.work import execute, unpack_files
from geogrid.store.jobs import JobStore

__all__ = ["RESTARTED", "STALE", "JobRunner"]

STALE = dt.timedelta(seconds=60)
"""A runner not heard of for this long is gone (its running jobs fail)."""

RESTARTED = "服务器已重启，作业中断，请重新开始 (server restarted: start the job again)"
"""The error of a job whose server stopped while it ran."""

_STOPPED = "服务器已停止，作业中断，请重新开始 (server stopped: start the job again)"
_HEARTBEAT_SECONDS = 5.0
_log = logging.getLogger("geogrid.jobs")


class JobRunner:
    """Claims queued jobs and runs each in its own process; see the module docstring.

    Parameters
    ----------
    url
        The store's URL, password included (each job process connects with it).
    limit
        Most jobs running at once in the whole store (``GEOGRID_MAX_JOBS``).
    poll_seconds
        How often the runner looks for queued and cancelled jobs.
    start_method
        ``multiprocessing`` start method; default ``forkserver`` where there is one, else
        ``spawn`` (never ``fork``: the server has threads).
    on_result
        ``"module:function"`` called in each job's process when its work succeeded, as
        ``function(job, output, store_url) -> Mapping | None`` (see the module docstring).
    """

    def __init__(
        self,
        url: str,
        *,
        limit: int = 2,
        poll_seconds: float = 0.5,
        start_method: str | None = None,
        on_result: str | None = None,
    ) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.url = url
        self.limit = limit
        self.poll_seconds = poll_seconds
        self.on_result = on_result
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.store = JobStore.of_url(url)
        methods = multiprocessing.get_all_start_methods()
        method = start_method or ("forkserver" if "forkserver" in methods else "spawn")
        self._context: Any = multiprocessing.get_context(method)
        if method == "forkserver":  # job processes fork from a server with these loaded
            self._context.set_forkserver_preload(["geogrid.jobs.runner"])
        self._processes: dict[str, BaseProcess] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_beat = 0.0

    # -- life --------------------------------------------------------------------------------

    def start(self) -> None:
        """Fail the jobs of dead servers, then start claiming queued jobs."""
        if self._thread is not None:
            return
        failed = self.store.fail_orphans(self._dead, RESTARTED)
        if failed:
            _log.warning("%d job(s) of a stopped server marked failed", failed)
        self._thread = threading.Thread(target=self._loop, name="geogrid-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming; terminate the jobs still running here (failed: server stopped)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        with self._lock:
            running = dict(self._processes)
            self._processes.clear()
        for job_id, process in running.items():
            _end(process)
            with contextlib.suppress(GeogridError):  # the store away: the next start fails it
                self.store.finish(job_id, self.id, error=_STOPPED)
        self.store.close()

    def __enter__(self) -> JobRunner:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- requests ----------------------------------------------------------------------------

    def submit(
        self,
        kind: str,
        params: dict[str, Any],
        *,
        caller: Caller,
        inputs: bytes | None = None,
        jurisdiction: str | None = None,
    ) -> Job:
        """Queue a job (checked by the caller of this method) and wake the runner."""
        job = self.store.create(
            kind, params, caller=caller, inputs=inputs, jurisdiction=jurisdiction
        )
        self._wake.set()
        return job

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued or running job (:class:`~geogrid.errors.ConflictError` if over)."""
        job = self.store.cancel(job_id)
        self._terminate(job_id)
        self._wake.set()
        return job

    def running_here(self) -> dict[str, int | None]:
        """The jobs this runner runs now: job id → process id."""
        with self._lock:
            return {job_id: p.pid for job_id, p in self._processes.items()}

    # -- the loop ----------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._tick()
            except Exception:  # the store away for a moment: try again at the next tick
                _log.exception("job runner: a round failed; trying again")
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def _tick(self) -> None:
        self._reap()
        with self._lock:
            mine = list(self._processes)
        for job_id, state in self.store.states(mine).items():
            if state is not JobState.RUNNING:  # cancelled (by any server process)
                self._terminate(job_id)
        if time.monotonic() - self._last_beat > _HEARTBEAT_SECONDS:
            self._last_beat = time.monotonic()
            if mine:
                self.store.heartbeat(self.id)
            self.store.fail_orphans(self._dead, RESTARTED)
        while not self._stopping.is_set() and self.store.has_queued():
            with self._lock:
                if len(self._processes) >= self.limit:
                    return
            job = self.store.claim(self.id, limit=self.limit)
            if job is None:
                return
            self._spawn(job)

    def _spawn(self, job: Job) -> None:
        process = self._context.Process(
            target=_job_process,
            args=(self.url, job.id, self.id, self.on_result),
            name=f"geogrid-job-{job.id}",
            daemon=True,
        )
        try:
            process.start()
        except Exception as exc:
            self.store.finish(job.id, self.id, error=f"cannot start the job's process: {exc}")
            raise
        with self._lock:
            self._processes[job.id] = process
        if process.pid is not None:
            self.store.started(job.id, self.id, process.pid)

    def _reap(self) -> None:
        with self._lock:
            ended = {i: p for i, p in self._processes.items() if not p.is_alive()}
            for job_id in ended:
                del self._processes[job_id]
        for job_id, process in ended.items():
            process.join()
            # still running in the store: the process died without a word
            self.store.finish(job_id, self.id, error=_died(process.exitcode))

    def _terminate(self, job_id: str) -> None:
        with self._lock:
            process = self._processes.pop(job_id, None)
        if process is not None:
            _end(process)

    def _dead(self, runner: str, heartbeat: dt.datetime | None) -> bool:
        """Whether the runner named ``runner`` is gone (its running jobs fail)."""
        if runner == self.id:
            return False
        host, _, rest = runner.partition(":")
        pid = rest.partition(":")[0]
        if host == socket.gethostname() and (
            not pid.isdigit() or int(pid) == os.getpid() or not _alive(int(pid))
        ):
            return True
        return heartbeat is None or dt.datetime.now(dt.UTC) - heartbeat > STALE


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _end(process: BaseProcess) -> None:
    """Terminate ``process`` (SIGTERM, then SIGKILL after a moment) and wait for it."""
    process.terminate()
    process.join(3)
    if process.is_alive():
        process.kill()
        process.join(3)


def _died(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        how = f"killed by {name}" + (" — out of memory?" if name == "SIGKILL" else "")
    else:
        how = f"exit code {exitcode}"
    return f"作业进程意外退出 (the job's process died: {how}); start the job again"


def _hook(spec: str) -> Callable[[Job, JobOutput, str], Mapping[str, Any] | None]:
    """The function ``"module:function"`` names."""
    module, _, name = spec.partition(":")
    function = getattr(importlib.import_module(module), name, None)
    if not callable(function):
        raise ConfigurationError(f"on_result {spec!r} names no function: write module:function")
    return function


class _Stopped(BaseException):
    """The job no longer runs for this process (cancelled): stop, write nothing more."""


def _job_process(url: str, job_id: str, runner: str, on_result: str | None = None) -> None:
    """The body of a job process: do the work, write progress and the result to the row."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    store = JobStore.of_url(url)
    try:
        job = store.get(job_id)

        def progress(done: int, total: int, message: str) -> None:
            if not store.progress(job_id, runner, done, total, message):
                raise _Stopped

        try:
            with tempfile.TemporaryDirectory(prefix="geogrid-job-") as folder:
                blob = store.inputs(job_id)
                files = unpack_files(blob, folder) if blob else None
                output = execute(
                    job.kind, job.params, files=files, store_url=url, progress=progress
                )
            if on_result is not None:
                extra = _hook(on_result)(job, output, url)
                output = JobOutput({**output.result, **(extra or {})}, output.plan)
        except _Stopped:
            return
        except GeogridError as exc:
            store.finish(job_id, runner, error=str(exc))
        except MemoryError:
            store.finish(job_id, runner, error="内存不足 (out of memory): give a smaller area")
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            store.finish(
                job_id,
                runner,
                error=f"内部错误 (internal error, {type(exc).__name__}: {exc}); report it "
                f"with the job id {job_id}",
            )
        else:
            store.finish(job_id, runner, output)
    finally:
        with contextlib.suppress(Exception):
            store.close()
