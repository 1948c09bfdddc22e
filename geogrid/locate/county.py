"""Locating over a county: one index per jurisdiction's plan, and a router between them.

A county's platform answers from many plans at once (one per street or township,
:mod:`geogrid.store.jurisdictions`). One index over all their grids would have to be rebuilt
whenever any street redraws, and its build time grows with the whole county; a
:class:`CountyIndex` instead keeps one :class:`~geogrid.locate.GridIndex` per jurisdiction
and a **router**: a coarse raster over the county whose cells list the jurisdictions whose
top-level grids touch them (a cell's *footprint* list). Replacing one street's plan
re-indexes that street only: the footprints of the others are kept with their indexes, and
the new county index is the old one patched where the street changed (its codes merged into
the county's sorted codes, the router's rows it spans sorted again), in work of the size of
the street, so requests keep being answered from the old county index meanwhile.

A point is tried in every jurisdiction its router cell lists (one, except in cells a
boundary between jurisdictions crosses); the jurisdiction whose top-level grid covers it
answers — by the boundary rule, the smallest top-level code when a point lies on a shared
boundary — at every level of its plan. A point outside every jurisdiction gets the nearest
finest grid of the nearest jurisdictions (the few whose top-level grids are nearest).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
import threading
import weakref
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import shapely

from geogrid.locate.flat import FlatParts, flat_ready
from geogrid.locate.index import GridIndex
from geogrid.locate.level import _touched
from geogrid.locate.result import _INSIDE, _INVALID, _OUTSIDE, OUTSIDE, LocateResult

__all__ = ["CountyIndex"]

_CELLS_PER_PART = 1024  # router cells per jurisdiction's top-level box, about
_MAX_ROUTER_CELLS = 1 << 22
# footprints of each part's top level at a router cell size, kept with the part's index
_FOOTPRINTS: weakref.WeakKeyDictionary[GridIndex, dict[float, np.ndarray]] = (
    weakref.WeakKeyDictionary()
)
_FOOTPRINT_LOCK = threading.Lock()
_TEXTS: weakref.WeakKeyDictionary[GridIndex, np.ndarray] = weakref.WeakKeyDictionary()
_PATCH_SHARE = 8  # a county is patched when at most 1 in this many parts changed, else rebuilt
_OWN = ("jurisdictions", "parts")  # what a patched county does not take from the previous


class CountyIndex:
    """Point-in-grid index over several jurisdictions' plans, with the API of ``GridIndex``.

    Parameters
    ----------
    parts
        Jurisdiction code → the :class:`~geogrid.locate.GridIndex` of its plan in force. Grid
        codes must be unique across the parts (the store checks it when activating).
    cell
        Router cell size in degrees; by default a power of two giving about a thousand
        cells per jurisdiction (a power of two, so that replacing one jurisdiction keeps the
        size and the others' footprints).
    previous
        The county index these parts replace (one jurisdiction re-indexed): the flat
        lookup's blocks holding none of the changed parts are taken over from it.

    Attributes
    ----------
    jurisdictions
        The jurisdiction codes, sorted; :attr:`LocateResult.part` indexes into it.
    codes, levels
        Every grid code of every part (sorted) and every level number any part has.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> west = GridIndex(["W", "W1"], [1, 2], [box(0, 0, 1, 1), box(0, 0, 1, 1)])
    >>> east = GridIndex(["E"], [1], [box(1, 0, 2, 1)])
    >>> county = CountyIndex({"W": west, "E": east})
    >>> result = county.locate([0.5, 1.5, 1.0], [0.5, 0.5, 0.5])
    >>> result.grid_codes().tolist(), [county.jurisdictions[p] for p in result.part]
    (['W1', 'E', 'E'], ['W', 'E', 'E'])
    """

    def __init__(
        self,
        parts: Mapping[str, GridIndex],
        *,
        cell: float | None = None,
        previous: CountyIndex | None = None,
    ) -> None:
        if not parts:
            raise ValueError("a county index needs at least one jurisdiction's index")
        self.jurisdictions: tuple[str, ...] = tuple(sorted(parts))
        self.parts: tuple[GridIndex, ...] = tuple(parts[j] for j in self.jurisdictions)
        changed = _patchable(self, previous, cell)
        if previous is not None and changed is not None:
            self._patch(previous, changed)
        else:
            self._build(cell, previous)

    def _build(self, cell: float | None, previous: CountyIndex | None) -> None:
        """Number every grid, and make the router and the flat lookup, from the parts."""
        every = np.concatenate([part.codes for part in self.parts])
        # codes as fixed-width text, kept per part: converting a province's 100,000 objects
        # anew at every re-index held the serving process's GIL for tens of milliseconds
        order = np.argsort(np.concatenate([_text(part) for part in self.parts]), kind="stable")
        self.codes: np.ndarray = every[order]
        if self.codes.size > 1 and (self.codes[1:] == self.codes[:-1]).any():
            raise ValueError("grid codes repeat across jurisdictions: they must be unique")
        rank = np.empty(every.size, dtype=np.int64)
        rank[order] = np.arange(every.size)
        sizes = np.array([part.codes.size for part in self.parts], dtype=np.int64)
        # per part: its grid numbers → the county's, then OUTSIDE (for [-1]), part after part
        numbers = np.full(every.size + sizes.size, OUTSIDE, dtype=np.int64)
        numbers[np.arange(every.size) + np.repeat(np.arange(sizes.size), sizes)] = rank
        self._number_parts(numbers, np.r_[0, np.cumsum(sizes + 1)])
        self.levels: tuple[int, ...] = tuple(sorted({lv for p in self.parts for lv in p.levels}))
        self._rows = [np.searchsorted(self.levels, part.levels) for part in self.parts]
        self._full = [rows.size == len(self.levels) for rows in self._rows]
        self._first_row = np.array([rows[0] for rows in self._rows], dtype=np.int64)
        self._last_row = np.array([rows[-1] for rows in self._rows], dtype=np.int64)
        self._same_top = bool((self._first_row == self._first_row[0]).all())
        self._router = _Router(self.parts, cell) if len(self.parts) > 1 else None
        # nested plans of the same levels: one vectorised pass over every finest level
        uniform = self._same_top and all(self._full) and all(map(flat_ready, self.parts))
        kept: FlatParts | None = None if previous is None else previous._flat
        self._flat: FlatParts | None = (
            FlatParts(self.parts, self._global, kept)
            if uniform and self._router is not None
            else None
        )

    def _patch(self, previous: CountyIndex, changed: list[int]) -> None:
        """:meth:`_build` by changing ``previous`` where the ``changed`` parts were replaced.

        The same numbers, router lists and lookup as a build from scratch, in work of the
        size of the changed parts (and a few copies of the county's arrays), not of the
        county: a province's re-index is not a thousand jurisdictions' reassembly.
        """
        if not changed:  # the same indexes (a staff change): the same county
            vars(self).update({k: v for k, v in vars(previous).items() if k not in _OWN})
            return
        removed = np.sort(np.concatenate([previous._global[p][:-1] for p in changed]))
        kept = np.delete(previous.codes, removed)
        added = np.concatenate([self.parts[p].codes for p in changed])
        text = np.concatenate([_text(self.parts[p]) for p in changed])
        order = np.argsort(text, kind="stable")
        at = np.searchsorted(kept, added[order])
        inner = at < kept.size
        if (kept[at[inner]] == added[order][inner]).any() or (
            text[order][1:] == text[order][:-1]
        ).any():
            raise ValueError("grid codes repeat across jurisdictions: they must be unique")
        self.codes = np.insert(kept, at, added[order])
        # old county number → new (removed ones are never looked up), [-1] → OUTSIDE
        left = np.arange(previous.codes.size) - np.searchsorted(
            removed, np.arange(previous.codes.size)
        )
        remap = np.r_[left + np.searchsorted(at, left, side="right"), OUTSIDE]
        mine = np.empty(added.size, dtype=np.int64)
        mine[order] = at + np.arange(added.size)
        self._number_parts(*_spliced(previous, changed, remap, mine, self.parts))
        self.levels = previous.levels
        self._rows, self._full = previous._rows, previous._full
        self._first_row, self._last_row = previous._first_row, previous._last_row
        self._same_top = previous._same_top
        assert previous._router is not None
        self._router = previous._router.replaced(self.parts, changed) or _Router(
            self.parts, previous._router.cell
        )
        self._flat = None
        if previous._flat is not None:
            self._flat = FlatParts(self.parts, self._global, previous._flat, remap=remap)

    def _number_parts(self, numbers: np.ndarray, bounds: np.ndarray) -> None:
        """Keep the parts' county numbers: ``numbers[bounds[p]:bounds[p + 1]]`` for part ``p``."""
        self._numbers, self._bounds = numbers, bounds
        self._global = [numbers[a:b] for a, b in itertools.pairwise(bounds.tolist())]

    def __repr__(self) -> str:
        return f"<CountyIndex {len(self.parts)} jurisdictions, {self.codes.size} grids>"

    @property
    def nbytes(self) -> int:
        """Memory held by the rasters of every part and the router, in bytes."""
        router = 0 if self._router is None else self._router.nbytes
        flat = 0 if self._flat is None else self._flat.nbytes
        return router + flat + sum(part.nbytes for part in self.parts)

    def locate(
        self, lon: npt.ArrayLike, lat: npt.ArrayLike, *, nearest: bool = True
    ) -> LocateResult:
        """Locate points given in plan lon/lat, as :meth:`GridIndex.locate` does.

        The result's :attr:`~LocateResult.part` says which jurisdiction answered each point
        (the one covering it, or the nearest for a point outside them all).
        """
        x = np.atleast_1d(np.asarray(lon, dtype=float)).ravel()
        y = np.atleast_1d(np.asarray(lat, dtype=float)).ravel()
        if x.shape != y.shape:
            raise ValueError(f"lon and lat differ in length: {x.size} and {y.size}")
        if self._router is None:  # one jurisdiction: its own numbers are the county's
            found = self.parts[0].locate(x, y, nearest=nearest)
            owner = np.where(found.status_code == _INVALID, -1, 0)
            return dataclasses.replace(found, part=owner)
        out = _Answer(len(self.levels), x.size)
        finite = np.isfinite(x) & np.isfinite(y)
        self._try(out, x, y, self._router.candidates(x, y, finite))
        if nearest:
            self._nearest(out, x, y, finite)
        out.status[~finite] = _INVALID
        out.distance[~finite] = np.nan
        return LocateResult(
            self.levels,
            self.codes,
            out.grid,
            out.status,
            out.near,
            out.distance,
            x,
            y,
            finest=out.finest,
            part=out.part,
        )

    def _try(
        self,
        out: _Answer,
        x: np.ndarray,
        y: np.ndarray,
        candidates: tuple[np.ndarray, np.ndarray, np.ndarray | None],
    ) -> None:
        """Locate each (point, candidate part) pair; keep the part covering it at the top.

        One call per part for all its pairs: a point with one candidate is answered by it
        at once (when its top level covers the point); the pairs of points with several
        are kept and compared afterwards.
        """
        point, part, count = candidates
        if self._flat is not None:
            self._try_flat(out, x, y, candidates)
            return
        alone = np.ones(point.size, dtype=bool) if count is None else np.repeat(count == 1, count)
        if not (self._same_top and all(self._full)):
            alone[:] = False  # plans of different depths: every pair goes the general way
        kept = np.cumsum(~alone) - 1  # position of each compared pair among them
        pairs_grid = np.full((len(self.levels), int(kept[-1]) + 1 if kept.size else 0), OUTSIDE)
        pairs_status = np.full(pairs_grid.shape[1], _OUTSIDE, dtype=np.int64)
        top_row = int(self._first_row[0])
        for number, pairs in _groups(part, len(self.parts)):
            rows = point[pairs]
            result = self.parts[number].locate(x[rows], y[rows], nearest=False)
            mapped = self._global[number][result.grid]
            one = alone[pairs]
            if one.all():
                self._answer(out, number, rows, mapped, result.status_code, top_row)
                continue
            if one.any():
                self._answer(
                    out, number, rows[one], mapped[:, one], result.status_code[one], top_row
                )
            many = ~one
            at = kept[pairs[many]]
            if self._full[number]:
                pairs_grid[:, at] = mapped[:, many]
            else:  # a plan with fewer levels than the county's deepest
                pairs_grid[self._rows[number][:, None], at[None, :]] = mapped[:, many]
            pairs_status[at] = result.status_code[many]
        if pairs_grid.shape[1]:
            compared = ~alone
            self._compare(out, point[compared], part[compared], pairs_grid, pairs_status)

    def _try_flat(
        self,
        out: _Answer,
        x: np.ndarray,
        y: np.ndarray,
        candidates: tuple[np.ndarray, np.ndarray, np.ndarray | None],
    ) -> None:
        """:meth:`_try` over nested plans of the same levels: every pair in one pass."""
        assert self._flat is not None
        point, part, count = candidates
        found = self._flat.locate(x[point], y[point], part)
        lineage = self._flat.lineage
        single = None if count is None else np.repeat(count == 1, count)
        alone = found >= 0 if single is None else single & (found >= 0)
        # a pair whose finest grid is found is covered at the top (nested plans)
        if single is None and point.size == out.part.size and alone.all():  # no scatter
            out.grid = lineage.take(found, axis=1)
            out.finest = out.grid[-1].copy()
            out.status[:] = _INSIDE
            out.part = part.copy()
            out.distance[:] = 0.0
        else:
            rows, mine = point[alone], found[alone]
            out.grid[:, rows] = lineage[:, mine]
            out.finest[rows] = lineage[-1, mine]
            out.status[rows] = _INSIDE
            out.part[rows] = part[alone]
            out.distance[rows] = 0.0
        if single is not None and not single.all():
            many = ~single
            grid = lineage[:, found[many]]
            status = np.where(grid[-1] >= 0, _INSIDE, _OUTSIDE)
            self._compare(out, point[many], part[many], grid, status)

    def _answer(
        self,
        out: _Answer,
        number: int,
        rows: np.ndarray,
        mapped: np.ndarray,
        status: np.ndarray,
        top_row: int,
    ) -> None:
        """Part ``number``'s answers for points it alone may cover (where its top covers)."""
        covered = mapped[top_row] >= 0
        if not covered.all():  # not in this part: outside every part
            rows, mapped, status = rows[covered], mapped[:, covered], status[covered]
        out.grid[:, rows] = mapped
        out.finest[rows] = mapped[-1]
        out.status[rows] = status
        out.part[rows] = number
        out.distance[rows] = np.where(status == _INSIDE, 0.0, np.nan)

    def _compare(
        self,
        out: _Answer,
        point: np.ndarray,
        part: np.ndarray,
        grid: np.ndarray,
        status: np.ndarray,
    ) -> None:
        """Points with several candidates: the part whose covering top code is smallest."""
        none = self.codes.size  # "not covered": above every county grid number
        if self._same_top:  # every part's top level is the same county row
            top = grid[self._first_row[0]]
        else:
            top = grid[self._first_row[part], np.arange(point.size)]
        key = np.where(top >= 0, top, none)
        starts = np.r_[0, np.flatnonzero(point[1:] != point[:-1]) + 1]  # point by point
        count = np.diff(np.r_[starts, point.size])
        key = np.where(key == np.repeat(np.minimum.reduceat(key, starts), count), key, none)
        won = np.flatnonzero(key < none)
        rows = point[won]
        out.grid[:, rows] = grid[:, won]
        out.finest[rows] = grid[self._last_row[part[won]], won]
        out.status[rows] = status[won]
        out.part[rows] = part[won]
        out.distance[rows] = np.where(status[won] == _INSIDE, 0.0, np.nan)

    def _nearest(self, out: _Answer, x: np.ndarray, y: np.ndarray, finite: np.ndarray) -> None:
        """Nearest finest grid for points outside their part's finest level or all parts."""
        assert self._router is not None
        loose = np.flatnonzero(finite & (out.status != _INSIDE))
        if not loose.size:
            return
        owned = out.part[loose] >= 0
        point, part = loose[owned], out.part[loose[owned]]  # inside a top grid, not below
        far = loose[~owned]
        if far.size:
            near_point, near_part = self._router.nearest_parts(x[far], y[far])
            point = np.r_[point, far[near_point]]
            part = np.r_[part, near_part]
        distance = np.full(point.size, np.inf)
        near = np.full(point.size, self.codes.size, dtype=np.int64)
        for number, pairs in _groups(part, len(self.parts)):
            rows = point[pairs]
            result = self.parts[number].locate(x[rows], y[rows], nearest=True)
            distance[pairs] = result.distance_m
            near[pairs] = self._global[number][result.nearest]
        best = np.full(out.part.size, np.inf)
        np.minimum.at(best, point, distance)
        tie = distance <= best[point] + 1e-6
        first = np.full(out.part.size, self.codes.size, dtype=np.int64)
        np.minimum.at(first, point[tie], near[tie])
        win = tie & (near == first[point])
        rows = point[win]
        out.near[rows] = near[win]
        out.distance[rows] = distance[win]
        out.status[rows] = _OUTSIDE
        unowned = out.part[rows] < 0
        out.part[rows[unowned]] = part[win][unowned]


@dataclasses.dataclass
class _Answer:
    """The county's answer being filled in, point by point."""

    grid: np.ndarray
    finest: np.ndarray
    status: np.ndarray
    near: np.ndarray
    distance: np.ndarray
    part: np.ndarray

    def __init__(self, levels: int, n: int) -> None:
        self.grid = np.full((levels, n), OUTSIDE, dtype=np.int64)
        self.finest = np.full(n, OUTSIDE, dtype=np.int64)
        self.status = np.full(n, _OUTSIDE, dtype=np.int64)
        self.near = np.full(n, -1, dtype=np.int64)
        self.distance = np.full(n, np.nan)
        self.part = np.full(n, -1, dtype=np.int64)


class _Router:
    """Router cells → candidate parts (CSR), and a tree of the parts' top-level grids."""

    def __init__(self, parts: tuple[GridIndex, ...], cell: float | None) -> None:
        top_geoms = [part.geometries[_top_members(part)] for part in parts]
        boxes = np.array([shapely.total_bounds(g) for g in top_geoms])
        self.cell = _cell_size(boxes) if cell is None else float(cell)
        feet = [
            _footprint(part, geoms, self.cell) for part, geoms in zip(parts, top_geoms, strict=True)
        ]
        ix = np.concatenate([f[0] for f in feet])
        iy = np.concatenate([f[1] for f in feet])
        owner = np.repeat(np.arange(len(parts)), [f[0].size for f in feet])
        self.ix0, self.iy0 = int(ix.min()), int(iy.min())
        self.nx, self.ny = int(ix.max()) - self.ix0 + 1, int(iy.max()) - self.iy0 + 1
        if self.nx * self.ny > _MAX_ROUTER_CELLS:
            raise ValueError(
                f"the router would need {self.nx * self.ny:,} cells: the jurisdictions lie "
                "too far apart for their size; pass a larger cell"
            )
        key = (iy - self.iy0) * self.nx + (ix - self.ix0)
        order = np.lexsort((owner, key))
        self.owner = owner[order].astype(np.int32)
        counts = np.bincount(key, minlength=self.nx * self.ny)
        self.ptr = np.r_[0, np.cumsum(counts)].astype(np.int64)
        self.top_geoms = np.concatenate(top_geoms)
        self.top_part = np.repeat(np.arange(len(parts)), [g.size for g in top_geoms])
        self.tree = shapely.STRtree(self.top_geoms)
        self.max_lat = float(np.abs(boxes[:, [1, 3]]).max())

    @property
    def nbytes(self) -> int:
        return int(self.ptr.nbytes + self.owner.nbytes)

    def replaced(self, parts: tuple[GridIndex, ...], changed: list[int]) -> _Router | None:
        """A copy with the ``changed`` parts' cells and top grids those of ``parts``.

        Only the rows of cells between the first and last cell either lists is sorted
        again. ``None`` when a changed part reaches outside this router's cells.
        """
        feet = [
            _footprint(parts[n], parts[n].geometries[_top_members(parts[n])], self.cell)
            for n in changed
        ]
        cx = np.concatenate([f[0] for f in feet]) - self.ix0
        cy = np.concatenate([f[1] for f in feet]) - self.iy0
        if (
            cx.size == 0
            or cx.min() < 0
            or cy.min() < 0
            or cx.max() >= self.nx
            or cy.max() >= self.ny
        ):
            return None
        new_key = cy * self.nx + cx
        new_owner = np.repeat(np.array(changed, dtype=np.int64), [f[0].size for f in feet])
        taken = np.isin(self.owner, changed)
        old_key = np.searchsorted(self.ptr, np.flatnonzero(taken), side="right") - 1
        lo = int(min(new_key.min(), old_key.min(initial=new_key.min())))
        hi = int(max(new_key.max(), old_key.max(initial=new_key.max()))) + 1
        a, b = int(self.ptr[lo]), int(self.ptr[hi])
        key = np.repeat(np.arange(lo, hi), np.diff(self.ptr[lo : hi + 1]))
        keep = ~taken[a:b]
        key = np.r_[key[keep], new_key]
        owner = np.r_[self.owner[a:b][keep], new_owner]
        order = np.lexsort((owner, key))
        out = copy.copy(self)
        out.owner = np.concatenate([self.owner[:a], owner[order].astype(np.int32), self.owner[b:]])
        out.ptr = self.ptr.copy()
        out.ptr[lo + 1 : hi + 1] = a + np.cumsum(np.bincount(key - lo, minlength=hi - lo))
        out.ptr[hi + 1 :] += out.ptr[hi] - self.ptr[hi]
        out._replace_tops(parts, changed)
        return out

    def _replace_tops(self, parts: tuple[GridIndex, ...], changed: list[int]) -> None:
        """The changed parts' top-level grids in :attr:`top_geoms`, its tree and bounds."""
        geoms, owners, start = [], [], 0
        for n in changed:
            a, b = np.searchsorted(self.top_part, [n, n + 1])
            top = parts[n].geometries[_top_members(parts[n])]
            geoms += [self.top_geoms[start:a], top]
            owners += [self.top_part[start:a], np.full(top.size, n, dtype=self.top_part.dtype)]
            start = int(b)
        self.top_geoms = np.concatenate([*geoms, self.top_geoms[start:]])
        self.top_part = np.concatenate([*owners, self.top_part[start:]])
        self.tree = shapely.STRtree(self.top_geoms)
        self.max_lat = float(np.nanmax(np.abs(shapely.bounds(self.top_geoms)[:, [1, 3]])))

    def candidates(
        self, x: np.ndarray, y: np.ndarray, finite: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(point, part) pairs of the parts listed in each point's router cell, and counts.

        Pairs come point by point; the counts are the pairs of each listed point (``None``
        when every point has one).
        """
        cx = np.floor(np.where(finite, x, 0.0) / self.cell) - self.ix0
        cy = np.floor(np.where(finite, y, 0.0) / self.cell) - self.iy0
        inside = finite & (cx >= 0) & (cy >= 0) & (cx < self.nx) & (cy < self.ny)
        rows = np.flatnonzero(inside)
        key = cy[rows].astype(np.int64) * self.nx + cx[rows].astype(np.int64)
        start, count = self.ptr[key], self.ptr[key + 1] - self.ptr[key]
        listed = count > 0
        if not listed.all():
            rows, start, count = rows[listed], start[listed], count[listed]
        if (count == 1).all():  # no boundary between jurisdictions in any point's cell
            return rows, self.owner[start].astype(np.int64), None
        point = np.repeat(rows, count)
        first = np.repeat(start - np.r_[0, np.cumsum(count)[:-1]], count)
        return point, self.owner[first + np.arange(point.size)].astype(np.int64), count

    def nearest_parts(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(point, part) pairs: every part that may hold the nearest grid of each point.

        A part is a candidate when its top-level grids lie, in degrees, within the nearest
        one's distance stretched by 1 / cos(latitude) (metres per degree differ by at most
        that between the two axes), so the nearest in metres is among them.
        """
        points = shapely.points(x, y)
        (which, _), dist = self.tree.query_nearest(points, return_distance=True, all_matches=False)
        reach = np.full(x.size, np.nan)
        reach[which] = dist / max(math.cos(math.radians(min(self.max_lat, 89.0))), 1e-3)
        point, top = self.tree.query(points, predicate="dwithin", distance=reach * 1.001 + 1e-9)
        pairs = np.unique(np.column_stack([point, self.top_part[top]]), axis=0)
        return pairs[:, 0], pairs[:, 1]


def _patchable(
    county: CountyIndex, previous: CountyIndex | None, cell: float | None
) -> list[int] | None:
    """The parts to patch ``previous`` at to make ``county``; ``None``: build it anew.

    A patch keeps the jurisdictions, the router's cell size and the levels of every part,
    and whether each is answered from its finest level alone; few parts may change.
    """
    if (
        previous is None
        or previous._router is None
        or previous.jurisdictions != county.jurisdictions
    ):
        return None
    if cell is not None and cell != previous._router.cell:
        return None
    pairs = zip(previous.parts, county.parts, strict=True)
    changed = [n for n, (old, new) in enumerate(pairs) if old is not new]
    if len(changed) * _PATCH_SHARE > len(county.parts):
        return None
    for n in changed:
        old, new = previous.parts[n], county.parts[n]
        if old.levels != new.levels or flat_ready(old) != flat_ready(new):
            return None
    return changed


def _spliced(
    previous: CountyIndex,
    changed: list[int],
    remap: np.ndarray,
    mine: np.ndarray,
    parts: tuple[GridIndex, ...],
) -> tuple[np.ndarray, np.ndarray]:
    """Every part's county numbers (and their bounds) after the ``changed`` parts' change.

    The others' old numbers go through ``remap``; the changed parts take theirs from
    ``mine`` (their codes' new numbers, part after part).
    """
    sizes = np.diff(previous._bounds)
    pieces, start, taken = [], 0, 0
    for n in changed:
        size = parts[n].codes.size
        pieces.append(remap[previous._numbers[start : previous._bounds[n]]])
        pieces.append(np.r_[mine[taken : taken + size], OUTSIDE])
        start, taken, sizes[n] = int(previous._bounds[n + 1]), taken + size, size + 1
    pieces.append(remap[previous._numbers[start:]])
    return np.concatenate(pieces), np.r_[0, np.cumsum(sizes)]


def _groups(part: np.ndarray, n_parts: int) -> list[tuple[int, np.ndarray]]:
    """Positions of ``part`` grouped by value (a counting sort), as (value, positions)."""
    if part.size == 0:
        return []
    small = part.astype(np.uint16) if n_parts < 1 << 16 else part
    order = np.argsort(small, kind="stable")  # a radix sort on 16-bit keys
    counts = np.bincount(part, minlength=n_parts)
    bounds = np.r_[0, np.cumsum(counts)]
    return [(int(p), order[bounds[p] : bounds[p + 1]]) for p in np.flatnonzero(counts)]


def _text(part: GridIndex) -> np.ndarray:
    """``part.codes`` as a ``str`` array (made once per part)."""
    with _FOOTPRINT_LOCK:
        kept = _TEXTS.get(part)
    if kept is None:
        kept = part.codes.astype(str)
        with _FOOTPRINT_LOCK:
            _TEXTS[part] = kept
    return kept


def _top_members(part: GridIndex) -> np.ndarray:
    return np.flatnonzero(part.grid_levels == part.levels[0])


def _cell_size(boxes: np.ndarray) -> float:
    """A power of two (degrees) giving about ``_CELLS_PER_PART`` cells per part's box."""
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    typical = math.sqrt(max(float(np.median(area)), 1e-18) / _CELLS_PER_PART)
    whole = (boxes[:, 2].max() - boxes[:, 0].min()) * (boxes[:, 3].max() - boxes[:, 1].min())
    typical = max(typical, math.sqrt(float(whole) / (_MAX_ROUTER_CELLS / 2)))
    return float(2.0 ** math.floor(math.log2(typical)))


def _footprint(part: GridIndex, geoms: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """Router cells (``ix``, ``iy`` of ``floor(lon / cell)``, …) the part's top grids touch.

    A cell touches a polygon when its centre lies in it or an edge crosses it (conservative
    by a millionth of a cell). Kept with the part's index, per cell size.
    """
    with _FOOTPRINT_LOCK:
        kept = _FOOTPRINTS.get(part, {}).get(cell)
    if kept is not None:
        return kept[0], kept[1]
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    ix0, iy0 = math.floor(minx / cell) - 1, math.floor(miny / cell) - 1
    nx, ny = math.floor(maxx / cell) - ix0 + 2, math.floor(maxy / cell) - iy0 + 2
    rings = shapely.get_rings(shapely.get_parts(geoms))
    coords, coord_of = shapely.get_coordinates(rings, return_index=True)
    same = coord_of[1:] == coord_of[:-1]
    u, v = coords[:, 0] / cell - ix0, coords[:, 1] / cell - iy0
    seg_u = np.column_stack([u[:-1][same], u[1:][same]])
    seg_v = np.column_stack([v[:-1][same], v[1:][same]])
    keys, _ = _touched(seg_u, seg_v, np.zeros(seg_u.shape[0], dtype=np.int64), 0, nx, 1e-6)
    gy, gx = np.divmod(np.arange(nx * ny), nx)
    centre = (
        part.locate((ix0 + gx + 0.5) * cell, (iy0 + gy + 0.5) * cell, nearest=False).grid[0] >= 0
    )
    cells = np.union1d(keys[(keys >= 0) & (keys < nx * ny)], np.flatnonzero(centre))
    cy, cx = np.divmod(cells, nx)
    found = (cx + ix0).astype(np.int64), (cy + iy0).astype(np.int64)
    with _FOOTPRINT_LOCK:
        _FOOTPRINTS.setdefault(part, {})[cell] = np.stack(found)
    return found
