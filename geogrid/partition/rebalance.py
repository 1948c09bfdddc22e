"""Redraw a plan after households change, moving as few households as possible (调整网格).

Every moved household gets a new grid worker and a new contact card (直通卡), so a redraw
keeps the plan's units and grids, recounts the households per unit, and moves whole units
between neighbouring grids only until every grid is back in the band. When the total needs
more grids than before, the most loaded grids are split first (the split-off part is a new
grid with a new, never reused, code). Locked grids are not touched. The result carries a
building-level change list (which unit moves from which grid to which, households affected)
fit for public notice, and the old → new code lineage.
"""

from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geogrid.codes import number_children
from geogrid.errors import CRSError, InvalidInputError
from geogrid.partition.band import Band, grid_count
from geogrid.partition.graph import Graph
from geogrid.partition.initial import grow_regions
from geogrid.partition.plan import micro_grid_rows
from geogrid.partition.refine import refine
from geogrid.partition.solve import partition, unit_graph
from geogrid.plan import PLAN_CRS, GridPlan
from geogrid.units import Units, units_from_polygons

__all__ = ["Redraw", "lower_bound", "redraw"]


@dataclasses.dataclass
class Redraw:
    """The result of :func:`redraw`.

    Attributes
    ----------
    plan
        The redrawn plan. Under grids that changed, the micro-grids (the level below) are
        cut again with ``then_band``, or dropped without it; the others keep theirs.
    changes
        One row per moved unit: ``unit_id``, ``name``, ``households``, ``from_grid``,
        ``to_grid``.
    lineage
        One row per grid: ``old_code`` (empty for a new grid), ``new_code``, ``change``
        (``unchanged`` / ``changed`` / ``new`` / ``locked``), ``households_before``,
        ``households_after``.
    moved_households
        Households in moved units.
    lower_bound
        ``max(Σ excess over the band's max, Σ shortfall under its min)`` before the redraw:
        no redraw can move fewer households.
    out_of_band
        Codes of grids still outside the band after the redraw.
    """

    plan: GridPlan
    changes: pd.DataFrame
    lineage: pd.DataFrame
    moved_households: int
    lower_bound: float
    out_of_band: list[str]


def lower_bound(loads: np.ndarray, band: Band) -> float:
    """Fewest households any redraw must move to bring ``loads`` into ``band``.

    Examples
    --------
    >>> lower_bound(np.array([620.0, 450, 280]), Band(300, 500))
    120.0
    """
    loads = np.asarray(loads, dtype=float)
    excess = np.clip(loads - band.high, 0, None).sum()
    shortfall = np.clip(band.low - loads, 0, None).sum()
    return float(max(excess, shortfall))


def redraw(
    plan: GridPlan,
    households: gpd.GeoDataFrame,
    *,
    band: Band | tuple[float, float],
    level: int = 2,
    then_band: Band | tuple[float, float] | None = None,
    seed: int = 0,
) -> Redraw:
    """Restore the band after households changed, moving as few households as possible.

    Parameters
    ----------
    plan
        A plan with units (as written by ``geogrid partition``).
    households
        All households now (building polygons with a ``households`` column, or points).
    band
        The band every grid of ``level`` must fall in.
    level
        The level redrawn (default 2, the grids under the communities).
    then_band
        Band of the micro-grids (微网格) one level below: those of every changed or new grid
        are cut again inside it (as ``partition``'s ``then_band``); those of untouched grids
        stay as they are. The plan must have that level.
    seed
        Seed for splitting grids when more are needed.

    Returns
    -------
    Redraw
    """
    the_band = Band(*band) if isinstance(band, tuple) else band
    if plan.units is None or len(plan.units) == 0:
        raise InvalidInputError(
            "the plan has no units (单元) to move; make it with `geogrid partition`, "
            "which writes them"
        )
    if level < 2 or level > plan.depth:
        raise InvalidInputError(f"level must be 2…{plan.depth} for this plan, got {level}")
    if then_band is not None and plan.depth <= level:
        raise InvalidInputError(
            f"then_band re-cuts the micro-grids of level {level + 1}, which this plan does not "
            "have; partition with then_band first"
        )
    micro_band = Band(*then_band) if isinstance(then_band, tuple) else then_band
    grids = plan.level(level)
    owner = _ancestor_codes(plan, plan.units["grid_code"].astype(str).to_numpy(), level)
    counts = _recount(plan.units, households)
    parts = []
    for parent in sorted(set(grids["parent_code"].dropna().astype(str))):
        children = grids[grids["parent_code"] == parent]
        mask = np.isin(owner, children["code"].astype(str).to_numpy())
        if mask.any():
            parts.append(
                _redraw_parent(plan, parent, children, mask, owner, counts, the_band, seed)
            )
    return _assemble(plan, level, parts, counts, micro_band, seed)


@dataclasses.dataclass
class _Part:
    parent: str
    unit_rows: np.ndarray  # rows of plan.units
    old_codes: np.ndarray  # per unit
    new_codes: np.ndarray  # per unit
    geometries: dict[str, shapely.Geometry]  # new geometry of every changed or new grid (4490)
    lower_bound: float
    locked: set[str]
    band: Band


def _ancestor_codes(plan: GridPlan, codes: np.ndarray, level: int) -> np.ndarray:
    level_of = dict(zip(plan.grids["code"].astype(str), plan.grids["level"], strict=True))
    parent_of = dict(zip(plan.grids["code"].astype(str), plan.grids["parent_code"], strict=True))
    out = []
    for code in codes.tolist():
        while code in level_of and level_of[code] > level:
            code = str(parent_of[code])
        out.append(code)
    return np.array(out, dtype=object)


def _recount(units: gpd.GeoDataFrame, households: gpd.GeoDataFrame) -> np.ndarray:
    """Households now in every unit (by each household's representative point)."""
    if households.crs is None:
        raise CRSError("the households layer has no CRS (坐标系缺失)")
    homes = households.to_crs(PLAN_CRS)
    counts = (
        pd.to_numeric(homes["households"], errors="coerce").fillna(0).to_numpy(float)
        if "households" in homes
        else np.ones(len(homes))
    )
    points = shapely.point_on_surface(np.asarray(homes.geometry.array, dtype=object))
    home, unit = shapely.STRtree(units.geometry.to_numpy()).query(points, predicate="intersects")
    first = np.full(len(points), -1, dtype=np.int64)
    first[home[::-1]] = unit[::-1]
    inside = first >= 0
    return np.bincount(first[inside], weights=counts[inside], minlength=len(units)).astype(int)


def _redraw_parent(
    plan: GridPlan,
    parent: str,
    children: gpd.GeoDataFrame,
    mask: np.ndarray,
    owner: np.ndarray,
    counts: np.ndarray,
    band: Band,
    seed: int,
) -> _Part:
    rows = np.flatnonzero(mask)
    frame = plan.units.iloc[rows].assign(households=counts[rows])
    units = units_from_polygons(frame, id_column="unit_id", name_column="name")
    codes = list(children["code"].astype(str))
    index = {c: i for i, c in enumerate(codes)}
    assign = np.array([index[c] for c in owner[rows]], dtype=np.int64)
    loads = units.table["households"].to_numpy(float)
    locked_codes = {
        c for c in codes if plan.units["locked"].to_numpy()[rows][owner[rows] == c].any()
    }
    free_grid = np.array([c not in locked_codes for c in codes])
    free = free_grid[assign]
    grid_loads = np.bincount(assign, weights=loads, minlength=len(codes))
    bound = lower_bound(grid_loads[free_grid], band)
    k_free = int(free_grid.sum())
    k_needed, _ = grid_count(float(loads[free].sum()), band)
    new_assign = assign.copy()
    if k_free > 0:
        uniq = np.unique(assign[free])
        compact = _rebalance(units, free, assign[free], max(k_needed, k_free), band, seed)
        new_assign[free] = np.where(
            compact < len(uniq),
            uniq[np.minimum(compact, len(uniq) - 1)],
            len(codes) + compact - len(uniq),
        )
    new_codes = _codes_for(plan, parent, codes, new_assign, free, units)
    geometries = {}
    for g in np.unique(new_assign).tolist():
        mine = new_assign == g
        if not np.array_equal(mine, assign == g) or g >= len(codes):
            geometries[new_codes[g]] = shapely.coverage_union_all(frame.geometry.to_numpy()[mine])
    return _Part(
        parent=parent,
        unit_rows=rows,
        old_codes=np.array(codes, dtype=object)[assign],
        new_codes=np.array(new_codes, dtype=object)[new_assign],
        geometries=geometries,
        lower_bound=bound,
        locked=locked_codes,
        band=band,
    )


def _rebalance(
    units: Units, free: np.ndarray, assign: np.ndarray, k: int, band: Band, seed: int
) -> np.ndarray:
    """New grid index of the free units.

    The heaviest grids are split while more grids are needed; then boundary units move,
    fewest households first, until the band holds.
    """
    members = np.flatnonzero(free)
    graph = unit_graph(units, members, units.table["households"].to_numpy(float)[members])
    _, assign = np.unique(assign, return_inverse=True)
    assign = assign.astype(np.int64).ravel()
    loads = np.asarray(graph.load)
    while int(assign.max()) + 1 < k:
        assign = _split_heaviest(graph, assign, loads)
    target = band.midpoint
    return refine(
        graph,
        assign,
        int(assign.max()) + 1,
        band.low,
        band.high,
        target,
        seed=seed,
        home=assign.copy(),
    )


def _split_heaviest(graph: Graph, assign: np.ndarray, loads: np.ndarray) -> np.ndarray:
    """Split the heaviest grid in two connected halves; the lighter half is a new grid."""
    k = int(assign.max()) + 1
    grid_loads = np.bincount(assign, weights=loads, minlength=k)
    g = int(np.argmax(grid_loads))
    # units without neighbours (slivers the coverage cleaning emptied) stay where they are:
    # a half made of them alone could never grow
    linked = np.array([len(graph.nbrs[u]) > 0 for u in range(len(assign))], dtype=bool)
    mine = np.flatnonzero((assign == g) & linked)
    if len(mine) < 2:
        return assign
    local = np.full(len(assign), -1, dtype=np.int64)
    local[mine] = np.arange(len(mine))
    xadj: list[int] = [0]
    adjncy: list[int] = []
    for u in mine.tolist():
        adjncy.extend(local[v] for v in graph.nbrs[u] if local[v] >= 0)
        xadj.append(len(adjncy))
    halves = grow_regions(2, np.array(xadj), np.array(adjncy, dtype=np.int64), loads[mine])
    half_loads = np.bincount(halves, weights=loads[mine], minlength=2)
    new_half = int(np.argmin(half_loads))
    out = assign.copy()
    out[mine[halves == new_half]] = k
    return out


def _codes_for(
    plan: GridPlan,
    parent: str,
    codes: list[str],
    assign: np.ndarray,
    free: np.ndarray,
    units: Units,
) -> list[str]:
    """Old grids keep their codes; new grids get codes never used under the parent."""
    k = int(assign.max()) + 1
    new = list(range(len(codes), k))
    if not new:
        return codes
    geoms = [shapely.coverage_union_all(units.table.geometry.to_numpy()[assign == g]) for g in new]
    taken = set(plan.grids["code"].astype(str))
    numbered = number_children(parent, gpd.GeoSeries(geoms, crs=units.crs), taken)
    return codes + numbered


def _assemble(
    plan: GridPlan,
    level: int,
    parts: list[_Part],
    counts: np.ndarray,
    micro_band: Band | None,
    seed: int,
) -> Redraw:
    grids = plan.grids.copy()
    units = plan.units.copy()
    units["households"] = counts
    grid_codes = units["grid_code"].astype(object).to_numpy().copy()
    change_rows: list[tuple[object, ...]] = []
    lineage_rows: list[tuple[object, ...]] = []
    new_rows: list[dict[str, object]] = []
    changed: set[str] = set()
    moved, bound = 0, 0.0
    for part in parts:
        bound += part.lower_bound
        changed |= set(part.geometries)
        names = units["name"].to_numpy(object)[part.unit_rows]
        ids = units["unit_id"].to_numpy(object)[part.unit_rows]
        households = counts[part.unit_rows]
        for i in np.flatnonzero(part.old_codes != part.new_codes).tolist():
            name = None if pd.isna(names[i]) else names[i]
            change_rows.append(
                (ids[i], name, int(households[i]), part.old_codes[i], part.new_codes[i])
            )
            moved += int(households[i])
        in_changed = np.isin(part.new_codes, list(part.geometries))
        grid_codes[part.unit_rows[in_changed]] = part.new_codes[in_changed]
        for code, geom in part.geometries.items():
            if (grids["code"] == code).any():
                grids.loc[grids["code"] == code, "geometry"] = geom
            else:
                new_rows.append(
                    {
                        "code": code,
                        "name": f"新网格{code[-3:]}",
                        "level": level,
                        "parent_code": part.parent,
                        "geometry": geom,
                    }
                )
        lineage_rows.extend(_lineage(part, households))
    units["grid_code"] = grid_codes
    if new_rows:
        grids = pd.concat(
            [grids, gpd.GeoDataFrame(new_rows, geometry="geometry", crs=PLAN_CRS)],
            ignore_index=True,
        )
    grids = _drop_children(grids, changed)
    if micro_band is not None:
        locked = {c for part in parts for c in part.locked}
        recut = changed | (locked - set(grids["parent_code"].dropna().astype(str)))
        grids, units = _recut(grids, units, recut, level + 1, micro_band, plan, seed)
    grids = _recount_grids(grids, units)
    new_plan = GridPlan(plan.name, plan.levels, grids, plan.staff, units, plan.attribution)
    changes = pd.DataFrame(
        change_rows, columns=["unit_id", "name", "households", "from_grid", "to_grid"]
    )
    lineage = pd.DataFrame(
        lineage_rows,
        columns=["old_code", "new_code", "change", "households_before", "households_after"],
    )
    level_rows = new_plan.level(level)
    outside = (
        [
            str(code)
            for code, households in zip(level_rows["code"], level_rows["households"], strict=True)
            if code not in {c for part in parts for c in part.locked}
            and not parts[0].band.contains(float(households))
        ]
        if parts
        else []
    )
    return Redraw(new_plan, changes, lineage, moved, bound, outside)


def _recut(
    grids: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    changed: set[str],
    level: int,
    band: Band,
    plan: GridPlan,
    seed: int,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Micro-grids of ``level`` cut again inside every grid of ``changed``.

    Those are the changed and new grids, and locked grids without micro-grids (from a plan
    made before locked grids got theirs); the units' codes are updated.
    """
    codes = units["grid_code"].astype(str).to_numpy().copy()
    taken = set(plan.grids["code"].astype(str)) | set(grids["code"].astype(str))
    names = dict(zip(grids["code"].astype(str), grids["name"].astype(str), strict=True))
    rows: list[dict[str, object]] = []
    for code in sorted(changed):
        mine = np.flatnonzero(codes == code)
        if len(mine) == 0:
            continue
        cells = units_from_polygons(units.iloc[mine], id_column="unit_id", name_column="name")
        micro = partition(cells, band=band, seed=seed)
        found, unit_codes = micro_grid_rows(micro, code, names[code], taken, level=level)
        taken |= {str(r["code"]) for r in found}
        rows.extend(found)
        codes[mine] = unit_codes
    units = units.assign(grid_code=codes)
    if rows:
        grids = pd.concat(
            [grids, gpd.GeoDataFrame(rows, geometry="geometry", crs=PLAN_CRS)], ignore_index=True
        )
    return grids, units


def _lineage(part: _Part, households: np.ndarray) -> list[tuple[object, ...]]:
    before = pd.Series(households).groupby(part.old_codes).sum()
    after = pd.Series(households).groupby(part.new_codes).sum()
    old = set(part.old_codes.tolist())
    rows: list[tuple[object, ...]] = []
    for code in sorted(old | set(part.new_codes.tolist())):
        is_new = code not in old
        if code in part.locked:
            change = "locked"
        elif is_new:
            change = "new"
        elif code in part.geometries:
            change = "changed"
        else:
            change = "unchanged"
        rows.append(
            (
                "" if is_new else code,
                code,
                change,
                int(before.get(code, 0)),
                int(after.get(code, 0)),
            )
        )
    return rows


def _drop_children(grids: gpd.GeoDataFrame, changed: set[str]) -> gpd.GeoDataFrame:
    """Remove the levels below ``level`` under changed grids (they no longer fit)."""
    drop = set()
    frontier = set(changed)
    while frontier:
        kids = set(grids.loc[grids["parent_code"].isin(frontier), "code"].astype(str))
        drop |= kids
        frontier = kids
    return grids[~grids["code"].isin(drop)].reset_index(drop=True)


def _recount_grids(grids: gpd.GeoDataFrame, units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Households of every grid from its units (deepest code), summed up the levels."""
    grids = grids.copy()
    codes = set(grids["code"].astype(str))
    parent_of = dict(zip(grids["code"].astype(str), grids["parent_code"], strict=True))
    totals: dict[str, int] = {}
    for code, households in zip(units["grid_code"].astype(str), units["households"], strict=True):
        while code in codes:
            totals[code] = totals.get(code, 0) + int(households)
            up = parent_of.get(code)
            if up is None or pd.isna(up):
                break
            code = str(up)
    grids["households"] = [totals.get(c, 0) for c in grids["code"].astype(str)]
    return grids
