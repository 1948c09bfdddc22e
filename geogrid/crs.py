"""Coordinate reference systems: conversion to plan coordinates, sanity checks, metric work.

Plans are stored in CGCS2000 lon/lat (:data:`geogrid.plan.PLAN_CRS`, EPSG:4490). Everything
that comes in — a phone's tap on AMap, a Baidu pick, a surveyor's Gauss–Krüger shapefile —
goes through :func:`to_plan_lonlat` first.

Three things this module settles for the whole product:

*Axis order.* Coordinates are always ``(lon, lat)`` / ``(x, y)``, whatever the official axis
order of the CRS (EPSG:4490 and EPSG:4326 are officially lat/lon; pyproj is always called
with ``always_xy=True``).

*WGS84 ≡ CGCS2000.* The two datums agree to a few centimetres, far below what grid work
needs, so a WGS84 lon/lat is taken as a CGCS2000 lon/lat unchanged (pyproj's own
"ballpark" transformation between them is the identity too).

*Phone-map coordinates.* GCJ-02 (AMap 高德, Tencent 腾讯) is WGS84 plus a deliberate,
position-dependent offset of a few hundred metres; BD-09 (Baidu 百度) is a further offset of
GCJ-02. The forward formulas are public; the inverses here are iterative and exact to
better than 1e-9 degrees (≈ 0.1 mm), not the common one-step approximation (which is off by
up to about 5 m for GCJ-02 and 0.2 m for BD-09). The GCJ-02 offset is only applied inside the conventional
rectangle lon 72.004–137.8347, lat 0.8293–55.8271 ("in China"); outside it GCJ-02 equals
WGS84. The BD-09 offset is applied everywhere, as Baidu does.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeAlias, overload

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import shapely
from pyproj import CRS, Geod, Transformer
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info
from pyproj.exceptions import CRSError as PyprojCRSError

from geogrid.errors import CoordinateError, CRSError
from geogrid.plan import PLAN_CRS

__all__ = [
    "CHINA_BOUNDS",
    "CRS_ALIASES",
    "CRSLike",
    "area_m2",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "check_lonlat",
    "coordinate_problems",
    "from_plan_lonlat",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "is_plan_lonlat",
    "layer_crs_problem",
    "metric_crs",
    "parse_crs",
    "to_metric",
    "to_plan_lonlat",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

CRSLike: TypeAlias = str | int | CRS
"""What a CRS argument accepts: an alias (see :data:`CRS_ALIASES`), ``"EPSG:4547"``-style
text or anything else pyproj understands, an EPSG code, or a :class:`pyproj.CRS`."""

CHINA_BOUNDS = (73.4, 18.1, 135.1, 53.6)
"""China's rough lon/lat extent ``(min_lon, min_lat, max_lon, max_lat)``, used to spot swapped
coordinates and to choose a Gauss–Krüger zone (the South China Sea islands lie outside it)."""

CRS_ALIASES: dict[str, str] = {
    "wgs84": "EPSG:4326",
    "cgcs2000": "EPSG:4490",
    "gcj02": "gcj02",
    "bd09": "bd09",
    "bd09ll": "bd09",
    "amap": "gcj02",
    "gaode": "gcj02",
    "tencent": "gcj02",
    "baidu": "bd09",
}
"""Case-insensitive names accepted for a CRS (``-``, ``_`` and spaces are ignored)."""

# Krasovsky 1940 ellipsoid, as used by the public GCJ-02 algorithm.
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
_GCJ_BOX = (72.004, 0.8293, 137.8347, 55.8271)  # the conventional "in China" rectangle
_BD_X_PI = math.pi * 3000.0 / 180.0
_BD_SHIFT = (0.0065, 0.006)
_TOLERANCE_DEG = 1e-9
_MAX_ITERATIONS = 30
_GK_FIRST_CM, _GK_LAST_CM, _GK_FIRST_EPSG = 75, 135, 4534  # 4534: CM 75E ... 4554: CM 135E
_GK_PREFIXED_FIRST_EPSG, _GK_FIRST_ZONE = 4513, 25  # 4513: zone 25 (CM 75E) ... 4533: zone 45
_CGCS2000_GEOD = Geod(ellps="GRS80")
_WGS84 = CRS.from_epsg(4326)

_Arrays: TypeAlias = tuple[np.ndarray, np.ndarray]
_Kernel: TypeAlias = Callable[[np.ndarray, np.ndarray], _Arrays]


# --------------------------------------------------------------------------- GCJ-02 / BD-09


@overload
def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> _Arrays: ...
def wgs84_to_gcj02(lon: Any, lat: Any) -> Any:
    """Convert WGS84 lon/lat to GCJ-02 (AMap 高德, Tencent 腾讯 maps).

    Parameters
    ----------
    lon, lat
        Longitude and latitude in degrees: scalars or broadcastable arrays.

    Returns
    -------
    tuple
        ``(lon, lat)`` in GCJ-02: floats for scalar input, arrays of the broadcast shape
        otherwise. Points outside the "in China" rectangle (lon 72.004–137.8347,
        lat 0.8293–55.8271) and non-finite values are returned unchanged.

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02(116.404, 39.915)
    >>> round(lon, 6), round(lat, 6)
    (116.410244, 39.916404)
    >>> wgs84_to_gcj02(-1.13, 52.63)  # Leicester: no offset outside China
    (-1.13, 52.63)
    """
    return _apply(_wgs84_to_gcj02, lon, lat)


@overload
def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> _Arrays: ...
def gcj02_to_wgs84(lon: Any, lat: Any) -> Any:
    """Convert GCJ-02 lon/lat to WGS84 by iterating the forward formula.

    The inverse has no closed form; the iteration stops when every point moves by less than
    1e-9 degrees (≈ 0.1 mm), at most 30 rounds (it converges in about four).

    Parameters
    ----------
    lon, lat
        GCJ-02 longitude and latitude in degrees: scalars or broadcastable arrays.

    Returns
    -------
    tuple
        ``(lon, lat)`` in WGS84, floats for scalars, arrays otherwise.

    Examples
    --------
    >>> lon, lat = gcj02_to_wgs84(116.41024449916938, 39.91640428150164)
    >>> round(lon, 9), round(lat, 9)
    (116.404, 39.915)
    """
    return _apply(_gcj02_to_wgs84, lon, lat)


@overload
def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> _Arrays: ...
def gcj02_to_bd09(lon: Any, lat: Any) -> Any:
    """Convert GCJ-02 lon/lat to BD-09 (Baidu 百度 maps).

    Parameters
    ----------
    lon, lat
        GCJ-02 longitude and latitude in degrees: scalars or broadcastable arrays.

    Returns
    -------
    tuple
        ``(lon, lat)`` in BD-09, floats for scalars, arrays otherwise.

    Examples
    --------
    >>> lon, lat = gcj02_to_bd09(116.404, 39.915)
    >>> round(lon, 6), round(lat, 6)
    (116.410369, 39.921337)
    """
    return _apply(_gcj02_to_bd09, lon, lat)


@overload
def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def bd09_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> _Arrays: ...
def bd09_to_gcj02(lon: Any, lat: Any) -> Any:
    """Convert BD-09 lon/lat to GCJ-02, iterating the forward formula to 1e-9 degrees.

    Parameters
    ----------
    lon, lat
        BD-09 longitude and latitude in degrees: scalars or broadcastable arrays.

    Returns
    -------
    tuple
        ``(lon, lat)`` in GCJ-02, floats for scalars, arrays otherwise.

    Examples
    --------
    >>> lon, lat = bd09_to_gcj02(116.41036949371029, 39.92133699351021)
    >>> round(lon, 9), round(lat, 9)
    (116.404, 39.915)
    """
    return _apply(_bd09_to_gcj02, lon, lat)


@overload
def wgs84_to_bd09(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> _Arrays: ...
def wgs84_to_bd09(lon: Any, lat: Any) -> Any:
    """Convert WGS84 lon/lat to BD-09 (through GCJ-02).

    Parameters
    ----------
    lon, lat
        WGS84 longitude and latitude in degrees: scalars or broadcastable arrays.

    Returns
    -------
    tuple
        ``(lon, lat)`` in BD-09, floats for scalars, arrays otherwise.

    Examples
    --------
    >>> lon, lat = wgs84_to_bd09([116.404, 121.5272106], [39.915, 31.1774276])
    >>> lon.shape, bool(lon[0] > 116.404)
    ((2,), True)
    """
    return _apply(_wgs84_to_bd09, lon, lat)


@overload
def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def bd09_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> _Arrays: ...
def bd09_to_wgs84(lon: Any, lat: Any) -> Any:
    """Convert BD-09 lon/lat to WGS84 (through GCJ-02, both steps exact inverses).

    Parameters
    ----------
    lon, lat
        BD-09 longitude and latitude in degrees: scalars or broadcastable arrays.

    Returns
    -------
    tuple
        ``(lon, lat)`` in WGS84, floats for scalars, arrays otherwise.

    Examples
    --------
    >>> lon, lat = bd09_to_wgs84(*wgs84_to_bd09(116.404, 39.915))
    >>> round(lon, 9), round(lat, 9)
    (116.404, 39.915)
    """
    return _apply(_bd09_to_wgs84, lon, lat)


def _apply(kernel: _Kernel, lon: Any, lat: Any) -> Any:
    x, y = _float_arrays(lon, lat)
    out_x, out_y = kernel(x, y)
    if out_x.ndim == 0:
        return float(out_x), float(out_y)
    return out_x, out_y


def _float_arrays(x: Any, y: Any) -> _Arrays:
    try:
        a, b = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    except (TypeError, ValueError) as exc:
        raise CoordinateError(
            f"coordinates must be numbers or arrays of numbers of matching shape: {exc}"
        ) from exc
    return a.copy(), b.copy()


def _gcj_offset(lon: np.ndarray, lat: np.ndarray) -> _Arrays:
    """GCJ-02 minus WGS84, in degrees, at WGS84 ``lon``/``lat`` (no box test)."""
    x = lon - 105.0
    y = lat - 35.0
    pi = math.pi
    common = (20.0 * np.sin(6.0 * pi * x) + 20.0 * np.sin(2.0 * pi * x)) * 2.0 / 3.0
    north = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * np.sqrt(np.abs(x))
        + common
        + (20.0 * np.sin(pi * y) + 40.0 * np.sin(pi * y / 3.0)) * 2.0 / 3.0
        + (160.0 * np.sin(pi * y / 12.0) + 320.0 * np.sin(pi * y / 30.0)) * 2.0 / 3.0
    )
    east = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * np.sqrt(np.abs(x))
        + common
        + (20.0 * np.sin(pi * x) + 40.0 * np.sin(pi * x / 3.0)) * 2.0 / 3.0
        + (150.0 * np.sin(pi * x / 12.0) + 300.0 * np.sin(pi * x / 30.0)) * 2.0 / 3.0
    )
    # metres on the Krasovsky ellipsoid -> degrees (meridian and prime-vertical radii)
    phi = np.radians(lat)
    w2 = 1.0 - _KRASOVSKY_EE * np.sin(phi) ** 2
    meridian = _KRASOVSKY_A * (1.0 - _KRASOVSKY_EE) / (w2 * np.sqrt(w2))
    prime_vertical = _KRASOVSKY_A / np.sqrt(w2)
    dlat = north * 180.0 / (meridian * pi)
    dlon = east * 180.0 / (prime_vertical * np.cos(phi) * pi)
    return dlon, dlat


def _in_gcj_box(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    west, south, east, north = _GCJ_BOX
    return (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)


def _wgs84_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> _Arrays:
    out_lon, out_lat = lon.copy(), lat.copy()
    inside = _in_gcj_box(lon, lat)  # False for NaN and inf
    dlon, dlat = _gcj_offset(lon[inside], lat[inside])
    out_lon[inside] += dlon
    out_lat[inside] += dlat
    return out_lon, out_lat


def _gcj02_to_bd09(lon: np.ndarray, lat: np.ndarray) -> _Arrays:
    out_lon, out_lat = lon.copy(), lat.copy()
    ok = np.isfinite(lon) & np.isfinite(lat)
    x, y = lon[ok], lat[ok]
    radius = np.hypot(x, y) + 0.00002 * np.sin(y * _BD_X_PI)
    angle = np.arctan2(y, x) + 0.000003 * np.cos(x * _BD_X_PI)
    out_lon[ok] = radius * np.cos(angle) + _BD_SHIFT[0]
    out_lat[ok] = radius * np.sin(angle) + _BD_SHIFT[1]
    return out_lon, out_lat


def _invert(forward: _Kernel, lon: np.ndarray, lat: np.ndarray) -> _Arrays:
    """Solve ``forward(p) = (lon, lat)`` by fixed-point iteration ``p -= forward(p) - target``.

    Both offsets change by well under 1 % per degree, so each round gains about two digits.
    """
    shape = lon.shape
    lon, lat = lon.reshape(-1), lat.reshape(-1)
    src_lon, src_lat = lon.copy(), lat.copy()
    active = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))
    for _ in range(_MAX_ITERATIONS):
        if active.size == 0:
            break
        fwd_lon, fwd_lat = forward(src_lon[active], src_lat[active])
        err_lon = fwd_lon - lon[active]
        err_lat = fwd_lat - lat[active]
        src_lon[active] -= err_lon
        src_lat[active] -= err_lat
        moving = np.maximum(np.abs(err_lon), np.abs(err_lat)) >= _TOLERANCE_DEG
        active = active[moving]
    return src_lon.reshape(shape), src_lat.reshape(shape)


def _gcj02_to_wgs84(lon: np.ndarray, lat: np.ndarray) -> _Arrays:
    return _invert(_wgs84_to_gcj02, lon, lat)


def _bd09_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> _Arrays:
    return _invert(_gcj02_to_bd09, lon, lat)


def _wgs84_to_bd09(lon: np.ndarray, lat: np.ndarray) -> _Arrays:
    return _gcj02_to_bd09(*_wgs84_to_gcj02(lon, lat))


def _bd09_to_wgs84(lon: np.ndarray, lat: np.ndarray) -> _Arrays:
    return _gcj02_to_wgs84(*_bd09_to_gcj02(lon, lat))


# --------------------------------------------------------------------------- CRS entry point


_CRS_HINT = (
    "use one of "
    + ", ".join(repr(a) for a in ("wgs84", "cgcs2000", "gcj02", "bd09"))
    + " (also "
    + ", ".join(repr(a) for a in CRS_ALIASES if a not in ("wgs84", "cgcs2000", "gcj02", "bd09"))
    + "), an EPSG code such as 4547 or 'EPSG:4547', or a pyproj.CRS"
)


def parse_crs(value: CRSLike) -> CRS | Literal["gcj02", "bd09"]:
    """Read a CRS argument: an alias, an EPSG code, CRS text or a :class:`pyproj.CRS`.

    Parameters
    ----------
    value
        ``"wgs84"``, ``"cgcs2000"``, ``"gcj02"``, ``"bd09"`` (any case; ``"GCJ-02"``,
        ``"amap"``, ``"baidu"`` … see :data:`CRS_ALIASES`), ``"EPSG:4547"`` or other text
        pyproj reads, an EPSG ``int``, or a :class:`pyproj.CRS`.

    Returns
    -------
    pyproj.CRS or str
        A :class:`pyproj.CRS`, or the string ``"gcj02"`` / ``"bd09"`` for the phone-map
        systems, which have no EPSG code.

    Raises
    ------
    CRSError
        When the value is none of these; the message lists the aliases.

    Examples
    --------
    >>> parse_crs("GCJ-02"), parse_crs("Baidu")
    ('gcj02', 'bd09')
    >>> parse_crs("cgcs2000").to_epsg(), parse_crs(4547).name
    (4490, 'CGCS2000 / 3-degree Gauss-Kruger CM 114E')
    """
    if isinstance(value, CRS):
        return value
    if isinstance(value, bool):  # bool is an int; True is no EPSG code
        raise CRSError(f"{value!r} is not a coordinate reference system; {_CRS_HINT}")
    if isinstance(value, int | np.integer):
        try:
            return CRS.from_epsg(int(value))
        except PyprojCRSError as exc:
            raise CRSError(f"EPSG:{value} is not a known EPSG code; {_CRS_HINT}") from exc
    if isinstance(value, str):
        key = "".join(value.lower().split()).replace("-", "").replace("_", "")
        alias = CRS_ALIASES.get(key)
        if alias == "gcj02":
            return "gcj02"
        if alias == "bd09":
            return "bd09"
        if alias is not None:
            return CRS.from_user_input(alias)
        if key == "bd09mc":
            raise CRSError(
                "Baidu Mercator (bd09mc, 百度墨卡托) is not supported; ask the Baidu API for "
                "bd09ll lon/lat (coordtype=bd09ll) and pass crs='bd09'"
            )
    try:
        return CRS.from_user_input(value)
    except (PyprojCRSError, TypeError, ValueError) as exc:
        raise CRSError(f"unknown coordinate reference system {value!r}; {_CRS_HINT}") from exc


def to_plan_lonlat(x: npt.ArrayLike, y: npt.ArrayLike, crs: CRSLike) -> _Arrays:
    """Convert coordinates in ``crs`` to plan coordinates: CGCS2000 (EPSG:4490) lon/lat.

    Parameters
    ----------
    x, y
        Longitude and latitude for geographic systems (always in that order, whatever the
        CRS's official axis order), easting and northing for projected ones; scalars or
        broadcastable arrays.
    crs
        See :func:`parse_crs`. WGS84 and CGCS2000 lon/lat pass through unchanged; GCJ-02
        and BD-09 are inverted exactly; anything else goes through pyproj.

    Returns
    -------
    tuple of numpy.ndarray
        ``(lon, lat)`` of the broadcast input shape (0-d arrays for scalar input). The
        values are not checked: see :func:`check_lonlat`.

    Raises
    ------
    CRSError
        For an unknown ``crs``.

    Warns
    -----
    UserWarning
        When ``crs`` is on a datum PROJ cannot shift to CGCS2000 accurately (Beijing 1954,
        Xian 1980 and their Gauss–Krüger zones): the result may be tens of metres off.

    Examples
    --------
    >>> lon, lat = to_plan_lonlat([116.41024449916938], [39.91640428150164], "gcj02")
    >>> round(float(lon[0]), 6), round(float(lat[0]), 6)
    (116.404, 39.915)
    >>> lon, lat = to_plan_lonlat(116.404, 39.915, "EPSG:4326")  # no axis swap
    >>> float(lon), float(lat)
    (116.404, 39.915)
    """
    lon, lat = _float_arrays(x, y)
    target = parse_crs(crs)
    if isinstance(target, str) and target == "gcj02":  # CRS.__eq__ would parse "gcj02": slow
        return _gcj02_to_wgs84(lon, lat)
    if isinstance(target, str) and target == "bd09":  # CRS.__eq__ would parse "bd09": slow
        return _bd09_to_wgs84(lon, lat)
    assert isinstance(target, CRS)
    if _is_wgs84_or_cgcs2000_lonlat(target):
        return lon, lat
    transformer = _transformer(target, PLAN_CRS, datum_of=target)
    out_lon, out_lat = transformer.transform(lon, lat)
    return np.asarray(out_lon, dtype=float), np.asarray(out_lat, dtype=float)


def from_plan_lonlat(lon: npt.ArrayLike, lat: npt.ArrayLike, crs: CRSLike) -> _Arrays:
    """Convert plan lon/lat (EPSG:4490) to ``crs``; the inverse of :func:`to_plan_lonlat`.

    Use it to show plan geometries on a GCJ-02 (AMap, Tencent) or BD-09 (Baidu) base map.

    Parameters
    ----------
    lon, lat
        CGCS2000 longitude and latitude: scalars or broadcastable arrays.
    crs
        See :func:`parse_crs`.

    Returns
    -------
    tuple of numpy.ndarray
        ``(x, y)`` in ``crs`` (lon/lat order for geographic systems).

    Examples
    --------
    >>> x, y = from_plan_lonlat(116.404, 39.915, "amap")
    >>> round(float(x), 6), round(float(y), 6)
    (116.410244, 39.916404)
    """
    x, y = _float_arrays(lon, lat)
    target = parse_crs(crs)
    if isinstance(target, str) and target == "gcj02":  # CRS.__eq__ would parse "gcj02": slow
        return _wgs84_to_gcj02(x, y)
    if isinstance(target, str) and target == "bd09":  # CRS.__eq__ would parse "bd09": slow
        return _wgs84_to_bd09(x, y)
    assert isinstance(target, CRS)
    if _is_wgs84_or_cgcs2000_lonlat(target):
        return x, y
    transformer = _transformer(PLAN_CRS, target, datum_of=target)
    out_x, out_y = transformer.transform(x, y)
    return np.asarray(out_x, dtype=float), np.asarray(out_y, dtype=float)


def _transformer(source: CRS, target: CRS, *, datum_of: CRS) -> Transformer:
    """A lon/lat-ordered transformer; warns when PROJ has only a ballpark datum shift."""
    transformer = Transformer.from_crs(source, target, always_xy=True)
    geodetic = datum_of.geodetic_crs
    if (
        "Ballpark" in transformer.description
        and geodetic is not None
        and not _is_wgs84_or_cgcs2000_lonlat(geodetic)
    ):
        warnings.warn(
            f"no accurate datum transformation between {geodetic.name} and CGCS2000 is "
            "available, so PROJ ignores the datum shift (errors of tens of metres or more); "
            "get the data in CGCS2000 (EPSG:4490, or a CGCS2000 Gauss–Krüger zone "
            "EPSG:4534–4554) from its provider, or convert it first with the local "
            "transformation parameters (七参数)",
            UserWarning,
            stacklevel=3,
        )
    return transformer


def is_plan_lonlat(crs: CRSLike) -> bool:
    """Whether coordinates in ``crs`` are plan lon/lat as they are: WGS84 or CGCS2000 degrees.

    Examples
    --------
    >>> is_plan_lonlat("wgs84"), is_plan_lonlat(4490), is_plan_lonlat("gcj02"), is_plan_lonlat(4547)
    (True, True, False, False)
    """
    parsed = parse_crs(crs)
    return isinstance(parsed, CRS) and _is_wgs84_or_cgcs2000_lonlat(parsed)


def _is_wgs84_or_cgcs2000_lonlat(crs: CRS) -> bool:
    return crs.is_geographic and (
        crs.equals(PLAN_CRS, ignore_axis_order=True) or crs.equals(_WGS84, ignore_axis_order=True)
    )


# --------------------------------------------------------------------------- sanity checks

_NOT_FINITE = "not a finite number (非有限数值)"
_SWAPPED = "latitude and longitude look swapped (经纬度颠倒)"
_LAT_RANGE = "latitude outside -90..90 (纬度超出范围)"
_LON_RANGE = "longitude outside -180..180 (经度超出范围)"


def coordinate_problems(lon: npt.ArrayLike, lat: npt.ArrayLike) -> np.ndarray:
    """Find what is wrong with each lon/lat pair, if anything.

    Checks, in this order: non-finite values; latitude and longitude swapped (the point lies
    outside China's rough extent :data:`CHINA_BOUNDS` but the swapped point lies inside);
    latitude beyond ±90; longitude beyond ±180.

    Parameters
    ----------
    lon, lat
        Longitude and latitude in degrees: scalars or broadcastable arrays.

    Returns
    -------
    numpy.ndarray
        An object array of the broadcast shape holding ``None`` for a sound point or a short
        reason string (``"latitude and longitude look swapped (经纬度颠倒)"`` …).

    Examples
    --------
    >>> problems = coordinate_problems([116.31, 39.99, 116.3, 200.0], [39.99, 116.31, None, 0])
    >>> for problem in problems:
    ...     print(problem)
    None
    latitude and longitude look swapped (经纬度颠倒)
    not a finite number (非有限数值)
    longitude outside -180..180 (经度超出范围)
    """
    x, y = _float_arrays(lon, lat)
    out = np.full(x.shape, None, dtype=object)
    finite = np.isfinite(x) & np.isfinite(y)
    swapped = finite & ~_in_china(x, y) & _in_china(y, x)
    lat_bad = finite & ~swapped & (np.abs(y) > 90.0)
    lon_bad = finite & ~swapped & ~lat_bad & (np.abs(x) > 180.0)
    out[~finite] = _NOT_FINITE
    out[swapped] = _SWAPPED
    out[lat_bad] = _LAT_RANGE
    out[lon_bad] = _LON_RANGE
    return out


def check_lonlat(lon: npt.ArrayLike, lat: npt.ArrayLike) -> None:
    """Raise :class:`~geogrid.errors.CoordinateError` for the first bad lon/lat pair.

    Parameters
    ----------
    lon, lat
        Longitude and latitude in degrees: scalars or broadcastable arrays.

    Raises
    ------
    CoordinateError
        Naming the problem, the values, what to do, and (for arrays) the point's index and
        how many points have problems. See :func:`coordinate_problems` for the checks.

    Examples
    --------
    >>> check_lonlat([116.31, 116.32], [39.99, 39.98])  # fine: returns None
    >>> check_lonlat(39.99, 116.31)
    Traceback (most recent call last):
    ...
    geogrid.errors.CoordinateError: latitude and longitude look swapped (经纬度颠倒): got lon=39.99, lat=116.31; put longitude first
    """
    x, y = _float_arrays(lon, lat)
    problems = coordinate_problems(x, y)
    bad = np.flatnonzero(problems.ravel().astype(bool))  # None -> False, a reason -> True
    if bad.size == 0:
        return
    first = int(bad[0])
    got_x, got_y = float(x.ravel()[first]), float(y.ravel()[first])
    reason = str(problems.ravel()[first])
    got = f"got lon={got_x:.10g}, lat={got_y:.10g}"
    advice = {
        _NOT_FINITE: "fill in the coordinate or drop the point",
        _SWAPPED: "put longitude first",
        _LAT_RANGE: "check the column order, and convert projected metres with "
        "to_plan_lonlat(x, y, crs)",
        _LON_RANGE: "check the column order, and convert projected metres with "
        "to_plan_lonlat(x, y, crs)",
    }[reason]
    message = f"{reason}: {got}; {advice}"
    if x.ndim > 0:
        index = np.unravel_index(first, x.shape)
        where = int(index[0]) if len(index) == 1 else tuple(int(i) for i in index)
        message = f"point {where}: {message}"
        if bad.size > 1:
            message += f" ({bad.size} of {x.size} points have problems)"
    raise CoordinateError(message)


def _in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    west, south, east, north = CHINA_BOUNDS
    return (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)


def layer_crs_problem(frame: gpd.GeoDataFrame | gpd.GeoSeries) -> str | None:
    """Say what is wrong with the CRS of a layer read from a file, if anything.

    Detects a missing CRS; a geographic CRS whose coordinates are clearly projected metres;
    a projected CRS whose coordinates look like degrees; a Gauss–Krüger CRS without zone
    prefix (带号) on coordinates with one, or the reverse; and a whole layer with latitude
    and longitude swapped. Only the layer's bounds are looked at, so this is cheap.

    Parameters
    ----------
    frame
        A GeoDataFrame or GeoSeries as read (not yet converted).

    Returns
    -------
    str or None
        A message for the planner, in English with the Chinese term in parentheses, saying
        what to do; ``None`` when nothing looks wrong.

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> layer = gpd.GeoSeries([Point(528_700, 3_386_000)], crs=4490)
    >>> print(layer_crs_problem(layer))  # doctest: +ELLIPSIS
    wrong CRS (坐标系错误): the layer says EPSG:4490 (China Geodetic ...), in degrees, but ...
    >>> layer_crs_problem(gpd.GeoSeries([Point(116.3, 39.9)], crs=4490)) is None
    True
    """
    crs = None if frame.crs is None else CRS(frame.crs)
    geoms = frame.geometry if isinstance(frame, gpd.GeoDataFrame) else frame
    present = geoms[~(geoms.isna() | geoms.is_empty)]
    bounds = present.total_bounds if len(present) else np.full(4, np.nan)
    has_bounds = bool(np.isfinite(bounds).all())
    degrees = has_bounds and _look_like_degrees(bounds)
    swapped = has_bounds and _look_swapped(bounds)
    if crs is None:
        if not has_bounds:
            return (
                "the layer has no coordinate reference system (坐标系缺失); "
                "set the CRS the data was drawn in, e.g. EPSG:4490 for CGCS2000 lon/lat"
            )
        if swapped:
            return (
                "the layer has no coordinate reference system (坐标系缺失) and its latitude "
                "and longitude look swapped (经纬度颠倒); swap x and y, then set EPSG:4490 "
                "(CGCS2000 lon/lat)"
            )
        if degrees:
            return (
                "the layer has no coordinate reference system (坐标系缺失); its coordinates "
                "look like lon/lat degrees: set EPSG:4490 (CGCS2000) or EPSG:4326 (WGS84), "
                "or 'gcj02' / 'bd09' if they were picked on AMap / Baidu maps"
            )
        return (
            "the layer has no coordinate reference system (坐标系缺失); its coordinates "
            f"look like projected metres ({_fmt_bounds(bounds)}): set the CRS the data was "
            "drawn in, e.g. EPSG:4547 for CGCS2000 3-degree Gauss–Krüger CM 114E — ask the "
            "data provider (a .prj file is missing)"
        )
    if not has_bounds:
        return None
    name = _crs_label(crs)
    if crs.is_geographic:
        if swapped:
            return (
                f"latitude and longitude look swapped (经纬度颠倒): the layer says {name}, "
                f"but its bounds are {_fmt_bounds(bounds)}; swap x and y (longitude first)"
            )
        if not degrees:
            return (
                f"wrong CRS (坐标系错误): the layer says {name}, in degrees, but its "
                f"coordinates reach {_fmt_bounds(bounds)}, which are projected metres; "
                "set the CRS the data was really drawn in (e.g. a CGCS2000 Gauss–Krüger zone, "
                "EPSG:4534–4554) with set_crs(..., allow_override=True), not to_crs"
            )
        return None
    if degrees:
        return (
            f"wrong CRS (坐标系错误): the layer says {name}, a projected CRS in metres, but "
            f"its coordinates look like lon/lat degrees ({_fmt_bounds(bounds)}); set "
            "EPSG:4490 (CGCS2000 lon/lat) with set_crs(..., allow_override=True), not to_crs"
        )
    return _zone_prefix_problem(crs, bounds, name)


def _look_like_degrees(bounds: np.ndarray) -> bool:
    minx, miny, maxx, maxy = bounds
    return bool(max(abs(minx), abs(maxx)) <= 180.0 and max(abs(miny), abs(maxy)) <= 90.0)


def _look_swapped(bounds: np.ndarray) -> bool:
    minx, miny, maxx, maxy = bounds
    corners_x, corners_y = np.array([minx, maxx]), np.array([miny, maxy])
    return bool(_in_china(corners_y, corners_x).all() and not _in_china(corners_x, corners_y).any())


def _zone_prefix_problem(crs: CRS, bounds: np.ndarray, name: str) -> str | None:
    epsg = crs.to_epsg()
    minx, _, maxx, _ = bounds
    unprefixed = epsg is not None and _GK_FIRST_EPSG <= epsg <= _GK_FIRST_EPSG + 20
    prefixed = epsg is not None and _GK_PREFIXED_FIRST_EPSG <= epsg <= _GK_PREFIXED_FIRST_EPSG + 20
    if unprefixed and minx > 1e6:
        zone = int(minx // 1e6)
        suggestion = ""
        if _GK_FIRST_ZONE <= zone <= _GK_FIRST_ZONE + 20 and int(maxx // 1e6) == zone:
            suggestion = f"EPSG:{_GK_PREFIXED_FIRST_EPSG + zone - _GK_FIRST_ZONE}, "
        return (
            f"wrong CRS (坐标系错误): the layer says {name}, without zone prefix, but its "
            f"eastings ({minx:.0f}…{maxx:.0f}) carry a zone prefix (带号) {zone}; set "
            f"the prefixed zone CRS ({suggestion}CGCS2000 / 3-degree Gauss-Kruger zone "
            f"{zone}) with set_crs(..., allow_override=True)"
        )
    if prefixed and maxx < 1e6:
        assert epsg is not None
        cm = _GK_FIRST_CM + 3 * (epsg - _GK_PREFIXED_FIRST_EPSG)
        return (
            f"wrong CRS (坐标系错误): the layer says {name}, with zone prefix (带号), but its "
            f"eastings ({minx:.0f}…{maxx:.0f}) have none; set EPSG:"
            f"{_GK_FIRST_EPSG + epsg - _GK_PREFIXED_FIRST_EPSG} (CGCS2000 / 3-degree "
            f"Gauss-Kruger CM {cm}E) with set_crs(..., allow_override=True)"
        )
    return None


def _crs_label(crs: CRS) -> str:
    authority = crs.to_authority()
    if authority is None:
        return repr(crs.name)
    return f"{authority[0]}:{authority[1]} ({crs.name})"


def _fmt_bounds(bounds: np.ndarray) -> str:
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    return f"x {minx:.10g}…{maxx:.10g}, y {miny:.10g}…{maxy:.10g}"


# --------------------------------------------------------------------------- metric work

_Bounds: TypeAlias = tuple[float, float, float, float]


def metric_crs(geoms_or_bounds: gpd.GeoSeries | gpd.GeoDataFrame | Sequence[float]) -> CRS:
    """Choose a projected CRS in metres for the data.

    The CGCS2000 3-degree Gauss–Krüger zone without zone prefix (EPSG:4534 CM 75E …
    EPSG:4554 CM 135E) whose central meridian is nearest the centre of the data, when the
    centre lies in China's longitude range (:data:`CHINA_BOUNDS`) north of the equator;
    the WGS 84 UTM zone of the centre otherwise. Within a zone (±1.5° of the central
    meridian) lengths are true to 1/2,500 or better.

    Parameters
    ----------
    geoms_or_bounds
        A GeoSeries or GeoDataFrame in any CRS (it must have one), or lon/lat bounds
        ``(min_lon, min_lat, max_lon, max_lat)``.

    Returns
    -------
    pyproj.CRS

    Raises
    ------
    CRSError
        For a layer without CRS or without any geometry.
    CoordinateError
        For bounds that are not finite lon/lat in order.

    Examples
    --------
    >>> metric_crs((116.2, 39.8, 116.5, 40.0)).to_epsg()  # Beijing: CM 117E
    4548
    >>> metric_crs((-1.2, 52.6, -1.0, 52.7)).name  # Leicester
    'WGS 84 / UTM zone 30N'
    """
    west, south, east, north = _lonlat_bounds(geoms_or_bounds)
    lon, lat = (west + east) / 2.0, (south + north) / 2.0
    china_west, _, china_east, _ = CHINA_BOUNDS
    if china_west <= lon <= china_east and 0.0 <= lat < 84.0:
        cm = min(max(3 * round(lon / 3.0), _GK_FIRST_CM), _GK_LAST_CM)
        return CRS.from_epsg(_GK_FIRST_EPSG + (cm - _GK_FIRST_CM) // 3)
    found = query_utm_crs_info(
        datum_name="WGS 84", area_of_interest=AreaOfInterest(lon, lat, lon, lat)
    )
    if not found:  # only near the poles
        raise CRSError(
            f"no UTM zone covers lon={lon:.6g}, lat={lat:.6g}; give a projected CRS yourself"
        )
    return CRS.from_authority(found[0].auth_name, found[0].code)


def to_metric(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return ``frame`` in the metric CRS :func:`metric_crs` chooses for it.

    Parameters
    ----------
    frame
        A GeoDataFrame with a CRS.

    Returns
    -------
    geopandas.GeoDataFrame
        A converted copy.

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> frame = gpd.GeoDataFrame(geometry=[Point(114.3, 30.6)], crs=4490)  # Wuhan
    >>> to_metric(frame).crs.to_epsg()
    4547
    """
    return frame.to_crs(metric_crs(frame))


def area_m2(geoms_lonlat: gpd.GeoSeries | gpd.GeoDataFrame | npt.ArrayLike) -> np.ndarray:
    """Geodesic area in square metres of lon/lat geometries, on the CGCS2000 ellipsoid.

    Exact whatever the size or place of the polygons (no projection); holes are subtracted,
    orientation does not matter; points and lines have area 0, missing geometries NaN.

    Parameters
    ----------
    geoms_lonlat
        A GeoSeries or GeoDataFrame (converted to EPSG:4490 first if it has another CRS),
        or an array of shapely geometries in lon/lat degrees.

    Returns
    -------
    numpy.ndarray
        Float areas, one per geometry.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> area_m2([box(116.30, 39.99, 116.31, 40.00)]).round(-3)  # about 854 m × 1,110 m
    array([948000.])
    """
    if isinstance(geoms_lonlat, gpd.GeoDataFrame):
        geoms_lonlat = geoms_lonlat.geometry
    if isinstance(geoms_lonlat, gpd.GeoSeries):
        if geoms_lonlat.crs is not None and not _is_wgs84_or_cgcs2000_lonlat(CRS(geoms_lonlat.crs)):
            geoms_lonlat = geoms_lonlat.to_crs(PLAN_CRS)
        geoms = np.asarray(geoms_lonlat.array, dtype=object)
    else:
        geoms = np.asarray(geoms_lonlat, dtype=object)
    out = np.full(geoms.shape, np.nan)
    present = ~shapely.is_missing(geoms)
    oriented = shapely.orient_polygons(geoms[present])  # exteriors CCW, holes CW
    out[present] = [
        abs(_CGCS2000_GEOD.geometry_area_perimeter(g)[0])
        if shapely.get_dimensions(g) == 2 and not shapely.is_empty(g)
        else 0.0
        for g in oriented
    ]
    return out


def _lonlat_bounds(value: gpd.GeoSeries | gpd.GeoDataFrame | Sequence[float]) -> _Bounds:
    if isinstance(value, gpd.GeoDataFrame | gpd.GeoSeries):
        if value.crs is None:
            raise CRSError(
                "the layer has no coordinate reference system (坐标系缺失); set one with "
                "set_crs(...) before choosing a metric CRS"
            )
        geoms = value.geometry if isinstance(value, gpd.GeoDataFrame) else value
        present = geoms[~(geoms.isna() | geoms.is_empty)]
        if len(present) == 0:
            raise CRSError("cannot choose a metric CRS for a layer without geometries")
        minx, miny, maxx, maxy = present.total_bounds
        crs = CRS(value.crs)
        if not _is_wgs84_or_cgcs2000_lonlat(crs):
            transformer = Transformer.from_crs(crs, PLAN_CRS, always_xy=True)
            minx, miny, maxx, maxy = transformer.transform_bounds(minx, miny, maxx, maxy)
        problem = layer_crs_problem(value)
        if problem is not None:
            raise CRSError(problem)
        bounds = (float(minx), float(miny), float(maxx), float(maxy))
    else:
        try:
            values = [float(v) for v in value]
        except (TypeError, ValueError) as exc:
            raise CoordinateError(
                "bounds must be four numbers (min_lon, min_lat, max_lon, max_lat)"
            ) from exc
        if len(values) != 4:
            raise CoordinateError(
                f"bounds must be four numbers (min_lon, min_lat, max_lon, max_lat), "
                f"got {len(values)}"
            )
        bounds = (values[0], values[1], values[2], values[3])
    west, south, east, north = bounds
    check_lonlat([west, east], [south, north])
    if not (west <= east and south <= north):
        raise CoordinateError(
            f"bounds must be (min_lon, min_lat, max_lon, max_lat) with min ≤ max, got {bounds}"
        )
    return bounds
