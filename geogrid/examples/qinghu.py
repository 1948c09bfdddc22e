"""Qinghu street, Jiangshan (江山市清湖街道, in 330881): 26 villages → 60 grids by natural village.

Published (../shared/DOMAIN.md): 26 administrative villages → 60 grids using natural villages
/ production teams as the basic unit; 60 grid heads, 60 full-time and 121 part-time workers;
a public sign (公示牌) in every grid; grids classed priority/ordinary (重点/一般).

The rebuild: the street is one of 19 invented pieces of Jiangshan's real outline (Jiangshan
has 19 towns, townships and streets), cut into 26 villages with their natural villages
(自然村) and one point per household; the street's 60 grids are shared out over the villages by
households (``--grids-total 60``, :func:`geogrid.partition.plan.share_grids`) and each village
is partitioned into its share of grids of whole natural villages. A grid is priority (重点)
when its households are at least 1.2 × the street's median grid.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from geogrid.examples import synth
from geogrid.examples.layout import pick_central
from geogrid.examples.pipeline import Area, Jurisdiction, assign_staff
from geogrid.examples.system import Figure, Setup
from geogrid.partition.plan import share_grids
from geogrid.plan import GridPlan

__all__ = ["CODE", "NAME", "PUBLISHED", "planned_grids", "setup"]

NAME = "qinghu"
CODE = "330881"
STREET = "330881002"
PUBLISHED: dict[str, Any] = {
    "villages": 26,
    "grids": 60,
    "heads": 60,
    "full-time": 60,
    "part-time": 121,
    "signs": 60,
}
SMALL_VILLAGES = 6


def _households(seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 330881])
    return synth.split_counts(8200, PUBLISHED["villages"], rng, 0.4)


def planned_grids(scale: str = "full", seed: int = 0) -> dict[str, int]:
    """Grids the street's setting gives (60 shared over the villages by households)."""
    share = share_grids(PUBLISHED["grids"], [float(h) for h in _households(seed)])
    villages = PUBLISHED["villages"] if scale == "full" else SMALL_VILLAGES
    return {"villages": villages, "grids": sum(share[:villages])}


def setup(region: Any, crs: CRS, *, scale: str, seed: int) -> Setup:
    """The street, its 26 villages (small: 6) with natural villages and households."""
    rng = np.random.default_rng([seed, 2])
    pieces = synth.divide(region, 19, rng)
    street = pieces[_away_from_centre(pieces, region)]
    villages = synth.divide(street, PUBLISHED["villages"], rng)
    households = _households(seed)
    share = share_grids(PUBLISHED["grids"], [float(h) for h in households])
    keep = PUBLISHED["villages"] if scale == "full" else SMALL_VILLAGES
    areas = []
    for v in range(keep):
        vrng = np.random.default_rng([seed, 200 + v])
        hamlets = share[v] + max(2, round(1.6 * share[v]))
        counts = synth.split_counts(int(households[v]), hamlets, vrng, 0.5)
        name = f"清湖{_VILLAGE_NAMES[v]}村"
        polygons, points, _ = synth.rural_village(villages[v], counts, vrng, prefix=name)
        points["residents"] = synth.residents_for(len(points), 2.9, vrng)
        areas.append(
            Area(
                code=f"{STREET}{v + 1:03d}",
                name=name,
                kind="rural",
                geometry=villages[v],
                homes=points.set_crs(crs),
                grids=share[v],
                hamlets=polygons.set_crs(crs),
            )
        )
    jurisdiction = Jurisdiction(STREET, "清湖街道", "街道", areas)
    homes = gpd.GeoDataFrame(pd.concat([a.homes for a in areas], ignore_index=True), crs=crs)
    return Setup(
        county=(CODE, "江山市"),
        crs=crs,
        jurisdictions=[jurisdiction],
        levels=["村", "网格"],
        staff=lambda plans: _staff(plans, seed),
        figures=lambda plans, run: _figures(plans, run, scale),
        homes=homes,
        notes=[
            "The street's boundary, villages, natural villages and households are invented "
            "inside Jiangshan's real outline; households (8,200) are not published.",
            "Grids: 60 shared over the 26 villages by households (largest remainder, every "
            "village at least one: --grids-total 60), each village cut into its share of grids "
            "of whole natural villages (input: the 60; output: the grids made).",
            "Staff: a head and a full-time worker per grid, two part-time workers per grid and "
            "one more in the most populous grid (121).",
            "Priority (重点): households ≥ 1.2 × the median grid's; the others ordinary (一般).",
        ],
        incidents={"incidents": 600, "closed_share": 0.97},
    )


_VILLAGE_NAMES = "东西南北上下前后大小新老中清湖山溪塘坞源岭口坪桥溪畈" * 2


def _away_from_centre(pieces: np.ndarray, region: Any) -> int:
    """A piece some way from the county seat (not the central one): the street's land."""
    central = pick_central(pieces, region.centroid)
    distances = [p.centroid.distance(pieces[central].centroid) for p in pieces]
    return int(np.argsort(distances)[len(pieces) // 3])


def _staff(plans: list[GridPlan], seed: int) -> list[GridPlan]:
    rng = np.random.default_rng([seed, 9])
    (plan,) = plans
    grids = plan.level(3)
    largest = str(
        grids.sort_values(["households", "code"], ascending=[False, True])["code"].iloc[0]
    )
    median = float(grids["households"].median())
    key = set(grids.loc[grids["households"] >= 1.2 * median, "code"].astype(str))
    classed = plan.copy()
    level3 = classed.grids["level"] == 3
    classed.grids.loc[level3, "priority"] = [
        "key" if str(c) in key else "normal" for c in classed.grids.loc[level3, "code"]
    ]

    def roles(grid: pd.Series) -> list[str]:
        if int(grid["level"]) != 3:
            return []
        part = 3 if str(grid["code"]) == largest else 2
        return ["head", "full_time"] + ["part_time"] * part

    return [assign_staff(classed, roles, rng, phone_start=0)]


def _figures(plans: list[GridPlan], run: dict[str, Any], scale: str) -> list[Figure]:
    (plan,) = plans
    full = scale == "full"
    roles = plan.staff["role"].value_counts()
    grids = plan.level(3)

    def published(key: str) -> Any:
        return PUBLISHED[key] if full else None

    return [
        Figure("villages (行政村)", published("villages"), len(plan.level(2)), "input"),
        Figure("grids (网格)", published("grids"), len(grids), "output",
               "60 set for the street, shared over the villages, grids of natural villages"),
        Figure("grid heads (网格长)", published("heads"), int(roles.get("head", 0)), "input"),
        Figure("full-time workers (专职网格员)", published("full-time"),
               int(roles.get("full_time", 0)), "input"),
        Figure("part-time workers (兼职网格员)", published("part-time"),
               int(roles.get("part_time", 0)), "input"),
        Figure("public signs (公示牌)", published("signs"), run.get("sign_pages"), "output",
               "one page per grid"),
        Figure("priority grids (重点网格)", None, int((grids["priority"] == "key").sum()),
               "output", "not published; households ≥ 1.2 × median"),
        Figure("natural villages (自然村)", None,
               int((plan.units["kind"] == "village").sum()), "input", "the units kept whole"),
    ]  # fmt: skip
