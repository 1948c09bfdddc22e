"""The unit graph the refinement works on, and connectivity tests on it.

:class:`Graph` holds the units' neighbours, shared boundary lengths and cut costs as Python
lists (for the scalar loops of the local search) and as numpy arrays (for evaluating every
move at once). The tests here ask whether a set of units, or a grid without one unit, stays
in one connected piece; they know nothing of loads in a band or of the objective.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = [
    "Graph",
    "connected",
    "cut_off",
    "fragments",
    "joined_without",
    "linked_around",
    "split_grids",
]


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


def joined_without(nbrs: list[list[int]], a: list[int], u: int, targets: list[int]) -> bool:
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


def linked_around(nbrs: list[list[int]], targets: list[int]) -> bool:
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


def connected(graph: Graph, members: set[int]) -> bool:
    """Whether the units ``members`` form one connected piece (an empty set does).

    Examples
    --------
    >>> ones = np.ones(3)
    >>> path = Graph.from_csr(np.array([0, 1, 3, 4]), np.array([1, 0, 2, 1]), np.ones(4),
    ...                       np.ones(4), ones, 4 * ones, ones)
    >>> connected(path, {0, 1}), connected(path, {0, 2})
    (True, False)
    """
    if not members:
        return True
    return len(next(_pieces(graph, members))) == len(members)


def cut_off(graph: Graph, rest: set[int]) -> list[int]:
    """Units of ``rest`` outside its most loaded connected part (largest on ties)."""
    parts = list(_pieces(graph, rest))
    if len(parts) <= 1:
        return []
    keep = max(
        range(len(parts)), key=lambda i: (sum(graph.load[x] for x in parts[i]), len(parts[i]))
    )
    return [x for i, part in enumerate(parts) if i != keep for x in part]


def fragments(graph: Graph, assign: np.ndarray, g: int) -> list[list[int]]:
    """The connected pieces of grid ``g``, each a list of units, by their lowest unit.

    Examples
    --------
    >>> ones = np.ones(3)
    >>> path = Graph.from_csr(np.array([0, 1, 3, 4]), np.array([1, 0, 2, 1]), np.ones(4),
    ...                       np.ones(4), ones, 4 * ones, ones)
    >>> fragments(path, np.array([0, 1, 0]), 0)
    [[0], [2]]
    """
    return list(_pieces(graph, set(np.flatnonzero(assign == g).tolist())))


def _pieces(graph: Graph, units: set[int]) -> Iterator[list[int]]:
    """The connected pieces of ``units`` by their lowest unit, each in depth-first order."""
    seen: set[int] = set()
    for start in sorted(units):
        if start in seen:
            continue
        seen.add(start)
        part, stack = [start], [start]
        while stack:
            for y in graph.nbrs[stack.pop()]:
                if y in units and y not in seen:
                    seen.add(y)
                    part.append(y)
                    stack.append(y)
        yield part


def split_grids(graph: Graph, assign: np.ndarray) -> list[int]:
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
