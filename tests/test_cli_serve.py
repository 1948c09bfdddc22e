"""`geogrid serve`: a real server process answering from a plan file, and how plans are stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from plans import QUADRANTS, community_plan, lonlat, mbox
from typer.testing import CliRunner

from geogrid.cli import app
from geogrid.io import write_plan
from geogrid.store import open_store
from tests.service import free_port, wait_until_up

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_serve_plan_answers_locate_over_http(tmp_path: Path) -> None:
    plan_path = write_plan(community_plan(), tmp_path / "plan.gpkg")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEOGRID_")}
    env["GEOGRID_DATA_DIR"] = str(tmp_path / "data")
    command = "from geogrid.cli import app; app()"
    process = subprocess.Popen(
        [sys.executable, "-c", command, "serve", "--plan", str(plan_path), "--port", str(port),
         "--log-level", "warning"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    lon, lat = lonlat(300.0, 300.0)  # the north-east quadrant
    url = f"http://127.0.0.1:{port}/locate?lon={lon}&lat={lat}"
    try:
        answer = json.loads(wait_until_up(process, url))
    finally:
        process.terminate()
        output = process.communicate(timeout=20)[0].decode()
    assert answer["status"] == "inside" and answer["grid_code"] == QUADRANTS[3]
    assert (answer["plan"]["name"], answer["plan"]["version"]) == ("测试", 1)
    assert "stored as version 1 (active)" in output


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record uvicorn.run calls instead of serving."""
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append({"app": app, **kwargs}))
    return calls


def serve(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["serve", *args])
    return result.exit_code, result.output


def test_the_same_plan_is_stored_once(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_server: list
) -> None:
    monkeypatch.setenv("GEOGRID_DATABASE_URL", store_url)
    plan_path = write_plan(community_plan(), tmp_path / "plan.gpkg")
    code, output = serve("--plan", str(plan_path), "--port", "8123", "--workers", "2")
    assert code == 0, output
    assert "stored as version 1 (active)" in output
    again = write_plan(community_plan(), tmp_path / "again.geojson")  # same plan, other format
    code, output = serve("--plan", str(again))
    assert code == 0, output
    assert "stored already as version 1 (active)" in output
    moved = community_plan({QUADRANTS[0]: {"name": "新名字"}})
    code, output = serve("--plan", str(write_plan(moved, tmp_path / "changed.gpkg")))
    assert code == 0 and "stored as version 2 (active)" in output
    with open_store(store_url) as store:
        versions = store.versions()
    assert [(v.version, v.status.value) for v in versions] == [(1, "retired"), (2, "active")]
    assert {v.activated_by for v in versions} == {"geogrid serve"}
    assert no_server[0] == {
        "app": "api.main:create_app",
        "factory": True,
        "host": "127.0.0.1",
        "port": 8123,
        "workers": 2,
        "log_level": "info",
    }
    assert len(no_server) == 3


def test_an_invalid_plan_is_not_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_server: list
) -> None:
    monkeypatch.delenv("GEOGRID_DATABASE_URL", raising=False)
    monkeypatch.setenv("GEOGRID_DATA_DIR", str(tmp_path / "data"))
    overlap = community_plan({QUADRANTS[0]: {"geometry": mbox(0, 0, 250, 200)}})
    code, output = serve("--plan", str(write_plan(overlap, tmp_path / "bad.gpkg")))
    assert code == 2 and "not saved" in output and "overlap" in output
    assert no_server == []


def test_serve_without_plan_says_none_is_active(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_server: list
) -> None:
    monkeypatch.delenv("GEOGRID_DATABASE_URL", raising=False)
    monkeypatch.setenv("GEOGRID_DATA_DIR", str(tmp_path / "data"))
    code, output = serve()
    assert code == 0 and "no active plan" in output and len(no_server) == 1


def test_the_library_does_not_import_the_service() -> None:
    check = (
        "import sys, geogrid.cli; print(sorted(m for m in sys.modules if m.split('.')[0] == 'api'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
