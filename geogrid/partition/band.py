"""The household band (户数区间) grids must fall in, and how many grids it calls for."""

from __future__ import annotations

import dataclasses
import math

from geogrid.errors import InvalidInputError

__all__ = ["Band", "grid_count", "parse_band"]


@dataclasses.dataclass(frozen=True)
class Band:
    """Inclusive range of workload (households by default) per grid.

    Examples
    --------
    >>> Band(300, 500).midpoint
    400.0
    >>> Band(300, 500).contains(501)
    False
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        if not (0 <= self.low <= self.high) or self.high <= 0:
            raise InvalidInputError(
                f"a band (户数区间) needs 0 ≤ min ≤ max and max > 0, got {self.low}-{self.high}; "
                "write it like 300-500"
            )

    @property
    def midpoint(self) -> float:
        """Target load of a grid: the middle of the band."""
        return (self.low + self.high) / 2.0

    def contains(self, load: float) -> bool:
        """Whether ``load`` lies in the band (ends included)."""
        return self.low <= load <= self.high

    def excess(self, load: float) -> float:
        """How far ``load`` lies outside the band (0 inside)."""
        return max(self.low - load, load - self.high, 0.0)

    def __str__(self) -> str:
        return f"{self.low:g}-{self.high:g}"


def parse_band(text: str) -> Band:
    """Read a band written ``MIN-MAX``.

    Examples
    --------
    >>> parse_band("300-500")
    Band(low=300.0, high=500.0)
    """
    low, sep, high = text.replace("–", "-").partition("-")
    try:
        if not sep:
            raise ValueError(text)
        return Band(float(low), float(high))
    except ValueError as exc:
        raise InvalidInputError(
            f"cannot read the band {text!r}; write MIN-MAX, e.g. 300-500"
        ) from exc


def grid_count(total: float, band: Band) -> tuple[int, bool]:
    """Number of grids for ``total`` households and whether the band is feasible by count.

    ``K = round(total / midpoint)`` clamped to ``[ceil(total / max), floor(total / min)]``;
    the band is feasible when that range is non-empty. When it is not, ``K`` is the rounded
    value (at least 1).

    Examples
    --------
    >>> grid_count(54707, Band(300, 500))
    (137, True)
    >>> grid_count(250, Band(300, 500))
    (1, False)
    >>> grid_count(0, Band(300, 500))
    (0, True)
    """
    if total <= 0:
        return 0, True
    k = round(total / band.midpoint)
    least = math.ceil(total / band.high)
    most = math.floor(total / band.low) if band.low > 0 else least + 10**9
    if least <= most:
        return min(max(k, least), most), True
    return max(k, 1), False
