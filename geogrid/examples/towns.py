"""Whole districts and counties of townships: the shape Zhuzhou and Wangcheng share.

A :class:`DivisionSpec` says how many townships/streets a division (区 / 县 / 市) has, how many
urban communities and villages, and how many grids each gets: an urban community its
households for a band of 300–500 (the band's count rule then gives its grids), a village its
K grids of whole natural villages. :func:`plan_division` fixes every count from a seed
(before any geometry, so the count check is fast); :func:`build_division` draws the areas
and inputs inside the division's outline.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from pyproj import CRS

from geogrid.examples import synth
from geogrid.examples.layout import divide_jurisdiction
from geogrid.examples.pipeline import Area, Jurisdiction
from geogrid.partition import Band, grid_count

__all__ = [
    "BAND",
    "DivisionPlan",
    "DivisionSpec",
    "Named",
    "build_division",
    "plan_division",
]

BAND = (300.0, 500.0)


@dataclasses.dataclass(frozen=True)
class Named:
    """A community with published figures: its households, residents and grids."""

    name: str
    households: int
    residents: int
    grids: int


@dataclasses.dataclass(frozen=True)
class DivisionSpec:
    """A district or county: townships, urban communities, villages and grids to reach."""

    code: str
    name: str
    townships: int
    communities: int
    villages: int
    grids: int
    urban_grids: int
    named: tuple[Named, ...] = ()
    persons: float = 2.7


@dataclasses.dataclass
class DivisionPlan:
    """The counts fixed for a division: per township, its communities' households and K."""

    spec: DivisionSpec
    communities: list[np.ndarray]  # per township: households per community
    community_people: list[np.ndarray]
    community_names: list[list[str]]
    villages: list[np.ndarray]  # per township: K per village

    def urban_grids_of(self, townships: set[int] | None = None) -> int:
        """Urban grids the band's count rule gives (:func:`geogrid.partition.grid_count`)."""
        band = Band(*BAND)
        return sum(
            grid_count(int(h), band)[0]
            for t, c in enumerate(self.communities)
            if townships is None or t in townships
            for h in c
        )

    def rural_grids_of(self, townships: set[int] | None = None) -> int:
        """Rural grids set per village."""
        return sum(
            int(k.sum()) for t, k in enumerate(self.villages) if townships is None or t in townships
        )


def plan_division(spec: DivisionSpec, seed: int) -> DivisionPlan:
    """Every count of ``spec`` fixed from ``seed``: exact grid totals, named communities kept."""
    rng = np.random.default_rng([seed, int(spec.code)])
    named_grids = sum(n.grids for n in spec.named)
    free = spec.communities - len(spec.named)
    per = (
        synth.split_counts(spec.urban_grids - named_grids, free, rng, 0.3)
        if free
        else np.zeros(0, np.int64)
    )
    households = per * 400 + rng.integers(-60, 61, len(per))
    names = [f"{spec.name[:2]}第{i + 1}社区" for i in range(free)]
    people = np.rint(households * spec.persons).astype(np.int64)
    households = np.concatenate([[n.households for n in spec.named], households]).astype(np.int64)
    people = np.concatenate([[n.residents for n in spec.named], people]).astype(np.int64)
    names = [n.name for n in spec.named] + names
    k = (
        synth.split_counts(spec.grids - spec.urban_grids, spec.villages, rng, 0.35)
        if spec.villages
        else np.zeros(0, np.int64)
    )
    towns_c = _split(spec.communities, spec.townships, rng)
    towns_v = _split(spec.villages, spec.townships, rng)
    communities, community_people, community_names, villages = [], [], [], []
    c = v = 0
    for t in range(spec.townships):
        communities.append(households[c : c + towns_c[t]])
        community_people.append(people[c : c + towns_c[t]])
        community_names.append(names[c : c + towns_c[t]])
        villages.append(k[v : v + towns_v[t]])
        c += towns_c[t]
        v += towns_v[t]
    return DivisionPlan(spec, communities, community_people, community_names, villages)


def _split(total: int, parts: int, rng: np.random.Generator) -> np.ndarray:
    """``total`` over ``parts`` (zeros allowed), urban communities weighted to the first."""
    if total == 0:
        return np.zeros(parts, np.int64)
    if total >= parts:
        return synth.split_counts(total, parts, rng, 0.3)
    out = np.zeros(parts, np.int64)
    out[:total] = 1
    return out


def build_division(
    region: Any,
    plan: DivisionPlan,
    crs: CRS,
    *,
    seed: int,
    township_names: list[str],
    keep: set[int] | None = None,
    rural_persons: float = 3.0,
) -> list[Jurisdiction]:
    """The division's townships (those in ``keep``, default all) with areas and inputs."""
    spec = plan.spec
    rng = np.random.default_rng([seed, int(spec.code), 1])
    towns = synth.divide(region, spec.townships, rng)
    out = []
    for t in range(spec.townships):
        if keep is not None and t not in keep:
            continue
        trng = np.random.default_rng([seed, int(spec.code), 100 + t])
        n_c, n_v = len(plan.communities[t]), len(plan.villages[t])
        if n_c + n_v == 0:
            n_v = 0
        division = divide_jurisdiction(
            towns[t], trng, villages=n_v, communities=n_c, community_km2=0.8
        )
        code = f"{spec.code}{t + 1:03d}"
        areas = [
            _community(code, c, geom, plan, t, crs, trng)
            for c, geom in enumerate(division.communities)
        ]
        areas += [
            _village(
                code,
                n_c + v,
                geom,
                int(plan.villages[t][v]),
                crs,
                trng,
                rural_persons,
                township_names[t],
            )
            for v, geom in enumerate(division.villages)
        ]
        out.append(Jurisdiction(code, township_names[t], "街道/乡镇", areas))
    return out


def _community(
    code: str, c: int, geom: Any, plan: DivisionPlan, t: int, crs: CRS, rng: Any
) -> Area:
    households = int(plan.communities[t][c])
    buildings, streets, _ = synth.urban_community(geom, households, rng)
    people = synth.residents_for(households, 2.7, rng, int(plan.community_people[t][c]))
    ends = np.cumsum(buildings["households"].to_numpy())
    buildings["residents"] = np.add.reduceat(people, np.concatenate([[0], ends[:-1]]))
    return Area(
        code=f"{code}{c + 1:03d}",
        name=plan.community_names[t][c],
        kind="urban",
        geometry=geom,
        homes=buildings.set_crs(crs),
        band=BAND,
        streets=streets.set_crs(crs),
    )


def _village(
    code: str, v: int, geom: Any, k: int, crs: CRS, rng: Any, persons: float, town: str
) -> Area:
    households = int(k * rng.uniform(300, 480))
    hamlets = k + max(1, round(0.5 * k))
    counts = synth.split_counts(households, hamlets, rng, 0.45)
    name = f"{town[:2]}{v + 1}村"
    polygons, points, _ = synth.rural_village(geom, counts, rng, prefix=name)
    points["residents"] = synth.residents_for(households, persons, rng)
    return Area(
        code=f"{code}{v + 1:03d}",
        name=name,
        kind="rural",
        geometry=geom,
        homes=points.set_crs(crs),
        grids=k,
        hamlets=polygons.set_crs(crs),
    )
