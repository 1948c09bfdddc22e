"""Staff rosters (花名册) in and out of the store: one rule for the CLI and the API.

:func:`import_roster` reads a roster against the grids of a plan's version in force at the
effective instant and replaces the staff of every grid it lists in one transaction
(:meth:`~geogrid.store.staff.StaffStore.replace_many`); :func:`plans_in_force` gives the
plans whose staff :func:`geogrid.io.rosters.write_roster` writes out.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING

from geogrid.access import Caller
from geogrid.county import union_plan
from geogrid.errors import NoActivePlanError, NotFoundError
from geogrid.io.rosters import Roster, read_roster
from geogrid.plan import GridPlan
from geogrid.store.staff import GridStaff

if TYPE_CHECKING:
    from geogrid.store.repository import PlanStore

__all__ = [
    "import_roster",
    "plans_in_force",
]


def plans_in_force(
    store: PlanStore,
    *,
    plan: str | None = None,
    at: dt.datetime | None = None,
    covered: Caller | None = None,
) -> GridPlan:
    """The plans in force at ``at`` (default now), with the staff in force then, as one plan.

    Parameters
    ----------
    store
        The plan store.
    plan
        Only this plan (its version in force then); default: every plan in force.
    at
        The instant.
    covered
        Only the jurisdictions this caller covers.

    Raises
    ------
    NotFoundError
        When no plan (or not ``plan``) is in force then.
    """
    infos = store.in_force(at)
    if covered is not None and covered.grid_code is not None:
        infos = [info for info in infos if store.covers(covered, info.jurisdiction)]
    if plan is not None:
        infos = [info for info in infos if info.plan == plan]
        if not infos:
            raise NotFoundError(
                f"plan {plan!r} is not in force{_at(at)}: `geogrid store list` shows the plans "
                "and their periods; activate a version first or give another date"
            )
    if not infos:
        raise NoActivePlanError(f"no plan is in force{_at(at)}: activate one first")
    plans = [store.get(info.plan, info.version, at=at) for info in infos]
    return plans[0] if len(plans) == 1 else union_plan(plans)


def import_roster(
    store: PlanStore,
    path: str | os.PathLike[str],
    *,
    plan: str | None,
    caller: Caller,
    effective: dt.datetime | None = None,
    sheet: str | None = None,
    encoding: str | None = None,
    source: str | None = None,
) -> tuple[Roster, list[GridStaff]]:
    """Read a roster against the plan in force at ``effective`` and store it, all or nothing.

    Parameters
    ----------
    store
        The plan store.
    path
        The roster (``.xlsx`` / ``.xls`` / ``.csv``; ``FILE:SHEET``).
    plan
        The plan whose grids the roster names (default: the only plan in force).
    caller
        Who imports: a planner or admin covering every grid listed.
    effective
        From when the staff hold (default now; past or future as
        :meth:`~geogrid.store.staff.StaffStore.replace` allows).
    sheet, encoding
        As in :func:`geogrid.io.tables.read_table`.
    source
        What to record as the roster's name in the audit log (default: the file's name).

    Returns
    -------
    tuple
        The roster read and the new staff of each grid it lists.
    """
    # every grid listed is checked against the caller's area by replace_many (403)
    grids = plans_in_force(store, plan=plan, at=effective).grids
    roster = read_roster(path, grids, sheet=sheet, encoding=encoding)
    changed = store.staff().replace_many(
        roster.by_grid(), caller=caller, effective=effective, source=source or roster.name
    )
    return roster, changed


def _at(at: dt.datetime | None) -> str:
    return "" if at is None else f" at {at:%Y-%m-%d %H:%M} UTC"
