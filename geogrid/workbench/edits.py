"""The planner's edits of a draft, each turned into a :class:`~geogrid.workbench.draft.Delta`.

``move`` units to a grid, make a ``new_grid`` of them, ``split`` a grid along a drawn line,
``merge`` two grids, ``lock`` or ``rename`` one. Units are atoms (a building, a courtyard, a
village) and never split: a line through a unit sends it whole to the side holding most of
it. A unit that may not move is refused with the reason (locked, special grid 专属网格,
another parent) while the others move; an edit that cannot be made at all raises
:class:`~geogrid.errors.InvalidInputError` with the reason, in Chinese and English.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import shapely
import shapely.ops

from geogrid.codes import SEQUENCE_DIGITS, child_code
from geogrid.errors import InvalidInputError, NotFoundError
from geogrid.workbench.draft import Delta, Draft

__all__ = ["Outcome", "apply_edit", "plan_edit"]


@dataclasses.dataclass
class Outcome:
    """An edit planned: the delta and the units refused, each with the reason."""

    delta: Delta
    refused: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)


def plan_edit(draft: Draft, edit: Mapping[str, Any], *, taken: Collection[str] = ()) -> Outcome:
    """The delta of ``edit`` (``{"op": …}``, see ``docs/workbench.md``) on ``draft``.

    ``taken`` are grid codes issued elsewhere (the store's), never given to a new grid.

    Raises
    ------
    InvalidInputError
        For an unknown op, missing parameters, or an edit that cannot be made (the reason).
    NotFoundError
        For a grid code that is not in the draft.
    """
    op = edit.get("op")
    if op == "move":
        return _move(draft, edit["units"], edit["to"], taken)
    if op == "new_grid":
        return _new_grid(draft, edit["units"], edit.get("name"), taken)
    if op == "split":
        return _split(draft, edit["grid"], edit["line"], taken)
    if op == "merge":
        return _merge(draft, edit["grids"], taken)
    if op == "lock":
        return _lock(draft, edit["grid"], bool(edit.get("locked", True)))
    if op == "rename":
        return _rename(draft, edit["grid"], edit["name"])
    raise InvalidInputError(f"unknown edit {op!r}: move, new_grid, split, merge, lock or rename")


def apply_edit(draft: Draft, edit: Mapping[str, Any], *, taken: Collection[str] = ()) -> Outcome:
    """Plan ``edit`` and apply it to ``draft`` (unless it changes nothing)."""
    outcome = plan_edit(draft, edit, taken=taken)
    outcome.delta.params = {k: v for k, v in edit.items() if k != "op"}
    if outcome.delta.empty and outcome.refused:
        reasons = "; ".join(f"{u}: {r}" for u, r in outcome.refused[:3])
        raise InvalidInputError(f"no unit could move (没有单元可以移动): {reasons}")
    if not outcome.delta.empty:
        draft.apply(outcome.delta)
    return outcome


# ---------------------------------------------------------------------- checks


def _grid(draft: Draft, code: object) -> str:
    code = str(code)
    if code not in draft.grids.index:
        raise NotFoundError(f"grid {code} is not in this draft (草稿中没有网格 {code})")
    return code


def _editable(draft: Draft, code: str) -> None:
    level = int(draft.grids.at[code, "level"])
    if level < draft.level:
        raise InvalidInputError(
            f"grid {code} is on level {level} ({draft.base.levels[level - 1]}); this draft edits "
            f"level {draft.level} ({draft.base.levels[draft.level - 1]}) and below"
        )
    if draft.is_locked(code):
        raise InvalidInputError(f"grid {code} is locked (网格 {code} 已锁定或为专属网格)")


def _refusal(draft: Draft, unit: int, parent: str | None) -> str | None:
    """Why unit ``unit`` may not move under ``parent`` (level above the edited), or None."""
    if draft.unit_locked[unit]:
        return "locked unit or special grid (单元已锁定或属于专属网格)"
    current = str(draft.codes[unit])
    if draft.is_locked(current):
        return f"its grid {draft.ancestor(current, draft.level)} is locked (所在网格已锁定)"
    if parent is not None:
        own = draft.ancestor(current, draft.level - 1)
        if own != parent:
            return (
                f"it lies in {own}, not {parent}: a move never crosses the "
                f"{draft.base.levels[draft.level - 2]} (不能跨越上级网格)"
            )
    return None


def _parent_of(draft: Draft, code: str) -> str | None:
    return draft.ancestor(code, draft.level - 1) if draft.level > 1 else None


# ---------------------------------------------------------------------- edits


def _move(draft: Draft, unit_ids: Sequence[str], to: object, taken: Collection[str]) -> Outcome:
    target = _grid(draft, to)
    _editable(draft, target)
    parent = _parent_of(draft, target)
    outcome = Outcome(Delta("move"))
    chosen = []
    level = int(draft.grids.at[target, "level"])
    for unit in draft.positions(unit_ids):
        reason = _refusal(draft, unit, parent)
        if reason:
            outcome.refused.append((str(draft.unit_ids[unit]), reason))
        elif draft.ancestor(str(draft.codes[unit]), level) != target:
            chosen.append(unit)
    if not chosen:
        return outcome
    deepest = level == draft.base.depth
    if deepest:
        outcome.delta.moves = [(u, str(draft.codes[u]), target) for u in chosen]
    else:
        outcome.delta.moves = _into_children(draft, chosen, target, outcome.delta, taken)
    _drop_emptied(draft, outcome.delta)
    return outcome


def _into_children(
    draft: Draft, units: list[int], target: str, delta: Delta, taken: Collection[str]
) -> list[tuple[int, str, str]]:
    """Moves of ``units`` into the micro-grid of ``target`` each touches most (a new one if none)."""
    children = draft.children(target)
    if not children:
        code = _free_code(draft, target, taken, delta)
        delta.added.append(_row(draft, code, target, f"{draft.grids.at[target, 'name']}-1"))
        return [(u, str(draft.codes[u]), code) for u in units]
    member = set(children)
    touch = _touching(draft, units, member)
    return [(u, str(draft.codes[u]), touch.get(u, children[0])) for u in units]


def _touching(draft: Draft, units: list[int], codes: set[str]) -> dict[int, str]:
    """For each of ``units``, the grid of ``codes`` it shares its longest edge with."""
    edges = draft.edges
    ends = edges[:, :2].astype(np.int64)
    near = np.flatnonzero(np.isin(ends, units).any(axis=1))  # only the moved units' edges
    wanted = set(units)
    best: dict[int, tuple[float, str]] = {}
    for (a, b), length in zip(ends[near].tolist(), edges[near, 2].tolist(), strict=True):
        for u, v in ((a, b), (b, a)):
            code = str(draft.codes[v])
            better = length > best.get(u, (0.0, ""))[0]
            if u in wanted and v not in wanted and code in codes and better:
                best[u] = (float(length), code)
    return {u: code for u, (_, code) in best.items()}


def _drop_emptied(draft: Draft, delta: Delta) -> None:
    """Micro-grids (below the edited level) left without units are removed by the edit."""
    if draft.base.depth == draft.level:
        return
    moving = {unit for unit, _, _ in delta.moves}
    arriving = {new for _, _, new in delta.moves}
    removed = {r["code"] for r in delta.removed}
    for old in sorted({old for _, old, _ in delta.moves} - arriving - removed):
        staying = set(np.flatnonzero(draft.codes == old).tolist()) - moving
        if not staying and old in draft.grids.index:
            delta.removed.append(draft.grid_row(old))
            removed.add(old)


def _new_grid(
    draft: Draft, unit_ids: Sequence[str], name: object, taken: Collection[str]
) -> Outcome:
    if draft.level == 1:
        raise InvalidInputError("a new top-level grid is made by a new plan, not in a draft")
    positions = draft.positions(unit_ids)
    if not positions:
        raise InvalidInputError("select the units of the new grid first (请先选择单元)")
    parents = {draft.ancestor(str(draft.codes[u]), draft.level - 1) for u in positions}
    if len(parents) > 1:
        raise InvalidInputError(
            "the units lie under different "
            f"{draft.base.levels[draft.level - 2]}s ({', '.join(sorted(parents))}); a grid "
            "stays inside one (选中的单元属于不同的上级网格)"
        )
    parent = parents.pop()
    outcome = Outcome(Delta("new_grid"))
    free = []
    for unit in positions:
        reason = _refusal(draft, unit, parent)
        if reason:
            outcome.refused.append((str(draft.unit_ids[unit]), reason))
        else:
            free.append(unit)
    if not free:
        return outcome
    code = _free_code(draft, parent, taken, outcome.delta)
    label = str(name) if name else f"新网格{code[-SEQUENCE_DIGITS:]}"
    outcome.delta.added.append(_row(draft, code, parent, label))
    _fill(draft, free, code, outcome.delta, taken)
    return outcome


def _fill(draft: Draft, units: list[int], code: str, delta: Delta, taken: Collection[str]) -> None:
    """Move ``units`` into the new grid ``code`` (into one new micro-grid of it, if any)."""
    row = next(r for r in delta.added if r["code"] == code)
    target = code
    if draft.base.depth > int(row["level"]):
        target = _free_code(draft, code, taken, delta)
        delta.added.append(_row(draft, target, code, f"{row['name']}-1", delta))
    delta.moves.extend((u, str(draft.codes[u]), target) for u in units)
    _drop_emptied(draft, delta)


def _row(
    draft: Draft, code: str, parent: str, name: str, delta: Delta | None = None
) -> dict[str, Any]:
    new = [r for r in (delta.added if delta else []) if r["code"] == parent]
    above = new[0] if new else draft.grids.loc[parent]
    return {
        "code": code,
        "name": name,
        "level": int(above["level"]) + 1,
        "parent_code": parent,
        "kind": "urban" if above["kind"] in (None, "special") else above["kind"],
        "subtype": None,
        "priority": "normal",
        "locked": False,
    }


def _free_code(draft: Draft, parent: str, taken: Collection[str], delta: Delta) -> str:
    used = set(draft.grids.index) | set(draft.base_geoms) | set(taken)
    used |= {r["code"] for r in delta.added}
    for sequence in range(1, 10**SEQUENCE_DIGITS):
        code = child_code(parent, sequence)
        if code not in used:
            return code
    raise InvalidInputError(f"no free grid code left under {parent}")


def _split(
    draft: Draft, code: object, line: Sequence[Sequence[float]], taken: Collection[str]
) -> Outcome:
    grid = _grid(draft, code)
    _editable(draft, grid)
    if len(line) < 2:
        raise InvalidInputError("draw the split line with at least two points (分割线至少两个点)")
    cut = shapely.LineString([(float(x), float(y)) for x, y in line])
    members = draft.members(grid)
    pieces = list(shapely.ops.split(_shape(draft, members), cut).geoms)
    if len(pieces) < 2:
        raise InvalidInputError(
            f"the line does not cross grid {grid} from edge to edge (分割线须穿过整个网格)"
        )
    geoms = draft.units.geometry.to_numpy()[members]
    shares = np.array([shapely.area(shapely.intersection(geoms, p)) for p in pieces])
    side = shares.argmax(axis=0)
    households = np.bincount(side, weights=draft.households[members], minlength=len(pieces))
    keep = int(households.argmax())
    outcome = Outcome(Delta("split"))
    crossed = np.flatnonzero(shares.max(axis=0) < 0.999 * shapely.area(geoms))
    if len(crossed):
        names = ", ".join(str(draft.unit_ids[members[i]]) for i in crossed[:5])
        outcome.notes.append(
            f"the line crossed {len(crossed)} unit(s), each kept whole on the side holding most "
            f"of it (分割线穿过的单元整体归入多数一侧): {names}"
        )
    parent = str(draft.grids.at[grid, "parent_code"])
    name = str(draft.grids.at[grid, "name"])
    for piece in range(len(pieces)):
        chosen = [int(members[i]) for i in np.flatnonzero(side == piece)]
        if piece == keep or not chosen:
            continue
        new = _free_code(draft, parent, taken, outcome.delta)
        outcome.delta.added.append(
            _row(draft, new, parent, f"{name}-{len(outcome.delta.added) + 2}")
        )
        _fill(draft, chosen, new, outcome.delta, taken)
    if not outcome.delta.moves:
        raise InvalidInputError(
            f"every unit of grid {grid} lies on one side of the line (所有单元都在分割线同一侧)"
        )
    return outcome


def _shape(draft: Draft, members: np.ndarray) -> shapely.Geometry:
    """The grid's land, hairline cracks between units closed (a 0.1 mm grid), to cut."""
    geoms = shapely.make_valid(draft.units.geometry.to_numpy()[members])
    return shapely.union_all(shapely.set_precision(geoms, 1e-9))


def _merge(draft: Draft, codes: Sequence[object], taken: Collection[str]) -> Outcome:
    if len(codes) != 2:
        raise InvalidInputError("merge takes two grids (合并需要两个网格)")
    keep, gone = (_grid(draft, c) for c in codes)
    if keep == gone:
        raise InvalidInputError(f"merge takes two different grids, got {keep} twice")
    for code in (keep, gone):
        _editable(draft, code)
    if draft.grids.at[keep, "parent_code"] != draft.grids.at[gone, "parent_code"]:
        raise InvalidInputError(f"grids {keep} and {gone} lie under different parents (上级不同)")
    if draft.grids.at[keep, "level"] != draft.grids.at[gone, "level"]:
        raise InvalidInputError(f"grids {keep} and {gone} are on different levels")
    a, b = draft.members(keep), draft.members(gone)
    if not _adjacent(draft, a, b):
        raise InvalidInputError(f"grids {keep} and {gone} do not touch (两个网格不相邻)")
    outcome = Outcome(Delta("merge"))
    children = draft.children(gone)
    if children:
        for child in children:
            new = _free_code(draft, keep, taken, outcome.delta)
            row = draft.grid_row(child) | {"code": new, "parent_code": keep}
            outcome.delta.added.append(row)
            outcome.delta.moves.extend(
                (int(u), child, new) for u in np.flatnonzero(draft.codes == child)
            )
            outcome.delta.removed.append(draft.grid_row(child))
    else:
        outcome.delta.moves = [(int(u), str(draft.codes[u]), keep) for u in b]
    outcome.delta.removed.append(draft.grid_row(gone))
    return outcome


def _adjacent(draft: Draft, a: np.ndarray, b: np.ndarray) -> bool:
    ends = draft.edges[:, :2].astype(np.int64)
    in_a, in_b = np.isin(ends, a), np.isin(ends, b)
    return bool(((in_a[:, 0] & in_b[:, 1]) | (in_b[:, 0] & in_a[:, 1])).any())


def _lock(draft: Draft, code: object, locked: bool) -> Outcome:
    grid = _grid(draft, code)
    before = bool(draft.grids.at[grid, "locked"])
    delta = Delta("lock")
    if before != locked:
        delta.locked.append((grid, before, locked))
    return Outcome(delta)


def _rename(draft: Draft, code: object, name: object) -> Outcome:
    grid = _grid(draft, code)
    text = str(name).strip()
    if not text or len(text) > 100:
        raise InvalidInputError("a grid name is 1 to 100 characters (网格名称)")
    before = str(draft.grids.at[grid, "name"])
    delta = Delta("rename")
    if text != before:
        delta.renamed.append((grid, before, text))
    return Outcome(delta)
