"""Metric work: the projected CRS in metres chosen for the data, and geodesic areas.

A CGCS2000 3-degree Gauss–Krüger zone in China (EPSG:4534 … 4554), a WGS 84 UTM zone elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import shapely
from pyproj import CRS, Geod, Transformer
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info

from geogrid.crs.checks import check_lonlat, layer_crs_problem
from geogrid.crs.convert import is_wgs84_or_cgcs2000_lonlat
from geogrid.crs.zones import CHINA_BOUNDS, GK_FIRST_CM, GK_FIRST_EPSG, GK_LAST_CM
from geogrid.errors import CoordinateError, CRSError
from geogrid.plan import PLAN_CRS

__all__ = ["area_m2", "metric_crs", "to_metric"]

_CGCS2000_GEOD = Geod(ellps="GRS80")

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
        cm = min(max(3 * round(lon / 3.0), GK_FIRST_CM), GK_LAST_CM)
        return CRS.from_epsg(GK_FIRST_EPSG + (cm - GK_FIRST_CM) // 3)
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
        if geoms_lonlat.crs is not None and not is_wgs84_or_cgcs2000_lonlat(CRS(geoms_lonlat.crs)):
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
        if not is_wgs84_or_cgcs2000_lonlat(crs):
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
