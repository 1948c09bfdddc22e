"""Wangcheng district, Changsha (长沙市望城区, 430112): the closed loop of incidents and 12345.

Published (../shared/DOMAIN.md): full-time grid workers (专职网格员) in the urban communities;
incidents run a closed loop found → reported → handled → feedback (发现—上报—处置—反馈) in an
app, tied to the 12345 hotline; overdue cases escalate grid → community → street → department
(网格吹哨、部门报到); one worker visited 2,668 households in a year and closed 155 cases.
Grid counts are not published.

The rebuild: the district's real outline cut into 14 invented streets and towns (its real
ones number about as many), urban communities partitioned by a band of 300–500 households,
villages into grids of whole natural villages; a full-time worker in every urban grid, a
part-time one in every rural grid; a year of incidents of which a third arrive as 12345 work
orders with a point, every one located, handled and closed with a feedback step or referred
up the chain when overdue.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from geogrid.examples.pipeline import assign_staff
from geogrid.examples.system import Figure, Setup, incident_figures
from geogrid.examples.towns import DivisionSpec, build_division, plan_division
from geogrid.plan import GridPlan

__all__ = ["CODE", "NAME", "PUBLISHED", "SPEC", "planned_grids", "setup"]

NAME = "wangcheng"
CODE = "430112"
PUBLISHED: dict[str, Any] = {
    "visited by one worker": 2668,
    "closed by one worker": 155,
}
SPEC = DivisionSpec("430112", "望城区", 14, 70, 90, 900, 520)
TOWNS = [
    "高塘岭街道", "喻家坡街道", "大泽湖街道", "月亮岛街道", "金山桥街道", "白沙洲街道",
    "廖家坪街道", "丁字湾街道", "铜官街道", "乌山街道", "黄金园街道", "茶亭镇", "靖港镇", "乔口镇",
]  # fmt: skip
SMALL_TOWNS = {0}
INCIDENTS = 12_000
HOTLINE = 0.35


def planned_grids(scale: str = "full", seed: int = 0) -> dict[str, int]:
    """Grids the settings give (band count rule in communities, K per village)."""
    plan = plan_division(SPEC, seed)
    keep = None if scale == "full" else SMALL_TOWNS
    urban, rural = plan.urban_grids_of(keep), plan.rural_grids_of(keep)
    return {"urban": urban, "rural": rural, "grids": urban + rural}


def setup(region: Any, crs: CRS, *, scale: str, seed: int) -> Setup:
    """The district's streets and towns (small: 高塘岭街道) with their inputs."""
    small = scale == "small"
    jurisdictions = build_division(
        region,
        plan_division(SPEC, seed),
        crs,
        seed=seed,
        township_names=TOWNS,
        keep=SMALL_TOWNS if small else None,
    )
    homes = gpd.GeoDataFrame(
        pd.concat([a.homes for j in jurisdictions for a in j.areas], ignore_index=True), crs=crs
    )
    return Setup(
        county=(CODE, "望城区"),
        crs=crs,
        jurisdictions=jurisdictions,
        levels=["社区/村", "网格"],
        staff=lambda plans: _staff(plans, seed),
        figures=lambda plans, run: _figures(plans, run, scale),
        homes=homes,
        notes=[
            "Street and town names are the district's; their boundaries and everything inside "
            "are invented within the real outline. Grid counts are not published: 900 grids "
            "(520 urban by band, 380 rural by K per village) are this rebuild's own setting.",
            f"Incidents: {INCIDENTS:,} a year (input), {HOTLINE:.0%} of them 12345 work orders "
            "with a point; each is located to its grid, dispatched, handled and closed with "
            "feedback, or referred up 网格 → 社区 → 街道 → 部门 when overdue (the counts are "
            "outputs of the simulated lifecycles).",
        ],
        maps_for=[jurisdictions[0].code],
        incidents={
            "incidents": 1500 if small else INCIDENTS,
            "closed_share": 0.985,
            "hotline_share": HOTLINE,
        },
    )


def _staff(plans: list[GridPlan], seed: int) -> list[GridPlan]:
    rng = np.random.default_rng([seed, 9])

    def roles(grid: pd.Series) -> list[str]:
        if int(grid["level"]) != 3:
            return []
        return ["head", "full_time" if grid["kind"] == "urban" else "part_time"]

    out, start = [], 0
    for plan in plans:
        staffed = assign_staff(plan, roles, rng, phone_start=start)
        start += len(staffed.staff)
        out.append(staffed)
    return out


def _figures(plans: list[GridPlan], run: dict[str, Any], scale: str) -> list[Figure]:
    grids = pd.concat([p.level(3) for p in plans], ignore_index=True)
    staff = pd.concat([p.staff for p in plans], ignore_index=True)
    urban = set(grids.loc[grids["kind"] == "urban", "code"].astype(str))
    urban_full = staff[(staff["role"] == "full_time") & staff["grid_code"].isin(urban)]
    kinds = grids["kind"].value_counts()
    summary = run.get("incidents") or {}
    rows = [
        Figure("grids (网格)", None, len(grids), "output", "not published"),
        Figure("urban grids (城市社区网格)", None, int(kinds.get("urban", 0)), "output"),
        Figure("rural grids (农村网格)", None, int(kinds.get("rural", 0)), "output"),
        Figure("urban grids with a full-time worker", len(urban), urban_full["grid_code"].nunique(),
               "input", "专职网格员 in every urban community grid"),
    ]  # fmt: skip
    rows += incident_figures(run, None, None, False)
    if "hotline_orders" in summary:
        rows += [
            Figure("12345 work orders (工单)", None, summary["hotline_orders"], "input",
                   f"{HOTLINE:.0%} of the reports (set), each with a point, located to its grid"),
            Figure("escalations (升级)", None, summary.get("escalations"), "output"),
            Figure("referrals up the chain (网格吹哨、部门报到)", None,
                   sum((summary.get("referrals") or {}).values()), "output",
                   ", ".join(f"{k} {v}" for k, v in (summary.get("referrals") or {}).items())),
            Figure("reopened after feedback (反馈不满意)", None, summary.get("reopened"), "output"),
        ]  # fmt: skip
    stats = run.get("incident_stats") or {}
    if stats:
        rows.append(
            Figure(
                "cases closed in the busiest grid (its workers)",
                None,
                stats["closed_per_grid_most"],
                "output",
                f"median grid {stats['closed_per_grid_median']}; the source's one worker "
                "visited 2,668 households and closed 155 cases in a year",
            )
        )
    return rows
