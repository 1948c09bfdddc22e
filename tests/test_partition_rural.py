"""Rural partition: natural villages kept whole (清湖街道: 26 villages → 60 grids); --grids-total."""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from geogrid.cli import app
from geogrid.errors import InvalidInputError
from geogrid.io import read_plan
from geogrid.partition import partition_areas
from geogrid.partition.plan import share_grids
from geogrid.validate import validate_plan

LON, LAT = 118.6, 28.7  # Jiangshan, Zhejiang
STEP = 0.004  # a natural village about 400 m across


def _villages(columns: int, rows: int, seed: int, *, jitter: float = 0.3) -> gpd.GeoDataFrame:
    """Natural villages on a jittered lattice (shared corners moved), households 10–80 each."""
    rng = np.random.default_rng(seed)
    xs = LON + STEP * np.arange(columns + 1)
    ys = LAT + STEP * np.arange(rows + 1)
    corners = np.stack(np.meshgrid(xs, ys, indexing="ij"), axis=-1)
    inner = (slice(1, -1), slice(1, -1))
    corners[inner] += rng.uniform(-jitter, jitter, corners[inner].shape) * STEP
    polygons, names = [], []
    for i in range(columns):
        for j in range(rows):
            ring = [corners[i, j], corners[i + 1, j], corners[i + 1, j + 1], corners[i, j + 1]]
            polygons.append(shapely.Polygon(ring))
            names.append(f"自然村{i}-{j}")
    households = rng.integers(10, 80, len(polygons))
    return gpd.GeoDataFrame({"name": names, "户数": households}, geometry=polygons, crs=4490)


def _areas(villages: gpd.GeoDataFrame, columns: int, parts: int) -> gpd.GeoDataFrame:
    """``parts`` administrative villages side by side, each whole columns of ``villages``."""
    cuts = np.linspace(0, columns, parts + 1).round().astype(int)
    rows = len(villages) // columns
    geoms = [
        shapely.coverage_union_all(villages.geometry.to_numpy()[a * rows : b * rows])
        for a, b in itertools.pairwise(cuts)
    ]
    codes = [f"330881101{k + 1:03d}" for k in range(parts)]
    return gpd.GeoDataFrame(
        {"code": codes, "name": [f"行政村{k + 1}" for k in range(parts)], "kind": "rural"},
        geometry=geoms,
        crs=villages.crs,
    )


def _run(*args: str):
    return CliRunner().invoke(app, ["partition", *args])


def _villages_whole(plan) -> None:
    units = plan.units[plan.units["kind"] == "village"]
    grids_per_village = units.groupby("name")["grid_code"].nunique()
    assert (grids_per_village == 1).all(), grids_per_village[grids_per_village > 1]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(3, 6), st.integers(3, 6), st.integers(0, 2**16), st.sampled_from([4490, 4547]))
def test_villages_stay_whole_in_rural_grids(columns, rows, seed, crs):
    villages = _villages(columns, rows, seed)
    areas = _areas(villages, columns, 2).to_crs(crs)
    villages = villages.to_crs(crs)
    plan, _ = partition_areas(
        areas, None, units=villages, count_column="户数", band=(100, 200), seed=seed
    )
    _villages_whole(plan)
    grids = plan.level(2)
    assert set(grids["kind"]) == {"rural"}
    assert int(plan.units["households"].sum()) == int(villages["户数"].sum())
    assert [p.line() for p in validate_plan(plan)] == []


def test_rural_partition_from_the_command_line(tmp_path):
    villages = _villages(6, 5, seed=1)
    areas = _areas(villages, 6, 2)
    villages.to_file(tmp_path / "villages.gpkg", layer="villages")
    areas.drop(columns="kind").to_file(tmp_path / "area.geojson")
    out = tmp_path / "plan.gpkg"
    result = _run(
        str(tmp_path / "area.geojson"),
        "--units",
        str(tmp_path / "villages.gpkg"),
        "--count-column",
        "户数",
        "--band",
        "150-300",
        "--kind",
        "rural",
        "-o",
        str(out),
    )
    assert result.exit_code == 0, result.output
    plan = read_plan(out)
    _villages_whole(plan)
    assert set(plan.level(2)["kind"]) == {"rural"}
    assert [p.line() for p in validate_plan(plan)] == []
    assert int(plan.level(1)["households"].sum()) == int(villages["户数"].sum())


def test_households_counted_into_the_villages(tmp_path):
    """Household points given with --units are counted into the village polygons."""
    villages = _villages(4, 4, seed=2).drop(columns="户数")
    areas = _areas(villages, 4, 1)
    rng = np.random.default_rng(0)
    xy = rng.uniform((LON, LAT), (LON + 4 * STEP, LAT + 4 * STEP), size=(500, 2))
    homes = gpd.GeoDataFrame(geometry=shapely.points(xy), crs=4490)
    villages.to_file(tmp_path / "villages.geojson")
    areas.to_file(tmp_path / "area.geojson")
    homes.to_file(tmp_path / "homes.geojson")
    out = tmp_path / "plan.gpkg"
    result = _run(
        str(tmp_path / "area.geojson"),
        "--units",
        str(tmp_path / "villages.geojson"),
        "--households",
        str(tmp_path / "homes.geojson"),
        "--grids",
        "3",
        "-o",
        str(out),
    )
    assert result.exit_code == 0, result.output
    plan = read_plan(out)
    _villages_whole(plan)
    assert int(plan.units["households"].sum()) == 500
    expected = [int(shapely.contains(v, homes.geometry).sum()) for v in villages.geometry]
    got = plan.units.set_index("name").loc[villages["name"], "households"].tolist()
    assert got == expected
    assert set(plan.level(2)["kind"]) == {"rural"}  # the area's kind column
    assert len(plan.level(2)) == 3


def test_grids_total_shared_over_a_street(tmp_path):
    villages = _villages(9, 4, seed=3)
    areas = _areas(villages, 9, 3)
    plan, _ = partition_areas(areas, None, units=villages, count_column="户数", grids_total=8)
    grids = plan.level(2)
    assert len(grids) == 8
    per_parent = grids.groupby("parent_code").size()
    assert set(per_parent.index) == set(areas["code"]) and (per_parent >= 1).all()
    loads = villages.assign(
        parent=[areas.index[areas.contains(p.representative_point())][0] for p in villages.geometry]
    )
    totals = loads.groupby("parent")["户数"].sum().to_numpy()
    assert per_parent.loc[areas["code"]].tolist() == share_grids(8, totals.tolist())
    assert [p.line() for p in validate_plan(plan)] == []


def test_grids_total_from_the_command_line(tmp_path):
    villages = _villages(9, 4, seed=4)
    _areas(villages, 9, 3).to_file(tmp_path / "area.geojson")
    villages.to_file(tmp_path / "villages.geojson")
    out = tmp_path / "plan.geojson"
    result = _run(
        str(tmp_path / "area.geojson"),
        "--units",
        str(tmp_path / "villages.geojson"),
        "--count-column",
        "户数",
        "--grids-total",
        "7",
        "-o",
        str(out),
    )
    assert result.exit_code == 0, result.output
    grids = read_plan(out).level(2)
    assert len(grids) == 7 and grids["parent_code"].nunique() == 3


@given(st.lists(st.floats(0, 1e4), min_size=1, max_size=30), st.integers(0, 200))
def test_share_grids_adds_up_and_gives_every_parent_one(loads, extra):
    total = len(loads) + extra
    shares = share_grids(total, loads)
    assert sum(shares) == total and min(shares) >= 1
    if sum(loads) > 0:  # within one grid of the exact quota (largest remainder)
        quota = np.array(loads) / sum(loads) * total
        assert np.all(np.array(shares) <= np.maximum(1, np.ceil(quota)) + 1e-9)


def test_grids_total_below_the_parents_is_a_clear_error():
    with pytest.raises(InvalidInputError, match="at least 3"):
        share_grids(2, [1, 2, 3])


def test_unknown_kind_lists_the_kinds():
    villages = _villages(3, 3, seed=0)
    with pytest.raises(InvalidInputError, match="urban, rural, special"):
        partition_areas(
            _areas(villages, 3, 1), None, units=villages, count_column="户数", grids=2, kind="town"
        )
