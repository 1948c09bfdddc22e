"""Statistics of incidents per grid: counts, closure rate (办结率), time to close, overdue cases."""

from __future__ import annotations

import dataclasses
import datetime as dt
import statistics
from collections.abc import Sequence

from geogrid.incidents.lifecycle import OPEN_STATUSES, CaseFacts, Status, is_overdue

__all__ = ["GridStats", "grid_stats"]


@dataclasses.dataclass(frozen=True)
class GridStats:
    """Headline figures of one grid over a period.

    Attributes
    ----------
    grid_code, level
        The grid and its level.
    total
        Incidents reported in the period.
    open, closed, rejected
        How many of them are still open, closed (办结), rejected (不予受理).
    closure_rate
        办结率: ``closed / (total - rejected)``; ``None`` when no case was accepted.
    median_time_to_close
        Median of ``closed_at - created_at`` over the closed cases; ``None`` without any.
    overdue
        Open cases past their deadline at the time asked.
    closed_late
        Closed cases closed after their deadline.
    """

    grid_code: str
    level: int
    total: int
    open: int
    closed: int
    rejected: int
    closure_rate: float | None
    median_time_to_close: dt.timedelta | None
    overdue: int
    closed_late: int


def grid_stats(
    grid_code: str, level: int, cases: Sequence[CaseFacts], now: dt.datetime
) -> GridStats:
    """Figures of grid ``grid_code`` from its ``cases`` at instant ``now``.

    Examples
    --------
    >>> import datetime as dt
    >>> t = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    >>> day = dt.timedelta(days=1)
    >>> cases = [
    ...     CaseFacts(Status.CLOSED, t, t + 2 * day, t + 7 * day),
    ...     CaseFacts(Status.CLOSED, t, t + 4 * day, t + 3 * day),   # closed late
    ...     CaseFacts(Status.DISPATCHED, t, None, t + 3 * day),      # overdue on day 10
    ...     CaseFacts(Status.REJECTED, t, None, t + 7 * day),
    ... ]
    >>> s = grid_stats("110108001001", 2, cases, t + 10 * day)
    >>> s.total, s.closed, s.open, round(s.closure_rate, 3), s.median_time_to_close.days
    (4, 2, 1, 0.667, 3)
    >>> s.overdue, s.closed_late
    (1, 1)
    """
    closed = [c for c in cases if c.status is Status.CLOSED]
    rejected = sum(1 for c in cases if c.status is Status.REJECTED)
    accepted = len(cases) - rejected
    durations = [(c.closed_at - c.created_at).total_seconds() for c in closed if c.closed_at]
    median = dt.timedelta(seconds=statistics.median(durations)) if durations else None
    return GridStats(
        grid_code=grid_code,
        level=level,
        total=len(cases),
        open=sum(1 for c in cases if c.status in OPEN_STATUSES),
        closed=len(closed),
        rejected=rejected,
        closure_rate=len(closed) / accepted if accepted else None,
        median_time_to_close=median,
        overdue=sum(1 for c in cases if is_overdue(c, now)),
        closed_late=sum(1 for c in closed if c.closed_at and c.closed_at > c.deadline),
    )
