"""One plan GeoJSON (:func:`geogrid.io.plan_to_geojson`) for files and the API export.

- the file writer and the API write the same bytes for the same plan;
- outer rings are counter-clockwise and holes clockwise (RFC 7946 §3.1.6), whatever the
  winding of the plan's own polygons;
- an export uploaded again (``POST /plans``) is the plan, units and staff included, on both
  stores.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.polygon import orient

from api.main import create_app
from geogrid import io
from geogrid.plan import GridPlan
from geogrid.store import open_store
from geogrid.testing import assert_plans_equal
from geogrid.validate import Severity, validate_plan
from tests.service import DX, DY, OX, OY, activate, issue_key, service_settings

NAME = "环形街道"


def cell(i: float, j: float, w: float = 1, h: float = 1) -> Polygon:
    """A box in grid-cell units of about 100 m, from the street's origin."""
    return box(OX + i * DX, OY + j * DY, OX + (i + w) * DX, OY + (j + h) * DY)


def holed_plan() -> GridPlan:
    """Two communities, one with a hole the other fills; polygons wound the wrong way round.

    ``环`` is a 3×3 square with the centre cut out, its outer ring clockwise and its hole
    counter-clockwise; ``岛`` is the centre plus a square 5 cells east (a MultiPolygon). Each
    has one grid of its shape, with staff, and a building unit with a courtyard hole.
    """
    ring = orient(cell(0, 0, 3, 3).difference(cell(1, 1)), sign=-1.0)  # the wrong way round
    island = MultiPolygon([orient(cell(1, 1), -1.0), orient(cell(5, 0), -1.0)])
    rows = [
        ("110108002001", "环社区", 1, None, ring),
        ("110108002002", "岛社区", 1, None, island),
        ("110108002001001", "环网格", 2, "110108002001", ring),
        ("110108002002001", "岛网格", 2, "110108002002", island),
    ]
    codes, names, levels, parents, geoms = zip(*rows, strict=True)
    grids = gpd.GeoDataFrame(
        {"code": codes, "name": names, "level": levels, "parent_code": parents},
        geometry=list(geoms),
        crs=4490,
    )
    staff = pd.DataFrame(
        [
            ("110108002001001", "full_time", "网格员甲", "13900000001"),
            ("110108002001001", "head", "网格长甲", None),
            ("110108002002001", "head", "网格长乙", "13800000002"),
        ],
        columns=["grid_code", "role", "name", "phone"],
    )
    courtyard = cell(0.2, 0.2, 0.6, 0.6).difference(cell(0.4, 0.4, 0.2, 0.2))
    units = gpd.GeoDataFrame(
        {
            "unit_id": ["楼1", "楼2"],
            "name": ["1号楼", None],
            "kind": ["building", "courtyard"],
            "households": [40, 12],
            "grid_code": ["110108002001001", "110108002002001"],
            "locked": [False, True],
        },
        geometry=[orient(courtyard, -1.0), cell(5.2, 0.2, 0.5, 0.5)],
        crs=4490,
    )
    return GridPlan(NAME, ["社区", "网格"], grids, staff, units, attribution="© 测试")


# --------------------------------------------------------------------------- winding


def signed_area(ring: list[list[float]]) -> float:
    """Shoelace area of a GeoJSON ring: positive when counter-clockwise."""
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(ring)) / 2


def polygons(geometry: dict[str, Any] | None) -> list[list[list[list[float]]]]:
    if geometry is None:
        return []
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"]]
    assert geometry["type"] == "MultiPolygon"
    return list(geometry["coordinates"])


def assert_rfc7946_winding(doc: dict[str, Any]) -> int:
    """Every outer ring CCW, every hole CW; the number of holes seen."""
    holes = 0
    for feature in doc["features"]:
        for polygon in polygons(feature["geometry"]):
            outer, *inner = polygon
            assert signed_area(outer) > 0, f"{feature['id']}: outer ring clockwise"
            for hole in inner:
                assert signed_area(hole) < 0, f"{feature['id']}: hole counter-clockwise"
                holes += 1
    return holes


def test_rings_are_wound_as_rfc7946_asks_in_the_file(tmp_path: Path) -> None:
    plan = holed_plan()
    path = io.write_plan(plan, tmp_path / "plan.geojson")
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert assert_rfc7946_winding(doc) == 3  # the ring community, its grid and the courtyard
    assert {f["properties"]["layer"] for f in doc["features"]} == {"grids", "units"}
    coordinates = [
        xy for f in doc["features"] for p in polygons(f["geometry"]) for r in p for xy in r
    ]
    assert all(round(v, 7) == v for xy in coordinates for v in xy)


def test_the_document_names_its_format_levels_and_staff() -> None:
    doc = io.plan_to_geojson(holed_plan())
    assert doc["geogrid"] == {
        "format": 1,
        "name": NAME,
        "levels": ["社区", "网格"],
        "attribution": "© 测试",
        "version": None,
    }
    grid = next(f for f in doc["features"] if f["id"] == "110108002001001")
    assert [s["role"] for s in grid["properties"]["staff"]] == ["head", "full_time"]
    assert len(doc["staff"]) == 3
    assert [f["id"] for f in doc["features"] if f["properties"]["layer"] == "units"] == [
        "楼1",
        "楼2",
    ]


def _ring(draw: st.DrawFn, x: float, y: float, size: float) -> Polygon:
    """A square at (x, y) with up to two holes, its rings wound at random."""
    outer = box(x, y, x + size, y + size)
    holes = [
        box(x + size * a, y + size * b, x + size * (a + 0.1), y + size * (b + 0.1))
        for a, b in draw(
            st.lists(st.sampled_from([(0.1, 0.1), (0.6, 0.2), (0.3, 0.7)]), max_size=2, unique=True)
        )
    ]
    polygon = Polygon(outer.exterior.coords, [h.exterior.coords for h in holes])
    if draw(st.booleans()):
        polygon = orient(polygon, -1.0)
    if draw(st.booleans()):  # holes the wrong way round too
        polygon = Polygon(
            polygon.exterior.coords, [list(r.coords)[::-1] for r in polygon.interiors]
        )
    return polygon


@st.composite
def plans_with_holes(draw: st.DrawFn) -> GridPlan:
    count = draw(st.integers(1, 4))
    geoms = []
    for i in range(count):
        parts = [
            _ring(draw, OX + i * 3 * DX + k * DX * 1.5, OY, DX * draw(st.sampled_from([0.3, 1.0])))
            for k in range(draw(st.integers(1, 2)))
        ]
        geoms.append(parts[0] if len(parts) == 1 else MultiPolygon(parts))
    grids = gpd.GeoDataFrame(
        {
            "code": [f"11010800300{i}" for i in range(count)],
            "name": [f"第{i}社区" for i in range(count)],
            "level": [1] * count,
        },
        geometry=geoms,
        crs=4490,
    )
    return GridPlan("随机", ["社区"], grids)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=plans_with_holes())
def test_any_plan_with_holes_is_wound_ccw_outside_cw_inside(plan: GridPlan) -> None:
    doc = io.plan_to_geojson(plan)
    holes = assert_rfc7946_winding(doc)
    assert holes == sum(
        len(p.interiors) for g in plan.grids.geometry for p in getattr(g, "geoms", [g])
    )
    back = gpd.GeoDataFrame.from_features(doc["features"], crs=4490)  # the same shapes
    shapes = [shapely.normalize(g.to_numpy()) for g in (back.geometry, plan.grids.geometry)]
    assert shapely.equals_exact(*shapes, tolerance=1e-7).all()


# --------------------------------------------------------------------------- API and files


def test_holed_plan_has_no_errors() -> None:
    assert [p for p in validate_plan(holed_plan()) if p.severity is Severity.ERROR] == []


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def service(request, tmp_path):
    """Settings of a service whose active plan is :func:`holed_plan`, and a planner's key."""
    with service_settings(request.param, tmp_path) as values:
        activate(values, holed_plan())
        yield values, issue_key(values, "planner", name="规划员")


def test_api_export_is_the_file_writers_document(service, tmp_path: Path) -> None:
    values, planner = service
    with TestClient(create_app(values)) as client:
        by_version = client.get(f"/plans/{NAME}/versions/1/export", headers=planner)
        active = client.get("/plans/active/export", headers=planner)
    assert by_version.status_code == 200, by_version.text
    assert by_version.headers["content-type"] == "application/geo+json"
    with open_store(values.store_url) as store:
        stored = store.get(NAME, 1)
    written = io.write_plan(stored, tmp_path / "plan.geojson").read_bytes()
    assert by_version.content == active.content == written == io.plan_to_geojson_bytes(stored)
    assert assert_rfc7946_winding(by_version.json()) == 3


def test_export_uploaded_again_is_the_plan(service) -> None:
    values, planner = service
    with TestClient(create_app(values)) as client:
        exported = client.get("/plans/active/export", headers=planner).content
        response = client.post("/plans", content=exported, headers=planner)
    assert response.status_code == 201, response.text
    assert (response.json()["plan"], response.json()["version"]) == (NAME, 2)
    with open_store(values.store_url) as store:
        first, second = store.get(NAME, 1), store.get(NAME, 2)
    assert len(second.units) == 2 and len(second.staff) == 3
    assert_plans_equal(second, first)
    assert_plans_equal(second, holed_plan())
