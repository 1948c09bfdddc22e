"""``POST /plans`` with the files offices have: a KMZ from a phone map, a zipped Shapefile, a DXF.

Through the real HTTP app on both stores; the format is told from the content, not the name.
Malicious zips (a bomb, a path traversal) are refused and nothing is stored.
"""

from __future__ import annotations

import io as bytes_io
import zipfile

import ezdxf
import pytest

from geogrid.crs import wgs84_to_gcj02
from tests import test_api_plans
from tests.service import service_settings
from tests.test_drawings import GK, TO_GK, gk_points, kml_document, truth


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def settings(request, tmp_path):
    with service_settings(request.param, tmp_path, max_upload_bytes=2_000_000) as values:
        yield values


client = test_api_plans.client  # the same fixtures, over the `settings` above
planner = test_api_plans.planner


def post(client, headers, data: bytes, filename: str = "upload.bin", **params):
    files = {"file": (filename, data, "application/octet-stream")}
    return client.post("/plans", files=files, headers=headers, params=params)


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = bytes_io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def shapefile_zip_bytes(tmp_path) -> bytes:
    """The four grids as a Shapefile with geogrid's column names, zipped inside a folder."""
    shp = tmp_path / "shp" / "青禾社区.shp"
    shp.parent.mkdir()
    grids = truth().iloc[1:][["code", "name", "geometry"]]
    grids.to_file(shp, engine="pyogrio", encoding="UTF-8")
    return zipped({f"青禾社区/{p.name}": p.read_bytes() for p in sorted(shp.parent.iterdir())})


def stored(client, headers) -> list[dict]:
    answer = client.get("/plans", headers=headers)
    assert answer.status_code == 200
    return answer.json()


def test_a_kmz_from_a_phone_map_is_stored_as_a_draft(client, planner) -> None:
    kmz = zipped({"doc.kml": kml_document(truth(), wgs84_to_gcj02).encode(), "files/a.png": b"x"})
    answer = post(client, planner, kmz, "网格.kmz", crs="gcj02", name="青禾社区网格")
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "draft"
    exported = client.get(answer.headers["Location"] + "/export", headers=planner)
    assert exported.status_code == 200
    features = exported.json()["features"]
    names = sorted(f["properties"]["name"] for f in features)
    assert names == sorted(truth()["name"])
    levels = {f["properties"]["name"]: f["properties"]["level"] for f in features}
    assert levels["青禾社区"] == 1 and levels["青禾社区第一网格"] == 2


def test_a_zipped_shapefile_is_stored_as_a_draft(client, planner, tmp_path) -> None:
    answer = post(client, planner, shapefile_zip_bytes(tmp_path), "青禾社区.zip")
    assert answer.status_code == 201, answer.text
    assert [p["name"] for p in stored(client, planner)] == ["青禾社区"]


def test_a_dxf_needs_its_crs(client, planner, tmp_path) -> None:
    """A surveyor's DXF of four grids, each labelled with its code and name."""
    doc = ezdxf.new("R2010")
    space = doc.modelspace()
    for row in truth().iloc[1:].itertuples():
        space.add_lwpolyline(gk_points(row.geometry), close=True, dxfattribs={"layer": "网格"})
        spot = row.geometry.representative_point()
        x, y = TO_GK.transform(spot.x, spot.y)
        space.add_mtext(f"{row.name}\\P{row.code}", dxfattribs={"layer": "网格", "insert": (x, y)})
    path = tmp_path / "grids.dxf"
    doc.saveas(path)
    data = path.read_bytes()
    refused = post(client, planner, data, "grids.dxf")
    assert refused.status_code == 422 and "--crs" in refused.text
    assert stored(client, planner) == []
    answer = post(client, planner, data, "grids.dxf", crs=GK, name="青禾社区 CAD")
    assert answer.status_code == 201, answer.text
    exported = client.get(answer.headers["Location"] + "/export", headers=planner).json()
    got = {f["properties"]["code"]: f["properties"]["name"] for f in exported["features"]}
    assert got == dict(zip(truth()["code"][1:], truth()["name"][1:], strict=True))


def test_a_zip_bomb_is_refused_and_nothing_stored(client, planner) -> None:
    bomb = zipped({"grids/grids.geojson": b"{" + b" " * 50_000_000})
    assert len(bomb) < 200_000
    answer = post(client, planner, bomb, "grids.zip")
    assert answer.status_code == 413
    assert "GEOGRID_MAX_UPLOAD_BYTES" in answer.json()["detail"]
    assert stored(client, planner) == []


@pytest.mark.parametrize("name", ["../grids.kml", "/tmp/grids.kml", "a/../../grids.kml"])
def test_a_path_traversal_zip_is_refused_and_nothing_stored(client, planner, name) -> None:
    kml = kml_document(truth(), wgs84_to_gcj02).encode()
    answer = post(client, planner, zipped({name: kml}), "grids.kmz", crs="gcj02")
    assert answer.status_code == 422
    assert "refused the member" in answer.json()["detail"]
    assert stored(client, planner) == []


def test_a_zip_without_a_plan_says_what_it_needs(client, planner) -> None:
    answer = post(client, planner, zipped({"readme.txt": b"hello"}), "x.zip")
    assert answer.status_code == 422
    assert ".shp with its .dbf and .shx" in answer.json()["detail"]
