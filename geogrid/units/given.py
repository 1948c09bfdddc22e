"""Given polygons as the units of one parent: natural villages, villager groups, production teams.

In rural areas the basic unit of a grid is a natural village (自然村), a villager group
(村民小组) or a production team (生产队), drawn by the village itself (清湖街道: 26 villages → 60
grids on natural villages). :func:`units_in_parent` keeps each such polygon whole as one unit
inside its parent (the administrative village 行政村), so a grid is a set of whole villages:

* the polygons are clipped to the parent, and the parent's land no polygon covers (fields,
  hills between villages) becomes units without households (``cell``), so the units tile the
  parent exactly; pieces below :data:`~geogrid.units.SLIVER_AREA` join their neighbour;
* households come from the polygons' count column, or are counted into the pieces from
  household points or buildings by the one point → polygon rule,
  :func:`~geogrid.units.household_areas`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geogrid.plan import UnitKind
from geogrid.units.build import units_from_polygons
from geogrid.units.inputs import (
    frame_to_crs,
    geometry_to_crs,
    household_areas,
    household_counts,
    metric_crs_for,
    numbers,
    parent_geometry,
)
from geogrid.units.model import Units
from geogrid.units.tessellation import SLIVER_AREA

__all__ = ["units_in_parent"]


def units_in_parent(
    parent: BaseGeometry | gpd.GeoSeries | gpd.GeoDataFrame,
    polygons: gpd.GeoDataFrame,
    households: gpd.GeoDataFrame | None = None,
    *,
    count_column: str = "households",
    extra_columns: Sequence[str] = (),
    counted: np.ndarray | None = None,
    crs: Any = None,
) -> Units:
    """Units of one parent that are given polygons, each kept whole.

    Parameters
    ----------
    parent
        The parent area (a village 行政村): a one-row GeoDataFrame / GeoSeries, or a shapely
        geometry in ``crs``.
    polygons
        The unit polygons (natural villages, villager groups, production teams); a
        ``name`` column names the units.
    households
        Household points or buildings counted into the units (``count_column`` per row, or
        one per row). Without them the polygons' own ``count_column`` is the count.
    count_column, extra_columns
        Household count and other workload columns (of ``households`` when given, else of
        ``polygons``).
    counted
        Per polygon, whether its counts belong to this parent (a polygon across two parents
        counts in the one holding its larger share, :func:`~geogrid.units.household_areas`);
        default all.
    crs
        CRS of a bare shapely ``parent``.

    Returns
    -------
    Units
        One unit per polygon inside the parent (kind ``village``), one per piece of land
        between them (kind ``cell``, no households); ``parent`` is the parent in the metric
        CRS.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> villages = gpd.GeoDataFrame({"households": [40, 60], "name": ["张家湾", "李家坝"]},
    ...     geometry=[box(0, 0, 1000, 1000), box(1000, 0, 2000, 800)], crs=4547)
    >>> units = units_in_parent(box(0, 0, 2000, 1000), villages, crs=4547)
    >>> units.table[["kind", "households"]].values.tolist()
    [['village', 40], ['village', 60], ['cell', 0]]
    >>> units.table["name"].tolist()[:2], len(units.edges)
    (['张家湾', '李家坝'], 3)
    """
    parent_geom, source = parent_geometry(parent, polygons, crs)
    metric = metric_crs_for(parent_geom, source)
    parent_m = geometry_to_crs(parent_geom, source, metric)
    geoms = shapely.make_valid(
        frame_to_crs(polygons, metric, "unit"), method="structure", keep_collapsed=False
    )
    pieces = _polygonal(shapely.intersection(geoms, parent_m))
    keep = np.flatnonzero(shapely.area(pieces) >= SLIVER_AREA)
    land, slivers = _land(parent_m, pieces[keep])
    geoms_all = _absorb(np.concatenate([pieces[keep], land]), slivers)
    counted_ = np.ones(len(polygons), dtype=bool) if counted is None else np.asarray(counted)
    columns = ["households", *extra_columns]
    if households is None:
        values = {
            "households": household_counts(polygons, count_column)[keep] * counted_[keep],
            **{c: numbers(polygons[c])[keep] * counted_[keep] for c in extra_columns},
        }
        counts = {c: np.concatenate([values[c], np.zeros(len(land))]) for c in columns}
    else:
        counts = _counted_into(geoms_all, households, metric, count_column, extra_columns)
    names = (
        polygons["name"].astype(object).where(polygons["name"].notna(), None).to_numpy()[keep]
        if "name" in polygons
        else np.full(len(keep), None, dtype=object)
    )
    frame = gpd.GeoDataFrame(
        {
            "unit_id": [f"u{i + 1}" for i in range(len(geoms_all))],
            "name": np.concatenate([names, np.full(len(land), None, dtype=object)]),
            **{c: np.rint(counts[c]).astype(np.int64) for c in columns},
        },
        geometry=geoms_all,
        crs=metric,
    )
    units = units_from_polygons(
        frame, extra_columns=list(extra_columns), id_column="unit_id", name_column="name"
    )
    kinds = [UnitKind.VILLAGE.value] * len(keep) + [UnitKind.CELL.value] * len(land)
    units.table["kind"] = kinds
    return dataclasses.replace(units, parent=parent_m)


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Only the polygons of each geometry (a clip can leave lines and points on the edge)."""
    out = np.empty(len(geoms), dtype=object)
    for i, geom in enumerate(geoms):
        parts = shapely.get_parts(geom)
        parts = parts[shapely.get_dimensions(parts) == 2] if len(parts) else parts
        out[i] = shapely.union_all(parts) if len(parts) else shapely.Polygon()
    return out


def _land(parent: BaseGeometry, pieces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The parent's land outside every piece, one polygon per part: large parts, slivers."""
    rest = shapely.difference(parent, shapely.union_all(pieces)) if len(pieces) else parent
    parts = shapely.get_parts(rest)
    parts = np.asarray(parts[shapely.get_dimensions(parts) == 2] if len(parts) else parts)
    big = shapely.area(parts) >= SLIVER_AREA
    return parts[big].astype(object), parts[~big].astype(object)


def _absorb(geoms: np.ndarray, slivers: np.ndarray) -> np.ndarray:
    """Every sliver joined to the geometry it shares most boundary with."""
    if len(slivers) == 0 or len(geoms) == 0:
        return geoms
    out = geoms.copy()
    tree = shapely.STRtree(geoms)
    for sliver in slivers:
        near = tree.query(sliver, predicate="dwithin", distance=1e-6)
        if len(near) == 0:
            continue
        edge = shapely.boundary(sliver)
        shared = shapely.length(shapely.intersection(edge, shapely.buffer(geoms[near], 1e-6)))
        best = int(near[int(np.argmax(shared))])
        out[best] = shapely.union_all([out[best], sliver])
    return out


def _counted_into(
    geoms: np.ndarray,
    households: gpd.GeoDataFrame,
    metric: Any,
    count_column: str,
    extra_columns: Sequence[str],
) -> dict[str, np.ndarray]:
    """Households and extra counts summed into ``geoms`` (see :func:`household_areas`)."""
    where = household_areas(geoms, frame_to_crs(households, metric, "households"))
    inside = where >= 0
    out = {
        "households": np.bincount(
            where[inside],
            weights=household_counts(households, count_column)[inside],
            minlength=len(geoms),
        )
    }
    for column in extra_columns:
        out[column] = np.bincount(
            where[inside], weights=numbers(households[column])[inside], minlength=len(geoms)
        )
    return out
