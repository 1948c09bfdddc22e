"""People and staff in time, on both stores: history across a redraw, dated staff changes, scopes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from geogrid.access import Caller, Role
from geogrid.errors import AccessDeniedError, NotFoundError, VersionStateError
from geogrid.plan import GridPlan
from geogrid.store import PlanStore
from geogrid.store.database import create_engine
from geogrid.store.people import link_people
from geogrid.store.staff import StaffMember
from tests.service import TOP, street_plan

EAST = "110108001002"
A, B = f"{TOP}004", f"{TOP}006"
T1 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
T2 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
PLANNER = Caller("规划员", Role.PLANNER)
WANG = ("王芳", "13800000009")


def _day(year: int, month: int, day: int = 1) -> dt.datetime:
    return dt.datetime(year, month, day, tzinfo=dt.UTC)


def _with_head(plan: GridPlan, code: str, name: str, phone: str) -> GridPlan:
    staff = plan.staff.copy()
    head = (staff["grid_code"] == code) & (staff["role"] == "head")
    staff.loc[head, "name"], staff.loc[head, "phone"] = name, phone
    plan.staff = staff
    return plan


def _publish(store: PlanStore, plan: GridPlan, start: dt.datetime) -> int:
    info = store.save(plan, by="规划员")
    store.approve(plan.name, info.version, by="审核员")
    store.activate(plan.name, info.version, by="审核员", valid_from=start)
    return info.version


@pytest.fixture
def redrawn(store: PlanStore) -> PlanStore:
    """v1 (王芳 heads A) in force from T1; v2 (李强 heads A, 王芳 heads B) from T2."""
    _publish(store, _with_head(street_plan(), A, *WANG), T1)
    v2 = _with_head(_with_head(street_plan(), A, "李强", "13900000001"), B, *WANG)
    _publish(store, v2, T2)
    return store


def _heads(store: PlanStore, code: str, at: dt.datetime | None = None) -> list[str]:
    current = store.staff().current(code, at=at)
    return [m.name for m in current.staff if m.role == "head"]


def test_a_person_keeps_history_across_a_redraw(redrawn: PlanStore) -> None:
    (wang,) = redrawn.staff().people().find("王芳")
    periods = [
        (a.grid_code, a.role, a.versions, a.valid_from, a.valid_to) for a in wang.assignments
    ]
    assert periods == [(A, "head", (1,), T1, T2), (B, "head", (2,), T2, None)]
    assert [a.grid_code for a in wang.at(_day(2025, 6))] == [A]
    assert [a.grid_code for a in wang.at(_day(2026, 6))] == [B]
    assert redrawn.staff().people().get(wang.person.id) == wang
    # a head kept by the redraw holds one assignment spanning both versions
    (kept,) = redrawn.staff().people().find("网格长003")
    assert [(a.grid_code, a.versions, a.valid_from, a.valid_to) for a in kept.assignments] == [
        (f"{TOP}003", (1, 2), T1, None),
        (f"{EAST}003", (1, 2), T1, None),
    ]


def test_staff_at_an_instant_before_and_after_the_redraw(redrawn: PlanStore) -> None:
    assert _heads(redrawn, A, _day(2025, 6)) == ["王芳"]
    assert _heads(redrawn, B, _day(2025, 6)) == ["网格长006"]
    assert _heads(redrawn, A, _day(2026, 6)) == ["李强"] == _heads(redrawn, A)
    assert _heads(redrawn, B, _day(2026, 6)) == ["王芳"]
    then = redrawn.staff().current(A, at=_day(2025, 6))
    assert (then.version, then.valid_from, then.valid_to) == (1, T1, T2)
    assert redrawn.get("示例街道", 1, at=_day(2025, 6)).staff_of(A)["name"].iloc[0] == "王芳"
    with pytest.raises(NotFoundError, match="no plan is active at 2024-06-01"):
        redrawn.staff().current(A, at=_day(2024, 6))
    with pytest.raises(NotFoundError, match=r"no grid '110108009001'.*no version in force ever"):
        redrawn.staff().current("110108009001")


def test_a_past_version_is_history(redrawn: PlanStore) -> None:
    with pytest.raises(VersionStateError, match="staff of a past version are history"):
        redrawn.staff().replace(A, [], caller=PLANNER, effective=_day(2025, 6))
    assert _heads(redrawn, A, _day(2025, 6)) == ["王芳"]


def test_staff_changes_back_dated_and_scheduled(redrawn: PlanStore) -> None:
    staff = redrawn.staff()
    back = _day(2026, 6)
    etag = staff.current(A, at=back).etag
    new = staff.replace(
        A, [StaffMember("head", *WANG)], caller=PLANNER, expect=[etag], effective=back
    )
    assert (new.valid_from, new.valid_to, new.revision) == (back, None, 1)
    assert _heads(redrawn, A, _day(2026, 5)) == ["李强"]
    assert _heads(redrawn, A, _day(2026, 7)) == ["王芳"] == _heads(redrawn, A)
    assert redrawn.get("示例街道", 2, at=_day(2026, 5)).staff_of(A)["name"].iloc[0] == "李强"
    with pytest.raises(VersionStateError, match="may not take effect before the latest one"):
        staff.replace(A, [], caller=PLANNER, effective=_day(2026, 4))
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).replace(microsecond=0)
    staff.replace(A, [StaffMember("head", "赵磊")], caller=PLANNER, effective=later)
    assert _heads(redrawn, A) == ["王芳"]  # not yet
    assert _heads(redrawn, A, later + dt.timedelta(days=1)) == ["赵磊"]
    assert staff.next_change() == later
    timeline = [(p.valid_from, p.valid_to, [m.name for m in p.staff]) for p in staff.timeline(A)]
    assert timeline == [
        (T1, T2, ["王芳", "网格员004"]),
        (T2, back, ["李强", "网格员004"]),
        (back, later, ["王芳"]),
        (later, None, ["赵磊"]),
    ]
    assert [(c.effective, c.revision) for c in staff.history(A)] == [(later, 2), (back, 1)]
    (wang,) = staff.people().find("王芳")
    assert [(a.grid_code, a.valid_from, a.valid_to) for a in wang.assignments] == [
        (A, T1, T2),
        (B, T2, None),
        (A, back, later),
    ]


def test_people_are_scoped_and_masked(redrawn: PlanStore) -> None:
    people = redrawn.staff().people()
    east = Caller("东社区规划员", Role.PLANNER, grid_code=EAST)
    assert people.find("王芳", caller=east) == []
    (wang,) = people.find("王芳")
    with pytest.raises(NotFoundError, match=f"no person {wang.person.id}"):
        people.get(wang.person.id, caller=east)
    for record in people.find("", caller=east, limit=500):
        assert record.assignments and all(a.grid_code.startswith(EAST) for a in record.assignments)
        assert "****" in (record.person.phone or "****")
    (shared,) = people.find("网格长003", caller=east)  # heads a grid in each community
    assert [a.grid_code for a in shared.assignments] == [f"{EAST}003"]
    west = Caller("西社区规划员", Role.PLANNER, grid_code=TOP)
    assert people.get(wang.person.id, caller=west).person.phone == "138****0009"
    worker = Caller("网格员", Role.WORKER, grid_code=B)
    (seen,) = people.find("王芳", caller=worker)
    assert seen.person.phone == WANG[1]
    assert [a.grid_code for a in seen.assignments] == [B]
    with pytest.raises(AccessDeniedError, match="may not manage plans"):
        people.find("王芳", caller=Caller("app", Role.REPORTER))


def test_link_people_by_id_number_then_name_and_phone(store_url: str, store: PlanStore) -> None:
    now = dt.datetime.now(dt.UTC)
    rows: list[dict[str, Any]] = [
        {"name": "王芳", "phone": "138", "id_number": "110101199001011234"},
        {"name": "王芳", "phone": "139", "id_number": "110101199001011234"},  # new phone
        {"name": "王芳", "phone": "138"},  # no ID: by name and phone
        {"name": "王芳", "phone": "138", "id_number": "220101199001011234"},  # a namesake
        {"name": "李强", "phone": None},
    ]
    engine = create_engine(store_url)
    try:
        with engine.begin() as connection:
            link_people(connection, rows, now)
            ids = [row["person_id"] for row in rows]
            assert ids[0] == ids[1] == ids[2] != ids[3] and len(set(ids)) == 3
            assert all("id_number" not in row for row in rows)
            later: list[dict[str, Any]] = [
                {"name": "李强", "phone": "  ", "id_number": "330101199001011234"}
            ]
            link_people(connection, later, now)  # takes over the person without an ID
            again: list[dict[str, Any]] = [
                {"name": "李强", "phone": None},
                {"name": "无名", "phone": None},
            ]
            link_people(connection, again, now)
        assert later[0]["person_id"] == ids[4] == again[0]["person_id"] != again[1]["person_id"]
    finally:
        engine.dispose()
