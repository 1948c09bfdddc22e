"""A simulated year of incidents (``geogrid.incidents.simulate``) on both stores.

The street plan of ``tests/service.py`` (two communities of 100 m grids) is active; the year
is run through the real machinery and the tests read back what the store holds: the closure
rate hit, every case in a grid, every history a valid walk of the lifecycle, the store's own
statistics equal to the summary, the same seed giving the same rows, and the bulk rows equal
to those of the one-by-one calls and of the HTTP app.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.main import create_app
from geogrid.access import Caller, Role
from geogrid.incidents import (
    DEFAULT_POLICY,
    FAILED_ATTEMPTS,
    REFERRAL_NOTE,
    TRANSITIONS,
    EventAction,
    Status,
    Urgency,
)
from geogrid.incidents.simulate import IMPORTER, plan_year, plans_in_force, simulate_year
from geogrid.incidents.timeline import replay
from geogrid.store import open_store, schema
from tests.service import activate, service_settings, street_plan
from tests.test_county import EAST, WEST, publish, township

START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
TIMES = ("created_at", "updated_at", "closed_at", "deadline", "escalated_at")


@pytest.fixture
def active(store):
    """The store of each backend with the street plan active."""
    plan = street_plan()
    info = store.save(plan, by="规划员")
    store.approve(plan.name, info.version, by="审核员")
    store.activate(plan.name, info.version, by="审核员")
    return store


def rows(store, table: sa.Table, order: str = "id") -> list[dict[str, Any]]:
    engine = store._engine  # the test reads the tables as stored
    with engine.connect() as connection:
        result = connection.execute(sa.select(table).order_by(table.c[order]))
        return [dict(r._mapping) for r in result]


def test_year_hits_closure_rate_and_agrees_with_store_stats(active) -> None:
    summary = simulate_year(
        active, incidents=1500, closed_share=0.983, start=START, seed=7, hotline_share=0.25
    )
    assert summary.incidents == 1500 and len(summary.ids) == 1500
    assert summary.closure_rate is not None
    assert abs(summary.closure_rate - 0.983) <= 0.001  # within 0.1 point
    assert summary.closed + summary.rejected + summary.open == 1500
    assert summary.hotline_orders == 375
    assert summary.escalations > 0 and summary.referrals["社区"] > 0
    figures = active.incidents().stats(caller=IMPORTER, level=1, now=summary.end)
    assert sum(g.total for g in figures) == 1500
    assert sum(g.closed for g in figures) == summary.closed
    assert sum(g.rejected for g in figures) == summary.rejected
    assert sum(g.open for g in figures) == summary.open
    overdue = sum(u.overdue for u in summary.urgency.values())
    assert sum(g.overdue for g in figures) == overdue
    late = sum(u.closed_late for u in summary.urgency.values())
    assert sum(g.closed_late for g in figures) == late
    stored = rows(active, schema.incidents)
    hotline = [r for r in stored if r["created_by"] == "12345政务服务便民热线"]
    assert len(hotline) == 375 and all(
        r["description"].startswith("【12345工单 W") for r in hotline
    )
    assert {u: f.final for u, f in summary.urgency.items()} == {
        u: sum(1 for r in stored if r["urgency"] == u) for u in ("red", "yellow", "blue")
    }


def test_every_incident_is_located_in_a_grid(active) -> None:
    simulate_year(active, incidents=400, closed_share=0.9, start=START, seed=3)
    plan = active.active()
    grids = plan.grids.set_index("code")
    for row in rows(active, schema.incidents):
        code = row["grid_code"]
        assert code is not None and code in grids.index
        assert grids.loc[code, "geometry"].covers(_point(row))
        assert row["level1_code"] == grids.loc[code, "parent_code"]
        assert row["plan_name"] == plan.name and row["plan_version"] == plan.version
        assert row["staff"] and row["staff"][0]["role"] == "head"
        assert row["original_crs"] in ("gcj02", "wgs84")


def test_every_history_is_a_valid_walk_of_the_lifecycle(active) -> None:
    summary = simulate_year(active, incidents=600, closed_share=0.95, start=START, seed=11)
    incidents = {r["id"]: r for r in rows(active, schema.incidents)}
    histories: dict[int, list[dict[str, Any]]] = {}
    for event in rows(active, schema.incident_events):
        histories.setdefault(event["incident_id"], []).append(event)
    referred = escalated = 0
    for incident_id, events in histories.items():
        incident = incidents[incident_id]
        assert events[0]["action"] == "report" and events[0]["to_status"] == "reported"
        status, attempts, tier = Status.REPORTED, 0, 0
        deadline = events[0]["at"] + DEFAULT_POLICY.limit(Urgency(events[0]["urgency"]))
        for before, event in itertools.pairwise(events):
            assert event["at"] >= before["at"]
            assert event["from_status"] == status.value
            if event["action"] == EventAction.TRANSITION.value:
                target = Status(event["to_status"])
                assert target in TRANSITIONS[status]
                attempts += (status, target) in FAILED_ATTEMPTS
                status = target
                if target is Status.REOPENED:
                    deadline = event["at"] + DEFAULT_POLICY.limit(Urgency(event["urgency"]))
            elif event["note"].startswith(REFERRAL_NOTE):
                assert event["to_status"] == status.value and event["at"] > deadline
                tier += 1
            else:  # blue → yellow after three failed attempts
                assert event["urgency"] == "yellow" and before["urgency"] == "blue"
                assert attempts == 3
                deadline = event["at"] + DEFAULT_POLICY.yellow
                escalated += 1
        assert incident["status"] == status.value and incident["attempts"] == attempts
        assert incident["deadline"] == deadline
        assert incident["updated_at"] == events[-1]["at"] <= summary.end
        assert (incident["closed_at"] is not None) == (status is Status.CLOSED)
        assert tier <= 3
        referred += tier > 0
    assert len(histories) == 600
    assert escalated == summary.escalations and referred == summary.referrals["社区"]


def test_same_seed_same_year_other_seed_other_year(active) -> None:
    plan = active.active()
    one = plan_year(plan, incidents=200, closed_share=0.9, start=START, seed=5)
    two = plan_year(plan, incidents=200, closed_share=0.9, start=START, seed=5)
    other = plan_year(plan, incidents=200, closed_share=0.9, start=START, seed=6)
    assert one == two
    assert [p.report for p in one] != [p.report for p in other]
    end = START + dt.timedelta(days=365)
    assert [replay(p, end=end)[0] for p in one] == [replay(p, end=end)[0] for p in two]


@pytest.mark.parametrize("kind", ["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_bulk_rows_are_those_of_the_one_by_one_calls(kind, tmp_path) -> None:
    options: dict[str, Any] = {"incidents": 150, "closed_share": 0.8, "start": START, "seed": 2}
    runs = []
    for bulk in (True, False):
        with service_settings(kind, tmp_path / str(bulk)) as settings:
            activate(settings, street_plan())
            with open_store(settings.store_url) as store:
                summary = simulate_year(store, **options, hotline_share=0.3, bulk=bulk)
                tables = [rows(store, t) for t in (schema.incidents, schema.incident_events)]
                runs.append((summary, tables, _audit(store)))
    (fast, fast_rows, fast_audit), (slow, slow_rows, slow_audit) = runs
    assert fast.referrals["社区"] > 0 and fast.escalations > 0
    assert dataclasses.replace(slow, seconds=0, stages={}, bulk=True) == (
        dataclasses.replace(fast, seconds=0, stages={})
    )
    assert slow_rows == fast_rows
    assert slow_audit == fast_audit


def _publish(settings, county: bool) -> None:
    if not county:
        activate(settings, street_plan())
        return
    with open_store(settings.store_url) as store:
        publish(store, township(WEST, 0))
        publish(store, township(EAST, 4, split=2))


@pytest.mark.parametrize(
    ("kind", "county"),
    [
        ("gpkg", False),
        pytest.param("postgis", False, marks=pytest.mark.postgis),
        ("gpkg", True),
    ],
)
def test_bulk_rows_are_those_the_http_app_writes(kind, county, tmp_path) -> None:
    with service_settings(kind, tmp_path / "http") as settings:
        _publish(settings, county)
        with open_store(settings.store_url) as http_store:
            plans = plans_in_force(http_store)
        planned, replayed = _without_referrals(plans)
        with TestClient(create_app(settings)) as client:
            _through_http(client, settings, planned, replayed)
        with open_store(settings.store_url) as http_store:
            through_http = _comparable(http_store)
    with service_settings(kind, tmp_path / "bulk") as settings:
        _publish(settings, county)
        with open_store(settings.store_url) as store:
            store.incidents().import_histories([h for h, _ in replayed], caller=IMPORTER)
            in_bulk = _comparable(store)
    assert len(in_bulk[0]) == len(planned) > 20
    assert in_bulk == through_http
    assert len({r["plan_name"] for r in in_bulk[0]}) == len(plans)


def test_a_county_year_goes_to_every_jurisdiction(store) -> None:
    publish(store, township(WEST, 0))
    publish(store, township(EAST, 4, split=2))
    summary = simulate_year(store, incidents=500, closed_share=0.97, start=START, seed=8)
    assert summary.closure_rate is not None and abs(summary.closure_rate - 0.97) < 0.002
    stored = rows(store, schema.incidents)
    by_plan = {r["plan_name"] for r in stored}
    assert by_plan == {f"{WEST}镇网格", f"{EAST}镇网格"}
    for row in stored:
        assert row["grid_code"].startswith(row["level1_code"])
        assert row["plan_name"] == f"{row['level1_code']}镇网格"


def _without_referrals(plans) -> tuple[list, list]:
    """A small year, less the cases referred up (the HTTP app refers none: no route yet)."""
    planned = plan_year(
        plans, incidents=40, closed_share=0.9, start=START, seed=4, hotline_share=0.3
    )
    end = START + dt.timedelta(days=365)
    replayed = [replay(p, end=end) for p in planned]
    kept = [n for n, (_, calls) in enumerate(replayed) if all(c.to for c in calls)]
    return [planned[n] for n in kept], [replayed[n] for n in kept]


def _through_http(client, settings, planned, replayed) -> None:
    """Report and move every case through the HTTP app, in the simulated order."""
    keys: dict[tuple[str, str, str | None], dict[str, str]] = {}

    def headers(caller: Caller) -> dict[str, str]:
        label = (caller.name, caller.role.value, caller.grid_code)
        if label not in keys:
            with open_store(settings.store_url) as store:
                raw, _ = store.access().create_key(
                    caller.role,
                    name=caller.name,
                    grid_code=caller.grid_code,
                    caller=Caller.local("测试管理员"),
                )
            keys[label] = {"X-API-Key": raw}
        return keys[label]

    order = sorted(
        [(p.at, n, 0) for n, p in enumerate(planned)]
        + [(c.at, n, k + 1) for n, (_, calls) in enumerate(replayed) for k, c in enumerate(calls)]
    )
    refs: dict[int, str] = {}
    for _, n, k in order:
        if k == 0:
            report = planned[n].report
            body = {
                "category": report.category,
                "description": report.description,
                "lon": report.lon,
                "lat": report.lat,
                "crs": report.crs,
                "reporter_name": report.reporter_name,
                "reporter_phone": report.reporter_phone,
                "photos": list(report.photos),
            }
            if report.urgency is not None:
                body["urgency"] = report.urgency.value
            answer = client.post("/incidents", json=body, headers=headers(planned[n].reporter))
            assert answer.status_code == 201, answer.text
            refs[n] = answer.json()["reference"]
            continue
        call = replayed[n][1][k - 1]
        body = {"to": call.to.value, "note": call.note}
        if call.assignee is not None:
            body["assignee"] = call.assignee
        answer = client.post(
            f"/incidents/{refs[n]}/transitions", json=body, headers=headers(call.caller)
        )
        assert answer.status_code == 200, answer.text


def _comparable(store) -> tuple[list, list, list]:
    """Incidents, events and incident audit rows without the instants (the app uses the clock)."""
    incidents = [
        {k: v for k, v in r.items() if k not in TIMES} | {"reference": r["reference"][-6:]}
        for r in rows(store, schema.incidents)
    ]
    events = [
        {k: v for k, v in r.items() if k not in ("id", "at")}
        for r in rows(store, schema.incident_events)
    ]
    audit = [
        {k: v for k, v in r.items() if k not in ("id", "at", "key_id")}
        | {"details": {k: v for k, v in r["details"].items() if k != "reference"}}
        for r in rows(store, schema.audit_log)
        if r["object_type"] == "incident"
    ]
    return incidents, events, audit


def _audit(store) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "at"} for r in rows(store, schema.audit_log)]


def _point(row: dict[str, Any]) -> Any:
    from shapely.geometry import Point

    return Point(row["lon"], row["lat"])


def test_bad_arguments_say_what_to_give(active) -> None:
    from geogrid.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="share from 0 to 1"):
        simulate_year(active, incidents=10, closed_share=98.3, start=START, seed=1)
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        simulate_year(active, incidents=10, closed_share=0.9, start=dt.datetime(2025, 1, 1), seed=1)
    with pytest.raises(InvalidInputError, match="urgency_mix"):
        simulate_year(
            active, incidents=10, closed_share=0.9, start=START, seed=1, urgency_mix={"pink": 1}
        )
    assert Role.ADMIN is IMPORTER.role


def test_cli_simulates_a_year_into_the_store(active) -> None:
    from typer.testing import CliRunner

    from geogrid.cli import app

    args = ["incidents", "simulate", "--store", active.url, "--count", "300"]
    result = CliRunner().invoke(app, [*args, "--closed", "0.9", "--seed", "3", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["incidents"] == 300 and summary["backend"] == active.backend
    assert abs(summary["closure_rate"] - 0.9) < 0.005
    assert len(rows(active, schema.incidents)) == 300
    bad = CliRunner().invoke(app, [*args, "--closed", "90", "--seed", "3"])
    assert bad.exit_code == 2 and "share from 0 to 1" in bad.output
