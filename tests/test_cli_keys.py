"""`geogrid keys`: create (shown once), list, revoke — on both stores."""

from __future__ import annotations

import pytest
from plans import QUADRANTS, community_plan
from typer.testing import CliRunner

from geogrid.cli import app
from geogrid.errors import AuthenticationError
from geogrid.store import open_store

runner = CliRunner()


@pytest.fixture
def store_env(store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The CLI's store is ``store_url``, holding the community plan (so its codes exist)."""
    monkeypatch.setenv("GEOGRID_DATABASE_URL", store_url)
    with open_store(store_url) as store:
        store.save(community_plan(), by="规划员")
    return store_url


def keys(*args: str):
    return runner.invoke(app, ["keys", *args])


def test_create_authenticate_list_revoke(store_env: str) -> None:
    created = keys("create", "--role", "worker", "--name", "张三", "--grid", QUADRANTS[1])
    assert created.exit_code == 0, created.output
    raw = created.stdout.strip()  # stdout holds the key alone, for scripts
    assert raw.startswith("ggk_") and "\n" not in raw
    assert "shown only this once" in created.stderr
    with open_store(store_env) as store:
        caller = store.access().authenticate(raw)
    assert (caller.name, caller.role.value, caller.grid_code) == ("张三", "worker", QUADRANTS[1])

    listed = keys("list")
    assert listed.exit_code == 0
    assert raw[:12] in listed.output and raw not in listed.output and "张三" in listed.output

    revoked = keys("revoke", str(caller.key_id))
    assert revoked.exit_code == 0 and "revoked key" in revoked.output
    with open_store(store_env) as store, pytest.raises(AuthenticationError, match="revoked"):
        store.access().authenticate(raw)


def test_a_worker_key_needs_a_grid(store_env: str) -> None:
    result = keys("create", "--role", "worker", "--name", "李四")
    assert result.exit_code == 2 and "--grid CODE" in result.output
    result = keys("create", "--role", "worker", "--name", "李四", "--grid", "999")
    assert result.exit_code == 2 and "is neither a grid of a stored plan" in result.output
    assert "no API keys yet" in keys("list").output


def test_unknown_role_lists_the_roles(store_env: str) -> None:
    result = keys("create", "--role", "boss", "--name", "x")
    assert result.exit_code == 2 and "supervisor" in result.output


def test_revoking_an_unknown_key(store_env: str) -> None:
    result = keys("revoke", "42")
    assert result.exit_code == 2 and "42" in result.output and "Traceback" not in result.output
