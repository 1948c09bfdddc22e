"""An initial contiguous partition of a connected unit graph, from METIS (via pymetis).

METIS (multilevel k-way partitioning) is a well-kept library that balances vertex weights and
minimises the weight of cut edges very fast; with ``contig`` it keeps every part connected. We
give it households as vertex weights and the cut cost of every shared edge (short and on roads:
cheap) as edge weights, so its cut already follows roads and stays short. It only balances to a
tolerance and knows nothing about bands or shapes: :mod:`geogrid.partition.refine` finishes.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

__all__ = ["grow_regions", "initial_partition"]

_UFACTOR = 20  # METIS load imbalance tolerance in 1/1000 (2%)
_MIN_UNITS_PER_PART = 8


def initial_partition(
    k: int,
    xadj: np.ndarray,
    adjncy: np.ndarray,
    loads: np.ndarray,
    costs: np.ndarray,
    seed: int,
) -> np.ndarray:
    """Assign each vertex of a connected graph to one of ``k`` parts.

    Parameters
    ----------
    k
        Number of parts (≥ 1, ≤ number of vertices).
    xadj, adjncy
        The graph in compressed sparse row form.
    loads
        Vertex weights (workload), ≥ 0.
    costs
        Edge weights (cost of cutting), aligned with ``adjncy``.
    seed
        METIS random seed.

    Returns
    -------
    numpy.ndarray
        Part index (0 … k-1) of every vertex; parts may come back empty or split when METIS
        cannot do better, which the refinement repairs.

    Examples
    --------
    >>> xadj = np.array([0, 1, 3, 5, 6]); adjncy = np.array([1, 0, 2, 1, 3, 2])
    >>> parts = initial_partition(2, xadj, adjncy, np.ones(4), np.ones(6), seed=0)
    >>> sorted(np.bincount(parts).tolist())
    [2, 2]
    """
    n = len(xadj) - 1
    if k <= 1 or n <= 1:
        return np.zeros(n, dtype=np.int64)
    if n < _MIN_UNITS_PER_PART * k:  # METIS complains on so few vertices per part
        return grow_regions(k, xadj, adjncy, loads)
    import pymetis

    scale = 1.0 if np.allclose(loads, np.round(loads)) else 100.0
    vweights = np.maximum(np.round(loads * scale), 0).astype(np.int64)
    if vweights.sum() == 0:
        vweights = np.ones(n, dtype=np.int64)
    top = max(float(costs.max()), 1e-9) if len(costs) else 1.0
    eweights = (1 + np.round(costs / top * 1000)).astype(np.int64)
    graph = pymetis.CSRAdjacency(xadj, adjncy)
    options = pymetis.Options(seed=int(seed) % (2**31 - 1), ufactor=_UFACTOR, contig=1)
    try:
        _, parts = pymetis.part_graph(
            k, graph, vweights=vweights, eweights=eweights, options=options
        )
    except RuntimeError:  # METIS refuses contig on some graphs: retry without it
        options = pymetis.Options(seed=int(seed) % (2**31 - 1), ufactor=_UFACTOR)
        _, parts = pymetis.part_graph(
            k, graph, vweights=vweights, eweights=eweights, options=options
        )
    return np.asarray(parts, dtype=np.int64)


def grow_regions(k: int, xadj: np.ndarray, adjncy: np.ndarray, loads: np.ndarray) -> np.ndarray:
    """A contiguous start for small graphs, grown from ``k`` seeds.

    Multi-source breadth-first growth from seeds spread by graph distance, the lightest
    region growing first.

    Seeds: the heaviest unit, then repeatedly the unit farthest (in hops) from every seed,
    heavier first among ties — so units larger than the band get a region each.

    Examples
    --------
    >>> xadj = np.array([0, 1, 3, 5, 6]); adjncy = np.array([1, 0, 2, 1, 3, 2])
    >>> grow_regions(2, xadj, adjncy, np.array([1.0, 1, 1, 1])).tolist()
    [0, 0, 1, 1]
    """
    n = len(xadj) - 1
    nbrs = [adjncy[xadj[i] : xadj[i + 1]].tolist() for i in range(n)]
    order = np.lexsort((np.arange(n), -loads))
    seeds = [int(order[0])]
    graph = csr_matrix((np.ones(len(adjncy)), adjncy, xadj), shape=(n, n))
    distance = _hops(graph, seeds[0])
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    while len(seeds) < k:
        distance[seeds] = -1.0
        far = int(np.lexsort((rank, -distance))[0])  # farthest, heavier first among ties
        seeds.append(far)
        distance = np.minimum(distance, _hops(graph, far))
    parts = np.full(n, -1, dtype=np.int64)
    frontier: list[list[int]] = []
    size = np.zeros(k)
    for g, s in enumerate(seeds):
        parts[s] = g
        size[g] = loads[s]
        frontier.append([s])
    while (parts < 0).any():
        grown = False
        for g in np.argsort(size, kind="stable").tolist():
            nxt = [v for u in frontier[g] for v in nbrs[u] if parts[v] < 0]
            if not nxt:
                continue
            v = min(nxt)
            parts[v] = g
            size[g] += loads[v]
            frontier[g].append(v)
            grown = True
            break
        if not grown:  # units out of reach of every seed (cannot happen on a connected graph)
            parts[parts < 0] = 0
    return parts


def _hops(graph: csr_matrix, start: int) -> np.ndarray:
    """Hops from ``start`` to every vertex (``inf`` where out of reach)."""
    return np.asarray(shortest_path(graph, unweighted=True, indices=start), dtype=float)
