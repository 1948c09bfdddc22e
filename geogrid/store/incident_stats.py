"""Incident statistics per grid from the incidents table (:func:`geogrid.incidents.grid_stats`)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from geogrid.incidents import (
    CaseFacts,
    GridStats,
    Status,
    grid_stats,
)
from geogrid.store.incident_filters import LEVELS, row_lineage

__all__ = ["group_stats"]


def group_stats(
    rows: Sequence[Any],
    level: int | None,
    now: dt.datetime,
    keep: Callable[[tuple[str, ...]], bool],
    lineages: Sequence[tuple[str, ...]] | None = None,
) -> list[GridStats]:
    """Figures per (level, grid) for the grids whose lineage ``keep`` accepts.

    ``lineages``: each row's grids to count it in (re-located against the plans in force
    now); default: the grids it was reported to (its level codes).
    """
    levels = [level] if level is not None else list(range(1, len(LEVELS) + 1))
    groups: defaultdict[tuple[int, str], list[CaseFacts]] = defaultdict(list)
    for number, row in enumerate(rows):
        facts = CaseFacts(Status(row.status), row.created_at, row.closed_at, row.deadline)
        lineage = row_lineage(row) if lineages is None else lineages[number]
        for n in levels:
            if n <= len(lineage) and keep(lineage[:n]):
                groups[(n, lineage[n - 1])].append(facts)
    return [grid_stats(code, n, cases, now) for (n, code), cases in sorted(groups.items())]
