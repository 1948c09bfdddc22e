"""Local search that brings every grid into the band and makes grids compact.

Why hand-written: graph partitioners (METIS) balance to a tolerance around the mean and
minimise the cut, but know nothing of a *band* with hard ends, of the shape of a grid, or of
units so large against the band that a single move overshoots (Leicester's census areas hold
45–273 households for a band of 150–558); region-building libraries (max-p, GerryChain trees)
are orders of magnitude slower. The search moves single boundary units between neighbouring
grids, and pushes load along chains of grids when no single move helps, always keeping every
grid connected (an articulation check on the grid's subgraph before each move).

A move is taken when it lowers the objective (:mod:`geogrid.partition.objective`); sweeps
visit units in an order drawn from the seed, so the result is deterministic for a seed. Every
sweep first evaluates all moves at once with numpy (:meth:`RefineState.improving`), then
decides the improving ones one by one in Python.

:func:`refine` sequences the phases, each in a module of its own:

1. :func:`~geogrid.partition.repair.repair`: every grid connected and non-empty;
2. sweeps, first weighing balance far above shape until every grid is in the band, then for
   shape and cut; after each sweep, :func:`~geogrid.partition.chains.chains` for the grids
   still outside the band;
3. :func:`~geogrid.partition.lift.lift` (not in a redraw): the grids under
   :data:`~geogrid.partition.objective.PP_FLOOR` are split again with a neighbour along a
   straight line or a random spanning tree (GerryChain's ReCom), then sweeps weigh their
   1 / PP beyond ``1 / PP_FLOOR`` more.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from geogrid.partition.chains import chains
from geogrid.partition.graph import Graph
from geogrid.partition.lift import lift
from geogrid.partition.objective import BIG, EPS, FLOOR_WEIGHT, RefineState
from geogrid.partition.repair import repair

__all__ = ["refine"]

_MOVE_COST = 0.1  # per household moved, relative to a household outside the band
_REDRAW_SHAPE = 0.01
_QUIET = 0.0005  # a sweep moving at most this share of the units ends the phase
_FLOOR_SWEEPS = 5
_FLOOR_BAND = 1000.0


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

    Last, grids under :data:`~geogrid.partition.objective.PP_FLOOR` are split again with a neighbour and lifted (not in a
    redraw, where few households should move).

    ``balance_weight`` overrides :data:`~geogrid.partition.objective.BALANCE_WEIGHT` (pull towards the target inside the
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
    assign = repair(graph, np.asarray(assign, dtype=np.int64).copy(), k)
    state = RefineState(graph, assign, k, low, high, target)
    rng = np.random.default_rng(seed)
    n = len(graph.nbrs)
    sweep = 0
    if home is not None:
        state.home = np.asarray(home, dtype=np.int64).tolist()
        state.move_cost = _MOVE_COST * BIG / state.target
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
            moves += chains(state, deadline) if state.out_of_band() else 0
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


def _sweep(state: RefineState, rank: np.ndarray, deadline: float) -> int:
    """Move every unit that has an improving move, in the order of ``rank``.

    Each move is decided again on the state as it is then (:meth:`RefineState.best_move`); a
    unit that cannot leave its grid is not asked again until its grid changes.
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
        if best >= -EPS:
            continue
        if state.can_leave(u):
            state.move(u, best_h)
            moves += 1
        else:
            blocked[u] = version[a[u]]
    return moves


def _lift_worst(state: RefineState, rng: np.random.Generator, deadline: float) -> None:
    """Last phase: lift the grids under :data:`~geogrid.partition.objective.PP_FLOOR`.

    They are split again with a neighbour (:func:`lift`); then sweeps weigh 1 / Polsby–Popper
    beyond ``1 / PP_FLOOR`` (1 + :data:`~geogrid.partition.objective.FLOOR_WEIGHT`) times.
    """
    if time.perf_counter() > deadline:
        return
    lift(state, rng)
    state.floor = FLOOR_WEIGHT
    state.band_weight = BIG * _FLOOR_BAND  # shape may not push a grid out of the band
    state.shape_of = [state.grid_shape(g) for g in range(state.k)]
    for _ in range(_FLOOR_SWEEPS):
        if not _sweep(state, rng.permutation(len(state.a)), deadline):
            break
