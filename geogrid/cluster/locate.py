"""Batch location on a cluster: a partitioned GeoParquet of points, one task per part.

:func:`locate_parquet` sends one task per Parquet file of the points (a GeoParquet, or a plain
Parquet with lon/lat columns); each locates its file in Arrow (:mod:`geogrid.cluster.parts`:
the in-process index and rule, so the same answers as :func:`geogrid.locate.locate_frame`) and
writes it as ``part.NNNNN.parquet`` of the output folder (a partitioned GeoParquet). The plans
go to every worker once, as a worker plugin (a worker that joins or restarts gets it too). The
index is built once for the cluster, one task per level of each plan
(:func:`geogrid.locate.build.level_state`), and each worker restores it from the levels' arrays
and keeps it, keyed by the plans' digest (the SHA-256 of the plans sent). A task that runs
again after its worker died writes the same file again: nothing is doubled.

With ``at`` (a column of report instants) and a store, each point is located in the versions
in force at its own instant, with the staff then (:mod:`geogrid.cluster.history`): the
workers get the store's versions and staff over the points' period instead of today's plans,
read part by part with dask-geopandas, and each worker builds its indexes itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
import re
import shutil
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow.parquet as pq

from geogrid.cluster.history import History, TimedLocator, locator_for
from geogrid.cluster.parts import Texts, located_table, status_counts
from geogrid.crs import CRSLike
from geogrid.errors import InvalidInputError, NoActivePlanError
from geogrid.locate import CountyIndex, GridIndex, Locator, locate_frame
from geogrid.locate.build import joined_state, level_state
from geogrid.locate.index import plan_arrays
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
_MIN_CELLS, _MAX_CELLS = 500_000, 6_000_000  # raster cells a level, for a batch (_cells)
_PHASES = ("cpu_seconds", "wall_seconds", "build", "index", "read", "locate", "write")


@dataclasses.dataclass(frozen=True)
class LocateSummary:
    """What :func:`locate_parquet` did: points by status, parts, seconds, CPU seconds on workers.

    ``task_seconds``: the tasks' wall time, summed; ``phases``: CPU seconds by phase
    (``build``: the index's level tasks; then in the parts' tasks ``index``: the worker's
    index restored from the levels, ``read``, ``locate``, ``write``);
    ``arrow_parts``: the parts located in Arrow (:mod:`geogrid.cluster.parts`), the others
    through pandas.
    """

    points: int
    inside: int
    outside: int
    invalid: int
    parts: int
    seconds: float
    task_cpu_seconds: float
    output: Path
    task_seconds: float = 0.0
    phases: dict[str, float] = dataclasses.field(default_factory=dict)
    arrow_parts: int = 0


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
    files = _files(points) if at is None else None
    frame: Any = _read(points) if files is None else None
    payload = _plans(plans) if at is None else _history(plans, frame, at)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("part.*.parquet"):
        old.unlink()
    plugin = _PlansPlugin.of(payload)
    client.register_plugin(plugin)
    settings = _Settings(plugin.digest, crs, lon, lat, staff, str(out), at)
    if files is not None:
        assert isinstance(payload, dict)
        states = _index_states(client, plugin.digest, payload, _cells(files))
        futures = [
            client.submit(_locate_file, str(path), n, settings, states, pure=False)
            for n, path in enumerate(files)
        ]
    else:
        parts = frame.to_delayed()
        tasks = [dask.delayed(_locate_part)(part, n, settings) for n, part in enumerate(parts)]
        futures = client.compute(tasks)
    report = on_progress or (lambda done, total, message: None)
    report(0, len(futures), f"定位：{len(futures)} 个分块")
    from distributed import as_completed

    totals = dict.fromkeys(("points", "inside", "outside", "invalid", "arrow_parts"), 0)
    phases: dict[str, float] = {}
    try:
        for done, future in enumerate(as_completed(futures), start=1):
            counts = future.result()
            for key in _PHASES:
                phases[key] = phases.get(key, 0.0) + counts.pop(key, 0.0)
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
        task_cpu_seconds=phases.pop("cpu_seconds"),
        output=out,
        task_seconds=phases.pop("wall_seconds"),
        phases=phases,
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


def _files(points: str | Path) -> list[Path] | None:
    """The Parquet files of ``points`` in part order, or ``None`` for dask to read it.

    A file, or a folder of ``*.parquet`` files (in natural order: ``part.2`` before
    ``part.10``, as dask orders them). A folder with sub-folders (Hive partitions) is left to
    dask, which adds their keys as columns.
    """
    path = Path(points)
    if path.is_file():
        return [path]
    if not path.is_dir() or any(p.is_dir() for p in path.iterdir()):
        return None
    found = [p for p in path.iterdir() if p.suffix in (".parquet", ".parq")]
    if not found:
        return None
    return sorted(
        found, key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]
    )


def _cells(files: Sequence[Path]) -> int:
    """Raster cells per level for a batch of the points in ``files`` (their footers' rows).

    The service's index (6 M cells a level) is built once and answers for months; a batch
    pays its build before its first point. A cell costs about 0.5 µs to build and a smaller
    raster sends more points to an exact test: on the bench plan's finest level, 1.5 M cells
    instead of 6 M build in 0.77 s instead of 2.53 s and cost 0.1 µs more a point — for
    10 M points, less than the build saves (docs/BENCHMARKS.md, "Cluster"). One cell per 8
    points, between 0.5 M and 6 M; the answers are the same whatever the raster.
    """
    points = sum(pq.read_metadata(path).num_rows for path in files)
    return int(min(max(points // 8, _MIN_CELLS), _MAX_CELLS))


def _index_states(
    client: Client, digest: str, plans: Mapping[str, GridPlan], cells: int
) -> dict[str, list[Any]]:
    """Futures of every level of every plan's index, each built by one task on some worker.

    Finest levels (the largest) are sent first. A plan of three levels is so built by two
    workers in the time of its finest level; a county's plans, by all of them.
    """
    rows = {key: int(plan.grids["level"].nunique()) for key, plan in plans.items()}
    order = sorted(((row, key) for key, n in rows.items() for row in range(n)), reverse=True)
    futures = {
        (key, row): client.submit(_level_task, digest, key, row, cells, pure=False)
        for row, key in order
    }
    return {key: [futures[key, row] for row in range(n)] for key, n in rows.items()}


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

    def options(self) -> dict[str, Any]:
        return {"lon": self.lon, "lat": self.lat, "staff": self.staff, "chunk_size": _CHUNK}


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
            _PAYLOADS.pop(self.digest, None)
            _INDEXES.pop(self.digest, None)
            _READY.pop(self.digest, None)
            for key in [k for k in _LINKED if k[0] == self.digest]:
                del _LINKED[key]


_LOCK = threading.Lock()
_BLOBS: dict[str, bytes] = {}
_PAYLOADS: dict[str, Any] = {}  # the blobs unpickled
_INDEXES: OrderedDict[str, tuple[Locator, dict[str, str]] | TimedLocator] = OrderedDict()
_READY: OrderedDict[str, _Ready] = OrderedDict()  # indexes restored from their level states
_LINKED: dict[tuple[str, str], GridIndex] = {}  # plans' levels linked, for their level tasks
_BUILT: list[float] = []  # CPU seconds of the level tasks run here, not reported yet


@dataclasses.dataclass(frozen=True)
class _Ready:
    """A worker's locator for a set of plans, each grid's staff as JSON, and both in Arrow."""

    index: Locator
    staff: dict[str, str]
    texts: Texts


def _payload(digest: str) -> Any:
    """The plans (or history) ``digest`` names, unpickled once per worker."""
    with _LOCK:
        if digest in _PAYLOADS:
            return _PAYLOADS[digest]
        blob = _BLOBS.get(digest)
    if blob is None:
        raise RuntimeError(f"plans {digest[:16]} were never sent to this worker")
    payload = pickle.loads(blob)
    with _LOCK:
        return _PAYLOADS.setdefault(digest, payload)


def _level_task(digest: str, key: str, row: int, cells: int) -> dict[str, Any]:
    """On a worker: level ``row`` of plan ``key``'s index (see :func:`level_state`)."""
    cpu = time.process_time()
    with _LOCK:
        linked = _LINKED.get((digest, key))
    if linked is None:
        codes, levels, geometries, parents = plan_arrays(_payload(digest)[key])
        linked = GridIndex._linked(codes, levels, geometries, parents)
        with _LOCK:
            _LINKED[digest, key] = linked
    state = level_state(linked, row, max_cells=cells)
    with _LOCK:  # reported by the worker's next part
        _BUILT.append(time.process_time() - cpu)
    return state


def _ready(digest: str, states: Mapping[str, list[dict[str, Any]]]) -> _Ready:
    """The locator the level states of ``digest`` make, restored once per worker."""
    with _LOCK:
        if digest in _READY:
            _READY.move_to_end(digest)
            return _READY[digest]
    plans = _payload(digest)
    indexes = {}
    for key, plan in plans.items():
        codes, levels, geometries, _ = plan_arrays(plan)
        state = joined_state(states[key])
        indexes[key] = GridIndex.from_state(codes, levels, geometries, state, lazy_nearest=True)
    index: Locator = next(iter(indexes.values())) if len(indexes) == 1 else CountyIndex(indexes)
    staff = _staff_json(plans.values())
    ready = _Ready(index, staff, Texts.of(index, staff))
    with _LOCK:
        _READY[digest] = ready
        for key in plans:
            _LINKED.pop((digest, key), None)
        while len(_READY) > _KEPT_INDEXES:
            _READY.popitem(last=False)
    return ready


def _locate_file(
    source: str, number: int, settings: _Settings, states: Mapping[str, list[dict[str, Any]]]
) -> dict[str, float]:
    """Locate one Parquet file on a worker, in Arrow (pandas when not covered), and write it."""
    wall, cpu = time.perf_counter(), time.process_time()
    ready = _ready(settings.digest, states)
    indexed = time.process_time()
    table = pq.read_table(source)
    read = time.process_time()
    path = Path(settings.output) / f"part.{number:05d}.parquet"
    partial = path.with_suffix(".tmp")
    found = located_table(table, ready.index, ready.texts, crs=settings.crs, **settings.options())
    if found is not None:
        located_at = time.process_time()
        pq.write_table(found[0], partial, compression="snappy")
        counts: dict[str, float] = {"points": table.num_rows, **status_counts(found[1])}
        counts["arrow_parts"] = 1
    else:  # a part the Arrow path does not cover: as pandas reads and writes it
        del table
        located = _locate_now(_read_frame(source), settings, ready.index, ready.staff)
        located_at = time.process_time()
        located.to_parquet(partial)
        counts = _counts(located)
    shutil.move(partial, path)  # a rerun after a lost worker replaces, never adds
    done = time.process_time()
    with _LOCK:
        built, _BUILT[:] = sum(_BUILT), []
    return counts | {
        "build": built,
        "cpu_seconds": done - cpu,
        "wall_seconds": time.perf_counter() - wall,
        "index": indexed - cpu,
        "read": read - indexed,
        "locate": located_at - read,
        "write": done - located_at,
    }


def _read_frame(source: str) -> pd.DataFrame:
    """A part as pandas reads it: a GeoDataFrame when it is GeoParquet."""
    import geopandas as gpd

    try:
        return gpd.read_parquet(source)
    except ValueError as exc:  # no geo metadata: a table of lon/lat
        if "geo" not in str(exc).lower():
            raise
        return pd.read_parquet(source)


def _counts(located: pd.DataFrame) -> dict[str, float]:
    status = located["status"].value_counts()
    return {
        "points": len(located),
        "inside": int(status.get("inside", 0)),
        "outside": int(status.get("outside", 0)),
        "invalid": int(status.get("invalid", 0)),
    }


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
    wall, cpu = time.perf_counter(), time.process_time()
    built = _worker_index(settings.digest)
    if isinstance(built, TimedLocator):
        assert settings.at is not None
        located = built.locate(frame, settings.at, settings.crs, **settings.options())
    else:
        located = _locate_now(frame, settings, *built)
    path = Path(settings.output) / f"part.{number:05d}.parquet"
    partial = path.with_suffix(".tmp")
    located.to_parquet(partial)  # GeoParquet for a GeoDataFrame
    shutil.move(partial, path)  # a rerun after a lost worker replaces, never adds
    return _counts(located) | {
        "cpu_seconds": time.process_time() - cpu,
        "wall_seconds": time.perf_counter() - wall,
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
