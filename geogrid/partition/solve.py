"""Balanced, contiguous, compact partition of units into grids (网格划分)."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geogrid.errors import InvalidInputError
from geogrid.metrics import polsby_popper, unit_bound
from geogrid.partition.band import Band, grid_count
from geogrid.partition.bounds import BandBound, band_bound
from geogrid.partition.graph import Graph
from geogrid.partition.initial import initial_partition
from geogrid.partition.refine import refine
from geogrid.partition.repair import merge_short_grids
from geogrid.units import Units, unit_weights

__all__ = ["GridException", "Partition", "partition", "summary", "unit_graph"]

_EQUAL_TOLERANCE = 0.05  # grids=K: loads within ±5 % of the mean (or ± half the largest unit)
_EQUAL_BALANCE_WEIGHT = 30.0  # grids=K: the pull towards the mean, against shape


@dataclasses.dataclass(frozen=True)
class GridException:
    """Something the partition could not do as asked, reported to the planner (例外).

    Attributes
    ----------
    kind
        ``island`` (a part of the area not connected to the rest), ``large-unit`` (a unit
        above the band's maximum), ``small-parent`` (fewer households than the band's
        minimum), ``infeasible-band`` (no grid count puts every grid in the band),
        ``out-of-band`` (a grid left outside the band), ``households-outside``,
        ``straddling-building`` (a building across the parent's boundary, counted wholly on
        the side of its larger share).
    message
        What happened and what to do, in English with the Chinese term.
    grid
        Grid index concerned, or ``None``.
    """

    kind: str
    message: str
    grid: int | None = None


@dataclasses.dataclass
class Partition:
    """The result of :func:`partition`.

    Attributes
    ----------
    units
        The units partitioned.
    assignment
        Grid index (0 … k-1) of every unit, in the order of ``units.table``.
    loads
        Workload of every unit (households by default, see ``weights``).
    k
        Number of grids.
    band
        The band asked for (``None`` with ``grids=K``).
    target
        Ideal load of a grid.
    locked
        Label of each locked grid, by grid index (``None`` for partitioned grids).
    exceptions
        What could not be done as asked (see :class:`GridException`).
    seed
        The seed used.
    band_bound
        With a band: the least any plan of these units must miss it by, given the unit
        sizes and the islands (:class:`~geogrid.partition.bounds.BandBound`; 0 when a plan
        with every grid in the band is not ruled out).
    """

    units: Units
    assignment: np.ndarray
    loads: np.ndarray
    k: int
    band: Band | None
    target: float
    locked: list[str | None]
    exceptions: list[GridException]
    seed: int
    band_bound: BandBound | None = None

    def grid_loads(self) -> np.ndarray:
        """Workload of every grid."""
        return np.bincount(self.assignment, weights=self.loads, minlength=self.k)

    def grid_households(self) -> np.ndarray:
        """Households of every grid."""
        households = self.units.table["households"].to_numpy(float)
        return np.bincount(self.assignment, weights=households, minlength=self.k).astype(int)

    def grid_geometries(self) -> np.ndarray:
        """Polygon of every grid: the exact union of its units' coverage (metric CRS)."""
        geoms = self.units.table.geometry.to_numpy()
        order = np.argsort(self.assignment, kind="stable")
        starts = np.searchsorted(self.assignment[order], np.arange(self.k + 1))
        return np.array(
            [shapely.coverage_union_all(geoms[order[s:e]]) for s, e in itertools.pairwise(starts)],
            dtype=object,
        )

    def metrics(self) -> pd.DataFrame:
        """Per-grid figures.

        Load, households, deviation from target, area, Polsby–Popper, parts (1 =
        contiguous), in band, share of the grid's boundary with other grids on barriers.
        """
        geoms = self.grid_geometries()
        area, perimeter = shapely.area(geoms), shapely.length(geoms)
        loads = self.grid_loads()
        frame = pd.DataFrame(
            {
                "grid": np.arange(self.k),
                "load": loads,
                "households": self.grid_households(),
                "deviation": (loads - self.target) / self.target if self.target else 0.0,
                "area_m2": area,
                "polsby_popper": polsby_popper(area, perimeter),
                "parts": shapely.get_num_geometries(geoms),
                "in_band": [self.band.contains(x) if self.band else True for x in loads],
                "on_barriers": _barrier_share(self),
                "locked": self.locked,
            }
        )
        return frame


def summary(result: Partition) -> dict[str, float | int]:
    """Plan-level figures of a partition (the grids that are not locked).

    ``grids``, ``in_band`` (share), ``worst_deviation`` (largest |load − target| / target),
    ``imbalance_bound`` (the smallest worst deviation the unit sizes allow: a unit above the
    target forces at least its excess; with a band, also the count of grids and the islands,
    see :attr:`Partition.band_bound`), ``pp_mean``, ``pp_min``, ``split_grids`` (grids of
    more than one polygon), ``on_barriers`` (share of the boundary between grids lying on
    barriers).
    """
    metrics = result.metrics()
    free = metrics[metrics["locked"].isna()]
    target = result.target or 1.0
    free_units = pd.isna(result.units.table["locked"].to_numpy(object))
    largest = float(result.loads[free_units].max(initial=0.0))
    edges = result.units.edges
    a = result.assignment[edges["a"].to_numpy()]
    b = result.assignment[edges["b"].to_numpy()]
    cut = a != b
    length = edges["length"].to_numpy(float)[cut]
    on = length[edges["barrier"].to_numpy(bool)[cut]].sum()
    return {
        "grids": len(free),
        "in_band": float(free["in_band"].mean()) if len(free) else 1.0,
        "worst_deviation": float(np.abs(free["load"] - target).max() / target)
        if len(free)
        else 0.0,
        "imbalance_bound": max(
            unit_bound(largest, target),
            result.band_bound.deviation if result.band_bound is not None else 0.0,
        ),
        "pp_mean": float(free["polsby_popper"].mean()) if len(free) else 0.0,
        "pp_min": float(free["polsby_popper"].min()) if len(free) else 0.0,
        "split_grids": int((free["parts"] > 1).sum()),
        "on_barriers": float(on / length.sum()) if length.sum() > 0 else 0.0,
    }


def partition(
    units: Units,
    *,
    band: Band | tuple[float, float] | None = None,
    grids: int | None = None,
    weights: Mapping[str, float] | None = None,
    seed: int = 0,
    time_limit: float | None = None,
    progress: bool = False,
) -> Partition:
    """Partition units into grids balanced by workload, contiguous and compact.

    Parameters
    ----------
    units
        From :func:`geogrid.units.build_units`; units carrying a locked label become their
        own grid (one per label) and are not partitioned.
    band
        ``(min, max)`` workload per grid, e.g. ``(300, 500)``. The number of grids is
        ``round(total / midpoint)`` clamped to ``[ceil(total / max), floor(total / min)]``,
        counted per connected part of the area.
    grids
        Exactly this many grids (besides locked ones), as equal as possible; instead of
        ``band``.
    weights
        Workload = Σ coefficient × unit column, default ``{"households": 1}``; e.g.
        ``{"households": 1, "shops": 2, "key_persons": 5}``.
    seed
        Seed for METIS and the sweep order: the same seed gives the same partition.
    time_limit
        Seconds the refinement may take at most; ``None`` (default) for no limit. A limit
        makes the result depend on the machine's speed.
    progress
        Show a progress bar (rich, on standard error).

    Returns
    -------
    Partition

    Raises
    ------
    InvalidInputError
        For neither or both of ``band`` and ``grids``, or more grids than units.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box, Point
    >>> from geogrid.units import build_units
    >>> homes = gpd.GeoDataFrame({"households": [100] * 6},
    ...     geometry=[Point(10 + 20 * i, 10) for i in range(6)], crs=4547)
    >>> units = build_units(box(0, 0, 120, 20), homes, crs=4547)
    >>> result = partition(units, band=(250, 350))
    >>> result.k, result.assignment.tolist(), result.grid_loads().tolist()
    (2, [0, 0, 0, 1, 1, 1], [300.0, 300.0])
    """
    if (band is None) == (grids is None):
        raise InvalidInputError("give either a band (户数区间, e.g. band=(300, 500)) or grids=K")
    the_band = Band(*band) if isinstance(band, tuple) else band
    loads = unit_weights(units, weights)
    locked_col = units.table["locked"].to_numpy(object)
    is_locked = pd.notna(locked_col)
    free = np.flatnonzero(~is_locked)
    labels = sorted({str(x) for x in locked_col[is_locked]})
    if grids is not None and grids > len(free):
        raise InvalidInputError(
            f"cannot make {grids} grids from {len(free)} units (单元): each grid needs at "
            "least one unit; ask for fewer grids or give finer units (buildings, household points)"
        )
    if grids is not None and grids < 1:
        raise InvalidInputError(f"grids must be at least 1, got {grids}")
    exceptions = [GridException("households-outside", p) for p in units.problems]
    exceptions.extend(_straddling(units))
    solver = _Solver(units, loads, free, the_band, grids, seed, time_limit, progress)
    assignment, k, target = solver.run(exceptions)
    for i, label in enumerate(labels):
        assignment[np.flatnonzero(is_locked & (locked_col == label))] = k + i
    result = Partition(
        units=units,
        assignment=assignment,
        loads=loads,
        k=k + len(labels),
        band=the_band,
        target=target,
        locked=[None] * k + list(labels),
        exceptions=exceptions,
        seed=seed,
        band_bound=solver.bound() if the_band is not None and len(free) else None,
    )
    _report_out_of_band(result)
    return result


class _Solver:
    """Partition of the free (not locked) units, one connected part of the area at a time."""

    def __init__(
        self,
        units: Units,
        loads: np.ndarray,
        free: np.ndarray,
        band: Band | None,
        grids: int | None,
        seed: int,
        time_limit: float | None,
        progress: bool,
    ) -> None:
        self.units, self.loads, self.free = units, loads, free
        self.band, self.grids, self.seed = band, grids, seed
        self.time_limit, self.progress = time_limit, progress
        self._bars: list[Any] = []
        n = len(units.table)
        position = np.full(n, -1, dtype=np.int64)
        position[free] = np.arange(len(free))
        a = position[units.edges["a"].to_numpy()]
        b = position[units.edges["b"].to_numpy()]
        keep = (a >= 0) & (b >= 0)
        self.edges = (a[keep], b[keep])
        self.n_parts, self.part = self._components(np.empty(0, np.int64), np.empty(0, np.int64))
        self.island_of = np.full(len(free), -1, dtype=np.int64)  # island number, -1 mainland
        self.island_totals: list[float] = []
        self.mainland_totals: list[float] = []
        self.virtual = self._link_islands()
        self.equalise: list[bool] = [False] * self.n_parts

    def _components(self, a: np.ndarray, b: np.ndarray) -> tuple[int, np.ndarray]:
        """Connected parts of the free units, with the extra links ``a``–``b`` (positions)."""
        src, dst = np.concatenate([self.edges[0], a]), np.concatenate([self.edges[1], b])
        n = len(self.free)
        matrix = coo_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
        count, labels = connected_components(matrix, directed=False)
        return int(count), labels

    def _link_islands(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Tie every part too small for a grid (an island 飞地/岛) to its nearest mainland unit.

        The tie is a virtual edge (no shared boundary, the cut cost of the costliest real
        edge), so the island is in the graph METIS and the refinement balance from the
        start: the grid that takes it holds fewer mainland households, and contiguity counts
        the tie. The mainland is every part big enough for a grid (with a band: its minimum;
        with ``grids=K``: half a mean grid), or the heaviest part when none is.

        Returns the virtual edges as rows of ``units.table`` (``a``, ``b``) and their cost.
        """
        none = np.empty(0, dtype=np.int64)
        loads = self.loads[self.free]
        totals = np.bincount(self.part, weights=loads, minlength=self.n_parts)
        if self.band is not None:
            small_load = self.band.low
        else:
            small_load = 0.5 * float(totals.sum()) / max(self.grids or 1, 1)
        small = totals < small_load
        if not small.any() or self.n_parts <= 1:
            self.mainland_totals = totals.tolist()
            return none, none, np.empty(0)
        if small.all():
            small[int(np.argmax(totals))] = False
        self.mainland_totals = totals[~small].tolist()
        geoms = self.units.table.geometry.to_numpy()[self.free]
        main = np.flatnonzero(~small[self.part])
        tree = shapely.STRtree(geoms[main])
        a, b = [], []
        for number, p in enumerate(np.flatnonzero(small).tolist()):
            members = np.flatnonzero(self.part == p)
            self.island_of[members] = number
            self.island_totals.append(float(totals[p]))
            island = shapely.union_all(geoms[members])
            anchor = int(main[int(tree.query_nearest(island, all_matches=False)[0])])
            near = shapely.STRtree(geoms[members]).query_nearest(geoms[anchor], all_matches=False)
            a.append(int(members[int(near[0])]))
            b.append(anchor)
        pos_a, pos_b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        self.n_parts, self.part = self._components(pos_a, pos_b)
        costs = self.units.edges["cost"].to_numpy(float)
        top = float(costs.max()) if len(costs) else 1.0
        return self.free[pos_a], self.free[pos_b], np.full(len(a), top)

    def run(self, exceptions: list[GridException]) -> tuple[np.ndarray, int, float]:
        n_free = len(self.free)
        assignment = np.full(len(self.units.table), -1, dtype=np.int64)
        if n_free == 0:
            return assignment, 0, 0.0
        totals = np.bincount(self.part, weights=self.loads[self.free], minlength=self.n_parts)
        counts = np.bincount(self.part, minlength=self.n_parts)
        ks, target = self._grid_counts(totals, counts, exceptions)
        local = np.full(n_free, -1, dtype=np.int64)
        offset = 0
        for p in np.argsort(-totals, kind="stable").tolist():
            if ks[p] == 0:
                continue
            members = np.flatnonzero(self.part == p)
            equalise = self.band is None or self.equalise[p]
            grids = self._solve_part(members, ks[p], target, equalise)
            local[members] = offset + grids
            offset += int(grids.max()) + 1
        for bar in self._bars:  # stop bars a time limit cut short
            bar.stop()
        self._attach_islands(local, exceptions)
        self._report_islands(local, exceptions)
        assignment[self.free] = local
        self._report_large_units(assignment, exceptions)
        return assignment, offset, target

    def _grid_counts(
        self, totals: np.ndarray, counts: np.ndarray, exceptions: list[GridException]
    ) -> tuple[list[int], float]:
        total = float(totals.sum())
        if self.grids is not None:
            return self._share_grids(totals, counts, exceptions), total / self.grids
        assert self.band is not None
        band = self.band
        any_grid = bool((totals >= band.low).any())
        ks = []
        free_loads = self.loads[self.free]
        for p, part_total in enumerate(totals.tolist()):
            part_loads = free_loads[self.part == p]
            k = self._part_grid_count(p, part_total, part_loads, any_grid, exceptions)
            ks.append(k)
        if sum(ks) == 0:  # (almost) no households anywhere: one grid for the biggest part
            ks[int(np.argmax(counts))] = 1
            exceptions.append(
                GridException(
                    "small-parent",
                    f"the area has {totals.sum():g} households, fewer than the band's minimum "
                    f"{band.low:g} (户数不足): it is one grid",
                )
            )
        return ks, band.midpoint

    def _part_grid_count(
        self,
        p: int,
        total: float,
        loads: np.ndarray,
        any_grid: bool,
        exceptions: list[GridException],
    ) -> int:
        """Grids for one connected part: one per unit above the band, the rest by count."""
        assert self.band is not None
        band = self.band
        if total < band.low:
            if any_grid or total <= 0:
                return 0  # an island: joins the nearest grid (reported there)
            exceptions.append(
                GridException(
                    "small-parent",
                    f"the area has {total:g} households, fewer than the band's minimum "
                    f"{band.low:g} (户数不足): it is one grid",
                )
            )
            return 1
        large = loads > band.high
        rest = float(total - loads[large].sum())
        k_rest, feasible = grid_count(rest, band)
        if large.any() and rest < band.low:
            k_rest, feasible = 0, True  # the few others join the large units' grids
        if not feasible:  # the count whose mean load lies least outside the band
            ks = {max(1, math.floor(rest / band.high)), max(1, math.ceil(rest / band.high))}
            k_rest = min(sorted(ks), key=lambda c: band.excess(rest / c))
        k = int(large.sum()) + k_rest
        k = max(1, min(k, int((loads > 0).sum())))
        if not feasible:
            self.equalise[p] = True
            bound = self.bound()
            exceptions.append(
                GridException(
                    "infeasible-band",
                    f"{rest:g} households cannot be cut into grids of {band} (区间不可行): "
                    f"{_bound_text(bound, band, bool(self.island_totals))}; made {k} grid(s) "
                    "as equal as possible — widen the band or give finer units",
                )
            )
        return k

    def bound(self) -> BandBound:
        """The least any plan of these units must miss the band by (see :func:`band_bound`)."""
        assert self.band is not None
        largest = float(self.loads[self.free].max(initial=0.0))
        return band_bound(self.mainland_totals, self.island_totals, largest, self.band)

    def _share_grids(
        self, totals: np.ndarray, counts: np.ndarray, exceptions: list[GridException]
    ) -> list[int]:
        assert self.grids is not None
        total = float(totals.sum())
        order = np.argsort(-totals, kind="stable")
        ks = [0] * len(totals)
        if total <= 0:
            ks[int(order[0])] = self.grids
            return ks
        raw = totals / total * self.grids
        for p in order.tolist():
            ks[p] = min(math.floor(raw[p]), int(counts[p]))
        while sum(ks) < self.grids:
            room = [p for p in order.tolist() if ks[p] < counts[p] and totals[p] > 0]
            if not room:
                break
            p = max(room, key=lambda q: (raw[q] - ks[q], -q))
            ks[p] += 1
        if sum(ks) < self.grids:
            raise InvalidInputError(
                f"cannot make {self.grids} grids: the parts holding households have only "
                f"{int(counts[totals > 0].sum())} units (单元); ask for fewer grids"
            )
        return ks

    def _solve_part(self, members: np.ndarray, k: int, target: float, equalise: bool) -> np.ndarray:
        """Grid index (0 … k-1) of each unit of one connected part."""
        rows = self.free[members]
        loads = self.loads[rows]
        graph = unit_graph(self.units, rows, loads, virtual=self.virtual)
        arrays = graph.arrays
        start = initial_partition(k, arrays.xadj, arrays.dst, loads, arrays.cost, self.seed)
        if k <= 1:
            return start
        if equalise or self.band is None:  # grids=K, or a band no count of grids meets
            target = float(loads.sum()) / k
            # "as equal as possible": a band around the mean as wide as units allow
            slack = _EQUAL_TOLERANCE * target
            low, high = max(target - slack, 0.0), target + slack
            balance_weight: float | None = _EQUAL_BALANCE_WEIGHT
        else:
            balance_weight = None
            low, high = self.band.low, self.band.high
        assign = refine(
            graph,
            start,
            k,
            low,
            high,
            target,
            seed=self.seed,
            time_limit=self.time_limit,
            on_sweep=self._progress(k),
            balance_weight=balance_weight,
        )
        if self.band is None:
            return assign
        return merge_short_grids(graph, assign, self.band.low, self.band.high)

    def _progress(self, k: int) -> Callable[[int, int], None] | None:
        if not self.progress:
            return None
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(
            TextColumn("refining {task.fields[k]} grids (优化)"),
            BarColumn(),
            TextColumn("sweep {task.completed:.0f}, {task.fields[moves]} moves"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        task = bar.add_task("refine", total=None, k=k, moves=0)
        bar.start()

        def show(sweep: int, moves: int) -> None:
            bar.update(task, completed=sweep, moves=moves)
            if moves == 0:
                bar.stop()

        self._bars.append(bar)
        return show

    def _attach_islands(self, local: np.ndarray, exceptions: list[GridException]) -> None:
        """Units of parts without a grid join the grid of the nearest unit that has one."""
        lost = np.flatnonzero(local < 0)
        if len(lost) == 0:
            return
        geoms = self.units.table.geometry.to_numpy()[self.free]
        placed = np.flatnonzero(local >= 0)
        tree = shapely.STRtree(geoms[placed])
        for p in np.unique(self.part[lost]).tolist():
            members = np.flatnonzero(self.part == p)
            island = shapely.coverage_union_all(geoms[members])
            nearest = placed[int(tree.query_nearest(island, all_matches=False)[0])]
            grid = int(local[nearest])
            local[members] = grid
            households = int(self.units.table["households"].to_numpy()[self.free[members]].sum())
            exceptions.append(
                GridException(
                    "island",
                    f"a separate part of the area (飞地/岛) with {households} households is "
                    f"too small for a grid of its own and joins the nearest grid, which so has "
                    "more than one polygon",
                    grid=grid,
                )
            )

    def _report_islands(self, local: np.ndarray, exceptions: list[GridException]) -> None:
        """One ``island`` exception per island tied to the mainland, naming its grid."""
        households = self.units.table["households"].to_numpy()[self.free]
        for number in range(len(self.island_totals)):
            members = np.flatnonzero(self.island_of == number)
            grid = int(np.bincount(local[members]).argmax())
            exceptions.append(
                GridException(
                    "island",
                    f"a separate part of the area (飞地/岛) with {int(households[members].sum())} "
                    "households is too small for a grid of its own: it joins the grid of the "
                    "nearest mainland units, counted in that grid's balance from the start, "
                    "so the grid has more than one polygon",
                    grid=grid,
                )
            )

    def _report_large_units(self, assignment: np.ndarray, exceptions: list[GridException]) -> None:
        if self.band is None:
            return
        big = np.flatnonzero(self.loads > self.band.high)
        for u in big.tolist():
            row = self.units.table.iloc[u]
            exceptions.append(
                GridException(
                    "large-unit",
                    f"unit {row['unit_id']} ({row['name'] or row['kind']}) alone has a load of "
                    f"{self.loads[u]:g}, above the band's maximum {self.band.high:g} "
                    "(单元超过上限); its grid cannot be in the band — split it (by stairwell 单元) "
                    "or widen the band",
                    grid=int(assignment[u]),
                )
            )


def unit_graph(
    units: Units,
    rows: np.ndarray,
    loads: np.ndarray,
    *,
    virtual: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Graph:
    """The adjacency graph of some units, numbered 0 … len(rows)-1 in the order of ``rows``.

    Parameters
    ----------
    units
        The units.
    rows
        Rows of ``units.table`` to take; edges to other units are left out.
    loads
        Workload of each unit taken.
    virtual
        Extra edges without shared boundary (``a``, ``b`` rows of ``units.table``, cut
        cost): the ties of islands to the mainland.

    Returns
    -------
    Graph
        Shared boundary lengths and cut costs on the edges; area, perimeter and centroid of
        every unit.
    """
    position = np.full(len(units.table), -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    a = position[units.edges["a"].to_numpy()]
    b = position[units.edges["b"].to_numpy()]
    lengths = units.edges["length"].to_numpy(float)
    cost = units.edges["cost"].to_numpy(float)
    if virtual is not None and len(virtual[0]):
        a = np.concatenate([a, position[virtual[0]]])
        b = np.concatenate([b, position[virtual[1]]])
        lengths = np.concatenate([lengths, np.zeros(len(virtual[0]))])
        cost = np.concatenate([cost, virtual[2]])
    keep = (a >= 0) & (b >= 0)
    src = np.concatenate([a[keep], b[keep]])
    dst = np.concatenate([b[keep], a[keep]])
    lens = np.tile(lengths[keep], 2)
    costs = np.tile(cost[keep], 2)
    order = np.lexsort((dst, src))
    xadj = np.concatenate([[0], np.cumsum(np.bincount(src, minlength=len(rows)))])
    measures = units.measures.iloc[rows]
    return Graph.from_csr(
        xadj,
        dst[order],
        lens[order],
        costs[order],
        measures["area"].to_numpy(),
        measures["perimeter"].to_numpy(),
        np.asarray(loads, dtype=float),
        measures["x"].to_numpy(),
        measures["y"].to_numpy(),
    )


def _straddling(units: Units) -> list[GridException]:
    """One ``straddling-building`` exception per building across the parent's boundary."""
    found = []
    for row in units.straddling.itertuples(index=False):
        label = f"building {row.id}" + (f" ({row.name})" if row.name else "")
        side = (
            "all its households are counted here, on the side of its larger share"
            if row.inside
            else "all its households are counted beyond the boundary, where its larger share lies"
        )
        found.append(
            GridException(
                "straddling-building",
                f"{label} crosses the boundary of the area (跨界楼栋): {row.area_inside_m2:.0f} m² "
                f"inside, {row.area_outside_m2:.0f} m² outside; {side} ({row.households} "
                "households) — to keep it whole in one grid, move the boundary to its outline",
            )
        )
    return found


def _bound_text(bound: BandBound, band: Band, islands: bool) -> str:
    given = "the unit sizes and the islands" if islands else "the unit sizes"
    if bound.excess <= 0:
        return (
            f"given {given}, a plan with every grid in the band is not ruled out, but no count "
            "of grids found one"
        )
    return (
        f"given {given}, any plan has a grid at least {bound.excess:.3g} households outside "
        f"{band} (a worst deviation from the target {band.midpoint:g} of at least "
        f"{bound.deviation:.0%})"
    )


def _report_out_of_band(result: Partition) -> None:
    if result.band is None:
        return
    loads = result.grid_loads()
    explained = {e.grid for e in result.exceptions if e.kind == "large-unit"}
    explained_all = any(e.kind in ("small-parent", "infeasible-band") for e in result.exceptions)
    for g, load in enumerate(loads.tolist()):
        if result.locked[g] is not None or result.band.contains(load):
            continue
        if g in explained or explained_all:
            continue
        result.exceptions.append(
            GridException(
                "out-of-band",
                f"grid {g + 1} has a load of {load:g}, outside {result.band} (超出户数区间); "
                "try another seed, a wider band or finer units",
                grid=g,
            )
        )


def _barrier_share(result: Partition) -> np.ndarray:
    """Share of every grid's inner boundary (shared with other grids) lying on barriers."""
    edges = result.units.edges
    a = result.assignment[edges["a"].to_numpy()]
    b = result.assignment[edges["b"].to_numpy()]
    cut = a != b
    length = edges["length"].to_numpy(float)[cut]
    on = length * edges["barrier"].to_numpy(bool)[cut]
    total = np.bincount(a[cut], weights=length, minlength=result.k) + np.bincount(
        b[cut], weights=length, minlength=result.k
    )
    barrier = np.bincount(a[cut], weights=on, minlength=result.k) + np.bincount(
        b[cut], weights=on, minlength=result.k
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, barrier / total, np.nan)
