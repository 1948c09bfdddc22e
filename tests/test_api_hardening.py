"""Bad input through the real HTTP app, on both stores: never a 5xx, never a partial write.

Each case is a class of fault found by a hostile but fair user (datetimes at the edge of the
range, lone surrogates, NUL characters, non-ASCII digits, chunked bodies over the cap, deep
JSON); each answer must be a 4xx that names the problem, and the store must hold what it held.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.main import create_app
from geogrid.store import open_store
from geogrid.store import schema as tables
from tests.service import activate, centre, issue_key, service_settings, street_plan

CAP = 10_000  # bytes: the body cap of these tests
EDGES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def settings(request, tmp_path):
    with service_settings(request.param, tmp_path, max_body_bytes=CAP) as values:
        activate(values, street_plan())
        yield values


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def admin(settings):
    return issue_key(settings, "admin", name="管理员")


def rows(settings, table: sa.Table) -> int:
    with open_store(settings.store_url) as store, store._engine.connect() as connection:
        return int(connection.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


def incident(**changes: object) -> dict:
    lon, lat = centre(0)
    return {"category": "environment", "description": "垃圾", "lon": lon, "lat": lat} | changes


def raw_json(client, path: str, text: str, headers: dict | None = None):
    """POST ``text`` as it is (``json.dumps`` cannot write a lone surrogate escape for us)."""
    headers = {"Content-Type": "application/json"} | (headers or {})
    return client.post(path, content=text.encode(), headers=headers)


def assert_refused(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text[:500]
    body = response.json()
    assert body["error"] and body["detail"]
    text = json.dumps(body, ensure_ascii=False)
    for word in words:
        assert word in text, text[:500]


@pytest.mark.parametrize("edge", EDGES)
def test_instants_at_the_edge_of_the_range_are_422(client, admin, edge) -> None:
    lon, lat = centre(0)
    cases = [
        ("/locate", {"lon": lon, "lat": lat, "at": edge}, {}),
        ("/maps/web.html", {"at": edge}, {}),
        ("/incidents", {"since": edge}, admin),
        ("/stats", {"until": edge}, admin),
        ("/audit", {"since": edge}, admin),
    ]
    for path, params, headers in cases:
        response = client.get(path, params=params, headers=headers)
        assert_refused(response, 422, "in UTC")


def test_a_number_is_not_an_instant(client, admin) -> None:
    for value in ("0.5", "1700000000", "2026"):
        response = client.get("/incidents", params={"until": value}, headers=admin)
        assert_refused(response, 422, "is a number", "ISO 8601")


def test_lone_surrogates_are_422_and_store_nothing(client, settings, admin) -> None:
    lon, lat = centre(0)
    before = rows(settings, tables.incidents), rows(settings, tables.api_keys)
    surrogate = '"\\ud800"'
    bodies = [
        ("/locate", f'{{"points":[{{"lon":{lon},"lat":{lat},"id":{surrogate}}}]}}'),
        ("/incidents", json.dumps(incident(), ensure_ascii=False).replace('"垃圾"', surrogate)),
        ("/keys", f'{{"role":"reporter","name":{surrogate}}}'),
    ]
    for path, text in bodies:
        assert_refused(raw_json(client, path, text, admin), 422, "surrogate")
    assert (rows(settings, tables.incidents), rows(settings, tables.api_keys)) == before


def test_nul_characters_are_422_on_both_stores(client, settings, admin) -> None:
    before = rows(settings, tables.incidents)
    response = client.post("/incidents", json=incident(description="a\x00b"), headers=admin)
    assert_refused(response, 422, "NUL")
    response = client.post("/keys", json={"role": "reporter", "name": "x\x00"}, headers=admin)
    assert_refused(response, 422, "NUL")
    response = client.get("/incidents?category=a%00", headers=admin)
    assert_refused(response, 422, "NUL")
    assert rows(settings, tables.incidents) == before


def test_only_ascii_digits_make_an_incident_id(client, admin) -> None:
    created = client.post("/incidents", json=incident(), headers=admin)
    assert created.status_code == 201
    assert client.get(f"/incidents/{created.json()['id']}", headers=admin).status_code == 200
    full_width = chr(ord("０") + created.json()["id"])
    for ref in ("²", "①", full_width, "9" * 40):
        assert_refused(client.get(f"/incidents/{ref}", headers=admin), 404, "no incident")


def test_chunked_bodies_over_the_cap_are_413(client, settings) -> None:
    before = rows(settings, tables.incidents)

    def chunks():
        yield b'{"points":[{"lon":116.39,"lat":39.9,"id":"'
        for _ in range(CAP // 1000 + 5):
            yield b"x" * 1000
        yield b'"}]}'

    response = client.post(
        "/locate", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_refused(response, 413, "cap")
    assert len(response.content) < 500
    declared = client.post("/incidents", content=b"x" * (CAP + 1))
    assert_refused(declared, 413, f"{CAP + 1} bytes")
    assert rows(settings, tables.incidents) == before


def test_errors_never_echo_large_inputs(client) -> None:
    lon, lat = centre(0)
    body = {"points": [{"lon": lon, "lat": lat}], "crs": "y" * 8_000}
    response = client.post("/locate", json=body)
    assert response.status_code == 422
    assert len(response.content) < 1_000


def test_deep_json_is_422(client) -> None:
    text = '{"points":' + "[" * 20_000 + "]" * 20_000 + "}"
    response = raw_json(client, "/locate", text[: CAP - 10] if len(text) > CAP else text)
    assert response.status_code in (413, 422)
    deep = "[" * 2_000 + "]" * 2_000
    assert_refused(raw_json(client, "/locate", deep), 422, "depth")


def test_a_scoped_admin_cannot_touch_other_keys_or_read_their_audit(client, settings) -> None:
    root = issue_key(settings, "admin", name="区管理员")
    keys = client.get("/keys", headers=root).json()
    root_id = next(k["id"] for k in keys if k["name"] == "区管理员")
    local = client.post(
        "/keys", json={"role": "admin", "name": "西社区", "grid_code": "110108001001"}, headers=root
    ).json()
    other = client.post(
        "/keys", json={"role": "worker", "name": "东", "grid_code": "110108001002001"}, headers=root
    ).json()
    scoped = {"X-API-Key": local["key"]}
    assert client.delete(f"/keys/{root_id}", headers=scoped).status_code == 404
    assert client.delete(f"/keys/{other['id']}", headers=scoped).status_code == 404
    assert client.get("/keys", headers=root).status_code == 200  # the root key still works
    assert [k["id"] for k in client.get("/keys", headers=scoped).json()] == [local["id"]]
    audit = client.get("/audit", headers=scoped).json()
    assert {row["key_id"] for row in audit} <= {local["id"]}


def _plan_geojson(**meta: object) -> dict:
    lon, lat = centre(0)
    feature = {
        "type": "Feature",
        "properties": {"code": "110108009001", "name": "新社区", "level": 1},
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[lon, lat], [lon + 0.01, lat], [lon + 0.01, lat + 0.01], [lon, lat]]],
        },
    }
    doc: dict = {"type": "FeatureCollection", "features": [feature]}
    doc["geogrid"] = {"name": "上传", "levels": ["社区"]} | meta
    return doc


MALFORMED_PLANS = {
    "metadata is text": lambda: _plan_geojson() | {"geogrid": "x"},
    "levels is a number": lambda: _plan_geojson(levels=5),
    "levels is empty": lambda: _plan_geojson(levels=[]),
    "version is text": lambda: _plan_geojson(version="abc"),
    "name is a list": lambda: _plan_geojson(name=["a"]),
    "properties is a list": lambda: (
        _plan_geojson() | {"features": [{**_plan_geojson()["features"][0], "properties": ["a"]}]}
    ),
    "a feature has no code": lambda: (
        _plan_geojson()
        | {
            "features": [
                {**_plan_geojson()["features"][0], "properties": {"name": "x", "level": 1}}
            ]
        }
    ),
    "no features": lambda: _plan_geojson() | {"features": []},
    "an unknown crs": lambda: (
        _plan_geojson()
        | {"crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::999999"}}}
    ),
    "a code with a quote": lambda: (
        _plan_geojson()
        | {
            "features": [
                {
                    **_plan_geojson()["features"][0],
                    "properties": {
                        "code": "110108001'; DROP TABLE grids;--",
                        "name": "x",
                        "level": 1,
                    },
                }
            ]
        }
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_PLANS))
def test_malformed_plan_uploads_are_422_and_store_nothing(client, settings, admin, case) -> None:
    before = rows(settings, tables.plan_versions), rows(settings, tables.grids)
    body = json.dumps(MALFORMED_PLANS[case](), ensure_ascii=False).encode()
    response = client.post("/plans", content=body, headers=admin)
    assert response.status_code == 422, (case, response.status_code, response.text[:300])
    assert response.json()["detail"]
    assert (rows(settings, tables.plan_versions), rows(settings, tables.grids)) == before


def test_a_plan_nested_20000_deep_is_422(client, settings, admin) -> None:
    before = rows(settings, tables.plan_versions)
    deep = b'{"type":"FeatureCollection","features":' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    response = client.post("/plans", content=deep, headers=admin)
    assert response.status_code == 422, response.text[:300]
    assert rows(settings, tables.plan_versions) == before


def test_a_plan_traced_on_a_phone_map_is_converted_on_upload(client, settings, admin) -> None:
    """``?crs=gcj02``: every vertex goes back to CGCS2000, within 1 m of where it belongs."""
    import shapely
    from pyproj import Geod

    from geogrid.crs import wgs84_to_gcj02

    doc = _plan_geojson()
    ring = doc["features"][0]["geometry"]["coordinates"][0]
    truth = shapely.Polygon(ring)
    doc["features"][0]["geometry"]["coordinates"][0] = [list(wgs84_to_gcj02(*xy)) for xy in ring]
    body = json.dumps(doc, ensure_ascii=False).encode()
    response = client.post("/plans", content=body, headers=admin, params={"crs": "gcj02"})
    assert response.status_code == 201, response.text[:300]
    with open_store(settings.store_url) as store:
        stored = store.get("上传").grids.geometry.iloc[0]
    geod = Geod(ellps="GRS80")
    for x, y in truth.exterior.coords:
        nearest = shapely.ops.nearest_points(stored.boundary, shapely.Point(x, y))[0]
        assert geod.inv(x, y, nearest.x, nearest.y)[2] < 1.0
    assert client.post("/plans", content=body, headers=admin).status_code == 201  # as WGS84
