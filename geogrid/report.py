"""Per-grid and per-level figures of a plan: households, area, shape, staff.

Areas are computed in a metric CRS chosen for the plan (:func:`geogrid.crs.metric_crs`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import shapely

from geogrid.crs import metric_crs
from geogrid.plan import GridPlan, StaffRole

__all__ = ["grid_table", "level_summary"]


def grid_table(plan: GridPlan) -> pd.DataFrame:
    """One row per grid: code, name, level, kind, households, area, shape and staff.

    ``polsby_popper`` is 4πA/P² (1 for a circle); ``parts`` counts the polygons of the grid
    (1 = contiguous).
    """
    grids = plan.grids
    metric = grids.geometry.to_crs(metric_crs(grids.geometry)).to_numpy()
    area = shapely.area(metric)
    perimeter = shapely.length(metric)
    with np.errstate(divide="ignore", invalid="ignore"):
        pp = np.where(perimeter > 0, 4 * math.pi * area / perimeter**2, np.nan)
    heads = plan.staff[plan.staff["role"] == StaffRole.HEAD.value].drop_duplicates("grid_code")
    head = heads.set_index("grid_code")
    table = pd.DataFrame(
        {
            "code": grids["code"],
            "name": grids["name"],
            "level": grids["level"],
            "parent_code": grids["parent_code"],
            "kind": grids["kind"],
            "households": grids["households"],
            "area_m2": area.round(1),
            "polsby_popper": np.round(pp, 3),
            "parts": shapely.get_num_geometries(metric),
            "head": grids["code"].map(head["name"]),
            "phone": grids["code"].map(head["phone"]),
        }
    )
    return table.sort_values(["level", "code"], kind="stable").reset_index(drop=True)


def level_summary(plan: GridPlan) -> pd.DataFrame:
    """One row per level: name, grid count, households (total, min, median, max), area."""
    table = grid_table(plan)
    rows = []
    for level, name in enumerate(plan.levels, start=1):
        part = table[table["level"] == level]
        hh = part["households"].dropna()
        rows.append(
            {
                "level": level,
                "name": name,
                "grids": len(part),
                "households": int(hh.sum()) if len(hh) else None,
                "min_households": int(hh.min()) if len(hh) else None,
                "median_households": float(hh.median()) if len(hh) else None,
                "max_households": int(hh.max()) if len(hh) else None,
                "area_km2": round(float(part["area_m2"].sum()) / 1e6, 3),
            }
        )
    return pd.DataFrame(rows)
