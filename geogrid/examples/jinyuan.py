"""Jinyuan street, Dayi (大邑县晋原街道, in 510129): six levels, 1 / 15 / 116 / 1,606.

Published (../shared/DOMAIN.md): a 6-level system 街道 → 社区 → 小区 → 楼栋 → 单元 → 微网格 with
1 level-1, 15 level-2, 116 level-3 (given as 95 residential estates/courtyards + 34 scattered
rural settlements 林盘, which sum to 129, not 116) and 1,606 level-4 micro-grids covering
54,707 households: 162 shop, 30 scenic-area, 57 institution, 5 enterprise, 1,186 residential
and 166 rural micro-grids; 1,352 micro-grid heads with public signs.

**Which figure we follow**: the level counts (1 / 15 / 116 / 1,606) and the micro-grid types
all add up (162 + 30 + 57 + 5 + 1,186 + 166 = 1,606), the 95 + 34 split does not; we keep
116 level-3 areas and the 34 林盘 (they hold the 166 rural micro-grids), so 82 estates/
courtyards, not 95. The source's "level 4" (micro-grids) is this plan's level 6, under
楼栋 (level 4) and 单元 (level 5) grids whose counts are not published (outputs here).

The rebuild: the street is a piece of Dayi's real outline, cut into 11 urban and 4 rural
communities, each into its estates or 林盘 (given polygons, natural); estates hold buildings,
林盘 household points; shops, institutions, firms and scenic areas are sites kept as their own
grids. Inside every level-3 area geogrid partitions three times: 楼栋 grids, 单元 grids in
each, micro-grids in each, the numbers set so the micro-grids per area are exactly its share.
1,352 = 1,186 + 166: a micro-grid head (微网格长) and a sign for every household micro-grid.
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geogrid.examples import synth
from geogrid.examples.layout import pick_central
from geogrid.examples.pipeline import Area, Jurisdiction, assign_staff
from geogrid.examples.system import Figure, Setup
from geogrid.partition import partition
from geogrid.partition.plan import (
    geoms_to_plan_crs,
    micro_grid_rows,
    plan_units,
    share_grids,
    subset_units,
)
from geogrid.plan import PLAN_CRS, GridPlan
from geogrid.units import build_units

__all__ = ["CODE", "NAME", "PUBLISHED", "planned_grids", "setup"]

NAME = "jinyuan"
CODE = "510129"
STREET = "510129001"
PUBLISHED: dict[str, Any] = {
    "level 1": 1,
    "level 2": 15,
    "level 3": 116,
    "micro-grids": 1606,
    "households": 54_707,
    "shop": 162,
    "scenic": 30,
    "institution": 57,
    "enterprise": 5,
    "residential": 1186,
    "rural": 166,
    "micro-grid heads": 1352,
}
LEVELS = ["社区", "小区/林盘", "楼栋", "单元", "微网格"]
URBAN, RURAL = 11, 4
ESTATES, LINPAN = 82, 34
SMALL_COMMUNITIES = (0, URBAN)  # one urban and one rural community
SITES = {"shop": ("market", "商铺"), "institution": ("institution", "单位"),
         "enterprise": ("enterprise", "企业"), "scenic": ("scenic", "景区")}  # fmt: skip


def _spec(seed: int) -> dict[str, Any]:
    """Level-3 areas per community and every area's micro-grids by type and households."""
    rng = np.random.default_rng([seed, 510129])
    estates = synth.split_counts(ESTATES, URBAN, rng, 0.3)
    linpan = synth.split_counts(LINPAN, RURAL, rng, 0.3)
    per_area = np.concatenate([estates, linpan])
    urban = np.arange(ESTATES + LINPAN) < ESTATES
    micro = {
        "residential": _onto(PUBLISHED["residential"], ESTATES, rng, at_least=1),
        "shop": _onto(PUBLISHED["shop"], ESTATES, rng),
        "institution": _onto(PUBLISHED["institution"], ESTATES, rng),
        "enterprise": _onto(PUBLISHED["enterprise"], ESTATES, rng),
        "rural": _onto(PUBLISHED["rural"], LINPAN, rng, at_least=1),
        "scenic": _onto(PUBLISHED["scenic"], LINPAN, rng),
    }
    homes_micro = np.concatenate([micro["residential"], micro["rural"]])
    households = share_grids(PUBLISHED["households"], [float(m) for m in homes_micro])
    return {
        "per_community": per_area,
        "urban": urban,
        "micro": micro,
        "households": np.asarray(households),
        "homes_micro": homes_micro,
    }


def _onto(total: int, n: int, rng: np.random.Generator, at_least: int = 0) -> np.ndarray:
    """``total`` over ``n`` areas (each ``at_least``), exact."""
    if at_least:
        return synth.split_counts(total, n, rng, 0.35)
    return rng.multinomial(total, np.full(n, 1.0 / n)).astype(np.int64)


def _areas_of(communities: tuple[int, ...] | range, spec: dict[str, Any]) -> list[int]:
    starts = np.concatenate([[0], np.cumsum(spec["per_community"])])
    return [a for c in communities for a in range(starts[c], starts[c + 1])]


def planned_grids(scale: str = "full", seed: int = 0) -> dict[str, int]:
    """Grids per level and micro-grids per type that the settings give."""
    spec = _spec(seed)
    communities = range(URBAN + RURAL) if scale == "full" else SMALL_COMMUNITIES
    areas = _areas_of(communities, spec)
    counts = {"level 2": len(list(communities)), "level 3": len(areas)}
    for kind, values in spec["micro"].items():
        base = 0 if kind in ("residential", "shop", "institution", "enterprise") else ESTATES
        counts[kind] = int(sum(values[a - base] for a in areas if 0 <= a - base < len(values)))
    counts["micro-grids"] = sum(counts[k] for k in spec["micro"])
    counts["households"] = int(sum(spec["households"][a] for a in areas))
    return counts


def setup(region: Any, crs: CRS, *, scale: str, seed: int) -> Setup:
    """The street, its communities, estates and 林盘 with buildings, households and sites."""
    spec = _spec(seed)
    rng = np.random.default_rng([seed, 4])
    pieces = synth.divide(region, 40, rng)
    street = pieces[pick_central(pieces, region.centroid)]
    communities = synth.divide(street, URBAN + RURAL, rng)
    keep = range(URBAN + RURAL) if scale == "full" else SMALL_COMMUNITIES
    areas: list[Area] = []
    start = 0
    for c in range(URBAN + RURAL):
        n = int(spec["per_community"][c])
        if c in keep:
            areas.append(_community(c, communities[c], range(start, start + n), spec, crs, seed))
        start += n
    jurisdiction = Jurisdiction(STREET, "晋原街道", "街道", areas)
    homes = gpd.GeoDataFrame(pd.concat([a.homes for a in areas], ignore_index=True), crs=crs)
    return Setup(
        county=(CODE, "大邑县"),
        crs=crs,
        jurisdictions=[jurisdiction],
        levels=LEVELS,
        staff=lambda plans: _staff(plans, seed),
        figures=lambda plans, run: _figures(plans, run, scale),
        homes=homes,
        build=lambda j, c, s, name, attribution: build_plan(j, c, s, spec, name, attribution),
        sign_codes=_head_micro_grids,
        notes=[
            "Level 3 follows the 116 (82 estates/courtyards + 34 林盘), not the source's 95 + 34 "
            "= 129: the level counts and the micro-grid types all add up, the split does not.",
            "The source's four published levels are this plan's levels 1, 2, 3 and 6; 楼栋 "
            "(level 4) and 单元 (level 5) grids are cut by geogrid inside every estate and 林盘 "
            "(about four micro-grids a 楼栋 grid, two a 单元 grid) and are outputs.",
            "Inputs: the level-1/2/3 areas (natural), the micro-grids per area and type (so "
            "that the street has the published 1,606), 54,707 households; outputs: the "
            "楼栋, 单元 and micro-grids geogrid cut.",
        ],
        incidents={"incidents": 3000 if scale == "full" else 500, "closed_share": 0.985},
        maps_for=None,
    )


def _community(c: int, geom: Any, areas: range, spec: dict[str, Any], crs: CRS, seed: int) -> Area:
    rng = np.random.default_rng([seed, 400 + c])
    urban = c < URBAN
    land = synth.divide(geom, len(areas), rng)
    code = f"{STREET}{c + 1:03d}"
    name = f"{_NAMES[c]}社区"
    parts, homes, sites = [], [], []
    for i, a in enumerate(areas):
        label = f"{name[:-2]}{'小区' if urban else '林盘'}{i + 1}"
        site_list = _sites(a, spec, label)
        households = int(spec["households"][a])
        if urban:
            need = 2 * int(spec["homes_micro"][a])  # units enough for its micro-grids
            for dx, dy, per in ((40.0, 26.0, 12.0), (30.0, 20.0, 8.0), (24.0, 16.0, 6.0)):
                buildings, _, placed = synth.urban_community(
                    land[i], households, rng, sites=site_list, spacing=160,
                    per_building=per, most=40, lattice=(dx, dy),
                )  # fmt: skip
                if len(buildings) >= need:
                    break
            rows = buildings.assign(area=label)
        else:
            m = int(spec["micro"]["rural"][a - ESTATES])
            counts = synth.split_counts(households, max(2 * m, 2), rng, 0.4)
            _, points, placed = synth.rural_village(
                land[i], counts, rng, prefix=label, sites=site_list
            )
            rows = points.assign(area=label, households=1)
        rows["residents"] = _per_building(rows["households"].to_numpy(), rng)
        homes.append(rows)
        sites.append(placed.assign(area=label))
        parts.append({"name": label, "area": a, "geometry": land[i]})
    return Area(
        code=code,
        name=name,
        kind="urban" if urban else "rural",
        geometry=geom,
        homes=_frame(homes, crs),
        hamlets=gpd.GeoDataFrame(parts, geometry="geometry", crs=crs),
        sites=_frame(sites, crs),
    )


def _frame(parts: list[gpd.GeoDataFrame], crs: CRS) -> gpd.GeoDataFrame:
    joined = pd.concat([gpd.GeoDataFrame(p, geometry="geometry") for p in parts], ignore_index=True)
    return gpd.GeoDataFrame(joined, geometry="geometry").set_crs(crs, allow_override=True)


_NAMES = [
    "东街",
    "西街",
    "南街",
    "北街",
    "城中",
    "城南",
    "城北",
    "子龙",
    "沙渠",
    "川王",
    "凤凰",
    "晋原",
    "金星",
    "花水湾",
    "雪山",
]


def _per_building(households: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    people = synth.residents_for(int(households.sum()), 2.5, rng)
    ends = np.cumsum(households)
    return np.add.reduceat(people, np.concatenate([[0], ends[:-1]]))


def _sites(a: int, spec: dict[str, Any], label: str) -> list[synth.Site]:
    out = []
    for kind, (subtype, word) in SITES.items():
        values = spec["micro"][kind]
        base = ESTATES if kind == "scenic" else 0
        if 0 <= a - base < len(values):
            out += [
                synth.Site(f"{label}{word}{j + 1}", subtype) for j in range(int(values[a - base]))
            ]
    return out


# -- the six-level plan ----------------------------------------------------------------


def build_plan(
    j: Jurisdiction, crs: CRS, seed: int, spec: dict[str, Any], name: str, attribution: str
) -> GridPlan:
    """Street → communities → estates/林盘 (given) → 楼栋 → 单元 → micro-grids (partitioned)."""
    rows: list[dict[str, object]] = []
    units: list[pd.DataFrame] = []
    taken: set[str] = set()
    plans = []
    for area in j.areas:  # each level-3 area (given) in lon/lat; its community is their union
        assert area.hamlets is not None
        # edges cut short, as the runner does for every area: neighbours' vertices along a
        # shared edge then meet within micrometres in lon/lat
        lands = shapely.segmentize(area.hamlets.geometry.to_numpy(), 50.0)
        plans.append((area, lands, geoms_to_plan_crs(lands, crs)))
    community_ll = [shapely.union_all(ll) for _, _, ll in plans]
    rows.append(
        {"code": j.code, "name": j.name, "level": 1, "geometry": shapely.union_all(community_ll)}
    )
    for (area, lands, lands_ll), outline in zip(plans, community_ll, strict=True):
        rows.append({"code": area.code, "name": area.name, "level": 2, "parent_code": j.code,
                     "kind": area.kind, "geometry": outline})  # fmt: skip
        assert area.hamlets is not None
        codes = [f"{area.code}{i + 1:03d}" for i in range(len(lands))]
        for i, part in enumerate(area.hamlets.itertuples(index=False)):
            rows.append({"code": codes[i], "name": part.name, "level": 3,
                         "parent_code": area.code, "kind": area.kind, "geometry": lands_ll[i]})  # fmt: skip
            micro = int(spec["homes_micro"][part.area])
            more, table = _estate(
                area, part, lands[i], lands_ll[i], codes[i], micro, crs, seed, taken
            )
            rows += more
            units.append(table)
    grids = gpd.GeoDataFrame(rows, geometry="geometry", crs=PLAN_CRS)
    return GridPlan(
        name,
        [j.level_name, *LEVELS],
        grids,
        units=gpd.GeoDataFrame(pd.concat(units, ignore_index=True), crs=PLAN_CRS),
        attribution=attribution,
    )


def _estate(
    area: Area, part: Any, land: Any, land_ll: Any, code: str, micro: int, crs: CRS, seed: int,
    taken: set[str],
) -> tuple[list[dict[str, object]], pd.DataFrame]:  # fmt: skip
    """Levels 4–6 of one estate or 林盘: 楼栋 grids, 单元 grids, micro-grids."""
    assert area.sites is not None
    homes = area.homes[area.homes["area"] == part.name]
    sites = area.sites[area.sites["area"] == part.name]
    sites = sites.assign(kind="special")
    units = build_units(land, homes, locked=sites if len(sites) else None, crs=crs)
    fit = (land, land_ll)
    loaded = int((units.table["households"] > 0).sum())
    top = partition(units, grids=min(loaded, max(1, math.ceil(micro / 4))), seed=seed)
    rows4, codes4 = micro_grid_rows(top, code, part.name, taken, level=4, parent=fit)
    deepest = np.array(codes4, dtype=object)
    share4 = _capped(micro, top, units)
    out: list[dict[str, object]] = []
    for g, row4 in enumerate(rows4):
        given = units.locked_grids.get(top.locked[g] or "", {})
        row4.update(
            {"kind": area.kind, **given, "name": given.get("name", f"{part.name}{g + 1}号楼栋")}
        )
        chain = [row4]
        mask = top.assignment == g
        if given:  # a special site: one 单元 and one micro-grid, the same polygon
            row5 = {**row4, "code": f"{row4['code']}001", "level": 5, "parent_code": row4["code"]}
            row6 = {
                **row4,
                "code": f"{row4['code']}001001",
                "level": 6,
                "parent_code": row5["code"],
            }
            chain += [row5, row6]
            deepest[mask] = row6["code"]
        else:
            sub = subset_units(units, mask)
            chain += _below(sub, row4, share4[g], fit, taken, seed, deepest, mask, area.kind)
        out += chain
    taken.update(str(r["code"]) for r in out)
    unit_table = plan_units(units, code, deepest, parent=fit)
    return out, unit_table


def _below(
    sub: Any, row4: dict[str, object], micro: int, fit: Any, taken: set[str], seed: int,
    deepest: np.ndarray, mask: np.ndarray, kind: str,
) -> list[dict[str, object]]:  # fmt: skip
    """单元 grids of one 楼栋 grid and the micro-grids of each; unit codes into ``deepest``."""
    loaded = int((sub.table["households"] > 0).sum())
    mid = partition(sub, grids=min(loaded, max(1, math.ceil(micro / 2))), seed=seed)
    rows5, codes5 = micro_grid_rows(mid, str(row4["code"]), str(row4["name"]), taken, level=5,
                                    parent=fit)  # fmt: skip
    share5 = _capped(micro, mid, sub)
    positions = np.flatnonzero(mask)
    out: list[dict[str, object]] = []
    for h, row5 in enumerate(rows5):
        row5.update({"kind": kind, "name": f"{row4['name']}{h + 1}单元"})
        inner = mid.assignment == h
        cell = subset_units(sub, inner)
        units_here = int((cell.table["households"] > 0).sum())
        low = partition(cell, grids=max(1, min(share5[h], units_here)), seed=seed)
        rows6, codes6 = micro_grid_rows(low, str(row5["code"]), str(row5["name"]), taken,
                                        level=6, parent=fit)  # fmt: skip
        for r in rows6:
            r["kind"] = kind
        deepest[positions[np.flatnonzero(inner)]] = codes6
        out += [row5, *rows6]
    del codes5
    return out


def _capped(total: int, result: Any, units: Any) -> list[int]:
    """``total`` shared over the free grids of ``result`` by load, none above its loaded units."""
    free = [g for g in range(result.k) if result.locked[g] is None]
    has = units.table["households"].to_numpy() > 0
    room = [int(has[result.assignment == g].sum()) for g in free]
    loads = [float(result.loads[result.assignment == g].sum()) for g in free]
    share = share_grids(total, loads) if total >= len(free) else [1] * len(free)
    while True:  # move a grid from the most over its units to the one with most room
        over = [i for i in range(len(free)) if share[i] > room[i]]
        spare = [i for i in range(len(free)) if share[i] < room[i]]
        if not over or not spare:
            break
        share[max(over, key=lambda i: share[i] - room[i])] -= 1
        share[max(spare, key=lambda i: room[i] - share[i])] += 1
    out = [0] * result.k
    for i, g in enumerate(free):
        out[g] = share[i]
    return out


def _head_micro_grids(plan: GridPlan) -> list[str]:
    """Micro-grids with households (residential, rural): the ones with a head and a sign."""
    six = plan.level(6)
    return [str(c) for c in six.loc[six["kind"] != "special", "code"]]


def _staff(plans: list[GridPlan], seed: int) -> list[GridPlan]:
    rng = np.random.default_rng([seed, 9])

    def roles(grid: pd.Series) -> list[str]:
        level = int(grid["level"])
        if level == 2:
            return ["head"]
        if level == 6 and grid["kind"] != "special":
            return ["micro_head"]
        return []

    return [assign_staff(p, roles, rng, phone_start=0) for p in plans]


def _figures(plans: list[GridPlan], run: dict[str, Any], scale: str) -> list[Figure]:
    (plan,) = plans
    full = scale == "full"
    six = plan.level(6)
    types = {
        "residential": int((six["kind"] == "urban").sum()),
        "rural": int((six["kind"] == "rural").sum()),
        "shop": int((six["subtype"] == "market").sum()),
        "scenic": int((six["subtype"] == "scenic").sum()),
        "institution": int((six["subtype"] == "institution").sum()),
        "enterprise": int((six["subtype"] == "enterprise").sum()),
    }

    def published(key: str) -> Any:
        return PUBLISHED[key] if full else None

    rows = [
        Figure("level 1 街道", published("level 1"), len(plan.level(1)), "input"),
        Figure("level 2 社区", published("level 2"), len(plan.level(2)), "input"),
        Figure("level 3 小区/林盘", published("level 3"), len(plan.level(3)), "input",
               "116 followed (82 estates + 34 林盘), not 95 + 34 = 129"),
        Figure("level 4 楼栋 grids", None, len(plan.level(4)), "output", "not published"),
        Figure("level 5 单元 grids", None, len(plan.level(5)), "output", "not published"),
        Figure("level 6 micro-grids (微网格)", published("micro-grids"), len(six), "output",
               "the source's level 4"),
    ]  # fmt: skip
    for kind, count in types.items():
        rows.append(Figure(f"{kind} micro-grids", published(kind), count, "output"))
    heads = int((plan.staff["role"] == "micro_head").sum())
    rows += [
        Figure("households (户)", published("households"),
               int(plan.level(1)["households"].sum()), "input"),
        Figure("micro-grid heads (微网格长)", published("micro-grid heads"), heads, "input"),
        Figure("public signs (公示牌)", published("micro-grid heads"), run.get("sign_pages"),
               "output", "one per micro-grid with a head"),
    ]  # fmt: skip
    return rows
