"""Batch location on a cluster: a partitioned GeoParquet of points, one task per part.

:func:`locate_parquet` reads the points with dask-geopandas (a GeoParquet; a plain Parquet
with lon/lat columns through ``dask.dataframe``), and each task locates one part with
:func:`geogrid.locate.locate_frame` — the in-process rule, so the same answers — and writes
it as ``part.NNNNN.parquet`` of the output folder (a partitioned GeoParquet). The plans go to
every worker once, as a worker plugin (a worker that joins or restarts gets it too); each
worker builds the grid index on its first part and keeps it, keyed by the plans' digest
(the SHA-256 of the plans sent). A task that runs again after its worker died writes the same
file again: nothing is doubled.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
import shutil
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from geogrid.crs import CRSLike
from geogrid.errors import InvalidInputError, NoActivePlanError
from geogrid.locate import CountyIndex, GridIndex, Locator, locate_frame
from geogrid.plan import GridPlan

try:
    from distributed import WorkerPlugin
except ImportError:  # pragma: no cover - the cluster extra is missing
    WorkerPlugin = object  # type: ignore[assignment,misc]

if TYPE_CHECKING:
    from distributed import Client

    from geogrid.store import PlanStore

__all__ = ["LocateSummary", "locate_parquet", "plans_in_force"]

Progress = Callable[[int, int, str], None]
_KEPT_INDEXES = 2  # plan sets a worker keeps indexed
_CHUNK = 1_000_000


@dataclasses.dataclass(frozen=True)
class LocateSummary:
    """What :func:`locate_parquet` did: points by status, parts, seconds, CPU seconds on workers."""

    points: int
    inside: int
    outside: int
    invalid: int
    parts: int
    seconds: float
    task_cpu_seconds: float
    output: Path


def plans_in_force(store: PlanStore) -> dict[str, GridPlan]:
    """The plans in force now in ``store``, by jurisdiction (with their staff)."""
    infos = store.in_force()
    if not infos:
        raise NoActivePlanError(
            "no plan is active: save, approve and activate one "
            "(`geogrid store activate NAME VERSION`)"
        )
    return {info.jurisdiction: store.get(info.plan, info.version) for info in infos}


def locate_parquet(
    plans: GridPlan | Mapping[str, GridPlan] | PlanStore,
    points: str | Path,
    output: str | Path,
    client: Client,
    *,
    crs: CRSLike | None = None,
    lon: str = "lon",
    lat: str = "lat",
    staff: bool = True,
    on_progress: Progress | None = None,
) -> LocateSummary:
    """Locate every point of a (partitioned) Parquet file on the cluster of ``client``.

    Parameters
    ----------
    plans
        One plan, the plans of several jurisdictions (jurisdiction → plan, located as a
        county: :class:`~geogrid.locate.CountyIndex`), or a store (its plans in force now).
    points
        A GeoParquet file or folder of parts (point geometries), or Parquet with ``lon`` /
        ``lat`` columns; a path every worker can read.
    output
        Folder to write: ``part.00000.parquet`` … (GeoParquet when the input has geometries),
        the input columns plus those of :func:`~geogrid.locate.locate_frame`
        (``level1_code`` …, ``grid_code``, ``status``, ``nearest_code``, ``distance_m``).
        Earlier ``part.*.parquet`` files in it are removed first.
    client
        A ``distributed.Client`` (:func:`geogrid.cluster.client_for`).
    crs, lon, lat
        As for :func:`~geogrid.locate.locate_frame`.
    staff
        Add ``staff``: the finest grid's staff as in the plan now (JSON records of role,
        name, phone; ``[]`` for none, empty for a point in no grid).
    on_progress
        Called as ``on_progress(done, total, message)`` as parts end (``total`` = parts).

    Returns
    -------
    LocateSummary
    """
    import dask

    started = time.perf_counter()
    chosen = _plans(plans)
    frame = _read(points)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("part.*.parquet"):
        old.unlink()
    plugin = _PlansPlugin.of(chosen)
    client.register_plugin(plugin)
    settings = _Settings(plugin.digest, crs, lon, lat, staff, str(out))
    parts = frame.to_delayed()
    tasks = [dask.delayed(_locate_part)(part, n, settings) for n, part in enumerate(parts)]
    futures = client.compute(tasks)
    report = on_progress or (lambda done, total, message: None)
    report(0, len(futures), f"定位：{len(futures)} 个分块")
    from distributed import as_completed

    totals = dict.fromkeys(("points", "inside", "outside", "invalid"), 0)
    cpu = 0.0
    try:
        for done, future in enumerate(as_completed(futures), start=1):
            counts = future.result()
            cpu += counts.pop("cpu_seconds")
            for key, value in counts.items():
                totals[key] += int(value)
            report(done, len(futures), f"定位：{totals['points']:,} 个点")
            future.release()
    finally:
        client.unregister_worker_plugin(plugin.name)
    return LocateSummary(
        **totals,
        parts=len(futures),
        seconds=time.perf_counter() - started,
        task_cpu_seconds=cpu,
        output=out,
    )


def _plans(plans: GridPlan | Mapping[str, GridPlan] | PlanStore) -> dict[str, GridPlan]:
    if isinstance(plans, GridPlan):
        return {"": plans}
    if isinstance(plans, Mapping):
        if not plans:
            raise InvalidInputError("give at least one plan to locate points in")
        return dict(sorted(plans.items()))
    return plans_in_force(plans)


def _read(points: str | Path) -> Any:
    """The points as a dask (Geo)DataFrame: GeoParquet by dask-geopandas, else Parquet."""
    import dask.dataframe as dd
    import dask_geopandas

    path = Path(points)
    if not path.exists():
        raise InvalidInputError(f"{path}: no such file or folder of Parquet parts")
    try:
        with warnings.catch_warnings():  # dask-geopandas 0.5 on pandas 3.1: not ours to fix
            warnings.filterwarnings("ignore", "The inplace keyword", DeprecationWarning)
            return dask_geopandas.read_parquet(str(path))
    except ValueError as exc:  # no geo metadata: a table of lon/lat
        if "geo" not in str(exc).lower():
            raise
        return dd.read_parquet(str(path))


@dataclasses.dataclass(frozen=True)
class _Settings:
    digest: str
    crs: CRSLike | None
    lon: str
    lat: str
    staff: bool
    output: str


class _PlansPlugin(WorkerPlugin):
    """A worker plugin handing the pickled plans to every worker (new ones included)."""

    def __init__(self, digest: str, blob: bytes) -> None:
        self.digest, self.blob = digest, blob
        self.name = f"geogrid-plans-{digest[:16]}"

    @classmethod
    def of(cls, plans: Mapping[str, GridPlan]) -> _PlansPlugin:
        """The plugin of ``plans``, keyed by the SHA-256 of their pickle.

        The digest of the bytes sent, not :func:`~geogrid.plan.plan_digest` (which normalises
        every geometry: seconds for a county's plans, minutes for a province's).
        """
        blob = pickle.dumps(dict(plans), protocol=pickle.HIGHEST_PROTOCOL)
        return cls(hashlib.sha256(blob).hexdigest(), blob)

    def setup(self, worker: Any) -> None:
        """Keep the plans in the worker process (indexed on first use)."""
        with _LOCK:
            _BLOBS[self.digest] = self.blob

    def teardown(self, worker: Any) -> None:
        """Forget the plans and their index."""
        with _LOCK:
            _BLOBS.pop(self.digest, None)
            _INDEXES.pop(self.digest, None)


_LOCK = threading.Lock()
_BLOBS: dict[str, bytes] = {}
_INDEXES: OrderedDict[str, tuple[Locator, dict[str, str]]] = OrderedDict()


def _worker_index(digest: str) -> tuple[Locator, dict[str, str]]:
    """The locator of the plans ``digest`` names and each grid's staff as JSON, built once."""
    with _LOCK:
        if digest in _INDEXES:
            _INDEXES.move_to_end(digest)
            return _INDEXES[digest]
        blob = _BLOBS.get(digest)
        if blob is None:
            raise RuntimeError(f"plans {digest[:16]} were never sent to this worker")
        plans: dict[str, GridPlan] = pickle.loads(blob)
        built = _locator(plans), _staff_json(plans.values())
        _INDEXES[digest] = built
        while len(_INDEXES) > _KEPT_INDEXES:
            _INDEXES.popitem(last=False)
        return built


def _locator(plans: Mapping[str, GridPlan]) -> Locator:
    """One plan's :class:`GridIndex`, or a county's over several (as the service builds them)."""
    if len(plans) == 1:
        return GridIndex.from_plan(next(iter(plans.values())))
    return CountyIndex({j: GridIndex.from_plan(p, lazy_nearest=True) for j, p in plans.items()})


def _staff_json(plans: Sequence[GridPlan] | Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for plan in plans:
        for code, people in plan.staff_by_grid().items():
            found[code] = json.dumps(people, ensure_ascii=False)
    return found


def _locate_part(frame: pd.DataFrame, number: int, settings: _Settings) -> dict[str, float]:
    """Locate one part on a worker and write it; its counts by status and CPU seconds."""
    cpu = time.process_time()
    index, staff = _worker_index(settings.digest)
    located = locate_frame(
        index, frame, settings.crs, lon=settings.lon, lat=settings.lat, chunk_size=_CHUNK
    )
    if settings.staff:
        codes = located["grid_code"].astype(object)
        people = codes.map(staff)  # missing: no staff listed, or no grid
        people = people.where(people.notna() | codes.isna(), "[]")
        located["staff"] = pd.array(people.where(codes.notna(), None), dtype="string")
    path = Path(settings.output) / f"part.{number:05d}.parquet"
    partial = path.with_suffix(".tmp")
    located.to_parquet(partial)  # GeoParquet for a GeoDataFrame
    shutil.move(partial, path)  # a rerun after a lost worker replaces, never adds
    status = located["status"].value_counts()
    return {
        "points": len(located),
        "inside": int(status.get("inside", 0)),
        "outside": int(status.get("outside", 0)),
        "invalid": int(status.get("invalid", 0)),
        "cpu_seconds": time.process_time() - cpu,
    }
