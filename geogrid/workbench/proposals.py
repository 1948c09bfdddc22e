"""Let the algorithms help: proposals the planner accepts or rejects as one edit.

``balance`` runs the minimal-move redraw (:func:`geogrid.partition.redraw`) on the draft as
it stands; asked for some grids, on a plan of those grids and their neighbours only (under
the same parent), so only that corner of the map is loaded and moves. ``repartition`` partitions the units of some grids (one
parent) afresh into grids in the band, reusing their codes. Either way the answer is a
:class:`~geogrid.workbench.draft.Delta` — shown highlighted, applied only when accepted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from geogrid.errors import InvalidInputError
from geogrid.partition import partition, redraw
from geogrid.plan import PLAN_CRS, GridPlan
from geogrid.units import units_from_polygons
from geogrid.workbench.draft import Delta, Draft
from geogrid.workbench.edits import _free_code, _row

__all__ = ["Proposal", "balance", "repartition"]


@dataclasses.dataclass
class Proposal:
    """Moves proposed for a draft.

    Attributes
    ----------
    kind
        ``balance`` or ``repartition``.
    delta
        The edit accepting it makes.
    moved_households
        Households in the units that would move.
    problems
        What the algorithm could not do (grids left out of band, with the bound).
    """

    kind: str
    delta: Delta
    moved_households: int
    problems: list[str]

    def moves(self, draft: Draft) -> pd.DataFrame:
        """``unit``, ``name``, ``households``, ``from`` and ``to`` (grids at the edited level)."""
        rows = [
            {
                "unit": str(draft.unit_ids[u]),
                "name": draft.units["name"].iloc[u],
                "households": int(draft.households[u]),
                "from": _at(draft, old, self.delta),
                "to": _at(draft, new, self.delta),
            }
            for u, old, new in self.delta.moves
        ]
        frame = pd.DataFrame(rows, columns=["unit", "name", "households", "from", "to"])
        frame = frame[frame["from"] != frame["to"]]
        return frame.where(pd.notna(frame), None)


def _at(draft: Draft, code: str, delta: Delta) -> str:
    """The edited level's grid of ``code``, new grids of ``delta`` included."""
    parents = {r["code"]: (r["parent_code"], int(r["level"])) for r in delta.added}
    while code in parents and parents[code][1] > draft.level:
        code = str(parents[code][0])
    return code if code in parents else draft.ancestor(code, draft.level)


def balance(
    draft: Draft, grids: Sequence[str] | None = None, *, seed: int = 0, taken: Collection[str] = ()
) -> Proposal:
    """Bring grids back into the band with as few households moved as possible.

    The redraw runs on a plan of the grids that may change only — those asked for and
    their unlocked neighbours under the same parent, with their units and micro-grids —
    so its cost follows that neighbourhood, not the whole draft (every other grid would be
    locked anyway, and the redraw works parent by parent).

    Parameters
    ----------
    grids
        Grids (edited level) to balance, with their neighbours; ``None``: every grid.

    Raises
    ------
    InvalidInputError
        Without a band, or for codes that are not grids of the edited level.
    """
    if draft.band is None:
        raise InvalidInputError("set the draft's band first (请先设置户数区间), e.g. 300-500")
    then_band = draft.then_band if draft.base.depth > draft.level else None
    if draft.base.depth > draft.level and then_band is None:
        raise InvalidInputError(
            "this plan has micro-grids: set the draft's then-band (微网格户数区间) to balance"
        )
    level_codes = draft.at_level()
    if grids is None:
        free = {c for c in draft.codes_at(draft.level) if not draft.is_locked(c)}
    else:
        free = _with_neighbours(draft, _level_codes(draft, grids), level_codes)
    units = np.flatnonzero(np.isin(level_codes, sorted(free)))
    if not len(units):
        return Proposal("balance", Delta("balance"), 0, [])
    plan = _sub_plan(draft, units)
    result = redraw(
        plan,
        plan.units[["unit_id", "name", "households", "geometry"]],
        band=draft.band,
        level=draft.level,
        then_band=then_band,
        allow_out_of_band=True,
        id_column="unit_id",
        seed=seed,
    )
    after = result.plan.units.set_index("unit_id")["grid_code"].astype(str)
    codes = after.reindex(draft.unit_ids[units]).to_numpy(object)
    delta = _delta_to(draft, units, codes, result.plan.grids, "balance")
    _fresh_codes(draft, delta, taken)
    return Proposal("balance", delta, _moved(draft, delta), list(result.problems))


def _level_codes(draft: Draft, grids: Sequence[str]) -> list[str]:
    codes = [str(c) for c in grids]
    wrong = [c for c in codes if c not in draft.codes_at(draft.level)]
    if wrong:
        raise InvalidInputError(
            f"not grids of level {draft.level} in this draft: {', '.join(wrong[:5])}"
        )
    return codes


def _with_neighbours(draft: Draft, codes: list[str], owner: np.ndarray) -> set[str]:
    """``codes`` and the grids sharing a unit edge with them under the same parent, unlocked."""
    a, b = draft.edges[:, 0].astype(np.int64), draft.edges[:, 1].astype(np.int64)
    near = set(codes)
    for x, y in ((a, b), (b, a)):
        near.update(owner[y][np.isin(owner[x], codes)].tolist())
    parents = {_parent(draft, c) for c in codes}
    return {c for c in near if not draft.is_locked(c) and _parent(draft, c) in parents}


def _parent(draft: Draft, code: str) -> str | None:
    return draft.ancestor(code, draft.level - 1) if draft.level > 1 else None


def _sub_plan(draft: Draft, units: np.ndarray) -> GridPlan:
    """The plan of ``units``: their grids (those emptied left out), parents and micro-grids.

    Grids keep their current polygons; units their deepest codes and locks.
    """
    codes = draft.codes[units]
    held = {draft.ancestor(c, draft.level) for c in set(codes.tolist())}  # grids with units
    below = set(codes.tolist()) - held
    above = {draft.ancestor(c, lv) for c in held for lv in range(1, draft.level)}
    rows = []
    for code in sorted(above | held | below):
        geom = draft.base_geoms[code] if code in above else draft.geometry(code)
        rows.append(draft.grid_row(code) | {"geometry": geom})
    grids = gpd.GeoDataFrame(rows, geometry="geometry", crs=PLAN_CRS)
    frame = draft.units.iloc[units].reset_index(drop=True)
    locks = np.array([draft.is_locked(str(c)) for c in codes], dtype=bool)
    frame = frame.assign(grid_code=codes, locked=draft.unit_locked[units] | locks)
    staff = draft.base.staff.iloc[:0]
    return GridPlan(draft.base.name, draft.base.levels, grids, staff=staff, units=frame)


def _delta_to(
    draft: Draft, units: np.ndarray, codes: np.ndarray, grids: pd.DataFrame, kind: str
) -> Delta:
    """The delta taking ``units`` to deepest ``codes`` (grids of ``grids`` added)."""
    delta = Delta(kind)
    known = set(draft.grids.index)
    rows = grids.set_index(grids["code"].astype(str))
    for code in rows.index:
        if code not in known:
            row = rows.loc[code]
            delta.added.append(
                {
                    "code": code,
                    "name": str(row["name"]),
                    "level": int(row["level"]),
                    "parent_code": str(row["parent_code"]),
                    "kind": row["kind"] if isinstance(row["kind"], str) else "urban",
                    "subtype": None,
                    "priority": "normal",
                    "locked": False,
                }
            )
    before = draft.codes[units]
    moved = np.flatnonzero(codes != before)
    delta.moves = [(int(units[i]), str(before[i]), str(codes[i])) for i in moved]
    left = set(codes.tolist())
    for code in set(before[moved].tolist()) - left:
        if int(draft.grids.at[code, "level"]) > draft.level:
            delta.removed.append(draft.grid_row(code))
    return delta


def _fresh_codes(draft: Draft, delta: Delta, taken: Collection[str]) -> None:
    """Give the delta's new grids codes used nowhere else (the sub-plan knew only its own)."""
    used = set(draft.grids.index) | set(draft.base_geoms) | set(taken)
    renamed: dict[str, str] = {}
    for row in delta.added:  # parents before their micro-grids (the redraw lists them so)
        parent = renamed.get(str(row["parent_code"]), str(row["parent_code"]))
        code = str(row["code"])
        if code in used or parent != row["parent_code"]:
            fresh = _free_code(draft, parent, [*used, *renamed.values()], delta)
            renamed[code] = fresh
            row["code"], row["parent_code"] = fresh, parent
        used.add(str(row["code"]))
    if renamed:
        delta.moves = [(u, old, renamed.get(new, new)) for u, old, new in delta.moves]


def _moved(draft: Draft, delta: Delta) -> int:
    units = [u for u, old, new in delta.moves if _at(draft, old, delta) != _at(draft, new, delta)]
    return int(draft.households[units].sum())


def repartition(
    draft: Draft, grids: Sequence[str], *, seed: int = 0, taken: Collection[str] = ()
) -> Proposal:
    """Partition the units of ``grids`` (one parent, edited level) afresh into the band.

    The new grids take the old codes in order; more grids get new codes, fewer leave the
    last codes empty (removed). Micro-grids below: one per new grid.
    """
    if draft.band is None:
        raise InvalidInputError("set the draft's band first (请先设置户数区间), e.g. 300-500")
    codes = _level_codes(draft, grids)
    locked = [c for c in codes if draft.is_locked(c)]
    if locked:
        raise InvalidInputError(f"locked grids are not re-partitioned: {', '.join(locked)}")
    parents = {draft.grids.at[c, "parent_code"] for c in codes}
    if len(parents) > 1:
        raise InvalidInputError("re-partition grids under one parent at a time (同一上级)")
    members = np.flatnonzero(np.isin(draft.at_level(), codes))
    frame = draft.units.iloc[members][["unit_id", "name", "households", "geometry"]]
    units = units_from_polygons(frame, id_column="unit_id", name_column="name")
    result = partition(units, band=draft.band, seed=seed)
    delta = Delta("repartition")
    parent = str(parents.pop())
    labels: list[str] = sorted(codes)
    while len(labels) < result.k:
        code = _free_code(draft, parent, taken, delta)
        delta.added.append(_row(draft, code, parent, f"新网格{code[-3:]}"))
        labels.append(code)
    target = np.array(labels, dtype=object)[result.assignment]
    deeper = draft.base.depth > draft.level
    new_codes = draft.codes.copy()
    for label in labels[: result.k]:
        mine = members[target == label]
        if deeper:
            child = _free_code(draft, label, taken, delta)
            delta.added.append(_row(draft, child, label, f"{label[-3:]}-1", delta))
            new_codes[mine] = child
        else:
            new_codes[mine] = label
    moved = np.flatnonzero(new_codes != draft.codes)
    delta.moves = [(int(u), str(draft.codes[u]), str(new_codes[u])) for u in moved]
    left = set(new_codes.tolist())
    for code in set(draft.codes[moved].tolist()) - left:
        if int(draft.grids.at[code, "level"]) > draft.level:
            delta.removed.append(draft.grid_row(code))
    delta.removed.extend(draft.grid_row(code) for code in labels[result.k :])
    problems = [e.message for e in result.exceptions] if result.exceptions else []
    return Proposal("repartition", delta, _moved(draft, delta), problems)
