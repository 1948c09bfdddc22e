"""Lower bounds on how far from the band any plan must be, given unit sizes and islands.

A planner told "out of band" asks: is it the method, or the data? These bounds answer for the
data. The grids of one connected part of the area hold its units; a part too small for a grid
of its own (an island 飞地/岛) joins the grids of one other part, whichever. Then, whatever
the cut:

* a grid holding a unit of load ``s`` carries at least ``s``;
* the ``K`` grids of a part of total ``t`` have mean load ``t / K``, and the worst of them is
  at least as far from the band (or from the target) as the mean, since both distances are
  convex in the load.

:func:`band_bound` takes the best ``K`` for every part and the best way to hand the islands to
the parts (every way when there are few, else a relaxation that stays a lower bound).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Sequence

from geogrid.metrics import unit_bound
from geogrid.partition.band import Band

__all__ = ["BandBound", "band_bound"]

_MAX_ASSIGNMENTS = 4096  # island hand-outs tried one by one; beyond, the relaxation


@dataclasses.dataclass(frozen=True)
class BandBound:
    """The least any plan must miss the band by.

    Attributes
    ----------
    excess
        Households (workload) outside the band the worst grid carries at least; 0 when the
        sizes alone do not rule out a plan with every grid in the band.
    deviation
        The worst ``|load − target| / target`` is at least this.
    """

    excess: float
    deviation: float


def band_bound(
    parts: Sequence[float], islands: Sequence[float], largest: float, band: Band
) -> BandBound:
    """Lower bounds on the worst grid's distance from the band and from its midpoint.

    Parameters
    ----------
    parts
        Total load of every connected part large enough for a grid (≥ the band's minimum).
    islands
        Total load of every part too small for one; each joins one of ``parts`` (or, with
        no such part, all are pooled).
    largest
        Load of the largest unit.
    band
        The band; its midpoint is the target.

    Returns
    -------
    BandBound

    Examples
    --------
    800 households on the mainland (two grids of 400) and an island of 80, band 380–420: the
    880 make two grids of 440 or three of 293, so some grid lies at least 20 outside the band
    (10 % above the target 400).

    >>> bound = band_bound([800], [80], 40, Band(380, 420))
    >>> bound.excess, round(bound.deviation, 3)
    (20.0, 0.1)
    >>> band_bound([900], [80], 40, Band(300, 500)).excess
    0.0
    """
    target = band.midpoint

    def excess(t: float) -> float:
        return _best_over_k(t, band.excess, band.high)

    def deviation(t: float) -> float:
        return _best_over_k(t, lambda mean: abs(mean - target) / target, target)

    return BandBound(
        excess=max(
            _spread(parts, islands, excess, (band.low, band.high)),
            band.excess(max(largest, band.low)),
        ),
        deviation=max(_spread(parts, islands, deviation, (target,)), unit_bound(largest, target)),
    )


def _best_over_k(total: float, distance: Callable[[float], float], pivot: float) -> float:
    """``min over K ≥ 1`` of ``distance(total / K)`` for a distance convex in the mean.

    The mean ``total / K`` falls as ``K`` grows, so the best ``K`` brackets ``total / pivot``
    (``pivot`` where the distance turns: the band's maximum, or the target).
    """
    if total <= 0:
        return 0.0
    ratio = total / pivot
    ks = {max(1, math.floor(ratio)), max(1, math.ceil(ratio)), max(1, math.floor(ratio) - 1)}
    ks |= {k + 1 for k in list(ks)}
    return min(distance(total / k) for k in ks)


def _spread(
    parts: Sequence[float],
    islands: Sequence[float],
    distance: Callable[[float], float],
    zeros: Sequence[float],
) -> float:
    """The worst part's distance, for the best hand-out of the islands to the parts.

    ``zeros``: the distance is 0 at every multiple of these loads.
    """
    if not parts:
        return distance(float(sum(islands)))
    if not islands:
        return max(distance(t) for t in parts)
    if len(parts) ** len(islands) <= _MAX_ASSIGNMENTS:
        best = math.inf
        for choice in itertools.product(range(len(parts)), repeat=len(islands)):
            totals = list(parts)
            for island, p in zip(islands, choice, strict=True):
                totals[p] += island
            best = min(best, max(distance(t) for t in totals))
        return best
    # relaxed: every part may take any share of the islands, and is judged on its own
    pool = float(sum(islands))
    return max(_least_on(t, t + pool, distance, zeros) for t in parts)


def _least_on(
    low: float, high: float, distance: Callable[[float], float], zeros: Sequence[float]
) -> float:
    """The least ``distance`` over the totals ``[low, high]``.

    Between two totals where it is 0 the distance is the lesser of a rising and a falling
    part, so its least value lies at an end of the interval or at a zero: a multiple of one
    of ``zeros`` (the first at or above ``low`` is enough).
    """
    points = [low, high]
    points += [math.ceil(low / z) * z for z in zeros if z > 0 and math.ceil(low / z) * z <= high]
    return min(distance(p) for p in points)
