"""Testing helpers for code that produces grid plans (like ``geopandas.testing``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from geogrid.plan import GridPlan

__all__ = ["assert_plans_equal"]


def assert_plans_equal(left: GridPlan, right: GridPlan, *, tolerance: float = 1e-7) -> None:
    """Assert two plans hold the same metadata, attributes and geometries.

    Rows are compared in a canonical order (grids by level and code, staff by grid, role and
    name, units by id); attributes must be identical, dtypes included; geometries equal within
    ``tolerance`` degrees (``shapely.equals_exact`` after normalising ring order).
    """
    assert left.name == right.name, f"plan names differ: {left.name!r} != {right.name!r}"
    assert left.levels == right.levels, f"levels differ: {left.levels} != {right.levels}"
    assert left.attribution == right.attribution, "attributions differ"
    _frames_equal(
        _sorted(left.grids, ["level", "code"]),
        _sorted(right.grids, ["level", "code"]),
        tolerance,
        "grids",
    )
    _frames_equal(
        _sorted(left.units, ["unit_id"]), _sorted(right.units, ["unit_id"]), tolerance, "units"
    )
    keys = ["grid_code", "role", "name"]
    pd.testing.assert_frame_equal(
        _sorted(left.staff, keys), _sorted(right.staff, keys), obj="staff"
    )


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def _frames_equal(left: pd.DataFrame, right: pd.DataFrame, tolerance: float, what: str) -> None:
    attributes = [c for c in left.columns if c != "geometry"]
    pd.testing.assert_frame_equal(
        pd.DataFrame(left[attributes]), pd.DataFrame(right[attributes]), obj=what
    )
    a = shapely.normalize(left.geometry.to_numpy())
    b = shapely.normalize(right.geometry.to_numpy())
    same = shapely.equals_exact(a, b, tolerance=tolerance)
    if not np.all(same):
        bad = np.flatnonzero(~same)
        raise AssertionError(
            f"{what}: {len(bad)} geometries differ beyond {tolerance}, first at row {bad[0]}"
        )
