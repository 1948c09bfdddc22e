"""Units built inside a plan's own grids: every grid cut into one cell per building.

A plan drawn by hand (or imported from another system) has grids but no tessellated units —
at most the buildings' footprints, which do not cover the land between them. To move whole
buildings between grids, :func:`units_in_grids` tessellates every grid on its own with
:func:`~geogrid.units.build_units`, so every cell lies in exactly one of the old grids and the
cells of a grid cover it. A building that the old lines cut belongs wholly to the grid holding
the larger share of its footprint (:func:`~geogrid.units.household_areas`, the one rule) and is
listed in :attr:`GridUnits.cut`.
"""

from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geogrid.crs import metric_crs
from geogrid.errors import CRSError
from geogrid.units.build import build_units, units_from_polygons
from geogrid.units.inputs import frame_to_crs, household_areas
from geogrid.units.model import Units

__all__ = ["CUT_SHARE", "GridUnits", "units_in_grids"]

CUT_SHARE = 1e-3
"""A footprint with less than this share of its area beyond its grid's lines is not cut."""


@dataclasses.dataclass
class GridUnits:
    """Units tessellating some grids (see :func:`units_in_grids`).

    Attributes
    ----------
    units
        One cell per building (or stack of household points) and one per empty block, in a
        metric CRS; edges join neighbouring cells, across the grids' lines too. The
        ``households`` column counts each household row in its ``home`` unit.
    grid
        Row position (in the grids given) of the grid holding every unit.
    home
        Per household row, the unit it is counted in, ``-1`` outside every grid.
    cut
        The buildings the grids' lines cut: ``row`` (position in the households), ``grid``
        (position of the grid it is counted in), ``share`` (of its footprint inside that grid).
    """

    units: Units
    grid: np.ndarray
    home: np.ndarray
    cut: pd.DataFrame


def units_in_grids(
    grids: gpd.GeoDataFrame, households: gpd.GeoDataFrame, *, count_column: str = "households"
) -> GridUnits:
    """Cut every grid into cells per building; buildings the grid lines cut go wholly to one side.

    Parameters
    ----------
    grids
        The grids (an exact coverage of their parent, as a valid plan has them), with a CRS.
    households
        Building polygons with a household count in ``count_column``, or points.
    count_column
        Household count column; one household per row without it.

    Returns
    -------
    GridUnits

    Examples
    --------
    >>> from shapely.geometry import box
    >>> grids = gpd.GeoDataFrame(geometry=[box(0, 0, 100, 50), box(100, 0, 200, 50)], crs=4547)
    >>> homes = gpd.GeoDataFrame({"households": [30, 20, 10]},
    ...     geometry=[box(10, 10, 30, 30), box(90, 10, 130, 30), box(150, 10, 170, 30)], crs=4547)
    >>> found = units_in_grids(grids, homes)
    >>> found.grid[found.home].tolist(), found.cut["row"].tolist(), found.cut["grid"].tolist()
    ([0, 1, 1], [1], [1])
    >>> round(float(found.cut["share"].iloc[0]), 3)
    0.75
    """
    if grids.crs is None or households.crs is None:
        raise CRSError("the grids and the households need a CRS (坐标系缺失); set one with set_crs")
    metric = metric_crs(grids)
    geoms = frame_to_crs(grids, metric, "grid")
    homes = households.to_crs(metric)
    points = np.asarray(homes.geometry.array, dtype=object)
    owner = household_areas(geoms, points)
    frames = []
    grid_of = []
    for g, geom in enumerate(geoms.tolist()):
        mine = homes.iloc[np.flatnonzero(owner == g)]
        built = build_units(geom, mine, count_column=count_column, crs=metric)
        frames.append(built.table[["name", "kind", "geometry"]])
        grid_of.append(np.full(len(built.table), g, dtype=np.int64))
    cells = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=metric)
    grid = np.concatenate(grid_of)
    cells["households"] = 0
    units = units_from_polygons(cells, name_column="name")
    units.table["kind"] = cells["kind"].to_numpy(object)
    home = household_areas(units.table.geometry.to_numpy(), points)
    inside = home >= 0
    counts = (
        pd.to_numeric(homes[count_column], errors="coerce").fillna(0).to_numpy(float)
        if count_column in homes
        else np.ones(len(homes))
    )
    units.table["households"] = np.bincount(
        home[inside], weights=counts[inside], minlength=len(units.table)
    ).astype(np.int64)
    return GridUnits(units=units, grid=grid, home=home, cut=_cut(geoms, points, grid, home))


def _cut(geoms: np.ndarray, points: np.ndarray, grid: np.ndarray, home: np.ndarray) -> pd.DataFrame:
    """Buildings whose footprint lies partly beyond the grid they are counted in."""
    rows = np.flatnonzero((home >= 0) & (shapely.get_dimensions(points) == 2))
    counted = grid[home[rows]]
    whole = shapely.covers(geoms[counted], points[rows])
    rows, counted = rows[~whole], counted[~whole]
    area = shapely.area(points[rows])
    share = np.where(
        area > 0, shapely.area(shapely.intersection(points[rows], geoms[counted])) / area, 1.0
    )
    keep = share < 1 - CUT_SHARE
    return pd.DataFrame({"row": rows[keep], "grid": counted[keep], "share": share[keep]})
