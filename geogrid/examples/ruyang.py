"""Ruyang county (汝阳县, 410326): 2,494 grids — 100 urban, 2,316 rural, 78 special.

Published (../shared/DOMAIN.md): 420,000 residents; 2,494 grids = 100 urban community grids
(城市社区网格) + 2,316 rural grids (农村网格; in the mountains by natural village) + 78 special
grids (专属网格); 5,724 grid workers; Baishu village (柏树村) 18 grids, 56 workers, 695
households, 2,087 residents; 1,365 incidents closed (98.3 %).

The rebuild: the real outline cut into 13 townships (the county's town and township names;
invented boundaries), 城关镇's seat 20 urban communities partitioned by a band of 300–500
households (the number of grids comes out of the band's count rule), 216 administrative
villages partitioned into grids of whole natural villages (自然村, a number per village as the
township sets it), 78 special sites (schools, hospitals, markets, firms, scenic areas) each
its own grid. Each township is one plan (乡镇 → 村/社区 → 网格).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from geogrid.examples import synth
from geogrid.examples.layout import divide_jurisdiction, pick_central
from geogrid.examples.pipeline import Area, Jurisdiction
from geogrid.examples.system import Cards, Figure, Setup, incident_figures
from geogrid.partition import Band, grid_count
from geogrid.plan import GridPlan

__all__ = ["CODE", "NAME", "PUBLISHED", "planned_grids", "setup"]

NAME = "ruyang"
CODE = "410326"
PUBLISHED: dict[str, Any] = {
    "grids": 2494,
    "urban grids": 100,
    "rural grids": 2316,
    "special grids": 78,
    "residents": 420_000,
    "grid workers": 5724,
    "Baishu grids": 18,
    "Baishu workers": 56,
    "Baishu households": 695,
    "Baishu residents": 2087,
    "incidents closed": 1365,
    "closure rate %": 98.3,
}
TOWNSHIPS = [
    "城关镇", "上店镇", "付店镇", "小店镇", "三屯镇", "刘店镇", "内埠镇",
    "陶营镇", "柏树乡", "十八盘乡", "靳村乡", "王坪乡", "蔡店乡",
]  # fmt: skip
SEAT, BAISHU_TOWN = 0, 8
BAND = (300.0, 500.0)
COMMUNITIES = 20
VILLAGES = 216
URBAN_SITES = {"school": 12, "hospital": 5, "market": 8, "institution": 11, "enterprise": 4}
RURAL_SITES = {"scenic": 6, "enterprise": 8}  # + a school and a health centre per township
SMALL = (SEAT, BAISHU_TOWN)
_SITE_NAMES = {
    "school": "学校", "hospital": "医院", "market": "市场", "institution": "机关单位",
    "enterprise": "企业", "scenic": "景区",
}  # fmt: skip


@dataclasses.dataclass
class _Spec:
    """The counts a planner works with, fixed before any geometry."""

    villages: list[int]  # per township
    grids: list[np.ndarray]  # per township: rural grids per village (K)
    urban: np.ndarray  # households per seat community
    urban_people: np.ndarray  # residents per seat community
    households: list[np.ndarray]  # per township: households per village
    people: list[np.ndarray]  # per township: residents per village
    urban_sites: list[list[synth.Site]]  # per seat community
    rural_sites: list[dict[int, list[synth.Site]]]  # per township: village → sites


def _spec(seed: int) -> _Spec:
    rng = np.random.default_rng([seed, 410326])
    villages = list(synth.split_counts(VILLAGES, len(TOWNSHIPS), rng, 0.3))
    others = synth.split_counts(PUBLISHED["rural grids"] - 18, VILLAGES - 1, rng, 0.3)
    grids, at = [], 0
    for t, n in enumerate(villages):
        take = n - 1 if t == BAISHU_TOWN else n
        k = others[at : at + take]
        at += take
        grids.append(np.concatenate([[18], k]) if t == BAISHU_TOWN else k)
    per = synth.split_counts(PUBLISHED["urban grids"], COMMUNITIES, rng, 0.25)
    urban = per * 400 + rng.integers(-60, 61, COMMUNITIES)
    sites = [
        synth.Site(f"{_SITE_NAMES[k]}{i + 1}", k) for k, n in URBAN_SITES.items() for i in range(n)
    ]
    order = rng.permutation(len(sites))
    urban_sites: list[list[synth.Site]] = [[] for _ in range(COMMUNITIES)]
    for j, i in enumerate(order):
        urban_sites[j % COMMUNITIES].append(sites[i])
    rural_sites: list[dict[int, list[synth.Site]]] = []
    extra = [(k, i) for k, n in RURAL_SITES.items() for i in range(n)]
    towns_for_extra = rng.integers(1, len(TOWNSHIPS), len(extra))
    for t, name in enumerate(TOWNSHIPS):
        chosen: dict[int, list[synth.Site]] = {}
        if t != SEAT:
            stem = name[:-1]
            chosen.setdefault(1 if t == BAISHU_TOWN else 0, []).extend(
                [synth.Site(f"{stem}中学", "school"), synth.Site(f"{stem}卫生院", "hospital")]
            )
        for (kind, i), town in zip(extra, towns_for_extra, strict=True):
            if town == t:
                village = int(rng.integers(1, villages[t]))
                chosen.setdefault(village, []).append(
                    synth.Site(f"{name[:-1]}{_SITE_NAMES[kind]}{i + 1}", kind)
                )
        rural_sites.append(chosen)
    households = [
        np.where(
            np.arange(len(k)) == 0 if t == BAISHU_TOWN else False,
            PUBLISHED["Baishu households"],
            np.rint(k * rng.uniform(40, 52, len(k))),
        ).astype(np.int64)
        for t, k in enumerate(grids)
    ]
    urban_people = _shares(round(urban.sum() * 2.62), urban)
    rural_total = PUBLISHED["residents"] - int(urban_people.sum()) - PUBLISHED["Baishu residents"]
    flat = np.concatenate(households)
    baishu_at = sum(len(h) for h in households[:BAISHU_TOWN])
    weights = flat.astype(float)
    weights[baishu_at] = 0
    shares = _shares(rural_total, weights)
    shares[baishu_at] = PUBLISHED["Baishu residents"]
    people, at = [], 0
    for h in households:
        people.append(shares[at : at + len(h)])
        at += len(h)
    return _Spec(villages, grids, urban, urban_people, households, people, urban_sites, rural_sites)


def _shares(total: int, weights: np.ndarray) -> np.ndarray:
    """``total`` shared out by ``weights`` (largest remainder, exact sum)."""
    quota = total * np.asarray(weights, float) / float(np.sum(weights))
    out = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - out), kind="stable")
    out[order[: total - int(out.sum())]] += 1
    return out


def planned_grids(scale: str = "full", seed: int = 0) -> dict[str, int]:
    """Grid counts the planner's settings give, by kind, without running a partition.

    Urban: the band's count rule (:func:`geogrid.partition.grid_count`) on every seat
    community's households; rural: the grids set per village; special: one per site.
    """
    spec = _spec(seed)
    towns = range(len(TOWNSHIPS)) if scale == "full" else SMALL
    band = Band(*BAND)
    urban = sum(grid_count(int(h), band)[0] for h in spec.urban) if SEAT in towns else 0
    rural = sum(int(spec.grids[t].sum()) for t in towns)
    special = sum(len(s) for t in towns for s in spec.rural_sites[t].values())
    special += sum(len(s) for s in spec.urban_sites) if SEAT in towns else 0
    return {"urban": urban, "rural": rural, "special": special, "grids": urban + rural + special}


def setup(region: Any, crs: CRS, *, scale: str, seed: int) -> Setup:
    """The 13 townships (small: 城关镇 and 柏树乡) with their areas and generated inputs."""
    spec = _spec(seed)
    rng = np.random.default_rng([seed, 1])
    towns = synth.divide(region, len(TOWNSHIPS), rng)
    order = _seat_first(towns, region)
    keep = range(len(TOWNSHIPS)) if scale == "full" else SMALL
    jurisdictions: list[Jurisdiction] = []
    homes: list[gpd.GeoDataFrame] = []
    for t in range(len(TOWNSHIPS)):
        trng = np.random.default_rng([seed, 100 + t])
        polygon = towns[order[t]]
        if t not in keep:
            continue
        division = divide_jurisdiction(
            polygon,
            trng,
            villages=spec.villages[t],
            communities=COMMUNITIES if t == SEAT else 0,
        )
        code = f"{CODE}{t + 1:03d}"
        areas: list[Area] = []
        for c, geom in enumerate(division.communities):
            areas.append(_community(code, c, geom, spec, crs, trng))
        for v, geom in enumerate(division.villages):
            areas.append(_village(code, t, v, geom, spec, crs, trng))
        jurisdictions.append(Jurisdiction(code, TOWNSHIPS[t], "乡镇", areas))
    for j in jurisdictions:
        homes.extend(a.homes for a in j.areas)
    notes = [
        "Township names are the county's; their boundaries, the villages, communities and "
        "everything in them are invented inside the real outline.",
        f"Residents: {PUBLISHED['residents']:,} at full scale (input), split as 2.62 persons "
        "per urban household (census 2020) and the rest over the rural households; the small "
        "scale keeps the same households and persons of its two townships.",
        "Grid workers: every grid has a head (网格长) and a full-time worker (专职网格员); the "
        "736 part-time workers (兼职网格员) go 20 to 柏树村 (its published 56 = 18 + 18 + 20) "
        "and the rest two to every urban grid and one to each of the most populous rural grids.",
    ]
    baishu = next((a for j in jurisdictions for a in j.areas if a.name == "柏树村"), None)
    cards = (
        [Cards(f"{CODE}{BAISHU_TOWN + 1:03d}", baishu.homes, group_by="hamlet")] if baishu else []
    )
    return Setup(
        county=(CODE, "汝阳县"),
        crs=crs,
        jurisdictions=jurisdictions,
        levels=["村/社区", "网格"],
        staff=lambda plans: _staff(plans, seed),
        figures=lambda plans, run: _figures(plans, run, scale),
        homes=gpd.GeoDataFrame(pd.concat(homes, ignore_index=True), crs=crs),
        cards=cards,
        notes=notes,
        maps_for=[f"{CODE}{BAISHU_TOWN + 1:03d}"] if scale == "small" else None,
        signs_under=f"{CODE}{BAISHU_TOWN + 1:03d}001" if scale == "small" else None,
        incidents={"incidents": 1389, "closed_share": 0.983, "rejected_share": 0.0},
    )


def _seat_first(towns: np.ndarray, region: Any) -> list[int]:
    """Township cells with the one nearest the county's centre first (the seat, 城关镇)."""
    seat = pick_central(towns, region.centroid)
    return [seat, *[i for i in range(len(towns)) if i != seat]]


def _community(code: str, c: int, geom: Any, spec: _Spec, crs: CRS, rng: Any) -> Area:
    households = int(spec.urban[c])
    buildings, streets, sites = synth.urban_community(
        geom, households, rng, sites=spec.urban_sites[c]
    )
    people = synth.residents_for(households, 2.62, rng, int(spec.urban_people[c]))
    buildings["residents"] = _per_row(buildings["households"].to_numpy(), people)
    return Area(
        code=f"{code}{c + 1:03d}",
        name=f"城关第{c + 1}社区",
        kind="urban",
        geometry=geom,
        homes=buildings.set_crs(crs),
        band=BAND,
        streets=streets.set_crs(crs),
        sites=sites.set_crs(crs),
    )


def _village(code: str, t: int, v: int, geom: Any, spec: _Spec, crs: CRS, rng: Any) -> Area:
    k = int(spec.grids[t][v])
    baishu = t == BAISHU_TOWN and v == 0
    households = int(spec.households[t][v])
    hamlets = k + max(1, round(0.35 * k))
    counts = synth.split_counts(households, hamlets, rng, 0.45)
    name = "柏树村" if baishu else f"{TOWNSHIPS[t][:-1]}{v + 1}村"
    polygons, points, sites = synth.rural_village(
        geom, counts, rng, prefix=name, sites=spec.rural_sites[t].get(v, [])
    )
    mean = float(spec.people[t][v]) / households
    points["residents"] = synth.residents_for(households, mean, rng, int(spec.people[t][v]))
    return Area(
        code=f"{code}{COMMUNITIES + v + 1 if t == SEAT else v + 1:03d}",
        name=name,
        kind="rural",
        geometry=geom,
        homes=points.set_crs(crs),
        grids=k,
        hamlets=polygons.set_crs(crs),
        sites=sites.set_crs(crs),
    )


def _per_row(counts: np.ndarray, people: np.ndarray) -> np.ndarray:
    ends = np.cumsum(counts)
    return np.add.reduceat(people, np.concatenate([[0], ends[:-1]])) if len(counts) else people


def _staff(plans: list[GridPlan], seed: int) -> list[GridPlan]:
    from geogrid.examples.pipeline import assign_staff

    rng = np.random.default_rng([seed, 9])
    grids = pd.concat([p.grids[p.grids["level"] == 3] for p in plans], ignore_index=True)
    extra: dict[str, int] = {}
    baishu = grids[grids["name"].astype(str).str.startswith("柏树村")]
    for i, code in enumerate(baishu.sort_values("code")["code"]):
        extra[str(code)] = 1 + (1 if i < 20 - len(baishu) else 0)
    for code in grids.loc[grids["kind"] == "urban", "code"]:
        extra[str(code)] = 2
    budget = 736 - sum(extra.values())
    rural = grids[(grids["kind"] == "rural") & ~grids["code"].astype(str).isin(extra)]
    for code in rural.sort_values(["households", "code"], ascending=[False, True])["code"][:budget]:
        extra[str(code)] = 1

    def roles(grid: pd.Series) -> list[str]:
        if int(grid["level"]) != 3:
            return []
        return ["head", "full_time"] + ["part_time"] * extra.get(str(grid["code"]), 0)

    out, start = [], 0
    for plan in plans:
        staffed = assign_staff(plan, roles, rng, phone_start=start)
        start += len(staffed.staff)
        out.append(staffed)
    return out


def _figures(plans: list[GridPlan], run: dict[str, Any], scale: str) -> list[Figure]:
    grids = pd.concat([p.grids[p.grids["level"] == 3] for p in plans], ignore_index=True)
    kinds = grids["kind"].value_counts()
    staff = sum(len(p.staff) for p in plans)
    residents = int(sum(int(p.level(1)["residents"].sum()) for p in plans))
    baishu_code = next(
        (str(g["code"]) for p in plans for _, g in p.level(2).iterrows() if g["name"] == "柏树村"),
        None,
    )
    full = scale == "full"
    rows = [
        Figure("grids (网格)", PUBLISHED["grids"] if full else None, len(grids), "output"),
        Figure("urban grids (城市社区网格)", PUBLISHED["urban grids"] if full else None,
               int(kinds.get("urban", 0)), "output", "band 300–500 households per community"),
        Figure("rural grids (农村网格)", PUBLISHED["rural grids"] if full else None,
               int(kinds.get("rural", 0)), "output", "K grids of whole natural villages per village"),
        Figure("special grids (专属网格)", PUBLISHED["special grids"] if full else None,
               int(kinds.get("special", 0)), "output", "one per special site (locked unit)"),
        Figure("residents (人口)", PUBLISHED["residents"] if full else None, residents, "input",
               "generated at the published total; counted back into the grids"),
        Figure("grid workers (网格员)", PUBLISHED["grid workers"] if full else None, staff, "input",
               "heads + full-time + part-time"),
    ]  # fmt: skip
    rows += incident_figures(run, PUBLISHED["incidents closed"], PUBLISHED["closure rate %"], full)
    if baishu_code is not None:
        plan = next(p for p in plans if baishu_code in set(p.grids["code"].astype(str)))
        village = plan.grid(baishu_code)
        children = plan.grids[plan.grids["parent_code"] == baishu_code]
        workers = int(plan.staff["grid_code"].isin(children["code"]).sum())
        rows += [
            Figure("柏树村 grids", PUBLISHED["Baishu grids"], len(children), "output", "K = 18 set"),
            Figure("柏树村 workers", PUBLISHED["Baishu workers"], workers, "input"),
            Figure("柏树村 households", PUBLISHED["Baishu households"], int(village["households"]), "input"),
            Figure("柏树村 residents", PUBLISHED["Baishu residents"], int(village["residents"]), "input"),
        ]  # fmt: skip
    return rows
