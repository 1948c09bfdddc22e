"""Roles, API keys, scopes, masking of personal information and the audit log."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
import sqlalchemy as sa
from plans import COMMUNITY, QUADRANTS, community_plan, make_plan, mbox

from geogrid.access import (
    ROLE_PERMISSIONS,
    Caller,
    Permission,
    Role,
    generate_key,
    hash_key,
    key_matches,
    mask_incident,
    mask_name,
    mask_phone,
    require,
)
from geogrid.errors import (
    AccessDeniedError,
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
)
from geogrid.incidents import IncidentReport, Placement, open_incident
from geogrid.plan import GridPlan
from geogrid.store import PlanStore
from geogrid.store import schema as tables
from geogrid.store.access import AccessStore

T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
ADMIN = Caller.local("管理员")
GRID_A, GRID_B = QUADRANTS[0], QUADRANTS[1]

# -- roles and scopes (pure) -------------------------------------------------------------------

EXPECTED = {
    # role: locate, report, read, change, stats, personal, plans, approve, keys, audit
    Role.REPORTER: "1100000000",
    Role.WORKER: "1111010000",
    Role.SUPERVISOR: "1010100100",  # approves plans; never saves them
    Role.PLANNER: "1000001000",  # saves plans; never approves them
    Role.ADMIN: "1111111111",
}
ORDER = [
    Permission.LOCATE,
    Permission.REPORT,
    Permission.READ_INCIDENTS,
    Permission.CHANGE_INCIDENTS,
    Permission.READ_STATS,
    Permission.READ_PERSONAL,
    Permission.MANAGE_PLANS,
    Permission.APPROVE_PLANS,
    Permission.MANAGE_KEYS,
    Permission.READ_AUDIT,
]


@pytest.mark.parametrize("role", list(Role))
def test_permission_table(role: Role) -> None:
    assert set(ORDER) == set(Permission)
    caller = Caller("x", role, grid_code=GRID_A)
    assert "".join("1" if caller.can(p) else "0" for p in ORDER) == EXPECTED[role]
    assert ROLE_PERMISSIONS[role] == {
        p for p, bit in zip(ORDER, EXPECTED[role], strict=True) if bit == "1"
    }


def test_a_grid_key_covers_its_subtree_only() -> None:
    worker = Caller("王芳", Role.WORKER, grid_code=GRID_A)
    assert worker.covers((COMMUNITY, GRID_A)) and worker.covers((COMMUNITY, GRID_A, "x007"))
    assert not worker.covers((COMMUNITY, GRID_B)) and not worker.covers((COMMUNITY,))
    assert not worker.covers(None) and not worker.covers(())
    street = Caller("街道", Role.SUPERVISOR, grid_code="110108", tops=frozenset({COMMUNITY}))
    assert street.covers((COMMUNITY,)) and street.covers((COMMUNITY, GRID_B))
    assert not street.covers(("110109001",))
    assert not street.covers(("1101080010011",))  # a code that merely starts like one
    everyone = Caller("区", Role.SUPERVISOR)
    assert everyone.covers(None) and everyone.covers(("anything",))
    assert Caller("x", "worker", grid_code="  ").grid_code is None


def test_callers_are_checked() -> None:
    with pytest.raises(InvalidInputError, match="unknown role 'mayor'.*reporter, worker"):
        Caller("x", "mayor")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="needs a name"):
        Caller(" ", Role.ADMIN)
    assert Caller.local("张三") == Caller("张三", Role.ADMIN)
    assert Caller("a", Role.WORKER, key_id=3).identity == "key:3"
    assert Caller("a", Role.WORKER).identity == "name:a"


def test_require_names_the_roles_that_may() -> None:
    require(ADMIN, Permission.READ_AUDIT)
    with pytest.raises(
        AccessDeniedError, match="may not read statistics: that needs the role admin or supervisor"
    ):
        require(Caller("王芳", Role.WORKER, grid_code=GRID_A), Permission.READ_STATS)


@pytest.mark.parametrize(
    ("name", "masked"),
    [("张三", "张*"), ("欧阳娜娜", "欧***"), ("李", "李"), ("", ""), (None, None)],
)
def test_mask_name(name: str | None, masked: str | None) -> None:
    assert mask_name(name) == masked


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13800000001", "138****0001"),
        ("138 0000 0001", "138 **** 0001"),
        ("+86 13800000001", "+86 138****0001"),
        ("010-62781234", "010-****1234"),
        ("62781234", "****1234"),
        ("12345", "*2345"),
        ("110", "***"),
        (None, None),
    ],
)
def test_mask_phone(phone: str | None, masked: str | None) -> None:
    assert mask_phone(phone) == masked


def test_mask_incident_follows_the_role() -> None:
    report = IncidentReport(
        "environment", "垃圾", 116.3, 40.0, reporter_name="张三", reporter_phone="13800000001"
    )
    case = open_incident(report, Placement(116.3, 40.0, (COMMUNITY, GRID_A)), at=T0)
    for role in (Role.WORKER, Role.ADMIN):
        assert mask_incident(case, Caller("x", role, grid_code=GRID_A)) == case
    for role in (Role.SUPERVISOR, Role.REPORTER, Role.PLANNER):
        masked = mask_incident(case, Caller("x", role))
        assert (masked.reporter_name, masked.reporter_phone) == ("张*", "138****0001")
        assert (
            dataclasses.replace(masked, reporter_name="张三", reporter_phone="13800000001") == case
        )


def test_raw_keys_and_their_hashes() -> None:
    raw = generate_key()
    assert raw.startswith("ggk_") and len(raw) == 47
    assert len({generate_key() for _ in range(100)}) == 100
    digest = hash_key(raw)
    assert len(digest) == 64 and raw not in digest
    assert key_matches(raw, digest) and not key_matches(generate_key(), digest)
    with pytest.raises(AuthenticationError, match="start with 'ggk_'"):
        hash_key("Bearer 123")


# -- keys in the store -------------------------------------------------------------------------


@pytest.fixture
def keys(store: PlanStore) -> AccessStore:
    store.save(community_plan(), by="张三")  # the grid codes keys are bound to
    return store.access()


def test_create_authenticate_revoke(keys: AccessStore) -> None:
    raw, key = keys.create_key(Role.WORKER, name="王芳", grid_code=GRID_A, caller=ADMIN, at=T0)
    assert (key.role, key.grid_code, key.name, key.created_by) == (
        Role.WORKER,
        GRID_A,
        "王芳",
        ADMIN.name,
    )
    assert key.created_at == T0 and key.active and raw.startswith(key.prefix)
    caller = keys.authenticate(raw)
    assert caller == Caller("王芳", Role.WORKER, GRID_A, key.id)
    revoked = keys.revoke_key(key.id, caller=ADMIN, at=T0 + dt.timedelta(days=1))
    assert not revoked.active and revoked.revoked_by == ADMIN.name
    with pytest.raises(AuthenticationError, match="revoked on 2026-03-03"):
        keys.authenticate(raw)
    assert keys.revoke_key(key.id, caller=ADMIN) == revoked  # twice: nothing changes
    with pytest.raises(AuthenticationError, match="unknown API key"):
        keys.authenticate(generate_key())
    with pytest.raises(AuthenticationError, match="not a geogrid API key"):
        keys.authenticate("")
    with pytest.raises(NotFoundError, match="no API key with id 99"):
        keys.revoke_key(99, caller=ADMIN)


def test_raw_keys_are_never_stored(store: PlanStore, keys: AccessStore) -> None:
    raws = [
        keys.create_key(role, name=f"key {role.value}", caller=ADMIN, grid_code=GRID_A)[0]
        for role in Role
    ]
    with store._engine.connect() as connection:
        rows = connection.execute(sa.select(tables.api_keys)).all()
        audit = connection.execute(sa.select(tables.audit_log)).all()
    stored = repr([tuple(r) for r in rows]) + repr([tuple(r) for r in audit])
    for raw in raws:
        assert raw not in stored and raw[12:] not in stored
        assert hash_key(raw) in stored
    if store.backend == "geopackage":
        path = store._engine.url.database
        assert path is not None
        with open(path, "rb") as file:
            content = file.read()
        assert not any(raw[12:].encode() in content for raw in raws)


def test_key_rules(keys: AccessStore, store: PlanStore) -> None:
    with pytest.raises(InvalidInputError, match="worker key must be bound to a grid"):
        keys.create_key(Role.WORKER, name="王芳", caller=ADMIN)
    with pytest.raises(NotFoundError, match="'999' is neither a grid .* nor a registered"):
        keys.create_key(Role.SUPERVISOR, name="x", grid_code="999", caller=ADMIN)
    with pytest.raises(InvalidInputError, match="unknown role 'boss'"):
        keys.create_key("boss", name="x", caller=ADMIN)
    with pytest.raises(NotFoundError, match="register it"):  # a street not registered yet
        keys.create_key(Role.SUPERVISOR, name="街道", grid_code="110108", caller=ADMIN)
    store.register_jurisdiction("110108", "海淀区某街道", level_name="街道")
    store.register_jurisdiction(COMMUNITY, "示例社区", parent="110108")
    raw, street = keys.create_key(Role.SUPERVISOR, name="街道", grid_code="110108", caller=ADMIN)
    assert keys.authenticate(raw).covers((COMMUNITY, GRID_B))
    assert COMMUNITY in keys.authenticate(raw).tops
    for role in (Role.REPORTER, Role.WORKER, Role.SUPERVISOR, Role.PLANNER):
        with pytest.raises(AccessDeniedError, match="may not manage API keys"):
            keys.create_key(Role.ADMIN, name="x", caller=Caller("x", role, grid_code=GRID_A))
        with pytest.raises(AccessDeniedError):
            keys.revoke_key(street.id, caller=Caller("x", role, grid_code=GRID_A))
        with pytest.raises(AccessDeniedError):
            keys.list_keys(caller=Caller("x", role, grid_code=GRID_A))
        with pytest.raises(AccessDeniedError, match="may not read the audit log"):
            keys.list_audit(caller=Caller("x", role, grid_code=GRID_A))
    local_admin = Caller("社区管理员", Role.ADMIN, grid_code=GRID_A)
    with pytest.raises(AccessDeniedError, match=f"covers grid {GRID_A} only"):
        keys.create_key(Role.WORKER, name="x", grid_code=GRID_B, caller=local_admin)
    keys.create_key(Role.WORKER, name="x", grid_code=GRID_A, caller=local_admin)


def test_list_keys(keys: AccessStore) -> None:
    _, first = keys.create_key(Role.REPORTER, name="App", caller=ADMIN)
    _, second = keys.create_key(Role.PLANNER, name="规划", caller=ADMIN)
    keys.revoke_key(first.id, caller=ADMIN)
    assert [k.id for k in keys.list_keys(caller=ADMIN)] == [first.id, second.id]
    assert [k.id for k in keys.list_keys(caller=ADMIN, include_revoked=False)] == [second.id]


def test_audit_log(keys: AccessStore) -> None:
    _, key = keys.create_key(Role.REPORTER, name="App", caller=ADMIN)
    caller = key.caller()
    keys.write_audit(caller, "locate", object_type="point", details={"n": 3, "at": T0})
    keys.revoke_key(key.id, caller=ADMIN)
    entries = keys.list_audit(caller=ADMIN)
    assert [(e.action, e.actor, e.role, e.object_type) for e in entries] == [
        ("key.revoke", ADMIN.name, "admin", "api_key"),
        ("locate", "App", "reporter", "point"),
        ("key.create", ADMIN.name, "admin", "api_key"),
    ]
    assert entries[1].key_id == key.id and entries[1].details == {"n": 3, "at": T0.isoformat()}
    assert entries[2].details == {"role": "reporter", "grid_code": None, "name": "App"}
    assert entries[0].object_id == str(key.id)
    assert [e.action for e in keys.list_audit(caller=ADMIN, actor="App")] == ["locate"]
    assert [
        e.action for e in keys.list_audit(caller=ADMIN, object_type="api_key", object_id=key.id)
    ] == [
        "key.revoke",
        "key.create",
    ]
    page = keys.list_audit(caller=ADMIN, limit=2)
    rest = keys.list_audit(caller=ADMIN, before_id=page[-1].id)
    assert [e.id for e in page + rest] == [e.id for e in entries]
    assert keys.list_audit(caller=ADMIN, since=entries[0].at + dt.timedelta(seconds=1)) == []
    with pytest.raises(InvalidInputError, match="needs an action"):
        keys.write_audit(caller, "", object_type="point")


# -- subtrees follow parent links, never code prefixes ----------------------------------------

SIBLING = COMMUNITY + "1"  # 1101080011: a sibling community whose code extends QUADRANTS' parent


def sibling_plan() -> GridPlan:
    """Two communities whose codes are prefixes of each other's grids: ``…001`` and ``…0011``."""
    rows = [
        {"code": COMMUNITY, "level": 1, "geometry": mbox(0, 0, 400, 400)},
        {"code": SIBLING, "level": 1, "geometry": mbox(400, 0, 800, 400)},
        {"code": GRID_A, "level": 2, "parent_code": COMMUNITY, "geometry": mbox(0, 0, 400, 400)},
        {"code": SIBLING + "001", "level": 2, "parent_code": SIBLING,
         "geometry": mbox(400, 0, 800, 400)},
    ]  # fmt: skip
    return make_plan(rows)


def test_prefix_siblings_stay_apart(store: PlanStore) -> None:
    store.save(sibling_plan(), by="张三")
    incidents, keys = store.incidents(), store.access()
    ours = Placement(116.3, 40.0, (COMMUNITY, GRID_A), "测试", 1)
    theirs = Placement(116.3, 40.0, (SIBLING, SIBLING + "001"), "测试", 1)
    report = IncidentReport(category="environment", description="x", lon=116.3, lat=40.0)
    app = Caller("App", Role.REPORTER)
    mine = incidents.create_incident(report, ours, caller=app).incident
    other = incidents.create_incident(report, theirs, caller=app).incident
    raw, _ = keys.create_key(Role.WORKER, name="王芳", grid_code=COMMUNITY, caller=ADMIN)
    worker = keys.authenticate(raw)
    assert not worker.tops
    assert incidents.get_incident(mine.id, caller=worker).id == mine.id
    with pytest.raises(NotFoundError):
        incidents.get_incident(other.id, caller=worker)
    with pytest.raises(NotFoundError):
        incidents.transition(other.id, "accepted", caller=worker)
    listed = incidents.list_incidents(caller=worker).items
    assert [i.id for i in listed] == [mine.id]
    stats = incidents.stats(caller=Caller("督办", Role.SUPERVISOR, grid_code=COMMUNITY))
    assert {s.grid_code for s in stats} == {COMMUNITY, GRID_A}
    admin_listed = incidents.list_incidents(caller=ADMIN, grid_code=COMMUNITY).items
    assert [i.id for i in admin_listed] == [mine.id]
    # a street registered above the plans' jurisdiction covers both communities, by the
    # registry's parent links
    store.register_jurisdiction("110108", "某街道", level_name="街道")
    for info in store.in_force() or store.versions():
        store.register_jurisdiction(info.jurisdiction, info.plan, parent="110108")
    street_raw, _ = keys.create_key(Role.SUPERVISOR, name="街道", grid_code="110108", caller=ADMIN)
    street = keys.authenticate(street_raw)
    assert {COMMUNITY, SIBLING} <= street.tops
    assert {i.id for i in incidents.list_incidents(caller=street).items} == {mine.id, other.id}


def test_a_scoped_admin_manages_its_own_keys_only(store: PlanStore) -> None:
    store.save(sibling_plan(), by="张三")
    keys = store.access()
    root_raw, root = keys.create_key(Role.ADMIN, name="区管理员", caller=ADMIN)
    local_raw, local = keys.create_key(Role.ADMIN, name="社区管理员", grid_code=COMMUNITY,
                                       caller=keys.authenticate(root_raw))  # fmt: skip
    local_admin = keys.authenticate(local_raw)
    _, ours = keys.create_key(Role.WORKER, name="王芳", grid_code=GRID_A, caller=local_admin)
    _, theirs = keys.create_key(Role.WORKER, name="李雷", grid_code=SIBLING, caller=ADMIN)
    keys.write_audit(ours.caller(), "locate", object_type="point")
    keys.write_audit(theirs.caller(), "locate", object_type="point")
    with pytest.raises(AccessDeniedError, match=f"covers grid {COMMUNITY} only"):
        keys.create_key(Role.WORKER, name="x", grid_code=SIBLING + "001", caller=local_admin)
    for key in (root, theirs):
        with pytest.raises(NotFoundError, match=f"no API key with id {key.id}"):
            keys.revoke_key(key.id, caller=local_admin)
        assert keys.authenticate(root_raw).name == "区管理员"
    assert [k.id for k in keys.list_keys(caller=local_admin)] == [local.id, ours.id]
    seen = keys.list_audit(caller=local_admin)
    assert {e.key_id for e in seen} <= {local.id, ours.id} and seen
    assert theirs.id not in {e.key_id for e in seen}
    assert keys.revoke_key(ours.id, caller=local_admin).revoked_at is not None
