"""One lookup over many jurisdictions' finest levels at once, for :class:`CountyIndex`.

Calling each jurisdiction's :class:`~geogrid.locate.GridIndex` in turn costs about 150 µs a
call, which a batch spread over a thousand townships does not amortise. When every
jurisdiction's plan is nested (its upper levels answered from the finest,
``GridIndex(parents=...)``) the county only needs each point's *finest* grid in its candidate
jurisdiction, and its lineage follows from a table. :class:`FlatParts` concatenates the finest
levels' raster pyramids, leaf lists and polygons of a **block** of jurisdictions into single
arrays, with per-jurisdiction offsets and raster parameters, so that a batch descends every
jurisdiction's pyramid in one vectorised pass per block.

The arrays are the jurisdictions' own: after a block is assembled, each level's tiers and leaf
lists become views into it (no second copy). Replacing one jurisdiction reassembles its block
only (:data:`BLOCK_PARTS` jurisdictions); the other blocks are taken over as they are. Answers
are the same as each part's :meth:`~geogrid.locate.GridIndex.locate` (the same cells, the same
exact tests in the same order, the same fallback for a point no leaf candidate covers).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Sequence

import numpy as np
import shapely

from geogrid.locate.index import GridIndex
from geogrid.locate.level import _LevelIndex
from geogrid.locate.result import OUTSIDE

__all__ = ["BLOCK_PARTS", "FlatParts", "flat_ready"]

BLOCK_PARTS = 64
"""Jurisdictions per block: a re-index reassembles one block; a batch makes one pass per block."""


def flat_ready(part: GridIndex) -> bool:
    """Whether ``part`` is answered from a rastered finest level alone (a nested plan)."""
    finest = part._levels[-1]
    return (
        bool(finest.tiers)
        and not finest.derived
        and not finest.overlapping
        and all(row in part._up for row in range(len(part.levels) - 1))
    )


class FlatParts:
    """The finest levels of several nested :class:`GridIndex` parts, searched as one.

    Parameters
    ----------
    parts
        The parts, in the county's order (all :func:`flat_ready`, with the same levels).
    number
        Per part, its grid numbers → the county's (``numbers[p][-1]`` is ``OUTSIDE``), as
        :class:`CountyIndex` numbers them.
    previous
        An earlier instance: its blocks whose parts are the very same objects are reused.
    remap
        With ``previous``: its county grid numbers → these (``remap[-1]`` is ``OUTSIDE``),
        when only some parts changed. The reused blocks' lineage is then renumbered from
        ``previous`` (one table lookup) instead of assembled again part by part.

    Attributes
    ----------
    lineage
        ``(n_levels, n_finest + 1)``: per finest grid of every part (block by block), its
        county grid number at every level; the last column is all ``OUTSIDE``.
    """

    lineage: np.ndarray
    _first: np.ndarray

    def __init__(
        self,
        parts: Sequence[GridIndex],
        number: Sequence[np.ndarray],
        previous: FlatParts | None = None,
        *,
        remap: np.ndarray | None = None,
    ) -> None:
        kept = {} if previous is None else {b.parts: b for b in previous.blocks}
        self.blocks: list[_Block] = []
        built = 0
        for start in range(0, len(parts), BLOCK_PARTS):
            members = tuple(parts[start : start + BLOCK_PARTS])
            block = kept.get(members)
            if block is None:
                block = _Block(members)
                built += 1
                if built > 1:  # many blocks (a cold start): the parts' arrays, now copied
                    _release_freed()
            self.blocks.append(block)
        tables = []
        for b, block in enumerate(self.blocks):
            if remap is not None and previous is not None and _same(previous.blocks, b, block):
                # a block taken over: its columns of the old table, renumbered
                tables.append(
                    remap[previous.lineage[:, previous._first[b] : previous._first[b + 1]]]
                )
                continue
            first = b * BLOCK_PARTS
            tables += [number[first + k][local] for k, local in enumerate(block.lineage)]
        n_levels = len(parts[0].levels)
        tables.append(np.full((n_levels, 1), OUTSIDE, dtype=np.int64))
        self.lineage = np.concatenate(tables, axis=1)
        self._first = np.cumsum([0] + [b.geom_off[-1] + b.n_last for b in self.blocks])

    @property
    def nbytes(self) -> int:
        """Memory of the lineage table (the rasters are the parts' own)."""
        return int(self.lineage.nbytes)

    def locate(self, x: np.ndarray, y: np.ndarray, part: np.ndarray) -> np.ndarray:
        """Each point's finest grid in part ``part[i]``: a column of :attr:`lineage`.

        The last column (``-1``) where the part's finest level does not cover the point.
        """
        out = np.full(x.size, -1, dtype=np.int64)
        if len(self.blocks) == 1:
            self.blocks[0].locate(x, y, part, out, slice(None), 0)
            return out
        number = part // BLOCK_PARTS
        small = np.uint8 if len(self.blocks) <= 256 else np.uint16  # a radix sort
        order = np.argsort(number.astype(small), kind="stable")
        bounds = np.searchsorted(number[order], np.arange(len(self.blocks) + 1))
        for b, block in enumerate(self.blocks):
            rows = order[bounds[b] : bounds[b + 1]]
            if rows.size:
                q = part[rows] - b * BLOCK_PARTS
                block.locate(x[rows], y[rows], q, out, rows, int(self._first[b]))
        return out


class _Block:
    """The finest levels of up to :data:`BLOCK_PARTS` parts in concatenated arrays."""

    def __init__(self, parts: tuple[GridIndex, ...]) -> None:
        self.parts = parts
        levels: list[_LevelIndex] = [p._levels[-1] for p in parts]
        self.x0 = np.array([lv.x0 for lv in levels])
        self.y0 = np.array([lv.y0 for lv in levels])
        self.inv_h = np.array([lv.inv_h for lv in levels])
        self.inv_h_y = np.array([lv.inv_h_y for lv in levels])
        self.width = np.array([lv.width for lv in levels])
        self.height = np.array([lv.height for lv in levels])
        self.nx0 = np.array([lv.nx0 for lv in levels], dtype=np.int64)
        self.depth = np.array([lv.depth for lv in levels], dtype=np.int64)
        self.n_tiers = np.array([len(lv.tiers) for lv in levels], dtype=np.int64)
        self.tiers: list[np.ndarray] = []
        self.tier_off = np.zeros((int(self.n_tiers.max()), len(parts)), dtype=np.int64)
        for t in range(self.tier_off.shape[0]):
            arrays = [lv.tiers[t] if t < len(lv.tiers) else lv.tiers[0][:0] for lv in levels]
            self.tier_off[t], joined = _joined(arrays)
            self.tiers.append(joined)
        self.ptr_off, self.leaf_ptr = _joined([lv.leaf_ptr for lv in levels])
        self.poly_off, self.leaf_polys = _joined([lv.leaf_polys for lv in levels])
        self.geom_off, self.geoms = _joined([lv.geoms for lv in levels])
        self.geom_end = self.geom_off + np.array([lv.size for lv in levels], dtype=np.int64)
        self.tree = shapely.STRtree(self.geoms)
        self.lineage = [_lineage(p) for p in parts]  # per part, in its own grid numbers
        self.n_last = self.lineage[-1].shape[1]
        for k, lv in enumerate(levels):  # the parts' arrays become views of the block's
            lv.tiers = [
                self.tiers[t][_span(self.tier_off[t], k, lv.tiers[t])] for t in range(len(lv.tiers))
            ]
            lv.leaf_ptr = self.leaf_ptr[_span(self.ptr_off, k, lv.leaf_ptr)]
            lv.leaf_polys = self.leaf_polys[_span(self.poly_off, k, lv.leaf_polys)]

    def locate(
        self,
        x: np.ndarray,
        y: np.ndarray,
        q: np.ndarray,
        out: np.ndarray,
        rows: slice | np.ndarray,
        first: int,
    ) -> None:
        """Set ``out[rows]`` to each point's finest grid in block part ``q`` (+ ``first``)."""
        u = (x - self.x0[q]) * self.inv_h[q]
        v = (y - self.y0[q]) * self.inv_h_y[q]
        idx = np.flatnonzero((u >= 0) & (v >= 0) & (u < self.width[q]) & (v < self.height[q]))
        q = q[idx]
        ix, iy = u[idx].astype(np.int64), v[idx].astype(np.int64)
        value = self._descend(ix, iy, q)
        found = np.full(idx.size, -1, dtype=np.int64)  # block position of the finest grid
        resolved = value >= OUTSIDE
        found[resolved] = np.where(
            value[resolved] >= 0, self.geom_off[q[resolved]] + value[resolved], -1
        )
        leaf = np.flatnonzero(~resolved)
        if leaf.size:
            found[leaf] = self._leaf_test(x[idx[leaf]], y[idx[leaf]], q[leaf], -2 - value[leaf])
        hit = found >= 0
        target = idx[hit] if isinstance(rows, slice) else rows[idx[hit]]
        out[target] = found[hit] + first

    def _descend(self, ix: np.ndarray, iy: np.ndarray, q: np.ndarray) -> np.ndarray:
        """As :meth:`_LevelIndex._descend`, each point in its part's pyramid."""
        shift = self.depth[q]
        value = self.tiers[0][
            self.tier_off[0, q] + (iy >> shift) * self.nx0[q] + (ix >> shift)
        ].astype(np.int64)
        pending = np.flatnonzero(value <= -2)
        for tier in range(1, len(self.tiers)):
            pending = pending[self.n_tiers[q[pending]] > tier]
            if pending.size == 0:
                break
            p = q[pending]
            shift = self.depth[p] - tier
            block = -2 - value[pending]
            sub = ((iy[pending] >> shift) & 1) * 2 + ((ix[pending] >> shift) & 1)
            value[pending] = self.tiers[tier][self.tier_off[tier, p] + block * 4 + sub]
            pending = pending[value[pending] <= -2]
        return value

    def _leaf_test(
        self, x: np.ndarray, y: np.ndarray, q: np.ndarray, leaf: np.ndarray
    ) -> np.ndarray:
        """As :meth:`_LevelIndex._leaf_test`: candidates by code, then the exact fallback."""
        answer = np.full(x.size, -1, dtype=np.int64)
        at = self.ptr_off[q] + leaf
        start = self.leaf_ptr[at] + self.poly_off[q]
        stop = self.leaf_ptr[at + 1] + self.poly_off[q]
        todo = np.arange(x.size)
        points = shapely.points(x, y)
        offset = 0
        while todo.size:
            todo = todo[start[todo] + offset < stop[todo]]
            if todo.size == 0:
                break
            cand = self.geom_off[q[todo]] + self.leaf_polys[start[todo] + offset]
            hit = shapely.covers(self.geoms[cand], points[todo])
            answer[todo[hit]] = cand[hit]
            todo = todo[~hit]
            offset += 1
        missed = np.flatnonzero(answer < 0)
        if missed.size:  # e.g. a grid holding the whole cell while another's edge grazes it
            answer[missed] = self._exact(points[missed], q[missed])
        return answer

    def _exact(self, points: np.ndarray, q: np.ndarray) -> np.ndarray:
        """As :meth:`_LevelIndex._exact_local`, each point among its own part's grids."""
        which, poly = self.tree.query(points, predicate="covered_by")
        mine = (poly >= self.geom_off[q[which]]) & (poly < self.geom_end[q[which]])
        best = np.full(points.size, self.geoms.size, dtype=np.int64)
        np.minimum.at(best, which[mine], poly[mine])  # the smallest code of the part
        return np.where(best < self.geoms.size, best, -1)


def _same(blocks: list[_Block], b: int, block: _Block) -> bool:
    """Whether ``block`` is ``blocks[b]`` itself."""
    return b < len(blocks) and blocks[b] is block


def _release_freed() -> None:
    """Return freed heap memory to the system (glibc keeps it: a second copy of the rasters).

    Not after a single block (a re-index): the trim holds the allocator's lock, every other
    thread's allocations wait on it (0.8 s over a province's heap), and one block's freed
    arrays are reused by the next allocations anyway.
    """
    global _LIBC
    if _LIBC is None:
        name = ctypes.util.find_library("c")
        _LIBC = ctypes.CDLL(name) if name else False
    if isinstance(_LIBC, ctypes.CDLL) and hasattr(_LIBC, "malloc_trim"):
        _LIBC.malloc_trim(0)


_LIBC: ctypes.CDLL | bool | None = None


def _joined(arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Start offsets and the concatenation of ``arrays``."""
    sizes = np.array([a.size for a in arrays], dtype=np.int64)
    return np.r_[0, np.cumsum(sizes)[:-1]].astype(np.int64), np.concatenate(arrays)


def _span(offsets: np.ndarray, k: int, array: np.ndarray) -> slice:
    return slice(int(offsets[k]), int(offsets[k]) + array.size)


def _lineage(part: GridIndex) -> np.ndarray:
    """Per finest grid (level order) its part grid number at every level, top first."""
    rows = [part._levels[-1].members.astype(np.int64)]
    for row in reversed(range(len(part.levels) - 1)):
        rows.append(part._up[row][rows[-1]])
    return np.stack(rows[::-1])
