"""Per-grid and per-level figures of a plan: households, balance, shape, barriers, staff.

:func:`plan_report` is the whole report (what ``geogrid report`` prints); :func:`grid_table`
and :func:`level_summary` are its two tables. Areas and lengths are computed in a metric CRS
chosen for the plan (:func:`geogrid.crs.metric_crs`).

Definitions
-----------
target
    The band's midpoint at the band level (``band_level``, default 2: the grids), else the
    level's mean households.
deviation
    ``(households − target) / target``; ``worst_deviation`` is the largest ``|deviation|``.
polsby_popper
    ``4πA / P²`` (1 for a circle); ``parts`` counts the grid's polygons (1 = contiguous).
on_barriers
    Share of the grid's inner boundary (shared with other grids of its level, i.e. without
    the outer edge of the whole plan) lying within ``tolerance`` metres of a barrier line
    (roads, rivers); the level figure is length-weighted.
largest_unit
    Households of the largest unit (the plan's units, recounted from the households given;
    without units, the household rows themselves) in the grid.
imbalance_bound
    A lower bound on ``worst_deviation`` that no plan with the same grid counts can beat:
    per parent with ``k`` children holding ``T`` households and largest unit ``s``,
    ``max(|T / k − target|, s − target, 0) / target`` (the mean of the children is ``T / k``,
    and the grid holding the largest unit carries at least ``s``); the level's bound is the
    largest over parents.
moves_bound
    At the band level: per parent ``max(Σ excess over max, Σ shortfall under min)`` summed —
    the fewest households any redraw must move (:func:`geogrid.partition.lower_bound`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geogrid.crs import metric_crs
from geogrid.io.tables import write_table, write_workbook
from geogrid.locate import (
    household_grids,
    household_weights,
    households_per_unit,
    locate_households,
)
from geogrid.metrics import count_bound, polsby_popper, unit_bound
from geogrid.partition.band import Band
from geogrid.partition.rebalance import lower_bound
from geogrid.plan import GridPlan
from geogrid.roles import current_roles

__all__ = [
    "GRID_HEADERS",
    "LEVEL_HEADERS",
    "PlanReport",
    "grid_table",
    "level_summary",
    "plan_report",
    "terminal_tables",
    "write_report",
]

#: Column → header of the per-grid sheet of a written report (网格台账).
GRID_HEADERS = {
    "code": "网格编码",
    "name": "网格名称",
    "level": "层级",
    "parent_code": "上级编码",
    "kind": "类型",
    "households": "户数",
    "households_plan": "方案户数",
    "target": "目标户数",
    "deviation": "偏差",
    "area_m2": "面积(平方米)",
    "polsby_popper": "紧凑度",
    "parts": "块数",
    "on_barriers": "沿道路边界比例",
    "in_band": "在区间内",
    "largest_unit": "最大单元户数",
    "head": "网格长",
    "phone": "联系电话",
}
#: Column → header of the per-level sheet of a written report.
LEVEL_HEADERS = {
    "level": "层级",
    "name": "层级名称",
    "grids": "网格数",
    "households": "户数",
    "min_households": "最少户数",
    "median_households": "中位户数",
    "max_households": "最多户数",
    "area_km2": "面积(平方公里)",
    "target": "目标户数",
    "in_band": "在区间内网格数",
    "worst_deviation": "最大偏差",
    "imbalance_bound": "偏差下界",
    "moves_bound": "最少调整户数",
    "split_grids": "不连通网格数",
    "pp_mean": "平均紧凑度",
    "pp_min": "最小紧凑度",
    "on_barriers": "沿道路边界比例",
}
_EXCEPTION_HEADERS = {"kind": "类别", "level": "层级", "code": "网格编码", "message": "说明"}


@dataclasses.dataclass
class PlanReport:
    """The report of one plan (see the module docstring for the definitions).

    Attributes
    ----------
    grids
        One row per grid: ``code``, ``name``, ``level``, ``parent_code``, ``kind``,
        ``households`` (recounted when households were given; then also
        ``households_plan``, the plan's own figure), ``target``, ``deviation``, ``area_m2``,
        ``polsby_popper``, ``parts``, ``on_barriers`` (``NaN`` without barriers),
        ``in_band`` (``None`` off the band level or without a band), ``largest_unit``,
        ``head``, ``phone`` (the grid's head, :meth:`~geogrid.roles.RoleSet.heads`).
    levels
        One row per level: ``level``, ``name``, ``grids``, ``households``, ``min_households``,
        ``median_households``, ``max_households``, ``area_km2``, ``target``, ``in_band``
        (count; ``None`` off the band level), ``worst_deviation``, ``imbalance_bound``,
        ``moves_bound``, ``split_grids``, ``pp_mean``, ``pp_min``, ``on_barriers``.
    exceptions
        ``kind`` (``non-contiguous``, ``out-of-band``, ``large-unit``,
        ``households-outside``), ``level``, ``code``, ``message``.
    band
        The band checked, or ``None``.
    band_level
        The level the band applies to.
    """

    grids: pd.DataFrame
    levels: pd.DataFrame
    exceptions: pd.DataFrame
    band: Band | None
    band_level: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: band, levels, grids and exceptions as lists of records."""
        return {
            "band": str(self.band) if self.band else None,
            "band_level": self.band_level,
            "levels": _records(self.levels),
            "grids": _records(self.grids),
            "exceptions": _records(self.exceptions),
        }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return list(json.loads(frame.to_json(orient="records", force_ascii=False)))


def plan_report(
    plan: GridPlan,
    *,
    households: gpd.GeoDataFrame | None = None,
    count_column: str | None = None,
    band: Band | tuple[float, float] | None = None,
    band_level: int | None = None,
    barriers: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    tolerance: float = 1.0,
) -> PlanReport:
    """Report a plan: per grid and per level balance, shape, contiguity and barriers.

    Parameters
    ----------
    plan
        The plan.
    households
        Households now (building polygons with a ``households`` column, or points, one
        household per row without it): every row counts in the grid holding its
        point on its surface, by the household rule of :mod:`geogrid.locate.households`
        (the boundary rule of ``/locate``; the nearest grid within 50 m for a household just
        outside); the plan's units are recounted too.
    count_column
        Column of ``households`` holding each row's household count (default ``households``
        when present, else one household a row; :func:`geogrid.locate.household_weights`).
    band
        Household band of the grids at ``band_level``, e.g. ``(300, 500)``.
    band_level
        Level the band applies to (default 2, the grids, or 1 for a one-level plan).
    barriers
        Roads and rivers (lines, any CRS) for the ``on_barriers`` share.
    tolerance
        Metres within which a grid edge counts as lying on a barrier.

    Returns
    -------
    PlanReport
    """
    the_band = Band(*band) if isinstance(band, tuple) else band
    level_of_band = band_level if band_level is not None else min(2, plan.depth)
    crs = metric_crs(plan.grids.geometry)
    counts, outside = _grid_counts(plan, households, count_column)
    units = _unit_counts(plan, households, count_column)
    zone = _barrier_zone(barriers, plan, crs, tolerance)
    frames, exceptions = [], []
    for level in range(1, plan.depth + 1):
        level_band = the_band if level == level_of_band else None
        frame = _level_grids(plan, level, crs, counts, units, level_band, zone, tolerance)
        frames.append(frame)
        exceptions.extend(_grid_exceptions(frame, level_band))
    grids = pd.concat(frames, ignore_index=True)
    exceptions.extend(_unit_exceptions(plan, units, the_band, level_of_band))
    if outside:
        exceptions.append(
            {
                "kind": "households-outside",
                "level": None,
                "code": None,
                "message": f"{outside} household(s) lie outside every grid (区域外住户): "
                "they are counted in no grid — check their coordinates or the boundaries",
            }
        )
    levels = _levels(plan, grids, frames, units, the_band, level_of_band)
    table = pd.DataFrame(exceptions, columns=["kind", "level", "code", "message"])
    if households is None:
        grids = grids.drop(columns="households_plan")
    return PlanReport(grids.drop(columns=["_inner", "_on"]), levels, table, the_band, level_of_band)


def grid_table(plan: GridPlan, **options: Any) -> pd.DataFrame:
    """One row per grid (:attr:`PlanReport.grids`); ``options`` as in :func:`plan_report`."""
    return plan_report(plan, **options).grids


def level_summary(plan: GridPlan, **options: Any) -> pd.DataFrame:
    """One row per level (:attr:`PlanReport.levels`); ``options`` as in :func:`plan_report`."""
    return plan_report(plan, **options).levels


# --------------------------------------------------------------------------- counting


def _grid_counts(
    plan: GridPlan, households: gpd.GeoDataFrame | None, count_column: str | None = None
) -> tuple[dict[str, float], int]:
    """Households per grid code at every level, and households outside every grid."""
    if households is None:
        stored = pd.to_numeric(plan.grids["households"], errors="coerce")
        return dict(zip(plan.grids["code"].astype(str), stored, strict=True)), 0
    weight = household_weights(households, count_column)
    counts: dict[str, float] = {}
    outside = 0
    located = household_grids(plan, households)
    for level in range(1, plan.depth + 1):
        codes = located[f"level{level}_code"].to_numpy(object)
        found = pd.notna(codes)
        sums = pd.Series(weight[found]).groupby(codes[found].astype(str)).sum()
        counts.update({c: float(sums.get(c, 0.0)) for c in plan.level(level)["code"].astype(str)})
        if level == plan.depth:
            outside = int(weight[~found].sum())
    return counts, outside


def _unit_counts(
    plan: GridPlan, households: gpd.GeoDataFrame | None, count_column: str | None = None
) -> pd.DataFrame:
    """Atomic units with households and the deepest grid code holding them.

    The plan's units (recounted from ``households`` when given), or without units the
    household rows themselves (located by representative point).
    """
    if plan.units is not None and len(plan.units):
        counts = (
            households_per_unit(plan.units, households, count_column=count_column)
            if households is not None
            else plan.units["households"].fillna(0).to_numpy(float)
        )
        return pd.DataFrame(
            {
                "unit_id": plan.units["unit_id"].astype(str).to_numpy(),
                "name": plan.units["name"].to_numpy(object),
                "households": np.asarray(counts, dtype=float),
                "grid_code": plan.units["grid_code"].astype(str).to_numpy(),
            }
        )
    if households is None:
        return pd.DataFrame(columns=["unit_id", "name", "households", "grid_code"])
    codes = locate_households(plan, households).to_numpy(object)
    ids = households.get("unit_id", pd.Series(households.index))
    names = households.get("name", pd.Series([None] * len(households)))
    frame = pd.DataFrame(
        {
            "unit_id": np.asarray(ids).astype(str),
            "name": np.asarray(names, dtype=object),
            "households": household_weights(households, count_column),
            "grid_code": codes,
        }
    )
    return frame[pd.notna(frame["grid_code"])].astype({"grid_code": str})


def _heads(plan: GridPlan) -> pd.DataFrame:
    """``name`` and ``phone`` of each grid's head (its first, in the role order), by grid code."""
    roles = current_roles()
    rows = [
        (code, heads[0]["name"], heads[0]["phone"])
        for code, people in plan.staff_by_grid().items()
        if (heads := roles.heads(people))
    ]
    return pd.DataFrame(rows, columns=["grid_code", "name", "phone"]).set_index("grid_code")


def _largest(plan: GridPlan, units: pd.DataFrame, level: int) -> pd.Series:
    """Largest unit's households per grid code of ``level``."""
    if units.empty:
        return pd.Series(dtype=float)
    codes = plan.ancestor_codes(units["grid_code"].to_numpy(object), level)
    return units["households"].groupby(codes).max()


# --------------------------------------------------------------------------- geometry


def _barrier_zone(
    barriers: gpd.GeoDataFrame | gpd.GeoSeries | None,
    plan: GridPlan,
    crs: CRS,
    tolerance: float,
) -> shapely.Geometry | None:
    if barriers is None or len(barriers) == 0:
        return None
    lines = np.asarray(barriers.to_crs(crs).geometry.array, dtype=object)
    bounds = plan.grids.to_crs(crs).total_bounds
    lines = shapely.clip_by_rect(lines, *(bounds + np.array([-1, -1, 1, 1]) * 10 * tolerance))
    zone = shapely.union_all(shapely.buffer(lines[~shapely.is_empty(lines)], tolerance))
    shapely.prepare(zone)
    return zone


def _inner_lengths(
    geoms: np.ndarray, zone: shapely.Geometry | None, tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """Length of every grid's inner boundary and of the part of it on barriers."""
    boundaries = shapely.boundary(geoms)
    outer = shapely.buffer(shapely.boundary(shapely.union_all(geoms)), tolerance)
    inner = shapely.difference(boundaries, outer)
    inner_len = shapely.length(inner)
    if zone is None:
        return inner_len, np.full(len(geoms), np.nan)
    return inner_len, shapely.length(shapely.intersection(inner, zone))


def _level_grids(
    plan: GridPlan,
    level: int,
    crs: CRS,
    counts: dict[str, float],
    units: pd.DataFrame,
    band: Band | None,
    zone: shapely.Geometry | None,
    tolerance: float,
) -> pd.DataFrame:
    grids = plan.level(level)
    codes = grids["code"].astype(str)
    metric = grids.geometry.to_crs(crs).to_numpy()
    area, perimeter = shapely.area(metric), shapely.length(metric)
    pp = polsby_popper(area, perimeter)
    households = np.array([np.nan if pd.isna(v) else float(v) for v in codes.map(counts)])
    known = households[~np.isnan(households)]
    target = band.midpoint if band is not None else float(known.mean() if known.size else 0.0)
    inner, on = _inner_lengths(metric, zone, tolerance)
    head = _heads(plan)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(inner > 0, on / inner, np.nan)
    frame = pd.DataFrame(
        {
            "code": codes.to_numpy(),
            "name": grids["name"].to_numpy(object),
            "level": level,
            "parent_code": grids["parent_code"].to_numpy(object),
            "kind": grids["kind"].to_numpy(object),
            "households": households,
            "households_plan": pd.to_numeric(grids["households"], errors="coerce").to_numpy(),
            "target": target,
            "deviation": (households - target) / target if target else np.nan,
            "area_m2": area.round(1),
            "polsby_popper": np.round(pp, 3),
            "parts": shapely.get_num_geometries(metric),
            "on_barriers": np.round(share, 3),
            "in_band": [band.contains(x) if band and not np.isnan(x) else None for x in households],
            "largest_unit": codes.map(_largest(plan, units, level)).to_numpy(float),
            "head": codes.map(head["name"]).to_numpy(object),
            "phone": codes.map(head["phone"]).to_numpy(object),
            "_inner": inner,
            "_on": on,
        }
    )
    return frame.sort_values("code", kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- summaries


def _grid_exceptions(frame: pd.DataFrame, band: Band | None) -> list[dict[str, Any]]:
    found = []
    for row in frame[frame["parts"] > 1].itertuples():
        found.append(
            {
                "kind": "non-contiguous",
                "level": int(row.level),
                "code": row.code,
                "message": f"grid {row.code} {row.name} has {row.parts} separate polygons "
                "(不连续): an island or a grid split by another",
            }
        )
    if band is not None:
        for row in frame[frame["in_band"].eq(False)].itertuples():
            found.append(
                {
                    "kind": "out-of-band",
                    "level": int(row.level),
                    "code": row.code,
                    "message": f"grid {row.code} {row.name} has {row.households:g} households, "
                    f"outside {band} (超出户数区间)",
                }
            )
    return found


def _unit_exceptions(
    plan: GridPlan, units: pd.DataFrame, band: Band | None, level: int
) -> list[dict[str, Any]]:
    if band is None or units.empty:
        return []
    big = units[units["households"] > band.high]
    codes = plan.ancestor_codes(big["grid_code"].to_numpy(object), level)
    return [
        {
            "kind": "large-unit",
            "level": level,
            "code": code,
            "message": f"unit {row.unit_id} ({row.name if pd.notna(row.name) else 'no name'}) "
            f"alone has {row.households:g} households, above the band's maximum {band.high:g} "
            "(单元超过上限): its grid cannot be in the band",
        }
        for row, code in zip(big.itertuples(), codes, strict=True)
    ]


def _levels(
    plan: GridPlan,
    grids: pd.DataFrame,
    frames: list[pd.DataFrame],
    units: pd.DataFrame,
    band: Band | None,
    band_level: int,
) -> pd.DataFrame:
    rows = []
    for level, (name, part) in enumerate(zip(plan.levels, frames, strict=True), start=1):
        hh = part["households"].dropna()
        on_band = band is not None and level == band_level
        target = float(part["target"].iloc[0]) if len(part) else float("nan")
        inner = float(part["_inner"].sum())
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
                "target": round(target, 1),
                "in_band": int(part["in_band"].eq(True).sum()) if on_band else None,
                "worst_deviation": round(float(part["deviation"].abs().max()), 4)
                if len(hh)
                else None,
                "imbalance_bound": round(_imbalance_bound(plan, part, units, level, target), 4),
                "moves_bound": _moves_bound(part, band) if on_band and band else None,
                "split_grids": int((part["parts"] > 1).sum()),
                "pp_mean": round(float(part["polsby_popper"].mean()), 3) if len(part) else None,
                "pp_min": round(float(part["polsby_popper"].min()), 3) if len(part) else None,
                "on_barriers": round(float(part["_on"].sum()) / inner, 3)
                if inner > 0 and part["_on"].notna().all()
                else None,
            }
        )
    return pd.DataFrame(rows)


def _imbalance_bound(
    plan: GridPlan, part: pd.DataFrame, units: pd.DataFrame, level: int, target: float
) -> float:
    """Largest ``max(|T/k − target|, s − target, 0) / target`` over parents (see module)."""
    if not target or part.empty:
        return 0.0
    parent = part["parent_code"].fillna("").astype(str)
    largest = part["largest_unit"].fillna(0.0)
    return max(
        max(
            count_bound(float(rows["households"].sum()), len(rows), target),
            unit_bound(float(largest[rows.index].max()), target),
        )
        for _, rows in part.groupby(parent)
    )


def _moves_bound(part: pd.DataFrame, band: Band) -> int:
    parent = part["parent_code"].fillna("").astype(str)
    return int(
        sum(
            lower_bound(rows["households"].to_numpy(float), band)
            for _, rows in part.groupby(parent)
        )
    )


# --------------------------------------------------------------------------- terminal


def terminal_tables(report: PlanReport) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The levels (one column per level) and grids tables formatted to fit a terminal."""
    levels = report.levels.set_index("level")
    shown = pd.DataFrame(index=levels.columns.drop("name"))
    for level, row in levels.iterrows():
        shown[f"{level} {row['name']}"] = [
            _figure(column, row[column]) for column in levels.columns.drop("name")
        ]
    grids = report.grids
    table = pd.DataFrame(
        {
            "code": grids["code"],
            "hh": grids["households"].map(_number),
            "dev": grids["deviation"].map(_percent),
            "ha": (grids["area_m2"] / 1e4).map(lambda v: f"{v:.1f}"),
            "PP": grids["polsby_popper"].map(lambda v: "" if pd.isna(v) else f"{v:.2f}"),
            "parts": grids["parts"],
            "roads": grids["on_barriers"].map(lambda v: _percent(v, sign=False)),
            "band": grids["in_band"].map({True: "yes", False: "NO"}).fillna(""),
            "unit": grids["largest_unit"].map(_number),
        }
    )
    return shown.reset_index(names="figure"), table


def _figure(column: str, value: Any) -> str:
    if column in ("worst_deviation", "imbalance_bound", "on_barriers"):
        return _percent(value, sign=False)
    if column.startswith("pp_") and value is not None and not pd.isna(value):
        return f"{value:.2f}"
    if isinstance(value, float) and not pd.isna(value) and column != "area_km2":
        return _number(value)
    return "" if value is None or pd.isna(value) else str(value)


def _percent(value: Any, sign: bool = True) -> str:
    if value is None or pd.isna(value):
        return ""
    return f"{100 * float(value):+.1f}%" if sign else f"{100 * float(value):.1f}%"


def _number(value: Any) -> str:
    return "" if value is None or pd.isna(value) else f"{float(value):,.0f}"


def write_report(report: PlanReport, path: str | os.PathLike[str]) -> Path:
    """Write the report as a workbook (网格台账) or, for ``.csv``, the per-grid table.

    ``.xlsx``: sheets 网格 (one row per grid, :data:`GRID_HEADERS`), 层级 (one per level,
    :data:`LEVEL_HEADERS`) and 例外 (exceptions); codes and phones as text. ``.csv``: the
    per-grid table with the model's column names, as before.
    """
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return write_table(report.grids, path)
    sheets = {
        "网格": report.grids.rename(columns=GRID_HEADERS),
        "层级": report.levels.rename(columns=LEVEL_HEADERS),
        "例外": report.exceptions.rename(columns=_EXCEPTION_HEADERS),
    }
    return write_workbook(path, sheets)  # 编码 and 电话 columns are written as text
