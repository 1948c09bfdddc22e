"""``/locate`` through the real HTTP app, on the embedded store and on PostGIS."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from geogrid.crs import wgs84_to_bd09, wgs84_to_gcj02
from tests.service import DX, DY, OX, OY, TOP, activate, centre, service_settings, street_plan


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def settings(request, tmp_path):
    """Service settings over an empty store of each kind."""
    with service_settings(request.param, tmp_path) as values:
        yield values


@pytest.fixture
def client(settings):
    activate(settings, street_plan())
    with TestClient(create_app(settings)) as test_client:
        yield test_client


# --------------------------------------------------------------------------- GET /locate


def test_inside_point_gets_every_level_with_staff(client) -> None:
    lon, lat = centre(1, 1)
    answer = client.get("/locate", params={"lon": lon, "lat": lat}).json()
    assert answer["status"] == "inside"
    assert answer["grid_code"] == f"{TOP}004"
    assert [lv["grid"]["code"] for lv in answer["levels"]] == [TOP, f"{TOP}004"]
    assert [lv["level_name"] for lv in answer["levels"]] == ["社区", "网格"]
    fine = answer["levels"][1]["grid"]
    assert fine["kind"] == "urban"
    assert [s["role"] for s in fine["staff"]] == ["head", "full_time"]
    assert fine["staff"][0]["phone"] == "13800000000"
    assert answer["nearest"] is None
    assert answer["plan"] == {"name": "示例街道", "version": 1, "jurisdiction": "示例街道"}


@pytest.mark.parametrize(
    ("lon", "lat", "expected"),
    [
        (OX + DX, OY + 0.5 * DY, f"{TOP}001"),  # edge between 001 and 003
        (OX + DX, OY + DY, f"{TOP}001"),  # vertex of 001, 002, 003, 004
        (OX + 6 * DX, OY + DY, f"{TOP}011"),  # the communities' shared edge: the west one
        (OX + 1.5 * DX, OY + DY, f"{TOP}003"),  # edge between 003 and 004
    ],
)
def test_points_on_shared_edges_and_vertices_belong_to_one_grid(client, lon, lat, expected) -> None:
    answer = client.get("/locate", params={"lon": lon, "lat": lat}).json()
    assert answer["status"] == "inside"
    assert answer["grid_code"] == expected
    assert answer["levels"][0]["grid"]["code"] == expected[:12]


def test_outside_point_gets_nearest_grid_and_distance(client) -> None:
    lon, lat = OX - 0.002, OY + 0.5 * DY  # ≈ 170 m west of the strip
    response = client.get("/locate", params={"lon": lon, "lat": lat})
    assert response.status_code == 200
    answer = response.json()
    assert answer["status"] == "outside"
    assert answer["grid_code"] is None
    assert all(lv["grid"] is None for lv in answer["levels"])
    assert answer["nearest"]["grid"]["code"] == f"{TOP}001"
    assert answer["nearest"]["grid"]["staff"]
    assert answer["nearest"]["distance_m"] == pytest.approx(0.002 * 85_390, rel=0.01)


@pytest.mark.parametrize(("crs", "forward"), [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_phone_map_points_land_in_the_right_grid(client, crs, forward) -> None:
    lon, lat = centre(3, 0)
    plon, plat = forward(lon, lat)
    right = client.get("/locate", params={"lon": plon, "lat": plat, "crs": crs}).json()
    raw = client.get("/locate", params={"lon": plon, "lat": plat}).json()
    assert right["grid_code"] == f"{TOP}007"
    assert right["lon"] == pytest.approx(lon, abs=1e-8)
    assert raw["grid_code"] != f"{TOP}007"  # ~500 m off: another grid, or outside


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"lon": 39.9, "lat": 116.39}, "swapped"),
        ({"lon": 116.39, "lat": 95}, "latitude outside"),
        ({"lon": 200, "lat": 39.9}, "longitude outside"),
        ({"lon": "nan", "lat": 39.9}, "not a finite"),
        ({"lon": "inf", "lat": 39.9}, "not a finite"),
    ],
)
def test_bad_coordinates_are_422_with_a_reason(client, params, reason) -> None:
    response = client.get("/locate", params=params)
    assert response.status_code == 422
    assert reason in response.json()["detail"]


def test_missing_or_unknown_parameters_are_422(client) -> None:
    assert client.get("/locate", params={"lon": 116.39}).status_code == 422
    assert (
        client.get("/locate", params={"lon": 116.39, "lat": 39.9, "crs": "mars"}).status_code == 422
    )


# --------------------------------------------------------------------------- POST /locate


def test_batch_returns_codes_and_one_table_of_grids(client) -> None:
    points = [
        {"lon": centre(0)[0], "lat": centre(0)[1], "id": "a"},
        {"lon": centre(0)[0], "lat": centre(0)[1], "id": "b"},
        {"lon": centre(7, 1)[0], "lat": centre(7, 1)[1], "id": 3},
        {"lon": OX - 0.01, "lat": OY},
    ]
    response = client.post("/locate", json={"crs": "wgs84", "points": points})
    assert response.status_code == 200
    body = response.json()
    results = body["results"]
    assert [r["id"] for r in results] == ["a", "b", 3, None]
    assert results[0]["codes"] == [TOP, f"{TOP}001"]
    assert results[2]["grid_code"] == "110108001002004"
    assert results[3]["status"] == "outside" and results[3]["nearest_code"] == f"{TOP}001"
    assert results[3]["distance_m"] > 800
    assert sorted(body["grids"]) == sorted({TOP, f"{TOP}001", "110108001002", "110108001002004"})
    assert body["grids"][f"{TOP}001"]["staff"][0]["role"] == "head"
    assert body["levels"] == ["社区", "网格"]


def test_batch_in_gcj02(client) -> None:
    lon, lat = wgs84_to_gcj02(np.array([centre(2)[0]]), np.array([centre(2)[1]]))
    body = client.post(
        "/locate", json={"crs": "gcj02", "points": [{"lon": lon[0], "lat": lat[0]}]}
    ).json()
    assert body["results"][0]["grid_code"] == f"{TOP}005"


def test_batch_over_the_cap_is_413(client) -> None:
    points = [{"lon": centre(0)[0], "lat": centre(0)[1]}] * 51
    response = client.post("/locate", json={"points": points})
    assert response.status_code == 413
    assert "at most 50" in response.json()["detail"]


def test_body_over_the_byte_cap_is_413(settings) -> None:
    activate(settings, street_plan())
    small = settings.model_copy(update={"max_body_bytes": 1_000})
    with TestClient(create_app(small)) as client:
        points = [{"lon": centre(0)[0], "lat": centre(0)[1]}] * 40
        assert client.post("/locate", json={"points": points}).status_code == 413


def test_batch_rejects_extra_fields_and_bad_points(client) -> None:
    extra = client.post("/locate", json={"points": [{"lon": 116.39, "lat": 39.9, "x": 1}]})
    assert extra.status_code == 422
    swapped = client.post(
        "/locate", json={"points": [{"lon": 116.39, "lat": 39.9}, {"lon": 39.9, "lat": 116.39}]}
    )
    assert swapped.status_code == 422
    assert "point 1" in swapped.json()["detail"] and "swapped" in swapped.json()["detail"]


# --------------------------------------------------------------------------- versions


def test_new_active_version_is_picked_up_and_at_answers_from_the_past(settings) -> None:
    activate(settings, street_plan())
    with TestClient(create_app(settings)) as client:
        lon, lat = centre(0)
        assert client.get("/locate", params={"lon": lon, "lat": lat}).json()["plan"]["version"] == 1
        between = dt.datetime.now(dt.UTC)
        time.sleep(0.01)
        wider = street_plan(columns=16)  # another process activates version 2
        activate(settings, wider)
        lon, lat = centre(15)
        now = client.get("/locate", params={"lon": lon, "lat": lat}).json()
        assert now["plan"]["version"] == 2 and now["status"] == "inside"
        past = client.get("/locate", params={"lon": lon, "lat": lat, "at": between.isoformat()})
        assert past.json()["plan"]["version"] == 1
        assert past.json()["status"] == "outside"
        before = client.get(
            "/locate", params={"lon": lon, "lat": lat, "at": "2000-01-01T00:00:00Z"}
        )
        assert before.status_code == 404
        assert "no plan version was in force" in before.json()["detail"]


def test_no_active_plan_is_a_clear_404(settings) -> None:
    with TestClient(create_app(settings)) as client:
        response = client.get("/locate", params={"lon": OX, "lat": OY})
        assert response.status_code == 404
        assert "activate" in response.json()["detail"]


def test_app_can_answer_from_a_fixed_plan(tmp_path) -> None:
    app = create_app(ApiSettings(data_dir=tmp_path), plan=street_plan())
    with TestClient(app) as client:
        lon, lat = centre(4)
        assert (
            client.get("/locate", params={"lon": lon, "lat": lat}).json()["grid_code"]
            == f"{TOP}009"
        )
    assert not (tmp_path / "geogrid.gpkg").exists()


def test_openapi_schema_documents_locate(client) -> None:
    schema = client.get("/openapi.json").json()
    assert {"get", "post"} <= set(schema["paths"]["/locate"])
