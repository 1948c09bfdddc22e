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

The work is split by concern, and everything is re-exported here:

* :mod:`geogrid.crs.convert` — the entry point: :func:`parse_crs`, :func:`to_plan_lonlat`,
  :func:`from_plan_lonlat`, :func:`is_plan_lonlat`;
* :mod:`geogrid.crs.phonemaps` — the GCJ-02 / BD-09 conversions;
* :mod:`geogrid.crs.checks` — sanity checks: :func:`coordinate_problems`,
  :func:`check_lonlat`, :func:`layer_crs_problem`;
* :mod:`geogrid.crs.metric` — metric work: :func:`metric_crs`, :func:`to_metric`,
  :func:`area_m2`;
* :mod:`geogrid.crs.zones` — :data:`CHINA_BOUNDS` and the Gauss–Krüger zone numbering.
"""

from geogrid.crs.checks import check_lonlat, coordinate_problems, layer_crs_problem
from geogrid.crs.convert import (
    CRS_ALIASES,
    CRSLike,
    from_plan_lonlat,
    is_plan_lonlat,
    parse_crs,
    to_plan_lonlat,
)
from geogrid.crs.metric import area_m2, metric_crs, to_metric
from geogrid.crs.phonemaps import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geogrid.crs.zones import CHINA_BOUNDS

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
