"""``/tiles``: vector tiles of the grids in force, on both stores and from a fixed plan.

Tiles decode (``mapbox_vector_tile``) to the plan's grids within tile precision — every
decoded polygon, taken back to lon/lat, against its grid clipped to the tile — with the
grid's attributes, also at zoom ≤ 10 where they are cut from the generalised copies
(``tests/test_tiles_bands.py`` checks those further); the PostGIS tiles (``ST_AsMVT``) and the Python ones agree; ETags follow
the versions in force (304, a new version → a new ETag and new content, ``at=`` the old ones);
an empty tile is 204; out-of-range tiles are 404, out-of-range zooms 422.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import mapbox_vector_tile
import numpy as np
import pandas as pd
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import shape

from api.main import create_app
from api.settings import ApiSettings
from geogrid.plan import GridPlan
from geogrid.store import open_store
from geogrid.tiles import (
    EXTENT,
    LAYER,
    LevelTiles,
    lonlat_to_tile,
    mercator_to_lonlat,
    tile_bounds,
    tile_lonlat_bounds,
)
from tests.service import (
    DX,
    DY,
    OX,
    OY,
    activate,
    free_port,
    service_settings,
    street_plan,
    wait_until_up,
)
from tests.test_county import EAST, REDRAW, SPRING, T0, WEST, publish, township

CENTRE = (OX + 6 * DX, OY + DY)  # the middle of the street


def wiggly(plan: GridPlan) -> GridPlan:
    """``plan`` with every edge bent into a wave (shared edges stay shared), households set."""
    grids = plan.grids.copy()

    def bend(coords: np.ndarray) -> np.ndarray:
        x, y = coords[:, 0], coords[:, 1]
        return np.column_stack(
            [x + 0.15 * DX * np.sin(y / DY * 5.0), y + 0.15 * DY * np.sin(x / DX * 3.0)]
        )

    dense = shapely.segmentize(np.asarray(grids.geometry.array, dtype=object), DX / 40)
    grids = grids.set_geometry(list(shapely.transform(dense, bend)), crs=grids.crs)
    grids["households"] = [300 + n for n in range(len(grids))]
    return dataclasses.replace(plan, grids=grids)


PLAN = wiggly(street_plan())


@pytest.fixture(params=["fixed", "gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def street(request, tmp_path):
    """A client answering from the wiggly street: a fixed plan, or the store's active version."""
    if request.param == "fixed":
        with TestClient(create_app(plan=PLAN)) as client:
            yield client, request.param
        return
    with service_settings(request.param, tmp_path) as settings:
        with open_store(settings.store_url) as store:
            publish(store, PLAN)
        with TestClient(create_app(settings)) as client:
            yield client, request.param


def decoded(data: bytes) -> dict[str, tuple[shapely.Geometry, dict]]:
    """Code → (polygon in tile pixels, y down; properties) of a tile's ``grids`` layer."""
    layers = mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})
    assert list(layers) == [LAYER]
    out = {}
    for feature in layers[LAYER]["features"]:
        geom = shape(feature["geometry"])
        assert geom.is_valid and geom.geom_type in ("Polygon", "MultiPolygon")
        out[feature["properties"]["code"]] = (geom, feature["properties"])
    return out


def to_lonlat(geom: shapely.Geometry, z: int, x: int, y: int) -> shapely.Geometry:
    """A polygon in tile pixels (y down) back in lon/lat."""
    minx, _, maxx, maxy = tile_bounds(z, x, y)
    size = (maxx - minx) / EXTENT

    def back(coords: np.ndarray) -> np.ndarray:
        lon, lat = mercator_to_lonlat(minx + coords[:, 0] * size, maxy - coords[:, 1] * size)
        return np.column_stack([lon, lat])

    return shapely.transform(geom, back)


def assert_tile_is_the_plan(data: bytes, plan: GridPlan, level: int, z: int, x: int, y: int):
    """Every grid reaching the tile is in it, within a pixel, with its attributes."""
    west, south, east, north = tile_lonlat_bounds(z, x, y)
    pixel = (east - west) / EXTENT  # a pixel's width in degrees (its height is less)
    grids = plan.level(level)
    clipped = shapely.clip_by_rect(np.asarray(grids.geometry.array), west, south, east, north)
    inside = {c for c, g in zip(grids["code"], clipped, strict=True) if g.area > 4 * pixel**2}
    features = decoded(data)
    assert inside <= set(features), inside - set(features)
    for code, (geom, properties) in features.items():
        row = grids[grids["code"] == code].iloc[0]
        expected = shapely.clip_by_rect(row.geometry, west, south, east, north)
        got = shapely.clip_by_rect(to_lonlat(geom, z, x, y), west, south, east, north)
        error = got.symmetric_difference(expected).area
        assert error <= max(expected.length, got.length) * pixel, (code, error / pixel**2)
        assert properties["name"] == row["name"] and properties["level"] == level
        parent = None if pd.isna(row["parent_code"]) else row["parent_code"]
        assert properties.get("parent_code") == parent
        households = None if pd.isna(row["households"]) else row["households"]
        assert properties.get("households") == households and properties["kind"] == row["kind"]
        assert properties["plan"] == plan.name
    return features


@pytest.mark.parametrize("z", [8, 10, 14, 16, 18])  # 8, 10: from the generalised copies
def test_tiles_decode_to_the_plans_grids(street, z) -> None:
    client, kind = street
    x, y = lonlat_to_tile(*CENTRE, z)
    for level in (1, 2):
        answer = client.get(f"/tiles/{level}/{z}/{x}/{y}.mvt")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/vnd.mapbox-vector-tile"
        features = assert_tile_is_the_plan(answer.content, PLAN, level, z, x, y)
        assert features
        versions = {p.get("version") for _, p in features.values()}
        assert versions == ({None} if kind == "fixed" else {1})


@pytest.mark.postgis
def test_postgis_and_python_tiles_agree(tmp_path) -> None:
    python = LevelTiles.of([(PLAN, "j")], 2)
    with service_settings("postgis", tmp_path) as settings:
        with open_store(settings.store_url) as store:
            publish(store, PLAN)
        with TestClient(create_app(settings)) as client:
            for z in (9, 13, 15, 17):  # 9: both from the zoom band 10 copy
                x, y = lonlat_to_tile(*CENTRE, z)
                ours = decoded(client.get(f"/tiles/2/{z}/{x}/{y}.mvt").content)
                theirs = decoded(python.encode(z, x, y))
                assert set(ours) == set(theirs)
                for code, (geom, _) in ours.items():
                    other = theirs[code][0]
                    assert geom.symmetric_difference(other).area <= 1.5 * geom.length, code


def test_etag_revalidates_and_empty_tiles_are_204(street) -> None:
    client, _ = street
    x, y = lonlat_to_tile(*CENTRE, 16)
    url = f"/tiles/2/16/{x}/{y}.mvt"
    first = client.get(url)
    etag = first.headers["etag"]
    assert "max-age" in first.headers["cache-control"]
    again = client.get(url)
    assert again.headers["etag"] == etag and again.content == first.content
    for sent in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        unchanged = client.get(url, headers={"If-None-Match": sent})
        assert unchanged.status_code == 304 and unchanged.headers["etag"] == etag
        assert unchanged.content == b""
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    # another tile, another level: other ETags
    assert client.get(f"/tiles/1/16/{x}/{y}.mvt").headers["etag"] != etag
    # the sea east of Africa: no grid
    empty = client.get("/tiles/2/10/600/500.mvt")
    assert empty.status_code == 204 and empty.content == b"" and empty.headers["etag"]


def test_bad_tiles_say_what_is_wrong(street) -> None:
    client, _ = street
    missing = client.get("/tiles/2/3/8/0.mvt")
    assert missing.status_code == 404 and "0 to 7" in missing.json()["detail"]
    deep = client.get("/tiles/3/10/0/0.mvt")
    assert deep.status_code == 404 and "levels 1 社区, 2 网格" in deep.json()["detail"]
    for url in ("/tiles/2/23/0/0.mvt", "/tiles/2/1/-1/0.mvt", "/tiles/2/1/0/x.mvt"):
        answer = client.get(url)  # not a tile: as missing as any other
        assert answer.status_code == 404 and "no tile" in answer.json()["detail"], url
    for url in ("/tiles/0/1/0/0.mvt", "/tiles/7/1/0/0.mvt", "/tiles/9.json"):
        assert client.get(url).status_code == 422, url


def test_tilejson_describes_the_level(street) -> None:
    client, _ = street
    body = client.get("/tiles/2.json").json()
    assert body["tilejson"] == "3.0.0" and body["name"] == "网格 (level 2)"
    assert body["tiles"] == ["http://testserver/tiles/2/{z}/{x}/{y}.mvt"]
    bounds = PLAN.level(2).total_bounds
    assert body["bounds"] == pytest.approx(list(bounds), abs=1e-9)
    (layer,) = body["vector_layers"]
    assert layer["id"] == LAYER and {"code", "name", "households", "plan"} <= set(layer["fields"])
    assert 0 == body["minzoom"] < body["maxzoom"] == 22
    assert body["geogrid:grids"] == 24 and body["geogrid:tiles_above_grids"] == 5000
    assert body["geogrid:use_tiles"] is False
    at = client.get("/tiles/1.json", params={"at": "2999-01-01T00:00:00Z"}).json()
    assert at["tiles"][0].endswith("?at=2999-01-01T00%3A00%3A00%2B00%3A00")


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def county(request, tmp_path):
    """Two townships in force since T0; the west one redrawn (columns split) at REDRAW."""
    with service_settings(request.param, tmp_path) as settings:
        with open_store(settings.store_url) as store:
            publish(store, township(WEST, 0), at=T0)
            publish(store, township(EAST, 4), at=T0)
        with TestClient(create_app(settings)) as client:
            yield client, settings


def test_a_new_version_gives_new_etags_and_content_and_at_the_old(county) -> None:
    client, settings = county
    z = 17
    x, y = lonlat_to_tile(OX + DX, OY + DY / 2, z)  # the west township's first columns
    url = f"/tiles/2/{z}/{x}/{y}.mvt"
    before = client.get(url)
    codes = set(decoded(before.content))
    assert {f"{WEST}001", f"{WEST}002"} <= codes
    assert {p["jurisdiction"] for _, p in decoded(before.content).values()} == {WEST}
    with open_store(settings.store_url) as store:
        publish(store, township(WEST, 0, split=2), at=REDRAW)
    # PostGIS: the server hears of the activation (LISTEN/NOTIFY) in its own thread
    deadline = time.monotonic() + 30
    while True:
        after = client.get(url, headers={"If-None-Match": before.headers["etag"]})
        if after.status_code != 304 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]
    features = decoded(after.content)
    assert {p["version"] for _, p in features.values()} == {2}
    assert len(features) > len(codes)  # each column is two grids now
    west_plan = township(WEST, 0, split=2)
    assert_tile_is_the_plan(after.content, west_plan, 2, z, x, y)
    # at= an instant before the redraw: the first version's tile and ETag again
    spring = client.get(url, params={"at": SPRING.isoformat()})
    assert spring.headers["etag"] == before.headers["etag"]
    assert spring.content == before.content
    never = client.get(url, params={"at": "2000-01-01T00:00:00Z"})
    assert never.status_code == 404


def test_tiles_ask_for_a_key_when_locate_is_closed(tmp_path) -> None:
    with service_settings("gpkg", tmp_path, open_locate=False) as settings:
        with open_store(settings.store_url) as store:
            publish(store, PLAN)
        with TestClient(create_app(settings)) as client:
            x, y = lonlat_to_tile(*CENTRE, 15)
            assert client.get(f"/tiles/2/15/{x}/{y}.mvt").status_code == 401
            assert client.get("/tiles/2.json").status_code == 401


def test_tilejson_says_when_a_map_should_use_tiles(tmp_path) -> None:
    with service_settings("gpkg", tmp_path, tiles_above_grids=10) as settings:
        with open_store(settings.store_url) as store:
            publish(store, PLAN)
        with TestClient(create_app(settings)) as client:
            level1, level2 = (client.get(f"/tiles/{n}.json").json() for n in (1, 2))
    assert (level1["geogrid:grids"], level1["geogrid:use_tiles"]) == (2, False)
    assert (level2["geogrid:grids"], level2["geogrid:use_tiles"]) == (24, True)


def test_the_web_map_draws_a_big_plan_from_tiles(tmp_path) -> None:
    with service_settings("gpkg", tmp_path, tiles_above_grids=10) as settings:
        with open_store(settings.store_url) as store:
            publish(store, PLAN)
        with TestClient(create_app(settings)) as client:
            page = client.get("/maps/web.html").text
    assert "L.VectorGrid=" in page  # the vendored plugin, inlined
    assert '"tiles": "http://testserver/tiles/2/{z}/{x}/{y}.mvt"' in page
    assert "第7网格" not in page  # no grid inlined: names come with the tiles
    with TestClient(create_app(plan=PLAN)) as client:  # 26 grids, below 5,000
        small = client.get("/maps/web.html").text
    assert "L.VectorGrid=" not in small and "第7网格" in small


def test_the_web_map_from_tiles_in_a_browser(tmp_path) -> None:
    """Chromium loads the page from a real server: tiles drawn, a click on a grid shows it."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the dev extra")
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("Debian's chromium is not installed")
    settings = ApiSettings(data_dir=tmp_path, database_url=None)
    activate(settings, PLAN)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEOGRID_")}
    env |= {"GEOGRID_DATA_DIR": str(tmp_path), "GEOGRID_TILES_ABOVE_GRIDS": "10"}
    log = tmp_path / "server.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    outside, errors, tiles = [], [], []
    try:
        wait_until_up(process, f"{url}/tiles/2.json")
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(chromium))
            page = browser.new_page(viewport={"width": 1000, "height": 700})

            def route(r) -> None:
                if r.request.url.startswith(url + "/"):
                    r.continue_()
                else:
                    outside.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("response", lambda r: tiles.append(r) if "/tiles/" in r.url else None)
            page.goto(f"{url}/maps/web.html")
            page.wait_for_function("document.querySelectorAll('canvas').length > 0")
            page.wait_for_timeout(500)
            box = page.locator(".leaflet-container").bounding_box()
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            popup = page.locator(".leaflet-popup-content")
            popup.wait_for(timeout=10_000)
            text = popup.inner_text()
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert outside == [] and errors == [], (outside, errors, log.read_text())
    assert any(r.status == 200 and r.url.endswith(".mvt") for r in tiles)
    assert "编码" in text and "示例街道" in text and "110108001" in text
