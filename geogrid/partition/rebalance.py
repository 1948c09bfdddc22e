"""Redraw a plan after households change, moving as few households as possible (调整网格).

Every moved household gets a new grid worker and a new contact card (直通卡), so a redraw
keeps the plan's grids, recounts the households, and moves whole buildings between
neighbouring grids only until every grid is back in the band. The units moved are the plan's
own when they tile its grids (a plan made by ``geogrid partition``); a plan drawn by hand or
imported — building footprints or no units at all — is cut into one cell per building inside
its own grids first (:mod:`geogrid.partition.redraw_units`). When the total needs more grids
than before, the most loaded grids are split first (the split-off part is a new grid with a
new, never reused, code); no grid is left empty. Locked and special grids are not touched, and
every grid that need not change keeps its code, name, staff and geometry. The result carries
the change list, one row per building named by its own id (:mod:`geogrid.partition.notice`),
and the old → new code lineage.
"""

from __future__ import annotations

import dataclasses
from math import ceil

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geogrid.codes import number_children
from geogrid.errors import CRSError, InvalidInputError
from geogrid.partition.band import Band, grid_count
from geogrid.partition.bounds import band_bound
from geogrid.partition.graph import Graph, connected
from geogrid.partition.initial import grow_regions
from geogrid.partition.notice import building_ids, change_rows, notice
from geogrid.partition.plan import micro_grid_rows
from geogrid.partition.redraw_units import ParentUnits, parent_units
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
        cut again with ``then_band``, or dropped without it; the others keep theirs. A plan
        whose units did not tile its grids gets the cells built for the redraw as its units.
    changes
        One row per moved building (:data:`~geogrid.partition.notice.CHANGE_COLUMNS`): its
        ``id`` (the households' id column), ``name``, ``address``, ``households``, and the
        ``from_code`` / ``from_name`` and ``to_code`` / ``to_name`` of its grids.
    lineage
        One row per grid: ``old_code`` (empty for a new grid), ``new_code``, ``change``
        (``unchanged`` / ``changed`` / ``new`` / ``locked``), ``households_before``,
        ``households_after``.
    moved_households
        Households in moved buildings.
    lower_bound
        ``max(Σ excess over the band's max, Σ shortfall under its min)`` before the redraw:
        no redraw can move fewer households.
    out_of_band
        Codes of grids still outside the band after the redraw.
    problems
        Why those grids stay out of band, with the bound (one message per parent).
    cut
        Buildings the old grid lines cut, each counted wholly in the grid holding most of
        its footprint: ``id``, ``name``, ``households``, ``code``, ``grid_name``, ``share``.
    built_units
        True when the plan's units did not tile its grids and cells were built for the redraw.
    """

    plan: GridPlan
    changes: pd.DataFrame
    lineage: pd.DataFrame
    moved_households: int
    lower_bound: float
    out_of_band: list[str]
    problems: list[str] = dataclasses.field(default_factory=list)
    cut: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    built_units: bool = False

    def notice(self) -> pd.DataFrame:
        """The change list with bilingual headers, as posted (公示); see :func:`notice`."""
        return notice(self.changes)


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
    max_moved: int | None = None,
    allow_out_of_band: bool = False,
    id_column: str | None = None,
    seed: int = 0,
) -> Redraw:
    """Restore the band after households changed, moving as few households as possible.

    Parameters
    ----------
    plan
        Any valid plan: made by ``geogrid partition`` (its units are moved), drawn by hand
        with building units, or grids only (cells are built per building inside the grids).
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
    max_moved
        Refuse when the redraw would move more households (the error says how many it needs
        and the lower bound).
    allow_out_of_band
        Return a result whose grids are not all in the band (see :attr:`Redraw.problems`)
        instead of refusing.
    id_column
        Column of ``households`` naming the buildings in the change list (default: the first
        of :data:`~geogrid.partition.notice.ID_COLUMNS` present).
    seed
        Seed for splitting grids when more are needed.

    Returns
    -------
    Redraw

    Raises
    ------
    InvalidInputError
        For a bad level, ``then_band`` without micro-grids, an unknown ``id_column``; when
        the band cannot be restored (unless ``allow_out_of_band``), or more than
        ``max_moved`` households would move.
    """
    the_band = Band(*band) if isinstance(band, tuple) else band
    if level < 2 or level > plan.depth:
        raise InvalidInputError(f"level must be 2…{plan.depth} for this plan, got {level}")
    if then_band is not None and plan.depth <= level:
        raise InvalidInputError(
            f"then_band re-cuts the micro-grids of level {level + 1}, which this plan does not "
            "have; partition with then_band first"
        )
    if households.crs is None:
        raise CRSError("the households layer has no CRS (坐标系缺失); set one with set_crs")
    ids = building_ids(households, id_column)
    micro_band = Band(*then_band) if isinstance(then_band, tuple) else then_band
    homes = households.to_crs(PLAN_CRS).reset_index(drop=True)
    fields = parent_units(plan, homes, level, ids)
    parts = [_redraw_parent(plan, field, the_band, seed) for field in fields]
    result = _assemble(plan, level, parts, micro_band, seed)
    counts = _household_counts(homes)
    result.changes = _changes(homes, ids, parts, counts, result.plan, plan, id_column)
    result.moved_households = int(result.changes["households"].sum())
    result.cut = _cut_list(homes, ids, fields, counts, plan)
    result.built_units = any(f.plan_rows is None for f in fields)
    result.problems = _band_problems(parts, result, the_band)
    _check(result, max_moved, allow_out_of_band)
    return result


def _household_counts(homes: gpd.GeoDataFrame) -> np.ndarray:
    if "households" not in homes:
        return np.ones(len(homes), dtype=np.int64)
    values = pd.to_numeric(homes["households"], errors="coerce").fillna(0)
    return values.to_numpy(float).astype(np.int64)


def _check(result: Redraw, max_moved: int | None, allow_out_of_band: bool) -> None:
    """Refuse a result out of band (unless allowed) or moving more than ``max_moved``."""
    if result.out_of_band and not allow_out_of_band:
        raise InvalidInputError(
            " ".join(result.problems)
            + " Nothing written: widen the band, merge or add grids by hand, or accept the "
            "grids out of band (allow_out_of_band=True, --allow-out-of-band)"
        )
    if max_moved is not None and result.moved_households > max_moved:
        raise InvalidInputError(
            f"the redraw would move {result.moved_households} households, more than "
            f"--max-moved {max_moved} (调整户数超限); no redraw can move fewer than "
            f"{result.lower_bound:g} (the lower bound), this one needs --max-moved "
            f"{result.moved_households}; nothing written — raise the limit or widen the band"
        )


@dataclasses.dataclass
class _Part:
    field: ParentUnits
    old_codes: np.ndarray  # per unit
    new_codes: np.ndarray  # per unit
    geometries: dict[str, shapely.Geometry]  # new geometry of every changed or new grid (4490)
    lower_bound: float
    locked: set[str]
    band: Band

    @property
    def households(self) -> np.ndarray:
        return self.field.frame["households"].to_numpy(np.int64)


def _redraw_parent(plan: GridPlan, field: ParentUnits, band: Band, seed: int) -> _Part:
    codes = field.codes
    assign = field.old
    units = field.units
    loads = units.table["households"].to_numpy(float)
    locked_codes = {codes[g] for g in np.unique(assign[field.locked]).tolist()}
    free_grid = np.array([c not in locked_codes for c in codes])
    free = free_grid[assign]
    grid_loads = np.bincount(assign, weights=loads, minlength=len(codes))
    bound = lower_bound(grid_loads[free_grid], band)
    k_free = int(free_grid.sum())
    new_assign = assign.copy()
    if k_free > 0 and free.any():
        uniq = np.unique(assign[free])
        compact = _fewest_moves(units, free, assign[free], k_free, band, bound, seed)
        new_assign[free] = np.where(
            compact < len(uniq),
            uniq[np.minimum(compact, len(uniq) - 1)],
            len(codes) + compact - len(uniq),
        )
    new_codes = _codes_for(plan, field.parent, codes, new_assign, units)
    geometries = {}
    for g in np.unique(new_assign).tolist():
        mine = new_assign == g
        if not np.array_equal(mine, assign == g) or g >= len(codes):
            geometries[new_codes[g]] = field.union(mine)
    return _Part(
        field=field,
        old_codes=np.array(codes, dtype=object)[assign],
        new_codes=np.array(new_codes, dtype=object)[new_assign],
        geometries=geometries,
        lower_bound=bound,
        locked=locked_codes,
        band=band,
    )


def _fewest_moves(
    units: Units,
    free: np.ndarray,
    assign: np.ndarray,
    k_free: int,
    band: Band,
    bound: float,
    seed: int,
) -> np.ndarray:
    """The rebalance over the grid counts worth trying, the one moving fewest households.

    The grids kept, when their mean fits the band (the excess may go to neighbours), then the
    fewest grids that hold the total, then the count rule of ``partition`` (a new grid where
    households grew takes them in one move, where the kept grids would pass them on along a
    chain). The first in band that moves at most 1.25× ``bound`` is taken; else the one in
    band (or nearest to it) moving fewest.
    """
    loads = units.table["households"].to_numpy(float)[free]
    total = float(loads.sum())
    k_needed, _ = grid_count(total, band)
    counts = [k for k in (k_free, ceil(total / band.high), k_needed) if k >= k_free]
    if total < k_free * band.low or total > k_free * band.high:
        counts = [k for k in counts if k != k_free] or [k_free]
    _, home = np.unique(assign, return_inverse=True)
    home = home.ravel()
    best: tuple[float, float, np.ndarray] | None = None
    for k in dict.fromkeys(counts):
        found = _rebalance(units, free, assign, k, band, seed)
        grid_loads = np.bincount(found, weights=loads)
        miss = float(sum(band.excess(x) for x in grid_loads.tolist()))
        moved = float(loads[found != home].sum())
        if best is None or (miss, moved) < best[:2]:
            best = (miss, moved, found)
        if miss == 0 and moved <= 1.25 * bound:
            break
    assert best is not None
    return best[2]


def _rebalance(
    units: Units, free: np.ndarray, assign: np.ndarray, k: int, band: Band, seed: int
) -> np.ndarray:
    """New grid index of the free units.

    The heaviest grids are split while more grids are needed; then boundary units move,
    fewest households first, until the band holds. A new grid left without households goes
    back to the grids its units came from: no redraw makes an empty grid.
    """
    members = np.flatnonzero(free)
    graph = unit_graph(units, members, units.table["households"].to_numpy(float)[members])
    _, assign = np.unique(assign, return_inverse=True)
    assign = assign.astype(np.int64).ravel()
    home = assign.copy()
    k_old = int(assign.max()) + 1
    loads = np.asarray(graph.load)
    while int(assign.max()) + 1 < k:
        split = _split_heaviest(graph, assign, loads)
        if split is None:
            break
        assign = split
    refined = refine(
        graph,
        assign,
        int(assign.max()) + 1,
        band.low,
        band.high,
        band.midpoint,
        seed=seed,
        home=home,
    )
    return _no_empty_new(_undo_needless(graph, refined, home, loads, band), home, loads, k_old)


def _undo_needless(
    graph: Graph, assign: np.ndarray, home: np.ndarray, loads: np.ndarray, band: Band
) -> np.ndarray:
    """Moves the band does not need, undone: grids that need not change keep their lines.

    A moved unit (fewest households first) goes back to its home grid when it borders it,
    neither grid gets further from the band, and the grid it leaves stays connected and not
    empty. Shape tie-breaks of the refinement (a house-less shed swapped between two grids)
    are undone this way.
    """
    assign = assign.copy()
    k = int(max(assign.max(), home.max())) + 1
    grid_loads = np.bincount(assign, weights=loads, minlength=k)
    members = {g: set(np.flatnonzero(assign == g).tolist()) for g in range(k)}
    changed = True
    while changed:
        changed = False
        moved = np.flatnonzero(assign != home)
        for u in moved[np.argsort(loads[moved], kind="stable")].tolist():
            g, h = int(assign[u]), int(home[u])
            left, joined = grid_loads[g] - loads[u], grid_loads[h] + loads[u]
            if (
                band.excess(left) > band.excess(grid_loads[g])
                or band.excess(joined) > band.excess(grid_loads[h])
                or (left <= 0 < grid_loads[g])
                or not any(int(assign[v]) == h for v in graph.nbrs[u])
                or not connected(graph, members[g] - {u})
                or len(members[g]) == 1
            ):
                continue
            assign[u] = h
            members[g].discard(u)
            members[h].add(u)
            grid_loads[g], grid_loads[h] = left, joined
            changed = True
    return assign


def _no_empty_new(
    assign: np.ndarray, home: np.ndarray, loads: np.ndarray, k_old: int
) -> np.ndarray:
    """New grids (index ≥ ``k_old``) without households dissolved; the others renumbered."""
    grid_loads = np.bincount(assign, weights=loads, minlength=int(assign.max()) + 1)
    empty = [g for g in range(k_old, len(grid_loads)) if grid_loads[g] <= 0]
    if not empty:
        return assign
    out = assign.copy()
    gone = np.isin(out, empty)
    out[gone] = home[gone]
    kept = sorted(set(out.tolist()) - set(range(k_old)))
    renumber = {g: k_old + i for i, g in enumerate(kept)}
    return np.array([renumber.get(g, g) for g in out.tolist()], dtype=np.int64)


def _split_heaviest(graph: Graph, assign: np.ndarray, loads: np.ndarray) -> np.ndarray | None:
    """Split the heaviest grid in two connected halves; the lighter half is a new grid.

    ``None`` when it cannot be split into two halves with households each.
    """
    k = int(assign.max()) + 1
    grid_loads = np.bincount(assign, weights=loads, minlength=k)
    g = int(np.argmax(grid_loads))
    # units without neighbours (slivers the coverage cleaning emptied) stay where they are:
    # a half made of them alone could never grow
    linked = np.array([len(graph.nbrs[u]) > 0 for u in range(len(assign))], dtype=bool)
    mine = np.flatnonzero((assign == g) & linked)
    if len(mine) < 2:
        return None
    local = np.full(len(assign), -1, dtype=np.int64)
    local[mine] = np.arange(len(mine))
    xadj: list[int] = [0]
    adjncy: list[int] = []
    for u in mine.tolist():
        adjncy.extend(local[v] for v in graph.nbrs[u] if local[v] >= 0)
        xadj.append(len(adjncy))
    halves = grow_regions(2, np.array(xadj), np.array(adjncy, dtype=np.int64), loads[mine])
    half_loads = np.bincount(halves, weights=loads[mine], minlength=2)
    if half_loads.min() <= 0:
        return None
    new_half = int(np.argmin(half_loads))
    out = assign.copy()
    out[mine[halves == new_half]] = k
    return out


def _codes_for(
    plan: GridPlan, parent: str, codes: list[str], assign: np.ndarray, units: Units
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
    plan: GridPlan, level: int, parts: list[_Part], micro_band: Band | None, seed: int
) -> Redraw:
    grids = plan.grids.copy()
    names = dict(zip(grids["code"].astype(str), grids["name"].astype(str), strict=True))
    built = [p for p in parts if p.field.plan_rows is None]
    if built:  # cells built for the redraw replace the plan's units
        units = gpd.GeoDataFrame(
            pd.concat([p.field.frame for p in built], ignore_index=True),
            geometry="geometry",
            crs=PLAN_CRS,
        )
    else:
        units = plan.units.copy()
    offset = 0
    lineage_rows: list[tuple[object, ...]] = []
    new_rows: list[dict[str, object]] = []
    changed: set[str] = set()
    bound = 0.0
    grid_codes = units["grid_code"].astype(object).to_numpy().copy()
    households = units["households"].to_numpy().copy()
    for part in parts:
        if part.field.plan_rows is None:
            rows = np.arange(offset, offset + len(part.field.frame))
            offset += len(rows)
        else:
            rows = part.field.plan_rows
        households[rows] = part.households
        bound += part.lower_bound
        changed |= set(part.geometries)
        in_changed = np.isin(part.new_codes, list(part.geometries))
        grid_codes[rows[in_changed]] = part.new_codes[in_changed]
        for code, geom in part.geometries.items():
            if (grids["code"] == code).any():
                grids.loc[grids["code"] == code, "geometry"] = geom
            else:
                new_rows.append(
                    {
                        "code": code,
                        "name": f"{names.get(part.field.parent, '')}第{int(code[-3:])}网格",
                        "level": level,
                        "parent_code": part.field.parent,
                        "geometry": geom,
                    }
                )
        lineage_rows.extend(_lineage(part))
    units["grid_code"] = grid_codes
    units["households"] = households
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
    lineage = pd.DataFrame(
        lineage_rows,
        columns=["old_code", "new_code", "change", "households_before", "households_after"],
    )
    level_rows = new_plan.level(level)
    locked_all = {c for part in parts for c in part.locked}
    outside = [
        str(code)
        for code, count in zip(level_rows["code"], level_rows["households"], strict=True)
        if parts and code not in locked_all and not parts[0].band.contains(float(count))
    ]
    return Redraw(new_plan, pd.DataFrame(), lineage, 0, bound, outside)


def _changes(
    homes: gpd.GeoDataFrame,
    ids: np.ndarray,
    parts: list[_Part],
    counts: np.ndarray,
    new_plan: GridPlan,
    old_plan: GridPlan,
    id_column: str | None,
) -> pd.DataFrame:
    """One row per household row (building) whose unit moved."""
    names = dict(zip(old_plan.grids["code"].astype(str), old_plan.grids["name"], strict=True))
    names |= dict(zip(new_plan.grids["code"].astype(str), new_plan.grids["name"], strict=True))
    rows, old, new = [], [], []
    for part in parts:
        moved = part.old_codes[part.field.home] != part.new_codes[part.field.home]
        rows.append(part.field.rows[moved])
        old.append(part.old_codes[part.field.home[moved]])
        new.append(part.new_codes[part.field.home[moved]])
    if not rows:
        return change_rows(homes, ids, np.empty(0, int), np.empty(0), np.empty(0), np.empty(0), {})
    found = np.concatenate(rows).astype(np.int64)
    return change_rows(
        homes, ids, found, counts[found], np.concatenate(old), np.concatenate(new), names, id_column
    )


def _cut_list(
    homes: gpd.GeoDataFrame,
    ids: np.ndarray,
    fields: list[ParentUnits],
    counts: np.ndarray,
    plan: GridPlan,
) -> pd.DataFrame:
    """The buildings the old lines cut, with the grid each is counted in."""
    names = dict(zip(plan.grids["code"].astype(str), plan.grids["name"], strict=True))
    cut = pd.concat([f.cut for f in fields if len(f.cut)] or [pd.DataFrame()], ignore_index=True)
    if cut.empty:
        return pd.DataFrame(columns=["id", "name", "households", "code", "grid_name", "share"])
    rows = cut["row"].to_numpy(np.int64)
    label = homes["name"].astype(object).to_numpy()[rows] if "name" in homes else [None] * len(rows)
    return pd.DataFrame(
        {
            "id": ids[rows],
            "name": [None if pd.isna(v) else str(v) for v in label],
            "households": counts[rows],
            "code": cut["code"].to_numpy(object),
            "grid_name": [names.get(str(c)) for c in cut["code"]],
            "share": cut["share"].round(3).to_numpy(),
        }
    )


def _band_problems(parts: list[_Part], result: Redraw, band: Band) -> list[str]:
    """Per parent with grids out of band: by how much, and the least any plan must miss by."""
    if not result.out_of_band:
        return []
    level = result.plan.grids.set_index(result.plan.grids["code"].astype(str))
    problems = []
    for part in parts:
        mine = [c for c in result.out_of_band if c in set(part.new_codes.tolist())]
        if not mine:
            continue
        free = ~np.isin(part.old_codes, list(part.locked))
        total = float(part.households[free].sum())
        kept = len(set(part.old_codes[free].tolist()))
        largest = float(part.households[free].max()) if free.any() else 0.0
        least = band_bound([total], [], largest, band).excess
        miss = sum(band.excess(float(level.loc[c, "households"])) for c in mine)
        if total < kept * band.low:
            reason = (
                f"the {kept} grids kept need at least {kept * band.low:g} households and there "
                f"are {total:g} (a redraw never empties a grid: merge grids by hand)"
            )
        elif least > 0:
            reason = f"any plan of these households misses the band by at least {ceil(least)}"
        else:
            reason = (
                "a plan in band may exist, but not by moving buildings between neighbouring "
                "grids: try another seed, or partition the community anew"
            )
        problems.append(
            f"band {band} cannot be met in {part.field.parent}: {', '.join(mine)} stay out of "
            f"band by {miss:g} households in all; {reason}."
        )
    return problems


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


def _lineage(part: _Part) -> list[tuple[object, ...]]:
    households = part.households
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
