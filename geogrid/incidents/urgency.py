"""Urgency (红 / 黄 / 蓝) and the deadlines it sets: :class:`DeadlinePolicy`."""

from __future__ import annotations

import dataclasses
import datetime as dt
from enum import StrEnum

from geogrid.errors import InvalidIncidentError

__all__ = ["DEFAULT_POLICY", "DeadlinePolicy", "Urgency"]


class Urgency(StrEnum):
    """Urgency level (红 / 黄 / 蓝)."""

    RED = "red"  # 红: urgent, handled immediately
    YELLOW = "yellow"  # 黄: complex, several departments
    BLUE = "blue"  # 蓝: ordinary

    @property
    def label(self) -> str:
        """The Chinese name of the colour (红, 黄, 蓝)."""
        return {"red": "红", "yellow": "黄", "blue": "蓝"}[self.value]


@dataclasses.dataclass(frozen=True)
class DeadlinePolicy:
    """How long a case of each urgency may stay open, and when a blue case escalates.

    The defaults are calendar time from the report (or from the reopening / escalation):
    red 24 hours, yellow 3 days, blue 7 days; a blue case escalates to yellow after 3 failed
    attempts. Places set their own: ``DeadlinePolicy(red=dt.timedelta(hours=2))``.

    Examples
    --------
    >>> import datetime as dt
    >>> t0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
    >>> DEFAULT_POLICY.deadline(Urgency.YELLOW, t0).isoformat()
    '2026-03-05T08:00:00+00:00'
    >>> DeadlinePolicy(red=dt.timedelta(hours=2)).deadline(Urgency.RED, t0).isoformat()
    '2026-03-02T10:00:00+00:00'
    """

    red: dt.timedelta = dt.timedelta(hours=24)
    yellow: dt.timedelta = dt.timedelta(days=3)
    blue: dt.timedelta = dt.timedelta(days=7)
    escalate_after: int = 3

    def __post_init__(self) -> None:
        for urgency in Urgency:
            if self.limit(urgency) <= dt.timedelta(0):
                raise InvalidIncidentError(
                    f"the {urgency.value} deadline must be positive, got {self.limit(urgency)}"
                )
        if self.escalate_after < 1:
            raise InvalidIncidentError(
                f"escalate_after must be 1 or more failed attempts, got {self.escalate_after}"
            )

    def limit(self, urgency: Urgency) -> dt.timedelta:
        """Time allowed for a case of ``urgency``."""
        return {Urgency.RED: self.red, Urgency.YELLOW: self.yellow, Urgency.BLUE: self.blue}[
            Urgency(urgency)
        ]

    def deadline(self, urgency: Urgency, start: dt.datetime) -> dt.datetime:
        """When a case of ``urgency`` whose clock started at ``start`` is due."""
        return start + self.limit(urgency)


DEFAULT_POLICY = DeadlinePolicy()
"""Red 24 h, yellow 3 days, blue 7 days; blue → yellow after 3 failed attempts."""
