"""Subtrees in the store: a code's lineage by the plans' parent links, as Python and as SQL.

The rule itself (:class:`geogrid.access.Subtree`) lives in :mod:`geogrid.access`; this module
only fetches what it needs from the database — whether a code is a grid of any stored plan,
a grid's ancestors, what a registered jurisdiction reaches down the registry — and turns a
subtree into a condition on the incidents' level codes, which record each incident's lineage
as located.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa

from geogrid.access import Caller, Subtree
from geogrid.store import schema
from geogrid.store.jurisdictions import descendants, registered, top_codes

__all__ = [
    "caller_subtree",
    "is_grid_code",
    "lineage",
    "lineages",
    "reach",
    "subtree",
    "subtree_condition",
]

_MAX_DEPTH = 6  # levels a plan may have


def is_grid_code(connection: sa.Connection, code: str) -> bool:
    """Whether ``code`` is a grid of some stored plan version (the code registry)."""
    table = schema.grid_codes
    query = sa.select(table.c.code).where(table.c.code == code).limit(1)
    return connection.execute(query).first() is not None


def subtree(connection: sa.Connection, code: str) -> Subtree:
    """The :class:`~geogrid.access.Subtree` of ``code``: a grid's and/or a jurisdiction's.

    Its ``tops`` are the registered jurisdictions beneath ``code`` (by parent links) and the
    top-level grid codes of their plans.
    """
    return Subtree(code, tops=reach(connection, code))


def reach(connection: sa.Connection, code: str) -> frozenset[str]:
    """The jurisdictions registered beneath ``code`` and their plans' top-level grid codes."""
    if registered(connection, code) is None:
        return frozenset()
    below = descendants(connection, code)
    return below | top_codes(connection, below)


def caller_subtree(connection: sa.Connection, caller: Caller) -> Subtree | None:
    """``caller``'s subtree, checked against the store now (``None``: bound to no grid)."""
    if caller.grid_code is None:
        return None
    return subtree(connection, caller.grid_code)


def lineage(connection: sa.Connection, code: str) -> tuple[str, ...]:
    """``code`` and its ancestors by parent links, top level first (``(code,)`` if no grid).

    The parents are those of the newest stored version holding each code.
    """
    chain = [code]
    grids = schema.grids
    for _ in range(_MAX_DEPTH):
        query = (
            sa.select(grids.c.parent_code)
            .where(grids.c.code == chain[-1])
            .order_by(grids.c.version_id.desc())
            .limit(1)
        )
        parent = connection.execute(query).scalar()
        if not parent or parent in chain:
            break
        chain.append(parent)
    return tuple(reversed(chain))


def lineages(connection: sa.Connection, codes: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """:func:`lineage` of each of ``codes``, with one query for the parent links."""
    wanted = set(codes)
    if not wanted:
        return {}
    grids = schema.grids
    query = sa.select(grids.c.code, grids.c.parent_code).order_by(grids.c.version_id)
    parents = {code: parent for code, parent in connection.execute(query)}  # newest wins
    result = {}
    for code in wanted:
        chain = [code]
        while len(chain) <= _MAX_DEPTH and parents.get(chain[-1]) not in (None, "", *chain):
            chain.append(parents[chain[-1]])
        result[code] = tuple(reversed(chain))
    return result


def subtree_condition(
    columns: Sequence[sa.ColumnElement[str]], within: Subtree
) -> sa.ColumnElement[bool]:
    """SQL for "the lineage in ``columns`` (top level first) lies in ``within``"."""
    within_code = sa.or_(*(column == within.code for column in columns))
    if not within.tops:
        return within_code
    return sa.or_(within_code, columns[0].in_(sorted(within.tops)))
