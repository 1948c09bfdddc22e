"""Staff in time and people over the API, on both stores: ``at=``, ``effective``, ``/people``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from geogrid.store import open_store
from tests.service import TOP, issue_key, service_settings, street_plan

EAST = "110108001002"
A = f"{TOP}004"
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
NEW = {"staff": [{"role": "head", "name": "王芳", "phone": "13800000009"}]}


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[TestClient, dict]]:
    """The service over the street plan in force since 2025-01-01, and keys by role."""
    with service_settings(request.param, tmp_path) as settings:
        with open_store(settings.store_url) as store:
            plan = street_plan()
            store.save(plan, by="规划员")
            store.approve(plan.name, 1, by="审核员")
            store.activate(plan.name, 1, by="审核员", valid_from=START)
        keys = {
            "admin": issue_key(settings, "admin"),
            "west": issue_key(settings, "planner", TOP),
            "east": issue_key(settings, "planner", EAST),
            "reporter": issue_key(settings, "reporter"),
        }
        with TestClient(create_app(settings)) as service:
            yield service, keys


def _heads(service: TestClient, key: dict, at: str | None = None) -> list[str]:
    params = {} if at is None else {"at": at}
    answer = service.get(f"/grids/{A}/staff", params=params, headers=key)
    assert answer.status_code == 200, answer.text
    return [m["name"] for m in answer.json()["staff"] if m["role"] == "head"]


def test_a_back_dated_change_is_answered_at_every_instant(client) -> None:
    service, keys = client
    admin = keys["admin"]
    then = service.get(f"/grids/{A}/staff", params={"at": "2026-06-01T00:00:00Z"}, headers=admin)
    body = NEW | {"effective": "2026-06-01T00:00:00Z"}
    put = service.put(
        f"/grids/{A}/staff", json=body, headers=admin | {"If-Match": then.headers["ETag"]}
    )
    assert put.status_code == 200, put.text
    assert put.json()["valid_from"].startswith("2026-06-01T00:00:00")
    assert _heads(service, admin, "2026-05-31T23:59:59Z") == ["网格长004"]
    assert _heads(service, admin, "2026-06-01T00:00:00Z") == ["王芳"] == _heads(service, admin)
    assert (
        service.get(f"/grids/{A}/staff", params={"at": "2024-01-01"}, headers=admin).status_code
        == 404
    )
    (change,) = service.get(f"/grids/{A}/staff/history", headers=admin).json()
    assert change["effective"].startswith("2026-06-01T00:00:00")
    early = NEW | {"effective": "2026-05-01T00:00:00Z"}
    refused = service.put(f"/grids/{A}/staff", json=early, headers=admin | {"If-Match": "*"})
    assert refused.status_code == 409 and "before the latest one" in refused.json()["detail"]


def test_people_are_read_with_periods_scopes_and_masks(client) -> None:
    service, keys = client
    service.put(f"/grids/{A}/staff", json=NEW, headers=keys["admin"] | {"If-Match": "*"})
    (wang,) = service.get("/people", params={"q": "王芳"}, headers=keys["admin"]).json()
    assert wang["phone"] == "13800000009"
    ((assignment),) = wang["assignments"]
    assert (assignment["grid_code"], assignment["role"], assignment["versions"]) == (A, "head", [1])
    assert assignment["valid_to"] is None and assignment["grid_name"] == "第4网格"
    seen = service.get(f"/people/{wang['id']}", headers=keys["west"]).json()
    assert seen["phone"] == "138****0009" and seen["assignments"] == wang["assignments"]
    assert service.get(f"/people/{wang['id']}", headers=keys["east"]).status_code == 404
    assert service.get("/people", params={"q": "王芳"}, headers=keys["east"]).json() == []
    everyone = service.get("/people", params={"limit": 500}, headers=keys["east"]).json()
    assert everyone and all(
        a["grid_code"].startswith(EAST) for p in everyone for a in p["assignments"]
    )
    assert service.get("/people", headers=keys["reporter"]).status_code == 403
    assert service.get("/people/999999", headers=keys["admin"]).status_code == 404
