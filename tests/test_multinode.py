"""Several `geogrid serve` processes on one PostGIS: a plan activated anywhere reaches them all.

Two real server processes on loopback share a scratch PostGIS store with the periodic check
set to an hour, so only the store's notice (``LISTEN geogrid_plans``, migration 0009) can
make them answer from a version activated by a third process (this test). The pick-up time
is measured in ``bench/bench_multinode.py``; here the wait is generous.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from plans import QUADRANTS, community_plan, lonlat

from geogrid.store import open_store
from tests._pg import scratch_database, url_of
from tests.service import free_port, wait_until_up

pytestmark = pytest.mark.postgis
ROOT = Path(__file__).resolve().parents[1]


def _serve(url: str, port: int, tmp_path: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEOGRID_")}
    env |= {
        "GEOGRID_DATABASE_URL": url,
        "GEOGRID_DATA_DIR": str(tmp_path / f"data-{port}"),
        "GEOGRID_LISTENING_CHECK_SECONDS": "3600",  # only a notice can bring the new version
    }
    command = "from geogrid.cli import app; app()"
    return subprocess.Popen(
        [sys.executable, "-c", command, "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[str, list[int]]]:
    with scratch_database() as dsn:
        url = url_of(dsn)
        _activate(url, community_plan())
        ports = [free_port(), free_port()]
        servers = [_serve(url, port, tmp_path) for port in ports]
        try:
            for server, port in zip(servers, ports, strict=True):
                wait_until_up(server, f"http://127.0.0.1:{port}/healthz", seconds=120)
            yield url, ports
        finally:
            for server in servers:
                server.terminate()
                server.communicate(timeout=30)


def _activate(url: str, plan: object) -> int:
    with open_store(url) as store:
        info = store.save(plan, by="规划员")  # type: ignore[arg-type]
        store.approve(info.plan, info.version, by="审核员")
        store.activate(info.plan, info.version, by="审核员")
        return info.version


def _ready(port: int) -> bool:
    status, body = _get(f"http://127.0.0.1:{port}/readyz")
    return status == 200 and body["checks"].get("listener") == "ok"


def test_a_version_activated_elsewhere_is_answered_by_every_server(cluster) -> None:
    url, ports = cluster
    deadline = time.monotonic() + 60
    while not all(_ready(port) for port in ports):
        assert time.monotonic() < deadline, [_get(f"http://127.0.0.1:{p}/readyz") for p in ports]
        time.sleep(0.2)
    lon, lat = lonlat(300.0, 300.0)
    def locate(port: int) -> str:
        return f"http://127.0.0.1:{port}/locate?lon={lon}&lat={lat}"

    for port in ports:
        status, answer = _get(locate(port))
        assert status == 200 and answer["plan"]["version"] == 1
    version = _activate(url, community_plan({QUADRANTS[3]: {"name": "改名的网格"}}))
    assert version == 2
    deadline = time.monotonic() + 60
    answers: dict[int, dict] = {}
    while len(answers) < len(ports):
        assert time.monotonic() < deadline, answers
        for port in ports:
            status, answer = _get(locate(port))
            if status == 200 and answer["plan"]["version"] == 2:
                answers[port] = answer
        time.sleep(0.1)
    assert {a["levels"][-1]["grid"]["name"] for a in answers.values()} == {"改名的网格"}


def test_health_and_readiness(cluster) -> None:
    _, ports = cluster
    status, body = _get(f"http://127.0.0.1:{ports[0]}/healthz")
    assert (status, body["status"]) == (200, "ok")
    deadline = time.monotonic() + 60
    while not _ready(ports[0]):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    status, body = _get(f"http://127.0.0.1:{ports[0]}/readyz")
    assert body["checks"] == {"store": "ok", "plans": "ok", "listener": "ok"}
