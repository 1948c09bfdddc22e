"""Repairing an assignment: grids connected and non-empty, grids short of the band merged.

:func:`repair` runs before the refinement (a start may leave grids in pieces or empty);
:func:`merge_short_grids` after it, where a grid no move could bring into the band joins a
neighbour.
"""

from __future__ import annotations

import numpy as np

from geogrid.partition.graph import Graph, connected, fragments, split_grids

__all__ = ["merge_short_grids", "repair"]


def repair(graph: Graph, assign: np.ndarray, k: int) -> np.ndarray:
    """Make every grid connected and non-empty: stray fragments join a neighbouring grid."""
    for _ in range(k + 1):
        changed = False
        for g in split_grids(graph, assign):
            pieces = fragments(graph, assign, g)
            if len(pieces) <= 1:
                continue
            pieces.sort(key=lambda f: (-sum(graph.load[u] for u in f), -len(f), min(f)))
            for fragment in pieces[1:]:
                assign[fragment] = _best_host(graph, assign, fragment, g)
                changed = True
        if not changed:
            break
    empty = [g for g in range(k) if not (assign == g).any()]
    for g in empty:
        assign[_seed_unit(graph, assign)] = g
    return assign


def _best_host(graph: Graph, assign: np.ndarray, fragment: list[int], g: int) -> int:
    """The grid sharing the longest boundary with ``fragment`` of grid ``g`` (``g`` if none)."""
    shared = _shared_lengths(graph, assign, fragment, g)
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
            if connected(graph, rest):
                return int(u)
    raise AssertionError("no unit can start an empty grid")  # k ≤ units makes this unreachable


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
            shared = _shared_lengths(graph, assign, np.flatnonzero(assign == g).tolist(), g)
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


def _shared_lengths(graph: Graph, assign: np.ndarray, units: list[int], g: int) -> dict[int, float]:
    """Length of boundary ``units`` (of grid ``g``) share with every other grid they touch."""
    shared: dict[int, float] = {}
    for u in units:
        for v, length in zip(graph.nbrs[u], graph.lens[u], strict=True):
            h = int(assign[v])
            if h != g:
                shared[h] = shared.get(h, 0.0) + length
    return shared
