"""One owner for every rule: the places that used to hold their own copy now agree.

- point → grid: the report, the contact cards (直通卡) and ``/locate`` place households on
  shared edges and vertices alike (:mod:`geogrid.locate.households`);
- metrics: partition and report give the same Polsby–Popper and imbalance bound
  (:mod:`geogrid.metrics`);
- plan GeoJSON: an exported plan uploaded again is the plan (units included), outer rings
  counter-clockwise (:func:`geogrid.io.plan_to_geojson`);
- save policy: CLI and API save a plan with warnings (kept with the version, in
  ``VersionInfo.warnings``) and refuse one with errors (:func:`geogrid.store.publish.require_valid`);
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


# --------------------------------------------------------------------------- metrics


def test_partition_and_report_give_one_polsby_popper_and_nan_for_a_degenerate_grid() -> None:
    from shapely.geometry import LineString, box

    from geogrid.metrics import polsby_popper
    from geogrid.partition.cuts import Subgraph  # noqa: F401  (imports the metric)
    from geogrid.plan import GridPlan

    shapes = [box(0, 0, 1, 1), box(0, 0, 3, 1), LineString([(0, 0), (1, 0)]).buffer(0)]
    area = np.array([g.area for g in shapes])
    perimeter = np.array([g.length for g in shapes])
    pp = polsby_popper(area, perimeter)
    assert np.isnan(pp[2])
    assert pp[:2].round(6).tolist() == [round(np.pi / 4, 6), round(4 * np.pi * 3 / 64, 6)]
    # the report's figure is the module's, for real grids
    grids = gpd.GeoDataFrame(
        {"code": ["001", "002"], "name": ["东", "西"], "level": [1, 1]},
        geometry=[box(116.30, 39.99, 116.31, 40.00), box(116.31, 39.99, 116.33, 40.00)],
        crs=4490,
    )
    report = plan_report(GridPlan("示例", ["网格"], grids))
    metric = grids.to_crs(32650).geometry
    expected = polsby_popper(metric.area.to_numpy(), metric.length.to_numpy()).round(3)
    assert np.allclose(report.grids["polsby_popper"].to_numpy(float), expected, atol=2e-3)


def test_report_and_partition_bounds_share_the_unit_and_count_rules() -> None:
    from geogrid.metrics import count_bound, unit_bound
    from geogrid.partition.band import Band
    from geogrid.partition.bounds import band_bound

    assert band_bound([800], [], 600, Band(300, 500)).deviation == unit_bound(600, 400)
    assert count_bound(900, 2, 400) == 0.125


# --------------------------------------------------------------------------- save policy


@pytest.mark.parametrize("only_warnings", [True, False])
def test_cli_and_api_share_the_save_policy(tmp_path, monkeypatch, only_warnings) -> None:
    from typer.testing import CliRunner

    from geogrid import io
    from geogrid.cli import app
    from geogrid.store import open_store
    from tests.service import issue_key

    plan = street_plan()
    if only_warnings:
        plan.grids["households"] = 10  # communities ≠ the sums of their grids: a warning
    else:
        plan.grids.loc[plan.grids["code"] == plan.grids["code"].iloc[3], "geometry"] = (
            plan.grids.geometry.iloc[3].buffer(DX)
        )  # overlaps its neighbours: an error
    path = io.write_plan(plan, tmp_path / "plan.gpkg")
    with service_settings("gpkg", tmp_path / "api") as values:
        headers = issue_key(values, "planner", name="规划员")
        with TestClient(create_app(values)) as api:
            response = api.post(
                "/plans",
                files={"file": ("plan.gpkg", path.read_bytes(), "application/octet-stream")},
                headers=headers,
            )
        with open_store(values.store_url) as store:
            api_versions = store.versions()
    cli_store = tmp_path / "cli"
    cli_store.mkdir()
    monkeypatch.setenv("GEOGRID_DATA_DIR", str(cli_store))
    monkeypatch.delenv("GEOGRID_DATABASE_URL", raising=False)
    result = CliRunner().invoke(app, ["store", "save", str(path)])
    with open_store() as store:
        cli_versions = store.versions()
    if only_warnings:
        assert response.status_code == 201, response.text
        assert {w["kind"] for w in response.json()["warnings"]} == {"households_mismatch"}
        assert result.exit_code == 0, result.output
        assert "warning" in result.output
        for versions in (api_versions, cli_versions):
            assert len(versions) == 1
            assert versions[0].note == ""  # as the planner wrote it
            assert {w["kind"] for w in versions[0].warnings} == {"households_mismatch"}
        listed = CliRunner().invoke(app, ["store", "list"])
        assert "warning(s) at save" in listed.output and "households" in listed.output
    else:
        assert response.status_code == 422
        assert result.exit_code == 2
        assert "not saved" in response.text and "not saved" in result.output
        assert api_versions == [] and cli_versions == []


# --------------------------------------------------------------------------- report --count-column


def test_report_counts_a_named_column(tmp_path) -> None:
    from typer.testing import CliRunner

    from geogrid import io
    from geogrid.cli import app
    from geogrid.errors import InvalidInputError
    from tests.service import centre

    homes = gpd.GeoDataFrame(
        {"hh": [3, 4], "households": [100, 100]},
        geometry=[Point(centre(0)), Point(centre(0))],
        crs=4490,
    )
    code = f"{PLAN.grids['code'].iloc[2]}"  # column 0, row 0 of the strip
    report = plan_report(PLAN, households=homes, count_column="hh")
    assert report.grids.set_index("code")["households"][code] == 7
    assert plan_report(PLAN, households=homes).grids.set_index("code")["households"][code] == 200
    with pytest.raises(InvalidInputError, match="no column 'people'"):
        plan_report(PLAN, households=homes, count_column="people")
    plan_path = io.write_plan(PLAN, tmp_path / "plan.gpkg")
    homes_path = tmp_path / "homes.geojson"
    homes.to_file(homes_path, driver="GeoJSON")
    result = CliRunner().invoke(
        app,
        [
            "report",
            str(plan_path),
            "--households",
            str(homes_path),
            "--count-column",
            "hh",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert '"households":7' in result.output.replace(" ", "")
