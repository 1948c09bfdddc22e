"""Fix a plan: snap digitising slop within a tolerance, refuse what would move a unit.

See :func:`fix_plan`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import shapely

from geogrid.plan import PLAN_CRS, GridPlan
from geogrid.polygons import invalid_reason
from geogrid.validate.metres import EPS_M, Grids, Space, polygon_parts, polygonal, prepare
from geogrid.validate.problems import Change, ChangeKind, area_text

__all__ = ["fix_plan"]

_MAX_PIN_ROUNDS = 6


def fix_plan(plan: GridPlan, *, tolerance_m: float = 0.5) -> tuple[GridPlan, list[Change]]:
    """Snap digitising slop within ``tolerance_m`` metres; leave anything larger alone.

    Top-down, for each sibling group, in the plan's metric CRS: invalid geometries are
    repaired (``shapely.make_valid``); ``shapely.coverage_clean`` snaps vertices closer than
    the tolerance, merges gaps narrower than it and resolves overlaps (into the neighbour
    with the longest shared border), with the outside of the parent as an extra, fixed
    polygon so children snap to the parent's edge; children are clipped to their parent and
    the remaining narrow gaps along its edge given to the child with the longest border.

    A grid whose boundary would move by more than the tolerance anywhere (a wide overlap,
    a child far outside its parent) is kept as it was, so validation still reports it. A fix
    that would take a unit's representative point (and its households) out of the grid it
    belongs to is refused: the grids concerned are kept and a ``refused`` change says why.

    Parameters
    ----------
    plan
        The plan to fix; it is not modified.
    tolerance_m
        Largest width (metres) of a sliver, gap or overlap to remove, and largest distance a
        vertex may be snapped.

    Returns
    -------
    (GridPlan, list of Change)
        The fixed plan (a copy) and what was changed, one entry per changed grid.
    """
    if not tolerance_m > 0:
        raise ValueError(f"tolerance_m must be > 0 metres, got {tolerance_m}")
    grids = prepare(plan)
    fixed = grids.metric.copy()
    changes = list(_validity_changes(grids))
    units = _Units.of(plan, grids.space)
    groups = grids.groups()
    for key in sorted(groups, key=lambda k: _depth(grids, k)):
        parent = grids.first.get(key) if key else None
        rows = groups[key][~shapely.is_empty(grids.metric[groups[key]])]
        if len(rows) == 0:
            continue
        new, refused = _fix_group(
            fixed, rows, None if parent is None else fixed[parent], tolerance_m, units, grids
        )
        fixed[rows] = new
        changes += refused
    changes += _snap_changes(grids, fixed)
    return _rebuilt(plan, grids, fixed), changes


def _depth(grids: Grids, key: str) -> int:
    row = grids.first.get(key)
    return 0 if row is None else int(grids.levels[row])


def _validity_changes(grids: Grids) -> Iterator[Change]:
    invalid = ~shapely.is_empty(grids.original) & ~shapely.is_valid(grids.original)
    for i in np.flatnonzero(invalid):
        reason = invalid_reason(grids.original[i])[0]
        detail = f"{reason} repaired with make_valid; check the shape"
        yield Change(ChangeKind.MADE_VALID, (grids.codes[i],), detail=detail)


def _fix_group(
    fixed: np.ndarray,
    rows: np.ndarray,
    parent: shapely.Geometry | None,
    tolerance_m: float,
    units: _Units,
    grids: Grids,
) -> tuple[np.ndarray, list[Change]]:
    """Clean one sibling group, pinning grids whose fix would be wide or move a unit."""
    before = fixed[rows]
    pinned = np.zeros(len(rows), dtype=bool)
    refused: list[Change] = []
    for _ in range(_MAX_PIN_ROUNDS):
        after = before.copy()
        free = ~pinned
        if free.any():
            after[free] = _cleaned(before[free], before[pinned], parent, tolerance_m)
        wide = free & _wide_changes(before, after, tolerance_m)
        moves = units.moves(grids.codes[rows], before, after)
        for unit_text, losing, taking in moves:
            codes = tuple(
                sorted({grids.codes[rows[losing]], *(grids.codes[rows[t]] for t in taking)})
            )
            loser = grids.codes[rows[losing]]
            detail = f"kept as they were: the fix would move unit {unit_text} out of {loser}"
            refused.append(Change(ChangeKind.REFUSED, codes, detail=detail))
            pinned[[losing, *taking]] = True
        if not wide.any() and not moves:
            return after, refused
        pinned |= wide
    return before, refused


def _cleaned(
    geoms: np.ndarray,
    fixed_neighbours: np.ndarray,
    parent: shapely.Geometry | None,
    tolerance_m: float,
) -> np.ndarray:
    frame = []
    if parent is not None:
        west, south, east, north = shapely.bounds(shapely.union_all([parent, *geoms]))
        margin = 10 * tolerance_m + 1.0
        outer = shapely.box(west - margin, south - margin, east + margin, north + margin)
        frame = [shapely.difference(outer, parent)]
    cleaned = shapely.coverage_clean(
        np.array([*frame, *geoms], dtype=object),
        snapping_distance=-1,  # automatic: tiny, so sound grids keep their vertices
        gap_width=tolerance_m,
        merge_strategy="longest_border",
    )[len(frame) :]
    cleaned = np.array([polygonal(g) for g in cleaned], dtype=object)
    if parent is None:
        return cleaned
    cleaned = np.array([polygonal(g) for g in shapely.intersection(cleaned, parent)], dtype=object)
    return _filled(cleaned, fixed_neighbours, parent, tolerance_m)


def _filled(
    geoms: np.ndarray, fixed_neighbours: np.ndarray, parent: shapely.Geometry, tolerance_m: float
) -> np.ndarray:
    """Give each narrow uncovered part of the parent to the child with the longest border."""
    union = shapely.union_all(np.array([*geoms, *fixed_neighbours], dtype=object))
    out = geoms.copy()
    tree = shapely.STRtree(geoms)
    for part in polygon_parts(shapely.difference(parent, union)):
        if not _narrow(part, tolerance_m):
            continue
        near = tree.query(part, predicate="dwithin", distance=EPS_M)
        if len(near) == 0:
            continue
        zones = shapely.buffer(shapely.boundary(geoms[near]), EPS_M, quad_segs=1)
        border = shapely.length(shapely.intersection(shapely.boundary(part), zones))
        k = int(near[int(np.argmax(border))])
        out[k] = polygonal(shapely.union(out[k], part))
    return out


def _narrow(geom: shapely.Geometry, tolerance_m: float) -> bool:
    return bool(shapely.is_empty(shapely.buffer(geom, -0.5 * tolerance_m * (1 + 1e-6))))


def _wide_changes(before: np.ndarray, after: np.ndarray, tolerance_m: float) -> np.ndarray:
    change = shapely.symmetric_difference(before, after)
    return np.array([not _narrow(c, tolerance_m) for c in change], dtype=bool)


@dataclasses.dataclass
class _Units:
    """Representative points of the plan's units (metric), by the grid code they belong to."""

    points: np.ndarray
    grid_codes: np.ndarray
    labels: np.ndarray

    @classmethod
    def of(cls, plan: GridPlan, space: Space) -> _Units:
        units = plan.units
        units = units[units["grid_code"].notna() & ~units.geometry.is_empty]
        points = shapely.point_on_surface(space.to_work(units.geometry.to_numpy()))
        labels = [
            _unit_text(u, h) for u, h in zip(units["unit_id"], units["households"], strict=True)
        ]
        return cls(
            points, units["grid_code"].astype(object).to_numpy(), np.array(labels, dtype=object)
        )

    def moves(
        self, codes: np.ndarray, before: np.ndarray, after: np.ndarray
    ) -> list[tuple[str, int, list[int]]]:
        """Units of grids ``codes`` that their grid holds ``before`` but not ``after``.

        Returns (unit label, position of the losing grid, positions of grids now holding it).
        """
        position = {code: k for k, code in enumerate(codes)}
        mine = np.array([c in position for c in self.grid_codes], dtype=bool)
        if not mine.any():
            return []
        points = self.points[mine]
        own = np.array([position[c] for c in self.grid_codes[mine]], dtype=np.intp)
        lost = shapely.covers(before[own], points) & ~shapely.covers(after[own], points)
        out = []
        for k in np.flatnonzero(lost):
            taking = [
                int(t) for t in np.flatnonzero(shapely.covers(after, points[k])) if t != own[k]
            ]
            out.append((str(self.labels[mine][k]), int(own[k]), taking))
        return out


def _unit_text(unit_id: object, households: Any) -> str:
    return f"{unit_id}" if pd.isna(households) else f"{unit_id} ({households} households)"


def _snap_changes(grids: Grids, fixed: np.ndarray) -> Iterator[Change]:
    gained = shapely.area(shapely.difference(fixed, grids.metric))
    lost = shapely.area(shapely.difference(grids.metric, fixed))
    for i in np.flatnonzero(gained + lost > 0):
        detail = f"gained {area_text(float(gained[i]))}, gave up {area_text(float(lost[i]))}"
        yield Change(ChangeKind.SNAPPED, (grids.codes[i],), float(gained[i] + lost[i]), detail)


def _rebuilt(plan: GridPlan, grids: Grids, fixed: np.ndarray) -> GridPlan:
    changed = _changed_rows(grids, fixed)
    table = plan.grids.copy()
    if changed.any():
        back = grids.space.to_lonlat(fixed[changed])
        geometry = table.geometry.to_numpy().copy()
        geometry[changed] = back
        table = table.set_geometry(geometry, crs=PLAN_CRS)
    return dataclasses.replace(plan.copy(), grids=table)


def _changed_rows(grids: Grids, fixed: np.ndarray) -> np.ndarray:
    invalid = ~shapely.is_valid(grids.original) & ~shapely.is_empty(grids.original)
    moved = shapely.area(shapely.symmetric_difference(fixed, grids.metric)) > 0
    return np.asarray(invalid | moved, dtype=bool)
