"""Building many jurisdictions' indexes in worker processes, out of the caller's GIL.

Most of a :class:`~geogrid.locate.GridIndex` build is small numpy and GEOS calls under the
GIL, so threads hardly overlap, and a build in a serving process's thread stalls its requests.
:class:`IndexBuilder` sends each plan's codes, levels, parents and geometries (as WKB) to a
process pool; a worker builds the index and sends back only what the build computed
(:meth:`GridIndex.state`: a few arrays); the caller rebuilds the index over its own geometries
with :meth:`GridIndex.from_state` (no second copy of the polygons, no second build).

:meth:`IndexBuilder.load` goes one step further for a plan kept in a store: the worker reads the
plan itself (with a function the caller names, e.g. one opening the store once per worker) and
sends back the plan and the build's arrays, so the caller's process does neither the reading
(a few hundred milliseconds of Python for a plan of a hundred grids, under its GIL) nor the
encoding to WKB.

Examples
--------
>>> from shapely.geometry import box
>>> with IndexBuilder(workers=1) as builder:
...     index = builder.build(["1", "2"], [1, 1], [box(0, 0, 1, 1), box(1, 0, 2, 1)])
>>> index.locate([0.5, 1.5], [0.5, 0.5]).grid_codes().tolist()
['1', '2']
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import CRS

from geogrid.locate.index import GridIndex, plan_arrays
from geogrid.plan import GridPlan

__all__ = ["IndexBuilder", "PlanArrays", "joined_state", "level_state"]

PlanArrays = tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike, npt.ArrayLike | None]
"""A plan's grids as the index takes them: codes, levels, geometries, parent codes."""

_IN_FLIGHT = 3  # plans sent ahead per worker (bounds the WKB held for the queue)


class IndexBuilder:
    """A pool of worker processes building :class:`GridIndex` es.

    Parameters
    ----------
    workers
        Worker processes (started on first use, with ``spawn``: safe in a threaded server).
    options
        :class:`GridIndex` options (``boundary_fraction``, ``lazy_nearest`` …).
    """

    def __init__(self, workers: int = 2, **options: Any) -> None:
        self.workers = max(int(workers), 1)
        self.options = options
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._metrics: dict[str, CRS] = {}

    def __enter__(self) -> IndexBuilder:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def start(self) -> None:
        """Start the workers now (they import numpy and shapely: about a second)."""
        pool = self._executor()
        for done in [pool.submit(int, 0) for _ in range(self.workers)]:
            done.result()

    def build(
        self,
        codes: npt.ArrayLike,
        levels: npt.ArrayLike,
        geometries: npt.ArrayLike,
        parents: npt.ArrayLike | None = None,
    ) -> GridIndex:
        """One plan's index, built in a worker."""
        return next(self.build_many([(codes, levels, geometries, parents)]))

    def build_many(self, plans: Iterable[PlanArrays]) -> Iterator[GridIndex]:
        """The plans' indexes, in order, built ``workers`` at a time.

        At most a few plans per worker are sent ahead, so the caller can pass a generator
        over a whole province without holding every plan's WKB at once.
        """
        pool = self._executor()
        pending: list[tuple[PlanArrays, Future[dict[str, Any]]]] = []
        source = iter(plans)
        exhausted = False
        while True:
            while not exhausted and len(pending) < _IN_FLIGHT * self.workers:
                plan = next(source, None)
                if plan is None:
                    exhausted = True
                    break
                pending.append((plan, pool.submit(_state, *_wire(plan), self.options)))
            if not pending:
                return
            wait([pending[0][1]], return_when=FIRST_COMPLETED)
            plan, future = pending.pop(0)
            yield self._restore(plan, future.result())

    def load(self, read: Callable[..., GridPlan], *args: Any) -> tuple[GridPlan, GridIndex]:
        """The plan ``read(*args)`` returns in a worker, and its index, built there too.

        ``read`` is a module-level function (the worker imports it), e.g. one reading a
        version from a store; this process only unpickles the plan and restores the index
        over its geometries.
        """
        future = self._executor().submit(_read_and_build, read, args, self.options)
        plan, state = future.result()
        return plan, self._restore(plan_arrays(plan), state)

    def _restore(self, plan: PlanArrays, state: dict[str, Any]) -> GridIndex:
        codes, levels, geometries, _ = plan
        metric = self._metrics.get(state["metric"])
        if metric is None:  # one CRS object per zone, not one parse per plan
            metric = self._metrics[state["metric"]] = CRS.from_wkt(state["metric"])
        lazy = bool(self.options.get("lazy_nearest", False))
        return GridIndex.from_state(
            codes, levels, geometries, state, metric=metric, lazy_nearest=lazy
        )

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(
                    self.workers, mp_context=context, initializer=_watch, initargs=(os.getpid(),)
                )
            return self._pool


def _watch(parent: int) -> None:
    """In a worker: exit once the process that started it is gone (not live as an orphan)."""

    def run() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=run, name="geogrid-index-worker-watch", daemon=True).start()


def _wire(plan: PlanArrays) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """A plan as sent to a worker: plain arrays, geometries as WKB."""
    codes, levels, geometries, parents = plan
    return (
        np.asarray(codes, dtype=object),
        np.asarray(levels, dtype=np.int64),
        shapely.to_wkb(np.asarray(geometries, dtype=object)),
        None if parents is None else np.asarray(parents, dtype=object),
    )


def _read_and_build(
    read: Callable[..., GridPlan], args: tuple[Any, ...], options: dict[str, Any]
) -> tuple[GridPlan, dict[str, Any]]:
    """In a worker: the plan ``read(*args)`` returns, and the state of its new index."""
    plan = read(*args)
    return plan, _built(plan_arrays(plan), options)


def _state(
    codes: np.ndarray,
    levels: np.ndarray,
    wkb: np.ndarray,
    parents: np.ndarray | None,
    options: dict[str, Any],
) -> dict[str, Any]:
    """In a worker: build the index and return what the build computed."""
    return _built((codes, levels, shapely.from_wkb(wkb), parents), options)


def _built(plan: PlanArrays, options: dict[str, Any]) -> dict[str, Any]:
    """The :meth:`GridIndex.state` of a new index over a plan's grids."""
    codes, levels, geometries, parents = plan
    built = dict(options, lazy_nearest=True)  # the caller builds its own tree when asked
    return GridIndex(codes, levels, geometries, parents=parents, **built).state()


def level_state(linked: GridIndex, row: int, **options: Any) -> dict[str, Any]:
    """Build level ``row`` of an index whose levels are linked but not built.

    ``linked``: ``GridIndex._linked(codes, levels, geometries, parents)``; ``options``:
    ``boundary_fraction``, ``max_cells``. Each level's raster is built alone, so the levels of
    one plan can be built at once in several processes; :func:`joined_state` of every row's
    answer is the :meth:`GridIndex.state` of the whole index.
    """
    level = linked._levels[row]
    if not level.derived and not level.tiers:
        level.build(options.get("boundary_fraction", 0.005), options.get("max_cells", 6_000_000))
    return {
        "order": linked._order,
        "up": linked._up,
        "metric": linked.metric_crs.to_wkt(),
        "level": level.state(),
    }


def joined_state(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The :meth:`GridIndex.state` of an index from :func:`level_state` of each row, in order."""
    first = rows[0]
    return {
        "order": first["order"],
        "up": first["up"],
        "metric": first["metric"],
        "levels": [row["level"] for row in rows],
    }
