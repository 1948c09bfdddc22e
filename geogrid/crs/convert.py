"""The CRS entry point: read a CRS argument, convert to and from plan coordinates.

Plans are stored in CGCS2000 lon/lat (:data:`geogrid.plan.PLAN_CRS`, EPSG:4490); everything
that comes in goes through :func:`to_plan_lonlat` first. Coordinates are always ``(lon, lat)`` /
``(x, y)``, whatever the official axis order of the CRS, and WGS84 lon/lat is taken as CGCS2000
lon/lat unchanged (see :mod:`geogrid.crs`).
"""

from __future__ import annotations

import warnings
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError as PyprojCRSError

from geogrid.crs.phonemaps import (
    Arrays,
    bd09_to_wgs84_arrays,
    float_arrays,
    gcj02_to_wgs84_arrays,
    wgs84_to_bd09_arrays,
    wgs84_to_gcj02_arrays,
)
from geogrid.errors import CRSError
from geogrid.plan import PLAN_CRS

__all__ = [
    "CRS_ALIASES",
    "CRSLike",
    "from_plan_lonlat",
    "is_plan_lonlat",
    "is_wgs84_or_cgcs2000_lonlat",
    "parse_crs",
    "to_plan_lonlat",
]

CRSLike: TypeAlias = str | int | CRS
"""What a CRS argument accepts: an alias (see :data:`CRS_ALIASES`), ``"EPSG:4547"``-style
text or anything else pyproj understands, an EPSG code, or a :class:`pyproj.CRS`."""

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

_WGS84 = CRS.from_epsg(4326)

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


def to_plan_lonlat(x: npt.ArrayLike, y: npt.ArrayLike, crs: CRSLike) -> Arrays:
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
    lon, lat = float_arrays(x, y)
    target = parse_crs(crs)
    if isinstance(target, str) and target == "gcj02":  # CRS.__eq__ would parse "gcj02": slow
        return gcj02_to_wgs84_arrays(lon, lat)
    if isinstance(target, str) and target == "bd09":  # CRS.__eq__ would parse "bd09": slow
        return bd09_to_wgs84_arrays(lon, lat)
    assert isinstance(target, CRS)
    if is_wgs84_or_cgcs2000_lonlat(target):
        return lon, lat
    transformer = _transformer(target, PLAN_CRS, datum_of=target)
    out_lon, out_lat = transformer.transform(lon, lat)
    return np.asarray(out_lon, dtype=float), np.asarray(out_lat, dtype=float)


def from_plan_lonlat(lon: npt.ArrayLike, lat: npt.ArrayLike, crs: CRSLike) -> Arrays:
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
    x, y = float_arrays(lon, lat)
    target = parse_crs(crs)
    if isinstance(target, str) and target == "gcj02":  # CRS.__eq__ would parse "gcj02": slow
        return wgs84_to_gcj02_arrays(x, y)
    if isinstance(target, str) and target == "bd09":  # CRS.__eq__ would parse "bd09": slow
        return wgs84_to_bd09_arrays(x, y)
    assert isinstance(target, CRS)
    if is_wgs84_or_cgcs2000_lonlat(target):
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
        and not is_wgs84_or_cgcs2000_lonlat(geodetic)
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
    return isinstance(parsed, CRS) and is_wgs84_or_cgcs2000_lonlat(parsed)


def is_wgs84_or_cgcs2000_lonlat(crs: CRS) -> bool:
    """Whether ``crs`` is WGS84 or CGCS2000 lon/lat, in either axis order.

    Parameters
    ----------
    crs
        A parsed CRS.

    Returns
    -------
    bool
        ``True`` for EPSG:4326 and EPSG:4490 and their lon/lat-ordered variants.
    """
    return crs.is_geographic and (
        crs.equals(PLAN_CRS, ignore_axis_order=True) or crs.equals(_WGS84, ignore_axis_order=True)
    )
