"""``/ogc``: OGC API – Features over the active plan's grids, read by GDAL's OAPIF driver."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import shapely
from fastapi.testclient import TestClient

from api.main import create_app
from api.routes.ogc import CRS84, EPSG4490
from api.settings import ApiSettings
from tests.service import TOP, street_plan


@pytest.fixture(scope="module")
def plan():
    return street_plan()


@pytest.fixture
def client(plan, tmp_path):
    with TestClient(create_app(ApiSettings(data_dir=tmp_path), plan=plan)) as test_client:
        yield test_client


def test_landing_conformance_and_collections(client) -> None:
    landing = client.get("/ogc").json()
    rels = {link["rel"] for link in landing["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= rels
    conforms = client.get("/ogc/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conforms
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in conforms
    found = client.get("/ogc/collections").json()["collections"]
    assert [c["id"] for c in found] == ["level1", "level2"]
    assert found[1]["title"] == "网格 (level 2)"
    assert found[1]["storageCrs"] == EPSG4490
    minx, miny, _, _ = found[0]["extent"]["spatial"]["bbox"][0]
    assert minx == pytest.approx(116.39) and miny == pytest.approx(39.90)
    assert client.get("/ogc/collections/level2").json()["id"] == "level2"
    assert client.get("/ogc/collections/level9").status_code == 404


def test_items_are_geojson_with_paging(client) -> None:
    first = client.get("/ogc/collections/level2/items", params={"limit": 10})
    assert first.headers["content-type"].startswith("application/geo+json")
    assert first.headers["content-crs"] == f"<{CRS84}>"
    body = first.json()
    assert body["type"] == "FeatureCollection"
    assert body["numberMatched"] == 24 and body["numberReturned"] == 10
    feature = body["features"][0]
    assert feature["id"] == f"{TOP}001"
    assert feature["properties"]["parent_code"] == TOP
    assert feature["properties"]["households"] is None
    x, y = feature["geometry"]["coordinates"][0][0][0]
    assert 116 < x < 117 and 39 < y < 41  # lon first in CRS84
    seen = [f["id"] for f in body["features"]]
    page = body
    while nxt := [link["href"] for link in page["links"] if link["rel"] == "next"]:
        page = client.get(nxt[0]).json()
        seen += [f["id"] for f in page["features"]]
    assert len(seen) == len(set(seen)) == 24


def test_bbox_filters_items(client) -> None:
    bbox = "116.3900,39.9000,116.3915,39.9005"  # lower row, first two columns
    body = client.get("/ogc/collections/level2/items", params={"bbox": bbox}).json()
    assert [f["id"] for f in body["features"]] == [f"{TOP}001", f"{TOP}003"]
    swapped = "39.9000,116.3900,39.9005,116.3915"
    same = client.get(
        "/ogc/collections/level2/items", params={"bbox": swapped, "bbox-crs": EPSG4490}
    ).json()
    assert [f["id"] for f in same["features"]] == [f["id"] for f in body["features"]]
    assert client.get("/ogc/collections/level2/items", params={"bbox": "1,2,3"}).status_code == 400


def test_epsg4490_answers_latitude_first(client) -> None:
    default = client.get(f"/ogc/collections/level1/items/{TOP}").json()
    response = client.get(f"/ogc/collections/level1/items/{TOP}", params={"crs": EPSG4490})
    assert response.headers["content-crs"] == f"<{EPSG4490}>"
    lon_lat = shapely.geometry.shape(default["geometry"])
    lat_lon = shapely.geometry.shape(response.json()["geometry"])
    assert shapely.equals(shapely.transform(lat_lon, lambda c: c[:, ::-1]), lon_lat)
    bad = client.get("/ogc/collections/level1/items", params={"crs": "EPSG:3857"})
    assert bad.status_code == 400 and "CRS84" in bad.json()["detail"]


def test_single_feature_and_missing_one(client) -> None:
    feature = client.get(f"/ogc/collections/level2/items/{TOP}004").json()
    assert feature["type"] == "Feature" and feature["properties"]["name"] == "第4网格"
    assert client.get("/ogc/collections/level2/items/nope").status_code == 404


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(plan, tmp_path):
    """A real server process (GDAL holds the GIL while it fetches, so not a thread)."""
    from tests.service import activate

    settings = ApiSettings(data_dir=tmp_path, database_url=None)
    activate(settings, plan)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEOGRID_")}
    env["GEOGRID_DATA_DIR"] = str(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "the server process exited"
            assert time.monotonic() < deadline, "the server did not start"
            try:
                with urllib.request.urlopen(f"{url}/ogc", timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_gdal_oapif_driver_reads_the_grids(server, plan) -> None:
    pyogrio = pytest.importorskip("pyogrio")
    layers = pyogrio.list_layers(f"OAPIF:{server}/ogc")
    assert [str(name) for name in layers[:, 0]] == ["level1", "level2"]
    frame = pyogrio.read_dataframe(f"OAPIF:{server}/ogc", layer="level2")
    assert len(frame) == 24
    assert sorted(frame["code"]) == sorted(plan.level(2)["code"])
    expected = plan.level(2).set_index("code").geometry
    got = frame.set_index("code").geometry
    assert all(
        shapely.equals_exact(got[c], expected[c], tolerance=1e-7)
        or shapely.equals(got[c], expected[c])
        for c in expected.index
    )
