"""The stages every rebuilt system runs: partition, staff, validate, store, maps, incidents.

A system module (:mod:`geogrid.examples.ruyang` …) describes its jurisdictions (街道 / 乡镇)
and their areas (社区 / 村) with the planner's settings — a household band for urban
communities, a number of grids per village made of whole natural villages, special sites —
and draws the inputs (:mod:`geogrid.examples.synth`). Then this module runs geogrid itself,
exactly as a planner would: :func:`partition_area` builds the units and partitions them
(:func:`geogrid.partition.partition`), :func:`jurisdiction_plan` turns the partitions into one
plan per jurisdiction whose single top grid is the jurisdiction, :func:`assign_staff` gives
every grid its people, and :func:`store_plans` saves, approves and activates every plan in an
embedded store. :class:`Stages` times every stage and measures its peak memory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import resource
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geogrid.errors import InvalidPlanError
from geogrid.partition import AreaResult, nested, partition, to_plan
from geogrid.plan import PLAN_CRS, GridPlan
from geogrid.units import build_units
from geogrid.units.given import units_in_parent
from geogrid.validate import Problem, Severity, validate_plan

__all__ = [
    "Area",
    "Jurisdiction",
    "StageTime",
    "Stages",
    "assign_staff",
    "fill_residents",
    "jurisdiction_plan",
    "partition_area",
    "people_names",
    "store_plans",
    "validate_plans",
]


@dataclasses.dataclass
class Area:
    """One village or community (村 / 社区) with its inputs and the planner's settings.

    ``homes`` are the household rows (buildings with a ``households`` column, or one point per
    household) with ``residents``; ``hamlets`` the natural villages kept whole (rural);
    ``streets`` the barriers (urban); ``sites`` special sites kept as their own grids.
    Exactly one of ``band`` and ``grids`` is set.
    """

    code: str
    name: str
    kind: str
    geometry: Any
    homes: gpd.GeoDataFrame
    band: tuple[float, float] | None = None
    grids: int | None = None
    hamlets: gpd.GeoDataFrame | None = None
    streets: gpd.GeoDataFrame | None = None
    sites: gpd.GeoDataFrame | None = None
    then_band: tuple[float, float] | None = None
    then_grids: int | None = None


@dataclasses.dataclass
class Jurisdiction:
    """A street or township (街道 / 乡镇): its own plan, its top grid the jurisdiction."""

    code: str
    name: str
    level_name: str
    areas: list[Area]


# -- stages: time and peak memory -----------------------------------------------------------


@dataclasses.dataclass
class StageTime:
    """Wall time and peak resident memory of one stage."""

    name: str
    seconds: float
    peak_mb: float
    note: str = ""


class Stages:
    """Times stages and measures each one's peak resident memory (Linux: ``VmHWM`` reset).

    Examples
    --------
    >>> stages = Stages()
    >>> with stages("sum"):
    ...     _ = sum(range(1000))
    >>> stages.times[0].name, stages.times[0].seconds >= 0
    ('sum', True)
    """

    def __init__(self) -> None:
        self.times: list[StageTime] = []

    @contextlib.contextmanager
    def __call__(self, name: str, note: str = "") -> Iterator[None]:
        """Time the ``with`` block as stage ``name``."""
        _reset_peak()
        start = time.perf_counter()
        yield
        self.times.append(StageTime(name, time.perf_counter() - start, _peak_mb(), note))

    @property
    def total_seconds(self) -> float:
        """Sum of the stages' times."""
        return sum(t.seconds for t in self.times)

    @property
    def peak_mb(self) -> float:
        """The largest stage peak."""
        return max((t.peak_mb for t in self.times), default=0.0)


def _reset_peak() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_mb() -> float:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- partition ---------------------------------------------------------------------------


def partition_area(area: Area, crs: CRS, *, seed: int = 0) -> AreaResult:
    """Units and partition of one area, as ``geogrid partition`` makes them.

    Urban: buildings with households (``build_units`` with the streets as barriers and the
    special sites locked) partitioned by band. Rural: natural villages kept whole
    (``units_in_parent``), the households counted into them, ``grids`` grids; the special
    sites are units locked as their own grids.
    """
    parent = gpd.GeoDataFrame(
        {"code": [area.code], "name": [area.name]}, geometry=[area.geometry], crs=crs
    )
    if area.hamlets is not None:
        units = _rural_units(parent, area, crs)
    else:
        units = build_units(
            parent,
            area.homes,
            barriers=area.streets,
            locked=area.sites if area.sites is not None and len(area.sites) else None,
            crs=crs,
        )
    result = partition(units, band=area.band, grids=area.grids, seed=seed)
    micro = {}
    if area.then_band is not None:
        micro = nested(result, area.then_band, seed=seed)
    return AreaResult(area.code, area.name, result, micro, kind=area.kind)


def _rural_units(parent: gpd.GeoDataFrame, area: Area, crs: CRS) -> Any:
    assert area.hamlets is not None
    polygons = area.hamlets[["name", "geometry"]]
    sites = area.sites if area.sites is not None else area.hamlets.iloc[:0]
    if len(sites):
        polygons = pd.concat([polygons, sites[["name", "geometry"]]], ignore_index=True)
    polygons = gpd.GeoDataFrame(polygons, geometry="geometry", crs=crs)
    units = units_in_parent(parent, polygons, area.homes, crs=crs)
    if len(sites):
        names = units.table["name"].to_numpy(object)
        locked = units.table["locked"].to_numpy(object).copy()
        for k, site in enumerate(sites.itertuples(index=False)):
            label = f"site-{k + 1}"
            (rows,) = np.nonzero(names == site.name)
            locked[rows] = label
            units.locked_labels.append(label)
            units.locked_grids[label] = {
                "name": str(site.name),
                "kind": "special",
                "subtype": str(site.subtype),
            }
        units.table["locked"] = locked
    return units


def jurisdiction_plan(
    jurisdiction: Jurisdiction,
    results: Sequence[AreaResult],
    areas_4490: dict[str, Any],
    *,
    levels: Sequence[str],
    name: str,
    attribution: str,
) -> GridPlan:
    """One plan whose single top grid is the jurisdiction, its areas and grids below.

    Parameters
    ----------
    jurisdiction
        The street or township.
    results
        The partitions of its areas.
    areas_4490
        Every area's polygon in EPSG:4490 by code (the grids are fitted onto it).
    levels
        Level names below the jurisdiction, e.g. ``["村/社区", "网格"]``.
    name, attribution
        Plan name and data note.
    """
    plan = to_plan(list(results), parents=areas_4490, levels=list(levels), name=name)
    grids = plan.grids.copy()
    grids["level"] = grids["level"] + 1
    top = grids["parent_code"].isna()
    grids.loc[top, "parent_code"] = jurisdiction.code
    outline = shapely.union_all(grids.loc[top].geometry.to_numpy())
    head = gpd.GeoDataFrame(
        {
            "code": [jurisdiction.code],
            "name": [jurisdiction.name],
            "level": [1],
            "households": [int(grids.loc[top, "households"].sum())],
            "kind": [_top_kind(grids.loc[top, "kind"])],
        },
        geometry=[outline],
        crs=PLAN_CRS,
    )
    grids = pd.concat([head, grids], ignore_index=True)
    return GridPlan(
        name,
        [jurisdiction.level_name, *levels],
        gpd.GeoDataFrame(grids, geometry="geometry", crs=PLAN_CRS),
        units=plan.units,
        attribution=attribution,
    )


def _top_kind(kinds: pd.Series) -> str:
    values = kinds.dropna().astype(str)
    return "urban" if (values == "urban").any() else "rural"


def fill_residents(plan: GridPlan, homes: gpd.GeoDataFrame) -> GridPlan:
    """Residents (and households) of every grid at every level, counted from ``homes``.

    ``homes`` are buildings or household points with ``residents`` (and ``households`` for
    a building); each row is in the grid holding its point (the household rule of
    :func:`geogrid.locate.household_grids`).
    """
    from geogrid.locate import household_grids

    where = household_grids(plan, homes)
    counts = (
        homes["households"].fillna(1).to_numpy(np.int64)  # a point is one household
        if "households" in homes
        else np.ones(len(homes), np.int64)
    )
    people = homes["residents"].to_numpy(np.int64)
    residents: dict[str, int] = {}
    households: dict[str, int] = {}
    for level in range(1, plan.depth + 1):
        codes = where[f"level{level}_code"]
        ok = codes.notna().to_numpy()
        frame = pd.DataFrame({"code": codes[ok].astype(str), "r": people[ok], "h": counts[ok]})
        sums = frame.groupby("code")[["r", "h"]].sum()
        residents.update(sums["r"].to_dict())
        households.update(sums["h"].to_dict())
    grids = plan.grids.copy()
    codes = grids["code"].astype(str)
    grids["residents"] = codes.map(residents).fillna(0).astype("Int64")
    grids["households"] = codes.map(households).fillna(0).astype("Int64")
    out = plan.copy()
    out.grids = grids
    return out


# -- staff -------------------------------------------------------------------------------

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂兰辉玲华红建国志文斌宇浩凯鹏飞丹萍春梅海燕雪琳晨阳欣怡子涵俊峰小红淑珍玉凤德福永贵成林"


def people_names(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` invented Chinese personal names (surname + one or two characters)."""
    surnames = rng.choice(list(_SURNAMES), n)
    first = rng.choice(list(_GIVEN), n)
    second = rng.choice(list(_GIVEN), n)
    double = rng.random(n) < 0.7
    return [
        f"{s}{a}{b}" if d else f"{s}{a}"
        for s, a, b, d in zip(surnames, first, second, double, strict=True)
    ]


def assign_staff(
    plan: GridPlan,
    roles_of: Callable[[pd.Series], list[str]],
    rng: np.random.Generator,
    *,
    phone_start: int,
) -> GridPlan:
    """``plan`` with a staff table: the roles ``roles_of(grid row)`` names, one person each.

    People get invented names and fictitious mobile numbers ``1990NNNNNNN`` numbered from
    ``phone_start`` (never a real subscriber's range on purpose: examples only).
    """
    rows: list[tuple[str, str]] = []
    for _, grid in plan.grids.iterrows():
        rows.extend((str(grid["code"]), role) for role in roles_of(grid))
    names = people_names(len(rows), rng)
    staff = pd.DataFrame(
        {
            "grid_code": [r[0] for r in rows],
            "role": [r[1] for r in rows],
            "name": names,
            "phone": [f"1990{phone_start + i:07d}" for i in range(len(rows))],
        }
    )
    out = plan.copy()
    out.staff = staff
    return GridPlan(
        out.name, out.levels, out.grids, staff=staff, units=out.units, attribution=out.attribution
    )


# -- validate and store ------------------------------------------------------------------


def validate_plans(plans: Sequence[GridPlan]) -> dict[str, list[Problem]]:
    """Every plan's problems (:func:`geogrid.validate.validate_plan`) by plan name."""
    return {plan.name: validate_plan(plan) for plan in plans}


def store_plans(
    plans: Sequence[GridPlan],
    path: Path,
    *,
    county: tuple[str, str],
    level_name: str,
    valid_from: dt.datetime,
) -> dict[str, Any]:
    """Save, approve and activate every plan in a fresh embedded store at ``path``.

    Each plan is its jurisdiction's (the code of its one top grid), registered under the
    ``county`` (code, name); activation is dated ``valid_from``.

    Returns
    -------
    dict
        ``path``, ``plans``, ``versions``, ``in_force`` (jurisdictions with a plan in force)
        and ``grids_in_force`` (grids of the union).
    """
    from geogrid.store import open_store
    from geogrid.store.publish import save_checked

    path.unlink(missing_ok=True)
    by = "geogrid example"
    with open_store(f"sqlite:///{path}") as store:
        store.register_jurisdiction(county[0], county[1], level_name="县/市")
        refused: dict[str, str] = {}
        for plan in plans:
            top = plan.level(1).iloc[0]
            store.register_jurisdiction(
                str(top["code"]), str(top["name"]), parent=county[0], level_name=level_name
            )
            try:
                info, _ = save_checked(store, plan, by=by, note=f"geogrid example: {plan.name}")
            except InvalidPlanError as exc:  # the save policy: errors block; say so, go on
                refused[plan.name] = "; ".join(p.line() for p in exc.problems[:5])
                continue
            store.approve(info.plan, info.version, by=by)
            store.activate(info.plan, info.version, by=by, valid_from=valid_from)
        in_force = store.in_force()
        union = store.active()
        return {
            "path": str(path),
            "plans": len(store.plans()),
            "versions": len(store.versions()),
            "in_force": len(in_force),
            "grids_in_force": 0 if union is None else len(union.grids),
            "refused": refused,
        }


def level_counts(plan: GridPlan) -> dict[str, int]:
    """Grids per level name (levels named as in the plan)."""
    counts = plan.grids["level"].value_counts()
    return {name: int(counts.get(i + 1, 0)) for i, name in enumerate(plan.levels)}


def errors_of(problems: Sequence[Problem]) -> int:
    """Number of errors (not warnings) among ``problems``."""
    return sum(p.severity is Severity.ERROR for p in problems)
