"""Grid codes: hierarchy, reading order, never reusing a code."""

from __future__ import annotations

import geopandas as gpd
from hypothesis import given
from hypothesis import strategies as st
from shapely.geometry import box

from geogrid.codes import child_code, number_children, reading_order


def test_fifteen_digit_codes_under_a_community() -> None:
    assert child_code("110108014001", 12) == "110108014001012"
    assert len(child_code("110108014001", 1)) == 15


def test_rows_north_to_south_then_west_to_east() -> None:
    # a 3 x 3 block of 200 m cells in a Gauss-Kruger zone, given in scrambled order
    cells = [
        box(x * 200, y * 200, (x + 1) * 200, (y + 1) * 200) for x in (2, 0, 1) for y in (0, 2, 1)
    ]
    series = gpd.GeoSeries(cells, crs=4547).translate(500_000, 3_380_000)
    codes = number_children("P", series)
    by_code = sorted(zip(codes, cells, strict=True))
    positions = [(round(c.bounds[0] / 200), round(c.bounds[1] / 200)) for _, c in by_code]
    assert positions == [(0, 2), (1, 2), (2, 2), (0, 1), (1, 1), (2, 1), (0, 0), (1, 0), (2, 0)]


def test_lonlat_input_is_projected_first() -> None:
    cells = gpd.GeoSeries(
        [box(116.31, 40.0, 116.32, 40.01), box(116.30, 40.0, 116.31, 40.01)], crs=4490
    )
    assert number_children("A", cells) == ["A002", "A001"]


@given(st.sets(st.integers(1, 30), max_size=10), st.integers(1, 12))
def test_taken_codes_are_never_reissued(taken_numbers: set[int], n: int) -> None:
    taken = {child_code("A", t) for t in taken_numbers}
    cells = gpd.GeoSeries([box(i, 0, i + 1, 1) for i in range(n)], crs=3857)
    codes = number_children("A", cells, taken)
    assert len(set(codes)) == n and not set(codes) & taken
    assert list(reading_order(cells)) == list(range(n))
