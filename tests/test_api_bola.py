"""The BOLA matrix: keys of every role bound to community A against B's objects, every route.

The street plan has two communities, A (``TOP``, west) and B (``EAST``). Every key of the
matrix is bound inside A; each operation of the OpenAPI schema is tried against B's incident,
keys, audit rows, grid staff and the plans. An operation either is *open* (public data: grid
boundaries and the staff phones of the public signs, 公示牌), or is *scoped*: a key bound to A
never reads or changes anything of B's — it gets 403/404, or a listing without B's rows.
The test fails if the schema gains an operation this matrix does not cover.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from geogrid.io import write_plan
from tests.service import (
    TOP,
    activate,
    centre,
    issue_key,
    service_settings,
    street_plan,
    with_units,
)

EAST = "110108001002"
A_GRID, B_GRID = f"{TOP}004", f"{EAST}001"  # centre(1, 1) and centre(6, 0)
ROLES = ("reporter", "worker", "supervisor", "planner", "admin")
DENIED = {401, 403, 404}


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def world(request, tmp_path):
    """The service, B's objects made by a root admin, and A-bound keys of every role."""
    with service_settings(request.param, tmp_path) as settings:
        activate(settings, with_units(street_plan()))
        root = issue_key(settings, "admin", name="区管理员")
        with TestClient(create_app(settings)) as client:
            lon, lat = centre(6)
            body = {"category": "environment", "description": "B 的事件", "lon": lon, "lat": lat}
            incident = client.post("/incidents", json=body, headers=root).json()
            b_key = client.post(
                "/keys", json={"role": "worker", "name": "B 网格员", "grid_code": B_GRID},
                headers=root,
            ).json()  # fmt: skip
            b_worker = {"X-API-Key": b_key["key"]}
            client.get(f"/incidents/{incident['id']}", headers=b_worker)  # an audit row of B's
            b_staff = {"staff": [{"role": "head", "name": "B 专属网格长", "phone": "13700000000"}]}
            client.put(
                f"/grids/{B_GRID}/staff", json=b_staff, headers=root | {"If-Match": "*"}
            ).raise_for_status()
            (person,) = client.get("/people", params={"q": "B 专属"}, headers=root).json()
            keys = {
                role: issue_key(settings, role, A_GRID if role == "worker" else TOP, name=f"A {role}")
                for role in ROLES
            }  # fmt: skip
            path = tmp_path / "street.geojson"
            write_plan(street_plan(), path)  # a new version of the street's plan, B inside
            draft = client.post("/drafts", json={"plan": "示例街道"}, headers=root).json()
            proposal = "0" * 12  # B's draft has no proposal: an A key must not learn even that
            job = client.post(
                "/jobs/partition", json={"plan": "示例街道", "grids": [B_GRID], "band": "300-500"},
                headers=root,
            ).json()  # fmt: skip
            b = {"incident": incident, "key": b_key, "person": person, "plan": path.read_bytes(),
                 "draft": draft["id"], "proposal": proposal, "job": job["id"]}  # fmt: skip
            yield client, root, keys, b


def _attempts(b: dict) -> dict[str, tuple[str, str, dict]]:
    """One request per operation against B's objects: (method, url, request kwargs)."""
    ref = b["incident"]["id"]
    lon, lat = centre(6)
    staff = {"staff": [{"role": "head", "name": "张三", "phone": "13800000000"}]}
    return {
        "GET /incidents": ("GET", "/incidents", {}),
        "GET /incidents/{ref}": ("GET", f"/incidents/{ref}", {}),
        "GET /incidents/{ref}/history": ("GET", f"/incidents/{ref}/history", {}),
        "POST /incidents/{ref}/transitions": (
            "POST", f"/incidents/{ref}/transitions", {"json": {"to": "accepted"}},
        ),
        "GET /stats": ("GET", "/stats", {}),
        "POST /keys": (
            "POST", "/keys", {"json": {"role": "worker", "name": "x", "grid_code": B_GRID}},
        ),
        "GET /keys": ("GET", "/keys", {}),
        "DELETE /keys/{key_id}": ("DELETE", f"/keys/{b['key']['id']}", {}),
        "GET /audit": ("GET", "/audit", {}),
        "GET /grids/{code}/staff": ("GET", f"/grids/{B_GRID}/staff", {}),
        "PUT /grids/{code}/staff": (
            "PUT", f"/grids/{B_GRID}/staff", {"json": staff, "headers": {"If-Match": '"*"'}},
        ),
        "GET /grids/{code}/staff/history": ("GET", f"/grids/{B_GRID}/staff/history", {}),
        "GET /people": ("GET", "/people", {}),
        "GET /people/{person_id}": ("GET", f"/people/{b['person']['id']}", {}),
        "POST /plans": ("POST", "/plans", {"content": b["plan"]}),
        "GET /jurisdictions": ("GET", "/jurisdictions", {}),
        "POST /jurisdictions": (
            "POST", "/jurisdictions",
            {"json": {"code": f"{EAST}9", "name": "x", "parent_code": "示例街道"}},
        ),
        "GET /plans": ("GET", "/plans", {}),
        "GET /plans/{name}/versions": ("GET", "/plans/示例街道/versions", {}),
        "GET /plans/{name}/versions/{version}": ("GET", "/plans/示例街道/versions/1", {}),
        "POST /plans/{name}/versions/{version}/approve": (
            "POST", "/plans/示例街道/versions/1/approve", {},
        ),
        "POST /plans/{name}/versions/{version}/activate": (
            "POST", "/plans/示例街道/versions/1/activate", {},
        ),
        "GET /plans/{name}/versions/{version}/export": (
            "GET", "/plans/示例街道/versions/1/export", {},
        ),
        "GET /plans/active/export": ("GET", "/plans/active/export", {}),
        "POST /plans/{name}/staff/import": (
            "POST", "/plans/示例街道/staff/import",
            {"content": f"网格编码,姓名,职务\n{B_GRID},张三,网格长\n".encode(),
             "headers": {"Content-Type": "text/csv"}},
        ),
        "GET /plans/{name}/staff/export": ("GET", "/plans/示例街道/staff/export", {}),
        "GET /workbench/me": ("GET", "/workbench/me", {}),
        **_draft_attempts(b["draft"], b["proposal"]),
        "POST /workbench/font": ("POST", "/workbench/font", {"json": {"text": "东社区"}}),
        "POST /jobs/partition": (
            "POST", "/jobs/partition",
            {"json": {"plan": "示例街道", "grids": [B_GRID], "band": "300-500"}},
        ),
        "GET /jobs": ("GET", "/jobs", {}),
        "GET /jobs/{job_id}": ("GET", f"/jobs/{b['job']}", {}),
        "DELETE /jobs/{job_id}": ("DELETE", f"/jobs/{b['job']}", {}),
        "POST /incidents": (
            "POST", "/incidents",
            {"json": {"category": "environment", "description": "x", "lon": lon, "lat": lat}},
        ),
    }  # fmt: skip


def _draft_attempts(draft: str, proposal: str) -> dict[str, tuple[str, str, dict]]:
    """The workbench's draft routes against B's draft (a root admin's draft of the street)."""
    d = f"/drafts/{draft}"
    move = {"op": "move", "units": [f"{B_GRID}-u1"], "to": f"{EAST}002"}
    return {
        "GET /drafts": ("GET", "/drafts", {}),
        "POST /drafts": ("POST", "/drafts", {"json": {"plan": "示例街道"}}),
        "GET /drafts/{draft_id}": ("GET", d, {}),
        "DELETE /drafts/{draft_id}": ("DELETE", d, {}),
        "GET /drafts/{draft_id}/units": ("GET", f"{d}/units", {}),
        "GET /drafts/{draft_id}/grids": ("GET", f"{d}/grids", {}),
        "POST /drafts/{draft_id}/select": (
            "POST", f"{d}/select", {"json": {"box": [116.0, 39.0, 117.0, 41.0]}},
        ),
        "POST /drafts/{draft_id}/edits": ("POST", f"{d}/edits", {"json": move}),
        "POST /drafts/{draft_id}/undo": ("POST", f"{d}/undo", {}),
        "POST /drafts/{draft_id}/redo": ("POST", f"{d}/redo", {}),
        "POST /drafts/{draft_id}/proposals": (
            "POST", f"{d}/proposals", {"json": {"kind": "balance"}},
        ),
        "POST /drafts/{draft_id}/proposals/{proposal_id}/{decision}": (
            "POST", f"{d}/proposals/{proposal}/reject", {},
        ),
        "GET /drafts/{draft_id}/changes": ("GET", f"{d}/changes", {}),
        "PUT /drafts/{draft_id}/staff/{code}": (
            "PUT", f"{d}/staff/{B_GRID}", {"json": [{"role": "head", "name": "张三"}]},
        ),
        "POST /drafts/{draft_id}/save": ("POST", f"{d}/save", {"json": {}}),
        "GET /drafts/{draft_id}/maps/{kind}.pdf": ("GET", f"{d}/maps/wall.pdf", {}),
    }  # fmt: skip


OPEN = {
    # public by design: boundaries, the public signs' staff and phones, the taxonomy
    "GET /locate", "POST /locate", "GET /ogc", "GET /ogc/conformance", "GET /ogc/collections",
    "GET /ogc/collections/{collection_id}", "GET /ogc/collections/{collection_id}/items",
    "GET /ogc/collections/{collection_id}/items/{feature_id}", "GET /maps/wall.pdf",
    "GET /maps/web.html", "GET /maps/grids/{code}/sign.pdf", "GET /categories", "GET /roles",
    # liveness and readiness for load balancers: process and store state, no object of anyone's
    "GET /healthz", "GET /readyz",
    "GET /tiles/{level}/{z}/{x}/{y}.mvt", "GET /tiles/{level}.json",
    # a subset web font the service made for a page: a set of characters, fetched keyless
    "GET /fonts/{digest}.woff2",
    # reporting is by location, not by scope: a reporter app bound anywhere reports anywhere,
    # and the answer shows only the new incident and its grid's public staff
    "POST /incidents",
}  # fmt: skip

LISTINGS = {
    "GET /incidents", "GET /stats", "GET /keys", "GET /audit", "GET /people", "GET /plans",
    "GET /jurisdictions", "GET /workbench/me", "POST /workbench/font", "GET /drafts", "GET /jobs",
}  # fmt: skip


def _leaks(operation: str, answer: object, b: dict) -> bool:
    """Whether a listing shows any of B's rows."""
    if operation == "GET /incidents":
        return any(i["id"] == b["incident"]["id"] for i in answer["items"])  # type: ignore[index]
    if operation == "GET /stats":
        return any(g["code"].startswith(EAST) for g in answer["grids"])  # type: ignore[index]
    if operation == "GET /keys":
        return any(k["id"] == b["key"]["id"] or k["grid_code"] is None for k in answer)  # type: ignore[union-attr]
    if operation == "GET /people":  # B's own person, or any assignment in B
        grids = [a["grid_code"] for p in answer for a in p["assignments"]]  # type: ignore[union-attr]
        return b["person"]["id"] in [p["id"] for p in answer] or any(  # type: ignore[union-attr]
            code.startswith(EAST) for code in grids
        )
    if operation == "GET /plans":  # the street's plan holds B
        return bool(answer)
    if operation == "GET /jurisdictions":  # the street (B's) is registered by its plan
        return any(j["code"] != TOP for j in answer)  # type: ignore[union-attr]
    if operation == "GET /workbench/me":  # only the key's own facts, its own scope
        return answer["name"] != f"A {answer['role']}" or not answer["grid_code"].startswith(TOP)  # type: ignore[index]
    if operation == "POST /workbench/font":  # a font of the text sent: no object of anyone's
        return set(answer) != {"url", "family"}  # type: ignore[arg-type]
    if operation == "GET /drafts":  # B's draft, the only one
        return bool(answer)
    if operation == "GET /jobs":
        return any(job["id"] == b["job"] for job in answer)  # type: ignore[union-attr]
    if operation == "GET /audit":
        return any(row["key_id"] == b["key"]["id"] for row in answer)  # type: ignore[union-attr]
    raise AssertionError(operation)


def test_the_matrix_covers_every_operation(world) -> None:
    client, _, _, b = world
    schema = client.get("/openapi.json").json()
    operations = {f"{m.upper()} {p}" for p, ops in schema["paths"].items() for m in ops}
    assert operations == set(_attempts(b)) | OPEN


@pytest.mark.parametrize("role", ROLES)
def test_no_key_bound_to_a_reads_or_changes_b(world, role) -> None:
    client, root, keys, b = world
    allowed: list[str] = []
    for operation, (method, url, kwargs) in _attempts(b).items():
        if operation in OPEN:
            continue
        headers = keys[role] | kwargs.get("headers", {})
        extra = {k: v for k, v in kwargs.items() if k != "headers"}
        response = client.request(method, url, headers=headers, **extra)
        assert response.status_code < 500, (operation, response.status_code, response.text)
        if operation in LISTINGS and response.status_code == 200:
            if _leaks(operation, response.json(), b):
                allowed.append(f"{operation}: lists B's rows")
        elif response.status_code not in DENIED:
            allowed.append(f"{operation}: {response.status_code}")
    assert allowed == []
    # B's incident and key are untouched, and the root key still works
    incident = client.get(f"/incidents/{b['incident']['id']}", headers=root).json()
    assert incident["status"] == "reported"
    listed = {k["id"]: k for k in client.get("/keys", headers=root).json()}
    assert listed[b["key"]["id"]]["revoked_at"] is None


def test_the_root_admin_key_cannot_be_revoked_by_a_scoped_key(world) -> None:
    client, root, keys, _ = world
    root_id = next(
        k["id"] for k in client.get("/keys", headers=root).json() if k["name"] == "区管理员"
    )
    assert client.delete(f"/keys/{root_id}", headers=keys["admin"]).status_code == 404
    assert client.get("/keys", headers=root).status_code == 200
