"""Units: tessellation of the parent into cells, households snapped, adjacency with cut costs."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon, box

from geogrid.errors import GeogridError
from geogrid.units import BARRIER_COST, SLIVER_AREA, build_units, unit_weights
from geogrid.units.tessellation import merge_slivers

CRS = 4547  # CGCS2000 / 3-degree GK CM 114E, metres


def homes(points, counts, **columns):
    return gpd.GeoDataFrame(
        {"households": counts, **columns},
        geometry=[Point(p) for p in points],
        crs=CRS,
    )


def covers_exactly(units, parent):
    geoms = units.table.geometry.to_numpy()
    assert shapely.coverage_is_valid(geoms)
    assert shapely.area(geoms).sum() == pytest.approx(parent.area, rel=1e-9)
    assert shapely.coverage_union_all(geoms).symmetric_difference(parent).area < 1e-6


def test_cells_cover_parent_and_hold_every_household():
    rng = np.random.default_rng(3)
    pts = rng.uniform(1, 199, size=(40, 2))
    parent = box(0, 0, 200, 200)
    roads = gpd.GeoSeries([LineString([(100, -5), (100, 205)])], crs=CRS)
    units = build_units(parent, homes(pts, [3] * 40), barriers=roads, crs=CRS)
    covers_exactly(units, parent)
    assert units.households == 120
    assert units.table["households"].min() >= 0
    # every household point lies in the unit that counts it
    for p in pts:
        hit = units.table[units.table.covers(Point(p))]
        assert hit["households"].sum() >= 3


def test_cut_costs_are_low_along_barriers():
    roads = gpd.GeoSeries([LineString([(50, -1), (50, 21)])], crs=CRS)
    pts = [(10, 10), (30, 10), (70, 10)]
    units = build_units(box(0, 0, 100, 20), homes(pts, [1, 1, 1]), barriers=roads, crs=CRS)
    edges = units.edges
    across = edges[edges["barrier"]]
    inside = edges[~edges["barrier"]]
    assert len(across) == 1 and len(inside) == 1
    assert across["cost"].iloc[0] == pytest.approx(20 * BARRIER_COST)
    assert inside["cost"].iloc[0] == pytest.approx(20.0)


def test_households_outside_are_reported_not_dropped():
    hh = homes([(10, 10), (500, 500)], [5, 7])
    units = build_units(box(0, 0, 100, 100), hh, crs=CRS)
    assert units.households == 5
    assert len(units.outside) == 1 and units.outside["households"].iloc[0] == 7
    assert "outside" in units.problems[0]


def test_building_polygons_and_keep_whole_estates():
    buildings = gpd.GeoDataFrame(
        {"households": [10, 20, 30, 40], "name": ["A", "B", "C", "D"]},
        geometry=[box(5, 5, 15, 15), box(25, 5, 35, 15), box(65, 5, 75, 15), box(85, 5, 95, 15)],
        crs=CRS,
    )
    estate = gpd.GeoDataFrame({"name": ["花园小区"]}, geometry=[box(0, 0, 40, 20)], crs=CRS)
    units = build_units(box(0, 0, 100, 20), buildings, keep_whole=estate, crs=CRS)
    covers_exactly(units, box(0, 0, 100, 20))
    estate_unit = units.table[units.table["kind"] == "estate"]
    assert len(estate_unit) == 1
    assert estate_unit["households"].iloc[0] == 30
    assert estate_unit["name"].iloc[0] == "花园小区"
    assert estate_unit.geometry.iloc[0].equals(box(0, 0, 40, 20).normalize()) or (
        estate_unit.geometry.iloc[0].symmetric_difference(box(0, 0, 40, 20)).area < 1e-6
    )
    assert set(units.table["name"].dropna()) >= {"C", "D"}


def test_hole_and_island_parent():
    lake = Polygon([(40, 40), (60, 40), (60, 60), (40, 60)])
    main = box(0, 0, 100, 100).difference(lake)
    parent = shapely.MultiPolygon([main, box(200, 0, 220, 20)])
    hh = homes([(10, 10), (90, 90), (50, 50), (210, 10)], [1, 2, 4, 8])
    units = build_units(parent, hh, crs=CRS)
    covers_exactly(units, parent)
    assert units.households == 11  # the point in the lake is outside the parent
    assert len(units.outside) == 1


def test_zero_household_land_is_a_cell():
    roads = gpd.GeoSeries([LineString([(50, -1), (50, 21)])], crs=CRS)
    units = build_units(box(0, 0, 100, 20), homes([(10, 10)], [4]), barriers=roads, crs=CRS)
    assert len(units) == 2
    assert sorted(units.table["households"].tolist()) == [0, 4]
    assert (units.table["kind"] == "cell").sum() == 2


def test_stacked_points_are_one_site_and_lonlat_is_projected():
    hh = gpd.GeoDataFrame(
        {"households": [1, 1, 1]},
        geometry=[Point(114.30, 30.60), Point(114.30, 30.60), Point(114.301, 30.601)],
        crs=4490,
    )
    parent = gpd.GeoSeries([box(114.299, 30.599, 114.302, 30.602)], crs=4490)
    units = build_units(parent, hh)
    assert units.crs.is_projected
    assert sorted(units.table["households"].tolist()) == [1, 2]


def test_weights_and_errors():
    hh = homes([(10, 10), (30, 10)], [1, 2], shops=[4, 0])
    units = build_units(box(0, 0, 40, 20), hh, extra_columns=["shops"], crs=CRS)
    load = unit_weights(units, {"households": 1, "shops": 0.5})
    assert sorted(load.tolist()) == [2.0, 3.0]
    with pytest.raises(GeogridError, match="weight column"):
        unit_weights(units, {"key_persons": 1})
    with pytest.raises(GeogridError, match="non-empty polygon"):
        build_units(Point(0, 0), hh, crs=CRS)
    with pytest.raises(GeogridError, match="no column"):
        build_units(box(0, 0, 40, 20), hh, extra_columns=["nope"], crs=CRS)


def test_no_cell_edge_runs_through_a_building():
    # a long slab next to a small house: the Voronoi edge of their points crosses the slab
    buildings = gpd.GeoDataFrame(
        {"households": [60, 1, 1]},
        geometry=[box(0, 0, 80, 10), box(85, 12, 90, 17), box(30, 20, 35, 25)],
        crs=CRS,
    )
    units = build_units(box(-10, -10, 100, 40), buildings, crs=CRS)
    covers_exactly(units, box(-10, -10, 100, 40))
    for _, b in buildings.iterrows():
        holder = units.table[units.table.covers(b.geometry.representative_point())]
        assert b.geometry.difference(holder.geometry.iloc[0]).area < 1e-6


def test_overlapping_buildings_keep_every_household():
    buildings = gpd.GeoDataFrame(
        {"households": [10, 20]}, geometry=[box(0, 0, 10, 10), box(5, 0, 15, 10)], crs=CRS
    )
    units = build_units(box(-5, -5, 20, 15), buildings, crs=CRS)
    covers_exactly(units, box(-5, -5, 20, 15))
    assert units.households == 30


def test_a_sliver_joins_the_neighbour_sharing_most_boundary():
    # a 0.1 mm strip between a square (10 m shared) and a box (5 m shared)
    square = Polygon([(0, 0), (10, 0), (10, 10), (0, 10)])
    strip = Polygon([(10, 0), (10.0001, 0), (10.0001, 5), (10.0001, 10), (10, 10)])
    other = Polygon([(10.0001, -5), (20, -5), (20, 5), (10.0001, 5), (10.0001, 0)])
    cells = np.array([square, strip, other], dtype=object)
    assert shapely.coverage_is_valid(cells) and strip.area < SLIVER_AREA
    merged, owners, blocks = merge_slivers(cells, np.array([0, -1, 1]), np.array([0, 0, 1]))
    assert owners.tolist() == [0, 1] and blocks.tolist() == [0, 1]
    assert merged[0].area == pytest.approx(square.area + strip.area)
    assert merged[0].covers(strip) and merged[1].equals(other)
    assert shapely.coverage_is_valid(merged)


def test_sample_units_have_no_slivers():
    # the sample's 荷清苑社区 had five empty cells under 1 m² (down to 4e-10 m²)
    from geogrid.io import read_households, read_layer
    from geogrid.samples import sample_path

    areas = read_layer(sample_path("haidian", "area.geojson"))
    area = areas[areas["code"] == "110108900001"]
    buildings = read_households(sample_path("haidian", "households.gpkg"), layer="buildings")
    inside = buildings.representative_point().within(area.geometry.iloc[0])
    roads = read_layer(sample_path("haidian", "roads.gpkg"), layer="roads")
    units = build_units(area, buildings[inside], barriers=roads)
    covers_exactly(units, units.parent)
    assert units.households == int(buildings[inside]["households"].sum())
    empty = units.table["households"] == 0
    assert (units.table.geometry[empty].area >= SLIVER_AREA).all()


def test_unit_polygons_with_collapsed_parts():
    # a unit back from EPSG:4490 can carry a zero-area part; plain make_valid turns it into
    # lines in a collection, which coverage cleaning refuses
    from shapely.geometry import MultiPolygon

    from geogrid.units import units_from_polygons

    collapsed = MultiPolygon([box(1, 0, 2, 1), Polygon([(2, 0), (3, 0), (2.5, 0), (2, 0)])])
    frame = gpd.GeoDataFrame(
        {"households": [40, 60]}, geometry=[box(0, 0, 1, 1), collapsed], crs=4547
    )
    units = units_from_polygons(frame)
    assert units.households == 100
    assert units.table.geometry.area.tolist() == pytest.approx([1.0, 1.0])
    assert units.edges[["a", "b"]].values.tolist() == [[0, 1]]


def test_a_coverage_a_hair_apart_is_snapped_and_an_overlap_cleaned() -> None:
    from geogrid.units.coverage import exact_coverage

    hair = 1e-9  # metres: float arithmetic's difference between two ways to one corner
    boxes = np.array([box(0, 0, 1, 1), box(1 + hair, 0, 2, 1), box(0, 1, 2 - hair, 2)])
    assert not shapely.coverage_is_valid(boxes)
    snapped = exact_coverage(boxes)
    assert shapely.coverage_is_valid(snapped)
    assert np.allclose(shapely.area(snapped), shapely.area(boxes))
    overlapping = np.array([box(0, 0, 1, 1), box(0.999, 0, 2, 1)])
    cleaned = exact_coverage(overlapping)
    assert shapely.coverage_is_valid(cleaned)
    assert shapely.area(cleaned).sum() == pytest.approx(2.0)
