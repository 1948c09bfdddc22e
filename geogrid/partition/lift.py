"""Lifting the worst grids: a grid of poor Polsby–Popper is split again with a neighbour.

The sum of 1 / Polsby–Popper over all grids barely notices one grid hooked around its
neighbour, and no single move undoes the hook. This phase, the last of
:func:`~geogrid.partition.refine.refine`, takes every grid under
:data:`~geogrid.partition.objective.PP_FLOOR` with a neighbour and cuts their units again in
two (:mod:`geogrid.partition.cuts`: straight lines, or the edges of random spanning trees as in
GerryChain's ReCom), keeping the cut when both grids end up more compact.
"""

from __future__ import annotations

import numpy as np

from geogrid.metrics import polsby_popper
from geogrid.partition.cuts import Subgraph
from geogrid.partition.objective import PP_FLOOR, RefineState

__all__ = ["lift"]

_LIFT_TREES = 16  # random spanning trees cut per pair of grids
_LIFT_NEIGHBOURS = 3  # neighbours tried per grid, longest shared boundary first
_LIFT_UNITS = 240  # pairs of grids with more units are cut by straight lines only


def lift(state: RefineState, rng: np.random.Generator) -> int:
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


def _polsby_popper(state: RefineState, g: int) -> float:
    """:func:`geogrid.metrics.polsby_popper` of grid ``g``; degenerate (NaN): 1, never lifted."""
    return float(np.nan_to_num(polsby_popper(state.area[g], state.perim[g]), nan=1.0))


def _resplit(state: RefineState, g: int, h: int, rng: np.random.Generator) -> int:
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
