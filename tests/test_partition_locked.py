"""Locked grids (专属网格) with micro-grids: the plan validates, redraws keep them."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import box
from test_partition_redraw import community as redraw_community

from geogrid.partition import Band, nested, partition, partition_areas, redraw
from geogrid.units import build_units
from geogrid.validate import validate_plan

CRS = 4547
BAND = Band(300, 500)
SCHOOL = "420106001001050"


def community(seed: int = 3, n: int = 1200):
    """The redraw tests' community (1,200 household points, two roads) and a school."""
    hh, areas, roads = redraw_community(seed=seed, n=n)
    school = gpd.GeoDataFrame(
        {"code": [SCHOOL], "name": ["学校"], "kind": ["special"], "subtype": ["school"]},
        geometry=[box(1500, 1000, 1900, 1400)],
        crs=CRS,
    )
    return hh, areas, roads, school


@pytest.fixture(scope="module")
def planned():
    hh, areas, roads, school = community()
    plan, _ = partition_areas(
        areas, hh, band=BAND, barriers=roads, locked=school, then_band=(20, 50)
    )
    return hh, plan


def micro_of(plan, code):
    micro = plan.level(3)
    return micro[micro["parent_code"] == code]


def test_locked_grid_is_its_own_micro_grid(planned):
    _, plan = planned
    assert validate_plan(plan) == []
    grid = plan.grids.set_index("code").loc[SCHOOL]
    micro = micro_of(plan, SCHOOL)
    assert len(micro) == 1
    assert micro.geometry.iloc[0].symmetric_difference(grid.geometry).area < 1e-12
    assert int(micro["households"].iloc[0]) == int(grid["households"])
    assert grid["kind"] == "special"  # the locked grid keeps what it was given
    locked_units = plan.units[plan.units["locked"]]
    assert set(locked_units["grid_code"]) == set(micro["code"])


def test_every_grid_has_micro_grids(planned):
    _, plan = planned
    parents = set(plan.level(3)["parent_code"])
    assert set(plan.level(2)["code"]) <= parents


def test_nested_cuts_locked_grids_into_one():
    hh, _, _, school = community(n=400)
    units = build_units(box(0, 0, 2000, 1500), hh, locked=school, crs=CRS)
    result = partition(units, band=(100, 200))
    micro = nested(result, (20, 50))
    locked = [g for g, label in enumerate(result.locked) if label is not None]
    assert locked and set(micro) == set(range(result.k))
    assert all(micro[g].k == 1 for g in locked)


def test_redraw_keeps_the_locked_micro_grid(planned):
    hh, plan = planned
    grown = hh.copy()
    grown.loc[grown.geometry.x < 500, "households"] += 2
    result = redraw(plan, grown, band=BAND, then_band=(20, 50))
    assert validate_plan(result.plan) == []
    before, after = micro_of(plan, SCHOOL), micro_of(result.plan, SCHOOL)
    assert list(after["code"]) == list(before["code"])
    assert after.geometry.iloc[0].equals(before.geometry.iloc[0])


def test_redraw_gives_micro_grids_to_a_bare_locked_grid(planned):
    # a plan from before locked grids had micro-grids: the redraw adds the missing one
    hh, plan = planned
    bare = plan.copy()
    old = set(micro_of(plan, SCHOOL)["code"])
    bare.grids = bare.grids[~bare.grids["code"].isin(old)].reset_index(drop=True)
    units = bare.units.copy()
    units.loc[units["grid_code"].isin(old), "grid_code"] = SCHOOL
    bare.units = units
    assert validate_plan(bare) != []
    result = redraw(bare, hh, band=BAND, then_band=(20, 50))
    assert validate_plan(result.plan) == []
    assert len(micro_of(result.plan, SCHOOL)) == 1
