"""The units a redraw moves: the plan's own tessellated units, or cells built in its grids.

A plan made by ``geogrid partition`` carries units that tile its grids (cells, estates), and a
redraw moves those. A plan drawn by hand or imported from another system has grids and at most
the buildings' footprints (which leave the land between them uncovered) — then every grid is
cut into one cell per building on the fly (:func:`geogrid.units.units_in_grids`): every cell
lies in one old grid, a building the old lines cut goes wholly to the grid holding most of it
and is listed. Both give, per parent, a :class:`ParentUnits`; the households are counted in
the unit holding them by the one rule of :func:`geogrid.units.household_areas`.
"""

from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geogrid.partition.plan import geoms_to_plan_crs
from geogrid.plan import PLAN_CRS, GridKind, GridPlan
from geogrid.units import Units, household_areas, units_from_polygons, units_in_grids
from geogrid.units.coverage import SNAP_DECIMALS, is_coverage, snapped

__all__ = ["TILE_SHARE", "ParentUnits", "ancestor_codes", "parent_units", "units_tile"]

TILE_SHARE = 0.99
"""Units covering at least this share of the grids' area tile them (a partition-made plan)."""


@dataclasses.dataclass
class ParentUnits:
    """The units of the grids under one parent, ready to move.

    Attributes
    ----------
    parent
        Code of the parent grid.
    codes
        Codes of the grids redrawn (the parent's children at the level).
    units
        The units in a metric CRS, households counted now.
    old
        Position in ``codes`` of every unit's grid.
    locked
        True for a unit that must not move (a locked grid's, or a special grid's 专属网格).
    frame
        The units as plan rows (EPSG:4490): ``unit_id``, ``name``, ``kind``, ``households``,
        ``grid_code`` (deepest), ``locked``, geometry.
    plan_rows
        Rows of the plan's ``units`` these are, or ``None`` when built from the grids.
    rows, home
        Household rows counted here and the unit (position) each is counted in.
    cut
        Buildings the old grid lines cut: ``row`` (household row), ``code`` (grid counted in),
        ``share`` (of the footprint inside it).
    """

    parent: str
    codes: list[str]
    units: Units
    old: np.ndarray
    locked: np.ndarray
    frame: gpd.GeoDataFrame
    plan_rows: np.ndarray | None
    rows: np.ndarray
    home: np.ndarray
    cut: pd.DataFrame

    def union(self, mask: np.ndarray) -> shapely.Geometry:
        """The land of the units in ``mask`` as one geometry in EPSG:4490."""
        if self.plan_rows is not None:
            return _land(self.frame.geometry.to_numpy()[mask])
        land = _land(self.units.table.geometry.to_numpy()[mask])
        return geoms_to_plan_crs(np.array([land], dtype=object), self.units.crs)[0]


def _land(geoms: np.ndarray) -> shapely.Geometry:
    """The union of units that tile their land: the fast coverage union, else the full one.

    A file's units may be noded a few 1e-14° apart (written and read back in lon/lat), which
    the coverage union refuses; the full union, on valid parts, takes them.
    """
    try:
        return shapely.coverage_union_all(geoms)
    except shapely.errors.GEOSException:
        return shapely.union_all(shapely.make_valid(geoms))


def units_tile(plan: GridPlan, level: int) -> bool:
    """Whether the plan's units cover its grids of ``level`` (as ``partition`` writes them).

    Examples
    --------
    >>> from geogrid.samples import load_sample
    >>> units_tile(load_sample("haidian"), 2)  # hand-drawn grids, building footprints
    False
    """
    if plan.units is None or len(plan.units) == 0:
        return False
    target = TILE_SHARE * float(shapely.area(plan.level(level).geometry.to_numpy()).sum())
    geoms = plan.units.geometry.to_numpy()
    if float(shapely.area(geoms).sum()) < target:  # a union is never larger than its parts
        return False
    near = snapped(geoms, SNAP_DECIMALS["degree"])
    if is_coverage(near):
        return True  # no overlaps: the union is as large as the parts (and no union to make)
    return bool(shapely.area(shapely.union_all(shapely.make_valid(geoms))) >= target)


def parent_units(
    plan: GridPlan, homes: gpd.GeoDataFrame, level: int, ids: np.ndarray
) -> list[ParentUnits]:
    """The units of every parent of ``level``'s grids, households ``homes`` (EPSG:4490).

    ``ids`` names every household row; a cell built around a building takes its id.
    """
    grids = plan.level(level)
    parents = sorted(set(grids["parent_code"].dropna().astype(str)))
    points = np.asarray(homes.geometry.array, dtype=object)
    counts = _counts(homes)
    if units_tile(plan, level):
        return _from_plan(plan, grids, parents, points, counts, level)
    return _from_grids(plan, grids, parents, homes, points, ids, level)


def _counts(homes: gpd.GeoDataFrame) -> np.ndarray:
    if "households" not in homes:
        return np.ones(len(homes))
    return pd.to_numeric(homes["households"], errors="coerce").fillna(0).to_numpy(float)


def _from_plan(
    plan: GridPlan,
    grids: gpd.GeoDataFrame,
    parents: list[str],
    points: np.ndarray,
    counts: np.ndarray,
    level: int,
) -> list[ParentUnits]:
    units = plan.units
    owner = ancestor_codes(plan, units["grid_code"].astype(str).to_numpy(), level)
    home = household_areas(units.geometry.to_numpy(), points)
    inside = home >= 0
    households = np.bincount(home[inside], weights=counts[inside], minlength=len(units))
    found = []
    for parent in parents:
        codes = list(grids.loc[grids["parent_code"] == parent, "code"].astype(str))
        rows = np.flatnonzero(np.isin(owner, codes))
        if len(rows) == 0:
            continue
        frame = units.iloc[rows].assign(households=households[rows].astype(np.int64))
        position = np.full(len(units), -1, dtype=np.int64)
        position[rows] = np.arange(len(rows))
        mine = np.flatnonzero(inside & (position[np.maximum(home, 0)] >= 0))
        index = {c: i for i, c in enumerate(codes)}
        found.append(
            ParentUnits(
                parent=parent,
                codes=codes,
                units=units_from_polygons(frame, id_column="unit_id", name_column="name"),
                old=np.array([index[c] for c in owner[rows]], dtype=np.int64),
                locked=frame["locked"].fillna(False).to_numpy(bool),
                frame=frame,
                plan_rows=rows,
                rows=mine,
                home=position[home[mine]],
                cut=pd.DataFrame({"row": [], "code": [], "share": []}),
            )
        )
    return found


def _from_grids(
    plan: GridPlan,
    grids: gpd.GeoDataFrame,
    parents: list[str],
    homes: gpd.GeoDataFrame,
    points: np.ndarray,
    ids: np.ndarray,
    level: int,
) -> list[ParentUnits]:
    grid_of_row = household_areas(grids.geometry.to_numpy(), points)
    codes_at_level = grids["code"].astype(str).to_numpy()
    found = []
    for parent in parents:
        children = grids[grids["parent_code"] == parent]
        codes = list(children["code"].astype(str))
        rows = np.flatnonzero(
            (grid_of_row >= 0) & np.isin(codes_at_level[np.maximum(grid_of_row, 0)], codes)
        )
        built = units_in_grids(children, homes.iloc[rows])
        table = built.units.table
        kinds = children["kind"].astype(object).to_numpy()
        special = np.array([k == GridKind.SPECIAL.value for k in kinds], dtype=bool)
        counted = built.home >= 0
        unit_ids = [f"{parent}-c{i + 1}" for i in range(len(table))]
        for row, unit in zip(rows[counted].tolist(), built.home[counted].tolist(), strict=True):
            if unit_ids[unit].startswith(f"{parent}-c"):
                unit_ids[unit] = str(ids[row])
        geoms = geoms_to_plan_crs(table.geometry.to_numpy(), built.units.crs)
        old_codes = np.array(codes, dtype=object)[built.grid]
        frame = gpd.GeoDataFrame(
            {
                "unit_id": unit_ids,
                "name": table["name"].to_numpy(object),
                "kind": table["kind"].to_numpy(object),
                "households": table["households"].to_numpy(np.int64),
                "grid_code": _deepest(plan, old_codes, geoms, level),
                "locked": special[built.grid],
            },
            geometry=geoms,
            crs=PLAN_CRS,
        )
        found.append(
            ParentUnits(
                parent=parent,
                codes=codes,
                units=built.units,
                old=built.grid,
                locked=special[built.grid],
                frame=frame,
                plan_rows=None,
                rows=rows[counted],
                home=built.home[counted],
                cut=pd.DataFrame(
                    {
                        "row": rows[built.cut["row"].to_numpy(np.int64)],
                        "code": np.array(codes, dtype=object)[built.cut["grid"].to_numpy(np.int64)],
                        "share": built.cut["share"].to_numpy(float),
                    }
                ),
            )
        )
    return found


def _deepest(plan: GridPlan, codes: np.ndarray, geoms: np.ndarray, level: int) -> np.ndarray:
    """The deepest grid holding every unit: its grid's micro-grid (and below) when it has one."""
    out = codes.copy()
    points = shapely.point_on_surface(geoms)
    for below in range(level + 1, plan.depth + 1):
        rows = plan.level(below)
        if len(rows) == 0:
            break
        parent = rows["parent_code"].astype(str).to_numpy()
        for code in sorted(set(out.tolist())):
            kids = np.flatnonzero(parent == code)
            mine = np.flatnonzero(out == code)
            if len(kids) == 0 or len(mine) == 0:
                continue
            hit = household_areas(rows.geometry.to_numpy()[kids], points[mine])
            found = hit >= 0
            out[mine[found]] = rows["code"].astype(str).to_numpy()[kids[hit[found]]]
    return out


def ancestor_codes(plan: GridPlan, codes: np.ndarray, level: int) -> np.ndarray:
    """The grid of ``level`` above (or at) every code."""
    level_of = dict(zip(plan.grids["code"].astype(str), plan.grids["level"], strict=True))
    parent_of = dict(zip(plan.grids["code"].astype(str), plan.grids["parent_code"], strict=True))
    out = []
    for code in codes.tolist():
        while code in level_of and level_of[code] > level:
            code = str(parent_of[code])
        out.append(code)
    return np.array(out, dtype=object)
