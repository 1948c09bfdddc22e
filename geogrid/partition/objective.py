"""The objective of the refinement, and the state that evaluates moves against it.

The objective, lower is better, summed over grids::

    J = BIG · excess / target            (load outside the band: dominates)
      + P² / (4π A)                      (1 / Polsby–Popper: ragged edges)
      + INERTIA_WEIGHT · 2π I / A²       (moment of inertia, 1 for a disc: global shape)
      + BALANCE_WEIGHT · ((load − target) / target)²   (prefer the middle of the band)
      + CUT_WEIGHT · cut cost / P̄        (cut edges, cheap on roads/rivers; P̄ a typical
                                           grid perimeter, so both terms are dimensionless)

:class:`RefineState` holds an assignment with every grid's load, area, perimeter and area
moments, updated in O(1) per move, and gives the change of ``J`` for a move of one unit
(:meth:`RefineState.delta`, :meth:`RefineState.best_move`) or finds every unit with an
improving move at once with numpy (:meth:`RefineState.improving`).
"""

from __future__ import annotations

import math

import numpy as np

from geogrid.partition.graph import Graph, joined_without, linked_around

__all__ = [
    "BALANCE_WEIGHT",
    "BIG",
    "CUT_WEIGHT",
    "EPS",
    "FLOOR_WEIGHT",
    "INERTIA_WEIGHT",
    "PP_FLOOR",
    "RefineState",
]

CUT_WEIGHT = 1.0
"""Weight of the cut cost against compactness in the objective."""
BIG = 1000.0
"""Weight of the load outside the band (relative to the target): the band dominates."""
_BALANCE_PHASE_WEIGHT = 20.0
_BALANCE_PHASE_SHAPE = 0.05
EPS = 1e-9
"""Tolerance on loads and on changes of the objective."""
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


def _shape(perim: float, area: float, sx: float, sy: float, s2: float) -> float:
    """1 / Polsby–Popper plus the normalised moment of inertia (1 for a disc)."""
    if area <= EPS:
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
    safe = np.where(area > EPS, area, 1.0)
    inertia = (s2 - (sx * sx + sy * sy) / safe) * _TWO_PI / (safe * safe)
    ragged = perim * perim / (_FOUR_PI * safe)
    if floor:
        ragged += floor * np.maximum(ragged - 1.0 / PP_FLOOR, 0.0)
    value = ragged + INERTIA_WEIGHT * inertia
    return np.where(area > EPS, value, 1e6)


def _sums(assign: np.ndarray, values: np.ndarray, k: int) -> list[float]:
    return np.bincount(assign, weights=values, minlength=k).tolist()


def _floor_shape(perim: float, area: float, sx: float, sy: float, s2: float, floor: float) -> float:
    """:func:`_shape` with 1 / Polsby–Popper beyond ``1 / PP_FLOOR`` counting ``1 + floor``×."""
    value = _shape(perim, area, sx, sy, s2)
    if area > EPS:
        value += floor * max(perim * perim / (_FOUR_PI * area) - 1.0 / PP_FLOOR, 0.0)
    return value


class RefineState:
    """Assignment plus per-grid load, area, perimeter and members, updated move by move.

    Every phase of the refinement moves units through :meth:`move`, which keeps the per-grid
    sums and :attr:`shape_of` current; the objective's weights are attributes the phases set.

    Parameters
    ----------
    graph
        The unit graph.
    assign
        Grid index (0 … k-1) of every unit.
    k
        Number of grids.
    low, high
        The band.
    target
        The ideal load of a grid.

    Attributes
    ----------
    g, a, k
        The graph, the grid of every unit (a list) and the number of grids.
    low, high, target
        The band and the ideal load.
    load, area, perim, sx, sy, s2
        Per grid: load, area, perimeter and the area moments Σ A·x, Σ A·y, Σ A·(x² + y²).
    members
        Per grid, the set of its units.
    shape_of
        Per grid, its shape term (:meth:`grid_shape`).
    band_weight, balance_weight, shape_weight, cut_scale, floor
        The objective's weights: of the load outside the band (:data:`BIG`), of the distance
        from the target, of shape and cut together, of the cut cost (per length of a typical
        grid perimeter) and of 1 / Polsby–Popper beyond ``1 / PP_FLOOR`` (0: none).
    home, move_cost
        In a redraw, the grid of every unit in the plan being redrawn and the cost of a
        household moved away from it; ``None`` and 0 otherwise.
    touched, stuck, version, blocked
        Grids changed since ``touched`` was last cleared; grids no chain could fix since they
        last changed; moves into or out of each grid; units that could not leave their grid,
        with the version of the grid then.

    Examples
    --------
    A path of four units of 1 household, cut 3 + 1; the third unit moving balances it:

    >>> ones = np.ones(4)
    >>> xadj = np.array([0, 1, 3, 5, 6]); adjncy = np.array([1, 0, 2, 1, 3, 2])
    >>> g = Graph.from_csr(xadj, adjncy, np.ones(6), np.ones(6), ones, 4 * ones, ones)
    >>> state = RefineState(g, np.array([0, 0, 0, 1]), 2, 2, 2, 2)
    >>> state.out_of_band(), state.best_move(2)[1], state.can_leave(2)
    ([0, 1], 1, True)
    >>> state.move(2, 1); state.load, state.out_of_band()
    ([2.0, 2.0], [])
    """

    def __init__(
        self, graph: Graph, assign: np.ndarray, k: int, low: float, high: float, target: float
    ) -> None:
        self.g = graph
        self.a: list[int] = assign.tolist()
        self.k = k
        self.low, self.high, self.target = low, high, max(target, EPS)
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
        self.cut_scale = CUT_WEIGHT / max(4.0 * math.sqrt(total_area / max(k, 1)), EPS)
        self.balance_weight = BALANCE_WEIGHT
        self.shape_weight = 1.0
        self.touched: set[int] = set()
        self.floor = 0.0
        self.band_weight = BIG
        self.shape_of = [self.grid_shape(g) for g in range(k)]
        self.home: list[int] | None = None
        self.move_cost = 0.0
        self.stuck: set[int] = set()  # grids no chain could fix since they last changed
        self.version = [0] * k  # moves into or out of each grid
        self.blocked: dict[int, int] = {}  # unit → version of its grid when it could not leave

    def grid_shape(self, g: int) -> float:
        """The shape term of grid ``g`` as it is now."""
        return self.shape(self.perim[g], self.area[g], self.sx[g], self.sy[g], self.s2[g])

    def balance_phase(self, on: bool) -> None:
        """Weigh balance far above shape (on) to free room around stuck grids, or back (off)."""
        self.balance_weight = _BALANCE_PHASE_WEIGHT if on else BALANCE_WEIGHT
        self.shape_weight = _BALANCE_PHASE_SHAPE if on else 1.0

    # -- objective pieces

    def excess(self, load: float) -> float:
        """How far ``load`` lies outside the band (0 inside)."""
        return max(self.low - load, load - self.high, 0.0)

    def shape(self, perim: float, area: float, sx: float, sy: float, s2: float) -> float:
        """1 / Polsby–Popper plus the normalised moment of inertia (1 for a disc)."""
        if self.floor:
            return _floor_shape(perim, area, sx, sy, s2, self.floor)
        return _shape(perim, area, sx, sy, s2)

    def out_of_band(self) -> list[int]:
        """The grids whose load lies outside the band."""
        return [g for g in range(self.k) if self.excess(self.load[g]) > EPS]

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
        if len(targets) <= 1 or linked_around(nbrs, targets):
            return True
        return joined_without(nbrs, a, u, targets)

    def move(self, u: int, h: int) -> None:
        """Move unit ``u`` to grid ``h``, updating both grids' sums, members and shape."""
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
        better[u[delta < -EPS]] = True
        return better

    def _outside(self, load: np.ndarray) -> np.ndarray:
        """Load outside the band, per entry."""
        return np.maximum(np.maximum(self.low - load, load - self.high), 0.0)

    def neighbour_grids(self, u: int) -> list[int]:
        """The grids other than its own that unit ``u`` touches, sorted."""
        g = self.a[u]
        a = self.a
        return sorted({a[v] for v in self.g.nbrs[u] if a[v] != g})
