"""Check a grid plan — valid geometry, no gaps, no overlaps, children inside parents — and fix it.

:func:`validate_plan` returns a sorted list of :class:`Problem`; :func:`fix_plan` snaps
digitising slop (slivers, tiny gaps and overlaps, children poking out of their parent) within a
tolerance and returns the fixed plan with a list of :class:`Change`. Overlays and tolerances work
in local metres (an affine scaling of lon/lat, which keeps the plan's straight edges and
T-junctions exact); areas are measured in the CGCS2000 Gauss–Krüger zone
:func:`geogrid.crs.metric_crs` chooses for the plan; locations are reported in CGCS2000 lon/lat
(EPSG:4490). See ``docs/validation.md`` for every check.

Uncovered parts of a parent are told apart by what borders them:

``hole`` (空洞)
    enclosed by one grid alone — an interior ring of that grid no sibling fills;
``gap`` (缝隙)
    bordered mostly by sibling grids (a sliver between two neighbours, a missing grid);
``not_covering_parent`` (未覆盖上级)
    lying mostly along the parent's own edge (the children stop short of it), or a parent
    with no children at all while other grids of its level have some.

The work is split by concern, and everything public is re-exported here:
:mod:`geogrid.validate.problems` (:class:`Problem`, :class:`Change` and their kinds),
:mod:`geogrid.validate.checks` (:func:`validate_plan`, :func:`geometry_problems`),
:mod:`geogrid.validate.fix` (:func:`fix_plan`) and :mod:`geogrid.validate.metres` (the plan in
metres both work on).

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> from geogrid.plan import GridPlan
>>> grids = gpd.GeoDataFrame(
...     {"code": ["110108001", "110108001001", "110108001002"], "name": ["社区", "一", "二"],
...      "level": [1, 2, 2], "parent_code": [None, "110108001", "110108001"]},
...     geometry=[box(116.30, 40.00, 116.31, 40.01), box(116.30, 40.00, 116.305, 40.01),
...               box(116.3051, 40.00, 116.31, 40.01)], crs=4490)
>>> plan = GridPlan("示例", ["社区", "网格"], grids)
>>> for problem in validate_plan(plan):
...     print(problem.line())
gap (缝隙) in 110108001 between 110108001001, 110108001002 at 116.30505, 40.00500: 9,481.8 m²
"""

from geogrid.validate.checks import geometry_problems, validate_plan
from geogrid.validate.fix import fix_plan
from geogrid.validate.problems import Change, ChangeKind, Problem, ProblemKind, Severity

__all__ = [
    "Change",
    "ChangeKind",
    "Problem",
    "ProblemKind",
    "Severity",
    "fix_plan",
    "geometry_problems",
    "validate_plan",
]
