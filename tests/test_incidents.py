"""Incidents: the lifecycle and escalation rules, and the incident store on both backends."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from hypothesis import given
from hypothesis import strategies as st
from plans import COMMUNITY, QUADRANTS, community_plan, mbox

from geogrid.access import Caller, Role
from geogrid.errors import (
    AccessDeniedError,
    IdempotencyConflictError,
    InvalidIncidentError,
    InvalidInputError,
    NotFoundError,
    TransitionError,
)
from geogrid.incidents import (
    DEFAULT_POLICY,
    DEFAULT_TAXONOMY,
    FAILED_ATTEMPTS,
    TRANSITIONS,
    CaseFacts,
    DeadlinePolicy,
    EventAction,
    Incident,
    IncidentReport,
    Placement,
    StaffMember,
    Status,
    Taxonomy,
    Urgency,
    apply_transition,
    check_transition,
    grid_stats,
    open_incident,
    request_hash,
)
from geogrid.plan import GridPlan
from geogrid.store import PlanStore, open_store
from geogrid.store import schema as tables
from geogrid.store.database import alembic_config, create_engine, writing
from geogrid.store.incidents import IncidentStore

T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)

GRID_A, GRID_B = QUADRANTS[0], QUADRANTS[1]
MICRO_A = GRID_A + "001"
OTHER = "110108002"  # another community, another subtree

ADMIN = Caller.local("管理员")
APP = Caller("居民上报App", Role.REPORTER, key_id=101)
WORKER_A = Caller("王芳", Role.WORKER, grid_code=GRID_A, key_id=102)
WORKER_B = Caller("张伟", Role.WORKER, grid_code=GRID_B, key_id=103)
SUPERVISOR = Caller("街道督办", Role.SUPERVISOR, grid_code=COMMUNITY, key_id=104)
SUPERVISOR_A = Caller("网格督办", Role.SUPERVISOR, grid_code=GRID_A, key_id=105)
CITY = Caller("区督办", Role.SUPERVISOR, key_id=106)
PLANNER = Caller("规划员", Role.PLANNER, key_id=107)

HAPPY_PATH = [Status.ACCEPTED, Status.DISPATCHED, Status.HANDLED, Status.FEEDBACK, Status.CLOSED]


def report(**changes: object) -> IncidentReport:
    values: dict[str, object] = {
        "category": "environment",
        "description": "楼道堆放杂物",
        "lon": 116.3061,
        "lat": 40.0013,
        "crs": "gcj02",
        "reporter_name": "张三",
        "reporter_phone": "13800000001",
        "photos": ("photos/1.jpg", "photos/2.jpg"),
    }
    values.update(changes)
    return IncidentReport(**values)


def placement(*codes: str) -> Placement:
    codes = codes or (COMMUNITY, GRID_A)
    staff = (StaffMember(codes[-1], "head", "王芳", "13900000001"),)
    return Placement(116.3000, 39.9999, codes, "测试", 1, staff)


OUTSIDE = Placement(116.9, 39.5, (), "测试", 1)


def drive(case: Incident, *targets: Status, at: dt.datetime = T0) -> tuple[Incident, list]:
    events: list = []
    for target in targets:
        case, new = apply_transition(case, target, by="王芳", role="worker", at=at)
        events += new
    return case, events


# -- the lifecycle (pure) ----------------------------------------------------------------------


@pytest.mark.parametrize(("current", "target"), list(itertools.product(Status, Status)))
def test_transition_table_is_the_law(current: Status, target: Status) -> None:
    if target in TRANSITIONS[current]:
        check_transition(current, target)
    else:
        with pytest.raises(TransitionError, match=f"{current.value}"):
            check_transition(current, target)


def test_every_status_has_a_way_on() -> None:
    assert set(TRANSITIONS) == set(Status)
    assert all(TRANSITIONS[s] for s in Status)
    assert {(a, b) for a in Status for b in TRANSITIONS[a]} >= FAILED_ATTEMPTS


def test_illegal_transition_says_what_is_allowed() -> None:
    with pytest.raises(TransitionError, match="can become accepted or rejected"):
        check_transition(Status.REPORTED, Status.HANDLED)
    with pytest.raises(TransitionError, match="already closed"):
        check_transition(Status.CLOSED, Status.CLOSED)
    with pytest.raises(InvalidIncidentError, match="unknown status 'done'"):
        check_transition(Status.REPORTED, "done")


def test_happy_path_records_each_step() -> None:
    case = open_incident(report(), placement(), at=T0, by="App")
    steps = [T0 + n * HOUR for n in range(1, 6)]
    events = []
    for target, at in zip(HAPPY_PATH, steps, strict=True):
        case, new = apply_transition(case, target, by="王芳", role="worker", at=at, note="ok")
        events += new
    assert case.status is Status.CLOSED
    assert case.closed_at == steps[-1] and case.updated_at == steps[-1]
    assert [(e.from_status, e.to_status) for e in events] == list(
        zip([Status.REPORTED, *HAPPY_PATH[:-1]], HAPPY_PATH, strict=True)
    )
    assert {(e.by, e.role, e.note) for e in events} == {("王芳", "worker", "ok")}
    assert [e.at for e in events] == steps
    assert case.attempts == 0 and not case.overdue(T0 + 30 * DAY)


def test_defaults_of_a_new_case() -> None:
    case = open_incident(report(category="emergency"), placement(), at=T0)
    assert case.urgency is Urgency.RED and case.deadline == T0 + 24 * HOUR
    asked = open_incident(report(urgency="yellow"), placement(), at=T0)
    assert asked.urgency is Urgency.YELLOW and asked.deadline == T0 + 3 * DAY
    assert (asked.original_lon, asked.original_lat, asked.original_crs) == (
        116.3061,
        40.0013,
        "gcj02",
    )
    assert (asked.lon, asked.lat, asked.grid_code) == (116.3, 39.9999, GRID_A)


def test_blue_case_escalates_after_three_failed_attempts() -> None:
    case = open_incident(report(category="dispute"), placement(), at=T0)
    case, _ = drive(case, Status.ACCEPTED, Status.DISPATCHED, Status.HANDLED)
    for attempt in (1, 2):
        case, events = drive(case, Status.DISPATCHED, Status.HANDLED)
        assert case.attempts == attempt and case.urgency is Urgency.BLUE
        assert [e.action for e in events] == [EventAction.TRANSITION] * 2
    later = T0 + 2 * DAY
    case, events = drive(case, Status.FEEDBACK, Status.DISPATCHED, at=later)
    assert case.attempts == 3
    assert case.urgency is Urgency.YELLOW and case.escalated_at == later
    assert case.deadline == later + DEFAULT_POLICY.yellow
    assert [e.action for e in events] == [EventAction.TRANSITION] * 2 + [EventAction.ESCALATE]
    assert events[-1].urgency is Urgency.YELLOW and "3 failed attempts" in events[-1].note
    case, events = drive(case, Status.HANDLED, Status.DISPATCHED, at=later)  # 4th: no repeat
    assert case.attempts == 4 and len(events) == 2


def test_only_blue_cases_escalate_and_the_threshold_is_configurable() -> None:
    case = open_incident(report(category="work_safety"), placement(), at=T0)  # yellow
    case, _ = drive(
        case, Status.ACCEPTED, Status.DISPATCHED, *[Status.HANDLED, Status.DISPATCHED] * 3
    )
    assert case.attempts == 3 and case.urgency is Urgency.YELLOW and case.escalated_at is None
    quick = DeadlinePolicy(escalate_after=1)
    blue = open_incident(report(), placement(), at=T0, policy=quick)
    blue, _ = drive(blue, Status.ACCEPTED, Status.DISPATCHED, Status.HANDLED)
    blue, events = apply_transition(
        blue, Status.DISPATCHED, by="王芳", role="worker", at=T0, policy=quick
    )
    assert blue.urgency is Urgency.YELLOW and len(events) == 2
    returned = open_incident(report(), placement(), at=T0)
    returned, _ = drive(returned, Status.ACCEPTED, Status.DISPATCHED, Status.ACCEPTED)
    assert returned.attempts == 0  # sent back before handling is not a failed attempt


def test_reopening_clears_the_closure_and_restarts_the_clock() -> None:
    case = open_incident(report(), placement(), at=T0)
    case, _ = drive(case, *HAPPY_PATH, at=T0 + DAY)
    assert case.closed_at == T0 + DAY
    case, _ = drive(case, Status.REOPENED, at=T0 + 10 * DAY)
    assert case.closed_at is None and case.deadline == T0 + 17 * DAY
    assert case.overdue(T0 + 18 * DAY) and not case.overdue(T0 + 16 * DAY)
    rejected = open_incident(report(), placement(), at=T0)
    rejected, _ = drive(rejected, Status.REJECTED, Status.REOPENED, Status.ACCEPTED)
    assert rejected.status is Status.ACCEPTED


def test_overdue_only_while_open() -> None:
    case = open_incident(report(category="emergency"), placement(), at=T0)  # due T0 + 24 h
    assert not case.overdue(T0 + 23 * HOUR) and case.overdue(T0 + 25 * HOUR)
    closed, _ = drive(case, *HAPPY_PATH, at=T0 + 30 * HOUR)
    assert not closed.overdue(T0 + 40 * HOUR)
    rejected, _ = drive(case, Status.REJECTED)
    assert not rejected.overdue(T0 + 40 * HOUR)


def test_a_change_cannot_be_dated_before_the_last_one() -> None:
    case = open_incident(report(), placement(), at=T0)
    with pytest.raises(InvalidIncidentError, match="cannot be dated earlier"):
        apply_transition(case, Status.ACCEPTED, by="王芳", role="worker", at=T0 - HOUR)
    with pytest.raises(InvalidIncidentError, match="say who"):
        apply_transition(case, Status.ACCEPTED, by=" ", role="worker", at=T0)


def test_deadline_policy_is_configurable_and_checked() -> None:
    policy = DeadlinePolicy(red=2 * HOUR, yellow=DAY, blue=5 * DAY)
    case = open_incident(report(category="emergency"), placement(), at=T0, policy=policy)
    assert case.deadline == T0 + 2 * HOUR
    with pytest.raises(InvalidIncidentError, match="red deadline must be positive"):
        DeadlinePolicy(red=dt.timedelta(0))
    with pytest.raises(InvalidIncidentError, match="escalate_after"):
        DeadlinePolicy(escalate_after=0)


def test_taxonomy_has_the_five_focus_areas_and_can_be_replaced() -> None:
    focus = {c.name for c in DEFAULT_TAXONOMY if c.focus}
    assert focus == {"安全生产", "环境卫生", "应急管理", "信访维稳", "社会救助"}
    assert all(isinstance(c.urgency, Urgency) for c in DEFAULT_TAXONOMY)
    with pytest.raises(
        InvalidIncidentError, match="unknown incident category 'hornets'.*work_safety"
    ):
        open_incident(report(category="hornets"), placement(), at=T0)
    mine = Taxonomy.from_records([{"code": "hornets", "name": "马蜂窝", "urgency": "red"}])
    case = open_incident(report(category="hornets"), placement(), at=T0, taxonomy=mine)
    assert case.urgency is Urgency.RED
    with pytest.raises(InvalidIncidentError, match="given twice"):
        Taxonomy.from_records([{"code": "a", "name": "甲"}, {"code": "a", "name": "乙"}])
    with pytest.raises(InvalidIncidentError, match="unknown category field"):
        Taxonomy.from_records([{"code": "a", "name": "甲", "colour": "red"}])
    with pytest.raises(ValueError):
        Taxonomy.from_records([{"code": "a", "name": "甲", "urgency": "purple"}])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"description": "  "}, "description must be non-empty"),
        ({"description": "x" * 5001}, "at most 5000"),
        ({"lon": math.nan}, "lon must be finite"),
        ({"lat": "40"}, "lat must be a number"),
        ({"photos": "a.jpg"}, "list of references"),
        ({"photos": tuple(f"{n}.jpg" for n in range(21))}, "at most 20"),
        ({"urgency": "orange"}, "unknown urgency 'orange'"),
    ],
)
def test_bad_reports_say_what_is_wrong(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidIncidentError, match=message):
        report(**changes)


def test_request_hash_changes_with_any_field() -> None:
    base = request_hash(report())
    assert request_hash(report()) == base
    for changes in (
        {"description": "楼道堆放杂物!"},
        {"lon": 116.30611},
        {"crs": "bd09"},
        {"photos": ("photos/2.jpg", "photos/1.jpg")},
        {"reporter_phone": None},
    ):
        assert request_hash(report(**changes)) != base


@given(st.lists(st.sampled_from(list(Status)), max_size=40))
def test_random_walks_keep_the_invariants(targets: list[Status]) -> None:
    case = open_incident(report(category="dispute"), placement(), at=T0)
    failed = 0
    for n, target in enumerate(targets, start=1):
        before = case
        if target not in TRANSITIONS[case.status]:
            with pytest.raises(TransitionError):
                apply_transition(case, target, by="王芳", role="worker", at=T0 + n * HOUR)
            continue
        case, events = apply_transition(case, target, by="王芳", role="worker", at=T0 + n * HOUR)
        failed += (before.status, target) in FAILED_ATTEMPTS
        assert events[0].from_status is before.status and events[0].to_status is target
        assert len(events) == 1 + (before.urgency is not case.urgency)
    assert case.attempts == failed
    assert (case.closed_at is not None) == (case.status is Status.CLOSED)
    assert (case.urgency is Urgency.YELLOW) == (case.escalated_at is not None)
    assert case.urgency is Urgency.BLUE or failed >= DEFAULT_POLICY.escalate_after


def test_placement_from_the_located_plan() -> None:
    base = community_plan()
    staff = pd.DataFrame(
        {
            "grid_code": [GRID_A, GRID_A, GRID_B],
            "role": ["part_time", "head", "head"],
            "name": ["李强", "王芳", "张伟"],
            "phone": [None, "13900000001", "13900000002"],
        }
    )
    plan = GridPlan(base.name, base.levels, base.grids, staff, version=4)
    where = Placement.from_plan(plan, 116.3, 40.0, [COMMUNITY, GRID_A])
    assert (where.level_codes, where.plan_name, where.plan_version) == (
        (COMMUNITY, GRID_A),
        "测试",
        4,
    )
    assert where.staff == (
        StaffMember(GRID_A, "head", "王芳", "13900000001"),
        StaffMember(GRID_A, "part_time", "李强", None),
    )
    assert Placement.from_plan(plan, 116.3, 40.0, [COMMUNITY, None]).staff == ()
    outside = Placement.from_plan(plan, 116.9, 40.0, [None, None])
    assert outside.level_codes == () and outside.grid_code is None and outside.staff == ()
    with pytest.raises(InvalidIncidentError, match="gap"):
        Placement.from_plan(plan, 116.3, 40.0, [None, GRID_A])


def test_grid_stats_without_accepted_cases() -> None:
    stats = grid_stats("x", 1, [CaseFacts(Status.REJECTED, T0, None, T0 + DAY)], T0)
    assert stats.closure_rate is None and stats.median_time_to_close is None
    assert (stats.total, stats.rejected, stats.open) == (1, 1, 0)


# -- the store ---------------------------------------------------------------------------------


@pytest.fixture
def incidents(store: PlanStore) -> IncidentStore:
    micro = {"code": MICRO_A, "level": 3, "parent_code": GRID_A, "geometry": mbox(0, 0, 200, 200)}
    plan = community_plan(extra=[micro], levels=("社区", "网格", "微网格"))
    store.save(plan, by="规划员")  # the grids whose parent links scope keys and filters
    return store.incidents()


def count(store: PlanStore, table: sa.Table) -> int:
    with store._engine.connect() as connection:
        return int(connection.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


def audit_actions(store: PlanStore) -> list[str]:
    return [e.action for e in reversed(store.access().list_audit(caller=ADMIN, limit=500))]


def test_create_and_read_back_everything(store: PlanStore, incidents: IncidentStore) -> None:
    created = incidents.create_incident(
        report(), placement(COMMUNITY, GRID_A, MICRO_A), caller=APP, at=T0
    )
    assert not created.replayed
    case = incidents.get_incident(created.incident.id, caller=ADMIN)
    assert case.reference == "20260302-000001"
    assert incidents.get_incident(case.reference, caller=ADMIN) == case
    assert case.status is Status.REPORTED and case.urgency is Urgency.BLUE
    assert case.category == "environment" and case.description == "楼道堆放杂物"
    assert (case.lon, case.lat) == (116.3, 39.9999)
    assert (case.original_lon, case.original_lat, case.original_crs) == (116.3061, 40.0013, "gcj02")
    assert case.level_codes == (COMMUNITY, GRID_A, MICRO_A) and case.grid_code == MICRO_A
    assert (case.plan_name, case.plan_version) == ("测试", 1)
    assert case.staff == (StaffMember(MICRO_A, "head", "王芳", "13900000001"),)
    assert (case.reporter_name, case.reporter_phone) == ("张三", "13800000001")
    assert case.photos == ("photos/1.jpg", "photos/2.jpg")
    assert case.created_at == case.updated_at == T0 and case.closed_at is None
    assert case.deadline == T0 + 7 * DAY and case.attempts == 0 and case.created_by == APP.name
    assert case == dataclasses.replace(
        created.incident, reporter_name="张三", reporter_phone="13800000001"
    )
    history = incidents.history(case.id, caller=ADMIN)
    assert [(e.action, e.to_status, e.by) for e in history] == [
        (EventAction.REPORT, Status.REPORTED, APP.name)
    ]


def test_references_are_unique_and_dated_in_china_time(incidents: IncidentStore) -> None:
    late = dt.datetime(2026, 3, 2, 17, 0, tzinfo=dt.UTC)  # 01:00 on 3 March in Beijing
    refs = [
        incidents.create_incident(report(), placement(), caller=APP, at=at).incident.reference
        for at in (T0, late)
    ]
    assert refs == ["20260302-000001", "20260303-000002"]


def test_lifecycle_in_the_store(store: PlanStore, incidents: IncidentStore) -> None:
    case = incidents.create_incident(report(), placement(), caller=APP, at=T0).incident
    for n, target in enumerate(HAPPY_PATH, start=1):
        moved = incidents.transition(
            case.id,
            target,
            caller=WORKER_A,
            note=f"step {n}",
            at=T0 + n * HOUR,
            assignee="李强" if target is Status.DISPATCHED else None,
        )
        assert moved.status is target
    assert moved.closed_at == T0 + 5 * HOUR and moved.assignee == "李强"
    history = incidents.history(case.id, caller=WORKER_A)
    assert [e.to_status for e in history] == [Status.REPORTED, *HAPPY_PATH]
    assert [e.note for e in history[1:]] == [f"step {n}" for n in range(1, 6)]
    assert {(e.by, e.role) for e in history[1:]} == {("王芳", "worker")}
    assert (history[0].by, history[0].role) == (APP.name, "reporter")  # who reported, as what
    assert incidents.get_incident(case.id, caller=WORKER_A) == moved


def test_illegal_transition_changes_nothing(store: PlanStore, incidents: IncidentStore) -> None:
    case = incidents.create_incident(report(), placement(), caller=APP, at=T0).incident
    events = count(store, tables.incident_events)
    audits = count(store, tables.audit_log)
    with pytest.raises(TransitionError, match="reported and cannot become closed"):
        incidents.transition(case.id, Status.CLOSED, caller=WORKER_A)
    with pytest.raises(InvalidIncidentError, match="unknown status"):
        incidents.transition(case.id, "finished", caller=WORKER_A)
    assert incidents.get_incident(case.id, caller=ADMIN).status is Status.REPORTED
    assert count(store, tables.incident_events) == events
    assert count(store, tables.audit_log) == audits + 1  # the admin's read only


def test_escalation_in_the_store(incidents: IncidentStore) -> None:
    case = incidents.create_incident(
        report(category="dispute"), placement(), caller=APP, at=T0
    ).incident
    path = [Status.ACCEPTED, Status.DISPATCHED] + [Status.HANDLED, Status.DISPATCHED] * 3
    for n, target in enumerate(path, start=1):
        moved = incidents.transition(case.id, target, caller=WORKER_A, at=T0 + n * HOUR)
    assert moved.attempts == 3 and moved.urgency is Urgency.YELLOW
    assert moved.escalated_at == T0 + 8 * HOUR and moved.deadline == T0 + 8 * HOUR + 3 * DAY
    history = incidents.history(case.id, caller=WORKER_A)
    assert history[-1].action is EventAction.ESCALATE and history[-1].urgency is Urgency.YELLOW
    assert incidents.get_incident(case.id, caller=ADMIN) == moved


def test_concurrent_changes_are_serialised(incidents: IncidentStore) -> None:
    case = incidents.create_incident(report(), placement(), caller=APP).incident
    other = dataclasses.replace(WORKER_A, name="李强", key_id=108)
    barrier, outcomes = threading.Barrier(2), []

    def accept(caller: Caller) -> None:
        barrier.wait()
        try:
            incidents.transition(case.id, Status.ACCEPTED, caller=caller)
            outcomes.append("accepted")
        except TransitionError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=accept, args=(c,)) for c in (WORKER_A, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["accepted", f"incident {case.reference} is already accepted"]
    history = incidents.history(case.id, caller=ADMIN)
    assert [e.to_status for e in history] == [Status.REPORTED, Status.ACCEPTED]


# -- idempotency -------------------------------------------------------------------------------


def test_same_key_same_body_gives_the_same_incident(
    store: PlanStore, incidents: IncidentStore
) -> None:
    first = incidents.create_incident(report(), placement(), caller=APP, idempotency_key="k-1")
    again = incidents.create_incident(report(), placement(), caller=APP, idempotency_key="k-1")
    assert again.replayed and not first.replayed
    assert again.incident == first.incident
    assert count(store, tables.incidents) == 1
    assert audit_actions(store) == ["incident.create", "incident.replay"]


def test_same_key_other_body_is_a_conflict(store: PlanStore, incidents: IncidentStore) -> None:
    incidents.create_incident(report(), placement(), caller=APP, idempotency_key="k-1")
    with pytest.raises(IdempotencyConflictError, match="different report"):
        incidents.create_incident(
            report(description="另一件事"), placement(), caller=APP, idempotency_key="k-1"
        )
    assert count(store, tables.incidents) == 1


def test_keys_belong_to_their_caller(store: PlanStore, incidents: IncidentStore) -> None:
    mine = incidents.create_incident(report(), placement(), caller=APP, idempotency_key="k-1")
    other_app = Caller("12345热线", Role.REPORTER, key_id=999)
    theirs = incidents.create_incident(
        report(), placement(), caller=other_app, idempotency_key="k-1"
    )
    assert not theirs.replayed and theirs.incident.id != mine.incident.id
    plain = [incidents.create_incident(report(), placement(), caller=APP) for _ in range(2)]
    assert plain[0].incident.id != plain[1].incident.id  # no key: every call is new
    with pytest.raises(InvalidIncidentError, match="Idempotency-Key"):
        incidents.create_incident(report(), placement(), caller=APP, idempotency_key=" ")
    assert count(store, tables.incidents) == 4


def test_concurrent_retries_make_one_incident(store: PlanStore, incidents: IncidentStore) -> None:
    threads, results, errors = 8, [], []
    barrier = threading.Barrier(threads)

    def retry() -> None:
        barrier.wait()
        try:
            results.append(
                incidents.create_incident(report(), placement(), caller=APP, idempotency_key="race")
            )
        except Exception as exc:
            errors.append(exc)

    workers = [threading.Thread(target=retry) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert len({r.incident.id for r in results}) == 1
    assert sorted(r.replayed for r in results) == [False] + [True] * (threads - 1)
    assert count(store, tables.incidents) == 1
    assert count(store, tables.idempotency_keys) == 1


def test_a_failure_writes_nothing(
    store: PlanStore, incidents: IncidentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import geogrid.store.incidents as module

    def broken(*args: object, **kwargs: object) -> None:
        raise sa.exc.OperationalError("INSERT INTO audit_log", {}, Exception("disk full"))

    monkeypatch.setattr(module, "insert_audit", broken)
    with pytest.raises(Exception, match="disk full"):
        incidents.create_incident(report(), placement(), caller=APP, idempotency_key="k-1")
    monkeypatch.undo()
    for table in (
        tables.incidents,
        tables.incident_events,
        tables.idempotency_keys,
        tables.audit_log,
    ):
        assert count(store, table) == 0, table.name
    retried = incidents.create_incident(report(), placement(), caller=APP, idempotency_key="k-1")
    assert not retried.replayed and count(store, tables.incidents) == 1


# -- listing and statistics --------------------------------------------------------------------


@pytest.fixture
def crafted(incidents: IncidentStore) -> dict[str, Incident]:
    """Six cases over two grids and one community outside, with known times and outcomes.

    ===  ========  ===========  =======  ====================================================
    key  grid      category     urgency  story
    ===  ========  ===========  =======  ====================================================
    a1   A/001     environment  blue     day 0, closed after 2 days
    a2   A         environment  blue     day 1, closed after 4 days
    a3   A         work_safety  yellow   day 2, dispatched, due day 5 → overdue on day 10
    b1   B         emergency    red      day 3, closed after 2 days (due after 1: late)
    b2   B         dispute      blue     day 4, rejected
    o1   other     petition     yellow   day 5, reported
    ===  ========  ===========  =======  ====================================================
    """
    specs = {
        "a1": ((COMMUNITY, GRID_A, MICRO_A), "environment", 0, 2),
        "a2": ((COMMUNITY, GRID_A), "environment", 1, 4),
        "a3": ((COMMUNITY, GRID_A), "work_safety", 2, None),
        "b1": ((COMMUNITY, GRID_B), "emergency", 3, 2),
        "b2": ((COMMUNITY, GRID_B), "dispute", 4, None),
        "o1": ((OTHER, OTHER + "001"), "petition", 5, None),
    }
    out = {}
    for name, (codes, category, day, close_after) in specs.items():
        at = T0 + day * DAY
        case = incidents.create_incident(
            report(category=category, description=name), placement(*codes), caller=APP, at=at
        ).incident
        if close_after is not None:
            steps = [at + close_after * DAY * n / 5 for n in range(1, 6)]
            for target, when in zip(HAPPY_PATH, steps, strict=True):
                case = incidents.transition(case.id, target, caller=ADMIN, at=when)
        elif name == "a3":
            for target in (Status.ACCEPTED, Status.DISPATCHED):
                case = incidents.transition(case.id, target, caller=ADMIN, at=at + HOUR)
        elif name == "b2":
            case = incidents.transition(case.id, Status.REJECTED, caller=ADMIN, at=at + HOUR)
        out[name] = case
    return out


def descriptions(page: object) -> list[str]:
    return [i.description for i in page.items]


def test_filters(
    incidents: IncidentStore, crafted: dict[str, Incident], store: PlanStore
) -> None:
    store.register_jurisdiction("110108", "某街道", level_name="街道")
    for community in (COMMUNITY, OTHER):
        store.register_jurisdiction(community, community, parent="110108")

    def listed(**filters: object) -> list[str]:
        return descriptions(incidents.list_incidents(caller=ADMIN, **filters))

    assert listed() == ["o1", "b2", "b1", "a3", "a2", "a1"]
    assert listed(grid_code=COMMUNITY) == ["b2", "b1", "a3", "a2", "a1"]
    assert listed(grid_code=GRID_A) == ["a3", "a2", "a1"]
    assert listed(grid_code=MICRO_A) == ["a1"]
    # a street registered above both communities, by the registry's links
    assert listed(grid_code="110108") == ["o1", "b2", "b1", "a3", "a2", "a1"]
    assert listed(grid_code="1101") == []  # a code prefix alone holds nothing
    assert listed(status="closed") == ["b1", "a2", "a1"]
    assert listed(status=["rejected", Status.REPORTED]) == ["o1", "b2"]
    assert listed(category="environment", grid_code=GRID_A) == ["a2", "a1"]
    assert listed(category=["emergency", "petition"]) == ["o1", "b1"]
    assert listed(since=T0 + DAY, until=T0 + 3 * DAY) == ["a3", "a2"]
    assert listed(overdue=True, now=T0 + 10 * DAY) == ["o1", "a3"]
    assert listed(overdue=True, now=T0 + 4 * DAY) == []
    assert listed(overdue=False, now=T0 + 10 * DAY) == ["b2", "b1", "a2", "a1"]
    with pytest.raises(InvalidIncidentError, match="unknown status 'open'"):
        listed(status="open")


def test_paging(incidents: IncidentStore, crafted: dict[str, Incident]) -> None:
    seen, before = [], None
    while True:
        page = incidents.list_incidents(caller=ADMIN, limit=4, before_id=before)
        assert page.total == 6
        seen += descriptions(page)
        before = page.next_before_id
        if before is None:
            break
    assert seen == ["o1", "b2", "b1", "a3", "a2", "a1"]
    with pytest.raises(InvalidIncidentError, match="limit must be 1 to 500"):
        incidents.list_incidents(caller=ADMIN, limit=0)


def test_stats_per_grid_and_level(incidents: IncidentStore, crafted: dict[str, Incident]) -> None:
    now = T0 + 10 * DAY
    level2 = {s.grid_code: s for s in incidents.stats(caller=ADMIN, level=2, now=now)}
    assert sorted(level2) == [GRID_A, GRID_B, OTHER + "001"]
    a, b = level2[GRID_A], level2[GRID_B]
    assert (a.total, a.open, a.closed, a.rejected, a.overdue, a.closed_late) == (3, 1, 2, 0, 1, 0)
    assert a.closure_rate == pytest.approx(2 / 3)
    assert a.median_time_to_close == 3 * DAY  # median of 2 and 4 days
    assert (b.total, b.closed, b.rejected, b.overdue, b.closed_late) == (2, 1, 1, 0, 1)
    assert b.closure_rate == 1.0 and b.median_time_to_close == 2 * DAY
    top = incidents.stats(caller=ADMIN, level=1, now=now)
    community = next(s for s in top if s.grid_code == COMMUNITY)
    assert (community.level, community.total, community.closed, community.rejected) == (1, 5, 3, 1)
    assert community.closure_rate == pytest.approx(3 / 4)
    assert community.median_time_to_close == 2 * DAY  # median of 2, 4, 2 days
    every = incidents.stats(caller=ADMIN, now=now)
    assert [(s.level, s.grid_code) for s in every] == [
        (1, COMMUNITY),
        (1, OTHER),
        (2, GRID_A),
        (2, GRID_B),
        (2, OTHER + "001"),
        (3, MICRO_A),
    ]
    window = incidents.stats(caller=ADMIN, level=2, since=T0 + DAY, until=T0 + 4 * DAY, now=now)
    assert [(s.grid_code, s.total) for s in window] == [(GRID_A, 2), (GRID_B, 1)]
    with pytest.raises(InvalidIncidentError, match="level must be 1 to 6"):
        incidents.stats(caller=ADMIN, level=7)


def test_stats_stay_inside_the_callers_subtree(
    incidents: IncidentStore, crafted: dict[str, Incident]
) -> None:
    mine = incidents.stats(caller=SUPERVISOR_A, now=T0 + 10 * DAY)
    assert [(s.level, s.grid_code, s.total) for s in mine] == [(2, GRID_A, 3), (3, MICRO_A, 1)]
    street = incidents.stats(caller=SUPERVISOR, level=1, now=T0 + 10 * DAY)
    assert [(s.grid_code, s.total) for s in street] == [(COMMUNITY, 5)]


# -- who sees what -----------------------------------------------------------------------------


def test_access_matrix(incidents: IncidentStore, crafted: dict[str, Incident]) -> None:
    a, b = crafted["a2"].id, crafted["b1"].id

    def visible(caller: Caller) -> set[str]:
        return set(descriptions(incidents.list_incidents(caller=caller)))

    assert visible(WORKER_A) == {"a1", "a2", "a3"}
    assert visible(WORKER_B) == {"b1", "b2"}
    assert visible(SUPERVISOR) == {"a1", "a2", "a3", "b1", "b2"}
    assert visible(SUPERVISOR_A) == {"a1", "a2", "a3"}
    assert visible(CITY) == visible(ADMIN) == {"a1", "a2", "a3", "b1", "b2", "o1"}
    # a worker never reads or changes another grid's incident, by id or by reference
    for ref in (b, crafted["b1"].reference):
        with pytest.raises(NotFoundError, match=f"in grid {GRID_A}"):
            incidents.get_incident(ref, caller=WORKER_A)
        with pytest.raises(NotFoundError):
            incidents.history(ref, caller=WORKER_A)
        with pytest.raises(NotFoundError):
            incidents.transition(ref, Status.REOPENED, caller=WORKER_A)
    assert incidents.list_incidents(caller=WORKER_A, grid_code=GRID_B).items == []
    assert incidents.get_incident(b, caller=WORKER_B).id == b
    assert incidents.get_incident(a, caller=SUPERVISOR).id == a
    # roles
    for caller in (APP, PLANNER):
        with pytest.raises(AccessDeniedError, match="may not read incidents"):
            incidents.get_incident(a, caller=caller)
        with pytest.raises(AccessDeniedError):
            incidents.list_incidents(caller=caller)
        with pytest.raises(AccessDeniedError):
            incidents.history(a, caller=caller)
    for caller in (SUPERVISOR, APP, PLANNER):
        with pytest.raises(AccessDeniedError, match="may not change incidents"):
            incidents.transition(a, Status.REOPENED, caller=caller)
    for caller in (WORKER_A, APP, PLANNER):
        with pytest.raises(AccessDeniedError, match="may not read statistics"):
            incidents.stats(caller=caller)
    for caller in (SUPERVISOR, PLANNER):
        with pytest.raises(AccessDeniedError, match="may not report incidents"):
            incidents.create_incident(report(), placement(), caller=caller)
    assert incidents.get_incident(b, caller=ADMIN).status is Status.CLOSED  # unchanged


def test_incidents_outside_every_grid_need_an_unbound_caller(incidents: IncidentStore) -> None:
    case = incidents.create_incident(report(), OUTSIDE, caller=APP).incident
    assert case.grid_code is None and case.level_codes == ()
    assert incidents.get_incident(case.id, caller=CITY).id == case.id
    with pytest.raises(NotFoundError):
        incidents.get_incident(case.id, caller=SUPERVISOR)
    assert incidents.list_incidents(caller=SUPERVISOR).total == 0


def test_reporter_contact_is_masked_for_roles_that_do_not_need_it(
    incidents: IncidentStore,
) -> None:
    created = incidents.create_incident(report(), placement(), caller=APP)
    assert (created.incident.reporter_name, created.incident.reporter_phone) == (
        "张*",
        "138****0001",
    )
    ref = created.incident.id
    for caller in (WORKER_A, ADMIN):
        case = incidents.get_incident(ref, caller=caller)
        assert (case.reporter_name, case.reporter_phone) == ("张三", "13800000001")
    for caller in (SUPERVISOR, CITY):
        case = incidents.get_incident(ref, caller=caller)
        assert (case.reporter_name, case.reporter_phone) == ("张*", "138****0001")
        listed = incidents.list_incidents(caller=caller).items[0]
        assert (listed.reporter_name, listed.reporter_phone) == ("张*", "138****0001")


def test_every_read_and_change_is_audited(store: PlanStore, incidents: IncidentStore) -> None:
    case = incidents.create_incident(report(), placement(), caller=APP).incident
    incidents.get_incident(case.id, caller=WORKER_A)
    incidents.get_incident(case.id, caller=SUPERVISOR)
    incidents.transition(case.id, Status.ACCEPTED, caller=WORKER_A, note="收到")
    incidents.list_incidents(caller=WORKER_A, status="accepted")
    incidents.history(case.id, caller=WORKER_A)
    incidents.stats(caller=SUPERVISOR)
    with pytest.raises(NotFoundError):
        incidents.get_incident(case.id, caller=WORKER_B)
    with pytest.raises(AccessDeniedError):
        incidents.list_incidents(caller=APP)
    entries = list(reversed(store.access().list_audit(caller=ADMIN)))
    assert [(e.action, e.actor, e.role) for e in entries] == [
        ("incident.create", APP.name, "reporter"),
        ("incident.read", WORKER_A.name, "worker"),
        ("incident.read", SUPERVISOR.name, "supervisor"),
        ("incident.transition", WORKER_A.name, "worker"),
        ("incident.list", WORKER_A.name, "worker"),
        ("incident.history", WORKER_A.name, "worker"),
        ("incident.stats", SUPERVISOR.name, "supervisor"),
        ("incident.read", WORKER_B.name, "worker"),
        ("incident.list", APP.name, "reporter"),
    ]
    assert all(e.object_type == "incident" for e in entries)
    create, read_clear, read_masked, move, listing = entries[:5]
    assert create.object_id == str(case.id) and create.key_id == APP.key_id
    assert read_clear.details == {"personal": True} and read_masked.details == {"personal": False}
    assert move.details == {"from": "reported", "to": "accepted", "escalated": False}
    assert listing.details["ids"] == [case.id] and listing.details["filters"] == {
        "status": ["accepted"]
    }
    assert entries[-2].details["denied"] == "NotFoundError"
    assert entries[-1].details["denied"] == "AccessDeniedError"
    assert all(isinstance(e.at, dt.datetime) and e.at.tzinfo is not None for e in entries)


# -- migrations --------------------------------------------------------------------------------


@pytest.fixture
def engine(store_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(store_url)
    yield engine
    engine.dispose()


def test_migrations_apply_on_top_of_0001(store_url: str, engine: sa.Engine) -> None:
    with writing(engine) as connection:
        command.upgrade(alembic_config(connection), "0001_initial")
        # a store as 0001 left it, with a plan version in it (written as 0001's schema was)
        values = {"plan_name": "测试", "version": 1, "levels": ["社区"], "status": "draft"}
        values |= {"created_by": "张三", "created_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}
        connection.execute(tables.plan_versions.insert().values(values))
    with open_store(store_url) as store:  # opening upgrades to the newest migration
        assert [v.version for v in store.versions()] == [1]
        case = store.incidents().create_incident(report(), placement(), caller=APP).incident
        assert case.id == 1
    engine = create_engine(store_url)
    try:
        with engine.connect() as connection:
            config = alembic_config(connection)
            head = ScriptDirectory.from_config(config).get_current_head()
            version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
            assert [tuple(v) for v in version] == [(head,)]
            command.check(config)  # schema.py and the migrations agree
            names = set(sa.inspect(connection).get_table_names())
            assert {
                "incidents",
                "incident_events",
                "idempotency_keys",
                "api_keys",
                "audit_log",
                "staff_changes",
            } <= names
    finally:
        engine.dispose()


def test_migrations_downgrade_cleanly_to_0001(store_url: str, engine: sa.Engine) -> None:
    with open_store(store_url) as store:
        store.save(community_plan(), by="张三")
        store.incidents().create_incident(report(), placement(), caller=APP)
    with writing(engine) as connection:
        command.downgrade(alembic_config(connection), "0001_initial")
    with engine.connect() as connection:
        assert "incidents" not in sa.inspect(connection).get_table_names()
    with open_store(store_url) as store:
        assert store.plans() == ["测试"]
        assert store.incidents().list_incidents(caller=ADMIN).total == 0


def test_geopackage_lists_the_new_tables(gpkg_path: Path) -> None:
    with open_store(f"sqlite:///{gpkg_path}"):
        pass
    with sqlite3.connect(gpkg_path) as connection:
        contents = dict(connection.execute("SELECT table_name, data_type FROM gpkg_contents"))
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    for table in ("incidents", "incident_events", "idempotency_keys", "api_keys", "audit_log"):
        assert contents[table] == "attributes"


# -- lost connections --------------------------------------------------------------------------


def drop_connections(store: PlanStore, url: str) -> None:
    """Terminate the store's pooled server connection, as a PostgreSQL restart would."""
    with store._engine.connect() as connection:
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    killer = sa.create_engine(url)
    try:
        with killer.connect() as connection:
            connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        killer.dispose()


@pytest.mark.postgis
def test_lost_connections_neither_lose_nor_duplicate_incidents(postgis_url: str) -> None:
    with open_store(postgis_url) as store:
        incidents = store.incidents()
        drop_connections(store, postgis_url)
        created = incidents.create_incident(report(), placement(), caller=APP, idempotency_key="k")
        assert not created.replayed
        drop_connections(store, postgis_url)
        again = incidents.create_incident(report(), placement(), caller=APP, idempotency_key="k")
        assert again.replayed and again.incident.id == created.incident.id
        drop_connections(store, postgis_url)
        # a dropped idle connection is replaced at checkout (pool pre-ping): stored exactly once
        plain = incidents.create_incident(report(), placement(), caller=APP)
        assert not plain.replayed and plain.incident.id != created.incident.id
        assert count(store, tables.incidents) == 2
        assert count(store, tables.idempotency_keys) == 1


@pytest.mark.parametrize("bad", ["a\x00b", "\ud800"])
def test_text_a_store_cannot_hold_is_refused_before_any_store(bad: str) -> None:
    with pytest.raises(InvalidIncidentError, match="NUL|surrogate"):
        report(description=bad)
    with pytest.raises(InvalidIncidentError, match="NUL|surrogate"):
        report(reporter_name=bad)
    case = open_incident(report(), placement(), at=T0, by="App")
    with pytest.raises(InvalidIncidentError, match="note .*(NUL|surrogate)"):
        apply_transition(case, Status.ACCEPTED, by="王芳", role="worker", at=T0, note=bad)
    with pytest.raises(InvalidInputError, match="name .*(NUL|surrogate)"):
        Caller(bad, Role.ADMIN)
