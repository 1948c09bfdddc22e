"""Which incidents a request sees: the caller's and the asked grid's subtrees, the filters.

Shared by the incident store's reads, lists and statistics.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from geogrid.access import Caller, Subtree
from geogrid.errors import InvalidIncidentError
from geogrid.incidents import (
    OPEN_STATUSES,
    Status,
)
from geogrid.store import schema
from geogrid.store.access import MAX_PAGE
from geogrid.store.scope import subtree, subtree_condition

__all__ = [
    "LEVELS",
    "filter_conditions",
    "page_limit",
    "row_lineage",
    "scopes_for",
    "status_filter",
    "text_filter",
]

_T = schema.incidents

LEVELS = [_T.c[name] for name in schema.LEVEL_COLUMNS]
"""The level-code columns of the incidents table, level 1 first."""


def scopes_for(
    connection: sa.Connection, caller: Caller | None, grid_code: str | None = None
) -> list[Subtree]:
    """The subtrees an incident must lie in: the caller's and the asked grid's, if any."""
    codes = [None if caller is None else caller.grid_code, grid_code]
    return [subtree(connection, _code(code)) for code in codes if code is not None]


def row_lineage(row: Any) -> tuple[str, ...]:
    """The level codes an incident was located in, top level first."""
    codes = (row._mapping[name] for name in schema.LEVEL_COLUMNS)
    return tuple(code for code in codes if code)


def filter_conditions(
    connection: sa.Connection,
    caller: Caller,
    *,
    now: dt.datetime,
    grid_code: str | None = None,
    status: list[str] | None = None,
    category: list[str] | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    overdue: bool | None = None,
    scoped: bool = True,
) -> list[sa.ColumnElement[bool]]:
    """The WHERE conditions of a list or count: scopes, then each filter given.

    ``scoped=False`` leaves the scopes out (for figures regrouped by today's grids, which
    apply them after re-locating).
    """
    conditions: list[sa.ColumnElement[bool]] = []
    for within in scopes_for(connection, caller, grid_code) if scoped else []:
        conditions.append(subtree_condition(LEVELS, within))
    if status:
        conditions.append(_T.c.status.in_(status))
    if category:
        conditions.append(_T.c.category.in_(category))
    if since is not None:
        conditions.append(_T.c.created_at >= since)
    if until is not None:
        conditions.append(_T.c.created_at < until)
    if overdue is not None:
        late = sa.and_(_T.c.status.in_([s.value for s in OPEN_STATUSES]), _T.c.deadline < now)
        conditions.append(late if overdue else sa.not_(late))
    return conditions


def _code(code: str) -> str:
    if not isinstance(code, str) or not code.strip():
        raise InvalidIncidentError(f"a grid code must be non-empty text, got {code!r}")
    return code.strip()


def status_filter(value: Status | str | Iterable[Status | str] | None) -> list[str] | None:
    """Status values to filter on (``None``: all); unknown ones raise, listing the valid."""
    values = text_filter(value)
    if values is None:
        return None
    names = {s.value for s in Status}
    unknown = [v for v in values if v not in names]
    if unknown:
        raise InvalidIncidentError(
            f"unknown status {unknown[0]!r}: use one of {', '.join(s.value for s in Status)}"
        )
    return values


def text_filter(value: str | Iterable[str] | None) -> list[str] | None:
    """One value or several as a list of text (``None`` or empty: no filter)."""
    if value is None:
        return None
    values = [value] if isinstance(value, str) else list(value)
    return [str(v) for v in values] or None


def page_limit(limit: int) -> int:
    """``limit`` when it is a page size from 1 to ``MAX_PAGE``; else InvalidIncidentError."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidIncidentError(f"limit must be 1 to {MAX_PAGE}, got {limit!r}")
    return limit
