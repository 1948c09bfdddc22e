"""One owner for every rule: the places that used to hold their own copy now agree.

- point → grid: the report, the contact cards (直通卡) and ``/locate`` place households on
  shared edges and vertices alike (:mod:`geogrid.locate.households`);
- metrics: partition and report give the same Polsby–Popper and imbalance bound
  (:mod:`geogrid.metrics`);
- plan GeoJSON: an exported plan uploaded again is the plan (units included), outer rings
  counter-clockwise (:func:`geogrid.io.plan_to_geojson`);
- save policy: CLI and API save a plan with warnings (kept with the version) and refuse one
  with errors (:func:`geogrid.store.publish.may_save`);
- grid facts and staff order: one :meth:`geogrid.plan.GridPlan.grid_facts`.
"""

from __future__ import annotations

from collections import Counter

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from api.main import create_app
from geogrid.locate import HOUSEHOLD_SNAP_M, household_grids
from geogrid.render import render_cards
from geogrid.report import plan_report
from tests.service import DX, DY, OX, OY, activate, service_settings, street_plan

SETTINGS = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
COLUMNS = 12
PLAN = street_plan(COLUMNS)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with service_settings("gpkg", tmp_path_factory.mktemp("store")) as values:
        activate(values, PLAN)
        with TestClient(create_app(values)) as test_client:
            yield test_client


# --------------------------------------------------------------------------- point → grid

# points on the plan's edges and vertices (the same arithmetic as the grids' corners), and a
# few just outside it (≈ 8 m and ≈ 85 m west of the strip)
_edge_x = st.integers(0, COLUMNS).map(lambda c: OX + c * DX)
_mid_x = st.integers(0, COLUMNS - 1).map(lambda c: OX + (c + 0.5) * DX)
_edge_y = st.integers(0, 2).map(lambda r: OY + r * DY)
_mid_y = st.integers(0, 1).map(lambda r: OY + (r + 0.5) * DY)
_on_edges = st.one_of(
    st.tuples(_edge_x, _edge_y),  # vertices
    st.tuples(_edge_x, _mid_y),  # vertical edges
    st.tuples(_mid_x, _edge_y),  # horizontal edges
    st.tuples(st.sampled_from([OX - 0.0001, OX - 0.001]), _mid_y),  # outside, near and far
)


def _locate_answers(client: TestClient, points: list[tuple[float, float]]) -> list[str | None]:
    """The household's grid by ``/locate``: the covering grid, else the nearest within 50 m."""
    out = []
    for lon, lat in points:
        answer = client.get("/locate", params={"lon": lon, "lat": lat}).json()
        if answer["status"] == "inside":
            out.append(answer["grid_code"])
        elif answer["nearest"]["distance_m"] <= HOUSEHOLD_SNAP_M:
            out.append(answer["nearest"]["grid"]["code"])
        else:
            out.append(None)
    return out


@SETTINGS
@given(points=st.lists(_on_edges, min_size=1, max_size=8))
def test_report_cards_and_locate_agree_on_edges_and_vertices(client, tmp_path, points) -> None:
    homes = gpd.GeoDataFrame(geometry=[Point(p) for p in points], crs=4490)
    expected = _locate_answers(client, points)
    located = household_grids(PLAN, homes)["level2_code"]
    assert [None if c is None or c is pd.NA else c for c in located.astype(object)] == expected

    cards = render_cards(PLAN, homes, tmp_path / "cards.pdf").cards
    assert Counter(str(c) for c in cards["grid_code"].dropna()) == Counter(
        c for c in expected if c is not None
    )

    report = plan_report(PLAN, households=homes)
    fine = report.grids[report.grids["level"] == 2].set_index("code")["households"]
    counted = Counter(c for c in expected if c is not None)
    assert {c: int(v) for c, v in fine.items() if v} == dict(counted)
    outside = report.exceptions[report.exceptions["kind"] == "households-outside"]
    assert len(outside) == int(any(c is None for c in expected))
    coarse = report.grids[report.grids["level"] == 1].set_index("code")["households"]
    parents = Counter(c[:12] for c in expected if c is not None)
    assert {c: int(v) for c, v in coarse.items() if v} == dict(parents)


def test_polygon_households_count_by_a_point_inside_them() -> None:
    from shapely.geometry import box

    home = box(OX + 0.9 * DX, OY + 0.1 * DY, OX + 1.05 * DX, OY + 0.2 * DY)  # across an edge
    homes = gpd.GeoDataFrame(geometry=[home], crs=4490).to_crs(32650)
    code = household_grids(PLAN, homes)["level2_code"].iloc[0]
    inside = home.intersection(PLAN.grids.set_index("code").geometry[code])
    assert inside.area > 0
    assert np.isfinite(household_grids(PLAN, homes)["distance_m"]).all()
