"""Drafts under random edits: households kept, coverage whole, pieces counted right, undo exact."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geogrid.errors import InvalidInputError, NotFoundError
from geogrid.partition.band import Band
from geogrid.validate import validate_plan
from geogrid.workbench import Draft, apply_edit, evaluate, tiling_plan
from geogrid.workbench.proposals import balance
from geogrid.workbench.views import units_compact, units_geojson
from tests.service import street_plan, with_units

BASE = tiling_plan(with_units(street_plan(columns=8), per_side=3, households=12), 2)
TOTAL = int(BASE.units["households"].sum())


def _draft() -> Draft:
    return Draft(BASE, band=Band(80, 140))


edits = st.lists(
    st.tuples(
        st.sampled_from(["move", "new_grid", "merge", "undo", "redo", "lock"]),
        st.integers(0, 10_000),
        st.integers(0, 10_000),
    ),
    min_size=1,
    max_size=12,
)


def _random_edit(draft: Draft, op: str, a: int, b: int) -> None:
    grids = draft.codes_at(2)
    unit = str(draft.unit_ids[a % len(draft.unit_ids)])
    try:
        if op == "move":
            apply_edit(draft, {"op": "move", "units": [unit], "to": grids[b % len(grids)]})
        elif op == "new_grid":
            apply_edit(draft, {"op": "new_grid", "units": [unit]})
        elif op == "merge":
            apply_edit(
                draft, {"op": "merge", "grids": [grids[a % len(grids)], grids[b % len(grids)]]}
            )
        elif op == "lock":
            apply_edit(draft, {"op": "lock", "grid": grids[a % len(grids)], "locked": bool(b % 2)})
        elif op == "undo" and draft.can_undo:
            draft.undo()
        elif op == "redo" and draft.can_redo:
            draft.redo()
    except (InvalidInputError, NotFoundError):
        pass  # refused with a reason: the draft must be unchanged (checked by the invariants)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits)
def test_random_edits_keep_the_invariants(steps: list[tuple[str, int, int]]) -> None:
    draft = _draft()
    for op, a, b in steps:
        _random_edit(draft, op, a, b)
        found = evaluate(draft)
        level2 = found.grids[found.grids["level"] == 2]
        # every unit in exactly one grid of the draft; households conserved
        assert set(draft.at_level(2).tolist()) <= set(draft.codes_at(2))
        assert int(level2["households"].sum()) == TOTAL
        # pieces as the polygons say: a grid's units, snapped to a 0.1 mm grid so that shared
        # edges are exact, union into that many parts (units meeting at a corner stay apart)
        for code, pieces in zip(level2["code"], level2["pieces"], strict=True):
            geoms = draft.units.geometry.to_numpy()[draft.members(code)]
            if len(geoms):
                union = shapely.union_all(shapely.set_precision(geoms, 1e-9))
                assert len(shapely.get_parts(union)) == pieces, code
    plan = draft.to_plan()
    errors = [p for p in validate_plan(plan) if p.severity.value == "error"]
    assert errors == []  # coverage whole, no overlaps, nested
    while draft.can_undo:
        draft.undo()
    assert (draft.codes == draft.base_codes).all()
    assert sorted(draft.codes_at(2)) == sorted(BASE.level(2)["code"])


def test_split_along_a_line_keeps_units_whole() -> None:
    draft = _draft()
    code = draft.codes_at(2)[0]
    west, south, east, north = draft.geometry(code).bounds
    x = west + 0.4 * (east - west)  # through the middle column of units
    outcome = apply_edit(
        draft, {"op": "split", "grid": code, "line": [[x, south - 1e-3], [x, north + 1e-3]]}
    )
    (new,) = [r["code"] for r in outcome.delta.added]
    assert outcome.notes and "整体归入多数一侧" in outcome.notes[0]
    a, b = draft.members(code), draft.members(new)
    assert len(a) + len(b) == 9 and len(a) and len(b)
    assert not (set(a) & set(b))
    found = evaluate(draft).grids.set_index("code")
    assert found.at[code, "pieces"] == 1 and found.at[new, "pieces"] == 1


def test_balance_moves_fewest_households_back_into_band() -> None:
    draft = _draft()
    grids = draft.codes_at(2)
    source, target = grids[0], grids[1]
    apply_edit(
        draft,
        {"op": "move", "units": list(draft.unit_ids[draft.members(source)][:4]), "to": target},
    )
    before = evaluate(draft).grids.set_index("code")
    assert before.at[source, "status"] == "low"
    proposal = balance(draft, [source])
    draft.apply(proposal.delta)
    after = evaluate(draft).grids
    assert (after.loc[after["level"] == 2, "status"] == "ok").all()
    gap = 80 - int(before.at[source, "households"])  # the lower bound: no fewer can move
    assert gap <= proposal.moved_households <= 48  # never more than the planner's own move


def test_a_locked_grid_refuses_moves_and_balance_leaves_it() -> None:
    draft = _draft()
    grids = draft.codes_at(2)
    apply_edit(draft, {"op": "lock", "grid": grids[1], "locked": True})
    unit = str(draft.unit_ids[draft.members(grids[0])][0])
    with pytest.raises(InvalidInputError, match="已锁定"):
        apply_edit(draft, {"op": "move", "units": [unit], "to": grids[1]})
    locked_units = set(draft.members(grids[1]).tolist())
    apply_edit(
        draft,
        {
            "op": "move",
            "units": [str(u) for u in draft.unit_ids[draft.members(grids[0])][:4]],
            "to": grids[2],
        },
    )
    proposal = balance(draft)
    assert not {u for u, _, _ in proposal.delta.moves} & locked_units
    assert np.isin(list(locked_units), draft.members(grids[1])).all()


def _decoded(payload: dict) -> list[dict]:
    """Units of a compact payload (``units_compact``) as properties and a shapely polygon."""
    steps = np.array(payload["xy"], dtype=np.int64).reshape(-1, 2)
    origin, scale = np.array(payload["origin"]), payload["scale"]
    units, point, ring = [], 0, 0
    for i, unit_id in enumerate(payload["ids"]):
        rings = []
        for size in payload["sizes"][ring : ring + payload["rings"][i]]:
            part = steps[point : point + size].copy()
            part[0] += origin
            rings.append(np.cumsum(part, axis=0) / scale)
            point += size
        ring += payload["rings"][i]
        units.append(
            {
                "unit_id": unit_id,
                "name": payload["names"][i],
                "households": payload["households"][i],
                "grid": payload["codes"][payload["grid"][i]],
                "code": payload["codes"][payload["code"][i]],
                "locked": bool(payload["locked"][i]),
                "colour": payload["colours"][payload["codes"][payload["grid"][i]]],
                "rings": rings,
            }
        )
    return units


def test_compact_units_hold_what_the_geojson_holds() -> None:
    draft = _draft()
    unit = str(draft.unit_ids[0])
    apply_edit(draft, {"op": "move", "units": [unit], "to": draft.codes_at(2)[1]})
    compact = _decoded(orjson.loads(units_compact(draft)))
    features = orjson.loads(units_geojson(draft))["features"]
    assert len(compact) == len(features)
    for got, feature in zip(compact, features, strict=True):
        want = feature["properties"]
        assert {k: got[k] for k in want if k != "kind"} == {
            k: v for k, v in want.items() if k != "kind"
        }
        shape = shapely.geometry.shape(feature["geometry"])
        rings = shapely.get_rings(shapely.get_parts(shape))
        assert len(rings) == len(got["rings"])
        for ring, mine in zip(rings, got["rings"], strict=True):
            assert np.allclose(np.asarray(ring.coords)[:-1], mine, rtol=0, atol=2e-7)


def test_a_fresh_draft_starts_at_the_base_and_shares_no_edit() -> None:
    draft = _draft()
    before = (draft.codes.copy(), draft.grids.copy(), evaluate(draft).grids)
    codes = draft.codes_at(2)
    apply_edit(draft, {"op": "move", "units": [str(draft.unit_ids[0])], "to": codes[1]})
    apply_edit(draft, {"op": "lock", "grid": codes[2], "locked": True})
    other = draft.fresh(band=Band(80, 140))
    assert (other.codes == before[0]).all() and other.grids.equals(before[1])
    assert not other.can_undo and draft.can_undo
    assert other.edges is draft.edges  # the measures are shared, not made again
    assert evaluate(other).grids.equals(before[2])
    apply_edit(other, {"op": "move", "units": [str(draft.unit_ids[1])], "to": codes[1]})
    assert draft.codes[1] == before[0][1]  # an edit of one is not in the other
