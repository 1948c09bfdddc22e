"""Partition on a cluster: one task per parent area, the inputs shipped once per worker.

:func:`partition_on_cluster` does what :func:`geogrid.partition.partition_areas` does, area by
area on the workers of a ``dask.distributed`` cluster: the client assigns every household to
its area (the one rule, :func:`geogrid.units.household_areas`), ships the households, the
barriers and the other layers to every worker once (``client.scatter(..., broadcast=True)``),
then sends one task per area — its units, grids, micro-grids and plan rows. Progress comes
from the tasks' completion (``as_completed``); an area whose task fails is reported with its
reason and the others are kept. A worker that dies has its tasks run again elsewhere by the
scheduler; each area's result is taken once, in area order, so the plan is the same as the
single-process one (same seed, same plan, whatever the number of workers).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geogrid.errors import InvalidInputError
from geogrid.partition.band import Band
from geogrid.partition.plan import (
    AreaResult,
    PartitionReport,
    _area_of_households,
    _check_areas,
    _grid_kinds,
    nested,
    to_plan,
)
from geogrid.partition.solve import partition
from geogrid.partition.workload import INCIDENTS
from geogrid.plan import PLAN_CRS, GridPlan
from geogrid.units import build_units

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "AreaTiming",
    "ClusterReport",
    "FailedArea",
    "partition_on_cluster",
    "partition_with_scheduler",
]

Progress = Callable[[int, int, str], None]


@dataclasses.dataclass(frozen=True)
class FailedArea:
    """A parent area whose task failed: its code, name and the reason."""

    code: str
    name: str
    reason: str


@dataclasses.dataclass(frozen=True)
class AreaTiming:
    """Seconds one area's task took on its worker: wall clock and CPU."""

    code: str
    seconds: float
    cpu_seconds: float


@dataclasses.dataclass
class ClusterReport(PartitionReport):
    """:class:`~geogrid.partition.PartitionReport` plus the failed areas and task timings."""

    failed: list[FailedArea] = dataclasses.field(default_factory=list)
    timings: list[AreaTiming] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class _Inputs:
    """What every task reads, shipped once to every worker."""

    households: gpd.GeoDataFrame
    home_area: np.ndarray
    barriers: gpd.GeoDataFrame | None
    keep_whole: gpd.GeoDataFrame | None
    locked: gpd.GeoDataFrame | None


@dataclasses.dataclass(frozen=True)
class _Options:
    band: Band | tuple[float, float] | None
    grids: int | None
    weights: dict[str, float] | None
    extra: list[str]
    then_band: Band | tuple[float, float] | None
    seed: int
    count_column: str
    levels: list[str]
    name: str


@dataclasses.dataclass(frozen=True)
class _Done:
    area: AreaResult
    grids: gpd.GeoDataFrame
    units: gpd.GeoDataFrame
    timing: AreaTiming


def partition_on_cluster(
    areas: gpd.GeoDataFrame,
    households: gpd.GeoDataFrame,
    *,
    client: Client,
    band: Band | tuple[float, float] | None = None,
    grids: int | None = None,
    barriers: gpd.GeoDataFrame | None = None,
    keep_whole: gpd.GeoDataFrame | None = None,
    locked: gpd.GeoDataFrame | None = None,
    weights: Mapping[str, float] | None = None,
    kind: str | None = None,
    then_band: Band | tuple[float, float] | None = None,
    seed: int = 0,
    count_column: str = "households",
    name: str = "网格划分",
    on_progress: Progress | None = None,
) -> tuple[GridPlan, ClusterReport]:
    """:func:`~geogrid.partition.partition_areas` with one task per area on ``client``.

    Parameters
    ----------
    areas, households, band, grids, barriers, keep_whole, locked, weights, kind, then_band, seed, count_column, name
        As for :func:`~geogrid.partition.partition_areas` (``grids``: K per area). Not here:
        ``grids_total``, given ``units`` and ``incidents`` weights (in-process only).
    client
        A ``distributed.Client`` (:func:`geogrid.cluster.client_for`).
    on_progress
        Called as ``on_progress(done, total, message)``: once at the start, as each area's
        task ends (``"荷清苑社区：完成"`` or ``"…：失败"``), before the plan is assembled and
        once at the end with ``done == total`` (``total`` = areas + 1), the form of a job's
        progress (:mod:`geogrid.jobs`).

    Returns
    -------
    (GridPlan, ClusterReport)
        The plan of every area whose task succeeded, in area order, and the report (failed
        areas with their reasons, per-task timings).

    Raises
    ------
    InvalidInputError
        As :func:`~geogrid.partition.partition_areas` does, before any task is sent; and
        when every area failed (the reasons of the first few).
    """
    from distributed import as_completed

    _check_areas(areas)
    kinds = _grid_kinds(areas, kind)
    if (band is None) == (grids is None):
        raise InvalidInputError("give one of band or grids (per parent area)")
    options = _options(band, grids, weights, then_band, seed, count_column, name)
    home_area = _area_of_households(areas, households)
    plan_areas = areas.to_crs(PLAN_CRS)
    total = len(areas) + 1
    report = on_progress or (lambda done, total, message: None)
    report(0, total, f"集群：{len(areas)} 个区域")
    inputs = client.scatter(
        _Inputs(households, home_area, barriers, keep_whole, locked), broadcast=True, hash=False
    )
    futures = {
        client.submit(
            _area_task,
            i,
            areas.iloc[[i]],
            plan_areas.geometry.iloc[i],
            kinds[i],
            inputs,
            options,
            pure=False,
        ): i
        for i in range(len(areas))
    }
    done: dict[int, _Done] = {}
    failed: dict[int, FailedArea] = {}
    for count, future in enumerate(as_completed(futures), start=1):
        i = futures[future]
        area_name = str(areas["name"].iloc[i])
        if future.status == "error":
            failed[i] = FailedArea(str(areas["code"].iloc[i]), area_name, _reason(future))
            report(count, total, f"{area_name}：失败（{failed[i].reason}）")
        else:
            done[i] = future.result()
            report(count, total, f"{area_name}：完成")
        future.release()
    del inputs
    if not done:
        reasons = "; ".join(f"{f.code} {f.reason}" for f in list(failed.values())[:3])
        raise InvalidInputError(f"every area failed on the cluster: {reasons}")
    report(len(areas), total, "生成方案")
    plan = _assemble([done[i] for i in sorted(done)], options)
    report(total, total, "完成")
    outside = households.iloc[np.flatnonzero(home_area < 0)]
    return plan, ClusterReport(
        [done[i].area for i in sorted(done)],
        outside,
        failed=[failed[i] for i in sorted(failed)],
        timings=[done[i].timing for i in sorted(done)],
    )


def partition_with_scheduler(
    scheduler: str,
    areas: gpd.GeoDataFrame,
    households: gpd.GeoDataFrame | None,
    *,
    grids_total: int | None = None,
    units: gpd.GeoDataFrame | None = None,
    incidents: gpd.GeoDataFrame | None = None,
    **options: Any,
) -> tuple[GridPlan, ClusterReport]:
    """:func:`partition_on_cluster` on a client opened for ``scheduler`` (``geogrid partition``).

    ``grids_total``, ``units`` and ``incidents`` are refused (in-process only), with what to
    do instead. Each area's end is printed on standard error.
    """
    from geogrid.cluster.client import client_for

    for flag, value in (("--grids-total", grids_total), ("--units", units)):
        if value is not None:
            raise InvalidInputError(f"{flag} is partitioned in one process: drop --scheduler")
    if incidents is not None or households is None:
        raise InvalidInputError(
            "--scheduler partitions from --households (buildings or points), without the "
            "incidents weight: drop --scheduler for the others"
        )
    import sys

    def progress(done: int, total: int, message: str) -> None:
        sys.stderr.write(f"[{done}/{total}] {message}\n")

    with client_for(scheduler) as client:
        return partition_on_cluster(
            areas, households, client=client, on_progress=progress, **options
        )


def _options(
    band: Band | tuple[float, float] | None,
    grids: int | None,
    weights: Mapping[str, float] | None,
    then_band: Band | tuple[float, float] | None,
    seed: int,
    count_column: str,
    name: str,
) -> _Options:
    """The tasks' settings, with the weights named as :func:`partition_areas` names them."""
    named = {
        ("households" if k in (count_column, "households") else k): float(v)
        for k, v in (weights or {}).items()
    }
    if INCIDENTS in named:
        raise InvalidInputError(
            "the incidents weight is counted in one process: run without --scheduler"
        )
    return _Options(
        band=band,
        grids=grids,
        weights=named or None,
        extra=sorted(c for c in named if c != "households"),
        then_band=then_band,
        seed=seed,
        count_column=count_column,
        levels=["社区", "网格", "微网格"] if then_band is not None else ["社区", "网格"],
        name=name,
    )


def _area_task(
    i: int,
    row: gpd.GeoDataFrame,
    parent: shapely.Geometry,
    kind: str | None,
    inputs: _Inputs,
    options: _Options,
) -> _Done:
    """One area on a worker: units, grids, micro-grids, and its rows of the plan."""
    start, cpu = time.perf_counter(), time.process_time()
    code, area_name = str(row["code"].iloc[0]), str(row["name"].iloc[0])
    homes = inputs.households.iloc[np.flatnonzero(inputs.home_area == i)]
    cells = build_units(
        row,
        homes,
        barriers=inputs.barriers,
        keep_whole=inputs.keep_whole,
        locked=inputs.locked,
        count_column=options.count_column,
        extra_columns=options.extra,
    )
    result = partition(
        cells, band=options.band, grids=options.grids, weights=options.weights, seed=options.seed
    )
    micro = (
        nested(result, options.then_band, seed=options.seed)
        if options.then_band is not None
        else {}
    )
    area = AreaResult(code, area_name, result, micro, kind=kind)
    plan = to_plan([area], parents={code: parent}, levels=options.levels, name=options.name)
    timing = AreaTiming(code, time.perf_counter() - start, time.process_time() - cpu)
    return _Done(area, plan.grids, plan.units, timing)


def _assemble(done: list[_Done], options: _Options) -> GridPlan:
    """The areas' plan rows as one plan, in area order (as :func:`to_plan` writes them)."""
    grids = pd.concat([d.grids for d in done], ignore_index=True)
    units = pd.concat([d.units for d in done], ignore_index=True)
    return GridPlan(
        options.name,
        options.levels,
        gpd.GeoDataFrame(grids, geometry="geometry", crs=PLAN_CRS),
        units=gpd.GeoDataFrame(units, geometry="geometry", crs=PLAN_CRS),
    )


def _reason(future: Any) -> str:
    """What made a task fail, in one line (a worker lost too often reads so)."""
    exc = future.exception()
    if type(exc).__name__ == "KilledWorker":
        return "its worker died every time it ran (killed or out of memory)"
    return f"{type(exc).__name__}: {exc}"
