"""Incident statistics per grid from the incidents table, in Python or in the database.

Two paths give the **same figures** (:class:`~geogrid.incidents.GridStats`, as
:func:`geogrid.incidents.grid_stats` defines them):

* :func:`group_stats` groups fetched rows in Python — every backend, and the only path for
  figures regrouped by today's grids (the rows' points are re-located first);
* :func:`sql_stats` has PostgreSQL group them: one ``GROUP BY GROUPING SETS`` over the
  prefixes of the level-code columns, read in order from a covering index, with
  ``COUNT(*) FILTER (…)`` for the counts and ``percentile_cont(0.5)`` for the median time to
  close, so a year of a county (a million rows) never leaves the database.
  ``tests/test_incident_stats.py`` checks both agree figure for figure.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from geogrid.access import Subtree
from geogrid.incidents import (
    OPEN_STATUSES,
    CaseFacts,
    GridStats,
    Status,
    grid_stats,
)
from geogrid.store import schema
from geogrid.store.incident_filters import LEVELS, row_lineage
from geogrid.store.scope import subtree_condition

__all__ = ["group_stats", "sql_stats"]

_T = schema.incidents
_SETTLED = (Status.CLOSED.value, Status.REJECTED.value)
# a case is open, closed or rejected: open = total - closed - rejected, counted once
assert {s.value for s in Status} - {s.value for s in OPEN_STATUSES} == set(_SETTLED)


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


def sql_stats(
    connection: sa.Connection,
    conditions: Sequence[sa.ColumnElement[bool]],
    level: int | None,
    now: dt.datetime,
    scopes: Sequence[Subtree],
) -> list[GridStats] | None:
    """:func:`group_stats` of the incidents matching ``conditions`` and ``scopes``, by PostgreSQL.

    One statement groups the rows by their lineage's prefixes (``GROUP BY GROUPING SETS
    ((level1_code), (level1_code, level2_code), …)``), reading them in that order from the
    covering index ``ix_incidents_lineage`` (migration 0006) without touching the table; each
    group's lineage then says whether every scope holds it (``keep`` of :func:`group_stats`:
    grids above a caller's own are left out). ``None`` when a grid code was reported under
    two lineages (a grid moved to another parent between plan versions): its figures cannot
    be merged from two groups, and the caller groups in Python instead.

    Parameters
    ----------
    connection
        A PostgreSQL connection.
    conditions
        Which incidents count, besides the scopes (the period):
        :func:`~geogrid.store.incident_filters.filter_conditions` with ``scoped=False``.
    level
        One level, or ``None`` for every level.
    now
        The instant for ``overdue``.
    scopes
        The caller's and the asked grid's subtrees; an incident counts when it lies in all.
    """
    depth = level or _depth(connection)
    if depth == 0:
        return []
    connection.execute(sa.text("SET LOCAL jit = off"))  # compiling costs more than it saves
    query = _grouped_query(_matching(conditions, scopes), depth, level is None, now)
    found: dict[tuple[int, str], GridStats] = {}
    for row in connection.execute(query):
        lineage = tuple(row[:depth])
        n = depth - int(row.unused)
        code = lineage[n - 1]
        if not code or (level is not None and n != level):
            continue
        if not all(scope.contains(lineage[:n]) for scope in scopes):
            continue
        if (n, code) in found:
            return None
        found[(n, code)] = _figures(row, n, code)
    return [found[key] for key in sorted(found)]


def _depth(connection: sa.Connection) -> int:
    """The deepest level any incident has a code at (0: no located incident)."""
    for n in range(len(LEVELS), 0, -1):
        column = LEVELS[n - 1]
        probe = sa.select(column).where(column.is_not(None), column != "").limit(1)
        if connection.execute(probe).first() is not None:
            return n
    return 0


def _matching(
    conditions: Sequence[sa.ColumnElement[bool]], scopes: Sequence[Subtree]
) -> sa.Subquery:
    """The matching rows, as branches each read from one index.

    The first scope's subtree is split into rows whose top-level code is the scope's code or
    one of its ``tops`` (a range of the lineage index) and the others (found by the level
    code indexes; usually none for a street or a township); further scopes filter both.
    """
    columns = [_T.c.status, _T.c.created_at, _T.c.closed_at, _T.c.deadline, *LEVELS]
    if not scopes:
        return sa.select(*columns).where(*conditions).subquery("matching")
    first, *others = scopes
    filters = [*conditions, *(subtree_condition(LEVELS, other) for other in others)]
    tops = sorted(first.tops | {first.code})
    at_top = LEVELS[0].in_(tops)
    below = sa.or_(*(column == first.code for column in LEVELS[1:]))
    branches = [
        sa.select(*columns).where(at_top, *filters),
        sa.select(*columns).where(below, sa.not_(sa.func.coalesce(at_top, False)), *filters),
    ]
    return sa.union_all(*branches).subquery("matching")


def _grouped_query(
    rows: sa.Subquery, depth: int, every_level: bool, now: dt.datetime
) -> sa.Select[Any]:
    codes = [rows.c[name] for name in schema.LEVEL_COLUMNS[:depth]]
    prefixes = [tuple(codes[:n]) for n in range(1, depth + 1)] if every_level else [tuple(codes)]
    status, closed_at = rows.c.status, rows.c.closed_at
    closed = status == Status.CLOSED.value
    # date_part gives float8 seconds (EXTRACT's numeric made the county 5 times slower); a
    # sum of milliseconds within one ulp, so the median is exact once rounded to microseconds
    seconds = sa.func.date_part("epoch", closed_at - rows.c.created_at, type_=sa.Double)
    median = sa.func.percentile_cont(0.5).within_group(seconds)
    unused = sum((sa.func.grouping(code) for code in codes), sa.literal(0))
    return sa.select(
        *codes,
        unused.label("unused"),
        sa.func.count().label("total"),
        _count(closed).label("closed"),
        _count(status == Status.REJECTED.value).label("rejected"),
        median.filter(sa.and_(closed, closed_at.is_not(None))).label("median_s"),
        _count(sa.and_(status.not_in(_SETTLED), rows.c.deadline < now)).label("overdue"),
        _count(sa.and_(closed, closed_at > rows.c.deadline)).label("closed_late"),
    ).group_by(sa.func.grouping_sets(*(sa.tuple_(*prefix) for prefix in prefixes)))


def _count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.count().filter(condition)


def _figures(row: Any, level: int, code: str) -> GridStats:
    total, closed, rejected = int(row.total), int(row.closed), int(row.rejected)
    accepted = total - rejected
    median = None if row.median_s is None else dt.timedelta(seconds=float(row.median_s))
    return GridStats(
        grid_code=str(code),
        level=level,
        total=total,
        open=total - closed - rejected,
        closed=closed,
        rejected=rejected,
        closure_rate=closed / accepted if accepted else None,
        median_time_to_close=median,
        overdue=int(row.overdue),
        closed_late=int(row.closed_late),
    )
