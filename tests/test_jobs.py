"""Jobs: a partition run in its own process on both stores, cancelled, failing, dying; over HTTP.

Every job here is real: a :class:`~geogrid.jobs.JobRunner` starts an operating-system process
that partitions the Haidian sample (data/boundaries/haidian) and writes its progress and
result through its own store connection; the HTTP tests go through the real app.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import psutil
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from geogrid.access import Caller, Role
from geogrid.cluster.synthetic import synthetic_areas
from geogrid.errors import ConflictError
from geogrid.io import plan_from_bytes
from geogrid.jobs import Job, JobOutput, JobRunner, JobState, pack_files, run_job_inline
from geogrid.jobs.runner import RESTARTED
from geogrid.samples import load_sample
from geogrid.store import open_store
from geogrid.store.jobs import JobStore
from geogrid.validate import validate_plan
from tests.service import issue_key, service_settings

DATA = Path(__file__).resolve().parents[1] / "data" / "boundaries" / "haidian"
HOUSEHOLDS = 9395  # in data/boundaries/haidian/households.gpkg, all inside the area
PLANNER = Caller("规划员张三", Role.PLANNER)


def haidian_files(area: bytes | None = None) -> dict[str, bytes]:
    return {
        "area": area if area is not None else (DATA / "area.geojson").read_bytes(),
        "households": (DATA / "households.gpkg").read_bytes(),
        "barriers": (DATA / "roads.gpkg").read_bytes(),
    }


def long_files(tmp_path: Path) -> dict[str, bytes]:
    """Inputs of a partition that runs for seconds (40 areas, 48,000 household points).

    For the tests that must see a job still running after they look: the Haidian sample
    partitions in well under a second now.
    """
    areas, homes, roads = synthetic_areas(40, 1_200, np.random.default_rng(7))
    files = {}
    for key, frame in (("area", areas), ("households", homes), ("barriers", roads)):
        path = tmp_path / f"{key}.gpkg"
        frame.to_file(path)
        files[key] = path.read_bytes()
    return files


def wait(runner: JobRunner, job_id: str, until, seconds: float = 90) -> tuple[Job, list[Job]]:
    """Poll the store until ``until(job)``; the job then and every state seen."""
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = runner.store.get(job_id)
        seen.append(job)
        if until(job):
            return job, seen
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {seen[-1].state} after {seconds} s: {seen[-1]}")


def finished(job: Job) -> bool:
    return job.state.finished


def gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def runner(store_url: str) -> Iterator[JobRunner]:
    """A runner (one job at a time) on a fresh store of each kind."""
    open_store(store_url).close()  # migrated
    with JobRunner(store_url, limit=1, poll_seconds=0.1) as started:
        yield started


# --------------------------------------------------------------------------- the runner


def test_a_partition_job_runs_to_success_with_progress(runner: JobRunner) -> None:
    job = runner.submit(
        "partition", {"band": "300-500"}, caller=PLANNER, inputs=pack_files(haidian_files())
    )
    assert job.state is JobState.QUEUED and job.owner == PLANNER.identity
    done, seen = wait(runner, job.id, finished)
    assert done.state is JobState.SUCCEEDED, done.error
    steps = [(j.done, j.total) for j in seen if j.total]
    assert steps, "no progress was written"
    assert [d for d, _ in steps] == sorted(d for d, _ in steps)  # never goes back
    assert len({d for d, _ in steps}) > 1 and (done.done, done.total) == (steps[-1][1],) * 2
    assert done.started_at is not None and done.finished_at >= done.started_at
    result = done.result
    assert result["plan_blob"] is True and done.has_result_plan
    assert result["grids"] == 23 and result["households"] == HOUSEHOLDS
    assert result["out_of_band"] == []
    plan = plan_from_bytes(runner.store.result_plan(job.id))
    assert [p.line() for p in validate_plan(plan) if p.severity == "error"] == []
    assert int(plan.units["households"].sum()) == HOUSEHOLDS  # conserved
    assert len(plan.grids[plan.grids["level"] == 2]) == result["grids"]
    assert not psutil.pid_exists(done.pid) or gone(done.pid)


def test_a_cancelled_job_ends_cancelled_and_its_process_is_gone(
    runner: JobRunner, tmp_path: Path
) -> None:
    first = runner.submit(
        "partition", {"band": "300-500"}, caller=PLANNER, inputs=pack_files(long_files(tmp_path))
    )
    second = runner.submit(
        "partition", {"band": "300-500"}, caller=PLANNER, inputs=pack_files(haidian_files())
    )
    running, _ = wait(runner, first.id, lambda j: j.pid is not None or j.state.finished)
    assert running.state is JobState.RUNNING
    assert runner.store.get(second.id).state is JobState.QUEUED  # one at a time
    assert psutil.pid_exists(running.pid)
    cancelled = runner.cancel(first.id)
    assert cancelled.state is JobState.CANCELLED and cancelled.finished_at is not None
    assert gone(running.pid)
    assert runner.running_here().get(first.id) is None
    assert runner.store.get(first.id).state is JobState.CANCELLED  # the process wrote no more
    assert runner.cancel(second.id).state is JobState.CANCELLED  # queued: no process at all
    with pytest.raises(ConflictError, match="already cancelled"):
        runner.cancel(first.id)


def test_another_server_process_cancels_and_the_limit_holds_store_wide(
    runner: JobRunner, tmp_path: Path
) -> None:
    with JobRunner(runner.url, limit=1, poll_seconds=0.1) as other:  # a second worker
        first = other.submit(
            "partition",
            {"band": "300-500"},
            caller=PLANNER,
            inputs=pack_files(long_files(tmp_path)),
        )
        second = other.submit(
            "partition", {"band": "300-500"}, caller=PLANNER, inputs=pack_files(haidian_files())
        )
        running, _ = wait(runner, first.id, lambda j: j.pid is not None or j.state.finished)
        assert running.state is JobState.RUNNING
        time.sleep(0.5)  # both runners have looked for work meanwhile: one job at a time
        assert runner.store.get(second.id).state is JobState.QUEUED
        holder, bystander = (
            (runner, other) if first.id in runner.running_here() else (other, runner)
        )
        bystander.cancel(first.id)  # the request reaches the worker without the process
        assert gone(running.pid)
        deadline = time.monotonic() + 10  # the holder forgets it once it has reaped it
        while first.id in holder.running_here() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.id not in holder.running_here()
        bystander.cancel(second.id)


def test_a_job_whose_input_is_bad_ends_failed_with_the_reason(runner: JobRunner, tmp_path) -> None:
    areas = gpd.read_file(DATA / "area.geojson").drop(columns=["name"])
    areas.to_file(tmp_path / "area.gpkg")
    inputs = pack_files(haidian_files((tmp_path / "area.gpkg").read_bytes()))
    job = runner.submit("partition", {"band": "300-500"}, caller=PLANNER, inputs=inputs)
    done, _ = wait(runner, job.id, finished)
    assert done.state is JobState.FAILED
    assert "needs a 'name' column" in done.error
    assert done.result is None and not done.has_result_plan


def test_a_job_whose_process_dies_is_marked_failed(runner: JobRunner) -> None:
    job = runner.submit(
        "partition", {"band": "300-500"}, caller=PLANNER, inputs=pack_files(haidian_files())
    )
    running, _ = wait(runner, job.id, lambda j: j.pid is not None or j.state.finished)
    os.kill(running.pid, signal.SIGKILL)
    done, _ = wait(runner, job.id, finished)
    assert done.state is JobState.FAILED
    assert "process died" in done.error and "SIGKILL" in done.error


def name_the_draft(job: Job, output: JobOutput, store_url: str) -> dict[str, object]:
    """A result hook, as the workbench's: it sees the job, its output and the store."""
    plan = plan_from_bytes(output.plan)
    return {"draft": f"d-{job.id[:8]}", "hook_saw": [len(plan.grids), store_url]}


def test_a_result_hook_adds_to_the_result_before_success(store_url: str) -> None:
    open_store(store_url).close()
    hook = "tests.test_jobs:name_the_draft"
    with JobRunner(store_url, limit=1, poll_seconds=0.1, on_result=hook) as runner:
        job = runner.submit(
            "partition", {"band": "300-500"}, caller=PLANNER, inputs=pack_files(haidian_files())
        )
        done, seen = wait(runner, job.id, finished)
    assert done.state is JobState.SUCCEEDED, done.error
    assert done.result["draft"] == f"d-{job.id[:8]}" and done.result["grids"] == 23
    assert done.result["hook_saw"] == [27, store_url]  # 4 areas and 23 grids; the store
    assert all(j.result is None for j in seen if j.state is not JobState.SUCCEEDED)


def test_jobs_left_running_by_a_dead_server_fail_when_a_server_starts(store_url: str) -> None:
    open_store(store_url).close()
    jobs = JobStore.of_url(store_url)  # no runner: its own sweep would fail the job at once
    job = jobs.create("partition", {"band": "300-500"}, caller=PLANNER)
    dead = f"{socket.gethostname()}:{2**22 + 1}:gone"  # above Linux's pid_max: no such process
    assert jobs.claim(dead, limit=1).id == job.id
    assert jobs.get(job.id).state is JobState.RUNNING
    jobs.close()
    with JobRunner(store_url, limit=1, poll_seconds=60) as restarted:
        failed = restarted.store.get(job.id)
    assert failed.state is JobState.FAILED and failed.error == RESTARTED


def test_run_job_inline_re_partitions_grids_of_a_stored_plan(store_url: str) -> None:
    sample = load_sample("haidian")
    with open_store(store_url) as store:
        store.save(sample, by="规划员")
    codes = ["110108900001001", "110108900001002", "110108900001003"]
    steps = []
    params = {"plan": sample.name, "grids": codes, "band": "300-500", "then_band": "50-150"}
    out = run_job_inline(
        "partition", params, store_url=store_url, progress=lambda d, t, m: steps.append((d, t, m))
    )
    before = int(sample.grids.set_index("code").loc[codes, "households"].sum())
    plan = plan_from_bytes(out.plan)
    assert out.result["households"] == before == int(plan.units["households"].sum())
    assert out.result["replaces"] == codes and out.result["version"] == 1
    assert plan.levels == ["社区", "网格", "微网格"]
    assert set(plan.grids.loc[plan.grids["level"] == 1, "code"]) == {"110108900001"}
    assert [p.line() for p in validate_plan(plan) if p.severity == "error"] == []
    assert steps[-1][0] == steps[-1][1] and steps[-1][2] == "完成"


# --------------------------------------------------------------------------- over HTTP


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def service(request, tmp_path):
    """The app on a fresh store of each kind, a planner key, another planner's key."""
    with service_settings(request.param, tmp_path, max_jobs=1) as settings:
        planner = issue_key(settings, "planner", name="规划员张三")
        other = issue_key(settings, "planner", name="规划员李四")
        with TestClient(create_app(settings)) as client:
            yield client, planner, other, settings


def multipart(files: dict[str, bytes]) -> dict[str, tuple[str, bytes, str]]:
    return {role: (f"{role}.bin", data, "application/octet-stream") for role, data in files.items()}


def poll(client, location: str, headers, seconds: float = 90) -> list[dict]:
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = client.get(location, headers=headers)
        assert answer.status_code == 200, answer.text
        seen.append(answer.json())
        if seen[-1]["state"] in ("succeeded", "failed", "cancelled"):
            return seen
        time.sleep(0.1)
    raise AssertionError(f"{location} still {seen[-1]['state']}")


def test_http_partition_202_location_polling_404_and_409(service) -> None:
    client, planner, other, _ = service
    answer = client.post(
        "/jobs/partition",
        files=multipart(haidian_files()),
        data={"band": "300-500", "name": "海淀重划"},
        headers=planner,
    )
    assert answer.status_code == 202, answer.text
    body = answer.json()
    location = answer.headers["location"]
    assert location == f"/jobs/{body['id']}" and body["state"] in ("queued", "running")
    assert body["params"] == {"band": "300-500", "seed": 0, "name": "海淀重划"}
    assert body["jurisdiction"] is None  # four areas, a key bound to no code
    seen = poll(client, location, planner)
    done = seen[-1]
    assert done["state"] == "succeeded", done["error"]
    assert done["result"]["grids"] == 23 and done["result"]["households"] == HOUSEHOLDS
    assert done["result"]["name"] == "海淀重划"
    # the result opens in the workbench as the owner's draft, once
    draft = client.get(f"/drafts/{done['result']['draft']}", headers=planner).json()
    assert draft["plan"] == "海淀重划" and draft["base_version"] is None
    assert sum(g["households"] for g in draft["grids"]) == HOUSEHOLDS
    assert len([g for g in draft["grids"] if g["level"] == 2]) == 23
    assert client.get(location, headers=planner).json()["result"]["draft"] == draft["id"]
    assert len(client.get("/drafts", headers=planner).json()) == 1
    assert [j["id"] for j in client.get("/jobs", headers=planner).json()] == [body["id"]]
    # another planner neither sees nor cancels it
    assert client.get(location, headers=other).status_code == 404
    assert client.delete(location, headers=other).status_code == 404
    assert client.get("/jobs", headers=other).json() == []
    # over: cancelling is a conflict
    late = client.delete(location, headers=planner)
    assert late.status_code == 409 and "already succeeded" in late.json()["detail"]


def test_http_cancel_and_a_stored_plan_partition(service) -> None:
    client, planner, _, settings = service
    sample = load_sample("haidian")
    with open_store(settings.store_url) as store:
        store.save(sample, by="规划员")
    body = {"plan": sample.name, "grids": ["110108900002001", "110108900002002"], "band": "300-500"}
    first = client.post("/jobs/partition", json=body, headers=planner)
    second = client.post("/jobs/partition", json=body, headers=planner)
    assert first.status_code == second.status_code == 202, first.text
    cancelled = client.delete(second.headers["location"], headers=planner)
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    done = poll(client, first.headers["location"], planner)[-1]
    assert done["state"] == "succeeded", done["error"]
    assert done["params"]["version"] == 1 and done["jurisdiction"] == sample.name
    assert done["result"]["replaces"] == body["grids"]
    assert client.get(second.headers["location"], headers=planner).json()["state"] == "cancelled"


def test_http_bad_input_is_422_and_nothing_is_stored(service) -> None:
    client, planner, _, _ = service
    bad_band = client.post(
        "/jobs/partition",
        files=multipart(haidian_files()),
        data={"band": "500-300"},
        headers=planner,
    )
    assert bad_band.status_code == 422
    assert "write it like 300-500" in bad_band.json()["detail"][0]["msg"]
    not_geo = haidian_files() | {"households": b"\x00not a geo file"}
    unreadable = client.post(
        "/jobs/partition", files=multipart(not_geo), data={"band": "300-500"}, headers=planner
    )
    assert unreadable.status_code == 422 and "households" in unreadable.json()["detail"]
    broken = haidian_files() | {"area": b'{"type": "FeatureCollection", "features": [{]}'}
    answer = client.post(
        "/jobs/partition", files=multipart(broken), data={"band": "300-500"}, headers=planner
    )
    assert answer.status_code == 422, answer.text
    missing = client.post(
        "/jobs/partition", json={"plan": "没有", "grids": ["1"], "band": "300-500"}, headers=planner
    )
    assert missing.status_code == 404
    assert client.get("/jobs", headers=planner).json() == []
    worker = {"X-API-Key": "ggk_nope"}
    assert client.get("/jobs", headers=worker).status_code == 401
