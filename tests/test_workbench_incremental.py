"""Figures kept edit by edit equal figures computed afresh; undo and redo stay exact.

Random edit sequences (hypothesis) on a two-level plan and on one with micro-grids (微网格):
after every edit, undo and redo, :class:`~geogrid.workbench.evaluate.Figures` updated from
the edit's delta alone must equal a fresh :func:`~geogrid.workbench.evaluate.evaluate`.
"""

from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from geogrid.codes import child_code
from geogrid.errors import InvalidInputError, NotFoundError
from geogrid.partition import redraw
from geogrid.partition.band import Band
from geogrid.plan import GridPlan
from geogrid.workbench import Delta, Draft, apply_edit, evaluate, proposals, tiling_plan
from geogrid.workbench.evaluate import Figures
from geogrid.workbench.proposals import balance
from tests.service import street_plan, with_units

FLAT = tiling_plan(with_units(street_plan(columns=8), per_side=3, households=12), 2)


def _with_micro_grids(plan: GridPlan) -> GridPlan:
    """``plan`` with every grid of level 2 halved (west, east) into two micro-grids."""
    rows = []
    for code, geom in zip(plan.level(2)["code"], plan.level(2).geometry, strict=True):
        west, south, east, north = geom.bounds
        middle = (west + east) / 2
        for n, part in enumerate(
            (box(west, south, middle, north), box(middle, south, east, north))
        ):
            rows.append((f"{code}{n + 1:03d}", f"微网格{n + 1}", 3, code, part))
    codes, names, levels, parents, geoms = zip(*rows, strict=True)
    micro = gpd.GeoDataFrame(
        {"code": codes, "name": names, "level": levels, "parent_code": parents},
        geometry=list(geoms),
        crs=4490,
    )
    grids = gpd.GeoDataFrame(pd.concat([plan.grids, micro], ignore_index=True), crs=4490)
    return dataclasses.replace(plan, levels=[*plan.levels, "微网格"], grids=grids)


NESTED = tiling_plan(with_units(_with_micro_grids(street_plan(columns=6)), per_side=2), 2)


def _draft(nested: bool) -> Draft:
    if nested:
        return Draft(NESTED, band=Band(60, 140), then_band=Band(20, 80))
    return Draft(FLAT, band=Band(80, 140))


steps = st.lists(
    st.tuples(
        st.sampled_from(
            ["move", "move_many", "new_grid", "merge", "undo", "redo", "lock", "rename"]
        ),
        st.integers(0, 10_000),
        st.integers(0, 10_000),
    ),
    min_size=1,
    max_size=14,
)


def _step(draft: Draft, op: str, a: int, b: int) -> Delta | None:
    """One random edit, undo or redo; its delta (None when nothing changed)."""
    grids = draft.codes_at(draft.level)
    unit = str(draft.unit_ids[a % len(draft.unit_ids)])
    many = [str(u) for u in draft.unit_ids[a % 7 :: 5]]
    edits = {
        "move": {"op": "move", "units": [unit], "to": grids[b % len(grids)]},
        "move_many": {"op": "move", "units": many, "to": grids[b % len(grids)]},
        "new_grid": {"op": "new_grid", "units": [unit]},
        "merge": {"op": "merge", "grids": [grids[a % len(grids)], grids[b % len(grids)]]},
        "lock": {"op": "lock", "grid": grids[a % len(grids)], "locked": bool(b % 2)},
        "rename": {"op": "rename", "grid": grids[a % len(grids)], "name": f"网格{b}"},
    }
    try:
        if op == "undo":
            return draft.undo() if draft.can_undo else None
        if op == "redo":
            return draft.redo() if draft.can_redo else None
        delta = apply_edit(draft, edits[op]).delta
        return None if delta.empty else delta
    except (InvalidInputError, NotFoundError):
        return None  # refused: nothing changed


def _same(kept: Figures, draft: Draft) -> None:
    fresh = evaluate(draft)
    mine = kept.evaluation()
    pd.testing.assert_frame_equal(mine.grids, fresh.grids)
    assert mine.problems == fresh.problems


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps, st.booleans())
def test_figures_kept_edit_by_edit_equal_figures_afresh(
    plan: list[tuple[str, int, int]], nested: bool
) -> None:
    draft = _draft(nested)
    kept = Figures(draft)
    for op, a, b in plan:
        delta = _step(draft, op, a, b)
        if delta is not None:
            touched = kept.update(delta)
            assert set(touched) >= {c for _, old, new in delta.moves for c in (old, new)}
        assert kept.current
        _same(kept, draft)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps, st.booleans())
def test_undo_all_and_redo_all_are_exact(plan: list[tuple[str, int, int]], nested: bool) -> None:
    draft = _draft(nested)
    for op, a, b in plan:
        _step(draft, op, a, b)
    codes, grids, cursor = draft.codes.copy(), draft.grids.copy(), draft.cursor
    kept = Figures(draft)
    while draft.can_undo:
        kept.update(draft.undo())
    assert (draft.codes == draft.base_codes).all()
    _same(kept, draft)
    while draft.cursor < cursor:
        kept.update(draft.redo())
    assert (draft.codes == codes).all()
    pd.testing.assert_frame_equal(draft.grids.sort_index(), grids.sort_index())
    _same(kept, draft)


def test_a_move_recomputes_only_the_grids_it_touched() -> None:
    draft = _draft(False)
    kept = Figures(draft)
    source, target = draft.codes_at(2)[:2]
    units = [str(u) for u in draft.unit_ids[draft.members(source)][:2]]
    delta = apply_edit(draft, {"op": "move", "units": units, "to": target}).delta
    assert sorted(kept.update(delta)) == sorted([source, target])
    assert kept.rows[target]["households"] == 9 * 12 + 2 * 12
    assert np.isin(draft.members(target), list(kept.members[2][target])).all()


def _whole_plan_balance(draft: Draft, grid: str) -> int:
    """Households the redraw moves on the whole draft, all but ``grid``'s corner locked."""
    plan = draft.to_plan()
    owner = draft.at_level()
    near = set(proposals._with_neighbours(draft, [grid], owner))
    plan.units["locked"] = draft.locked_units() | ~np.isin(owner, sorted(near))
    result = redraw(
        plan,
        plan.units[["unit_id", "name", "households", "geometry"]],
        band=draft.band,
        level=draft.level,
        then_band=draft.then_band if draft.base.depth > draft.level else None,
        allow_out_of_band=True,
        id_column="unit_id",
    )
    return result.moved_households


@pytest.mark.parametrize("nested", [False, True])
@pytest.mark.parametrize("count", [3, 8, 20])
def test_balance_on_the_neighbourhood_moves_no_more_than_the_whole_redraw(
    nested: bool, count: int
) -> None:
    draft = _draft(nested)
    grids = draft.codes_at(draft.level)
    source, target = grids[2], grids[3]
    units = [str(u) for u in draft.unit_ids[draft.members(source)][:count]]
    apply_edit(draft, {"op": "move", "units": units, "to": target})
    bound = _whole_plan_balance(draft, target)
    proposal = balance(
        draft, [target], taken={child_code(draft.grids.at[target, "parent_code"], 99)}
    )
    assert proposal.moved_households <= bound
    used = set(draft.grids.index) | set(draft.base_geoms)
    assert not {r["code"] for r in proposal.delta.added} & used  # new codes are new
    kept = Figures(draft)
    draft.apply(proposal.delta)
    kept.update(proposal.delta)
    _same(kept, draft)
    assert (draft.codes[draft.unit_locked] == draft.base_codes[draft.unit_locked]).all()
    draft.undo()
    kept.update(draft.log[draft.cursor])
    _same(kept, draft)
