"""Households → grids: every household goes through the boundary rule of :mod:`geogrid.locate`.

The report (:mod:`geogrid.report`), the contact cards (:mod:`geogrid.render.signs`) and
``GET /locate`` all place a household with this module, so they agree also for a household on
a shared edge or vertex (it belongs to the grid with the smallest code covering it).

**The household rule.** A household is the point :func:`shapely.point_on_surface` of its
geometry (a point stays itself; a building polygon gives a point inside it), converted to plan
lon/lat and located with :class:`~geogrid.locate.GridIndex`. At each level it belongs to the
grid covering that point by the boundary rule. A household outside every grid of the finest
level but within :data:`HOUSEHOLD_SNAP_M` metres of one (what ``/locate`` reports as
``nearest_code`` and ``distance_m``) belongs to that nearest grid and its ancestors; a farther
one belongs to no grid (区域外住户).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geogrid.errors import CRSError, InvalidInputError
from geogrid.locate.index import GridIndex
from geogrid.plan import PLAN_CRS, GridPlan

__all__ = ["HOUSEHOLD_SNAP_M", "household_grids", "locate_households"]

HOUSEHOLD_SNAP_M = 50.0
"""A household this close (metres) outside every grid belongs to the nearest grid."""


def household_grids(
    plan: GridPlan,
    households: gpd.GeoDataFrame,
    *,
    index: GridIndex | None = None,
    snap_m: float = HOUSEHOLD_SNAP_M,
) -> pd.DataFrame:
    """The grid of every household at every level (the household rule of this module).

    Parameters
    ----------
    plan
        The plan.
    households
        Households or buildings (points or polygons) with a CRS.
    index
        The plan's :class:`~geogrid.locate.GridIndex`, when already built.
    snap_m
        Metres within which a household outside every grid goes to the nearest grid.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``households``: ``level1_code`` … ``levelN_code`` (string, ``<NA>`` where
        the household belongs to no grid of that level), ``status`` (``inside``, ``outside``
        or ``invalid`` as for ``/locate``) and ``distance_m`` (0 inside; to the nearest grid
        outside).

    Examples
    --------
    >>> from shapely.geometry import Point, box
    >>> grids = gpd.GeoDataFrame(
    ...     {"code": ["001", "002"], "name": ["东", "西"], "level": [1, 1]},
    ...     geometry=[box(116.30, 39.99, 116.31, 40.00), box(116.31, 39.99, 116.32, 40.00)],
    ...     crs=4490)
    >>> plan = GridPlan("示例", ["网格"], grids)
    >>> homes = gpd.GeoDataFrame(
    ...     geometry=[Point(116.31, 39.995), Point(116.3205, 39.995), Point(116.33, 39.995)],
    ...     crs=4490)
    >>> household_grids(plan, homes)["level1_code"].tolist()  # edge, 43 m out, 854 m out
    ['001', '002', <NA>]
    """
    if households.crs is None:
        raise CRSError("the households have no CRS; set one (e.g. EPSG:4490) first")
    index = GridIndex.from_plan(plan) if index is None else index
    geoms = np.asarray(households.to_crs(PLAN_CRS).geometry.array, dtype=object)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    points = np.full(len(geoms), None, dtype=object)
    points[present] = shapely.point_on_surface(geoms[present])
    x = np.full(len(geoms), np.nan)
    y = np.full(len(geoms), np.nan)
    x[present], y[present] = shapely.get_x(points[present]), shapely.get_y(points[present])
    result = index.locate(x, y)
    snapped = result.nearest_codes()
    snapped[~(result.distance_m <= snap_m)] = None
    parent = dict(
        zip(plan.grids["code"].astype(str), plan.grids["parent_code"].astype(object), strict=True)
    )
    level_of = dict(
        zip(plan.grids["code"].astype(str), plan.grids["level"].astype(int), strict=True)
    )
    out = pd.DataFrame(index=households.index)
    for level in result.levels:
        codes = result.level_codes(level)
        missing = np.flatnonzero(pd.isna(codes) & pd.notna(snapped))
        for i in missing:
            codes[i] = _ancestor(str(snapped[i]), level, parent, level_of)
        out[f"level{level}_code"] = pd.array(codes, dtype="string")
    out["status"] = result.status.astype(str)
    out["distance_m"] = result.distance_m
    return out


def locate_households(
    plan: GridPlan,
    households: gpd.GeoDataFrame,
    level: int | None = None,
    *,
    index: GridIndex | None = None,
) -> pd.Series:
    """Grid code (at ``level``, default the deepest) of each household, by the household rule.

    A column of :func:`household_grids`; ``<NA>`` where the household belongs to no grid.
    """
    level = plan.depth if level is None else int(level)
    if not 1 <= level <= plan.depth:
        raise InvalidInputError(f"level {level} is not in the plan; give 1 to {plan.depth}")
    return household_grids(plan, households, index=index)[f"level{level}_code"].rename("code")


def _ancestor(
    code: str, level: int, parent: dict[str, object], level_of: dict[str, int]
) -> str | None:
    """``code`` or its ancestor at ``level`` (``None`` when the chain has none there)."""
    current: object = code
    while isinstance(current, str) and current in level_of:
        if level_of[current] == level:
            return current
        current = parent.get(current)
    return None
