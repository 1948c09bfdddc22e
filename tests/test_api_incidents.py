"""``/incidents``, ``/stats``, ``/keys`` and ``/audit`` through the real HTTP app, on both stores.

The street plan has two communities (level 1: ``TOP`` west, ``EAST``) of 100 m grids
(level 2); keys are real keys created in the store.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from geogrid.access import Caller
from geogrid.crs import wgs84_to_bd09, wgs84_to_gcj02
from geogrid.errors import InvalidIncidentError
from geogrid.store import open_store
from tests.service import OX, OY, TOP, activate, centre, issue_key, service_settings, street_plan

EAST = "110108001002"
WEST_GRID = f"{TOP}004"  # centre(1, 1)
EAST_GRID = f"{EAST}001"  # centre(6, 0)


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def settings(request, tmp_path):
    with service_settings(request.param, tmp_path) as values:
        activate(values, street_plan())
        yield values


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def keys(settings):
    """Headers of one key per role (workers and supervisors bound to grids)."""
    return {
        "reporter": issue_key(settings, "reporter", name="居民上报App"),
        "worker": issue_key(settings, "worker", WEST_GRID, name="王芳"),
        "east_worker": issue_key(settings, "worker", EAST_GRID, name="李强"),
        "supervisor": issue_key(settings, "supervisor", TOP, name="西社区书记"),
        "east_supervisor": issue_key(settings, "supervisor", EAST, name="东社区书记"),
        "planner": issue_key(settings, "planner", name="规划科"),
        "admin": issue_key(settings, "admin", name="管理员"),
    }


_ids = itertools.count()


def report(lon: float, lat: float, **extra) -> dict:
    body = {
        "category": "environment",
        "description": f"垃圾堆放 #{next(_ids)}",
        "lon": lon,
        "lat": lat,
        "reporter_name": "张三",
        "reporter_phone": "13800000001",
        "photos": ["photos/a1.jpg"],
    }
    return body | extra


def post(client, headers, body, key=None):
    extra = {"Idempotency-Key": key} if key else {}
    return client.post("/incidents", json=body, headers=headers | extra)


def move(client, headers, ref, to, **extra):
    return client.post(f"/incidents/{ref}/transitions", json={"to": to, **extra}, headers=headers)


# ------------------------------------------------------------------------- reporting


@pytest.mark.parametrize(("crs", "forward"), [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_phone_map_point_is_placed_in_the_right_grid(client, keys, crs, forward) -> None:
    lon, lat = forward(*centre(1, 1))
    raw = client.get("/locate", params={"lon": lon, "lat": lat}).json()
    assert raw["grid_code"] != WEST_GRID  # the raw coordinates are in another place
    response = post(client, keys["reporter"], report(lon, lat, crs=crs))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["grid_code"] == WEST_GRID
    assert body["level_codes"] == [TOP, WEST_GRID]
    assert body["located"] == "inside"
    assert body["original"] == {"lon": lon, "lat": lat, "crs": crs}
    assert body["lon"] == pytest.approx(centre(1, 1)[0], abs=1e-7)
    assert [s["role"] for s in body["staff"]] == ["head", "full_time"]
    assert body["status"] == "reported"
    assert body["urgency"] == "blue"  # environment's default
    assert body["category_name"] == "环境卫生"
    assert body["plan"] == {"name": "示例街道", "version": 1}
    assert response.headers["Location"] == f"/incidents/{body['reference']}"
    assert body["reporter_phone"] == "138****0001"  # a reporter app does not read contacts


def test_idempotent_retries_never_make_a_second_incident(client, keys, settings) -> None:
    body = report(*centre(1, 1))
    first = post(client, keys["reporter"], body, key="retry-1")
    again = post(client, keys["reporter"], body, key="retry-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    changed = post(client, keys["reporter"], body | {"description": "另一件事"}, key="retry-1")
    assert changed.status_code == 422
    assert "different report" in changed.json()["detail"]
    listed = client.get("/incidents", headers=keys["admin"]).json()
    assert listed["total"] == 1
    # keys are per caller: another caller's same key is another incident
    other = post(client, keys["worker"], body, key="retry-1")
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]


def test_a_replay_answers_the_incident_as_it_was_created(client, keys) -> None:
    """docs/api.md: a retry gets the original 201 answer, not the case's state since."""
    body = report(*centre(1, 1))
    first = post(client, keys["reporter"], body, key="retry-2")
    ref = first.json()["reference"]
    assert move(client, keys["worker"], ref, "accepted", assignee="王芳").status_code == 200
    again = post(client, keys["reporter"], body, key="retry-2")
    assert again.status_code == 201
    assert again.json() == first.json()  # status reported, no assignee, the first deadline


def test_outside_point_is_kept_for_callers_bound_to_no_grid(client, keys) -> None:
    response = post(client, keys["reporter"], report(OX - 0.01, OY))
    assert response.status_code == 201
    body = response.json()
    assert body["located"] == "outside"
    assert body["grid_code"] is None and body["level_codes"] == [] and body["staff"] == []
    ref = body["reference"]
    assert client.get(f"/incidents/{ref}", headers=keys["admin"]).status_code == 200
    assert client.get(f"/incidents/{ref}", headers=keys["supervisor"]).status_code == 404


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"category": "hornets"}, "unknown incident category"),
        ({"lon": 39.9, "lat": 116.39}, "swapped"),
        ({"lon": 200.0}, "longitude outside"),
        ({"colour": "red"}, "extra"),
        ({"description": ""}, "at least 1"),
        ({"photos": [f"p{i}.jpg" for i in range(21)]}, "at most 20"),
        ({"urgency": "purple"}, "red"),
        ({"crs": "mars"}, "wgs84"),
    ],
)
def test_bad_reports_are_422_and_store_nothing(client, keys, change, reason) -> None:
    response = post(client, keys["reporter"], report(*centre(1, 1)) | change)
    assert response.status_code == 422
    assert reason in response.text
    assert client.get("/incidents", headers=keys["admin"]).json()["total"] == 0


def test_keys_are_required_and_checked(client, keys) -> None:
    body = report(*centre(1, 1))
    missing = client.post("/incidents", json=body)
    assert missing.status_code == 401
    assert "X-API-Key" in missing.json()["detail"]
    assert post(client, {"X-API-Key": "ggk_not-a-real-key"}, body).status_code == 401
    assert post(client, {"X-API-Key": "hello"}, body).status_code == 401
    bearer = {"Authorization": "Bearer " + keys["reporter"]["X-API-Key"]}
    assert post(client, bearer, body).status_code == 201


def test_a_revoked_key_stops_working(client, keys) -> None:
    key_id = client.get("/keys", headers=keys["admin"]).json()[0]["id"]  # the reporter's
    revoked = client.delete(f"/keys/{key_id}", headers=keys["admin"])
    assert revoked.status_code == 200 and revoked.json()["revoked_by"] == "管理员"
    response = post(client, keys["reporter"], report(*centre(1, 1)))
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


# ------------------------------------------------------------------------- lifecycle


def test_lifecycle_through_the_api_with_history(client, keys) -> None:
    ref = post(client, keys["reporter"], report(*centre(1, 1))).json()["reference"]
    worker = keys["worker"]
    for to in ["accepted", "dispatched", "handled", "feedback", "closed"]:
        response = move(client, worker, ref, to, note=f"{to} by 王芳")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == to
    closed = client.get(f"/incidents/{ref}", headers=worker).json()
    assert closed["closed_at"] is not None and closed["overdue"] is False
    history = client.get(f"/incidents/{ref}/history", headers=worker).json()
    assert [e["to_status"] for e in history] == [
        "reported",
        "accepted",
        "dispatched",
        "handled",
        "feedback",
        "closed",
    ]
    assert history[0]["by"] == "居民上报App" and history[0]["action"] == "report"
    assert {e["by"] for e in history[1:]} == {"王芳"}
    assert history[-1]["note"] == "closed by 王芳"
    reopened = move(client, worker, ref, "reopened")
    assert reopened.status_code == 200 and reopened.json()["closed_at"] is None


def test_illegal_transitions_are_409_and_change_nothing(client, keys) -> None:
    ref = post(client, keys["reporter"], report(*centre(1, 1))).json()["reference"]
    response = move(client, keys["worker"], ref, "closed")
    assert response.status_code == 409
    assert "accepted or rejected" in response.json()["detail"]
    assert client.get(f"/incidents/{ref}", headers=keys["worker"]).json()["status"] == "reported"
    assert move(client, keys["worker"], ref, "flying").status_code == 422


def test_stale_if_match_is_412_and_changes_nothing(client, keys) -> None:
    ref = post(client, keys["reporter"], report(*centre(1, 1))).json()["reference"]
    read = client.get(f"/incidents/{ref}", headers=keys["worker"])
    etag = read.headers["ETag"]
    first = client.post(
        f"/incidents/{ref}/transitions",
        json={"to": "accepted"},
        headers=keys["worker"] | {"If-Match": etag},
    )
    assert first.status_code == 200 and first.headers["ETag"] != etag
    stale = client.post(
        f"/incidents/{ref}/transitions",
        json={"to": "rejected"},
        headers=keys["worker"] | {"If-Match": etag},
    )
    assert stale.status_code == 412
    assert client.get(f"/incidents/{ref}", headers=keys["worker"]).json()["status"] == "accepted"


def test_three_failed_attempts_escalate_a_blue_case(client, keys) -> None:
    ref = post(client, keys["reporter"], report(*centre(1, 1))).json()["reference"]
    steps = ["accepted", "dispatched", "handled", "dispatched", "handled", "feedback"]
    steps += ["dispatched", "handled", "dispatched"]
    for to in steps:
        answer = move(client, keys["worker"], ref, to)
        assert answer.status_code == 200, answer.text
    case = answer.json()
    assert case["attempts"] == 3
    assert case["urgency"] == "yellow" and case["escalated_at"] is not None
    history = client.get(f"/incidents/{ref}/history", headers=keys["worker"]).json()
    assert history[-1]["action"] == "escalate"


# ------------------------------------------------------------------------- access matrix


def _one_incident_per_community(client, keys) -> dict[str, str]:
    west = post(client, keys["reporter"], report(*centre(1, 1))).json()["reference"]
    east = post(client, keys["reporter"], report(*centre(6, 0))).json()["reference"]
    return {"west": west, "east": east}


# role → (may create, may read west, may read east, may change west)
MATRIX = {
    "reporter": (True, 403, 403, 403),
    "worker": (True, 200, 404, 200),
    "east_worker": (True, 404, 200, 404),
    "supervisor": (False, 200, 404, 403),
    "east_supervisor": (False, 404, 200, 403),
    "planner": (False, 403, 403, 403),
    "admin": (True, 200, 200, 200),
}


@pytest.mark.parametrize("role", list(MATRIX))
def test_access_matrix(client, keys, role) -> None:
    refs = _one_incident_per_community(client, keys)
    may_create, read_west, read_east, change_west = MATRIX[role]
    headers = keys[role]
    created = post(client, headers, report(*centre(1, 0)))
    assert created.status_code == (201 if may_create else 403)
    for ref, expected in ((refs["west"], read_west), (refs["east"], read_east)):
        assert client.get(f"/incidents/{ref}", headers=headers).status_code == expected
        history = client.get(f"/incidents/{ref}/history", headers=headers)
        assert history.status_code == expected
    assert move(client, headers, refs["west"], "accepted").status_code == change_west
    # the east incident is never changed by anyone bound to the west, whatever the path
    if read_east != 200:
        assert move(client, headers, refs["east"], "accepted").status_code in (403, 404)
        east = client.get(f"/incidents/{refs['east']}", headers=keys["admin"]).json()
        assert east["status"] == "reported"
    listing = client.get("/incidents", headers=headers)
    if read_west == 403:
        assert listing.status_code == 403
    else:
        seen = {i["reference"] for i in listing.json()["items"]}
        assert (refs["west"] in seen) == (read_west == 200)
        assert (refs["east"] in seen) == (read_east == 200)
        # asking for the other community's subtree gives nothing rather than leaking it
        other = EAST if read_east != 200 else TOP
        filtered = client.get("/incidents", params={"grid_code": other}, headers=headers)
        if read_east != 200 or read_west != 200:
            assert filtered.json()["total"] == 0


@pytest.mark.parametrize(
    ("role", "name", "phone"),
    [
        ("worker", "张三", "13800000001"),
        ("admin", "张三", "13800000001"),
        ("supervisor", "张*", "138****0001"),
    ],
)
def test_reporter_contact_is_masked_for_roles_that_do_not_need_it(
    client, keys, role, name, phone
) -> None:
    ref = post(client, keys["reporter"], report(*centre(1, 1))).json()["reference"]
    for body in (
        client.get(f"/incidents/{ref}", headers=keys[role]).json(),
        client.get("/incidents", headers=keys[role]).json()["items"][0],
    ):
        assert (body["reporter_name"], body["reporter_phone"]) == (name, phone)


def test_every_read_and_change_is_audited(client, keys) -> None:
    refs = _one_incident_per_community(client, keys)
    client.get(f"/incidents/{refs['west']}", headers=keys["supervisor"])
    client.get(f"/incidents/{refs['east']}", headers=keys["supervisor"])  # denied: 404
    client.get("/incidents", headers=keys["supervisor"])
    move(client, keys["worker"], refs["west"], "accepted")
    client.get("/stats", headers=keys["supervisor"])
    rows = client.get("/audit", params={"limit": 500}, headers=keys["admin"]).json()
    actions = [(r["actor"], r["action"]) for r in rows]
    assert ("西社区书记", "incident.read") in actions
    assert ("西社区书记", "incident.list") in actions
    assert ("西社区书记", "incident.stats") in actions
    assert ("王芳", "incident.transition") in actions
    assert actions.count(("居民上报App", "incident.create")) == 2
    denied = [r for r in rows if r["details"].get("denied")]
    assert any(r["object_id"] == refs["east"] for r in denied)
    assert client.get("/audit", headers=keys["supervisor"]).status_code == 403


# ------------------------------------------------------------------------- listing and stats


def test_list_filters_by_grid_of_any_level_status_category_and_paging(client, keys) -> None:
    admin = keys["admin"]
    refs = [post(client, keys["reporter"], report(*centre(c, 0))).json() for c in (0, 1, 6)]
    post(client, keys["reporter"], report(*centre(7, 0), category="dispute"))
    move(client, keys["admin"], refs[0]["reference"], "accepted")

    def total(**params):
        response = client.get("/incidents", params=params, headers=admin)
        assert response.status_code == 200, response.text
        return response.json()["total"]

    assert total() == 4
    assert total(grid_code=TOP) == 2
    assert total(grid_code=EAST) == 2
    assert total(grid_code=refs[0]["grid_code"]) == 1
    assert total(status="accepted") == 1
    assert total(status=["accepted", "reported"]) == 4
    assert total(category="dispute") == 1
    assert total(since="2000-01-01T00:00:00", until="2000-01-02T00:00:00") == 0
    assert total(overdue=True) == 0
    first = client.get("/incidents", params={"limit": 3}, headers=admin).json()
    assert len(first["items"]) == 3 and first["next_before_id"] is not None
    second = client.get(
        "/incidents", params={"limit": 3, "before_id": first["next_before_id"]}, headers=admin
    ).json()
    assert len(second["items"]) == 1 and second["next_before_id"] is None
    ids = [i["id"] for i in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 4
    assert client.get("/incidents", params={"status": "lost"}, headers=admin).status_code == 422


def test_stats_per_grid_and_level(client, keys) -> None:
    worker, reporter = keys["worker"], keys["reporter"]
    refs = [post(client, reporter, report(*centre(1, 1))).json()["reference"] for _ in range(3)]
    post(client, reporter, report(*centre(6, 0)))
    for to in ["accepted", "dispatched", "handled", "feedback", "closed"]:
        move(client, worker, refs[0], to)
    move(client, worker, refs[1], "rejected")
    response = client.get("/stats", headers=keys["supervisor"])
    assert response.status_code == 200, response.text
    grids = {(g["level"], g["grid_code"]): g for g in response.json()["grids"]}
    assert set(grids) == {(1, TOP), (2, WEST_GRID)}  # the west supervisor sees the west only
    fine = grids[(2, WEST_GRID)]
    assert (fine["total"], fine["closed"], fine["rejected"], fine["open"]) == (3, 1, 1, 1)
    assert fine["closure_rate"] == pytest.approx(0.5)
    assert fine["median_hours_to_close"] is not None and fine["overdue"] == 0
    assert fine["grid_name"] == "第4网格"
    everything = client.get("/stats", params={"level": 1}, headers=keys["admin"]).json()
    assert {g["grid_code"]: g["total"] for g in everything["grids"]} == {TOP: 3, EAST: 1}
    assert client.get("/stats", headers=keys["worker"]).status_code == 403
    assert client.get("/stats", params={"level": 9}, headers=keys["admin"]).status_code == 422


def test_categories_list_the_five_focus_areas(client) -> None:
    categories = client.get("/categories").json()
    focus = [c["code"] for c in categories if c["focus"]]
    assert focus == ["work_safety", "environment", "emergency", "petition", "social_assistance"]


def test_keys_over_the_api(client, keys, settings) -> None:
    admin = keys["admin"]
    created = client.post(
        "/keys", json={"role": "worker", "name": "赵六", "grid_code": WEST_GRID}, headers=admin
    )
    assert created.status_code == 201
    raw = created.json()["key"]
    with open_store(settings.store_url) as store:
        assert store.access().authenticate(raw) == Caller(
            "赵六", "worker", WEST_GRID, created.json()["id"]
        )
    listed = client.get("/keys", headers=admin).json()
    assert all("key" not in k for k in listed)
    no_grid = client.post("/keys", json={"role": "worker", "name": "x"}, headers=admin)
    assert no_grid.status_code == 422 and "bound to a grid" in no_grid.json()["detail"]
    bad_role = client.post("/keys", json={"role": "king", "name": "x"}, headers=admin)
    assert bad_role.status_code == 422
    denied = client.post("/keys", json={"role": "admin", "name": "x"}, headers=keys["planner"])
    assert denied.status_code == 403


def test_locate_ogc_and_maps_can_require_a_key(tmp_path) -> None:
    with service_settings("gpkg", tmp_path, open_locate=False) as values:
        activate(values, street_plan())
        reporter = issue_key(values, "reporter")
        with TestClient(create_app(values)) as client:
            lon, lat = centre(1, 1)
            params = {"lon": lon, "lat": lat}
            assert client.get("/locate", params=params).status_code == 401
            assert client.get("/ogc/collections").status_code == 401
            answer = client.get("/locate", params=params, headers=reporter)
            assert answer.status_code == 200 and answer.json()["grid_code"] == WEST_GRID
            assert client.get("/ogc/collections", headers=reporter).status_code == 200


def test_a_place_configures_its_own_categories_and_deadlines(tmp_path) -> None:
    taxonomy = tmp_path / "categories.json"
    taxonomy.write_text(
        '[{"code": "hornets", "name": "马蜂窝", "urgency": "red"},'
        ' {"code": "drain", "name": "下水道堵塞"}]',
        encoding="utf-8",
    )
    with service_settings("gpkg", tmp_path, taxonomy_file=taxonomy, red_hours=2) as values:
        activate(values, street_plan())
        reporter = issue_key(values, "reporter")
        with TestClient(create_app(values)) as client:
            assert [c["code"] for c in client.get("/categories").json()] == ["hornets", "drain"]
            case = post(client, reporter, report(*centre(1, 1), category="hornets")).json()
            assert case["urgency"] == "red" and case["category_name"] == "马蜂窝"
            hours = dt.datetime.fromisoformat(case["deadline"]) - dt.datetime.fromisoformat(
                case["created_at"]
            )
            assert hours == dt.timedelta(hours=2)
            refused = post(client, reporter, report(*centre(1, 1), category="environment"))
            assert refused.status_code == 422 and "hornets, drain" in refused.json()["detail"]


def test_a_broken_taxonomy_file_stops_the_service_with_a_clear_error(tmp_path) -> None:
    broken = tmp_path / "categories.json"
    broken.write_text('{"code": "x"}', encoding="utf-8")
    with (
        service_settings("gpkg", tmp_path, taxonomy_file=broken) as values,
        pytest.raises(InvalidIncidentError, match="JSON list"),
    ):
        create_app(values)


def test_ids_beyond_a_row_id_are_refused_or_not_found(client, keys) -> None:
    admin = keys["admin"]
    huge = str(2**63)
    assert client.get("/incidents", params={"before_id": huge}, headers=admin).status_code == 422
    assert client.get(f"/incidents/{huge}", headers=admin).status_code == 404
    assert client.delete(f"/keys/{huge}", headers=admin).status_code == 422
