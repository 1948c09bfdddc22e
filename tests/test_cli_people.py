"""``geogrid store staff show / set / history`` and ``geogrid store people`` on both stores."""

from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner

from geogrid.cli import app
from geogrid.store import open_store
from tests.service import TOP, street_plan

A = f"{TOP}004"
runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture
def in_force(store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The street plan in force since 2025-01-01 in the store the CLI opens."""
    monkeypatch.setenv("GEOGRID_DATABASE_URL", store_url)
    with open_store(store_url) as store:
        plan = street_plan()
        store.save(plan, by="规划员")
        store.approve(plan.name, 1, by="审核员")
        store.activate(plan.name, 1, by="审核员", valid_from=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    return store_url


def test_staff_set_from_a_date_show_at_and_history(in_force: str) -> None:
    code, output = run(
        "store",
        "staff",
        "set",
        A,
        "head:王芳:13800000009",
        "--from",
        "2026-06-01",
        "--by",
        "李强",
    )
    assert code == 0, output
    assert "1 staff from 2026-06-01 00:00" in output
    code, output = run("store", "staff", "show", A, "--at", "2026-05-01")
    assert code == 0 and "网格长004" in output and "to 2026-06-01 00:00" in output, output
    assert "head 王芳 13800000009" in run("store", "staff", "show", A)[1]
    code, output = run("store", "staff", "history", A)
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0].startswith("2025-01-01 00:00 → 2026-06-01 00:00  示例街道 v1  head 网格长004")
    assert lines[1].startswith("2026-06-01 00:00 → -  示例街道 v1  head 王芳")
    assert "by 李强, in effect from 2026-06-01 00:00: 2 → 1 staff" in lines[2]
    code, output = run("store", "staff", "set", A, "--from", "2026-05-01")
    assert code == 2 and "before the latest one" in output
    assert run("store", "staff", "set", A, "王芳")[0] == 2
    assert "not a date" in run("store", "staff", "show", A, "--at", "June")[1]


def test_people_list_and_show(in_force: str) -> None:
    run("store", "staff", "set", A, "head:王芳:13800000009", "--from", "2026-06-01")
    code, output = run("store", "people", "王芳")
    assert code == 0, output
    person = output.split()[0]
    assert f"{person}  王芳  13800000009" in output
    assert f"2026-06-01 00:00 → -  head of {A} 第4网格  (示例街道 v1)" in output
    code, output = run("store", "people", "show", person)
    assert code == 0 and "王芳" in output, output
    assert run("store", "people", "show", "x")[0] == 2
    assert run("store", "people", "nobody-at-all")[1].strip() == "nobody found"
