"""Plans read column by column (raw geometry bytes, one vectorised decode) equal the row read.

The reference is the read as it was: every row through the geometry column type
(:class:`geogrid.store.schema.MultiPolygonType`, one decode per row). Both stores, plans of
several shapes: units with holes and several parts, grids with an empty geometry, no units.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, box

from geogrid.plan import GRID_COLUMNS, PLAN_CRS, STAFF_COLUMNS, UNIT_COLUMNS, GridPlan
from geogrid.store import PlanStore, open_store, plan_reads, schema
from geogrid.store.plan_reads import load_plan, load_plans, staff_in_force
from tests.service import street_plan, with_units


def _row_read(
    connection: sa.Connection, table: sa.Table, version_id: int, columns: list[str], **kw: Any
) -> pd.DataFrame:
    """The rows of one version read one by one through the column types (the old read)."""
    geometry = kw.get("geometry", False)
    selected = [table.c[c] for c in columns] + ([table.c.geom] if geometry else [])
    query = sa.select(*selected).where(table.c.version_id == version_id)
    if kw.get("where") is not None:
        query = query.where(kw["where"])
    rows = [tuple(r) for r in connection.execute(query.order_by(table.c.id))]
    frame = pd.DataFrame([r[: len(columns)] for r in rows], columns=columns, dtype=object)
    if not geometry:
        return frame
    geoms = gpd.GeoSeries([r[len(columns)] for r in rows], crs=PLAN_CRS)
    return gpd.GeoDataFrame(frame, geometry=geoms, crs=PLAN_CRS)


def _reference(connection: sa.Connection, row: sa.Row[Any]) -> GridPlan:
    grids = _row_read(connection, schema.grids, row.id, list(GRID_COLUMNS), geometry=True)
    staff = _row_read(
        connection, schema.staff, row.id, list(STAFF_COLUMNS), where=staff_in_force(None)
    )
    units = _row_read(connection, schema.units, row.id, list(UNIT_COLUMNS), geometry=True)
    return plan_reads._plan(row, grids, staff, units)  # as the store puts a plan together


def _assert_identical(actual: GridPlan, expected: GridPlan) -> None:
    """The same tables, dtypes, values and exactly the same coordinates."""
    for table in ("grids", "staff", "units"):
        got, want = getattr(actual, table), getattr(expected, table)
        if isinstance(want, gpd.GeoDataFrame):
            assert got.crs == want.crs
            same = shapely.to_wkb(got.geometry.to_numpy()) == shapely.to_wkb(
                want.geometry.to_numpy()
            )
            assert bool(np.all(same)), table
            got, want = pd.DataFrame(got.drop(columns="geometry")), want.drop(columns="geometry")
        pd.testing.assert_frame_equal(got, pd.DataFrame(want))
    assert (actual.name, actual.levels, actual.version) == (
        expected.name,
        expected.levels,
        expected.version,
    )


def _odd_plan(holes: bool, empty_grid: bool, parts: bool) -> GridPlan:
    """A small street whose units have holes or two parts, a grid with an empty polygon."""
    plan = with_units(street_plan(4), per_side=2)
    rows = [
        {c: (None if pd.isna(v) else v) for c, v in r.items()}
        for r in plan.units.astype(object).to_dict("records")
    ]
    if holes:
        first = rows[0]["geometry"].geoms[0]
        hole = shapely.Polygon(first.exterior).buffer(-first.length / 20).exterior
        rows[0]["geometry"] = shapely.Polygon(first.exterior, [hole])
        rows.append({**rows[0], "unit_id": "hole-filler", "geometry": shapely.Polygon(hole)})
    if parts:
        a, b = rows[1]["geometry"].geoms[0], rows[2]["geometry"]
        rows[1]["geometry"] = MultiPolygon([a, box(*b.bounds)])
        del rows[2]
    rows[3]["name"] = "院落"
    rows[4]["locked"] = True
    rows[5]["households"] = None
    grids = plan.grids.copy()
    if empty_grid:
        grids.loc[len(grids) - 1, "geometry"] = MultiPolygon()
    units = gpd.GeoDataFrame(rows, geometry="geometry", crs=PLAN_CRS)
    return dataclasses.replace(plan, grids=grids, units=units)


def _stored(store: PlanStore, plan: GridPlan) -> tuple[GridPlan, GridPlan, list[GridPlan]]:
    """``plan`` stored: read column by column, row by row, and through ``load_plans``."""
    info = store.save(plan, by="规划员")
    store.approve(plan.name, info.version, by="审核员")
    store.activate(plan.name, info.version, by="审核员")
    with store._reading("test") as connection:
        table = schema.plan_versions
        query = sa.select(table).where(
            table.c.plan_name == info.plan, table.c.version == info.version
        )
        row = connection.execute(query).one()
        columnar, rows = load_plan(connection, row), _reference(connection, row)
        many = [p for r, p in load_plans(connection) if r.id == row.id]
    return columnar, rows, many


@pytest.mark.parametrize(
    "plan",
    [
        pytest.param(with_units(street_plan(6), per_side=3), id="street"),
        pytest.param(street_plan(4), id="no-units"),
        pytest.param(_odd_plan(True, True, True), id="holes-parts-empty"),
    ],
)
def test_columnar_read_equals_the_row_read(store: PlanStore, plan: GridPlan) -> None:
    columnar, rows, many = _stored(store, plan)
    _assert_identical(columnar, rows)
    assert len(many) == 1
    _assert_identical(many[0], rows)


@hypothesis_settings(max_examples=6, deadline=None)
@given(
    holes=st.booleans(),
    empty_grid=st.booleans(),
    parts=st.booleans(),
    x=st.floats(min_value=-179.0, max_value=179.0, allow_nan=False),
)
def test_columnar_read_any_shape_embedded(
    tmp_path_factory: pytest.TempPathFactory, holes: bool, empty_grid: bool, parts: bool, x: float
) -> None:
    plan = _odd_plan(holes, empty_grid, parts)
    shift = x - float(plan.grids.total_bounds[0])
    plan = dataclasses.replace(
        plan,
        grids=plan.grids.set_geometry(plan.grids.geometry.translate(xoff=shift)),
        units=plan.units.set_geometry(plan.units.geometry.translate(xoff=shift)),
    )
    path = tmp_path_factory.mktemp("columnar") / "plans.gpkg"
    with open_store(f"sqlite:///{path}") as store:
        columnar, rows, many = _stored(store, plan)
    _assert_identical(columnar, rows)
    _assert_identical(many[0], rows)
