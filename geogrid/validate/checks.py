"""Find every problem of a plan's grids: geometry, codes, nesting, coverage, household counts.

:func:`validate_plan` runs every check; :func:`geometry_problems` only the cheap geometry ones.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import shapely

from geogrid.plan import GridPlan
from geogrid.polygons import invalid_reason
from geogrid.validate.metres import EPS_M, Grids, Space, polygon_parts, prepare
from geogrid.validate.problems import Problem, ProblemKind, Severity

__all__ = ["geometry_problems", "validate_plan"]

_KIND_ORDER = {kind: i for i, kind in enumerate(ProblemKind)}


@dataclasses.dataclass(frozen=True)
class _Noise:
    """What counts as floating-point or reprojection noise rather than a problem."""

    area_m2: float
    width_m: float

    def significant(self, parts: np.ndarray) -> np.ndarray:
        """Which polygons are larger than ``area_m2`` and wider than ``width_m``."""
        big = shapely.area(parts) > self.area_m2
        if self.width_m > 0 and big.any():
            core = shapely.buffer(parts[big], -0.5 * self.width_m, quad_segs=2)
            big[big] = ~shapely.is_empty(core)
        return np.asarray(big, dtype=bool)

    def kept(self, geom: shapely.Geometry) -> shapely.Geometry | None:
        """The significant polygons of ``geom``, ``None`` when there are none."""
        parts = polygon_parts(geom)
        parts = parts[self.significant(parts)]
        return shapely.multipolygons(parts) if len(parts) else None


def validate_plan(
    plan: GridPlan, *, tolerance_m2: float = 0.01, noise_width_m: float = 0.01
) -> list[Problem]:
    """Find every problem of a plan's grids.

    Checks, for every grid: empty and invalid geometry (with GEOS's reason and location),
    duplicate codes, a parent code that is not in the plan, a level that is not its parent's
    plus one, a code that does not start with its parent's code (warning); and for every
    sibling group: parts of a child outside its parent, overlaps between siblings, parts of
    the parent its children leave uncovered (gap, hole or not covering parent), and household
    counts that do not add up to the parent's (warning). Top-level grids have no parent, so
    there only overlaps and the gaps and holes they enclose are found.

    Parameters
    ----------
    plan
        The plan to check.
    tolerance_m2
        Gaps, overlaps and outside parts smaller than this (square metres) are floating-point
        noise and not reported.
    noise_width_m
        Gaps, overlaps and outside parts narrower than this everywhere (metres; 1 cm by
        default) are not reported either: they come from converting between CRSs (a vertex
        on a straight edge in one CRS is millimetres off it in another), not from planning.

    Returns
    -------
    list of Problem
        Sorted: errors before warnings, then by kind, parent, codes and location. Empty for a
        valid plan.
    """
    if tolerance_m2 < 0:
        raise ValueError(f"tolerance_m2 must be >= 0 square metres, got {tolerance_m2}")
    if noise_width_m < 0:
        raise ValueError(f"noise_width_m must be >= 0 metres, got {noise_width_m}")
    noise = _Noise(tolerance_m2, noise_width_m)
    grids = prepare(plan)
    space = grids.space
    problems = [
        *_geometry_problems(grids.codes, grids.original),
        *_code_problems(grids),
        *_outside_parent(grids, space, noise),
        *_overlaps(grids, space, noise),
        *_uncovered(grids, space, noise, plan),
        *_households(grids),
    ]
    return sorted(problems, key=_sort_key)


def _sort_key(p: Problem) -> tuple[Any, ...]:
    severity = 0 if p.severity is Severity.ERROR else 1
    where = (math.inf, math.inf) if p.lon is None or p.lat is None else (p.lon, p.lat)
    return (severity, _KIND_ORDER[p.kind], p.parent or "", p.codes, where, p.detail)


def geometry_problems(plan: GridPlan) -> list[Problem]:
    """Empty and invalid grid geometries only: the cheap part of :func:`validate_plan`.

    No overlays, so it suits a quick look, e.g. after ``geogrid import``.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Polygon
    >>> bow_tie = Polygon([(116.30, 40.00), (116.31, 40.01), (116.31, 40.00), (116.30, 40.01)])
    >>> grids = gpd.GeoDataFrame({"code": ["110108001"], "name": ["社区"], "level": [1]},
    ...                          geometry=[bow_tie], crs=4490)
    >>> [p.line() for p in geometry_problems(GridPlan("示例", ["社区"], grids))]
    ['invalid geometry (无效几何) 110108001 at 116.30500, 40.00500: Self-intersection; repair it in QGIS (Vector › Geometry Tools › Fix Geometries) or with --fix']
    """
    codes = plan.grids["code"].astype(object).to_numpy()
    return list(_geometry_problems(codes, plan.grids.geometry.to_numpy()))


def _geometry_problems(codes: np.ndarray, geoms: np.ndarray) -> Iterator[Problem]:
    empty = shapely.is_empty(geoms) | shapely.is_missing(geoms)
    for i in np.flatnonzero(empty):
        yield Problem(ProblemKind.EMPTY_GEOMETRY, (codes[i],), detail="the grid has no area")
    for i in np.flatnonzero(~empty & ~shapely.is_valid(geoms)):
        reason, lon, lat = invalid_reason(geoms[i])
        detail = (
            f"{reason}; repair it in QGIS (Vector › Geometry Tools › Fix Geometries) or with --fix"
        )
        yield Problem(ProblemKind.INVALID_GEOMETRY, (codes[i],), lon, lat, detail=detail)


def _code_problems(grids: Grids) -> Iterator[Problem]:
    counts = pd.Series(grids.codes).value_counts()
    for code, n in counts[counts > 1].items():
        yield Problem(ProblemKind.DUPLICATE_CODE, (str(code),), detail=f"{n} grids share this code")
    for code, parent, level in zip(grids.codes, grids.parents, grids.levels, strict=True):
        if parent is None:
            if level > 1:
                detail = f"a level-{level} grid needs a parent_code"
                yield Problem(ProblemKind.MISSING_PARENT, (code,), detail=detail)
            continue
        row = grids.first.get(parent)
        if row is None:
            detail = f"its parent {parent} is not in the plan"
            yield Problem(ProblemKind.MISSING_PARENT, (code,), detail=detail, parent=parent)
            continue
        expected = int(grids.levels[row]) + 1
        if level != expected:
            detail = f"level {level} under a level-{expected - 1} parent; expected level {expected}"
            yield Problem(ProblemKind.LEVEL_MISMATCH, (code,), detail=detail, parent=parent)
        if not code.startswith(parent):
            detail = "the code does not start with its parent's code"
            yield Problem(ProblemKind.CODE_SCHEME, (code,), detail=detail, parent=parent)


def _outside_parent(grids: Grids, space: Space, noise: _Noise) -> Iterator[Problem]:
    pairs = [(i, grids.parent_row(i)) for i in range(len(grids.codes))]
    child = np.array([i for i, p in pairs if p is not None], dtype=np.intp)
    parent = np.array([p for _, p in pairs if p is not None], dtype=np.intp)
    if len(child) == 0:
        return
    a, b = grids.metric[child], grids.metric[parent]
    suspect = ~shapely.is_empty(a) & ~shapely.is_empty(b) & ~shapely.covers(b, a)
    outside = shapely.difference(a[suspect], b[suspect])
    area = shapely.area(outside)
    for i, geom, size in zip(child[suspect], outside, area, strict=True):
        geom = noise.kept(geom) if size > noise.area_m2 else None
        if geom is not None:
            lon, lat = space.lonlat(geom)
            code, parent_code = grids.codes[i], grids.parents[i]
            yield Problem(
                ProblemKind.OUTSIDE_PARENT,
                (code,),
                lon,
                lat,
                space.area_m2(geom),
                parent=parent_code,
                geometry=space.to_lonlat(geom),
            )


def _overlaps(grids: Grids, space: Space, noise: _Noise) -> Iterator[Problem]:
    geoms = grids.metric
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keys = grids.group_keys
    keep = (left < right) & (keys[left] == keys[right])
    left, right = left[keep], right[keep]
    keep = ~shapely.touches(geoms[left], geoms[right])
    left, right = left[keep], right[keep]
    shared = shapely.intersection(geoms[left], geoms[right])
    area = shapely.area(shared)
    for i, j, geom, size in zip(left, right, shared, area, strict=True):
        geom = noise.kept(geom) if size > noise.area_m2 else None
        if geom is not None:
            lon, lat = space.lonlat(geom)
            codes = tuple(sorted((grids.codes[i], grids.codes[j])))
            yield Problem(
                ProblemKind.OVERLAP,
                codes,
                lon,
                lat,
                space.area_m2(geom),
                parent=grids.parents[i],
                geometry=space.to_lonlat(geom),
            )


def _uncovered(grids: Grids, space: Space, noise: _Noise, plan: GridPlan) -> Iterator[Problem]:
    groups = grids.groups()
    for key, rows in groups.items():
        rows = rows[~shapely.is_empty(grids.metric[rows])]
        parent = grids.first.get(key) if key else None
        if key and parent is None:
            continue  # missing parent: reported already
        yield from _uncovered_group(grids, space, noise, rows, parent)
    yield from _childless(grids, space, groups, plan)


def _uncovered_group(
    grids: Grids, space: Space, noise: _Noise, rows: np.ndarray, parent: int | None
) -> Iterator[Problem]:
    if len(rows) == 0:
        return
    children = grids.metric[rows]
    union = _union(children)
    if parent is None:
        area = _enclosed(union)
        edge = None
    else:
        area = shapely.difference(grids.metric[parent], union)
        edge = shapely.boundary(grids.metric[parent])
    parts = polygon_parts(area)
    parts = parts[noise.significant(parts)]
    if len(parts) == 0:
        return
    tree = shapely.STRtree(children)
    edge_zone = None if edge is None else shapely.buffer(edge, EPS_M, quad_segs=1)
    parent_code = None if parent is None else grids.codes[parent]
    for part in parts:
        near = tree.query(part, predicate="dwithin", distance=EPS_M)
        codes = tuple(sorted({grids.codes[rows[k]] for k in near}))
        kind = _uncovered_kind(part, edge_zone, len(codes))
        lon, lat = space.lonlat(part)
        yield Problem(
            kind,
            codes,
            lon,
            lat,
            space.area_m2(part),
            parent=parent_code,
            geometry=space.to_lonlat(part),
        )


def _uncovered_kind(
    part: shapely.Geometry, edge_zone: shapely.Geometry | None, n_near: int
) -> ProblemKind:
    perimeter = float(shapely.length(part))
    on_edge = 0.0
    if edge_zone is not None:
        on_edge = float(shapely.length(shapely.intersection(shapely.boundary(part), edge_zone)))
    if on_edge <= EPS_M and n_near == 1:
        return ProblemKind.HOLE
    if on_edge > perimeter - on_edge:
        return ProblemKind.NOT_COVERING_PARENT
    return ProblemKind.GAP


def _union(geoms: np.ndarray) -> shapely.Geometry:
    geoms = geoms[~shapely.is_empty(geoms)]
    if len(geoms) == 0:
        return shapely.Polygon()
    if shapely.coverage_is_valid(geoms):
        return shapely.coverage_union_all(geoms)
    return shapely.union_all(geoms)


def _enclosed(union: shapely.Geometry) -> shapely.Geometry:
    """Return the areas a coverage encloses but does not cover (its holes)."""
    rings = [ring for part in polygon_parts(union) for ring in shapely.get_rings(part)[1:]]
    if not rings:
        return shapely.Polygon()
    holes = shapely.union_all(shapely.polygons(np.array(rings, dtype=object)))
    return shapely.difference(holes, union)


def _childless(
    grids: Grids, space: Space, groups: dict[str, np.ndarray], plan: GridPlan
) -> Iterator[Problem]:
    """Grids without children on a level where others have some."""
    levels_with_children = {
        int(grids.levels[grids.first[key]]) for key in groups if key in grids.first
    }
    for code, i in grids.first.items():
        level = int(grids.levels[i])
        if code in groups or level not in levels_with_children or shapely.is_empty(grids.metric[i]):
            continue
        name = plan.levels[level] if level < len(plan.levels) else str(level + 1)
        detail = (
            f"no level-{level + 1} grids ({name}) inside, while other level-{level} grids have some"
        )
        lon, lat = space.lonlat(grids.metric[i])
        area = space.area_m2(grids.metric[i])
        yield Problem(ProblemKind.NOT_COVERING_PARENT, (), lon, lat, area, detail, parent=code)


def _households(grids: Grids) -> Iterator[Problem]:
    for key, rows in grids.groups().items():
        parent = grids.first.get(key) if key else None
        if parent is None:
            continue
        total = grids.households.iloc[parent]
        children = grids.households.iloc[rows]
        if pd.isna(total) or children.isna().any():
            continue
        if int(children.sum()) != int(total):
            detail = (
                f"its {len(rows)} children sum to {int(children.sum())} households, "
                f"it records {int(total)}"
            )
            yield Problem(ProblemKind.HOUSEHOLDS_MISMATCH, (key,), detail=detail)
