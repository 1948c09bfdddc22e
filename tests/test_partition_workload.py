"""Workload from incident history: where incidents cluster, grids hold fewer households."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import box
from typer.testing import CliRunner

from geogrid.cli import app
from geogrid.io import read_plan
from geogrid.partition import partition_areas
from geogrid.partition.workload import incident_points, stored_incident_points

W, S, SIZE = 116.30, 39.99, 0.012  # a community about 1 km across


def _community(seed: int, n: int = 400) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    rng = np.random.default_rng(seed)
    area = gpd.GeoDataFrame(
        {"code": ["110108001"], "name": ["测试社区"]},
        geometry=[box(W, S, W + SIZE, S + SIZE)],
        crs=4490,
    )
    xy = rng.uniform((W, S), (W + SIZE, S + SIZE), size=(n, 2))
    homes = gpd.GeoDataFrame({"households": np.full(n, 3)}, geometry=shapely.points(xy), crs=4490)
    return area, homes


def _cluster(seed: int, n: int, corner: tuple[float, float]) -> gpd.GeoDataFrame:
    """``n`` incidents within 150 m of ``corner`` (fractions of the community)."""
    rng = np.random.default_rng(seed + 1)
    centre = np.array([W + corner[0] * SIZE, S + corner[1] * SIZE])
    xy = centre + rng.normal(0, 0.0012, size=(n, 2))
    xy = np.clip(xy, (W, S), (W + SIZE, S + SIZE))
    return gpd.GeoDataFrame(geometry=shapely.points(xy), crs=4490)


def _households_by_busyness(plan, incidents: gpd.GeoDataFrame) -> tuple[float, float]:
    """Mean households of the grids holding most incidents, and of the others."""
    grids = plan.level(2).reset_index(drop=True)
    inside = [int(shapely.contains(g, incidents.geometry.to_numpy()).sum()) for g in grids.geometry]
    busy = np.array(inside) >= np.median(inside)
    households = grids["households"].to_numpy(float)
    quiet = households[~busy] if (~busy).any() else households[busy]
    return float(households[busy].mean()), float(quiet.mean())


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, 2**16),
    st.sampled_from([(0.15, 0.15), (0.85, 0.2), (0.2, 0.85), (0.8, 0.8)]),
)
def test_incident_weight_shrinks_grids_where_incidents_cluster(seed, corner):
    area, homes = _community(seed)
    incidents = _cluster(seed, 300, corner)
    plain, _ = partition_areas(area, homes, grids=6, seed=seed)
    weighted, _ = partition_areas(
        area,
        homes,
        grids=6,
        weights={"households": 1, "incidents": 2},
        incidents=incidents,
        seed=seed,
    )
    busy, quiet = _households_by_busyness(weighted, incidents)
    assert busy < 0.75 * quiet  # grids over the cluster hold far fewer households
    plain_busy, plain_quiet = _households_by_busyness(plain, incidents)
    assert plain_busy > 0.8 * plain_quiet  # without the weight they are about equal
    units = weighted.units
    assert int(units["households"].sum()) == int(homes["households"].sum())


def test_incidents_file_and_since_from_the_command_line(tmp_path):
    area, homes = _community(7)
    old = _cluster(7, 300, (0.85, 0.85)).get_coordinates()
    new = _cluster(8, 300, (0.15, 0.15)).get_coordinates()
    table = pd.DataFrame(
        {
            "lon": np.concatenate([old["x"], new["x"]]),
            "lat": np.concatenate([old["y"], new["y"]]),
            "date": ["2024-03-01"] * len(old) + ["2025-06-01"] * len(new),
        }
    )
    table.to_csv(tmp_path / "incidents.csv", index=False)
    area.to_file(tmp_path / "area.geojson")
    homes.to_file(tmp_path / "homes.geojson")
    out = tmp_path / "plan.gpkg"
    result = CliRunner().invoke(
        app,
        [
            "partition",
            str(tmp_path / "area.geojson"),
            "--households",
            str(tmp_path / "homes.geojson"),
            "--grids",
            "6",
            "--weight",
            "incidents=2",
            "--incidents",
            str(tmp_path / "incidents.csv"),
            "--incidents-since",
            "2025-01-01",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    recent = gpd.GeoDataFrame(geometry=gpd.points_from_xy(new["x"], new["y"]), crs=4490)
    busy, quiet = _households_by_busyness(read_plan(out), recent)
    assert busy < 0.75 * quiet  # only the 2025 cluster (south-west) counts


def test_incidents_without_the_weight_is_a_clear_error(tmp_path):
    area, homes = _community(1)
    area.to_file(tmp_path / "area.geojson")
    homes.to_file(tmp_path / "homes.geojson")
    result = CliRunner().invoke(
        app,
        [
            "partition",
            str(tmp_path / "area.geojson"),
            "--households",
            str(tmp_path / "homes.geojson"),
            "--grids",
            "2",
            "--incidents-since",
            "2025-01-01",
            "-o",
            str(tmp_path / "plan.gpkg"),
        ],
    )
    assert result.exit_code != 0 and "--weight incidents=F" in result.output


def test_incident_points_from_gcj02_are_converted():
    table = pd.DataFrame({"lon": ["116.3062"], "lat": ["39.9962"]})
    plain = incident_points(table).geometry.iloc[0]
    converted = incident_points(table, "gcj02").geometry.iloc[0]
    assert 0.001 < plain.distance(converted) < 0.01  # a few hundred metres


def test_incidents_read_from_the_store(tmp_path):
    from geogrid.access import Caller, Role
    from geogrid.incidents import IncidentReport, Placement
    from geogrid.store import open_store

    area, homes = _community(2)
    plan, _ = partition_areas(area, homes, grids=2)
    app_ = Caller("上报App", Role.REPORTER, key_id=1)
    with open_store(f"sqlite:///{tmp_path / 'plans.gpkg'}") as store:
        store.save(plan, by="测试")
        incidents = store.incidents()
        times = [dt.datetime(2024, 5, 1, tzinfo=dt.UTC), dt.datetime(2025, 5, 1, tzinfo=dt.UTC)]
        for k, at in enumerate(times):
            lon, lat = W + 0.002 * (k + 1), S + 0.002
            report = IncidentReport("environment", "垃圾堆放", lon, lat, "wgs84")
            where = Placement(lon, lat, ("110108001",))
            incidents.create_incident(report, where, caller=app_, at=at)
        assert len(stored_incident_points(store)) == 2
        since = stored_incident_points(store, since=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
        assert len(since) == 1 and since.crs.to_epsg() == 4490
