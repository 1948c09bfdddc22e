"""Balanced partition of a parent area into grids (网格划分), nested micro-grids and plans.

The flow: :func:`geogrid.units.build_units` → :func:`partition` (METIS for a start, then a
hand-written band/compactness refinement, see :mod:`geogrid.partition.refine`) →
:func:`to_plan` (a :class:`~geogrid.plan.GridPlan` with codes, households and units).
"""

from geogrid.partition.band import Band, grid_count, parse_band
from geogrid.partition.plan import AreaResult, PartitionReport, nested, partition_areas, to_plan
from geogrid.partition.rebalance import Redraw, lower_bound, redraw
from geogrid.partition.solve import GridException, Partition, partition, summary

__all__ = [
    "AreaResult",
    "Band",
    "GridException",
    "Partition",
    "PartitionReport",
    "Redraw",
    "grid_count",
    "lower_bound",
    "nested",
    "parse_band",
    "partition",
    "partition_areas",
    "redraw",
    "summary",
    "to_plan",
]
