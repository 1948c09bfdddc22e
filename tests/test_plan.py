"""The grid-plan model: normalisation, enumerations, clear errors."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, box
from test_io import sample_plan

from geogrid.errors import CRSError, InvalidPlanError, PlanFileError
from geogrid.io import read_plan, write_plan
from geogrid.plan import GRID_COLUMNS, GridPlan, normalise_grids, plan_digest


def _grids(**extra: list) -> gpd.GeoDataFrame:
    data = {
        "code": ["A", "A001"],
        "name": ["社区", "网格"],
        "level": [1, 2],
        "parent_code": [None, "A"],
        **extra,
    }
    return gpd.GeoDataFrame(data, geometry=[box(116.3, 40.0, 116.31, 40.01)] * 2, crs=4490)


def test_normalised_columns_dtypes_and_geometry() -> None:
    grids = normalise_grids(_grids(households=[10.0, 10.0], extra=["x", "y"]))
    assert list(grids.columns) == [*GRID_COLUMNS, "geometry"]
    assert str(grids["households"].dtype) == "Int64" and grids["households"].tolist() == [10, 10]
    assert grids["kind"].tolist() == ["urban", "urban"] and grids["priority"].tolist() == [
        "normal",
        "normal",
    ]
    assert (grids.geom_type == "MultiPolygon").all() and grids.crs.to_epsg() == 4490


def test_projected_input_is_stored_in_cgcs2000() -> None:
    grids = normalise_grids(_grids().to_crs(4547))
    assert grids.crs.to_epsg() == 4490
    assert abs(grids.total_bounds[0] - 116.3) < 1e-9


def test_plan_navigation() -> None:
    staff = pd.DataFrame(
        {"grid_code": ["A001", "A001"], "role": ["part_time", "head"], "name": ["乙", "甲"]}
    )
    plan = GridPlan("p", ["社区", "网格"], _grids(), staff)
    assert plan.depth == 2 and plan.grid("A001")["name"] == "网格"
    assert plan.children("A")["code"].tolist() == ["A001"] and plan.children(None)[
        "code"
    ].tolist() == ["A"]
    assert plan.staff_of("A001")["role"].tolist() == ["head", "part_time"]
    with pytest.raises(KeyError, match="B"):
        plan.grid("B")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": ["urban", "城市"]}, "column 'kind' has value"),
        ({"priority": ["high", "normal"]}, "allowed: key, normal"),
        ({"households": ["many", 3]}, "not a whole number"),
        ({"valid_from": ["2026-13-01", None]}, "not a date"),
        ({"level": [1, 9]}, "levels run from 1"),
    ],
)
def test_bad_values_are_named(change: dict, message: str) -> None:
    with pytest.raises(PlanFileError, match=message):
        normalise_grids(_grids(**change))


def test_missing_columns_crs_and_points() -> None:
    with pytest.raises(PlanFileError, match="lacks the column.*level"):
        normalise_grids(_grids().drop(columns="level"))
    with pytest.raises(CRSError, match="no coordinate reference system"):
        normalise_grids(_grids().set_crs(None, allow_override=True))
    points = _grids().set_geometry([Point(116.3, 40.0)] * 2)
    with pytest.raises(PlanFileError, match="Point"):
        normalise_grids(points)
    with pytest.raises(InvalidPlanError, match="1 to 6 level names"):
        GridPlan("p", [], _grids())


def test_staff_rows_need_a_name() -> None:
    staff = pd.DataFrame(
        {"grid_code": ["A001"], "role": ["head"], "name": [None], "phone": ["13800000000"]}
    )
    with pytest.raises(PlanFileError, match="staff row 1 has no name"):
        GridPlan("p", ["社区", "网格"], _grids(), staff)


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".parquet", ".shp"])
def test_digest_survives_a_write_and_read(tmp_path: Path, suffix: str) -> None:
    plan = sample_plan()
    again = read_plan(write_plan(plan, tmp_path / f"plan{suffix}"))
    assert plan_digest(again) == plan_digest(plan)


def test_digest_is_the_content_not_the_row_order_or_version() -> None:
    plan = sample_plan()
    shuffled = plan.copy()
    shuffled.grids = shuffled.grids.iloc[::-1]
    shuffled.staff, shuffled.units = shuffled.staff.iloc[::-1], shuffled.units.iloc[::-1]
    shuffled.version = 7
    assert plan_digest(shuffled) == plan_digest(plan)


def test_digest_changes_with_any_content() -> None:
    plan = sample_plan()
    renamed, moved, staffed = plan.copy(), plan.copy(), plan.copy()
    renamed.grids.loc[1, "name"] = "新名字"
    moved.grids.loc[1, "geometry"] = moved.grids.geometry[1].buffer(1e-5)
    staffed.staff.loc[0, "phone"] = "13900000000"
    titled = GridPlan("另一个名字", plan.levels, plan.grids, plan.staff, plan.units)
    digests = {plan_digest(p) for p in (plan, renamed, moved, staffed, titled)}
    assert len(digests) == 5
