"""Zhihe street, Pengzhou (彭州市致和街道, in 510182): 22 → 167 → 254 → 959, 1,148 workers.

Published (../shared/DOMAIN.md): 4 levels below the street — 22 villages/communities → 167
level-2 grids (redrawn inside the villages) → 254 villager groups (村民小组, natural) → 959
courtyard grids (院落网格, redrawn inside the groups); 1,148 grid workers; one courtyard grid
of 13 households (袁家院子); a contact card (直通卡) for every household.

The rebuild: the street is a piece of Pengzhou's real outline cut into 22 villages, each
village into its villager groups' land (the groups tile the village: a group is natural, its
land imported); courtyards (院落) of a few households in every group. geogrid partitions each
village into its grids of whole groups (K per village), keeps the groups as level 4 and
partitions every group into its courtyard grids of whole courtyards (K per group).
Plan: 街道 → 村/社区 → 网格 → 村民小组 → 院落网格.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geogrid.codes import number_children
from geogrid.examples import synth
from geogrid.examples.layout import pick_central
from geogrid.examples.pipeline import Area, Jurisdiction, assign_staff
from geogrid.examples.system import Cards, Figure, Setup
from geogrid.partition import partition
from geogrid.partition.plan import micro_grid_rows, plan_units
from geogrid.plan import PLAN_CRS, GridPlan
from geogrid.units import build_units

__all__ = ["CODE", "NAME", "PUBLISHED", "deepen", "planned_grids", "setup"]

NAME = "zhihe"
CODE = "510182"
STREET = "510182001"
PUBLISHED: dict[str, Any] = {
    "villages": 22,
    "grids": 167,
    "groups": 254,
    "courtyard grids": 959,
    "workers": 1148,
}
SMALL_VILLAGES = 3
LEVELS = ["村/社区", "网格", "村民小组", "院落网格"]


def _spec(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grids per village, groups per village, courtyard grids per group."""
    rng = np.random.default_rng([seed, 510182])
    grids = synth.split_counts(PUBLISHED["grids"], PUBLISHED["villages"], rng, 0.25)
    extra = synth.split_counts(
        PUBLISHED["groups"] - PUBLISHED["grids"] + PUBLISHED["villages"],
        PUBLISHED["villages"],
        rng,
        0.3,
    )
    groups = grids + extra - 1  # every grid needs a group at least
    courtyard_grids = synth.split_counts(
        PUBLISHED["courtyard grids"], PUBLISHED["groups"], rng, 0.3
    )
    return grids, groups, courtyard_grids


def planned_grids(scale: str = "full", seed: int = 0) -> dict[str, int]:
    """Grid counts per level that the settings (K per village and per group) give."""
    grids, groups, courtyard = _spec(seed)
    n = PUBLISHED["villages"] if scale == "full" else SMALL_VILLAGES
    return {
        "villages": n,
        "grids": int(grids[:n].sum()),
        "groups": int(groups[:n].sum()),
        "courtyard grids": int(courtyard[: int(groups[:n].sum())].sum()),
    }


def setup(region: Any, crs: CRS, *, scale: str, seed: int) -> Setup:
    """The street, its villages, villager groups and courtyards."""
    grids, groups, courtyard = _spec(seed)
    rng = np.random.default_rng([seed, 3])
    pieces = synth.divide(region, 20, rng)
    street = pieces[pick_central(pieces, region.centroid)]
    villages = synth.divide(street, PUBLISHED["villages"], rng)
    keep = PUBLISHED["villages"] if scale == "full" else SMALL_VILLAGES
    areas, cards, at = [], [], 0
    for v in range(keep):
        vrng = np.random.default_rng([seed, 300 + v])
        k_groups = int(groups[v])
        land = synth.divide(villages[v], k_groups, vrng)
        name = f"致和{_NAMES[v]}{'社区' if v < 4 else '村'}"
        names = [f"{name[:-2] if v < 4 else name[:-1]}{g + 1}组" for g in range(k_groups)]
        homes = [
            _courtyards(land[g], names[g], int(courtyard[at + g]), vrng) for g in range(k_groups)
        ]
        at += k_groups
        points = pd.concat(homes, ignore_index=True)
        hamlets = gpd.GeoDataFrame(
            {"name": names, "courtyard_grids": courtyard[at - k_groups : at]},
            geometry=list(land),
            crs=crs,
        )
        courts = gpd.GeoDataFrame(points, geometry="geometry", crs=crs)
        areas.append(
            Area(
                code=f"{STREET}{v + 1:03d}",
                name=name,
                kind="urban" if v < 4 else "rural",
                geometry=villages[v],
                homes=courts,
                grids=int(grids[v]),
                hamlets=hamlets,
            )
        )
        cards.append(_households(courts))
    jurisdiction = Jurisdiction(STREET, "致和街道", "街道", areas)
    homes = gpd.GeoDataFrame(pd.concat([a.homes for a in areas], ignore_index=True), crs=crs)
    return Setup(
        county=(CODE, "彭州市"),
        crs=crs,
        jurisdictions=[jurisdiction],
        levels=LEVELS,
        staff=lambda plans: _staff(plans, seed),
        figures=lambda plans, run: _figures(plans, run, scale),
        homes=homes,
        cards=[
            Cards(
                STREET,
                gpd.GeoDataFrame(pd.concat(cards, ignore_index=True), crs=crs),
                group_by="courtyard",
                label="door",
            )
        ],
        notes=[
            "The street's boundary, villages, villager groups' land, courtyards and households "
            "are invented inside Pengzhou's real outline; households are not published.",
            "Inputs: 167 grids shared over the 22 villages and 959 courtyard grids over the 254 "
            "groups (K per village and per group, as the street sets them); the groups are "
            "natural (given polygons tiling their village). Outputs: the grids and courtyard "
            "grids geogrid's partition made.",
            "Workers: a head (网格长) for every grid, a micro-grid head (微网格长) for every "
            "courtyard grid, an instructor (网格指导员) per village: 167 + 959 + 22 = 1,148.",
        ],
        post=deepen,
        incidents={"incidents": 800, "closed_share": 0.98},
    )


_NAMES = "东南西北中兴隆和平安乐福寿康宁泰丰华盛昌永清明光"


def _courtyards(
    land: Any, group: str, courtyard_grids: int, rng: np.random.Generator
) -> pd.DataFrame:
    """Courtyards (院落) of one villager group: a point each with 5–20 households."""
    n = courtyard_grids * int(rng.integers(2, 4))
    xy = synth.sample_points(land.buffer(-15) if land.buffer(-15).area > 0 else land, n, rng)
    households = rng.integers(5, 21, n)
    people = synth.residents_for(int(households.sum()), 2.6, rng)
    ends = np.cumsum(households)
    residents = np.add.reduceat(people, np.concatenate([[0], ends[:-1]]))
    surnames = rng.choice(list("袁张王李刘陈杨赵黄周吴"), n)
    return pd.DataFrame(
        {
            "courtyard": [f"{group}{s}家院子{i + 1}" for i, s in enumerate(surnames)],
            "households": households,
            "residents": residents,
            "geometry": shapely.points(xy),
        }
    )


def _households(courts: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One row per household (door number) at its courtyard, for the contact cards."""
    repeat = courts.loc[courts.index.repeat(courts["households"])].copy()
    repeat["door"] = repeat.groupby("courtyard").cumcount().add(1).astype(str) + "户"
    return gpd.GeoDataFrame(
        repeat[["courtyard", "door"]], geometry=repeat.geometry.to_numpy(), crs=courts.crs
    )


def deepen(plan: GridPlan, areas: list[Area], crs: CRS, seed: int) -> GridPlan:
    """Levels 4 and 5 of a plan partitioned to level 3: villager groups, courtyard grids.

    Every level-3 grid holds whole villager groups (its units); each group becomes a level-4
    grid (its own land, as fitted onto the village) and is partitioned into its courtyard
    grids (K per group: ``courtyard_grids`` of the group's row) of whole courtyards.
    """
    rows: list[dict[str, object]] = []
    unit_rows: list[pd.DataFrame] = []
    taken: set[str] = set(plan.grids["code"].astype(str))
    units = plan.units
    for area in areas:
        assert area.hamlets is not None
        mine = units[units["unit_id"].astype(str).str.startswith(f"{area.code}-")]
        groups = mine[mine["kind"] == "village"]
        for grid_code, members in groups.groupby("grid_code"):
            codes = number_children(str(grid_code), members.geometry.to_crs(crs), taken)
            for code, (_, unit) in zip(codes, members.iterrows(), strict=True):
                taken.add(code)
                source = area.hamlets[area.hamlets["name"] == unit["name"]].iloc[0]
                rows.append(
                    {
                        "code": code,
                        "name": str(unit["name"]),
                        "level": 4,
                        "parent_code": str(grid_code),
                        "kind": area.kind,
                        "geometry": unit.geometry,
                    }
                )
                micro, unit_table = _courtyard_grids(
                    source.geometry, unit.geometry, area.homes, crs, source, seed, code
                )
                court_rows, unit_codes = micro_grid_rows(
                    micro, code, str(unit["name"]), taken, level=5,
                    parent=(source.geometry, unit.geometry),
                )  # fmt: skip
                for r in court_rows:
                    r["kind"] = area.kind
                    r["name"] = f"{unit['name']}第{int(str(r['code'])[-3:])}院落网格"
                    taken.add(str(r["code"]))
                rows.extend(court_rows)
                unit_rows.append(unit_table.assign(grid_code=unit_codes))
    extra = gpd.GeoDataFrame(rows, geometry="geometry", crs=PLAN_CRS)
    grids = pd.concat([plan.grids, extra], ignore_index=True)
    courtyard_units = gpd.GeoDataFrame(pd.concat(unit_rows, ignore_index=True), crs=PLAN_CRS)
    return GridPlan(
        plan.name,
        plan.levels,
        gpd.GeoDataFrame(grids, geometry="geometry", crs=PLAN_CRS),
        units=courtyard_units,
        attribution=plan.attribution,
    )


def _courtyard_grids(
    group_m: Any,
    group_ll: Any,
    courts: gpd.GeoDataFrame,
    crs: CRS,
    source: pd.Series,
    seed: int,
    code: str,
) -> tuple[Any, pd.DataFrame]:
    """The courtyard grids of one group: its courtyards (院落) partitioned into K grids."""
    k = int(source["courtyard_grids"])
    inside = courts[courts["courtyard"].str.startswith(str(source["name"]))]
    units = build_units(group_m, inside, crs=crs)
    result = partition(units, grids=min(k, int((units.table["households"] > 0).sum())), seed=seed)
    unit_table = plan_units(units, code, np.full(len(units.table), None, dtype=object),
                            parent=(group_m, group_ll))  # fmt: skip
    return result, unit_table


def _staff(plans: list[GridPlan], seed: int) -> list[GridPlan]:
    rng = np.random.default_rng([seed, 9])
    roles = {2: ["instructor"], 3: ["head"], 5: ["micro_head"]}
    return [
        assign_staff(p, lambda g: roles.get(int(g["level"]), []), rng, phone_start=0) for p in plans
    ]


def _figures(plans: list[GridPlan], run: dict[str, Any], scale: str) -> list[Figure]:
    (plan,) = plans
    full = scale == "full"
    counts = plan.grids["level"].value_counts()

    def published(key: str) -> Any:
        return PUBLISHED[key] if full else None

    return [
        Figure("villages/communities (村/社区)", published("villages"), int(counts.get(2, 0)), "input"),
        Figure("grids (网格)", published("grids"), int(counts.get(3, 0)), "output",
               "K per village set, grids of whole villager groups"),
        Figure("villager groups (村民小组)", published("groups"), int(counts.get(4, 0)), "input",
               "natural: the groups' land given"),
        Figure("courtyard grids (院落网格)", published("courtyard grids"), int(counts.get(5, 0)),
               "output", "K per group set, grids of whole courtyards"),
        Figure("grid workers (网格员)", published("workers"), len(plan.staff), "input",
               "heads + micro-grid heads + instructors"),
        Figure("households (户)", None, int(plan.level(1)["households"].sum()), "input",
               "not published"),
        Figure("households with a contact card (直通卡)", int(plan.level(1)["households"].sum()),
               run.get("card_households"), "output",
               f"{run.get('cards', 0):,} courtyard cards, each listing its households, "
               "one copy per household"),
    ]  # fmt: skip
