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

__all__ = [
    "HOUSEHOLD_SNAP_M",
    "household_grids",
    "household_weights",
    "households_per_unit",
    "locate_households",
]

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
    index = GridIndex.from_plan(plan) if index is None else index
    result = index.locate(*_household_points(households))
    snapped = result.nearest_codes()
    snapped[~(result.distance_m <= snap_m)] = None
    out = pd.DataFrame(index=households.index)
    for level in result.levels:
        codes = result.level_codes(level)
        missing = pd.isna(codes) & pd.notna(snapped)
        if missing.any():
            codes[missing] = plan.ancestor_codes(snapped[missing], level)
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


def households_per_unit(
    units: gpd.GeoDataFrame,
    households: gpd.GeoDataFrame,
    *,
    id_column: str = "unit_id",
    count_column: str | None = None,
) -> np.ndarray:
    """Households in every unit now, each household in the unit covering its point.

    The household rule with the plan's units for grids: a household on the edge of two units
    goes to the smaller unit id; one in no unit counts nowhere. A household row counts its
    :func:`household_weights` (``count_column``, else ``households``, else 1).

    Returns
    -------
    numpy.ndarray
        Integer counts aligned with the rows of ``units``.
    """
    if len(units) == 0:
        return np.zeros(0, dtype=int)
    ids = units[id_column].astype(str).to_numpy(dtype=object)
    index = GridIndex(ids, np.ones(len(ids), dtype=np.int64), units.to_crs(PLAN_CRS).geometry.array)
    result = index.locate(*_household_points(households), nearest=False)
    weight = household_weights(households, count_column)
    found = result.grid[0] >= 0
    position = {unit: i for i, unit in enumerate(ids.tolist())}
    rows = np.array([position[c] for c in index.codes[result.grid[0][found]]], dtype=np.int64)
    return np.bincount(rows, weights=weight[found], minlength=len(ids)).astype(int)


def household_weights(households: gpd.GeoDataFrame, count_column: str | None = None) -> np.ndarray:
    """Households each row stands for.

    ``count_column`` when given (an error lists the columns when it is absent), else the
    ``households`` column when there is one, else 1 a row; a missing or non-numeric count is 0.
    """
    if count_column is not None and count_column not in households.columns:
        raise InvalidInputError(
            f"the households have no column {count_column!r}; columns: "
            f"{', '.join(map(str, households.columns))}"
        )
    column = count_column or ("households" if "households" in households.columns else None)
    if column is None:
        return np.ones(len(households))
    return pd.to_numeric(households[column], errors="coerce").fillna(0).to_numpy(float)


def _household_points(households: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The plan lon/lat of each household's point (NaN for a missing geometry)."""
    if households.crs is None:
        raise CRSError("the households have no CRS; set one (e.g. EPSG:4490) first")
    geoms = np.asarray(households.to_crs(PLAN_CRS).geometry.array, dtype=object)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    points = shapely.point_on_surface(geoms[present])
    x = np.full(len(geoms), np.nan)
    y = np.full(len(geoms), np.nan)
    x[present], y[present] = shapely.get_x(points), shapely.get_y(points)
    return x, y
