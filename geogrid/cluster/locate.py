"""Batch location on a cluster: a partitioned GeoParquet of points, one task per part.

:func:`locate_parquet` reads the points with dask-geopandas (a GeoParquet; a plain Parquet
with lon/lat columns through ``dask.dataframe``), and each task locates one part with
:func:`geogrid.locate.locate_frame` — the in-process rule, so the same answers — and writes
it as ``part.NNNNN.parquet`` of the output folder (a partitioned GeoParquet). The plans go to
every worker once, as a worker plugin (a worker that joins or restarts gets it too); each
worker builds the grid index on its first part and keeps it, keyed by the plans' digest
(the SHA-256 of the plans sent). A task that runs again after its worker died writes the same
file again: nothing is doubled.

With ``at`` (a column of report instants) and a store, each point is located in the versions
in force at its own instant, with the staff then (:mod:`geogrid.cluster.history`): the
workers get the store's versions and staff over the points' period instead of today's plans.
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

from geogrid.cluster.history import History, TimedLocator, locator_for
from geogrid.crs import CRSLike
from geogrid.errors import InvalidInputError, NoActivePlanError
from geogrid.locate import Locator, locate_frame
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
    at: str | None = None,
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
    at
        A column of report instants (ISO 8601 text or timestamps; naive ones are UTC): each point
        is located in the versions in force then, with the staff then (``plans`` must be a
        store). Adds ``reason``: why a point was not located (no valid time, no plan then).
    on_progress
        Called as ``on_progress(done, total, message)`` as parts end (``total`` = parts).

    Returns
    -------
    LocateSummary
    """
    import dask

    started = time.perf_counter()
    frame = _read(points)
    payload = _plans(plans) if at is None else _history(plans, frame, at)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("part.*.parquet"):
        old.unlink()
    plugin = _PlansPlugin.of(payload)
    client.register_plugin(plugin)
    settings = _Settings(plugin.digest, crs, lon, lat, staff, str(out), at)
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


def _history(plans: Any, frame: Any, at: str) -> History:
    """The store's versions and staff over the period of the points' instants."""
    import dask

    from geogrid.store import PlanStore

    if not isinstance(plans, PlanStore):
        raise InvalidInputError(
            "locating points at their report times needs the store (its versions and staff "
            "over time), not a plan file: use --store"
        )
    if at not in frame.columns:
        raise InvalidInputError(
            f"no column {at!r} of report times in the points; they have: "
            + ", ".join(map(str, frame.columns))
        )
    instants = frame[at].map_partitions(
        pd.to_datetime,
        utc=True,
        errors="coerce",
        format="ISO8601",
        meta=(at, "datetime64[ns, UTC]"),
    )
    start, end = dask.compute(instants.min(), instants.max())
    if pd.isna(start):
        raise InvalidInputError(f"column {at!r} holds no readable time (e.g. 2025-06-01T08:30)")
    return History.of(plans, start.to_pydatetime(), end.to_pydatetime())


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
    at: str | None = None


class _PlansPlugin(WorkerPlugin):
    """A worker plugin handing the pickled plans to every worker (new ones included)."""

    def __init__(self, digest: str, blob: bytes) -> None:
        self.digest, self.blob = digest, blob
        self.name = f"geogrid-plans-{digest[:16]}"

    @classmethod
    def of(cls, plans: Mapping[str, GridPlan] | History) -> _PlansPlugin:
        """The plugin of ``plans`` (or a store's history), keyed by the SHA-256 of its pickle.

        The digest of the bytes sent, not :func:`~geogrid.plan.plan_digest` (which normalises
        every geometry: seconds for a county's plans, minutes for a province's).
        """
        payload = plans if isinstance(plans, History) else dict(plans)
        blob = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
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
_INDEXES: OrderedDict[str, tuple[Locator, dict[str, str]] | TimedLocator] = OrderedDict()


def _worker_index(digest: str) -> tuple[Locator, dict[str, str]] | TimedLocator:
    """What ``digest`` names, built once.

    The plans' locator and each grid's staff as JSON, or a store history's
    :class:`~geogrid.cluster.history.TimedLocator`.
    """
    with _LOCK:
        if digest in _INDEXES:
            _INDEXES.move_to_end(digest)
            return _INDEXES[digest]
        blob = _BLOBS.get(digest)
        if blob is None:
            raise RuntimeError(f"plans {digest[:16]} were never sent to this worker")
        payload = pickle.loads(blob)
        built: tuple[Locator, dict[str, str]] | TimedLocator
        if isinstance(payload, History):
            built = TimedLocator(payload)
        else:
            built = locator_for(payload), _staff_json(payload.values())
        _INDEXES[digest] = built
        while len(_INDEXES) > _KEPT_INDEXES:
            _INDEXES.popitem(last=False)
        return built


def _staff_json(plans: Sequence[GridPlan] | Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for plan in plans:
        for code, people in plan.staff_by_grid().items():
            found[code] = json.dumps(people, ensure_ascii=False)
    return found


def _locate_part(frame: pd.DataFrame, number: int, settings: _Settings) -> dict[str, float]:
    """Locate one part on a worker and write it; its counts by status and CPU seconds."""
    cpu = time.process_time()
    built = _worker_index(settings.digest)
    if isinstance(built, TimedLocator):
        assert settings.at is not None
        located = built.locate(
            frame,
            settings.at,
            settings.crs,
            lon=settings.lon,
            lat=settings.lat,
            staff=settings.staff,
            chunk_size=_CHUNK,
        )
    else:
        located = _locate_now(frame, settings, *built)
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


def _locate_now(
    frame: pd.DataFrame, settings: _Settings, index: Locator, staff: dict[str, str]
) -> pd.DataFrame:
    """One part located in the plans sent, with each grid's staff in them."""
    located = locate_frame(
        index, frame, settings.crs, lon=settings.lon, lat=settings.lat, chunk_size=_CHUNK
    )
    if settings.staff:
        codes = located["grid_code"].astype(object)
        people = codes.map(staff)  # missing: no staff listed, or no grid
        people = people.where(people.notna() | codes.isna(), "[]")
        located["staff"] = pd.array(people.where(codes.notna(), None), dtype="string")
    return located
