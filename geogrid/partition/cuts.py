"""Cutting the units of a few grids again in two: straight lines and spanning-tree edges.

Used by the last phase of the refinement, :mod:`geogrid.partition.lift`, which splits a grid
of poor Polsby–Popper again together with a neighbour: straight cuts give compact sides on
pairs of many small units, the cuts of random spanning trees (GerryChain's ReCom) reach the
odd shapes of pairs of few large units.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from geogrid.metrics import polsby_popper
from geogrid.partition.graph import Graph

__all__ = ["ANGLES", "POSITIONS", "Subgraph"]

ANGLES = 12
"""Directions of straight cuts."""
POSITIONS = 5
"""Straight cuts per direction, spread over those that fit the band."""


@dataclasses.dataclass
class Subgraph:
    """The units of a few grids, numbered 0 … n-1, for cutting them again in two.

    A side of a cut is a boolean mask over the units.

    Attributes
    ----------
    edges, nbrs
        Undirected edges ``(i, j)`` with ``i < j``, and the neighbours of every unit.
    i, j, length
        The edges as arrays, with the length of boundary the two units share.
    load, area, perimeter, x, y
        Per unit: workload, area, perimeter and centroid.

    Examples
    --------
    A row of four unit squares, two households each, cut in the middle:

    >>> ones = np.ones(4)
    >>> row = Subgraph([(0, 1), (1, 2), (2, 3)], [[1], [0, 2], [1, 3], [2]], np.array([0, 1, 2]),
    ...     np.array([1, 2, 3]), np.ones(3), 2 * ones, ones, 4 * ones, np.arange(4.0), 0 * ones)
    >>> [side.tolist() for side in row.line_cuts(4, 4, angles=1)]
    [[True, True, False, False]]
    >>> round(row.polsby_popper(np.array([True, True, False, False])), 3)
    0.698
    """

    edges: list[tuple[int, int]]
    nbrs: list[list[int]]
    i: np.ndarray
    j: np.ndarray
    length: np.ndarray
    load: np.ndarray
    area: np.ndarray
    perimeter: np.ndarray
    x: np.ndarray
    y: np.ndarray

    @classmethod
    def of(cls, graph: Graph, units: list[int]) -> Subgraph:
        """The subgraph of ``units`` (indices into ``graph``)."""
        index = {u: i for i, u in enumerate(units)}
        edges, lengths = [], []
        for i, u in enumerate(units):
            for v, length in zip(graph.nbrs[u], graph.lens[u], strict=True):
                j = index.get(v, -1)
                if j > i:
                    edges.append((i, j))
                    lengths.append(length)
        pairs = np.array(edges, dtype=np.int64).reshape(-1, 2)
        nbrs: list[list[int]] = [[] for _ in units]
        for i, j in edges:
            nbrs[i].append(j)
            nbrs[j].append(i)
        return cls(
            edges=edges,
            nbrs=nbrs,
            i=pairs[:, 0],
            j=pairs[:, 1],
            length=np.array(lengths),
            load=np.array([graph.load[u] for u in units]),
            area=np.array([graph.area[u] for u in units]),
            perimeter=np.array([graph.perimeter[u] for u in units]),
            x=np.array([graph.x[u] for u in units]),
            y=np.array([graph.y[u] for u in units]),
        )

    def connected(self, side: np.ndarray) -> bool:
        """Whether the units of ``side`` form one connected piece."""
        members = np.flatnonzero(side).tolist()
        if not members:
            return False
        inside = side.tolist()
        seen, stack = {members[0]}, [members[0]]
        while stack:
            for y in self.nbrs[stack.pop()]:
                if inside[y] and y not in seen:
                    seen.add(y)
                    stack.append(y)
        return len(seen) == len(members)

    def line_cuts(
        self, low: float, high: float, angles: int = ANGLES, positions: int = POSITIONS
    ) -> list[np.ndarray]:
        """Sides of straight cuts with both sides' loads in ``[low, high]``.

        Units are ordered by their centroid along ``angles`` directions; in each, up to
        ``positions`` cuts spread over those that fit the band. A side may come out in
        pieces (see :meth:`connected`).
        """
        total = float(self.load.sum())
        sides = []
        for angle in np.linspace(0.0, math.pi, angles, endpoint=False).tolist():
            order = np.argsort(self.x * math.cos(angle) + self.y * math.sin(angle), kind="stable")
            prefix = np.cumsum(self.load[order])
            fits = np.flatnonzero(
                (prefix >= low)
                & (prefix <= high)
                & (total - prefix >= low)
                & (total - prefix <= high)
            )
            if len(fits) == 0:
                continue
            picks = np.unique(fits[np.linspace(0, len(fits) - 1, positions).astype(int)])
            for pos in picks.tolist():
                side = np.zeros(len(self.load), dtype=bool)
                side[order[: pos + 1]] = True
                sides.append(side)
        return sides

    def polsby_popper(self, side: np.ndarray) -> float:
        """:func:`geogrid.metrics.polsby_popper` of the units of ``side`` taken together.

        A degenerate side (NaN) scores 0 here: the worst, so no cut makes one.
        """
        area = float(self.area[side].sum())
        inside = side[self.i] & side[self.j]
        perim = float(self.perimeter[side].sum() - 2.0 * self.length[inside].sum())
        return float(np.nan_to_num(polsby_popper(area, perim), nan=0.0))

    def tree_cuts(self, rng: np.random.Generator, low: float, high: float) -> list[np.ndarray]:
        """Sides of the cuts of one random spanning tree with both sides in ``[low, high]``.

        Cutting one edge of a spanning tree leaves two connected sides (GerryChain's ReCom).
        """
        n = len(self.load)
        parent = list(range(n))

        def root(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        tree: list[list[int]] = [[] for _ in range(n)]
        for e in rng.permutation(len(self.edges)).tolist():
            x, y = self.edges[e]
            rx, ry = root(x), root(y)
            if rx != ry:
                parent[rx] = ry
                tree[x].append(y)
                tree[y].append(x)
        order, up = [0], [-1] * n
        for x in order:
            for y in tree[x]:
                if y != up[x]:
                    up[y] = x
                    order.append(y)
        if len(order) < n:
            return []  # not connected (cannot happen for two neighbouring grids)
        below = self.load.tolist()
        for x in reversed(order[1:]):
            below[up[x]] += below[x]
        total = below[0]
        cuts = []
        for x in order[1:]:
            if low <= below[x] <= high and low <= total - below[x] <= high:
                cuts.append(_subtree(tree, up, x, n))
        return cuts


def _subtree(tree: list[list[int]], up: list[int], x: int, n: int) -> np.ndarray:
    side = np.zeros(n, dtype=bool)
    stack = [x]
    while stack:
        y = stack.pop()
        side[y] = True
        stack.extend(z for z in tree[y] if z != up[y])
    return side
