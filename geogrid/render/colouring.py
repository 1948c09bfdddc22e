"""Map colouring: neighbouring grids never share a colour.

Grids are neighbours when they share an edge or only a corner (both count, so that two grids
meeting at a point never look alike on the wall map). The adjacency graph is coloured
with DSATUR, every tie broken by grid code, so the same plan always gets the same colours.

The palette is a set of light tints of the Okabe–Ito colours, distinguishable with the
common colour-vision deficiencies, dark text stays readable on every one, and they survive
a laser printer. A planar map seldom needs more than five; a plan that needs more than the
palette holds gets extra, deeper tints of the same hues.

Hierarchy: with ``nested=True`` each grid takes its parent's hue in a shade of its own
(siblings that touch get different shades); grids in different parents differ by hue
because their parents touch and so have different hues.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely

from geogrid.crs import metric_crs
from geogrid.plan import GridPlan

__all__ = [
    "PALETTE",
    "adjacency_graph",
    "check_colouring",
    "colour_grids",
    "colour_indices",
    "shade",
]

#: Light tints of the Okabe–Ito colours (orange, sky blue, bluish green, yellow, blue,
#: vermillion, reddish purple) and a warm grey: black text reads on all of them.
PALETTE: tuple[str, ...] = (
    "#f5cf80",  # orange
    "#a9d8f3",  # sky blue
    "#80cfb9",  # bluish green
    "#f7f1a1",  # yellow
    "#80b8d8",  # blue
    "#eaae80",  # vermillion
    "#e5bcd3",  # reddish purple
    "#d4ccc4",  # warm grey
)

_TOUCH_M = 0.5
"""Grids closer than this many metres are neighbours (digitising slop between grids)."""
_EDGE_M = 1.0
"""Grids sharing a boundary longer than this many metres share an edge, not just a corner."""


def adjacency_graph(
    grids: gpd.GeoDataFrame, *, corners: bool = True, measure: bool = True
) -> nx.Graph:
    """The neighbour graph of ``grids``, one node per grid code.

    Parameters
    ----------
    grids
        Grids with a ``code`` column and a CRS (any; the work is done in metres).
    corners
        Also join grids that meet only at a corner (closer than 0.5 m but sharing less than
        1 m of boundary).
    measure
        Measure the shared boundaries (``shared_m``); with ``corners=True`` and
        ``measure=False`` every edge gets ``shared_m=nan`` and the graph is built faster.

    Returns
    -------
    networkx.Graph
        Nodes are codes (added in sorted order); each edge has ``shared_m``, the length of
        the shared boundary in metres (0 for a corner).

    Examples
    --------
    >>> from shapely.geometry import box
    >>> grids = gpd.GeoDataFrame({"code": ["a", "b", "c", "d"]}, crs=4490, geometry=[
    ...     box(116.30, 40.00, 116.31, 40.01), box(116.31, 40.00, 116.32, 40.01),
    ...     box(116.30, 40.01, 116.31, 40.02), box(116.31, 40.01, 116.32, 40.02)])
    >>> sorted(adjacency_graph(grids).edges)
    [('a', 'b'), ('a', 'c'), ('a', 'd'), ('b', 'c'), ('b', 'd'), ('c', 'd')]
    >>> sorted(adjacency_graph(grids, corners=False).edges)
    [('a', 'b'), ('a', 'c'), ('b', 'd'), ('c', 'd')]
    """
    codes = [str(c) for c in grids["code"]]
    graph = nx.Graph()
    graph.add_nodes_from(sorted(codes))
    if len(grids) < 2:
        return graph
    geoms = grids.geometry.to_crs(metric_crs(grids.geometry)).to_numpy()
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="dwithin", distance=_TOUCH_M)
    keep = left < right
    left, right = left[keep], right[keep]
    if corners and not measure:
        graph.add_edges_from(
            (codes[i], codes[j], {"shared_m": float("nan")})
            for i, j in zip(left, right, strict=True)
        )
        return graph
    shared = _shared_lengths(geoms, left, right)
    for i, j, length in zip(left, right, shared, strict=True):
        if length > _EDGE_M or corners:
            metres = round(float(length), 1) if length > _EDGE_M else 0.0
            graph.add_edge(codes[i], codes[j], shared_m=metres)
    return graph


def _shared_lengths(geoms: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Length in metres of the boundary each pair shares (within the touch tolerance).

    Edges shared vertex for vertex (a coverage) are found by matching boundary segments;
    other pairs (corners, small gaps from digitising slop, T-junctions) are measured against a
    0.5 m buffer of the neighbour.
    """
    exact = _segment_matches(geoms)
    lengths = np.array([exact.get((int(i), int(j)), 0.0) for i, j in zip(left, right, strict=True)])
    loose = lengths <= _EDGE_M
    if loose.any():
        boundaries = shapely.boundary(geoms[left[loose]])
        near = shapely.buffer(geoms[right[loose]], _TOUCH_M, quad_segs=2)
        lengths[loose] = shapely.length(shapely.intersection(boundaries, near))
    return lengths


def _segment_matches(geoms: np.ndarray) -> dict[tuple[int, int], float]:
    """Total length of the boundary segments two geometries have in common, by index pair."""
    parts, owner = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    same_ring = ring_of[1:] == ring_of[:-1]
    start, end = np.round(coords[:-1][same_ring], 3), np.round(coords[1:][same_ring], 3)
    who = owner[ring_part[ring_of[:-1][same_ring]]]
    flip = (start[:, 0] > end[:, 0]) | ((start[:, 0] == end[:, 0]) & (start[:, 1] > end[:, 1]))
    a = np.where(flip[:, None], end, start)
    b = np.where(flip[:, None], start, end)
    keys = np.column_stack([a, b])
    order = np.lexsort(keys.T[::-1])
    keys, who = keys[order], who[order]
    twin = np.all(keys[1:] == keys[:-1], axis=1) & (who[1:] != who[:-1])
    i, j = who[:-1][twin], who[1:][twin]
    length = np.hypot(
        keys[:-1][twin, 2] - keys[:-1][twin, 0], keys[:-1][twin, 3] - keys[:-1][twin, 1]
    )
    pairs: dict[tuple[int, int], float] = {}
    for x, y, d in zip(np.minimum(i, j), np.maximum(i, j), length, strict=True):
        pairs[(int(x), int(y))] = pairs.get((int(x), int(y)), 0.0) + float(d)
    return pairs


def colour_indices(graph: nx.Graph) -> dict[str, int]:
    """A proper colouring of ``graph``: node -> colour index, neighbours always differ.

    DSATUR (Brélaz): the uncoloured node with the most differently coloured neighbours goes
    next, ties broken by degree and then by the smallest node name, and takes the smallest
    colour its neighbours lack. Every tie is broken by name, never by hash order, so the
    same graph gives the same colours in every process.

    Examples
    --------
    >>> colour_indices(nx.cycle_graph(["a", "b", "c", "d", "e"]))
    {'a': 0, 'b': 1, 'c': 0, 'd': 1, 'e': 2}
    """
    colours: dict[str, int] = {}
    seen: dict[str, set[int]] = {node: set() for node in graph.nodes}
    heap = [(0, -graph.degree(node), str(node), node) for node in graph.nodes]
    heapq.heapify(heap)
    while heap:
        _, _, _, node = heapq.heappop(heap)
        if node in colours:
            continue
        taken = seen[node]
        colour = next(c for c in range(len(taken) + 1) if c not in taken)
        colours[node] = colour
        for other in graph.neighbors(node):
            if other not in colours and colour not in seen[other]:
                seen[other].add(colour)
                heapq.heappush(heap, (-len(seen[other]), -graph.degree(other), str(other), other))
    _fix_up(graph, colours)
    return {node: colours[node] for node in sorted(colours, key=str)}


def _fix_up(graph: nx.Graph, colours: dict[str, int]) -> None:
    """Repair any clash in place (DSATUR leaves none; this guards the invariant)."""
    for node in sorted(graph.nodes, key=str):
        taken = {colours[n] for n in graph.neighbors(node)}
        if colours[node] in taken:
            colours[node] = min(set(range(len(taken) + 1)) - taken)


def shade(hex_colour: str, step: int, steps: int) -> str:
    """Shade ``step`` of ``steps`` of a colour: 0 is the colour, later ones lighter/deeper.

    Examples
    --------
    >>> shade("#80b8d8", 0, 3)
    '#80b8d8'
    >>> shade("#80b8d8", 1, 3) != shade("#80b8d8", 2, 3)
    True
    """
    if step == 0 or steps <= 1:
        return hex_colour
    rgb = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)
    # alternate lighter (towards white) and deeper (towards a dark of the same hue)
    amount = 0.45 * ((step + 1) // 2) / max(1, (steps + 1) // 2)
    target = np.full(3, 255.0) if step % 2 else rgb * 0.55
    mixed = rgb + (target - rgb) * amount
    return "#" + "".join(f"{int(v):02x}" for v in np.rint(np.clip(mixed, 0, 255)))


def _palette_colour(index: int, palette: Sequence[str]) -> str:
    base = palette[index % len(palette)]
    round_ = index // len(palette)
    return shade(base, 2 * round_, 2 * round_ + 1) if round_ else base


def colour_grids(
    plan: GridPlan,
    level: int | None = None,
    *,
    nested: bool = False,
    palette: Sequence[str] = PALETTE,
    graph: nx.Graph | None = None,
) -> dict[str, str]:
    """Fill colours for the grids of one level: code -> ``"#rrggbb"``.

    Parameters
    ----------
    plan
        The plan.
    level
        Level to colour (1 = top); default the deepest level of the plan.
    nested
        Give each grid its parent's hue in a shade of its own (the hierarchy shows in the
        colours); otherwise colour the level on its own.
    palette
        Colours to use, in order of preference.
    graph
        The level's neighbour graph if already computed (:func:`adjacency_graph`).

    Returns
    -------
    dict
        Grid code -> colour; neighbours (edge or corner) never share one.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> grids = gpd.GeoDataFrame({"code": ["1", "2"], "name": ["东区", "西区"], "level": [1, 1]},
    ...     geometry=[box(116.30, 40.0, 116.31, 40.01), box(116.31, 40.0, 116.32, 40.01)], crs=4490)
    >>> colour_grids(GridPlan("示例", ["网格"], grids))
    {'1': '#f5cf80', '2': '#a9d8f3'}
    """
    level = int(plan.grids["level"].max()) if level is None else level
    grids = plan.level(level)
    graph = adjacency_graph(grids) if graph is None else graph
    if not nested or level == 1:
        found = colour_indices(graph)
        return {code: _palette_colour(found[code], palette) for code in sorted(found)}
    parent_colours = colour_grids(plan, level - 1, nested=True, palette=palette)
    parent_of = dict(zip(grids["code"], grids["parent_code"], strict=True))
    return _nested(graph, parent_of, parent_colours)


def _nested(
    graph: nx.Graph, parent_of: Mapping[str, object], parents: Mapping[str, str]
) -> dict[str, str]:
    """Shade each grid within its parent's colour; touching siblings get different shades."""
    # a child is coloured like its parent's neighbours would be: same hue, its own shade
    same_parent = nx.Graph()
    same_parent.add_nodes_from(graph.nodes)
    same_parent.add_edges_from(
        (a, b) for a, b in graph.edges if parent_of.get(a) == parent_of.get(b)
    )
    steps = colour_indices(same_parent)
    count = max(steps.values(), default=0) + 1
    colours = {}
    for code in sorted(steps):
        hue = parents.get(str(parent_of.get(code)), PALETTE[-1])
        colours[code] = shade(hue, steps[code], count)
    return colours


def check_colouring(graph: nx.Graph, colours: Mapping[str, str]) -> list[tuple[str, str]]:
    """Pairs of neighbours that share a colour (empty for a good colouring).

    Examples
    --------
    >>> check_colouring(nx.path_graph(["a", "b"]), {"a": "#fff", "b": "#fff"})
    [('a', 'b')]
    """
    return sorted(
        (min(a, b), max(a, b)) for a, b in graph.edges if colours.get(a) == colours.get(b)
    )
