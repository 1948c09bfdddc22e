"""Tests of geogrid.crs: GCJ-02 / BD-09, plan coordinates, sanity checks, metric CRS."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS, Geod, Transformer
from shapely.geometry import LineString, Point, Polygon, box

from geogrid.crs import (
    CHINA_BOUNDS,
    area_m2,
    bd09_to_gcj02,
    bd09_to_wgs84,
    check_lonlat,
    coordinate_problems,
    from_plan_lonlat,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    layer_crs_problem,
    metric_crs,
    parse_crs,
    to_metric,
    to_plan_lonlat,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geogrid.errors import CoordinateError, CRSError

GEOD = Geod(ellps="WGS84")


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


# ------------------------------------------------------------------ published reference pairs

# wandergis/coordtransform, test/app.js (input 116.404, 39.915 for every function).
# Its gcj02towgs84 and bd09togcj02 are one-step approximations of the inverse, a few
# centimetres off the exact inverse, hence the looser tolerance for those two.
COORDTRANSFORM_INPUT = (116.404, 39.915)
COORDTRANSFORM_WGS84_TO_GCJ02 = (116.41024449916938, 39.91640428150164)
COORDTRANSFORM_GCJ02_TO_BD09 = (116.41036949371029, 39.92133699351021)
COORDTRANSFORM_BD09_TO_GCJ02_APPROX = (116.39762729119315, 39.90865673957631)
COORDTRANSFORM_GCJ02_TO_WGS84_APPROX = (116.39775550083061, 39.91359571849836)

# googollee/eviltransform, go/transform_test.go and python/test.py:
# (wgs lon, wgs lat, gcj lon, gcj lat)
EVILTRANSFORM_PAIRS = [
    (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),  # Shanghai
    (113.912316, 22.543847, 113.9171764808363, 22.540796131694766),  # Shenzhen
    (116.377817, 39.911954, 116.38404722455657, 39.91334545536069),  # Beijing
]


def test_wgs84_to_gcj02_matches_published_pairs() -> None:
    assert wgs84_to_gcj02(*COORDTRANSFORM_INPUT) == pytest.approx(
        COORDTRANSFORM_WGS84_TO_GCJ02, abs=1e-9
    )
    for wgs_lon, wgs_lat, gcj_lon, gcj_lat in EVILTRANSFORM_PAIRS:
        assert wgs84_to_gcj02(wgs_lon, wgs_lat) == pytest.approx((gcj_lon, gcj_lat), abs=1e-9)


def test_gcj02_to_wgs84_inverts_published_pairs_exactly() -> None:
    for wgs_lon, wgs_lat, gcj_lon, gcj_lat in EVILTRANSFORM_PAIRS:
        assert gcj02_to_wgs84(gcj_lon, gcj_lat) == pytest.approx((wgs_lon, wgs_lat), abs=1e-9)
    assert gcj02_to_wgs84(*COORDTRANSFORM_WGS84_TO_GCJ02) == pytest.approx(
        COORDTRANSFORM_INPUT, abs=1e-9
    )


def test_gcj02_to_wgs84_close_to_published_one_step_value() -> None:
    got = gcj02_to_wgs84(*COORDTRANSFORM_INPUT)
    assert got == pytest.approx(COORDTRANSFORM_GCJ02_TO_WGS84_APPROX, abs=1e-6)
    assert got != pytest.approx(COORDTRANSFORM_GCJ02_TO_WGS84_APPROX, abs=1e-9)  # not one-step


def test_bd09_matches_published_pairs() -> None:
    assert gcj02_to_bd09(*COORDTRANSFORM_INPUT) == pytest.approx(
        COORDTRANSFORM_GCJ02_TO_BD09, abs=1e-9
    )
    assert bd09_to_gcj02(*COORDTRANSFORM_GCJ02_TO_BD09) == pytest.approx(
        COORDTRANSFORM_INPUT, abs=1e-9
    )
    assert bd09_to_gcj02(*COORDTRANSFORM_INPUT) == pytest.approx(
        COORDTRANSFORM_BD09_TO_GCJ02_APPROX, abs=1e-6
    )


def test_composed_conversions() -> None:
    lon, lat = COORDTRANSFORM_INPUT
    assert wgs84_to_bd09(lon, lat) == pytest.approx(
        gcj02_to_bd09(*wgs84_to_gcj02(lon, lat)), abs=1e-12
    )
    assert bd09_to_wgs84(*wgs84_to_bd09(lon, lat)) == pytest.approx((lon, lat), abs=1e-9)


# ------------------------------------------------------------------ round trips and offsets

china_lon = st.floats(CHINA_BOUNDS[0], CHINA_BOUNDS[2])
china_lat = st.floats(CHINA_BOUNDS[1], CHINA_BOUNDS[3])


@settings(max_examples=300, deadline=None)
@given(lon=china_lon, lat=china_lat)
def test_round_trips_within_half_a_metre(lon: float, lat: float) -> None:
    assert metres(lon, lat, *gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))) <= 0.5
    assert metres(lon, lat, *wgs84_to_gcj02(*gcj02_to_wgs84(lon, lat))) <= 0.5
    assert metres(lon, lat, *bd09_to_gcj02(*gcj02_to_bd09(lon, lat))) <= 0.5
    assert metres(lon, lat, *gcj02_to_bd09(*bd09_to_gcj02(lon, lat))) <= 0.5
    assert metres(lon, lat, *bd09_to_wgs84(*wgs84_to_bd09(lon, lat))) <= 0.5


@pytest.fixture(scope="module")
def china_lattice() -> tuple[np.ndarray, np.ndarray]:
    west, south, east, north = CHINA_BOUNDS
    lon, lat = np.meshgrid(np.arange(west, east, 0.25), np.arange(south, north, 0.25))
    return lon, lat


def test_round_trips_on_a_lattice_over_china(china_lattice) -> None:
    lon, lat = china_lattice
    gcj = wgs84_to_gcj02(lon, lat)
    assert metres(lon, lat, *gcj02_to_wgs84(*gcj)).max() < 0.001
    assert metres(lon, lat, *bd09_to_wgs84(*wgs84_to_bd09(lon, lat))).max() < 0.001


def test_offsets_are_hundreds_of_metres(china_lattice) -> None:
    """A no-op conversion would pass the round trips; these would catch it."""
    lon, lat = china_lattice
    gcj_offset = metres(lon, lat, *wgs84_to_gcj02(lon, lat))
    assert gcj_offset.min() > 10
    assert np.median(gcj_offset) > 300
    assert 100 < metres(116.404, 39.915, *wgs84_to_gcj02(116.404, 39.915)) < 1000
    bd_offset = metres(lon, lat, *gcj02_to_bd09(lon, lat))
    assert bd_offset.min() > 500


def test_no_gcj_offset_outside_china_but_bd_offset_everywhere() -> None:
    assert wgs84_to_gcj02(-1.13, 52.63) == (-1.13, 52.63)  # Leicester
    assert gcj02_to_wgs84(-1.13, 52.63) == (-1.13, 52.63)
    assert wgs84_to_gcj02(139.69, 35.69) == (139.69, 35.69)  # Tokyo, east of the box
    assert metres(-1.13, 52.63, *gcj02_to_bd09(-1.13, 52.63)) > 100
    assert bd09_to_gcj02(*gcj02_to_bd09(-1.13, 52.63)) == pytest.approx((-1.13, 52.63), abs=1e-9)


# ------------------------------------------------------------------ scalars, arrays, bad values

CONVERSIONS = [
    wgs84_to_gcj02,
    gcj02_to_wgs84,
    gcj02_to_bd09,
    bd09_to_gcj02,
    wgs84_to_bd09,
    bd09_to_wgs84,
]


@pytest.mark.parametrize("convert", CONVERSIONS)
def test_scalars_give_floats_and_arrays_keep_their_shape(convert) -> None:
    lon, lat = convert(116.404, 39.915)
    assert type(lon) is float and type(lat) is float
    lons = np.array([[116.404, 121.5], [113.9, 104.06]])
    lats = np.array([[39.915, 31.2], [22.5, 30.66]])
    out_lon, out_lat = convert(lons, lats)
    assert out_lon.shape == out_lat.shape == (2, 2)
    assert out_lon[0, 0] == pytest.approx(lon, abs=1e-12)
    assert out_lat[0, 0] == pytest.approx(lat, abs=1e-12)
    listed = convert([116.404], [39.915])
    assert isinstance(listed[0], np.ndarray) and listed[0].shape == (1,)
    broadcast = convert(116.404, [39.915, 39.916])
    assert broadcast[0].shape == (2,)


@pytest.mark.parametrize("convert", CONVERSIONS)
def test_non_finite_values_pass_through_without_warnings(convert) -> None:
    lon, lat = convert([np.nan, np.inf, 116.404], [39.9, 39.9, np.nan])
    assert np.isnan(lon[0]) and np.isinf(lon[1]) and np.isnan(lat[2])
    assert np.isfinite(lat[:2]).all()


def test_inputs_are_not_modified() -> None:
    lon, lat = np.array([116.404]), np.array([39.915])
    gcj02_to_wgs84(lon, lat)
    bd09_to_wgs84(lon, lat)
    assert lon[0] == 116.404 and lat[0] == 39.915


def test_mismatched_shapes_raise_coordinate_error() -> None:
    with pytest.raises(CoordinateError, match="matching shape"):
        wgs84_to_gcj02([1.0, 2.0], [1.0, 2.0, 3.0])


# ------------------------------------------------------------------ parse_crs and to_plan_lonlat


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("gcj02", "gcj02"),
        ("GCJ-02", "gcj02"),
        ("AMap", "gcj02"),
        ("bd09", "bd09"),
        ("BD-09", "bd09"),
        ("baidu", "bd09"),
    ],
)
def test_parse_crs_phone_map_aliases(value, expected) -> None:
    assert parse_crs(value) == expected


@pytest.mark.parametrize(
    ("value", "epsg"),
    [
        ("wgs84", 4326),
        ("WGS 84", 4326),
        ("CGCS2000", 4490),
        ("EPSG:4326", 4326),
        ("epsg:4547", 4547),
        (4490, 4490),
        (np.int64(4547), 4547),
        (CRS.from_epsg(32650), 32650),
    ],
)
def test_parse_crs_real_systems(value, epsg) -> None:
    parsed = parse_crs(value)
    assert isinstance(parsed, CRS) and parsed.to_epsg() == epsg


@pytest.mark.parametrize("value", ["mars", "gcj03", 99999999, True, "bd09mc", 3.5])
def test_parse_crs_unknown_lists_valid_aliases(value) -> None:
    with pytest.raises(CRSError) as info:
        parse_crs(value)
    if value != "bd09mc":
        for alias in ("'wgs84'", "'cgcs2000'", "'gcj02'", "'bd09'", "EPSG"):
            assert alias in str(info.value)


@pytest.mark.parametrize("crs", ["wgs84", "cgcs2000", "EPSG:4326", "EPSG:4490", 4326, 4490])
def test_to_plan_lonlat_keeps_lon_lat_order(crs) -> None:
    lon, lat = to_plan_lonlat([116.31, 121.5], [39.99, 31.2], crs)
    np.testing.assert_array_equal(lon, [116.31, 121.5])
    np.testing.assert_array_equal(lat, [39.99, 31.2])


def test_to_plan_lonlat_phone_maps() -> None:
    lon, lat = to_plan_lonlat(*COORDTRANSFORM_WGS84_TO_GCJ02, "gcj02")
    assert (float(lon), float(lat)) == pytest.approx(COORDTRANSFORM_INPUT, abs=1e-9)
    bd = wgs84_to_bd09(*COORDTRANSFORM_INPUT)
    lon, lat = to_plan_lonlat(*bd, "Baidu")
    assert (float(lon), float(lat)) == pytest.approx(COORDTRANSFORM_INPUT, abs=1e-9)


def test_to_plan_lonlat_from_gauss_kruger_metres_near_wuhan() -> None:
    wuhan = (114.305, 30.593)
    to_gk = Transformer.from_crs(4490, 4547, always_xy=True)
    easting, northing = to_gk.transform(*wuhan)
    # 0.305° east of CM 114E at 30.6°N is about 29 km east of the false easting 500 000 m
    assert 525_000 < easting < 535_000 and 3_380_000 < northing < 3_395_000
    lon, lat = to_plan_lonlat([easting], [northing], "EPSG:4547")
    assert (lon[0], lat[0]) == pytest.approx(wuhan, abs=1e-9)
    x, y = from_plan_lonlat(*wuhan, 4547)
    assert (float(x), float(y)) == pytest.approx((easting, northing), abs=1e-3)


@pytest.mark.parametrize("crs", [4214, 4610, 2383])  # Beijing 1954, Xian 1980, Xian 1980 GK
def test_to_plan_lonlat_warns_about_ballpark_datum_shifts(crs) -> None:
    x, y = (114.3, 30.6) if CRS.from_epsg(crs).is_geographic else (528_700.0, 3_386_000.0)
    with pytest.warns(UserWarning, match="七参数"):
        to_plan_lonlat(x, y, crs)
    with pytest.warns(UserWarning, match="Xian 1980|Beijing 1954"):
        from_plan_lonlat(114.3, 30.6, crs)


def test_to_plan_lonlat_unknown_crs() -> None:
    with pytest.raises(CRSError, match="gcj02"):
        to_plan_lonlat(116.3, 39.9, "huoxing")


@pytest.mark.parametrize("crs", ["wgs84", "cgcs2000", "gcj02", "bd09", 4547, "EPSG:3857"])
def test_from_plan_lonlat_inverts_to_plan_lonlat(crs) -> None:
    lon, lat = np.array([116.31, 114.3]), np.array([39.99, 30.6])
    back = to_plan_lonlat(*from_plan_lonlat(lon, lat, crs), crs)
    np.testing.assert_allclose(back[0], lon, atol=1e-9)
    np.testing.assert_allclose(back[1], lat, atol=1e-9)


# ------------------------------------------------------------------ coordinate sanity


def test_coordinate_problems() -> None:
    lon = [116.31, 39.99, np.nan, 116.3, 200.0, 116.3, -1.13, -75.0]
    lat = [39.99, 116.31, 39.9, np.inf, 0.0, 95.0, 52.63, 40.7]
    problems = coordinate_problems(lon, lat)
    assert problems.dtype == object and problems.shape == (8,)
    assert problems[0] is None
    assert "swapped" in problems[1] and "经纬度颠倒" in problems[1]
    assert "finite" in problems[2] and "finite" in problems[3]
    assert "longitude" in problems[4]
    assert "latitude" in problems[5] and "swapped" not in problems[5]
    assert problems[6] is None and problems[7] is None  # Leicester, New York: fine


def test_coordinate_problems_keeps_shape() -> None:
    assert coordinate_problems(116.3, 39.9).shape == ()
    assert coordinate_problems(np.zeros((2, 3)), np.zeros((2, 3))).shape == (2, 3)


def test_check_lonlat_swapped_message() -> None:
    with pytest.raises(CoordinateError) as info:
        check_lonlat(39.99, 116.31)
    assert str(info.value) == (
        "latitude and longitude look swapped (经纬度颠倒): got lon=39.99, lat=116.31; "
        "put longitude first"
    )


def test_check_lonlat_names_the_point_and_counts() -> None:
    with pytest.raises(CoordinateError) as info:
        check_lonlat([116.31, 116.31, 39.99], [39.99, np.nan, 116.31])
    message = str(info.value)
    assert message.startswith("point 1: not a finite number (非有限数值)")
    assert "(2 of 3 points have problems)" in message


def test_check_lonlat_out_of_range_says_what_to_do() -> None:
    with pytest.raises(CoordinateError, match="to_plan_lonlat"):
        check_lonlat(528_700.0, 3_386_000.0)


def test_check_lonlat_accepts_good_points() -> None:
    assert check_lonlat([116.31, -1.13], [39.99, 52.63]) is None


# ------------------------------------------------------------------ layer_crs_problem


def layer(points, crs) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": range(len(points))}, geometry=[Point(p) for p in points], crs=crs
    )


BEIJING = [(116.30, 39.99), (116.32, 40.01)]
WUHAN_GK = [(528_700.0, 3_386_000.0), (530_000.0, 3_387_000.0)]  # EPSG:4547 metres


@pytest.mark.parametrize(
    ("points", "crs", "expected"),
    [
        (BEIJING, None, ["坐标系缺失", "EPSG:4490"]),
        (WUHAN_GK, None, ["坐标系缺失", "projected metres"]),
        ([(39.99, 116.30)], None, ["坐标系缺失", "经纬度颠倒"]),
        (WUHAN_GK, 4490, ["wrong CRS (坐标系错误)", "EPSG:4490", "set_crs"]),
        (WUHAN_GK, 4326, ["wrong CRS (坐标系错误)", "EPSG:4326"]),
        (BEIJING, 4547, ["wrong CRS (坐标系错误)", "degrees", "EPSG:4490"]),
        ([(39.99, 116.30), (40.01, 116.32)], 4490, ["经纬度颠倒", "swap x and y"]),
        ([(38_528_700.0, 3_386_000.0)], 4547, ["带号", "EPSG:4526"]),
        (WUHAN_GK, 4526, ["带号", "EPSG:4547"]),
    ],
)
def test_layer_crs_problem_finds(points, crs, expected) -> None:
    message = layer_crs_problem(layer(points, crs))
    assert message is not None
    for part in expected:
        assert part in message


@pytest.mark.parametrize(
    ("points", "crs"),
    [
        (BEIJING, 4490),
        (BEIJING, 4326),
        (WUHAN_GK, 4547),
        ([(38_528_700.0, 3_386_000.0)], 4526),
        ([(-1.13, 52.63)], 4326),  # Leicester: outside China, not swapped
        ([(630_000.0, 5_832_000.0)], 32630),
    ],
)
def test_layer_crs_problem_accepts_sound_layers(points, crs) -> None:
    assert layer_crs_problem(layer(points, crs)) is None


def test_layer_crs_problem_on_empty_layers() -> None:
    assert layer_crs_problem(gpd.GeoSeries([], crs=4490)) is None
    assert layer_crs_problem(gpd.GeoSeries([Point()], crs=4490)) is None
    assert "坐标系缺失" in str(layer_crs_problem(gpd.GeoSeries([])))


# ------------------------------------------------------------------ metric CRS and area


def test_metric_crs_beijing_is_gauss_kruger_cm_117e() -> None:
    crs = metric_crs((116.2, 39.8, 116.4, 40.0))
    assert crs.to_epsg() == 4548
    assert crs.name == "CGCS2000 / 3-degree Gauss-Kruger CM 117E"


@pytest.mark.parametrize(
    ("lon", "epsg"),
    [
        (73.5, 4534),
        (75.0, 4534),
        (104.06, 4544),
        (106.4, 4544),
        (106.6, 4545),
        (114.3, 4547),
        (120.2, 4549),
        (135.0, 4554),
    ],
)
def test_metric_crs_nearest_central_meridian(lon, epsg) -> None:
    crs = metric_crs((lon, 30.0, lon, 30.0))
    assert crs.to_epsg() == epsg
    central_meridian = crs.coordinate_operation.params[1].value
    assert abs(central_meridian - lon) <= 1.5


def test_metric_crs_leicester_is_utm() -> None:
    crs = metric_crs((-1.2, 52.6, -1.0, 52.7))
    assert crs.to_epsg() == 32630
    assert crs.is_projected


def test_metric_crs_from_layers_in_any_crs() -> None:
    assert metric_crs(layer(BEIJING, 4490)).to_epsg() == 4548
    assert metric_crs(layer(WUHAN_GK, 4547).geometry).to_epsg() == 4547
    web_mercator = layer(BEIJING, 4326).to_crs(3857)
    assert metric_crs(web_mercator).to_epsg() == 4548


def test_metric_crs_rejects_bad_input() -> None:
    with pytest.raises(CRSError, match="坐标系缺失"):
        metric_crs(gpd.GeoSeries([Point(116.3, 39.9)]))
    with pytest.raises(CRSError, match="without geometries"):
        metric_crs(gpd.GeoSeries([], crs=4490))
    with pytest.raises(CRSError, match="坐标系错误"):
        metric_crs(layer(WUHAN_GK, 4490))
    with pytest.raises(CoordinateError, match="swapped"):
        metric_crs((39.8, 116.2, 40.0, 116.4))
    with pytest.raises(CoordinateError, match="four numbers"):
        metric_crs((116.2, 39.8, 116.4))
    with pytest.raises(CoordinateError, match="min ≤ max"):
        metric_crs((116.4, 39.8, 116.2, 40.0))


def test_to_metric() -> None:
    frame = layer(BEIJING, 4490)
    metric = to_metric(frame)
    assert metric.crs.to_epsg() == 4548
    assert metric.geometry.x.between(300_000, 700_000).all()
    assert frame.crs.to_epsg() == 4490  # input untouched


def test_area_m2_matches_projected_area() -> None:
    squares = [box(116.30, 39.99, 116.31, 40.00), box(114.30, 30.60, 114.32, 30.61)]
    areas = area_m2(squares)
    projected = gpd.GeoSeries(squares, crs=4490)
    for i, square in enumerate(squares):
        gk = projected.iloc[[i]].to_crs(metric_crs(square.bounds))
        assert areas[i] == pytest.approx(gk.area.iloc[0], rel=1e-3)


def test_area_m2_holes_orientation_and_other_types() -> None:
    outer = box(116.30, 39.99, 116.32, 40.01)
    inner = box(116.305, 39.995, 116.315, 40.005)
    with_hole = Polygon(outer.exterior.coords, [inner.exterior.coords])
    clockwise = Polygon(list(outer.exterior.coords)[::-1])
    areas = area_m2(
        gpd.GeoSeries([outer, with_hole, clockwise, Point(116.3, 39.9), None, Polygon()], crs=4490)
    )
    assert areas[1] == pytest.approx(areas[0] - area_m2([inner])[0], rel=1e-9)
    assert areas[2] == pytest.approx(areas[0], rel=1e-12)
    assert areas[3] == 0.0 and np.isnan(areas[4]) and areas[5] == 0.0
    assert area_m2([LineString([(116.3, 39.9), (116.4, 39.9)])])[0] == 0.0


def test_area_m2_converts_projected_series() -> None:
    square = gpd.GeoSeries([box(116.30, 39.99, 116.31, 40.00)], crs=4490)
    assert area_m2(square.to_crs(4548)) == pytest.approx(area_m2(square), rel=1e-6)
    assert area_m2(gpd.GeoDataFrame(geometry=square)) == pytest.approx(area_m2(square))
