"""Where simulated incidents happen: points in the finest grids, weighted by households, located.

:func:`draw_points` spreads points over the finest grids of the plans in force (one per
jurisdiction) in proportion to their households (by area when the plans give none);
:func:`locate_reports` sends them as reporters send them (phone apps and 12345 work orders in
GCJ-02, grid workers' terminals in WGS84), locates them with the machinery the service uses
(a :class:`~geogrid.locate.CountyIndex` of each jurisdiction's
:class:`~geogrid.locate.GridIndex`, :func:`~geogrid.locate.locate_points`) and places them
exactly as ``POST /incidents`` does (:meth:`~geogrid.incidents.Placement.from_plan` on the
answering jurisdiction's plan). A point whose sent coordinates land outside every grid (a
border point moved by the conversion) is drawn again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import shapely

from geogrid.access import Caller, Role
from geogrid.crs import from_plan_lonlat
from geogrid.errors import InvalidInputError
from geogrid.incidents.lifecycle import IncidentReport, Placement, StaffMember
from geogrid.incidents.urgency import Urgency
from geogrid.locate import CountyIndex, GridIndex, locate_points
from geogrid.plan import GridPlan

__all__ = ["HOTLINE", "RESIDENT_APP", "draw_points", "locate_reports"]

HOTLINE = Caller("12345政务服务便民热线", Role.REPORTER)
"""Reporter of 12345 hotline work orders (工单)."""
RESIDENT_APP = Caller("居民随手拍App", Role.REPORTER)
"""Reporter of residents' reports from the phone app."""

_TRIES = 20
_CHINA = dt.timezone(dt.timedelta(hours=8))
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国红梅兰玉文斌志"
_TEXTS = {
    "work_safety": ["小作坊违规使用液化气罐", "工地脚手架未设防护网", "仓库消防通道被堵塞"],
    "environment": ["垃圾堆放未及时清运", "小区污水外溢", "路边焚烧秸秆", "商铺油烟扰民"],
    "emergency": ["居民楼电动车起火", "暴雨后路面积水严重", "燃气泄漏异味"],
    "petition": ["群众反映征地补偿问题", "多名工人反映欠薪", "居民集体反映物业问题"],
    "social_assistance": ["独居老人生活困难", "残疾人申请救助", "困难家庭子女就学"],
    "dispute": ["邻里噪音纠纷", "宅基地边界纠纷", "楼上漏水邻里纠纷", "停车位纠纷"],
    "public_order": ["夜间有人聚集喧哗", "疑似电信诈骗宣传", "小区门禁损坏外来人员进出"],
    "facilities": ["路灯不亮", "井盖缺失", "人行道破损", "公交站牌损坏"],
    "other": ["流浪犬伤人隐患", "广告牌松动", "群众咨询政策"],
}
_GENERIC = ["群众反映问题", "网格巡查发现问题"]


def draw_points(
    plans: Mapping[str, GridPlan], n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points (plan lon/lat) in the finest grids of ``plans``, weighted by households."""
    leaves = pd.concat([_leaves(plan) for _, plan in sorted(plans.items())], ignore_index=True)
    geoms = leaves.geometry.to_numpy()
    weights = pd.to_numeric(leaves["households"], errors="coerce").fillna(0).to_numpy(float)
    if weights.sum() <= 0:
        weights = shapely.area(geoms)
    counts = rng.multinomial(n, weights / weights.sum())
    lon, lat = np.empty(n), np.empty(n)
    done = 0
    for g in np.flatnonzero(counts):
        x, y = _inside(geoms[g], int(counts[g]), rng)
        lon[done : done + x.size], lat[done : done + x.size] = x, y
        done += x.size
    order = rng.permutation(n)
    return lon[order], lat[order]


def locate_reports(
    plans: Mapping[str, GridPlan],
    rng: np.random.Generator,
    reported: Sequence[dt.datetime],
    categories: np.ndarray,
    urgency: Sequence[Urgency | None],
    hotline: np.ndarray,
    found: np.ndarray,
    crs: np.ndarray,
    seed: int,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[tuple[IncidentReport, Placement, Caller]]:
    """Each case's report (as sent), its placement (as located) and its reporter."""
    n = len(reported)
    index = CountyIndex({j: GridIndex.from_plan(plan) for j, plan in plans.items()})
    sent_x, sent_y = np.empty(n), np.empty(n)
    codes: list[list[str | None]] = [[] for _ in range(n)]
    part = np.zeros(n, dtype=np.int64)
    inside = np.zeros(n, dtype=bool)
    plan_x, plan_y = np.empty(n), np.empty(n)
    todo = np.arange(n)
    for _ in range(_TRIES):
        lon, lat = draw_points(plans, todo.size, rng)
        for system in np.unique(crs[todo]):
            pick = crs[todo] == system
            _send(
                index,
                todo[pick],
                lon[pick],
                lat[pick],
                str(system),
                (sent_x, sent_y, plan_x, plan_y, part, inside),
                codes,
            )
        todo = todo[~inside[todo]]
        if progress is not None:
            progress("points", n - todo.size, n)
        if not todo.size:
            break
    else:
        raise InvalidInputError(
            f"{todo.size} points kept landing outside every grid: check that the plan's finest "
            "grids are valid polygons (geogrid validate)"
        )
    staff_of: dict[str, tuple[StaffMember, ...]] = {}
    out = []
    for i in range(n):
        lineage = _trimmed(codes[i])
        finest = lineage[-1]
        plan = plans[index.jurisdictions[part[i]]]  # the plan the service reports it to
        if finest not in staff_of:
            staff_of[finest] = Placement.from_plan(plan, 0.0, 0.0, lineage).staff
        placement = Placement(
            float(plan_x[i]),
            float(plan_y[i]),
            tuple(lineage),
            plan.name,
            plan.version,
            staff_of[finest],
        )
        reporter = _reporter(placement, bool(hotline[i]), bool(found[i]))
        report = _report(
            rng,
            i,
            reported[i],
            str(categories[i]),
            urgency[i],
            bool(hotline[i]),
            bool(found[i]),
            float(sent_x[i]),
            float(sent_y[i]),
            str(crs[i]),
            seed,
        )
        out.append((report, placement, reporter))
    return out


def _send(
    index: CountyIndex,
    rows: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    system: str,
    arrays: tuple[np.ndarray, ...],
    codes: list[list[str | None]],
) -> None:
    """Convert to what a reporter sends (7 decimals), locate as the service does."""
    sent_x, sent_y, plan_x, plan_y, part, inside = arrays
    x, y = from_plan_lonlat(lon, lat, system)
    x, y = np.round(np.asarray(x, float), 7), np.round(np.asarray(y, float), 7)
    result = locate_points(index, x, y, system)
    per_level = [result.level_codes(level) for level in result.levels]
    for j, row in enumerate(rows):
        sent_x[row], sent_y[row] = x[j], y[j]
        plan_x[row], plan_y[row] = result.lon[j], result.lat[j]
        part[row] = max(int(result.part[j]), 0) if result.part is not None else 0
        inside[row] = bool(result.inside[j])
        codes[row] = [level[j] for level in per_level]


def _trimmed(codes: list[str | None]) -> list[str]:
    """The codes from the top down to the first level that did not cover the point.

    A gap (a finest grid poking out of its parent) ends the lineage there: never a ``'None'``.
    """
    out: list[str] = []
    for code in codes:
        if code is None:
            break
        out.append(str(code))
    return out


def _leaves(plan: GridPlan) -> pd.DataFrame:
    grids = plan.grids
    parents = set(grids["parent_code"].dropna().astype(str))
    leaves = grids[~grids["code"].astype(str).isin(parents)]
    if leaves.empty:
        raise InvalidInputError(f"plan {plan.name!r} has no grids to put incidents in")
    return leaves


def _inside(geom: object, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` uniform points inside ``geom`` (rejection in its bounding box)."""
    x0, y0, x1, y1 = shapely.bounds(geom)
    fill = max(shapely.area(geom) / max((x1 - x0) * (y1 - y0), 1e-30), 0.01)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    got = 0
    while got < count:
        m = int((count - got) / fill * 1.2) + 8
        x, y = rng.uniform(x0, x1, m), rng.uniform(y0, y1, m)
        keep = shapely.contains_xy(geom, x, y)
        xs.append(x[keep])
        ys.append(y[keep])
        got += int(keep.sum())
    return np.concatenate(xs)[:count], np.concatenate(ys)[:count]


def _reporter(placement: Placement, hotline: bool, found: bool) -> Caller:
    if hotline:
        return HOTLINE
    if found:
        workers = [s for s in placement.staff if s.role != "head"] or list(placement.staff)
        name = workers[0].name if workers else f"网格员{placement.grid_code}"
        return Caller(name, Role.WORKER, grid_code=placement.grid_code)
    return RESIDENT_APP


def _report(
    rng: np.random.Generator,
    n: int,
    at: dt.datetime,
    category: str,
    urgency: Urgency | None,
    hotline: bool,
    found: bool,
    lon: float,
    lat: float,
    crs: str,
    seed: int,
) -> IncidentReport:
    texts = _TEXTS.get(category, _GENERIC)
    text = texts[int(rng.integers(len(texts)))]
    name = phone = None
    photos: tuple[str, ...] = ()
    if hotline:
        order = f"W{at.astimezone(_CHINA):%Y%m%d}{n + 1:06d}"
        text = f"【12345工单 {order}】市民来电反映：{text}"
    elif found:
        text = f"网格巡查发现：{text}"
    if not found:
        name = _SURNAMES[int(rng.integers(len(_SURNAMES)))] + "".join(
            _GIVEN[int(k)] for k in rng.integers(len(_GIVEN), size=int(rng.integers(1, 3)))
        )
        phone = (
            "1"
            + str(rng.choice(["38", "39", "58", "86", "36", "77"]))
            + "".join(str(d) for d in rng.integers(10, size=8))
        )
    if not hotline:
        photos = tuple(f"sim/{seed}/{n + 1:06d}-{k}.jpg" for k in range(int(rng.integers(1, 3))))
    return IncidentReport(category, text, lon, lat, crs, name, phone, photos, urgency)
