"""Sanity checks of coordinates and layers: swapped lat/lon, ranges, a CRS that does not fit.

Each finding is told in English with the Chinese term in parentheses and says what to do.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import numpy.typing as npt
from pyproj import CRS

from geogrid.crs.phonemaps import float_arrays
from geogrid.crs.zones import (
    CHINA_BOUNDS,
    GK_FIRST_CM,
    GK_FIRST_EPSG,
    GK_FIRST_ZONE,
    GK_PREFIXED_FIRST_EPSG,
)
from geogrid.errors import CoordinateError

__all__ = ["check_lonlat", "coordinate_problems", "layer_crs_problem"]

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
    x, y = float_arrays(lon, lat)
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
    x, y = float_arrays(lon, lat)
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
    unprefixed = epsg is not None and GK_FIRST_EPSG <= epsg <= GK_FIRST_EPSG + 20
    prefixed = epsg is not None and GK_PREFIXED_FIRST_EPSG <= epsg <= GK_PREFIXED_FIRST_EPSG + 20
    if unprefixed and minx > 1e6:
        zone = int(minx // 1e6)
        suggestion = ""
        if GK_FIRST_ZONE <= zone <= GK_FIRST_ZONE + 20 and int(maxx // 1e6) == zone:
            suggestion = f"EPSG:{GK_PREFIXED_FIRST_EPSG + zone - GK_FIRST_ZONE}, "
        return (
            f"wrong CRS (坐标系错误): the layer says {name}, without zone prefix, but its "
            f"eastings ({minx:.0f}…{maxx:.0f}) carry a zone prefix (带号) {zone}; set "
            f"the prefixed zone CRS ({suggestion}CGCS2000 / 3-degree Gauss-Kruger zone "
            f"{zone}) with set_crs(..., allow_override=True)"
        )
    if prefixed and maxx < 1e6:
        assert epsg is not None
        cm = GK_FIRST_CM + 3 * (epsg - GK_PREFIXED_FIRST_EPSG)
        return (
            f"wrong CRS (坐标系错误): the layer says {name}, with zone prefix (带号), but its "
            f"eastings ({minx:.0f}…{maxx:.0f}) have none; set EPSG:"
            f"{GK_FIRST_EPSG + epsg - GK_PREFIXED_FIRST_EPSG} (CGCS2000 / 3-degree "
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
