"""Figures of grids shared by the partition and the report: compactness and imbalance bounds.

Every place that states these figures — ``geogrid partition`` (:func:`geogrid.partition.summary`),
its refinement (:mod:`geogrid.partition.cuts`, :mod:`geogrid.partition.lift`), the infeasibility
bounds (:mod:`geogrid.partition.bounds`) and ``geogrid report`` (:mod:`geogrid.report`) — calls
this module, so they cannot disagree.

Definitions
-----------
Polsby–Popper
    ``4πA / P²``: 1 for a disc, towards 0 for a ragged or elongated shape. A **degenerate
    grid** (no perimeter: empty, or collapsed to a line or a point) has no shape to judge, so
    its Polsby–Popper is **NaN** — not 0 (it is not the worst shape) and not 1. Means and
    minima over grids skip it (``pandas`` does); an optimiser that needs a number says at its
    call what NaN counts as.
unit bound
    A grid holding a unit of ``s`` households carries at least ``s``:
    ``max(s − target, 0) / target``.
count bound
    ``k`` grids holding ``T`` households have mean ``T / k``, and the worst of them is at least
    as far from the target: ``|T / k − target| / target``.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["count_bound", "polsby_popper", "unit_bound"]

_FOUR_PI = 4.0 * math.pi


def polsby_popper(area: npt.ArrayLike, perimeter: npt.ArrayLike) -> np.ndarray:
    """``4πA / P²`` of each shape; NaN for a degenerate one (perimeter not above 0).

    Parameters
    ----------
    area, perimeter
        Areas and perimeters in one metric unit (scalars or arrays).

    Returns
    -------
    numpy.ndarray
        A float array (0-d for scalars: ``float(...)`` gives the number).

    Examples
    --------
    >>> polsby_popper([1.0, 1.0, 0.0], [4.0, 5.0, 0.0]).round(3).tolist()  # square, rectangle
    [0.785, 0.503, nan]
    >>> float(polsby_popper(math.pi, 2 * math.pi))  # the unit disc
    1.0
    """
    a = np.asarray(area, dtype=float)
    p = np.asarray(perimeter, dtype=float)
    ok = p > 0
    safe = np.where(ok, p, 1.0)
    return np.where(ok, _FOUR_PI * a / (safe * safe), np.nan)


def unit_bound(largest: float, target: float) -> float:
    """The deviation a unit of ``largest`` households forces: ``max(s − target, 0) / target``.

    Examples
    --------
    >>> unit_bound(600, 400), unit_bound(300, 400), unit_bound(10, 0)
    (0.5, 0.0, 0.0)
    """
    if not target:
        return 0.0
    return max(float(largest) - float(target), 0.0) / float(target)


def count_bound(total: float, k: int, target: float) -> float:
    """The deviation ``k`` grids sharing ``total`` households cannot beat: ``|T/k − target| / target``.

    Examples
    --------
    >>> count_bound(900, 2, 400), count_bound(800, 2, 400), count_bound(5, 0, 400)
    (0.125, 0.0, 0.0)
    """
    if not target or k <= 0:
        return 0.0
    return abs(float(total) / k - float(target)) / float(target)
