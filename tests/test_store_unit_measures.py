"""Unit measures kept beside a stored version (migration 0013) open the same draft.

Both stores: a partition-like plan gets its measures when saved; a draft opened with them
equals one measured afresh (edges, areas, perimeters, points, figures); a version without
them (saved before 0013) gets them at its first open; measures of other units are ignored;
a hand-drawn plan (building footprints) keeps none.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import shapely
import sqlalchemy as sa

from geogrid.access import Caller
from geogrid.plan import GridPlan
from geogrid.samples import load_sample
from geogrid.store import PlanStore
from geogrid.store.unit_measures import unit_measures
from geogrid.units.measures import UnitMeasures, measure_units
from geogrid.workbench import Draft, evaluate
from geogrid.workbench.service import Workbench
from geogrid.workbench.views import units_compact
from tests.service import street_plan, with_units

PLANNER = Caller.local("规划员")


def _plan() -> GridPlan:
    return with_units(street_plan(8), per_side=3)


def _same_measures(a: UnitMeasures, b: UnitMeasures) -> None:
    assert a.digest == b.digest and a.coverage == b.coverage
    for name in ("edges", "area", "perimeter", "points"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert (a.drawing is None) == (b.drawing is None)
    if a.drawing is not None and b.drawing is not None:
        assert a.drawing.scale == b.drawing.scale
        for name in ("origin", "rings", "sizes", "xy"):
            assert np.array_equal(getattr(a.drawing, name), getattr(b.drawing, name)), name


def test_a_saved_version_keeps_its_measures(store: PlanStore) -> None:
    plan = _plan()
    info = store.save(plan, by="规划员")
    kept = store.unit_measures(plan.name, info.version)
    assert kept is not None and kept.tiles == (1, 2)
    stored = store.get(plan.name, info.version)
    _same_measures(kept.measures, measure_units(stored.units.reset_index(drop=True)))


def test_a_draft_opened_with_kept_measures_equals_one_measured(store: PlanStore) -> None:
    plan = _plan()
    info = store.save(plan, by="规划员")
    stored = store.get(plan.name, info.version)
    kept = store.unit_measures(plan.name, info.version)
    assert kept is not None
    quick = Draft(stored, level=2, measures=kept.measures)
    slow = Draft(stored, level=2)
    _same_measures(quick.measures, slow.measures)
    assert shapely.to_wkb(quick.points).tolist() == shapely.to_wkb(slow.points).tolist()
    one, other = evaluate(quick), evaluate(slow)
    assert one.grids.equals(other.grids) and one.problems == other.problems
    assert units_compact(quick) == units_compact(slow)
    undrawn = Draft(stored, level=2, measures=dataclasses.replace(kept.measures, drawing=None))
    assert units_compact(undrawn) == units_compact(quick)  # rings taken apart when not kept


def test_measures_of_other_units_are_not_used() -> None:
    plan = _plan()
    draft = Draft(plan, level=2)
    moved = plan.units.copy()
    moved["geometry"] = moved.geometry.translate(xoff=1e-6)
    other = Draft(dataclasses.replace(plan, units=moved), level=2, measures=draft.measures)
    assert other.measures.digest != draft.measures.digest
    _same_measures(other.measures, Draft(dataclasses.replace(plan, units=moved)).measures)


def test_a_version_without_measures_gets_them_at_its_first_open(store: PlanStore) -> None:
    plan = _plan()
    info = store.save(plan, by="规划员")
    with store._writing("test") as connection:  # a version saved before migration 0013
        connection.execute(sa.delete(unit_measures))
    assert store.unit_measures(plan.name, info.version) is None
    bench = Workbench(store)
    first = bench.open(PLANNER, plan.name)
    kept = store.unit_measures(plan.name, info.version)
    assert kept is not None and kept.tiles == (1, 2)
    _same_measures(kept.measures, bench.draft(first).measures)
    again = Workbench(store).open(PLANNER, plan.name)  # another process: read, not measured
    one = Workbench(store).evaluation(again)
    other = bench.evaluation(first)
    assert one.grids.equals(other.grids)


def test_building_footprints_keep_no_measures(store: PlanStore) -> None:
    plan = load_sample("haidian")
    info = store.save(plan, by="规划员")
    assert store.unit_measures(plan.name, info.version) is None


@pytest.mark.parametrize("per_side", [1, 4])
def test_measures_round_trip_as_bytes(per_side: int) -> None:
    units = with_units(street_plan(4), per_side=per_side).units
    measures = measure_units(units)
    back = UnitMeasures.from_bytes(measures.to_bytes())
    assert back is not None
    _same_measures(back, measures)
