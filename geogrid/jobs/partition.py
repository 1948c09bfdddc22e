"""The ``partition`` job: grids drawn afresh, from uploaded files or over part of a stored plan.

Two forms of parameters (:func:`check_params`):

* **files** — ``{"band": "300-500", "then_band"?, "seed"?, "name"?, "crs"?}`` with the files
  ``area`` (parent areas with ``code`` and ``name``), ``households`` (buildings with counts
  or household points) and optionally ``barriers`` (roads, rivers), read with
  :mod:`geogrid.io` as ``geogrid partition`` reads them (:func:`read_inputs`);
* **plan** — ``{"plan": name, "version"?, "grids": [codes], "band": "300-500",
  "then_band"?, "seed"?}``: the area of those grids (of one level) partitioned again, the
  plan's units (buildings with households) as the households. The result's top level holds,
  per parent of the grids, the part of the parent re-partitioned (the parent's code and
  name); a grid without a parent is partitioned into children.

Either way the result is the partition's plan (:func:`geogrid.io.plan_to_bytes`) and a
summary: ``{"plan_blob": true, "name", "grids", "micro_grids", "households",
"out_of_band": [{"code", "households"}], "areas", "exceptions", "replaces"?}``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geogrid import io
from geogrid.errors import InvalidInputError
from geogrid.jobs.model import JobOutput
from geogrid.partition import Band, parse_band, partition_areas
from geogrid.plan import PLAN_CRS, GridPlan

__all__ = [
    "FILES",
    "KIND",
    "REQUIRED_FILES",
    "check_params",
    "partition_files",
    "partition_plan",
    "read_inputs",
]

KIND = "partition"
FILES = ("area", "households", "barriers")
"""The files a partition from uploads takes."""
REQUIRED_FILES = ("area", "households")

Progress = Callable[[int, int, str], None]
_MAX_EXCEPTIONS = 50  # exceptions listed in a result
_MAX_SEED = 2**31 - 1
_PREFERRED = {
    "area": ("areas", "communities", "villages"),
    "households": ("households", "buildings"),
    "barriers": ("roads", "streets"),
}


def check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` checked and completed; :class:`InvalidInputError` saying what to fix.

    Examples
    --------
    >>> check_params({"band": "300–500"})["band"]
    '300-500'
    >>> check_params({"band": "500-300"})
    Traceback (most recent call last):
    ...
    geogrid.errors.InvalidInputError: a band (户数区间) needs 0 ≤ min ≤ max and max > 0, got 500.0-300.0; write it like 300-500
    """
    if not isinstance(params, Mapping):
        raise InvalidInputError("the parameters of a partition job are a JSON object")
    out: dict[str, Any] = {"band": str(_band(params.get("band"), "band"))}
    if params.get("then_band") is not None:
        out["then_band"] = str(_band(params["then_band"], "then_band"))
    seed = params.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= _MAX_SEED:
        raise InvalidInputError(f"seed must be a whole number from 0 to {_MAX_SEED}, got {seed!r}")
    out["seed"] = seed
    if params.get("cluster"):
        out["cluster"] = True
    for key in ("name", "crs"):
        if params.get(key) is not None:
            out[key] = _text(params[key], key)
    if params.get("plan") is None:
        return out
    out["plan"] = _text(params["plan"], "plan")
    version = params.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise InvalidInputError(f"version must be a version number (1, 2, …), got {version!r}")
    out["version"] = version
    grids = params.get("grids")
    if not isinstance(grids, list) or not grids or not all(isinstance(g, str) for g in grids):
        raise InvalidInputError(
            "grids must be a list of the codes of the grids to re-partition, e.g. "
            '["110108001001004"]'
        )
    out["grids"] = list(dict.fromkeys(g.strip() for g in grids))
    return out


def _band(value: Any, key: str) -> Band:
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{key}: give the households per grid as MIN-MAX text, e.g. 300-500"
        )
    return parse_band(value)


def _text(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{key} must be non-empty text")
    return value.strip()


# --------------------------------------------------------------------------- from files


def read_inputs(
    files: Mapping[str, Path], crs: str | None = None
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame | None]:
    """Areas, households and barriers from ``files`` (keys of :data:`FILES`), as the CLI reads.

    Raises
    ------
    InvalidInputError
        A required file missing; :class:`~geogrid.errors.PlanFileError` or
        :class:`~geogrid.errors.CRSError` for a file that cannot be read (naming it).
    """
    missing = [name for name in REQUIRED_FILES if name not in files]
    if missing:
        raise InvalidInputError(
            f"a partition needs the files {', '.join(REQUIRED_FILES)} (barriers optional); "
            f"missing: {', '.join(missing)}"
        )

    def layer(name: str) -> str | None:
        return io.preferred_layer(files[name], None, _PREFERRED[name])

    areas = io.read_areas(files["area"], layer=layer("area"), crs=crs)
    homes = io.read_households(files["households"], layer=layer("households"), crs=crs)
    barriers = None
    if "barriers" in files:
        barriers = io.read_layer(files["barriers"], layer=layer("barriers"), crs=crs)
    return areas, homes, barriers


def partition_files(
    params: Mapping[str, Any], files: Mapping[str, Path], *, progress: Progress | None = None
) -> JobOutput:
    """Run a partition of uploaded files (:func:`read_inputs`); the plan and its summary."""
    params = check_params(params)
    _report(progress, 0, 0, "读取文件 (reading the files)")
    areas, homes, barriers = read_inputs(files, params.get("crs"))
    if params.get("cluster"):
        return _on_cluster(params, areas, homes, barriers, progress)
    plan, report = partition_areas(
        areas,
        homes,
        band=parse_band(params["band"]),
        barriers=barriers,
        then_band=parse_band(params["then_band"]) if "then_band" in params else None,
        seed=params["seed"],
        name=params.get("name") or "网格划分",
        on_progress=progress,
    )
    exceptions = [f"{code} {e.kind}: {e.message}".strip() for code, e in report.exceptions]
    return _output(plan, params, exceptions)


def _on_cluster(
    params: Mapping[str, Any],
    areas: gpd.GeoDataFrame,
    homes: gpd.GeoDataFrame,
    barriers: gpd.GeoDataFrame | None,
    progress: Progress | None,
) -> JobOutput:
    """The partition on the operator's Dask cluster (``GEOGRID_DASK_SCHEDULER``).

    One task per area, progress as the areas finish; a failed area is listed, the others kept.
    """
    from geogrid.cluster import client_for, partition_on_cluster
    from geogrid.settings import Settings

    scheduler = Settings().dask_scheduler
    if not scheduler:
        raise InvalidInputError(
            "this service has no Dask cluster: the operator sets GEOGRID_DASK_SCHEDULER to a "
            "running scheduler's address (tcp://host:8786) for cluster jobs"
        )
    with client_for(scheduler) as client:
        plan, report = partition_on_cluster(
            areas,
            homes,
            client=client,
            band=parse_band(params["band"]),
            barriers=barriers,
            then_band=parse_band(params["then_band"]) if "then_band" in params else None,
            seed=params["seed"],
            name=params.get("name") or "网格划分",
            on_progress=progress,
        )
    exceptions = [f"{code} {e.kind}: {e.message}".strip() for code, e in report.exceptions]
    exceptions += [f"{f.code} failed: {f.reason}" for f in report.failed]
    return _output(plan, params, exceptions)


# --------------------------------------------------------------------------- from a plan


def partition_plan(
    params: Mapping[str, Any], store_url: str, *, progress: Progress | None = None
) -> JobOutput:
    """Re-partition grids of a stored plan over its units (see the module docstring)."""
    from geogrid.store import open_store

    params = check_params(params)
    if "plan" not in params:
        raise InvalidInputError('a partition of a stored plan names it: {"plan": NAME, …}')
    _report(progress, 0, 0, "读取方案 (reading the plan)")
    with open_store(store_url) as store:
        plan = store.get(params["plan"], params.get("version"))
    areas, homes = _plan_inputs(plan, params["grids"])
    result, report = partition_areas(
        areas,
        homes,
        band=parse_band(params["band"]),
        then_band=parse_band(params["then_band"]) if "then_band" in params else None,
        seed=params["seed"],
        name=params.get("name") or f"{plan.name}（重新划分）",
        on_progress=progress,
    )
    level = int(plan.grids.loc[plan.grids["code"] == params["grids"][0], "level"].iloc[0])
    start = level - 2 if level >= 2 else level - 1
    names = list(plan.levels[start : start + result.depth])
    result = dataclasses.replace(result, levels=names + result.levels[len(names) :])
    exceptions = [f"{code} {e.kind}: {e.message}".strip() for code, e in report.exceptions]
    output = _output(result, params, exceptions)
    output.result.update(replaces=params["grids"], plan=plan.name, version=plan.version)
    return output


def _plan_inputs(plan: GridPlan, codes: list[str]) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The areas (one per parent of ``codes``) and the households (units) under ``codes``."""
    grids = plan.grids.assign(code=plan.grids["code"].astype(str))
    by_code = grids.set_index("code")
    unknown = [c for c in codes if c not in by_code.index]
    if unknown:
        raise InvalidInputError(
            f"grid(s) {', '.join(unknown[:10])} are not in plan {plan.name!r} version "
            f"{plan.version}: pick grids of the version opened"
        )
    levels = sorted({int(by_code.loc[c, "level"]) for c in codes})
    if len(levels) > 1:
        raise InvalidInputError(
            f"the grids to re-partition must be of one level; these are of levels {levels}"
        )
    units = plan.units
    if len(units) == 0:
        raise InvalidInputError(
            f"plan {plan.name!r} keeps no units (buildings with households): re-partition it "
            "from files instead (area, households)"
        )
    owner = plan.ancestor_codes(units["grid_code"].fillna("").astype(str).to_numpy(), levels[0])
    inside = np.isin(owner, codes)
    homes = units[inside]
    if len(homes) == 0 or int(homes["households"].fillna(0).sum()) == 0:
        raise InvalidInputError(
            f"the grids {', '.join(codes[:10])} hold no units with households: nothing to partition"
        )
    rows = []
    for parent, group in by_code.loc[codes].groupby(by_code.loc[codes, "parent_code"].fillna("")):
        code = str(parent) if parent else str(group.index[0])
        name = str(by_code.loc[code, "name"]) if code in by_code.index else code
        geometry = shapely.union_all(group.geometry.to_numpy())
        rows.append({"code": code, "name": name, "geometry": geometry})
    areas = gpd.GeoDataFrame(rows, geometry="geometry", crs=PLAN_CRS)
    households = gpd.GeoDataFrame(
        {
            "unit_id": homes["unit_id"].astype(str).to_numpy(),
            "name": homes["name"].to_numpy(object),
            "households": homes["households"].fillna(0).astype("int64").to_numpy(),
        },
        geometry=homes.geometry.to_numpy(),
        crs=PLAN_CRS,
    )
    return areas, households


# --------------------------------------------------------------------------- the result


def _output(plan: GridPlan, params: Mapping[str, Any], exceptions: list[str]) -> JobOutput:
    band = parse_band(params["band"])
    grids = plan.grids[plan.grids["level"] == 2]
    households = pd.to_numeric(grids["households"], errors="coerce").fillna(0).astype(int)
    out_of_band = [
        {"code": str(code), "households": int(n)}
        for code, n in zip(grids["code"], households, strict=True)
        if not band.contains(n)
    ]
    result = {
        "plan_blob": True,
        "name": plan.name,
        "grids": len(grids),
        "micro_grids": int((plan.grids["level"] == 3).sum()),
        "households": int(pd.to_numeric(plan.units["households"]).fillna(0).sum()),
        "out_of_band": out_of_band,
        "areas": [str(c) for c in plan.grids.loc[plan.grids["level"] == 1, "code"]],
        "exceptions": exceptions[:_MAX_EXCEPTIONS],
    }
    return JobOutput(result, io.plan_to_bytes(plan))


def _report(progress: Progress | None, done: int, total: int, message: str) -> None:
    if progress is not None:
        progress(done, total, message)
