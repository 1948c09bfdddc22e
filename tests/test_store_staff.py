"""Staff changed in place with history, and ETag-checked version transitions, on both stores."""

from __future__ import annotations

import threading

import pytest

from geogrid.access import Caller, Role
from geogrid.errors import (
    AccessDeniedError,
    InvalidPlanError,
    NotFoundError,
    PreconditionFailedError,
    StoreError,
)
from geogrid.store import PlanStore, open_store
from geogrid.store.staff import StaffMember
from tests.service import TOP, street_plan

CODE = f"{TOP}004"
PLANNER = Caller("规划员", Role.PLANNER)
NEW = [StaffMember("head", "王芳", "13800000009"), StaffMember("part_time", "李明")]


@pytest.fixture
def active(store: PlanStore) -> PlanStore:
    """``store`` with the street plan active."""
    plan = street_plan()
    store.save(plan, by="规划员")
    store.approve(plan.name, 1, by="审核员")
    store.activate(plan.name, 1, by="审核员")
    return store


def test_replace_keeps_history_and_raises_the_revision(active: PlanStore) -> None:
    before = active.staff().current(CODE)
    assert [m.role for m in before.staff] == ["head", "full_time"]
    assert before.revision == 0
    after = active.staff().replace(CODE, NEW, caller=PLANNER, expect=[before.etag])
    assert after.staff == NEW and after.revision == 1 and after.etag != before.etag
    assert active.staff().current(CODE) == after
    assert active.active_info().staff_revision == 1  # type: ignore[union-attr]
    plan = active.get("示例街道", 1)
    assert plan.staff_of(CODE)["name"].tolist() == ["王芳", "李明"]
    (change,) = active.staff().history(CODE)
    assert (change.before, change.after) == (before.staff, NEW)
    assert (change.changed_by, change.role, change.revision) == ("规划员", "planner", 1)
    assert (change.plan, change.version) == ("示例街道", 1)
    audit = active.access().list_audit(caller=Caller.local("admin"), action="staff.replace")
    assert [(row.object_id, row.actor) for row in audit] == [(CODE, "规划员")]
    assert audit[0].details["after"][0]["name"] == "王芳"


def test_other_grids_keep_their_staff(active: PlanStore) -> None:
    active.staff().replace(CODE, [], caller=PLANNER)
    assert active.staff().current(CODE).staff == []
    assert len(active.staff().current(f"{TOP}003").staff) == 2
    assert active.staff().table("示例街道", 1)["grid_code"].nunique() == 23


def test_stale_etag_changes_nothing(active: PlanStore) -> None:
    old = active.staff().current(CODE)
    active.staff().replace(CODE, NEW, caller=PLANNER, expect=[old.etag])
    with pytest.raises(PreconditionFailedError, match="changed since they were read"):
        active.staff().replace(CODE, [], caller=PLANNER, expect=[old.etag])
    assert active.staff().current(CODE).staff == NEW
    assert len(active.staff().history(CODE)) == 1
    assert active.active_info().staff_revision == 1  # type: ignore[union-attr]


def test_concurrent_changes_from_one_etag_let_one_through(
    store_url: str, active: PlanStore
) -> None:
    etag = active.staff().current(CODE).etag
    outcomes: list[str] = []

    def change(name: str) -> None:
        with open_store(store_url) as other:
            try:
                other.staff().replace(
                    CODE, [StaffMember("head", name)], caller=PLANNER, expect=[etag]
                )
                outcomes.append("ok")
            except PreconditionFailedError:
                outcomes.append("stale")
            except StoreError:  # SQLite: the other writer held the file lock too long
                outcomes.append("busy")

    threads = [threading.Thread(target=change, args=(f"甲{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("ok") == 1, outcomes
    assert len(active.staff().history(CODE)) == 1


@pytest.mark.parametrize(
    ("staff", "message"),
    [
        ([{"role": "boss", "name": "王芳"}], "unknown staff role 'boss'"),
        ([{"role": "head", "name": "  "}], "needs a name"),
        ([{"role": "head", "name": "王芳"}] * 101, "at most 100"),
    ],
)
def test_bad_staff_lists_are_refused(active: PlanStore, staff, message: str) -> None:
    with pytest.raises(InvalidPlanError, match=message):
        active.staff().replace(CODE, staff, caller=PLANNER)
    assert active.staff().history(CODE) == []


def test_unknown_grid_and_no_active_plan_are_not_found(store: PlanStore) -> None:
    with pytest.raises(NotFoundError, match="no plan is active"):
        store.staff().current(CODE)
    plan = street_plan()
    store.save(plan, by="规划员")
    store.approve(plan.name, 1, by="审核员")
    store.activate(plan.name, 1, by="审核员")
    with pytest.raises(NotFoundError, match="no grid '110108009001'"):
        store.staff().replace("110108009001", NEW, caller=PLANNER)


def test_only_planners_covering_the_grid_change_staff(active: PlanStore) -> None:
    with pytest.raises(AccessDeniedError, match="may not manage plans and staff"):
        active.staff().replace(CODE, NEW, caller=Caller("app", Role.SUPERVISOR))
    east = Caller("东社区规划员", Role.PLANNER, grid_code="110108001002")
    with pytest.raises(AccessDeniedError, match="covers grid 110108001002 only"):
        active.staff().replace(CODE, NEW, caller=east)
    active.staff().replace("110108001002001", NEW, caller=east)


def test_new_version_starts_without_staff_changes(active: PlanStore) -> None:
    active.staff().replace(CODE, NEW, caller=PLANNER)
    info = active.save(active.get("示例街道", 1), by="规划员")
    assert info.staff_revision == 0
    assert active.get("示例街道", 2).staff_of(CODE)["name"].tolist() == ["王芳", "李明"]


def test_transitions_check_the_etag_and_write_audit_rows(store: PlanStore) -> None:
    plan = street_plan()
    draft = store.save(plan, by="规划员", caller=PLANNER)
    approved = store.approve(plan.name, 1, by="规划员", expect=[draft.etag], caller=PLANNER)
    assert approved.etag != draft.etag
    with pytest.raises(PreconditionFailedError, match="changed since it was read"):
        store.activate(plan.name, 1, by="规划员", expect=[draft.etag], caller=PLANNER)
    assert store.active_info() is None
    store.activate(plan.name, 1, by="规划员", expect=["x", approved.etag], caller=PLANNER)
    audit = store.access().list_audit(caller=Caller.local("admin"), object_type="plan_version")
    assert [row.action for row in audit] == ["plan.activate", "plan.approve", "plan.save"]
    assert {row.object_id for row in audit} == {"示例街道/1"}
