"""Locating over a county: one index per jurisdiction's plan, and a router between them.

A county's platform answers from many plans at once (one per street or township,
:mod:`geogrid.store.jurisdictions`). One index over all their grids would have to be rebuilt
whenever any street redraws, and its build time grows with the whole county; a
:class:`CountyIndex` instead keeps one :class:`~geogrid.locate.GridIndex` per jurisdiction
and a small **router** over the jurisdictions' top-level grids. Replacing one street's plan
re-indexes that street and the router only; the other indexes are shared, unchanged, by the
old and the new county index, so requests keep being answered while the new one is built.

A point goes to the jurisdiction whose top-level grid covers it, then that jurisdiction's
index finds its grid at every level; a point outside every jurisdiction gets the nearest
grid of the nearest jurisdiction.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from geogrid.locate.index import GridIndex
from geogrid.locate.result import OUTSIDE, LocateResult

__all__ = ["CountyIndex"]


class CountyIndex:
    """Point-in-grid index over several jurisdictions' plans, with the API of ``GridIndex``.

    Parameters
    ----------
    parts
        Jurisdiction code → the :class:`~geogrid.locate.GridIndex` of its plan in force. Grid
        codes must be unique across the parts (the store checks it when activating).

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
    >>> result = county.locate([0.5, 1.5], [0.5, 0.5])
    >>> result.grid_codes().tolist(), [county.jurisdictions[p] for p in result.part]
    (['W1', 'E'], ['W', 'E'])
    """

    def __init__(self, parts: Mapping[str, GridIndex]) -> None:
        if not parts:
            raise ValueError("a county index needs at least one jurisdiction's index")
        self.jurisdictions: tuple[str, ...] = tuple(sorted(parts))
        self.parts: tuple[GridIndex, ...] = tuple(parts[j] for j in self.jurisdictions)
        every = np.concatenate([part.codes for part in self.parts])
        order = np.argsort(every.astype(str), kind="stable")
        self.codes: np.ndarray = every[order]
        if len(set(self.codes.tolist())) != self.codes.size:
            raise ValueError("grid codes repeat across jurisdictions: they must be unique")
        rank = np.empty(every.size, dtype=np.int64)
        rank[order] = np.arange(every.size)
        starts = np.cumsum([0] + [part.codes.size for part in self.parts])
        self._global = [rank[a:b] for a, b in itertools.pairwise(starts)]
        self.levels: tuple[int, ...] = tuple(sorted({lv for p in self.parts for lv in p.levels}))
        self._router = self._make_router() if len(self.parts) > 1 else None

    def _make_router(self) -> GridIndex:
        codes, levels, geoms, owner = [], [], [], []
        for number, part in enumerate(self.parts):
            top = part.levels[0]
            rows = np.flatnonzero(part.grid_levels == top)
            codes.extend(part.codes[rows].tolist())
            geoms.extend(part.geometries[rows].tolist())
            levels.extend([1] * rows.size)
            owner.extend([number] * rows.size)
        router = GridIndex(codes, levels, geoms, metric=self.parts[0].metric_crs)
        by_code = dict(zip(codes, owner, strict=True))
        self._owner = np.array([by_code[code] for code in router.codes], dtype=np.int64)
        return router

    def __repr__(self) -> str:
        return f"<CountyIndex {len(self.parts)} jurisdictions, {self.codes.size} grids>"

    @property
    def nbytes(self) -> int:
        """Memory held by the rasters of every part and the router, in bytes."""
        router = 0 if self._router is None else self._router.nbytes
        return router + sum(part.nbytes for part in self.parts)

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
            owner = np.where(found.status_code == 2, -1, 0)
            return dataclasses.replace(found, part=owner)
        owner = self._route(x, y)
        grid = np.full((len(self.levels), x.size), OUTSIDE, dtype=np.int64)
        finest = np.full(x.size, OUTSIDE, dtype=np.int64)
        status = np.full(x.size, 2, dtype=np.int64)
        near = np.full(x.size, -1, dtype=np.int64)
        distance = np.full(x.size, np.nan)
        for number, part in enumerate(self.parts):
            rows = np.flatnonzero(owner == number)
            if not rows.size:
                continue
            found = part.locate(x[rows], y[rows], nearest=nearest)
            to_global = self._global[number]
            for row, level in enumerate(found.levels):
                grid[self.levels.index(level), rows] = _mapped(found.grid[row], to_global)
            finest[rows] = _mapped(found.grid[-1], to_global)
            status[rows] = found.status_code
            near[rows] = _mapped(found.nearest, to_global)
            distance[rows] = found.distance_m
        return LocateResult(
            self.levels, self.codes, grid, status, near, distance, x, y, finest=finest, part=owner
        )

    def _route(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The part number answering each point (-1 for a non-finite coordinate)."""
        if self._router is None:
            return np.where(np.isfinite(x) & np.isfinite(y), 0, -1)
        routed = self._router.locate(x, y, nearest=True)
        number = np.where(routed.grid[0] >= 0, routed.grid[0], routed.nearest)
        return np.where(number >= 0, self._owner[np.maximum(number, 0)], -1)


def _mapped(local: np.ndarray, to_global: np.ndarray) -> np.ndarray:
    """Local grid numbers of a part as numbers into the county's codes (-1 stays -1)."""
    return np.where(local >= 0, to_global[np.maximum(local, 0)], local)
