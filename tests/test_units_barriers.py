"""Barrier lines through buildings, estates and courtyards never split them; straddlers."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import shapely.affinity
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, box

from geogrid.partition import partition, partition_areas
from geogrid.units import BARRIER_COST, BLOCK_COST, build_units, household_areas

CRS = 4547


def covers_exactly(geoms, parent):
    assert shapely.coverage_is_valid(geoms)
    assert shapely.area(geoms).sum() == pytest.approx(parent.area, rel=1e-9)
    assert shapely.coverage_union_all(geoms).symmetric_difference(parent).area < 1e-3


def share_in_one(footprint, geoms):
    """The largest share of ``footprint`` lying in one of ``geoms``."""
    return max(footprint.intersection(g).area for g in geoms) / footprint.area


def test_a_road_through_a_building_leaves_it_whole_and_cheap_elsewhere():
    parent = box(0, 0, 200, 100)
    # a 1 ha-like slab crossed by a service road at x = 100, and small houses either side
    slab = box(80, 40, 120, 60)
    houses = [box(x, y, x + 8, y + 8) for x in (10, 40, 150, 180) for y in (10, 75)]
    buildings = gpd.GeoDataFrame(
        {"households": [120] + [4] * len(houses)}, geometry=[slab, *houses], crs=CRS
    )
    road = gpd.GeoSeries([LineString([(100, -5), (100, 105)])], crs=CRS)
    units = build_units(parent, buildings, barriers=road, crs=CRS)
    covers_exactly(units.table.geometry.to_numpy(), parent)
    holder = units.table[units.table.covers(slab.representative_point())]
    assert slab.difference(holder.geometry.iloc[0]).area < 1e-6  # the whole slab
    assert units.households == 120 + 4 * len(houses)
    # along the road beyond the slab (80 m), cutting stays cheap; the slab's outline does not
    edges = units.edges
    on_road = (edges["length"] * BLOCK_COST - edges["cost"]) / (BLOCK_COST - BARRIER_COST)
    assert on_road.sum() == pytest.approx(80)


@pytest.mark.parametrize("as_keep_whole", [False, True])
def test_an_estate_crossed_by_a_road_is_one_unit(as_keep_whole):
    """The village case: a 620-household estate a road line crosses stays in one grid."""
    parent = box(0, 0, 600, 300)
    estate = box(200, 80, 400, 220)
    rng = np.random.default_rng(1)
    pts = [Point(p) for p in rng.uniform(5, [595, 295], (400, 2))]
    pts = [p for p in pts if not estate.buffer(5).contains(p)]
    homes = gpd.GeoDataFrame({"households": [2] * len(pts)}, geometry=pts, crs=CRS)
    road = gpd.GeoSeries([LineString([(300, -10), (300, 310)])], crs=CRS)
    if as_keep_whole:  # the estate as keep-whole, its buildings inside
        inner = [box(x, y, x + 20, y + 12) for x in range(210, 390, 30) for y in range(90, 210, 20)]
        inner = [b for b in inner if not b.intersects(road.iloc[0])]
        inner.append(box(290, 140, 310, 160))  # one building on the road line too
        blocks = gpd.GeoDataFrame(
            {"households": [620 // len(inner)] * len(inner)}, geometry=inner, crs=CRS
        )
        blocks.loc[0, "households"] += 620 - int(blocks["households"].sum())
        homes = pd.concat([homes, blocks], ignore_index=True)
        keep = gpd.GeoDataFrame({"name": ["荷花小区"]}, geometry=[estate], crs=CRS)
        units = build_units(parent, homes, barriers=road, keep_whole=keep, crs=CRS)
    else:  # the estate given as one household polygon
        homes = pd.concat(
            [homes, gpd.GeoDataFrame({"households": [620]}, geometry=[estate], crs=CRS)],
            ignore_index=True,
        )
        units = build_units(parent, homes, barriers=road, crs=CRS)
    assert units.households == int(homes["households"].sum())
    holder = units.table[units.table.covers(estate.representative_point())]
    assert int(holder["households"].iloc[0]) == 620
    assert estate.difference(holder.geometry.iloc[0]).area < 1e-6
    result = partition(units, band=(300, 700), seed=0)
    geoms = result.grid_geometries()
    covers_exactly(geoms, parent)
    assert share_in_one(estate, geoms) > 0.999


def test_overlapping_footprints_are_one_unit_and_keep_every_household():
    parent = box(-20, -20, 60, 40)
    a, b = box(0, 0, 20, 10), box(2, 1, 22, 11)  # one building drawn twice
    c = box(30, 0, 40, 10)  # touching by a hair only: left alone
    d = box(40 - 1e-7, 0, 50, 10)
    buildings = gpd.GeoDataFrame({"households": [10, 12, 3, 4]}, geometry=[a, b, c, d], crs=CRS)
    road = gpd.GeoSeries([LineString([(10, -30), (10, 50)])], crs=CRS)
    units = build_units(parent, buildings, barriers=road, crs=CRS)
    covers_exactly(units.table.geometry.to_numpy(), parent)
    assert units.households == 29
    holder = units.table[units.table.covers(a.representative_point())]
    assert int(holder["households"].iloc[0]) == 22
    assert a.union(b).difference(holder.geometry.iloc[0]).area < 1e-6
    assert (units.table["households"] == 3).any() and (units.table["households"] == 4).any()


def test_a_building_across_the_parent_boundary_is_reported_and_counted_once():
    left, right = box(0, 0, 100, 100), box(100, 0, 200, 100)
    straddler = box(70, 40, 110, 60)  # 30 m × 20 m on the left, 10 m × 20 m on the right
    rng = np.random.default_rng(2)
    pts = [Point(p) for p in rng.uniform(2, [198, 98], (80, 2))]
    pts = [p for p in pts if not straddler.buffer(1).contains(p)]
    homes = gpd.GeoDataFrame(
        {"households": [5] * len(pts) + [40], "bid": [f"p{i}" for i in range(len(pts))] + ["B7"]},
        geometry=[*pts, straddler],
        crs=CRS,
    )
    assert household_areas(np.array([right, left]), np.array([straddler])).tolist() == [1]
    here = build_units(left, homes, crs=CRS)
    there = build_units(right, homes, crs=CRS)
    assert here.straddling.to_dict("records") == [
        {
            "id": "B7",
            "name": None,
            "households": 40,
            "area_inside_m2": pytest.approx(600),
            "area_outside_m2": pytest.approx(200),
            "inside": True,
        }
    ]
    assert there.straddling["inside"].tolist() == [False]
    assert here.households + there.households == int(homes["households"].sum())
    holder = here.table[here.table.covers(Point(80, 50))]
    assert int(holder["households"].iloc[0]) == 40
    assert straddler.intersection(left).difference(holder.geometry.iloc[0]).area < 1e-6
    areas = gpd.GeoDataFrame(
        {"code": ["420106001001", "420106001002"], "name": ["东社区", "西社区"]},
        geometry=[left, right],
        crs=CRS,
    )
    plan, report = partition_areas(areas, homes, band=(100, 300))
    assert int(plan.level(1)["households"].sum()) == int(homes["households"].sum())
    found = [(code, e) for code, e in report.exceptions if e.kind == "straddling-building"]
    assert len(found) == 1 and found[0][0] == "420106001001"
    assert "B7" in found[0][1].message and "600 m² inside, 200 m² outside" in found[0][1].message


def random_village(seed: int):
    """Buildings on a jittered lattice (no two overlap), two estates, roads through both."""
    rng = np.random.default_rng(seed)
    parent = box(0, 0, 800, 500)
    estates = [box(100, 100, 300, 260), box(480, 220, 700, 420)]
    footprints, counts = [], []
    for x in range(10, 790, 40):
        for y in range(10, 490, 40):
            w, h = rng.uniform(8, 28, 2)
            f = box(x, y, x + w, y + h)
            if any(f.intersects(e.buffer(2)) for e in estates):
                continue
            footprints.append(f)
            counts.append(int(rng.integers(1, 15)))
    for e in estates:  # buildings inside the estates, as a slab across the estate's middle
        x0, y0, x1, y1 = e.bounds
        footprints.append(box(x0 + 20, (y0 + y1) / 2 - 10, x1 - 20, (y0 + y1) / 2 + 10))
        counts.append(int(rng.integers(150, 300)))
    buildings = gpd.GeoDataFrame({"households": counts}, geometry=footprints, crs=CRS)
    # roads through random buildings (a service road, a road drawn over a building)
    lines = []
    for i in rng.choice(len(footprints), 6, replace=False).tolist():
        c = footprints[i].centroid
        angle = rng.uniform(0, np.pi)
        d = np.array([np.cos(angle), np.sin(angle)]) * 2000
        lines.append(LineString([(c.x - d[0], c.y - d[1]), (c.x + d[0], c.y + d[1])]))
    for e in estates:
        c = e.centroid
        lines.append(LineString([(c.x + 7, -10), (c.x - 3, 510)]))
    barriers = gpd.GeoDataFrame(geometry=lines, crs=CRS)
    keep = gpd.GeoDataFrame({"name": ["东苑", "西苑"]}, geometry=estates, crs=CRS)
    return parent, buildings, barriers, keep


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), with_estates=st.booleans())
def test_random_barriers_through_buildings_never_split_them(seed, with_estates):
    parent, buildings, barriers, keep = random_village(seed)
    units = build_units(
        parent, buildings, barriers=barriers, keep_whole=keep if with_estates else None, crs=CRS
    )
    assert units.households == int(buildings["households"].sum())
    covers_exactly(units.table.geometry.to_numpy(), parent)
    result = partition(units, band=(300, 600), seed=seed)
    geoms = result.grid_geometries()
    covers_exactly(geoms, parent)
    assert int(result.grid_households().sum()) == int(buildings["households"].sum())
    for f in buildings.geometry:
        assert share_in_one(f, geoms) >= 0.999
    if with_estates:
        for e in keep.geometry:
            assert share_in_one(e, geoms) >= 0.999
    # edges along the roads away from buildings stay cheap
    assert units.edges["barrier"].any()


def test_a_road_through_a_house_centre_leaves_it_whole():
    """The road passes the house's own point: the halves must not come apart."""
    house = shapely.affinity.rotate(box(40, 40, 52, 50), 28, origin="centroid")
    others = [box(x, y, x + 6, y + 6) for x in (5, 80) for y in (5, 80)]
    c = house.centroid
    road = gpd.GeoSeries(
        [LineString([(c.x - 300, c.y - 77), (c.x + 300, c.y + 77)])], crs=CRS
    ).clip(box(0, 0, 100, 100))
    buildings = gpd.GeoDataFrame({"households": [1] * 5}, geometry=[house, *others], crs=CRS)
    units = build_units(box(0, 0, 100, 100), buildings, barriers=road, crs=CRS)
    covers_exactly(units.table.geometry.to_numpy(), box(0, 0, 100, 100))
    assert share_in_one(house, units.table.geometry.to_numpy()) > 0.999
