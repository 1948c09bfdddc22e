"""Point → grid at every level: the in-process index, the boundary rule and its SQL twin.

**Boundary rule.** At each level, a point belongs to the grid with the *smallest code* among
the grids whose polygon *covers* it (``shapely.covers`` / ``ST_Covers``: the interior or the
boundary). A point on an edge or vertex shared by several grids so belongs to exactly one,
the same in batch, API and PostGIS paths; :data:`POSTGIS_LOCATE_SQL` is the SQL of the rule
(``ORDER BY code COLLATE "C"`` compares codes bytewise, as Python compares ``str``). A child's
code starts with its parent's (:mod:`geogrid.codes`), so in a nested plan the level-1 answer is
the parent of the level-2 answer also on shared edges.

A point covered by no grid of the finest level is *outside*: it gets the nearest grid of that
level and the distance in metres, measured in the plan's metric CRS
(:func:`geogrid.crs.metric_crs`, a CGCS2000 Gauss–Krüger zone); ties go to the smallest code.

**Index.** :class:`GridIndex` answers exactly like the brute-force rule but about ten times
faster than an R-tree: per level, a raster pyramid whose cells lying clear of every polygon
edge hold the answer; only points in the thin band of cells touched by an edge are tested
exactly with ``shapely.covers`` against the few grids whose edges touch that cell. See
``docs/locate.md``.

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> from geogrid.plan import GridPlan
>>> grids = gpd.GeoDataFrame(
...     {"code": ["001", "002"], "name": ["东", "西"], "level": [1, 1]},
...     geometry=[box(116.30, 39.99, 116.31, 40.00), box(116.31, 39.99, 116.32, 40.00)],
...     crs=4490)
>>> index = GridIndex.from_plan(GridPlan("示例", ["网格"], grids))
>>> result = index.locate([116.305, 116.31, 116.33], [39.995, 39.995, 39.995])
>>> result.grid_codes().tolist()  # the shared edge x = 116.31 goes to the smaller code
['001', '001', None]
>>> result.status.tolist(), result.nearest_codes().tolist()
(['inside', 'inside', 'outside'], [None, None, '002'])
>>> round(float(result.distance_m[2]))  # 0.01° of longitude at 40°N
854
"""

from __future__ import annotations

from geogrid.locate.county import CountyIndex
from geogrid.locate.households import (
    HOUSEHOLD_SNAP_M,
    household_grids,
    household_weights,
    households_per_unit,
    locate_households,
)
from geogrid.locate.index import (
    GridIndex,
    Locator,
    locate_frame,
    locate_points,
    point_coordinates,
)
from geogrid.locate.result import OUTSIDE, LocateResult
from geogrid.locate.sql import (
    NEAREST_TIE_M,
    POSTGIS_LOCATE_SQL,
    POSTGIS_NEAREST_SQL,
    postgis_locate_sql,
    postgis_nearest_sql,
)

__all__ = [
    "HOUSEHOLD_SNAP_M",
    "NEAREST_TIE_M",
    "OUTSIDE",
    "POSTGIS_LOCATE_SQL",
    "POSTGIS_NEAREST_SQL",
    "CountyIndex",
    "GridIndex",
    "LocateResult",
    "Locator",
    "household_grids",
    "household_weights",
    "households_per_unit",
    "locate_frame",
    "locate_households",
    "locate_points",
    "point_coordinates",
    "postgis_locate_sql",
    "postgis_nearest_sql",
]
