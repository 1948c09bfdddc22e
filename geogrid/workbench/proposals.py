"""Let the algorithms help: proposals the planner accepts or rejects as one edit.

``balance`` runs the minimal-move redraw (:func:`geogrid.partition.redraw`) on the draft as
it stands; asked for some grids, every unit outside them and their neighbours is locked, so
only that corner of the map moves. ``repartition`` partitions the units of some grids (one
parent) afresh into grids in the band, reusing their codes. Either way the answer is a
:class:`~geogrid.workbench.draft.Delta` — shown highlighted, applied only when accepted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from geogrid.errors import InvalidInputError
from geogrid.partition import partition, redraw
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
    plan = draft.to_plan()
    level_codes = draft.at_level()
    locked = plan.units["locked"].fillna(False).to_numpy(bool) | draft.locked_units()
    if grids is not None:
        free = _with_neighbours(draft, _level_codes(draft, grids))
        locked |= ~np.isin(level_codes, list(free))
    plan.units["locked"] = locked
    homes = plan.units[["unit_id", "name", "households", "geometry"]].copy()
    then_band = draft.then_band if draft.base.depth > draft.level else None
    if draft.base.depth > draft.level and then_band is None:
        raise InvalidInputError(
            "this plan has micro-grids: set the draft's then-band (微网格户数区间) to balance"
        )
    result = redraw(
        plan,
        homes,
        band=draft.band,
        level=draft.level,
        then_band=then_band,
        allow_out_of_band=True,
        id_column="unit_id",
        seed=seed,
    )
    after = result.plan.units.set_index("unit_id")["grid_code"].astype(str)
    delta = _delta_to(
        draft, after.reindex(draft.unit_ids).to_numpy(object), result.plan.grids, "balance"
    )
    return Proposal("balance", delta, _moved(draft, delta), list(result.problems))


def _level_codes(draft: Draft, grids: Sequence[str]) -> list[str]:
    codes = [str(c) for c in grids]
    wrong = [c for c in codes if c not in draft.codes_at(draft.level)]
    if wrong:
        raise InvalidInputError(
            f"not grids of level {draft.level} in this draft: {', '.join(wrong[:5])}"
        )
    return codes


def _with_neighbours(draft: Draft, codes: list[str]) -> set[str]:
    owner = draft.at_level()
    a, b = draft.edges[:, 0].astype(np.int64), draft.edges[:, 1].astype(np.int64)
    near = set(codes)
    for x, y in ((a, b), (b, a)):
        near.update(owner[y][np.isin(owner[x], codes)].tolist())
    return {c for c in near if not draft.is_locked(c)}


def _delta_to(draft: Draft, codes: np.ndarray, grids: pd.DataFrame, kind: str) -> Delta:
    """The delta taking the draft's units to deepest ``codes`` (grids of ``grids`` added)."""
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
    moved = np.flatnonzero(codes != draft.codes)
    delta.moves = [(int(u), str(draft.codes[u]), str(codes[u])) for u in moved]
    left = set(codes.tolist())
    for code in set(draft.codes[moved].tolist()) - left:
        if int(draft.grids.at[code, "level"]) > draft.level:
            delta.removed.append(draft.grid_row(code))
    return delta


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
