"""Local search that brings every grid into the band and makes grids compact.

Why hand-written: graph partitioners (METIS) balance to a tolerance around the mean and
minimise the cut, but know nothing of a *band* with hard ends, of the shape of a grid, or of
units so large against the band that a single move overshoots (Leicester's census areas hold
45–273 households for a band of 150–558); region-building libraries (max-p, GerryChain trees)
are orders of magnitude slower. This module moves single boundary units between neighbouring
grids, and pushes load along chains of grids when no single move helps, always keeping every
grid connected (an articulation check on the grid's subgraph before each move).

The objective, lower is better, summed over grids::

    J = BIG · excess / target            (load outside the band: dominates)
      + P² / (4π A)                      (1 / Polsby–Popper: ragged edges)
      + INERTIA_WEIGHT · 2π I / A²       (moment of inertia, 1 for a disc: global shape)
      + BALANCE_WEIGHT · ((load − target) / target)²   (prefer the middle of the band)
      + CUT_WEIGHT · cut cost / P̄        (cut edges, cheap on roads/rivers; P̄ a typical
                                           grid perimeter, so both terms are dimensionless)

A move is taken when it lowers ``J``; sweeps visit units in an order drawn from the seed, so
the result is deterministic for a seed. Every sweep first evaluates all moves at once with
numpy (:meth:`_State.improving`), then decides the improving ones one by one in Python.

The sum of 1 / PP barely notices one grid hooked around its neighbour, so a last phase lifts
the grids under :data:`PP_FLOOR`: each is split again with a neighbour along a straight line
or a random spanning tree (GerryChain's ReCom), then sweeps weigh their 1 / PP beyond
``1 / PP_FLOOR`` more.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import deque
from collections.abc import Callable

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geogrid.partition.cuts import Subgraph

__all__ = [
    "BALANCE_WEIGHT",
    "CUT_WEIGHT",
    "INERTIA_WEIGHT",
    "Graph",
    "merge_short_grids",
    "refine",
]

CUT_WEIGHT = 1.0
"""Weight of the cut cost against compactness in the objective."""
_BIG = 1000.0
_BALANCE_PHASE_WEIGHT = 20.0
_BALANCE_PHASE_SHAPE = 0.05
_MOVE_COST = 0.1  # per household moved, relative to a household outside the band
_REDRAW_SHAPE = 0.01
_EPS = 1e-9
_FOUR_PI = 4.0 * math.pi
_TWO_PI = 2.0 * math.pi
INERTIA_WEIGHT = 10.0
"""Weight of the moment of inertia (global shape) against 1 / Polsby–Popper (ragged edges)."""
BALANCE_WEIGHT = 1.0
"""Weight of the squared relative deviation from the target inside the band."""
PP_FLOOR = 0.25
"""Grids under this Polsby–Popper are split again with a neighbour at the end."""
FLOOR_WEIGHT = 5.0
"""In the last sweeps, 1 / Polsby–Popper beyond ``1 / PP_FLOOR`` counts this much more."""
_FLOOR_SWEEPS = 5
_FLOOR_BAND = 1000.0


def _shape(perim: float, area: float, sx: float, sy: float, s2: float) -> float:
    """1 / Polsby–Popper plus the normalised moment of inertia (1 for a disc)."""
    if area <= _EPS:
        return 1e6
    inertia = (s2 - (sx * sx + sy * sy) / area) * _TWO_PI / (area * area)
    return perim * perim / (_FOUR_PI * area) + INERTIA_WEIGHT * inertia


def _shapes(
    perim: np.ndarray,
    area: np.ndarray,
    sx: np.ndarray,
    sy: np.ndarray,
    s2: np.ndarray,
    floor: float = 0.0,
) -> np.ndarray:
    """:func:`_shape` of many grids at once."""
    safe = np.where(area > _EPS, area, 1.0)
    inertia = (s2 - (sx * sx + sy * sy) / safe) * _TWO_PI / (safe * safe)
    ragged = perim * perim / (_FOUR_PI * safe)
    if floor:
        ragged += floor * np.maximum(ragged - 1.0 / PP_FLOOR, 0.0)
    value = ragged + INERTIA_WEIGHT * inertia
    return np.where(area > _EPS, value, 1e6)


def _sums(assign: np.ndarray, values: np.ndarray, k: int) -> list[float]:
    return np.bincount(assign, weights=values, minlength=k).tolist()


def _floor_shape(perim: float, area: float, sx: float, sy: float, s2: float, floor: float) -> float:
    """:func:`_shape` with 1 / Polsby–Popper beyond ``1 / PP_FLOOR`` counting ``1 + floor``×."""
    value = _shape(perim, area, sx, sy, s2)
    if area > _EPS:
        value += floor * max(perim * perim / (_FOUR_PI * area) - 1.0 / PP_FLOOR, 0.0)
    return value


@dataclasses.dataclass
class Graph:
    """The unit graph as Python lists, for fast scalar loops.

    ``nbrs[u]``, ``lens[u]`` and ``costs[u]`` are parallel lists: the neighbours of unit ``u``,
    the shared boundary length and the cut cost with each. ``arrays`` holds the same as numpy
    arrays, for evaluating every move at once.
    """

    nbrs: list[list[int]]
    lens: list[list[float]]
    costs: list[list[float]]
    area: list[float]
    perimeter: list[float]
    load: list[float]
    x: list[float]
    y: list[float]
    arrays: _Arrays

    @classmethod
    def from_csr(
        cls,
        xadj: np.ndarray,
        adjncy: np.ndarray,
        lengths: np.ndarray,
        costs: np.ndarray,
        area: np.ndarray,
        perimeter: np.ndarray,
        load: np.ndarray,
        x: np.ndarray | None = None,
        y: np.ndarray | None = None,
    ) -> Graph:
        """Build from compressed sparse rows; ``lengths`` and ``costs`` align with ``adjncy``.

        ``x`` and ``y`` are the units' centroids (default 0: no inertia term).
        """
        zeros = np.zeros(len(area))
        x = zeros if x is None else x - np.average(x, weights=area + 1e-12)
        y = zeros if y is None else y - np.average(y, weights=area + 1e-12)
        bounds = list(zip(xadj[:-1].tolist(), xadj[1:].tolist(), strict=True))
        adj, lens, cost = adjncy.tolist(), lengths.tolist(), costs.tolist()
        arrays = _Arrays(
            xadj=np.asarray(xadj, dtype=np.int64),
            src=np.repeat(np.arange(len(area)), np.diff(xadj)),
            dst=np.asarray(adjncy, dtype=np.int64),
            length=np.asarray(lengths, dtype=float),
            cost=np.asarray(costs, dtype=float),
            area=np.asarray(area, dtype=float),
            perimeter=np.asarray(perimeter, dtype=float),
            load=np.asarray(load, dtype=float),
            x=np.asarray(x, dtype=float),
            y=np.asarray(y, dtype=float),
        )
        return cls(
            nbrs=[adj[s:e] for s, e in bounds],
            lens=[lens[s:e] for s, e in bounds],
            costs=[cost[s:e] for s, e in bounds],
            area=area.tolist(),
            perimeter=perimeter.tolist(),
            load=load.tolist(),
            x=x.tolist(),
            y=y.tolist(),
            arrays=arrays,
        )


@dataclasses.dataclass
class _Arrays:
    """The unit graph as numpy arrays, for evaluating every move at once.

    ``src``, ``dst``, ``length`` and ``cost`` are the directed edges (both directions),
    sorted by ``src`` with ``xadj`` the start of each unit's edges; the others are per unit.
    """

    xadj: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    length: np.ndarray
    cost: np.ndarray
    area: np.ndarray
    perimeter: np.ndarray
    load: np.ndarray
    x: np.ndarray
    y: np.ndarray


class _State:
    """Assignment plus per-grid load, area, perimeter and members, updated move by move."""

    def __init__(
        self, graph: Graph, assign: np.ndarray, k: int, low: float, high: float, target: float
    ) -> None:
        self.g = graph
        self.a: list[int] = assign.tolist()
        self.k = k
        self.low, self.high, self.target = low, high, max(target, _EPS)
        arr, a = graph.arrays, np.asarray(assign, dtype=np.int64)
        inside = a[arr.src] == a[arr.dst]
        shared = np.bincount(a[arr.src[inside]], weights=arr.length[inside], minlength=k)
        self.load = _sums(a, arr.load, k)
        self.area = _sums(a, arr.area, k)
        self.perim = (np.bincount(a, weights=arr.perimeter, minlength=k) - shared).tolist()
        self.sx = _sums(a, arr.area * arr.x, k)
        self.sy = _sums(a, arr.area * arr.y, k)
        self.s2 = _sums(a, arr.area * (arr.x**2 + arr.y**2), k)
        self.members: list[set[int]] = [set() for _ in range(k)]
        for u, grid in enumerate(self.a):
            self.members[grid].add(u)
        total_area = sum(graph.area)
        self.cut_scale = CUT_WEIGHT / max(4.0 * math.sqrt(total_area / max(k, 1)), _EPS)
        self.balance_weight = BALANCE_WEIGHT
        self.shape_weight = 1.0
        self.touched: set[int] = set()
        self.floor = 0.0
        self.band_weight = _BIG
        self.shape_of = [self.grid_shape(g) for g in range(k)]
        self.home: list[int] | None = None
        self.move_cost = 0.0
        self.stuck: set[int] = set()  # grids no chain could fix since they last changed
        self.version = [0] * k  # moves into or out of each grid
        self.blocked: dict[int, int] = {}  # unit → version of its grid when it could not leave

    def grid_shape(self, g: int) -> float:
        return self.shape(self.perim[g], self.area[g], self.sx[g], self.sy[g], self.s2[g])

    def balance_phase(self, on: bool) -> None:
        """Weigh balance far above shape (on) to free room around stuck grids, or back (off)."""
        self.balance_weight = _BALANCE_PHASE_WEIGHT if on else BALANCE_WEIGHT
        self.shape_weight = _BALANCE_PHASE_SHAPE if on else 1.0

    # -- objective pieces

    def excess(self, load: float) -> float:
        return max(self.low - load, load - self.high, 0.0)

    def shape(self, perim: float, area: float, sx: float, sy: float, s2: float) -> float:
        """1 / Polsby–Popper plus the normalised moment of inertia (1 for a disc)."""
        if self.floor:
            return _floor_shape(perim, area, sx, sy, s2, self.floor)
        return _shape(perim, area, sx, sy, s2)

    def out_of_band(self) -> list[int]:
        return [g for g in range(self.k) if self.excess(self.load[g]) > _EPS]

    # -- moves

    def delta(self, u: int, h: int) -> float:
        """Change of the objective when unit ``u`` moves to grid ``h``."""
        g = self.a[u]
        graph = self.g
        len_g = len_h = cost_g = cost_h = 0.0
        for v, length, cost in zip(graph.nbrs[u], graph.lens[u], graph.costs[u], strict=True):
            grid = self.a[v]
            if grid == g:
                len_g += length
                cost_g += cost
            elif grid == h:
                len_h += length
                cost_h += cost
        w, area, perim = graph.load[u], graph.area[u], graph.perimeter[u]
        lg, lh = self.load[g], self.load[h]
        balance = (
            self.excess(lg - w) + self.excess(lh + w) - self.excess(lg) - self.excess(lh)
        ) * (self.band_weight / self.target)
        t2 = self.target * self.target
        balance += (
            self.balance_weight
            * (
                (lg - w - self.target) ** 2
                + (lh + w - self.target) ** 2
                - (lg - self.target) ** 2
                - (lh - self.target) ** 2
            )
            / t2
        )
        ag, ah = self.area[g], self.area[h]
        pg, ph = self.perim[g], self.perim[h]
        ax, ay = area * graph.x[u], area * graph.y[u]
        a2 = area * (graph.x[u] ** 2 + graph.y[u] ** 2)
        sxg, syg, s2g = self.sx[g], self.sy[g], self.s2[g]
        sxh, syh, s2h = self.sx[h], self.sy[h], self.s2[h]
        shape = (
            self.shape(pg - perim + 2.0 * len_g, ag - area, sxg - ax, syg - ay, s2g - a2)
            + self.shape(ph + perim - 2.0 * len_h, ah + area, sxh + ax, syh + ay, s2h + a2)
            - self.shape_of[g]
            - self.shape_of[h]
        )
        moving = 0.0
        if self.home is not None:
            moving = self.move_cost * w * ((h != self.home[u]) - (g != self.home[u]))
        return balance + moving + self.shape_weight * (shape + (cost_g - cost_h) * self.cut_scale)

    def can_leave(self, u: int) -> bool:
        """Whether ``u`` can leave its grid with the rest staying connected (and non-empty)."""
        g = self.a[u]
        if len(self.members[g]) <= 1:
            return False
        a, nbrs = self.a, self.g.nbrs
        targets = [v for v in nbrs[u] if a[v] == g]
        if len(targets) <= 1 or _linked_around(nbrs, targets):
            return True
        return _joined_without(nbrs, a, u, targets)

    def move(self, u: int, h: int) -> None:
        g = self.a[u]
        graph = self.g
        len_g = len_h = 0.0
        for v, length in zip(graph.nbrs[u], graph.lens[u], strict=True):
            if self.a[v] == g:
                len_g += length
            elif self.a[v] == h:
                len_h += length
        self.perim[g] += 2.0 * len_g - graph.perimeter[u]
        self.perim[h] += graph.perimeter[u] - 2.0 * len_h
        self.area[g] -= graph.area[u]
        self.area[h] += graph.area[u]
        ax, ay = graph.area[u] * graph.x[u], graph.area[u] * graph.y[u]
        a2 = graph.area[u] * (graph.x[u] ** 2 + graph.y[u] ** 2)
        self.sx[g] -= ax
        self.sx[h] += ax
        self.sy[g] -= ay
        self.sy[h] += ay
        self.s2[g] -= a2
        self.s2[h] += a2
        self.load[g] -= graph.load[u]
        self.load[h] += graph.load[u]
        self.members[g].discard(u)
        self.members[h].add(u)
        self.a[u] = h
        self.touched.add(g)
        self.touched.add(h)
        self.stuck.discard(g)
        self.stuck.discard(h)
        self.version[g] += 1
        self.version[h] += 1
        self.shape_of[g] = self.grid_shape(g)
        self.shape_of[h] = self.grid_shape(h)

    def best_move(self, u: int) -> tuple[float, int]:
        """The best grid for boundary unit ``u`` to move to and the change of the objective.

        The same as the minimum of :meth:`delta` over the neighbouring grids, with the
        leaving side computed once.
        """
        g = self.a[u]
        graph, a = self.g, self.a
        len_g = cost_g = 0.0
        sums: dict[int, list[float]] = {}
        for v, length, cost in zip(graph.nbrs[u], graph.lens[u], graph.costs[u], strict=True):
            grid = a[v]
            if grid == g:
                len_g += length
                cost_g += cost
            else:
                entry = sums.get(grid)
                if entry is None:
                    sums[grid] = [length, cost]
                else:
                    entry[0] += length
                    entry[1] += cost
        if not sums:
            return 0.0, -1
        # the hottest loop of the partition: local names and inlined band terms
        w, area, perim = graph.load[u], graph.area[u], graph.perimeter[u]
        x, y = graph.x[u], graph.y[u]
        ax, ay, a2 = area * x, area * y, area * (x * x + y * y)
        target, low, high = self.target, self.low, self.high
        big = self.band_weight / target
        bal = self.balance_weight / (target * target)
        sw, cut = self.shape_weight, self.cut_scale
        shape, shape_of = (self.shape if self.floor else _shape), self.shape_of
        perims, areas, loads = self.perim, self.area, self.load
        sxs, sys_, s2s = self.sx, self.sy, self.s2
        lg = loads[g]
        out_before = low - lg if lg < low else (lg - high if lg > high else 0.0)
        lg -= w
        out_after = low - lg if lg < low else (lg - high if lg > high else 0.0)
        leave = (
            (out_after - out_before) * big
            + bal * ((lg - target) ** 2 - (lg + w - target) ** 2)
            + sw
            * (
                shape(
                    perims[g] - perim + 2.0 * len_g,
                    areas[g] - area,
                    sxs[g] - ax,
                    sys_[g] - ay,
                    s2s[g] - a2,
                )
                - shape_of[g]
                + cost_g * cut
            )
        )
        best, best_h = math.inf, -1
        move_cost = self.move_cost
        home = -2 if self.home is None else self.home[u]
        stay_cost = move_cost * w * (g != home) if move_cost else 0.0
        for h, (len_h, cost_h) in sums.items():
            lh = loads[h]
            out_before = low - lh if lh < low else (lh - high if lh > high else 0.0)
            lh += w
            out_after = low - lh if lh < low else (lh - high if lh > high else 0.0)
            d = (
                leave
                + (out_after - out_before) * big
                + bal * ((lh - target) ** 2 - (lh - w - target) ** 2)
                + sw
                * (
                    shape(
                        perims[h] + perim - 2.0 * len_h,
                        areas[h] + area,
                        sxs[h] + ax,
                        sys_[h] + ay,
                        s2s[h] + a2,
                    )
                    - shape_of[h]
                    - cost_h * cut
                )
            )
            if move_cost:
                d += move_cost * w * (h != home) - stay_cost
            if d < best:
                best, best_h = d, h
        return best, best_h

    def improving(self) -> np.ndarray:
        """Units with a move that lowers the objective: all moves evaluated at once.

        The vectorised twin of :meth:`best_move`, which decides each move of a sweep as the
        state changes; this picks the units worth asking.
        """
        arr, k = self.g.arrays, self.k
        a = np.asarray(self.a, dtype=np.int64)
        n, gb = len(a), a[arr.dst]
        inside = a[arr.src] == gb
        len_g = np.bincount(arr.src[inside], weights=arr.length[inside], minlength=n)
        cost_g = np.bincount(arr.src[inside], weights=arr.cost[inside], minlength=n)
        out = ~inside
        pairs, inverse = np.unique(arr.src[out] * k + gb[out], return_inverse=True)
        len_h = np.bincount(inverse, weights=arr.length[out])
        cost_h = np.bincount(inverse, weights=arr.cost[out])
        u, h = pairs // k, pairs % k
        g = a[u]
        w, area = arr.load[u], arr.area[u]
        ax, ay = area * arr.x[u], area * arr.y[u]
        a2 = area * (arr.x[u] ** 2 + arr.y[u] ** 2)
        loads, areas, perims = (np.asarray(v) for v in (self.load, self.area, self.perim))
        sx, sy, s2 = (np.asarray(v) for v in (self.sx, self.sy, self.s2))
        shape_of = np.asarray(self.shape_of)
        lg, lh, t = loads[g], loads[h], self.target
        delta = (
            self._outside(lg - w) - self._outside(lg) + self._outside(lh + w) - self._outside(lh)
        ) * (self.band_weight / t)
        delta += (self.balance_weight / (t * t)) * (
            (lg - w - t) ** 2 - (lg - t) ** 2 + (lh + w - t) ** 2 - (lh - t) ** 2
        )
        perim = arr.perimeter[u]
        shape = (
            _shapes(
                perims[g] - perim + 2.0 * len_g[u],
                areas[g] - area,
                sx[g] - ax,
                sy[g] - ay,
                s2[g] - a2,
                self.floor,
            )
            + _shapes(
                perims[h] + perim - 2.0 * len_h,
                areas[h] + area,
                sx[h] + ax,
                sy[h] + ay,
                s2[h] + a2,
                self.floor,
            )
            - shape_of[g]
            - shape_of[h]
        )
        delta += self.shape_weight * (shape + (cost_g[u] - cost_h) * self.cut_scale)
        if self.move_cost and self.home is not None:
            home = np.asarray(self.home)[u]
            delta += self.move_cost * w * ((h != home).astype(float) - (g != home))
        better = np.zeros(n, dtype=bool)
        better[u[delta < -_EPS]] = True
        return better

    def _outside(self, load: np.ndarray) -> np.ndarray:
        """Load outside the band, per entry."""
        return np.maximum(np.maximum(self.low - load, load - self.high), 0.0)

    def neighbour_grids(self, u: int) -> list[int]:
        g = self.a[u]
        a = self.a
        return sorted({a[v] for v in self.g.nbrs[u] if a[v] != g})


def refine(
    graph: Graph,
    assign: np.ndarray,
    k: int,
    low: float,
    high: float,
    target: float,
    *,
    seed: int = 0,
    time_limit: float | None = None,
    max_sweeps: int = 30,
    on_sweep: Callable[[int, int], None] | None = None,
    home: np.ndarray | None = None,
    balance_weight: float | None = None,
) -> np.ndarray:
    """Improve a partition: band first, then compactness and cut cost, keeping grids connected.

    Last, grids under :data:`PP_FLOOR` are split again with a neighbour and lifted (not in a
    redraw, where few households should move).

    ``balance_weight`` overrides :data:`BALANCE_WEIGHT` (pull towards the target inside the
    band), e.g. high for "as equal as possible".

    With ``home`` (each unit's grid in the plan being redrawn), the search only brings grids
    into the band, and every household moved away from its home grid costs a tenth of a
    household outside the band: few households move (shape only breaks ties).

    Parameters
    ----------
    graph
        The unit graph.
    assign
        Grid index of every unit (0 … k-1); grids may be split or empty on entry.
    k
        Number of grids.
    low, high
        The band; pass ``low = high = target`` for "as equal as possible".
    target
        The ideal load of a grid.
    seed
        Seed of the sweep order.
    time_limit
        Seconds after which the search stops with what it has; ``None`` (default) for no
        limit. A limit makes the result depend on the machine's speed, so the same seed
        may no longer give the same partition.
    max_sweeps
        Sweeps over all units at most.
    on_sweep
        Called after each sweep with (sweep number, moves made): for a progress bar.

    Returns
    -------
    numpy.ndarray
        The improved assignment; every grid connected and non-empty when the input graph is
        connected and has at least ``k`` units.

    Examples
    --------
    A path of four units of 1 household, cut badly into 3 + 1:

    >>> ones = np.ones(4)
    >>> xadj = np.array([0, 1, 3, 5, 6]); adjncy = np.array([1, 0, 2, 1, 3, 2])
    >>> g = Graph.from_csr(xadj, adjncy, np.ones(6), np.ones(6), ones, 4 * ones, ones)
    >>> refine(g, np.array([0, 0, 0, 1]), 2, 2, 2, 2).tolist()
    [0, 0, 1, 1]
    """
    deadline = time.perf_counter() + time_limit if time_limit is not None else math.inf
    assign = _repair(graph, np.asarray(assign, dtype=np.int64).copy(), k)
    state = _State(graph, assign, k, low, high, target)
    rng = np.random.default_rng(seed)
    n = len(graph.nbrs)
    sweep = 0
    if home is not None:
        state.home = np.asarray(home, dtype=np.int64).tolist()
        state.move_cost = _MOVE_COST * _BIG / state.target
    phases = (True,) if home is not None else (True, False)
    for balance in phases:  # phase 1: into the band; phase 2: shape and cut
        if balance and not state.out_of_band():
            continue
        state.balance_phase(balance)
        if balance_weight is not None and not balance:
            state.balance_weight = balance_weight
        if home is not None:
            state.balance_weight, state.shape_weight = 0.0, _REDRAW_SHAPE
        rank = rng.permutation(n)
        for _ in range(max_sweeps):
            sweep += 1
            state.touched.clear()
            moves = _sweep(state, rank, deadline)
            moves += _chains(state, deadline) if state.out_of_band() else 0
            if on_sweep is not None:
                on_sweep(sweep, moves)
            quiet = moves == 0 or (not balance and moves <= _QUIET * n)
            if quiet or time.perf_counter() > deadline:
                break
            if balance and not state.out_of_band():
                break
    if home is None:
        _lift_worst(state, rng, deadline)
    return np.asarray(state.a, dtype=np.int64)


def _joined_without(nbrs: list[list[int]], a: list[int], u: int, targets: list[int]) -> bool:
    """Whether ``targets`` (neighbours of ``u`` in its grid) stay linked without ``u``.

    One depth-first search from each target, taking turns, searches that meet joining: a
    search that runs out before all have joined has found a part cut off, so the work is
    about the size of the smaller side, not of the whole grid.
    """
    g = a[u]
    owner = {u: -1}
    for i, t in enumerate(targets):
        owner[t] = i
    group = list(range(len(targets)))
    stacks = [[t] for t in targets]
    groups = len(targets)

    def find(i: int) -> int:
        while group[i] != i:
            i = group[i]
        return i

    while True:
        for i, stack in enumerate(stacks):
            if not stack:
                root = find(i)
                if all(not stacks[j] for j in range(len(stacks)) if find(j) == root):
                    return False  # this group's part is exhausted: cut off
                continue
            for y in nbrs[stack.pop()]:
                if a[y] != g:
                    continue
                j = owner.get(y)
                if j is None:
                    owner[y] = i
                    stack.append(y)
                elif j >= 0 and find(j) != find(i):
                    group[find(j)] = find(i)
                    groups -= 1
                    if groups == 1:
                        return True


def _linked_around(nbrs: list[list[int]], targets: list[int]) -> bool:
    """Whether ``targets`` (a unit's neighbours in its grid) are linked among themselves.

    Then the unit can leave without splitting its grid, found without searching the whole
    grid (the usual case: a boundary unit whose grid neighbours touch one another).
    """
    ring = set(targets)
    seen = {targets[0]}
    stack = [targets[0]]
    while stack:
        for y in nbrs[stack.pop()]:
            if y in ring and y not in seen:
                seen.add(y)
                stack.append(y)
    return len(seen) == len(ring)


def _sweep(state: _State, rank: np.ndarray, deadline: float) -> int:
    """Move every unit that has an improving move, in the order of ``rank``.

    Each move is decided again on the state as it is then (:meth:`_State.best_move`); a unit
    that cannot leave its grid is not asked again until its grid changes.
    """
    candidates = np.flatnonzero(state.improving())
    order = candidates[np.argsort(rank[candidates], kind="stable")].tolist()
    moves = 0
    a, version, blocked = state.a, state.version, state.blocked
    for count, u in enumerate(order):
        if count % 512 == 0 and time.perf_counter() > deadline:
            break
        if blocked.get(u) == version[a[u]]:
            continue
        best, best_h = state.best_move(u)
        if best >= -_EPS:
            continue
        if state.can_leave(u):
            state.move(u, best_h)
            moves += 1
        else:
            blocked[u] = version[a[u]]
    return moves


# --------------------------------------------------------------------------- lift

_LIFT_TREES = 16  # random spanning trees cut per pair of grids
_LIFT_NEIGHBOURS = 3  # neighbours tried per grid, longest shared boundary first
_LIFT_UNITS = 240  # pairs of grids with more units are cut by straight lines only


def _lift_worst(state: _State, rng: np.random.Generator, deadline: float) -> None:
    """Last phase: lift the grids under :data:`PP_FLOOR`.

    They are split again with a neighbour (:func:`_lift`); then sweeps weigh 1 / Polsby–Popper
    beyond ``1 / PP_FLOOR`` (1 + :data:`FLOOR_WEIGHT`) times.
    """
    if time.perf_counter() > deadline:
        return
    _lift(state, rng)
    state.floor = FLOOR_WEIGHT
    state.band_weight = _BIG * _FLOOR_BAND  # shape may not push a grid out of the band
    state.shape_of = [state.grid_shape(g) for g in range(state.k)]
    for _ in range(_FLOOR_SWEEPS):
        if not _sweep(state, rng.permutation(len(state.a)), deadline):
            break


def _lift(state: _State, rng: np.random.Generator) -> int:
    """Split every grid under :data:`PP_FLOOR` again with a neighbour, more compactly.

    The sum of 1 / Polsby–Popper over all grids barely notices one ragged grid hooked around
    its neighbour, and no single move undoes the hook; this pass looks at the worst grids
    alone. Neighbours are tried by shared boundary, longest first. Returns the moves made.
    """
    moves = 0
    for g in range(state.k):
        if _polsby_popper(state, g) >= PP_FLOOR:
            continue
        shared: dict[int, float] = {}
        a, graph = state.a, state.g
        for u in state.members[g]:
            for v, length in zip(graph.nbrs[u], graph.lens[u], strict=True):
                if a[v] != g:
                    shared[a[v]] = shared.get(a[v], 0.0) + length
        for h in sorted(shared, key=lambda x: (-shared[x], x))[:_LIFT_NEIGHBOURS]:
            done = _resplit(state, g, h, rng)
            if done:
                moves += done
                break
    return moves


def _polsby_popper(state: _State, g: int) -> float:
    perim = state.perim[g]
    return _FOUR_PI * state.area[g] / (perim * perim) if perim > _EPS else 1.0


def _resplit(state: _State, g: int, h: int, rng: np.random.Generator) -> int:
    """Split grids ``g`` and ``h`` again along the best cut of random spanning trees.

    GerryChain's ReCom step, scored by the less compact of the two grids: the cut wins when
    both sides are in the band and its worse side beats the worse of ``g`` and ``h`` now.
    Returns the moves made (0: kept as it was).
    """
    units = sorted(state.members[g] | state.members[h])
    local = Subgraph.of(state.g, units)
    sides = local.line_cuts(state.low, state.high)
    if len(units) <= _LIFT_UNITS:
        for _ in range(_LIFT_TREES):
            sides += local.tree_cuts(rng, state.low, state.high)
    now = min(_polsby_popper(state, g), _polsby_popper(state, h))
    scored = []
    for i, side in enumerate(sides):
        score = min(local.polsby_popper(side), local.polsby_popper(~side))
        if score > now + 0.01:
            scored.append((-score, i))
    best_side = None
    for _, i in sorted(scored):
        if local.connected(sides[i]) and local.connected(~sides[i]):
            best_side = sides[i]
            break
    if best_side is None:
        return 0
    mine = np.array([state.a[u] == g for u in units])
    if (best_side == mine).sum() < len(units) / 2:
        best_side = ~best_side
    moves = 0
    for u, in_g in zip(units, best_side.tolist(), strict=True):
        grid = g if in_g else h
        if state.a[u] != grid:
            state.move(u, grid)
            moves += 1
    return moves


# --------------------------------------------------------------------------- chains


def _chains(state: _State, deadline: float) -> int:
    """Fix out-of-band grids with ejection chains, then with pushes along paths of grids."""
    moves = 0
    _unstick(state)
    for g in sorted(state.out_of_band(), key=lambda x: (-state.excess(state.load[x]), x)):
        if time.perf_counter() > deadline:
            break
        if state.excess(state.load[g]) <= _EPS or g in state.stuck:
            continue
        done: list[tuple[int, int]] = []
        budget = [_CHAIN_NODES]
        if _eject(state, g, state.load[g] > state.high, {g}, done, budget, _CHAIN_DEPTH):
            moves += len(done)
            continue
        recombined = _recombine_around(state, g)
        if recombined:
            moves += recombined
            continue
        carried = _corridor(state, g)
        if carried:
            moves += carried
            continue
        pushed = _push(state, g)
        moves += pushed
        if not pushed:
            state.stuck.add(g)
    return moves


_RECOMBINE_UNITS = 12  # at most this many units are re-split exhaustively


def _recombine_around(state: _State, g: int) -> int:
    """Re-split out-of-band grid ``g`` together with one, then two neighbouring grids.

    The units of the grids taken together are split again, exhaustively, into as many
    connected grids all in the band, the most compact split winning (like GerryChain's
    ReCom, but enumerated, as the groups are small). Returns the moves made (0: no split).
    """
    neighbours = sorted(_grid_neighbours(state, g))
    groups: list[list[int]] = [[g, h] for h in neighbours]
    for i, h1 in enumerate(neighbours):
        for h2 in neighbours[i + 1 :]:
            groups.append([g, h1, h2])
    for group in groups:
        units = sorted(u for x in group for u in state.members[x])
        if len(units) > _RECOMBINE_UNITS:
            continue
        split = _best_split(state, units, len(group))
        if split is None:
            continue
        moves = 0
        for u, label in zip(units, split, strict=True):
            if state.a[u] != group[label]:
                state.move(u, group[label])
                moves += 1
        if moves:
            return moves
    return 0


def _best_split(state: _State, units: list[int], m: int) -> list[int] | None:
    """Labels 0 … m-1 for ``units``: every part connected and in the band, most compact."""
    graph = state.g
    index = {u: i for i, u in enumerate(units)}
    adj = [0] * len(units)
    shared: dict[tuple[int, int], float] = {}
    for i, u in enumerate(units):
        for v, length in zip(graph.nbrs[u], graph.lens[u], strict=True):
            j = index.get(v)
            if j is not None:
                adj[i] |= 1 << j
                shared[(i, j)] = length
    load = [graph.load[u] for u in units]
    if not m * state.low <= sum(load) <= m * state.high:
        return None
    return _best_in_band(state, units, m, adj, shared, load)


def _best_in_band(
    state: _State,
    units: list[int],
    m: int,
    adj: list[int],
    shared: dict[tuple[int, int], float],
    load: list[float],
) -> list[int] | None:
    """Exhaustive search keeping only splits with every part in the band."""
    n = len(units)
    best: tuple[float, list[int]] | None = None
    labels = [0] * n
    sums = [0.0] * m
    remaining = [0.0] * (n + 1)
    for i in range(n - 1, -1, -1):
        remaining[i] = remaining[i + 1] + load[i]

    def place(i: int, used: int) -> None:
        nonlocal best
        short = sum(max(state.low - sums[label], 0.0) for label in range(m))
        if short > remaining[i] + _EPS:
            return
        if i == n:
            if used < m:
                return
            masks = [0] * m
            for j, label in enumerate(labels):
                masks[label] |= 1 << j
            if not all(_bits_connected(mask, adj) for mask in masks):
                return
            score = sum(_part_shape(state, units, mask, shared) for mask in masks)
            if best is None or score < best[0]:
                best = (score, list(labels))
            return
        for label in range(min(used + 1, m)):
            if sums[label] + load[i] > state.high:
                continue
            labels[i] = label
            sums[label] += load[i]
            place(i + 1, max(used, label + 1))
            sums[label] -= load[i]

    place(0, 0)
    return None if best is None else best[1]


def _bits_connected(mask: int, adj: list[int]) -> bool:
    if mask == 0:
        return False
    seen = frontier = mask & -mask
    while frontier:
        i = frontier.bit_length() - 1
        frontier &= ~(1 << i)
        new = adj[i] & mask & ~seen
        seen |= new
        frontier |= new
    return seen == mask


def _part_shape(
    state: _State, units: list[int], mask: int, shared: dict[tuple[int, int], float]
) -> float:
    graph = state.g
    area = perim = sx = sy = s2 = 0.0
    members = [j for j in range(len(units)) if mask >> j & 1]
    for j in members:
        u = units[j]
        a = graph.area[u]
        area += a
        perim += graph.perimeter[u]
        sx += a * graph.x[u]
        sy += a * graph.y[u]
        s2 += a * (graph.x[u] ** 2 + graph.y[u] ** 2)
    for j in members:
        for k in members:
            if j < k:
                perim -= 2.0 * shared.get((j, k), 0.0)
    return state.shape(perim, area, sx, sy, s2)


def _unstick(state: _State) -> None:
    """Retry stuck grids when the last sweep changed them or a neighbouring grid."""
    if not state.stuck or not state.touched:
        return
    for g in sorted(state.stuck):
        if (_grid_neighbours(state, g) | {g}) & state.touched:
            state.stuck.discard(g)


_CHAIN_DEPTH = 6
_QUIET = 0.0005  # a sweep moving at most this share of the units ends the phase
_CHAIN_NODES = 400


def _eject(
    state: _State,
    x: int,
    over: bool,
    chain: set[int],
    done: list[tuple[int, int]],
    budget: list[int],
    depth: int,
) -> bool:
    """Ejection chain from out-of-band grid ``x``; undone on failure.

    One unit moves so ``x`` lands in the band; if the grid on the other side leaves the
    band, the chain continues from it.
    """
    for u, y in _chain_moves(state, x, over, chain):
        budget[0] -= 1
        if budget[0] < 0:
            return False
        giver, taker = (x, y) if over else (y, x)
        state.move(u, taker)
        done.append((u, giver))
        if state.excess(state.load[y]) <= _EPS:
            return True
        if depth > 1 and _eject(state, y, over, chain | {y}, done, budget, depth - 1):
            return True
        state.move(u, giver)
        done.pop()
    return False


def _chain_moves(state: _State, x: int, over: bool, chain: set[int]) -> list[tuple[int, int]]:
    """Single moves that put grid ``x`` into the band: (unit, other grid), best first."""
    a, nbrs, load = state.a, state.g.nbrs, state.g.load
    lx = state.load[x]
    found = []
    if over:
        for u in state.members[x]:
            new = lx - load[u]
            if not (state.low <= new <= state.high):
                continue
            for y in {a[v] for v in nbrs[u]} - chain - {x}:
                found.append((state.excess(state.load[y] + load[u]), load[u], u, y))
    else:
        seen = set()
        for w in state.members[x]:
            for u in nbrs[w]:
                y = a[u]
                if y == x or y in chain or u in seen:
                    continue
                seen.add(u)
                if state.low <= lx + load[u] <= state.high:
                    found.append((state.excess(state.load[y] - load[u]), load[u], u, y))
    found.sort()
    out = []
    for _, _, u, y in found:
        if state.can_leave(u):
            out.append((u, y))
        if len(out) >= 8:
            break
    return out


_CORRIDOR_UNITS = 64  # a path moved whole holds at most this many units
_CORRIDOR_PATHS = 16  # paths tried per pair of grids
_CORRIDOR_CHAINS = 4  # paths tried that take the other grid out, an ejection chain following


def _corridor(state: _State, g: int) -> int:
    """Fix out-of-band grid ``g`` by moving a path of units from or to a neighbouring grid.

    Where a neighbouring grid's households sit in buildings beyond empty cells (a campus, a
    park), no single move reaches them: an empty cell moved alone leaves both loads as they
    are, and the chains look at one unit at a time. Here a path of the giver's units, empty
    land from its border with the taker to one loaded unit (the shortest), moves whole
    when that lands ``g`` in the band, does not take the other grid further out of it and
    leaves the giver connected. Failing that, a path may take the other grid out of the band
    when an ejection chain from it then brings it back. Returns the moves made.
    """
    over = state.load[g] > state.high
    for strict in (True, False):
        options = []
        for y in sorted(_grid_neighbours(state, g)):
            giver, taker = (g, y) if over else (y, g)
            for path in _corridor_paths(state, g, y, giver, taker, strict):
                options.append((state.excess(state.load[y]), len(path), y, path))
        for _, _, y, path in sorted(options)[: 1 if strict else _CORRIDOR_CHAINS]:
            giver, taker = (g, y) if over else (y, g)
            for u in path:
                state.move(u, taker)
            if strict or state.excess(state.load[y]) <= _EPS:
                return len(path)
            done: list[tuple[int, int]] = []
            out = state.load[y] > state.high
            if _eject(state, y, out, {g, y}, done, [_CHAIN_NODES], _CHAIN_DEPTH):
                return len(path) + len(done)
            for u in reversed(path):
                state.move(u, giver)
    return 0


def _corridor_paths(
    state: _State, g: int, y: int, giver: int, taker: int, strict: bool = True
) -> list[list[int]]:
    """Paths of ``giver`` starting next to ``taker`` whose move fixes ``g`` (see _corridor).

    Breadth-first from the border through empty units (load 0), and through loaded units
    while what the path carries is still too little, at most :data:`_CORRIDOR_UNITS` long;
    a path qualifies when its load lands ``g`` in the band (``strict``: without taking ``y``
    further out). Parts of the giver the path cuts off (all but its most loaded part) move
    with it, so both grids stay connected.
    """
    a, nbrs, load = state.a, state.g.nbrs, state.g.load
    members = state.members[giver]
    sign = -1.0 if giver == g else 1.0
    starts = sorted(u for u in members if any(a[v] == taker for v in nbrs[u]))
    previous: dict[int, int] = {u: -1 for u in starts}
    carried = {u: load[u] for u in starts}
    depth = dict.fromkeys(starts, 1)
    queue = deque(starts)
    paths = []
    y_before = state.excess(state.load[y]) if strict else math.inf
    while queue:
        u = queue.popleft()
        w = carried[u]
        if (
            w > _EPS
            and state.excess(state.load[g] + sign * w) <= _EPS
            and state.excess(state.load[y] - sign * w) <= y_before + _EPS
            and depth[u] < len(members)
        ):
            path = [u]
            while previous[path[-1]] >= 0:
                path.append(previous[path[-1]])
            path = path[::-1] + _cut_off(state.g, members - set(path))
            moved = sum(load[x] for x in path)
            if (
                len(path) < len(members)
                and state.excess(state.load[g] + sign * moved) <= _EPS
                and state.excess(state.load[y] - sign * moved) <= y_before + _EPS
            ):
                paths.append(path)
                continue
        after = state.load[g] + sign * w
        short = after < state.low if sign > 0 else after > state.high
        if (load[u] > _EPS and not short) or depth[u] >= _CORRIDOR_UNITS:
            continue  # paths run through empty land, and through loaded units still too few
        if len(paths) >= _CORRIDOR_PATHS:
            continue
        for v in nbrs[u]:
            if v not in previous and a[v] == giver:
                previous[v], carried[v], depth[v] = u, w + load[v], depth[u] + 1
                queue.append(v)
    return paths


def _cut_off(graph: Graph, rest: set[int]) -> list[int]:
    """Units of ``rest`` outside its most loaded connected part (largest on ties)."""
    parts: list[list[int]] = []
    seen: set[int] = set()
    for start in sorted(rest):
        if start in seen:
            continue
        part, stack = [start], [start]
        seen.add(start)
        while stack:
            x = stack.pop()
            for v in graph.nbrs[x]:
                if v in rest and v not in seen:
                    seen.add(v)
                    part.append(v)
                    stack.append(v)
        parts.append(part)
    if len(parts) <= 1:
        return []
    keep = max(
        range(len(parts)), key=lambda i: (sum(graph.load[x] for x in parts[i]), len(parts[i]))
    )
    return [x for i, part in enumerate(parts) if i != keep for x in part]


def _push(state: _State, g: int) -> int:
    over = state.load[g] > state.high
    path = _path_to_slack(state, g, over)
    if path is None:
        return 0
    before = sum(state.excess(state.load[x]) for x in path)
    done = _push_along(state, path if over else path[::-1])
    after = sum(state.excess(state.load[x]) for x in path)
    if after < before - _EPS:
        return len(done)
    for u, old in reversed(done):
        state.move(u, old)
    return 0


def _grid_neighbours(state: _State, g: int) -> set[int]:
    a, nbrs = state.a, state.g.nbrs
    return {a[v] for u in state.members[g] for v in nbrs[u] if a[v] != g}


def _path_to_slack(state: _State, g: int, over: bool) -> list[int] | None:
    """Shortest chain of neighbouring grids from ``g`` to one that can absorb (or give) load."""
    need = state.excess(state.load[g])
    previous = {g: g}
    queue = deque([g])
    while queue:
        x = queue.popleft()
        for y in sorted(_grid_neighbours(state, x)):
            if y in previous:
                continue
            previous[y] = x
            room = state.high - state.load[y] if over else state.load[y] - state.low
            if room >= need:
                path = [y]
                while path[-1] != g:
                    path.append(previous[path[-1]])
                return path[::-1]
            queue.append(y)
    return None


def _push_along(state: _State, path: list[int]) -> list[tuple[int, int]]:
    """Move load along ``path[0] → path[1] → …``.

    Each step moves boundary units until the giver's surplus over its starting load (over the
    band's top, for the first grid) is passed on.
    """
    done: list[tuple[int, int]] = []
    start = {x: state.load[x] for x in path}
    for i in range(len(path) - 1):
        giver, taker = path[i], path[i + 1]
        goal = state.load[giver] - state.high if i == 0 else state.load[giver] - start[giver]
        moved = 0.0
        while moved < goal - _EPS:
            u = _best_giveaway(state, giver, taker, goal - moved)
            if u < 0:
                return done
            moved += state.g.load[u]
            state.move(u, taker)
            done.append((u, giver))
    return done


def _best_giveaway(state: _State, giver: int, taker: int, want: float) -> int:
    """The boundary unit of ``giver`` next to ``taker`` whose load best fits ``want``."""
    a, nbrs, load = state.a, state.g.nbrs, state.g.load
    best, best_u = math.inf, -1
    candidates = {u for u in state.members[giver] if any(a[v] == taker for v in nbrs[u])}
    for u in sorted(candidates):
        if load[u] <= 0 and want > 0:
            continue
        score = abs(load[u] - want) + 0.01 * state.delta(u, taker)
        if score < best and state.can_leave(u):
            best, best_u = score, u
    return best_u


# --------------------------------------------------------------------------- repair


def _repair(graph: Graph, assign: np.ndarray, k: int) -> np.ndarray:
    """Make every grid connected and non-empty: stray fragments join a neighbouring grid."""
    for _ in range(k + 1):
        changed = False
        for g in _split_grids(graph, assign):
            fragments = _fragments(graph, assign, g)
            if len(fragments) <= 1:
                continue
            fragments.sort(key=lambda f: (-sum(graph.load[u] for u in f), -len(f), min(f)))
            for fragment in fragments[1:]:
                assign[fragment] = _best_host(graph, assign, fragment, g)
                changed = True
        if not changed:
            break
    empty = [g for g in range(k) if not (assign == g).any()]
    for g in empty:
        assign[_seed_unit(graph, assign)] = g
    return assign


def _split_grids(graph: Graph, assign: np.ndarray) -> list[int]:
    """Grids in more than one connected piece (one graph search for all)."""
    arr = graph.arrays
    n = len(assign)
    inside = assign[arr.src] == assign[arr.dst]
    links = coo_matrix(
        (np.ones(int(inside.sum())), (arr.src[inside], arr.dst[inside])), shape=(n, n)
    )
    _, piece = connected_components(links, directed=False)
    grids, _ = np.unique(np.stack([assign, piece]), axis=1)
    return np.flatnonzero(np.bincount(grids) > 1).tolist()


def _fragments(graph: Graph, assign: np.ndarray, g: int) -> list[list[int]]:
    members = set(np.flatnonzero(assign == g).tolist())
    out = []
    while members:
        start = min(members)
        members.discard(start)
        part, stack = [start], [start]
        while stack:
            x = stack.pop()
            for y in graph.nbrs[x]:
                if y in members:
                    members.discard(y)
                    part.append(y)
                    stack.append(y)
        out.append(part)
    return out


def _best_host(graph: Graph, assign: np.ndarray, fragment: list[int], g: int) -> int:
    shared: dict[int, float] = {}
    for u in fragment:
        for v, length in zip(graph.nbrs[u], graph.lens[u], strict=True):
            h = int(assign[v])
            if h != g:
                shared[h] = shared.get(h, 0.0) + length
    if not shared:
        return g
    return max(sorted(shared), key=lambda h: shared[h])


def _seed_unit(graph: Graph, assign: np.ndarray) -> int:
    """A unit to start an empty grid with.

    One whose grid stays connected without it, from the heaviest grid of several units.
    """
    loads = np.bincount(assign, weights=np.asarray(graph.load), minlength=int(assign.max()) + 1)
    counts = np.bincount(assign, minlength=len(loads))
    for g in np.argsort(-loads, kind="stable").tolist():
        if counts[g] <= 1:
            continue
        members = np.flatnonzero(assign == g).tolist()
        for u in sorted(members, key=lambda m: -graph.load[m]):
            rest = set(members) - {u}
            if _connected(graph, rest):
                return int(u)
    raise AssertionError("no unit can start an empty grid")  # k ≤ units makes this unreachable


def _connected(graph: Graph, members: set[int]) -> bool:
    if not members:
        return True
    start = min(members)
    seen, stack = {start}, [start]
    while stack:
        x = stack.pop()
        for y in graph.nbrs[x]:
            if y in members and y not in seen:
                seen.add(y)
                stack.append(y)
    return len(seen) == len(members)


def merge_short_grids(graph: Graph, assign: np.ndarray, low: float, high: float) -> np.ndarray:
    """Merge grids below the band into neighbours; relabel the grids 0 … k'-1.

    A grid below the band merges into a neighbour when the merged grid stays in the band; a
    grid without any load merges into its longest neighbour always.

    Grids below the band remain when no neighbour can take them (reported by the caller).

    Examples
    --------
    >>> ones = np.ones(3)
    >>> xadj = np.array([0, 1, 3, 4]); adjncy = np.array([1, 0, 2, 1])
    >>> g = Graph.from_csr(xadj, adjncy, np.ones(4), np.ones(4), ones, 4 * ones,
    ...                    np.array([5.0, 0.0, 5.0]))
    >>> merge_short_grids(g, np.array([0, 1, 2]), 4, 6).tolist()
    [0, 0, 1]
    """
    assign = np.asarray(assign, dtype=np.int64).copy()
    while True:
        k = int(assign.max()) + 1
        loads = np.bincount(assign, weights=np.asarray(graph.load), minlength=k)
        short = [g for g in np.argsort(loads, kind="stable").tolist() if loads[g] < low]
        merged = False
        for g in short:
            shared = _shared_lengths(graph, assign, g)
            fits = [h for h in shared if loads[h] + loads[g] <= high or loads[g] <= 0]
            if not fits:
                continue
            h = max(sorted(fits), key=lambda x: shared[x])
            assign[assign == g] = h
            merged = True
            break
        if not merged:
            break
    _, relabelled = np.unique(assign, return_inverse=True)
    return relabelled.astype(np.int64).ravel()


def _shared_lengths(graph: Graph, assign: np.ndarray, g: int) -> dict[int, float]:
    shared: dict[int, float] = {}
    for u in np.flatnonzero(assign == g).tolist():
        for v, length in zip(graph.nbrs[u], graph.lens[u], strict=True):
            h = int(assign[v])
            if h != g:
                shared[h] = shared.get(h, 0.0) + length
    return shared
