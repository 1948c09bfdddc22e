"""Where each point fell: :class:`LocateResult`, the answer of :class:`~geogrid.locate.GridIndex`."""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["OUTSIDE", "LocateResult"]

OUTSIDE = -1
"""Grid number meaning "no grid of this level covers the point"."""

_STATUS_NAMES = np.array(["inside", "outside", "invalid"], dtype=object)
_INSIDE, _OUTSIDE, _INVALID = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class LocateResult:
    """Where each point fell; arrays are aligned with the input points.

    Attributes
    ----------
    levels
        Level numbers of the plan (1 = top), the rows of ``grid``.
    codes
        Grid codes of the plan, sorted; ``grid`` and ``nearest`` index into it.
    grid
        ``(n_levels, n_points)`` int array: per level the grid covering the point by the
        boundary rule, as an index into ``codes``, or :data:`OUTSIDE` (-1).
    status_code
        0 inside (a grid of the finest level covers the point), 1 outside, 2 invalid
        (a non-finite coordinate).
    nearest
        For outside points, the nearest grid of the finest level (index into ``codes``);
        -1 otherwise.
    distance_m
        Distance in metres to ``nearest`` for outside points; 0 inside; NaN when invalid.
    lon, lat
        The points in plan coordinates (CGCS2000), as located.
    finest
        Over several jurisdictions (:class:`~geogrid.locate.county.CountyIndex`), whose
        plans may differ in depth: per point the grid of the finest level *of its plan*
        (index into ``codes``, or :data:`OUTSIDE`); ``None`` when ``grid[-1]`` is that.
    part
        Over several jurisdictions: the jurisdiction answering each point (an index into
        the county index's ``jurisdictions``; -1 for an invalid point); else ``None``.
    """

    levels: tuple[int, ...]
    codes: np.ndarray
    grid: np.ndarray
    status_code: np.ndarray
    nearest: np.ndarray
    distance_m: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    finest: np.ndarray | None = None
    part: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.status_code.shape[0])

    @property
    def status(self) -> np.ndarray:
        """``"inside"``, ``"outside"`` or ``"invalid"`` per point (object array)."""
        return _STATUS_NAMES[self.status_code]

    @property
    def inside(self) -> np.ndarray:
        """True where a grid of the finest level covers the point."""
        return self.status_code == _INSIDE

    def level_codes(self, level: int) -> np.ndarray:
        """Codes of level ``level`` per point (object array, ``None`` where outside it)."""
        return self._as_codes(self.grid[self.levels.index(level)])

    def grid_codes(self) -> np.ndarray:
        """Codes of the finest level per point (``None`` outside)."""
        return self._as_codes(self.grid[-1] if self.finest is None else self.finest)

    def lineages(self) -> list[tuple[str, ...]]:
        """Per point its grid codes from the top level down (empty where outside them all)."""
        rows = [self.level_codes(level).tolist() for level in self.levels]
        points = zip(*rows, strict=True)
        return [tuple(code for code in point if code is not None) for point in points]

    def nearest_codes(self) -> np.ndarray:
        """Nearest finest-level grid code of outside points (``None`` elsewhere)."""
        return self._as_codes(self.nearest)

    def _as_codes(self, numbers: np.ndarray) -> np.ndarray:
        out = np.full(numbers.shape, None, dtype=object)
        found = numbers >= 0
        out[found] = self.codes[numbers[found]]
        return out
