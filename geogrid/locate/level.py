"""One level of :class:`~geogrid.locate.GridIndex`: raster pyramid, exact tests, nearest grid.

Cells lying clear of every polygon edge hold the answer; points in cells touched by an edge are
tested exactly; outside points get the nearest grid from a tree of edges in metres.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Geod, Transformer
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geogrid.locate.result import OUTSIDE
from geogrid.locate.sql import NEAREST_TIE_M
from geogrid.plan import PLAN_CRS

__all__: list[str] = []

_GEOD = Geod(ellps="GRS80")  # CGCS2000's ellipsoid, for far-away outside points
_BRANCHING = 2  # each refined cell splits into 2 × 2 children
_MAX_TIERS = 12
_TIER0_PER_GRID = 64  # tier-0 cells per grid (dense raster: cheap to label)
# what a build computes, besides the geometries it came from (:meth:`_LevelIndex.state`)
_STATE = (
    "x0",
    "y0",
    "nx0",
    "ny0",
    "depth",
    "inv_h",
    "inv_h_y",
    "width",
    "height",
    "eps",
    "overlapping",
    "depth_used",
    "tiers",
    "leaf_ptr",
    "leaf_polys",
    "_coverage",
    "derived",
)


class _LevelIndex:
    """Raster pyramid of one level; grid numbers index the parent :class:`GridIndex`."""

    def __init__(
        self,
        members: np.ndarray,
        geometries: np.ndarray,
        metric: CRS,
        boundary_fraction: float,
        max_cells: int,
        *,
        raster: bool = True,
    ) -> None:
        self.members = members  # global grid numbers, ascending = code order
        self.size = int(members.size)
        self.geoms = geometries[members]
        self.tree = shapely.STRtree(self.geoms)
        self._metric = metric
        self._metric_tree: shapely.STRtree | None = None
        self._to_metric: Transformer | None = None
        self._edge_poly = np.empty(0, dtype=np.int64)
        self._nearest_lock = threading.Lock()
        self._coverage: bool | None = None
        self.derived = False  # answered from the level below (set by the GridIndex)
        self.tiers: list[np.ndarray] = []
        self.leaf_ptr = np.zeros(1, dtype=np.int64)
        self.leaf_polys = np.empty(0, dtype=np.int64)
        if raster:  # a level answered from the level below it needs no raster of its own
            self.build(boundary_fraction, max_cells)

    def build(self, boundary_fraction: float, max_cells: int) -> None:
        """Build the raster pyramid (parameters as for :class:`~geogrid.locate.GridIndex`)."""
        shapely.prepare(self.geoms)
        _warm(self.geoms)
        self._build(boundary_fraction, max_cells)

    def state(self) -> dict[str, Any]:
        """What the build computed: numbers and arrays, no geometry (see :meth:`restore`)."""
        return {name: getattr(self, name) for name in _STATE if hasattr(self, name)}

    @classmethod
    def restore(
        cls, members: np.ndarray, geometries: np.ndarray, metric: CRS, state: dict[str, Any]
    ) -> _LevelIndex:
        """The level built elsewhere (another process) from the same geometries."""
        level = cls(members, geometries, metric, 0.0, 0, raster=False)
        for name, value in state.items():
            setattr(level, name, value)
        if level.tiers:
            shapely.prepare(level.geoms)
            _warm(level.geoms)
        return level

    @property
    def nbytes(self) -> int:
        return int(
            sum(t.nbytes for t in self.tiers) + self.leaf_ptr.nbytes + self.leaf_polys.nbytes
        )

    def is_coverage(self) -> bool:
        """Whether the level's grids form a valid coverage (edges match, no overlaps)."""
        if self._coverage is None:
            self._coverage = bool(shapely.coverage_is_valid(self.geoms))
        return self._coverage

    # ----------------------------------------------------------------- lookup

    def locate(self, x: np.ndarray, y: np.ndarray, finite: np.ndarray) -> np.ndarray:
        """Local answer → global grid numbers (``OUTSIDE`` where none covers)."""
        out = np.full(x.size, OUTSIDE, dtype=np.int64)
        u = (x - self.x0) * self.inv_h
        v = (y - self.y0) * self.inv_h_y
        inside = finite & (u >= 0) & (v >= 0) & (u < self.width) & (v < self.height)
        idx = np.flatnonzero(inside)
        ix, iy = u[idx].astype(np.int64), v[idx].astype(np.int64)
        value = self._descend(ix, iy)
        resolved = value >= OUTSIDE
        out[idx[resolved]] = value[resolved]
        leaf = ~resolved
        if leaf.any():
            pts = idx[leaf]
            out[pts] = self._leaf_test(x[pts], y[pts], -2 - value[leaf])
        found = out >= 0
        out[found] = self.members[out[found]]
        return out

    def _descend(self, ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
        """Tier values at fine-cell coordinates: local grid, -1, or ≤ -2 (a leaf)."""
        shift = self.depth
        value = self.tiers[0][(iy >> shift) * self.nx0 + (ix >> shift)].astype(np.int64)
        pending = np.flatnonzero(value <= -2)
        for tier in range(1, len(self.tiers)):
            if pending.size == 0:
                break
            shift = self.depth - tier
            block = -2 - value[pending]
            sub = ((iy[pending] >> shift) & 1) * 2 + ((ix[pending] >> shift) & 1)
            value[pending] = self.tiers[tier][block * 4 + sub]
            pending = pending[value[pending] <= -2]
        return value

    def _leaf_test(self, x: np.ndarray, y: np.ndarray, leaf: np.ndarray) -> np.ndarray:
        """Exact covers test against each leaf's candidates, smallest code first."""
        if self.overlapping:  # a cell may lie inside a grid that has no edge in it
            return self._exact_local(shapely.points(x, y))
        answer = np.full(x.size, OUTSIDE, dtype=np.int64)
        start, stop = self.leaf_ptr[leaf], self.leaf_ptr[leaf + 1]
        todo = np.arange(x.size)
        points = shapely.points(x, y)
        offset = 0
        while todo.size:
            has = start[todo] + offset < stop[todo]
            todo = todo[has]
            if todo.size == 0:
                break
            cand = self.leaf_polys[start[todo] + offset]
            hit = shapely.covers(self.geoms[cand], points[todo])
            answer[todo[hit]] = cand[hit]
            todo = todo[~hit]
            offset += 1
        missed = np.flatnonzero(answer == OUTSIDE)
        if missed.size:  # e.g. a grid holding the whole cell while another's edge grazes it
            answer[missed] = self._exact_local(points[missed])
        return answer

    def exact(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Brute force: smallest covering code per point, as global grid numbers."""
        out = np.full(x.size, OUTSIDE, dtype=np.int64)
        finite = np.isfinite(x) & np.isfinite(y)
        local = self._exact_local(shapely.points(x[finite], y[finite]))
        found = local >= 0
        sub = np.flatnonzero(finite)[found]
        out[sub] = self.members[local[found]]
        return out

    def _exact_local(self, points: np.ndarray) -> np.ndarray:
        answer = np.full(points.size, OUTSIDE, dtype=np.int64)
        if points.size == 0:
            return answer
        which, poly = self.tree.query(points, predicate="covered_by")
        if which.size:
            best = np.full(points.size, self.size, dtype=np.int64)
            np.minimum.at(best, which, poly)
            answer = np.where(best < self.size, best, OUTSIDE)
        return answer

    def prepare_nearest(self) -> None:
        """Build the tree of edges in metres used for outside points (once; thread-safe)."""
        with self._nearest_lock:
            if self._metric_tree is not None:
                return
            to_metric = Transformer.from_crs(PLAN_CRS, self._metric, always_xy=True)
            edges, self._edge_poly = _metric_edges(self.geoms, to_metric)
            self._to_metric = to_metric
            self._metric_tree = shapely.STRtree(edges)

    def nearest(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest grid (global number, ties to the smallest code) and distance in metres."""
        if self._metric_tree is None or self._to_metric is None:
            self.prepare_nearest()
        assert self._metric_tree is not None and self._to_metric is not None
        mx, my = self._to_metric.transform(x, y)
        points = shapely.points(mx, my)
        (which, _), dist = self._metric_tree.query_nearest(
            points, return_distance=True, all_matches=False
        )
        distance = np.full(x.size, np.nan)
        distance[which] = dist
        # grids within a micrometre of the nearest tie; the smallest code wins
        which, edge = self._metric_tree.query(
            points, predicate="dwithin", distance=distance + NEAREST_TIE_M
        )
        best = np.full(x.size, self.size, dtype=np.int64)
        np.minimum.at(best, which, self._edge_poly[edge])
        far = best == self.size  # beyond the metric zone (e.g. another continent): geodesic
        if far.any():
            best[far], distance[far] = self._nearest_geodesic(x[far], y[far])
        return self.members[best], distance

    def _nearest_geodesic(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest grid by lon/lat geometry, distance on the ellipsoid, for far-away points."""
        points = shapely.points(x, y)
        (which, poly) = self.tree.query_nearest(points, all_matches=False)
        best = np.zeros(x.size, dtype=np.int64)
        best[which] = poly
        lines = shapely.shortest_line(self.geoms[best], points)
        start, end = shapely.get_point(lines, 0), shapely.get_point(lines, 1)
        _, _, metres = _GEOD.inv(
            shapely.get_x(start), shapely.get_y(start), shapely.get_x(end), shapely.get_y(end)
        )
        return best, np.asarray(metres, dtype=float)

    # ----------------------------------------------------------------- build

    def _build(self, boundary_fraction: float, max_cells: int) -> None:
        minx, miny, maxx, maxy = shapely.total_bounds(self.geoms)
        coslat = max(math.cos(math.radians((miny + maxy) / 2.0)), 0.05)
        target0 = int(np.clip(_TIER0_PER_GRID * self.size, 4096, 1 << 18))
        side = math.sqrt(max((maxx - minx) * coslat * (maxy - miny), 1e-30) / target0)
        side = max(side, (maxx - minx) * coslat / 4096, (maxy - miny) / 4096, 1e-12)
        hx0, hy0 = side / coslat, side
        self.x0, self.y0 = minx - hx0 / 2, miny - hy0 / 2
        self.nx0 = math.ceil((maxx - self.x0) / hx0 + 0.5) + 1
        self.ny0 = math.ceil((maxy - self.y0) / hy0 + 0.5) + 1
        self.depth = _MAX_TIERS
        scale = float(1 << self.depth)
        self.inv_h, self.inv_h_y = scale / hx0, scale / hy0
        self.width, self.height = self.nx0 * scale, self.ny0 * scale
        # slack around every edge, in fine cells: far above rounding, far below a cell
        ulp = 64 * np.spacing(max(abs(minx), abs(maxx), abs(miny), abs(maxy), 1.0))
        self.eps = max(1e-6, ulp * max(self.inv_h, self.inv_h_y))
        self.overlapping = not self.is_coverage() and _overlapping(
            self.geoms, self.tree, self.eps / self.inv_h
        )
        seg_u, seg_v, seg_poly = self._segments()
        self._build_tiers(seg_u, seg_v, seg_poly, boundary_fraction, max_cells)

    def _segments(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Polygon edges in fine-cell units: ``(n, 2)`` u and v of the ends, polygon number."""
        parts, part_of = shapely.get_parts(self.geoms, return_index=True)
        rings, ring_of = shapely.get_rings(parts, return_index=True)
        coords, coord_of = shapely.get_coordinates(rings, return_index=True)
        same = coord_of[1:] == coord_of[:-1]
        u = (coords[:, 0] - self.x0) * self.inv_h
        v = (coords[:, 1] - self.y0) * self.inv_h_y
        seg_u = np.column_stack([u[:-1][same], u[1:][same]])
        seg_v = np.column_stack([v[:-1][same], v[1:][same]])
        return seg_u, seg_v, part_of[ring_of[coord_of[:-1][same]]]

    def _build_tiers(
        self,
        seg_u: np.ndarray,
        seg_v: np.ndarray,
        seg_poly: np.ndarray,
        boundary_fraction: float,
        max_cells: int,
    ) -> None:
        cells, polys = _touched(seg_u, seg_v, seg_poly, self.depth, self.nx0, self.eps)
        boundary = _distinct(cells)
        self.tiers.append(self._tier0(boundary))
        total_area = float(self.nx0 * self.ny0)
        tier = 0
        n_cells = self.tiers[0].size
        while True:
            area = boundary.size / float(4**tier)
            nxt = 4 * boundary.size
            if (
                tier == self.depth
                or area <= boundary_fraction * total_area
                or n_cells + nxt > max_cells
            ):
                break
            tier += 1
            width = self.nx0 << tier
            cells, polys = _touched(seg_u, seg_v, seg_poly, self.depth - tier, width, self.eps)
            boundary = self._refine(boundary, _distinct(cells), tier)
            n_cells += nxt
        self._leaves(boundary, cells, polys)
        self.depth_used = tier

    def _tier0(self, boundary: np.ndarray) -> np.ndarray:
        clear = np.ones(self.nx0 * self.ny0, dtype=bool)
        clear[boundary] = False
        labels, _ = ndimage.label(clear.reshape(self.ny0, self.nx0))
        labels = labels.ravel()
        found, first = _first_of_each(labels)
        first = first[found > 0]  # one cell per component
        cy, cx = np.divmod(first, self.nx0)
        answer = self._centres_exact(cx, cy, 0)
        raster = np.empty(labels.size, dtype=np.int32)
        raster[clear] = answer[labels[clear] - 1]
        raster[boundary] = -2 - np.arange(boundary.size)
        return raster

    def _centres_exact(self, cx: np.ndarray, cy: np.ndarray, tier: int) -> np.ndarray:
        size = float(1 << (self.depth - tier))
        x = self.x0 + (cx + 0.5) * size / self.inv_h
        y = self.y0 + (cy + 0.5) * size / self.inv_h_y
        return self._exact_local(shapely.points(x, y))

    def _refine(self, parents: np.ndarray, boundary: np.ndarray, tier: int) -> np.ndarray:
        """Add tier ``tier``: the 2 × 2 children of the boundary cells ``parents``.

        Children clear of edges get their grid from a clear neighbour outside the refined
        region (the same grid: no edge lies between them) or, failing that, an exact test.
        """
        width = self.nx0 << tier
        pw = width >> 1
        py, px = np.divmod(parents, pw)
        sub = np.arange(4)
        cx = (2 * px[:, None] + (sub & 1)).ravel()
        cy = (2 * py[:, None] + (sub >> 1)).ravel()
        keys = cy * width + cx  # children in (parent, sub) order
        is_boundary = _contains(boundary, keys)
        values = np.empty(keys.size, dtype=np.int32)
        values[is_boundary] = -2 - np.arange(int(is_boundary.sum()))
        clear = np.flatnonzero(~is_boundary)
        values[clear] = self._label_clear(clear, cx, cy, parents, is_boundary, tier)
        self.tiers.append(values)
        return keys[is_boundary]

    def _label_clear(
        self,
        clear: np.ndarray,
        cx: np.ndarray,
        cy: np.ndarray,
        parents: np.ndarray,
        is_boundary: np.ndarray,
        tier: int,
    ) -> np.ndarray:
        """Grid of each clear child ``clear`` (children in (parent, sub) order, of ``parents``).

        A neighbour across the parent's side is found by looking its parent up among the
        refined ``parents``; one inside the same parent is a sibling, found directly.
        """
        width, height = self.nx0 << tier, self.ny0 << tier
        pw = width >> 1
        sorter = np.argsort(parents)
        ordered = parents[sorter]  # a direct binary search: not through ``sorter`` each step
        n = clear.size
        node_of = np.full(is_boundary.size, -1, dtype=np.int64)
        node_of[clear] = np.arange(n)
        cx, cy = cx[clear], cy[clear]
        parent = clear >> 2
        rows, cols = [], []
        attach_node, attach_value = [], []
        for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            nx, ny = cx + dx, cy + dy
            off = (nx < 0) | (ny < 0) | (nx >= width) | (ny >= height)
            nsub = ((ny & 1) << 1) | (nx & 1)
            same = ((nx >> 1) == (cx >> 1)) & ((ny >> 1) == (cy >> 1))  # a sibling
            neighbour = np.full(n, -1, dtype=np.int64)
            neighbour[same] = (parent[same] << 2) | nsub[same]
            other = np.flatnonzero(~same & ~off)
            if other.size:
                key = (ny[other] >> 1) * pw + (nx[other] >> 1)
                at = np.minimum(np.searchsorted(ordered, key), parents.size - 1)
                pos = sorter[at]
                hit = ordered[at] == key
                neighbour[other[hit]] = (pos[hit] << 2) | nsub[other[hit]]
            present = neighbour >= 0
            neighbour_clear = present & ~is_boundary[np.where(present, neighbour, 0)]
            if dx + dy > 0:  # each edge once
                r = np.flatnonzero(neighbour_clear)
                rows.append(r)
                cols.append(node_of[neighbour[r]])
            attach_node.append(np.flatnonzero(off))
            attach_value.append(np.full(int(off.sum()), OUTSIDE, dtype=np.int64))
            outer = np.flatnonzero(~off & ~present)
            if outer.size:
                shift = self.depth - tier
                value = self._descend(nx[outer] << shift, ny[outer] << shift)
                attach_node.append(outer)
                attach_value.append(value)
        r, c = np.concatenate(rows), np.concatenate(cols)
        graph = coo_matrix((np.ones(r.size, dtype=np.int8), (r, c)), shape=(n, n))
        count, comp = connected_components(graph, directed=False)
        label = np.full(count, -3, dtype=np.int64)
        nodes, values = np.concatenate(attach_node), np.concatenate(attach_value)
        label[comp[nodes]] = values
        loose = np.flatnonzero(label == -3)
        if loose.size:
            first = _first_of_each(comp)[1][loose]
            label[loose] = self._centres_exact(cx[first], cy[first], tier)
        return label[comp]

    def _leaves(self, boundary: np.ndarray, cells: np.ndarray, polys: np.ndarray) -> None:
        """Candidate grids of the finest boundary cells (CSR, by code within a cell)."""
        order = np.lexsort((polys, cells))
        cells, polys = cells[order], polys[order]
        keep = np.ones(cells.size, dtype=bool)
        keep[1:] = (cells[1:] != cells[:-1]) | (polys[1:] != polys[:-1])
        cells, polys = cells[keep], polys[keep]
        sorter = np.argsort(boundary)
        pos = np.minimum(np.searchsorted(boundary, cells, sorter=sorter), boundary.size - 1)
        known = boundary[sorter[pos]] == cells  # drop touches outside the refined cells
        leaf, polys = sorter[pos[known]], polys[known]
        order = np.argsort(leaf, kind="stable")
        counts = np.bincount(leaf, minlength=boundary.size)
        ptr = np.concatenate([[0], np.cumsum(counts)])
        small = np.int32 if ptr[-1] < 2**31 else np.int64  # half the memory, as a rule
        self.leaf_ptr = ptr.astype(small)
        self.leaf_polys = polys[order].astype(small)


def _warm(geoms: np.ndarray) -> None:
    """Make GEOS build each prepared polygon's point locator now, not on the first query."""
    minx, miny, maxx, maxy = shapely.bounds(geoms).T
    shapely.covers(geoms, shapely.points((minx + maxx) / 2, (miny + maxy) / 2))


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (a sort beats numpy's hash-based ``unique`` on big int arrays)."""
    values = np.sort(values)
    keep = np.ones(values.size, dtype=bool)
    keep[1:] = values[1:] != values[:-1]
    return values[keep]


def _first_of_each(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values and the index of the first occurrence of each."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    keep = np.ones(values.size, dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep], order[keep]


def _contains(sorted_values: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``np.isin`` for a sorted, distinct ``sorted_values``."""
    if sorted_values.size == 0:
        return np.zeros(values.size, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_values, values), sorted_values.size - 1)
    return sorted_values[pos] == values


def _overlapping(geoms: np.ndarray, tree: shapely.STRtree, width: float) -> bool:
    """Whether two grids overlap by more than ``width`` degrees (not just rounding slivers).

    Called when the grids are not a valid coverage (the fast answer: no overlaps). With
    real overlaps a boundary cell can lie inside a grid none of whose edges touches
    it, so the leaf candidates are not enough and points there are tested against all grids.
    """
    first, second = tree.query(geoms, predicate="intersects")
    pair = first < second
    first, second = geoms[first[pair]], geoms[second[pair]]
    # interiors meeting in an area (an exact predicate, ~3x cheaper than the overlay): only
    # those pairs can overlap; grids sharing an edge, the most, are dropped before intersecting
    inner = shapely.relate_pattern(first, second, "2********")
    common = shapely.intersection(first[inner], second[inner])
    common = common[shapely.area(common) > 0]
    return bool((~shapely.is_empty(shapely.buffer(common, -width))).any())


def _metric_edges(geoms: np.ndarray, transformer: Transformer) -> tuple[np.ndarray, np.ndarray]:
    """Every polygon edge as a 2-point line in metres, and its polygon number.

    The distance from an outside point to a polygon is its distance to the nearest edge; a
    tree of short edges answers that much faster than a tree of whole polygons.
    """
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    coords, coord_of = shapely.get_coordinates(rings, return_index=True)
    mx, my = transformer.transform(coords[:, 0], coords[:, 1])
    xy = np.column_stack([mx, my])
    same = np.flatnonzero(coord_of[1:] == coord_of[:-1])
    pairs = np.stack([xy[same], xy[same + 1]], axis=1)
    return shapely.linestrings(pairs), part_of[ring_of[coord_of[same]]]


def _touched(
    seg_u: np.ndarray, seg_v: np.ndarray, seg_poly: np.ndarray, shift: int, width: int, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cells of size ``2**shift`` fine units touched by each segment grown by ``eps``.

    Returns cell keys (``row * width + col``) and the segment's polygon, one pair per touch
    (repeats possible). Conservative: a cell any point of which lies within ``eps`` (in the
    max norm) of a segment is always reported.
    """
    size = float(1 << shift)
    u1, u2 = seg_u[:, 0] / size, seg_u[:, 1] / size
    v1, v2 = seg_v[:, 0] / size, seg_v[:, 1] / size
    e = eps / size
    lo_u, hi_u = np.minimum(u1, u2), np.maximum(u1, u2)
    c0 = np.floor(lo_u - e).astype(np.int64)
    c1 = np.floor(hi_u + e).astype(np.int64)
    ncol = c1 - c0 + 1
    seg = np.repeat(np.arange(u1.size), ncol)
    col = np.repeat(c0, ncol) + (np.arange(seg.size) - np.repeat(np.cumsum(ncol) - ncol, ncol))
    a = np.maximum(col - e, lo_u[seg])
    b = np.minimum(col + 1 + e, hi_u[seg])
    du = u2[seg] - u1[seg]
    flat = du == 0
    safe = np.where(flat, 1.0, du)
    ta = np.where(flat, 0.0, (a - u1[seg]) / safe)
    tb = np.where(flat, 1.0, (b - u1[seg]) / safe)
    va = v1[seg] + ta * (v2[seg] - v1[seg])
    vb = v1[seg] + tb * (v2[seg] - v1[seg])
    r0 = np.floor(np.minimum(va, vb) - e).astype(np.int64)
    r1 = np.floor(np.maximum(va, vb) + e).astype(np.int64)
    nrow = r1 - r0 + 1
    pair = np.repeat(np.arange(seg.size), nrow)
    row = np.repeat(r0, nrow) + (np.arange(pair.size) - np.repeat(np.cumsum(nrow) - nrow, nrow))
    return row * width + col[pair], seg_poly[seg[pair]]
