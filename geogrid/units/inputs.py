"""Inputs of the units: the parent area, barrier lines, blocks and household sites, in metres."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from geogrid.crs import metric_crs
from geogrid.errors import CRSError, InvalidInputError
from geogrid.plan import UnitKind

__all__ = [
    "Sites",
    "clipped_lines",
    "cut_blocks",
    "find_sites",
    "frame_to_crs",
    "geometry_to_crs",
    "household_counts",
    "metric_crs_for",
    "numbers",
    "parent_geometry",
]


def parent_geometry(
    parent: BaseGeometry | gpd.GeoSeries | gpd.GeoDataFrame, households: gpd.GeoDataFrame, crs: Any
) -> tuple[BaseGeometry, CRS]:
    """The parent as one valid shapely geometry and its CRS; refuses several rows or no CRS."""
    if isinstance(parent, gpd.GeoDataFrame | gpd.GeoSeries):
        if len(parent) != 1:
            raise InvalidInputError(
                f"give one parent area (上级区域) at a time, got {len(parent)}; "
                "loop over the rows of the AREA layer"
            )
        if parent.crs is None:
            raise CRSError("the parent area has no CRS (坐标系缺失); set one with set_crs")
        geom, source = parent.geometry.iloc[0], CRS(parent.crs)
    else:
        given = crs if crs is not None else households.crs
        if given is None:
            raise CRSError("say the CRS of the parent area (坐标系): pass crs=...")
        geom, source = parent, CRS(given)
    if geom is None or geom.is_empty or shapely.get_dimensions(geom) != 2:
        raise InvalidInputError("the parent area (上级区域) must be a non-empty polygon")
    return shapely.make_valid(geom) if not geom.is_valid else geom, source


def metric_crs_for(geom: BaseGeometry, source: CRS) -> CRS:
    """``source`` when it is metric already, else a projected CRS chosen for ``geom``."""
    if source.is_projected and source.axis_info[0].unit_name in ("metre", "meter"):
        return source
    return metric_crs(gpd.GeoSeries([geom], crs=source))


def geometry_to_crs(geom: BaseGeometry, source: CRS, target: CRS) -> BaseGeometry:
    """One geometry from ``source`` to ``target``."""
    if source == target:
        return geom
    out: BaseGeometry = gpd.GeoSeries([geom], crs=source).to_crs(target).iloc[0]
    return out


def frame_to_crs(frame: gpd.GeoDataFrame | gpd.GeoSeries, metric: CRS, what: str) -> np.ndarray:
    """The geometries of a layer in ``metric`` as an object array; a layer without CRS is refused."""
    if frame.crs is None:
        raise CRSError(f"the {what} layer has no CRS (坐标系缺失); set one with set_crs")
    series = frame.geometry if isinstance(frame, gpd.GeoDataFrame) else frame
    return np.asarray(series.to_crs(metric).array, dtype=object)


def clipped_lines(
    frame: gpd.GeoDataFrame | gpd.GeoSeries | None, metric: CRS, parent: BaseGeometry
) -> np.ndarray:
    """Lines of a layer (polygons give their outlines) clipped to ``parent``."""
    if frame is None or len(frame) == 0:
        return np.empty(0, dtype=object)
    geoms = frame_to_crs(frame, metric, "barrier")
    geoms = geoms[~shapely.is_missing(geoms)]
    polygonal = shapely.get_dimensions(geoms) == 2
    geoms = np.where(polygonal, shapely.boundary(geoms), geoms)
    clipped = shapely.get_parts(shapely.intersection(geoms, parent))
    return np.asarray(clipped[shapely.get_dimensions(clipped) == 1], dtype=object)


def cut_blocks(parent: BaseGeometry, lines: np.ndarray) -> np.ndarray:
    """Faces of the parent cut by ``lines``; the parent's holes are left out."""
    rings = shapely.get_parts(shapely.boundary(parent))
    noded = shapely.union_all(np.concatenate([rings, lines]))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    faces = faces[shapely.area(faces) > 0]
    inside = shapely.contains_properly(parent, shapely.point_on_surface(faces))
    return np.asarray(faces[inside], dtype=object)


@dataclasses.dataclass
class Sites:
    """Household sites: a building, or household points stacked at one place."""

    points: np.ndarray  # representative point per site (metric)
    households: np.ndarray  # int
    extra: dict[str, np.ndarray]
    name: list[str | None]
    kind: list[str]
    members: list[list[int]]  # input row positions
    footprints: np.ndarray  # building polygon per site (metric), None for point sites


def find_sites(
    households: gpd.GeoDataFrame,
    metric: CRS,
    parent: BaseGeometry,
    count_column: str,
    extra_columns: Sequence[str],
) -> tuple[Sites, gpd.GeoDataFrame, list[str]]:
    """Household sites inside the parent, the rows outside it, and the problems found."""
    geoms = frame_to_crs(households, metric, "households")
    missing = [c for c in extra_columns if c not in households.columns]
    if missing:
        raise InvalidInputError(
            f"the households layer has no column(s) {', '.join(missing)}; "
            f"its columns: {', '.join(map(str, households.columns))}"
        )
    counts = household_counts(households, count_column)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    points = np.empty(len(geoms), dtype=object)
    points[present] = shapely.point_on_surface(geoms[present])
    inside = present.copy()
    inside[present] = shapely.covers(parent, points[present])
    problems = []
    outside = households.iloc[np.flatnonzero(~inside)]
    if len(outside):
        problems.append(
            f"{int(counts[~inside].sum())} household(s) in {len(outside)} row(s) lie outside "
            "the parent area (区域外住户); they are not in any grid — check their "
            "coordinates or the boundary"
        )
    rows = np.flatnonzero(inside)
    xy = shapely.get_coordinates(points[rows])
    # points at the same place are one site (one building, or household points stacked)
    _, first, inverse = np.unique(xy, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    n = len(first)
    members: list[list[int]] = [[] for _ in range(n)]
    for row, site in zip(rows.tolist(), inverse.tolist(), strict=True):
        members[site].append(row)
    polygonal = shapely.get_dimensions(geoms) == 2
    names = households["name"].to_numpy(object) if "name" in households else None
    extra = {
        c: np.bincount(inverse, weights=numbers(households[c]), minlength=n) for c in extra_columns
    }
    return (
        Sites(
            points=points[rows[first]],
            footprints=_footprints(geoms[rows[first]], polygonal[rows[first]]),
            households=np.bincount(inverse, weights=counts[rows], minlength=n).astype(np.int64),
            extra={c: v.astype(np.int64) for c, v in extra.items()},
            name=[_name(names, m) for m in members],
            kind=[
                UnitKind.BUILDING.value if polygonal[m[0]] else UnitKind.CELL.value for m in members
            ],
            members=members,
        ),
        outside,
        problems,
    )


def _footprints(geoms: np.ndarray, polygonal: np.ndarray) -> np.ndarray:
    out = np.full(len(geoms), None, dtype=object)
    out[polygonal] = geoms[polygonal]
    return out


def household_counts(households: gpd.GeoDataFrame, column: str) -> np.ndarray:
    """Household count of every row (1 each without the column); negative counts are refused."""
    if column not in households.columns:
        return np.ones(len(households), dtype=float)
    values = numbers(households[column])
    if (values < 0).any():
        raise InvalidInputError(f"household counts (住户数) in {column!r} must not be negative")
    return values


def numbers(series: pd.Series) -> np.ndarray:
    """A column as floats, blanks and text as 0."""
    return pd.to_numeric(series, errors="coerce").fillna(0).to_numpy(float)


def _name(names: np.ndarray | None, members: list[int]) -> str | None:
    if names is None:
        return None
    found = [str(names[m]) for m in members if not pd.isna(names[m])]
    return "、".join(found[:3]) if found else None
