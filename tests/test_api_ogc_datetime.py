"""``/ogc`` items at an instant: the OGC API Features ``datetime`` parameter, on both stores.

Two townships in force since 2025-01-01; the west one redrawn on 2025-06-01 (each column
split in two). ``datetime=`` an instant answers from the plans in force then — grids,
geometries, paging links — and an interval is refused (400) with a message saying what to
send instead.
"""

from __future__ import annotations

import urllib.parse

import pytest
import shapely
from fastapi.testclient import TestClient

from api.main import create_app
from geogrid.store import open_store
from tests.service import DX, OX, service_settings
from tests.test_county import EAST, REDRAW, SPRING, T0, WEST, publish, township

ITEMS = "/ogc/collections/level2/items"


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def client(request, tmp_path):
    with service_settings(request.param, tmp_path) as settings:
        with open_store(settings.store_url) as store:
            publish(store, township(WEST, 0), at=T0)
            publish(store, township(EAST, 4), at=T0)
            publish(store, township(WEST, 0, split=2), at=REDRAW)
        with TestClient(create_app(settings)) as test_client:
            yield test_client


def _codes(body: dict) -> list[str]:
    return [f["id"] for f in body["features"]]


def test_items_at_an_instant_are_the_grids_in_force_then(client) -> None:
    now = client.get(ITEMS, params={"limit": 100}).json()
    spring = client.get(ITEMS, params={"limit": 100, "datetime": SPRING.isoformat()}).json()
    assert now["numberMatched"] == 12 and spring["numberMatched"] == 8
    assert _codes(spring) == [f"{WEST}{n:03d}" for n in range(1, 5)] + [
        f"{EAST}{n:03d}" for n in range(1, 5)
    ]
    # the west township's first grid was a whole 100 m column then, half of one now
    width = {
        when: shapely.geometry.shape(body["features"][0]["geometry"]).bounds[2] - OX
        for when, body in (("now", now), ("spring", spring))
    }
    assert width["spring"] == pytest.approx(DX) and width["now"] == pytest.approx(DX / 2)
    # an offset, a date alone and Z all name instants
    for value in ("2025-04-01T08:00:00+08:00", "2025-04-01", "2025-04-01T00:00:00Z"):
        answer = client.get(ITEMS, params={"limit": 100, "datetime": value})
        assert answer.status_code == 200 and answer.json()["numberMatched"] == 8, value


def test_paging_at_an_instant_keeps_the_instant(client) -> None:
    value = "2025-04-01T08:00:00+08:00"
    first = client.get(ITEMS, params={"limit": 5, "datetime": value}).json()
    (link,) = [k["href"] for k in first["links"] if k["rel"] == "next"]
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["datetime"] == [value]
    rest = client.get(link).json()
    assert len(_codes(first) + _codes(rest)) == 8 == len(set(_codes(first) + _codes(rest)))
    assert not [k for k in rest["links"] if k["rel"] == "next"]


def test_one_item_at_an_instant(client) -> None:
    redrawn = f"/ogc/collections/level2/items/{WEST}008"
    assert client.get(redrawn).status_code == 200
    missing = client.get(redrawn, params={"datetime": SPRING.isoformat()})
    assert missing.status_code == 404
    assert "in force at 2025-04-01" in missing.json()["detail"]
    first = client.get(
        f"/ogc/collections/level2/items/{WEST}001", params={"datetime": SPRING.isoformat()}
    ).json()
    assert shapely.geometry.shape(first["geometry"]).bounds[2] - OX == pytest.approx(DX)


def test_intervals_and_bad_instants_are_refused(client) -> None:
    for value in ("2025-01-01T00:00:00Z/2025-06-01T00:00:00Z", "../2025-06-01", "2025-01-01/.."):
        answer = client.get(ITEMS, params={"datetime": value})
        assert answer.status_code == 400, value
        assert "interval" in answer.json()["detail"] and "one instant" in answer.json()["detail"]
    for value in ("yesterday", "1717200000"):
        answer = client.get(ITEMS, params={"datetime": value})
        assert answer.status_code == 400, value
        assert "RFC 3339" in answer.json()["detail"]
    item = client.get(f"/ogc/collections/level2/items/{WEST}001", params={"datetime": "a/b"})
    assert item.status_code == 400
    before = client.get(ITEMS, params={"datetime": "2020-01-01T00:00:00Z"})
    assert before.status_code == 404 and "no plan version was in force" in before.json()["detail"]


def test_page_geometries_serialise_as_shapely_mapping() -> None:
    """The vectorised page geometries give the JSON of ``mapping``, holes and parts kept."""
    import numpy as np
    import orjson

    from api.routes.ogc import _geometries

    holed = shapely.Polygon(
        [(0, 0), (1, 0), (1, 1), (0, 1)], [[(0.2, 0.2), (0.4, 0.2), (0.4, 0.4)]]
    )
    geoms = np.array(
        [
            shapely.multipolygons([holed, shapely.box(2, 2, 3.1234567, 3)]),
            shapely.multipolygons([shapely.box(116.3900001, 39.9, 116.4, 39.95)]),
            shapely.from_wkt("MULTIPOLYGON EMPTY"),
        ],
        dtype=object,
    )
    for swap in (False, True):
        expected = [
            shapely.geometry.mapping(shapely.transform(g, lambda c: c[:, ::-1]) if swap else g)
            for g in geoms
        ]
        got = orjson.dumps(_geometries(geoms, swap=swap), option=orjson.OPT_SERIALIZE_NUMPY)
        assert got == orjson.dumps(expected)
    assert _geometries(geoms[:0], swap=False) == []  # a page past the end
    assert _geometries(geoms[2:], swap=False) == [{"type": "MultiPolygon", "coordinates": []}]


def test_a_page_past_the_end_is_empty(client) -> None:
    body = client.get(ITEMS, params={"offset": 500}).json()
    assert body["features"] == [] and body["numberReturned"] == 0
    assert body["numberMatched"] == 12
