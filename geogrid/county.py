"""The county view: the plans of several jurisdictions in force at once, as one plan.

Each street office or township keeps its own plan (:mod:`geogrid.store.jurisdictions`); the
county's platform reads them together. :func:`union_plan` joins them into one
:class:`~geogrid.plan.GridPlan` for what works on one plan — maps, reports, exports — while
the service locates through one index per jurisdiction (:mod:`geogrid.locate.county`).
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import pandas as pd

from geogrid.errors import InvalidPlanError
from geogrid.plan import PLAN_CRS, GridPlan

__all__ = ["union_plan"]


def union_plan(plans: Sequence[GridPlan], *, name: str | None = None) -> GridPlan:
    """Every grid, unit and staff row of ``plans`` in one plan.

    Parameters
    ----------
    plans
        Plans of jurisdictions that do not overlap and share no grid code (the store checks
        both when it activates a version).
    name
        Name of the union; default: the plans' names joined with ``+``.

    Returns
    -------
    GridPlan
        Level names are the deepest plan's (each plan keeps its own in the store; the level
        *numbers* agree: 1 is every plan's top). ``version`` is ``None``.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> def plan(code, x):
    ...     grids = gpd.GeoDataFrame({"code": [code], "name": [code], "level": [1]},
    ...                              geometry=[box(x, 0, x + 1, 1)], crs=4490)
    ...     return GridPlan(code, ["街道"], grids)
    >>> union = union_plan([plan("A", 0), plan("B", 1)])
    >>> union.name, sorted(union.grids["code"])
    ('A+B', ['A', 'B'])
    """
    if not plans:
        raise InvalidPlanError("no plans to join: activate at least one jurisdiction's plan")
    if len(plans) == 1:
        return plans[0]
    grids = pd.concat([p.grids for p in plans], ignore_index=True)
    codes = grids["code"].dropna()
    repeated = codes[codes.duplicated()]
    if len(repeated):
        raise InvalidPlanError(
            f"grid code {repeated.iloc[0]!r} is in two of the plans joined: codes must be "
            "unique across the county"
        )
    levels = max((list(p.levels) for p in plans), key=len)
    units = [p.units for p in plans if p.units is not None and len(p.units)]
    return GridPlan(
        name=name or "+".join(str(p.name) for p in plans),
        levels=levels,
        grids=gpd.GeoDataFrame(grids, geometry="geometry", crs=PLAN_CRS),
        staff=pd.concat([p.staff for p in plans], ignore_index=True),
        units=gpd.GeoDataFrame(pd.concat(units, ignore_index=True), crs=PLAN_CRS)
        if units
        else None,
        attribution="; ".join(dict.fromkeys(p.attribution for p in plans if p.attribution)),
    )
