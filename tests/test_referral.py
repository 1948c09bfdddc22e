"""Overdue cases referred up 网格 → 社区 → 街道 → 部门 (the Wangcheng rule), pure and stored."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from geogrid.access import Caller, Role
from geogrid.errors import AccessDeniedError, InvalidIncidentError, TransitionError
from geogrid.incidents import (
    DEFAULT_CHAIN,
    REFERRAL_NOTE,
    IncidentReport,
    Placement,
    ReferralChain,
    Status,
    apply_transition,
    open_incident,
    refer_overdue,
    referral_tier,
)
from geogrid.store import open_store
from tests.service import TOP, activate, centre, issue_key, service_settings, street_plan

T0 = dt.datetime(2025, 3, 2, 8, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
GRID = f"{TOP}004"
CENTRE = Caller("网格化服务管理中心", Role.ADMIN)


def case(category: str = "dispute"):
    report = IncidentReport(category, "邻里噪音纠纷", 116.39, 39.90)
    return open_incident(report, Placement(116.39, 39.90, (TOP, GRID)), at=T0, by="App")


def climb(incident, start: dt.datetime):
    """Refer ``incident`` up every tier, each at the first instant allowed."""
    events = []
    tier = 0
    while (due := DEFAULT_CHAIN.due(incident, tier)) is not None:
        at = max(due, start) + dt.timedelta(hours=1)
        incident, new = refer_overdue(incident, tier=tier, at=at, by="中心", role="admin")
        events += new
        tier += 1
    return incident, events


def test_an_overdue_case_climbs_grid_community_street_department() -> None:
    blue = case()
    assert DEFAULT_CHAIN.due(blue, 0) == T0 + 7 * DAY  # its deadline
    moved, events = climb(blue, T0)
    assert [e.note.split(" (")[0] for e in events] == [
        f"{REFERRAL_NOTE}: 网格 → 社区",
        f"{REFERRAL_NOTE}: 社区 → 街道",
        f"{REFERRAL_NOTE}: 街道 → 部门",
    ]
    assert [e.at for e in events] == [T0 + d * DAY + dt.timedelta(hours=1) for d in (7, 14, 21)]
    assert moved.assignee == "区司法局"  # the department of disputes
    assert moved.status is Status.REPORTED and moved.urgency is blue.urgency
    assert moved.deadline == blue.deadline  # still overdue in the statistics
    assert referral_tier(events) == 3
    assert [DEFAULT_CHAIN.unit(blue, t) for t in range(4)] == [GRID, TOP, TOP[:-3], "区司法局"]


def test_a_referral_too_early_closed_or_past_the_top_is_refused() -> None:
    blue = case()
    with pytest.raises(TransitionError, match="only after"):
        refer_overdue(blue, tier=0, at=T0 + DAY, by="中心", role="admin")
    top, _ = climb(blue, T0)
    with pytest.raises(TransitionError, match="at the top"):
        refer_overdue(top, tier=3, at=T0 + 99 * DAY, by="中心", role="admin")
    closed = blue
    for target in ("accepted", "dispatched", "handled", "feedback", "closed"):
        closed, _ = apply_transition(closed, target, by="王芳", role="worker", at=T0 + DAY)
    with pytest.raises(TransitionError, match="closed or rejected"):
        refer_overdue(closed, tier=0, at=T0 + 30 * DAY, by="中心", role="admin")
    later = blue.updated_at + 30 * DAY
    moved, _ = apply_transition(blue, "accepted", by="王芳", role="worker", at=later)
    with pytest.raises(InvalidIncidentError, match="cannot be dated earlier"):
        refer_overdue(moved, tier=0, at=later - DAY, by="中心", role="admin")


def test_a_chain_of_one_tier_is_refused_and_departments_are_configurable() -> None:
    with pytest.raises(InvalidIncidentError, match="two or more tier names"):
        ReferralChain(tiers=("网格",))
    mine = ReferralChain(tiers=("网格", "街道", "部门"), departments={"dispute": "区综治中心"})
    assert mine.unit(case(), 2) == "区综治中心" and mine.unit(case("other"), 2) == "区职能部门"


@pytest.mark.parametrize("kind", ["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_the_store_refers_by_its_history_and_the_app_shows_it(kind, tmp_path) -> None:
    with service_settings(kind, tmp_path) as settings:
        activate(settings, street_plan())
        with open_store(settings.store_url) as store:
            incidents = store.incidents()
            report = IncidentReport("environment", "垃圾堆放", *centre(1, 1))
            where = Placement(*centre(1, 1), (TOP, GRID))
            made = incidents.create_incident(report, where, caller=CENTRE, at=T0).incident
            assert made.id is not None
            with pytest.raises(TransitionError, match="only after"):
                incidents.refer_overdue(made.id, caller=CENTRE, at=T0 + DAY)
            first = incidents.refer_overdue(made.id, caller=CENTRE, at=T0 + 8 * DAY)
            second = incidents.refer_overdue(made.id, caller=CENTRE, at=T0 + 15 * DAY)
            assert (first.assignee, second.assignee) == (f"社区 {TOP}", f"街道 {TOP[:-3]}")
            with pytest.raises(AccessDeniedError):
                incidents.refer_overdue(made.id, caller=Caller("督办", Role.SUPERVISOR))
            audit = store.access().list_audit(caller=Caller.local("管理员"))
            assert [a.action for a in audit[:3]] == ["incident.refer"] * 3
            assert audit[0].details["denied"] == "AccessDeniedError"
            assert audit[1].details == {"from": "社区", "to": "街道", "assignee": second.assignee}
        with TestClient(create_app(settings)) as client:
            admin = issue_key(settings, "admin", name="管理员")
            history = client.get(f"/incidents/{made.reference}/history", headers=admin)
            assert history.status_code == 200, history.text
            notes = [e["note"] for e in history.json() if e["action"] == "escalate"]
            assert len(notes) == 2 and all(n.startswith(REFERRAL_NOTE) for n in notes)
