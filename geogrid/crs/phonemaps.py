"""GCJ-02 (AMap 高德, Tencent 腾讯) and BD-09 (Baidu 百度) lon/lat to and from WGS84.

The forward offsets are the public formulas; the inverses iterate them to 1e-9 degrees. What
the offsets are and where they apply: see :mod:`geogrid.crs`. The public functions take scalars
or arrays; the ``*_arrays`` kernels, for the rest of :mod:`geogrid.crs`, take the float arrays
:func:`float_arrays` makes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeAlias, overload

import numpy as np
import numpy.typing as npt

from geogrid.errors import CoordinateError

__all__ = [
    "Arrays",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "bd09_to_wgs84_arrays",
    "float_arrays",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "gcj02_to_wgs84_arrays",
    "wgs84_to_bd09",
    "wgs84_to_bd09_arrays",
    "wgs84_to_gcj02",
    "wgs84_to_gcj02_arrays",
]

# Krasovsky 1940 ellipsoid, as used by the public GCJ-02 algorithm.
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
_GCJ_BOX = (72.004, 0.8293, 137.8347, 55.8271)  # the conventional "in China" rectangle
_BD_X_PI = math.pi * 3000.0 / 180.0
_BD_SHIFT = (0.0065, 0.006)
_TOLERANCE_DEG = 1e-9
_MAX_ITERATIONS = 30

Arrays: TypeAlias = tuple[np.ndarray, np.ndarray]
"""A pair of float arrays of one shape: ``(lon, lat)`` or ``(x, y)``."""

_Kernel: TypeAlias = Callable[[np.ndarray, np.ndarray], Arrays]


@overload
def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> Arrays: ...
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
    return _apply(wgs84_to_gcj02_arrays, lon, lat)


@overload
def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> Arrays: ...
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
    return _apply(gcj02_to_wgs84_arrays, lon, lat)


@overload
def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> Arrays: ...
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
def bd09_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> Arrays: ...
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
def wgs84_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> Arrays: ...
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
    return _apply(wgs84_to_bd09_arrays, lon, lat)


@overload
def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def bd09_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> Arrays: ...
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
    return _apply(bd09_to_wgs84_arrays, lon, lat)


def _apply(kernel: _Kernel, lon: Any, lat: Any) -> Any:
    x, y = float_arrays(lon, lat)
    out_x, out_y = kernel(x, y)
    if out_x.ndim == 0:
        return float(out_x), float(out_y)
    return out_x, out_y


def float_arrays(x: Any, y: Any) -> Arrays:
    """Copies of ``x`` and ``y`` as float arrays broadcast to one shape.

    Parameters
    ----------
    x, y
        Numbers or arrays of numbers of broadcastable shapes.

    Returns
    -------
    tuple of numpy.ndarray
        Writable float arrays of the broadcast shape (0-d for scalars).

    Raises
    ------
    CoordinateError
        When the values are not numbers or the shapes do not match.
    """
    try:
        a, b = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    except (TypeError, ValueError) as exc:
        raise CoordinateError(
            f"coordinates must be numbers or arrays of numbers of matching shape: {exc}"
        ) from exc
    return a.copy(), b.copy()


def _gcj_offset(lon: np.ndarray, lat: np.ndarray) -> Arrays:
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


def wgs84_to_gcj02_arrays(lon: np.ndarray, lat: np.ndarray) -> Arrays:
    """WGS84 -> GCJ-02 of float arrays, into new arrays; :func:`wgs84_to_gcj02` for any input."""
    out_lon, out_lat = lon.copy(), lat.copy()
    inside = _in_gcj_box(lon, lat)  # False for NaN and inf
    dlon, dlat = _gcj_offset(lon[inside], lat[inside])
    out_lon[inside] += dlon
    out_lat[inside] += dlat
    return out_lon, out_lat


def _gcj02_to_bd09(lon: np.ndarray, lat: np.ndarray) -> Arrays:
    out_lon, out_lat = lon.copy(), lat.copy()
    ok = np.isfinite(lon) & np.isfinite(lat)
    x, y = lon[ok], lat[ok]
    radius = np.hypot(x, y) + 0.00002 * np.sin(y * _BD_X_PI)
    angle = np.arctan2(y, x) + 0.000003 * np.cos(x * _BD_X_PI)
    out_lon[ok] = radius * np.cos(angle) + _BD_SHIFT[0]
    out_lat[ok] = radius * np.sin(angle) + _BD_SHIFT[1]
    return out_lon, out_lat


def _invert(forward: _Kernel, lon: np.ndarray, lat: np.ndarray) -> Arrays:
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


def gcj02_to_wgs84_arrays(lon: np.ndarray, lat: np.ndarray) -> Arrays:
    """GCJ-02 -> WGS84 of float arrays, into new arrays; :func:`gcj02_to_wgs84` for any input."""
    return _invert(wgs84_to_gcj02_arrays, lon, lat)


def _bd09_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> Arrays:
    return _invert(_gcj02_to_bd09, lon, lat)


def wgs84_to_bd09_arrays(lon: np.ndarray, lat: np.ndarray) -> Arrays:
    """WGS84 -> BD-09 of float arrays, into new arrays; :func:`wgs84_to_bd09` for any input."""
    return _gcj02_to_bd09(*wgs84_to_gcj02_arrays(lon, lat))


def bd09_to_wgs84_arrays(lon: np.ndarray, lat: np.ndarray) -> Arrays:
    """BD-09 -> WGS84 of float arrays, into new arrays; :func:`bd09_to_wgs84` for any input."""
    return gcj02_to_wgs84_arrays(*_bd09_to_gcj02(lon, lat))
