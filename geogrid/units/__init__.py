"""Atomic units: buildings and land cells that tessellate a parent area, and their adjacency.

A grid (网格) is made of whole units, so a partition of the units is a partition of the parent
area. :func:`build_units` turns a parent polygon (a community 社区 or village 村), optional
barrier lines (roads, rivers) and households (building polygons with counts, or points) into:

* **blocks** — the parent cut by the barriers (and by the outlines of keep-whole and locked
  areas);
* **cells** — each block subdivided per building: the Voronoi diagram of the buildings'
  representative points, clipped to the block; a block without buildings is one empty cell.
  Every building's footprint is then given whole to its own cell (no cell edge runs through a
  building), and the cells are cleaned into an exact coverage (shared edges vertex-matched),
  so grids built as :func:`shapely.coverage_union` of cells cover the parent with no gap or
  overlap;
* **units** — the cells, except that all cells inside one keep-whole polygon (an estate 小区,
  a courtyard 院落) or one locked grid merge into a single unit;
* **edges** — unit pairs sharing a boundary, with the shared length and the cost of cutting
  along it: low on a barrier (the edge separates two blocks), high inside a block.

Households outside the parent are kept in :attr:`Units.outside` and counted in
:attr:`Units.problems`, never dropped silently. All work is in a metric CRS
(:func:`geogrid.crs.metric_crs`).
"""

from geogrid.units.adjacency import BARRIER_COST, BLOCK_COST
from geogrid.units.build import build_units, units_from_polygons
from geogrid.units.grids import GridUnits, units_in_grids
from geogrid.units.inputs import household_areas
from geogrid.units.model import Units, unit_weights
from geogrid.units.tessellation import SLIVER_AREA

__all__ = [
    "BARRIER_COST",
    "BLOCK_COST",
    "SLIVER_AREA",
    "GridUnits",
    "Units",
    "build_units",
    "household_areas",
    "unit_weights",
    "units_from_polygons",
    "units_in_grids",
]
