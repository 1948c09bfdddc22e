"""``/plans`` and ``/grids/{code}/staff`` through the real HTTP app, on both stores."""

from __future__ import annotations

import io as bytes_io
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
import shapely.geometry
from fastapi.testclient import TestClient
from shapely.geometry import box

from api.main import create_app
from geogrid import io
from geogrid.access import Caller
from geogrid.plan import GridPlan
from geogrid.store import open_store
from tests.service import (
    DX,
    DY,
    OX,
    OY,
    TOP,
    activate,
    centre,
    issue_key,
    service_settings,
    street_plan,
)

NAME = "示例街道"
CODE = f"{TOP}004"
NEW_STAFF = {"staff": [{"role": "head", "name": "王芳", "phone": "13800000009"}]}


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def settings(request, tmp_path):
    """Service settings over an empty store of each kind."""
    with service_settings(request.param, tmp_path) as values:
        yield values


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def planner(settings) -> dict[str, str]:
    return issue_key(settings, "planner", name="规划员张三")


@pytest.fixture
def reviewer(settings) -> dict[str, str]:
    """A supervisor: approves and activates what planners save (planners may not)."""
    return issue_key(settings, "supervisor", name="审核员李四")


def plan_file(plan: GridPlan, folder: Path, suffix: str = ".gpkg") -> bytes:
    """``plan`` written by geogrid in the format of ``suffix``, as bytes."""
    return io.write_plan(plan, folder / f"upload{suffix}").read_bytes()


def upload(client, headers, data: bytes, **params):
    """POST /plans with ``data`` as a multipart form's ``file`` field."""
    files = {"file": ("plan.gpkg", data, "application/octet-stream")}
    return client.post("/plans", files=files, headers=headers, params=params)


def overlapping_plan() -> GridPlan:
    """The street plan with grid 004 stretched over grid 006 (an overlap among siblings)."""
    plan = street_plan()
    row = plan.grids.index[plan.grids["code"] == CODE][0]
    plan.grids.loc[row, "geometry"] = shapely.multipolygons(
        [box(OX + DX, OY + DY, OX + 2.5 * DX, OY + 2 * DY)]
    )
    return plan


def audit_actions(settings) -> list[str]:
    with open_store(settings.store_url) as store:
        rows = store.access().list_audit(caller=Caller.local("admin"))
    return [row.action for row in reversed(rows) if row.action.startswith(("plan.", "staff."))]


# --------------------------------------------------------------------------- upload


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".parquet"])
def test_good_plan_becomes_a_draft(client, planner, tmp_path, settings, suffix) -> None:
    data = plan_file(street_plan(), tmp_path, suffix)
    response = client.post("/plans", content=data, headers=planner, params={"note": "首版"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["plan"], body["version"], body["status"]) == (NAME, 1, "draft")
    assert (body["created_by"], body["note"]) == ("规划员张三", "首版")
    assert body["warnings"] == []
    location = response.headers["location"]
    assert location == "/plans/%E7%A4%BA%E4%BE%8B%E8%A1%97%E9%81%93/versions/1"
    again = client.get(location, headers=planner)
    assert again.json()["etag"] == body["etag"]
    assert again.headers["etag"] == response.headers["etag"] == f'"{body["etag"]}"'
    with open_store(settings.store_url) as store:
        assert store.get(NAME, 1).grids["code"].tolist() == street_plan().grids["code"].tolist()
    assert audit_actions(settings) == ["plan.save"]


def test_multipart_upload_and_warnings_come_back(client, planner, tmp_path) -> None:
    plan = street_plan()
    plan.grids["households"] = 10  # each community ≠ the sum of its 12 grids: a warning
    response = upload(client, planner, plan_file(plan, tmp_path), note="户数待核")
    assert response.status_code == 201, response.text
    warnings = response.json()["warnings"]
    assert {w["kind"] for w in warnings} == {"households_mismatch"}
    assert all(w["severity"] == "warning" for w in warnings)


def test_foreign_file_takes_the_name_given(client, planner, tmp_path) -> None:
    path = tmp_path / "grids.geojson"
    street_plan().grids.to_file(path, driver="GeoJSON")
    response = client.post(
        "/plans", content=path.read_bytes(), headers=planner, params={"name": "导入的街道"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["plan"] == "导入的街道"


def _area_m2(shape: shapely.Geometry) -> float:
    return float(
        gpd.GeoSeries([shape], crs=4490)
        .to_crs(gpd.GeoSeries([shape], crs=4490).estimate_utm_crs())
        .area.iloc[0]
    )


def test_invalid_plan_is_422_with_problems_and_nothing_stored(
    client, planner, tmp_path, settings
) -> None:
    response = upload(client, planner, plan_file(overlapping_plan(), tmp_path))
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "InvalidPlanError"
    assert "nothing was stored" in body["detail"]
    assert any(line.startswith("overlap (重叠)") for line in body["problems"])
    (overlap,) = [f for f in body["problem_details"] if f["properties"]["kind"] == "overlap"]
    shape = shapely.geometry.shape(overlap["geometry"])  # the overlap itself, to outline
    assert shape.geom_type in ("Polygon", "MultiPolygon")
    point = shapely.Point(overlap["properties"]["lon"], overlap["properties"]["lat"])
    assert shape.buffer(1e-6).contains(point)
    assert abs(overlap["properties"]["area_m2"] - _area_m2(shape)) < 0.01 * _area_m2(shape)
    assert client.get("/plans", headers=planner).json() == []
    assert audit_actions(settings) == []


@pytest.mark.parametrize(
    "data",
    [b"not a plan", b"SQLite format 3\x00" + b"\x00" * 200, b'{"type": "Feature"}', b""],
)
def test_unreadable_file_is_422(client, planner, data) -> None:
    response = upload(client, planner, data)
    assert response.status_code == 422
    assert response.json()["error"] == "PlanFileError"
    assert client.get("/plans", headers=planner).json() == []


def test_form_without_file_field_is_422(client, planner) -> None:
    response = client.post("/plans", files={"plan": ("x.gpkg", b"x")}, headers=planner)
    assert response.status_code == 422
    assert "no `file` field" in response.json()["detail"]


# --------------------------------------------------------------------------- versions


def test_approve_and_activate_record_who_and_when(
    client, planner, reviewer, tmp_path, settings
) -> None:
    upload(client, planner, plan_file(street_plan(), tmp_path))
    version = f"/plans/{NAME}/versions/1"
    etag = client.get(version, headers=planner).headers["etag"]
    refused = client.post(f"{version}/approve", headers=planner | {"If-Match": etag})
    assert refused.status_code == 403  # four eyes: who saves a plan does not approve it
    assert "needs the role admin or supervisor" in refused.json()["detail"]
    approved = client.post(f"{version}/approve", headers=reviewer | {"If-Match": etag})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert approved.json()["approved_by"] == "审核员李四"
    assert approved.json()["approved_at"]
    point = dict(zip(("lon", "lat"), centre(1, 1), strict=True))
    assert client.get("/locate", params=point).status_code == 404
    fresh = reviewer | {"If-Match": approved.headers["etag"]}
    active = client.post(f"{version}/activate", headers=fresh)
    assert active.status_code == 200, active.text
    assert (active.json()["status"], active.json()["activated_by"]) == ("active", "审核员李四")
    assert active.json()["activated_at"] >= approved.json()["approved_at"]
    located = client.get("/locate", params=point)
    assert located.json()["plan"] | {"jurisdiction": None} == {
        "name": NAME,
        "version": 1,
        "jurisdiction": None,
    }
    assert audit_actions(settings) == ["plan.save", "plan.approve", "plan.activate"]
    listed = client.get("/plans", headers=planner).json()
    assert listed == [
        {
            "name": NAME,
            "jurisdiction": NAME,  # two communities at its top level: named by the plan
            "latest_version": 1,
            "latest_status": "active",
            "active_version": 1,
        }
    ]
    versions = client.get(f"/plans/{NAME}/versions", headers=planner).json()
    assert [v["status"] for v in versions] == ["active"]


def test_activating_a_draft_is_409(client, planner, reviewer, tmp_path) -> None:
    upload(client, planner, plan_file(street_plan(), tmp_path))
    response = client.post(f"/plans/{NAME}/versions/1/activate", headers=reviewer)
    assert response.status_code == 409
    assert "approve it first" in response.json()["detail"]
    again = client.post(f"/plans/{NAME}/versions/1/approve", headers=reviewer)
    assert again.status_code == 200
    twice = client.post(f"/plans/{NAME}/versions/1/approve", headers=reviewer)
    assert twice.status_code == 409


def test_stale_if_match_is_412_and_changes_nothing(
    client, planner, reviewer, tmp_path, settings
) -> None:
    upload(client, planner, plan_file(street_plan(), tmp_path))
    version = f"/plans/{NAME}/versions/1"
    stale = client.get(version, headers=planner).headers["etag"]
    client.post(f"{version}/approve", headers=reviewer)
    response = client.post(f"{version}/activate", headers=reviewer | {"If-Match": stale})
    assert response.status_code == 412
    assert response.json()["error"] == "PreconditionFailedError"
    assert client.get(version, headers=planner).json()["status"] == "approved"
    assert audit_actions(settings) == ["plan.save", "plan.approve"]


def test_unknown_plan_or_version_is_404(client, planner, reviewer, tmp_path) -> None:
    assert client.get("/plans/无此计划/versions", headers=planner).status_code == 404
    upload(client, planner, plan_file(street_plan(), tmp_path))
    missing = client.get(f"/plans/{NAME}/versions/7", headers=planner)
    assert missing.status_code == 404
    assert "has no version 7; it has 1" in missing.json()["detail"]
    assert client.post(f"/plans/{NAME}/versions/7/approve", headers=reviewer).status_code == 404
    assert client.get("/plans/active/export", headers=planner).status_code == 404


# --------------------------------------------------------------------------- export


def test_geojson_export_round_trips(client, planner, settings, tmp_path) -> None:
    plan = street_plan()
    activate(settings, plan)
    response = client.get(f"/plans/{NAME}/versions/1/export", headers=planner)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    assert "filename*=UTF-8''" in response.headers["content-disposition"]
    doc = response.json()
    assert doc["type"] == "FeatureCollection"
    feature = next(f for f in doc["features"] if f["id"] == CODE)
    roles = [s["role"] for s in feature["properties"]["staff"]]
    assert roles == ["head", "full_time"]  # STAFF_ORDER, as /locate lists them
    path = tmp_path / "export.geojson"
    path.write_bytes(response.content)
    back = pyogrio.read_dataframe(path)
    assert back["code"].tolist() == plan.grids["code"].tolist()
    assert np.all(shapely.equals_exact(back.geometry.values, plan.grids.geometry.values, 1e-7))
    assert client.get("/plans/active/export", headers=planner).content == response.content
    reread = io.read_plan(path)  # the foreign members make it a plan again
    assert reread.staff_of(CODE)["name"].tolist() == ["网格长004", "网格员004"]


def test_gpkg_export_reads_back_as_the_plan(client, planner, settings, tmp_path) -> None:
    activate(settings, street_plan())
    response = client.get("/plans/active/export", headers=planner, params={"format": "gpkg"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geopackage+sqlite3"
    path = tmp_path / "export.gpkg"
    path.write_bytes(response.content)
    plan = io.read_plan(path)
    assert (plan.name, plan.version, len(plan.grids), len(plan.staff)) == (NAME, 1, 26, 48)
    assert gpd.read_file(bytes_io.BytesIO(response.content), layer="grids").crs.to_epsg() == 4490


def test_export_uploads_again_as_a_new_version(client, planner, settings) -> None:
    activate(settings, street_plan())
    exported = client.get("/plans/active/export", headers=planner).content
    response = client.post("/plans", content=exported, headers=planner)
    assert response.status_code == 201, response.text
    assert (response.json()["plan"], response.json()["version"]) == (NAME, 2)


# --------------------------------------------------------------------------- staff


def test_staff_change_shows_in_locate_at_once(client, planner, settings) -> None:
    activate(settings, street_plan())
    lon, lat = centre(1, 1)
    before = client.get(f"/grids/{CODE}/staff", headers=planner)
    assert before.status_code == 200
    assert [s["name"] for s in before.json()["staff"]] == ["网格长004", "网格员004"]
    assert before.headers["etag"] == f'"{before.json()["etag"]}"'
    client.get("/locate", params={"lon": lon, "lat": lat})  # index the plan
    changed = client.put(
        f"/grids/{CODE}/staff",
        json=NEW_STAFF,
        headers=planner | {"If-Match": before.headers["etag"]},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["revision"] == 1
    assert changed.headers["etag"] != before.headers["etag"]
    located = client.get("/locate", params={"lon": lon, "lat": lat}).json()
    assert located["levels"][1]["grid"]["staff"] == NEW_STAFF["staff"]
    assert client.get(f"/grids/{CODE}/staff", headers=planner).json()["staff"] == NEW_STAFF["staff"]
    assert audit_actions(settings) == ["staff.replace"]


def test_staff_change_by_another_process_reaches_locate(client, planner, settings) -> None:
    activate(settings, street_plan())
    lon, lat = centre(1, 1)
    client.get("/locate", params={"lon": lon, "lat": lat})
    with open_store(settings.store_url) as store:
        store.staff().replace(CODE, NEW_STAFF["staff"], caller=Caller.local("别的进程"))
    located = client.get("/locate", params={"lon": lon, "lat": lat}).json()
    assert located["levels"][1]["grid"]["staff"] == NEW_STAFF["staff"]


def test_staff_put_needs_if_match_and_a_fresh_one(client, planner, settings) -> None:
    activate(settings, street_plan())
    url = f"/grids/{CODE}/staff"
    etag = client.get(url, headers=planner).headers["etag"]
    missing = client.put(url, json=NEW_STAFF, headers=planner)
    assert missing.status_code == 428
    assert client.put(url, json=NEW_STAFF, headers=planner | {"If-Match": etag}).status_code == 200
    stale = client.put(url, json={"staff": []}, headers=planner | {"If-Match": etag})
    assert stale.status_code == 412
    assert client.get(url, headers=planner).json()["staff"] == NEW_STAFF["staff"]
    anyway = client.put(url, json={"staff": []}, headers=planner | {"If-Match": "*"})
    assert anyway.status_code == 200
    assert anyway.json()["staff"] == []


def test_staff_history_lists_before_after_who_when(client, planner, settings) -> None:
    activate(settings, street_plan())
    url = f"/grids/{CODE}/staff"
    first = client.get(url, headers=planner)
    second = client.put(url, json=NEW_STAFF, headers=planner | {"If-Match": first.headers["etag"]})
    client.put(url, json={"staff": []}, headers=planner | {"If-Match": second.headers["etag"]})
    history = client.get(f"{url}/history", headers=planner).json()
    assert [change["revision"] for change in history] == [2, 1]
    assert history[1]["before"] == first.json()["staff"]
    assert history[1]["after"] == history[0]["before"] == NEW_STAFF["staff"]
    assert history[0]["after"] == []
    assert {(c["changed_by"], c["role"]) for c in history} == {("规划员张三", "planner")}
    assert all(c["changed_at"] for c in history)
    other = client.get(f"/grids/{TOP}003/staff/history", headers=planner)
    assert other.json() == []


@pytest.mark.parametrize(
    "body",
    [
        {"staff": [{"role": "boss", "name": "王芳"}]},
        {"staff": [{"role": "head", "name": ""}]},
        {"staff": [{"role": "head", "name": "王芳", "email": "x@example.org"}]},
        {"staff": [], "note": "extra"},
        {},
    ],
)
def test_bad_staff_bodies_are_422(client, planner, settings, body) -> None:
    activate(settings, street_plan())
    response = client.put(f"/grids/{CODE}/staff", json=body, headers=planner | {"If-Match": "*"})
    assert response.status_code == 422
    assert client.get(f"/grids/{CODE}/staff/history", headers=planner).json() == []


def test_staff_of_unknown_grid_is_404(client, planner, settings) -> None:
    assert client.get(f"/grids/{CODE}/staff", headers=planner).status_code == 404  # no plan
    activate(settings, street_plan())
    response = client.put(
        "/grids/110108009001/staff", json=NEW_STAFF, headers=planner | {"If-Match": "*"}
    )
    assert response.status_code == 404


# --------------------------------------------------------------------------- access


READING = [
    ("get", "/plans"),
    ("get", f"/plans/{NAME}/versions"),
    ("get", f"/plans/{NAME}/versions/1"),
    ("get", f"/plans/{NAME}/versions/1/export"),
    ("get", "/plans/active/export"),
]
REVIEWING = [
    ("post", f"/plans/{NAME}/versions/1/approve"),
    ("post", f"/plans/{NAME}/versions/1/activate"),
]
SAVING = [
    ("post", "/plans"),
    ("get", f"/grids/{CODE}/staff"),
    ("put", f"/grids/{CODE}/staff"),
    ("get", f"/grids/{CODE}/staff/history"),
]
ROUTES = READING + REVIEWING + SAVING
REFUSED = {  # who gets 403 where: planners save and read, supervisors review and read
    "reporter": ROUTES,
    "worker": ROUTES,
    "supervisor": SAVING,
    "planner": REVIEWING,
}


def test_other_roles_get_403_and_no_key_401(client, settings) -> None:
    activate(settings, street_plan())
    keys = {
        "reporter": issue_key(settings, "reporter"),
        "worker": issue_key(settings, "worker", CODE),
        "supervisor": issue_key(settings, "supervisor"),
        "planner": issue_key(settings, "planner"),
    }
    for method, url in ROUTES:
        kwargs = {"json": NEW_STAFF} if method == "put" else {}
        for role, headers in keys.items():
            if (method, url) not in REFUSED[role]:
                continue
            response = client.request(method, url, headers=headers | {"If-Match": "*"}, **kwargs)
            assert response.status_code == 403, (role, method, url, response.text)
        assert client.request(method, url, **kwargs).status_code == 401, (method, url)
    assert audit_actions(settings) == []


def test_planner_bound_to_a_grid_manages_its_staff_only(client, settings) -> None:
    activate(settings, street_plan())
    east = issue_key(settings, "planner", "110108001002")
    assert client.get("/plans", headers=east).json() == []  # the street's plan is not its
    assert client.get(f"/grids/{CODE}/staff", headers=east).status_code == 403
    own = client.put(
        "/grids/110108001002001/staff", json=NEW_STAFF, headers=east | {"If-Match": "*"}
    )
    assert own.status_code == 200


def test_admin_may_do_it_too(client, settings, tmp_path) -> None:
    admin = issue_key(settings, "admin", name="管理员")
    response = upload(client, admin, plan_file(street_plan(), tmp_path))
    assert response.status_code == 201
    assert response.json()["created_by"] == "管理员"


def test_geojson_body_is_exactly_rfc7946(client, planner, settings) -> None:
    activate(settings, street_plan())
    doc = json.loads(client.get("/plans/active/export", headers=planner).content)
    assert "crs" not in doc
    ring = doc["features"][0]["geometry"]["coordinates"][0][0]
    assert all(round(x, 7) == x for point in ring for x in point)
    assert doc["geogrid"]["levels"] == ["社区", "网格"]


def test_uploads_have_their_own_cap(tmp_path) -> None:
    with service_settings("gpkg", tmp_path, max_upload_bytes=5_000) as values:
        planner = issue_key(values, "planner")
        with TestClient(create_app(values)) as client:
            big = plan_file(street_plan(), tmp_path)
            assert len(big) > 5_000
            refused = upload(client, planner, big)
            assert refused.status_code == 413
            assert "GEOGRID_MAX_UPLOAD_BYTES" in refused.json()["detail"]
    with service_settings("gpkg", tmp_path / "b", max_body_bytes=1_000) as values:
        planner = issue_key(values, "planner")
        with TestClient(create_app(values)) as client:  # larger than the body cap: accepted
            assert upload(client, planner, plan_file(street_plan(), tmp_path)).status_code == 201
