"""The plans a request is answered from, with their locate index, cached per worker process.

A county's store holds one plan in force per jurisdiction (street, township …). Each worker
keeps a :class:`LoadedCounty`: every jurisdiction's :class:`LoadedPlan` (its index, grids and
staff) and a :class:`~geogrid.locate.CountyIndex` routing points between them. It asks the
store whether what is in force changed at most every ``plan_check_seconds`` (one aggregate
row, :meth:`~geogrid.store.PlanStore.in_force_digest`). When a jurisdiction's version changes,
only that jurisdiction is re-indexed, in the one thread that made the check, while every other
request keeps being answered from the county in hand; the new county then replaces it in one
assignment. Its county-wide tables (grids and staff by code) are the old ones with the
changed plans' entries laid over them, not copies. A staff change in place raises a version's staff revision: the worker then
reloads that version's staff only, keeping its index.

Index builds run in worker processes (:class:`~geogrid.locate.build.IndexBuilder`, shared by
the process): a build is mostly small numpy and GEOS calls under the GIL, and in a thread of
the serving process it would stall every request for its duration. Only small plans (under
``_INLINE_VERTICES`` vertices, a build of a few milliseconds) are indexed in process. A cold
start reads every plan in force with one query per table
(:meth:`~geogrid.store.PlanStore.plans_in_force`) and indexes each in the workers while the
next is read. Once the workers run (a county of large plans), a re-index has the worker read
the new version from the store too (:meth:`~geogrid.locate.build.IndexBuilder.load`): the
serving process only unpickles it, and patches the county
(:class:`~geogrid.locate.CountyIndex` with ``previous``).

``at=`` requests answer from the versions in force at that instant, with the staff in force
then; their indexes come from a small cache of past versions.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime as dt
import functools
import gc
import math
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import shapely

from geogrid.county import union_plan
from geogrid.errors import NoActivePlanError
from geogrid.locate import CountyIndex, GridIndex
from geogrid.locate.build import IndexBuilder
from geogrid.locate.index import plan_arrays
from geogrid.plan import GridPlan, normalise_staff
from geogrid.store import PlanStore, VersionInfo, open_store

__all__ = ["LoadedCounty", "LoadedPlan", "PlanSource"]

_Key = tuple[str, int | None, int]
# a jurisdiction's index: nested levels answered from the finest (GridIndex ``parents``), a
# coarser raster (2 % of the area tested exactly: still ~10 M points/s, a third of the build
# time), the outside-point tree built by the first outside point (most of the memory)
_INDEX_OPTIONS: dict[str, Any] = {"boundary_fraction": 0.02, "lazy_nearest": True}
_LOADERS = 2  # index worker processes (one per core of the machines we run on)
_INLINE_VERTICES = 20_000  # smaller plans are indexed in process (a build of milliseconds)
# a thread doing re-index work in Python hands the GIL back to the request loop after at most
# this long (the default 5 ms, several times per request, made the p99 while re-indexing)
_SWITCH_INTERVAL_S = 0.001
_BUILDER: IndexBuilder | None = None
_BUILDER_LOCK = threading.Lock()


@dataclasses.dataclass(frozen=True)
class LoadedPlan:
    """A plan version ready to answer: the plan, its index and per-grid facts by code."""

    name: str
    version: int | None
    levels: list[str]
    plan: GridPlan
    index: GridIndex
    grids: dict[str, dict[str, Any]]
    staff: dict[str, list[dict[str, Any]]]
    revision: int = 0
    jurisdiction: str = ""

    @property
    def key(self) -> _Key:
        """Plan name, version and staff revision: what a worker compares with the store."""
        return self.name, self.version, self.revision

    def with_staff(self, staff: pd.DataFrame, revision: int) -> LoadedPlan:
        """The plan with another staff table (same grids and index), at staff ``revision``."""
        plan = copy.copy(self.plan)  # shallow: the grids are not normalised again
        plan.staff = normalise_staff(staff)
        return dataclasses.replace(self, plan=plan, staff=plan.staff_by_grid(), revision=revision)

    @classmethod
    def build(
        cls,
        plan: GridPlan,
        revision: int = 0,
        jurisdiction: str = "",
        *,
        index: GridIndex | None = None,
    ) -> LoadedPlan:
        """Index ``plan`` (unless its ``index`` is given) and tabulate its grids and staff."""
        return cls(
            plan.name,
            plan.version,
            list(plan.levels),
            plan,
            GridIndex.from_plan(plan, **_INDEX_OPTIONS) if index is None else index,
            plan.facts_by_grid(staff=False),
            plan.staff_by_grid(),
            revision,
            jurisdiction or str(plan.name),
        )


class LoadedCounty:
    """Every jurisdiction's :class:`LoadedPlan` in force, answering as one.

    It has what a request reads of a single plan — ``index``, ``grids``, ``staff``,
    ``levels``, ``plan`` — over all jurisdictions, and :meth:`part_of` tells which plan
    answered a located point (its name, version and level names).

    Parameters
    ----------
    parts
        Jurisdiction code → its loaded plan.
    previous
        The county these parts replace (some jurisdictions re-indexed or restaffed): what
        is unchanged is taken over from it rather than assembled again.
    """

    def __init__(
        self, parts: Mapping[str, LoadedPlan], previous: LoadedCounty | None = None
    ) -> None:
        self.parts: dict[str, LoadedPlan] = dict(sorted(parts.items()))
        indexes = {j: p.index for j, p in self.parts.items()}
        before: CountyIndex | None = None if previous is None else previous.index
        self.index: CountyIndex = CountyIndex(indexes, previous=before)
        self.plans: tuple[LoadedPlan, ...] = tuple(self.parts[j] for j in self.index.jurisdictions)
        # one table per county, not a chain of one per jurisdiction: a lookup on the hot path
        # would otherwise walk up to a thousand dicts (codes are unique across jurisdictions)
        self.grids: Mapping[str, dict[str, Any]] = _merged(self.plans, previous, "grids")
        self.staff: Mapping[str, list[dict[str, Any]]] = _merged(self.plans, previous, "staff")

    @classmethod
    def of(cls, plan: LoadedPlan) -> LoadedCounty:
        """A county of one plan (a fixed plan, or a store with one jurisdiction)."""
        return cls({plan.jurisdiction or plan.name: plan})

    @property
    def single(self) -> LoadedPlan | None:
        """The one plan when there is one jurisdiction, else ``None``."""
        return self.plans[0] if len(self.plans) == 1 else None

    @property
    def name(self) -> str:
        """The plan's name, or the jurisdictions' plans' names joined with ``+``."""
        return "+".join(p.name for p in self.plans)

    @property
    def version(self) -> int | None:
        """The plan's version with one jurisdiction; ``None`` over several."""
        single = self.single
        return None if single is None else single.version

    @property
    def levels(self) -> list[str]:
        """Level names of the deepest plan (each plan's own: :meth:`part_of`)."""
        return max((p.levels for p in self.plans), key=len)

    @functools.cached_property
    def plan(self) -> GridPlan:
        """Every plan's grids, staff and units as one plan (:func:`geogrid.county.union_plan`)."""
        return union_plan([p.plan for p in self.plans])

    @property
    def key(self) -> tuple[_Key, ...]:
        """The parts' keys: what changes when any jurisdiction's version or staff changes."""
        return tuple(p.key for p in self.plans)

    def part_of(self, number: int) -> LoadedPlan:
        """The plan of part ``number`` of a :class:`~geogrid.locate.LocateResult`."""
        return self.plans[number]


class PlanSource:
    """Where requests get their :class:`LoadedCounty`: a store, or one fixed plan.

    Parameters
    ----------
    store
        The plan store; the versions in force now (or at ``at``) answer.
    plan
        A fixed plan instead of a store (embedding, tests).
    check_seconds
        Minimum delay between two "which versions are in force?" queries.
    cache_size
        Past versions kept for ``at=`` queries (besides those in force).
    url
        The store's URL (with its password), for index workers to read new versions from
        themselves; without it they are read in this process.
    """

    def __init__(
        self,
        store: PlanStore | None = None,
        plan: GridPlan | None = None,
        *,
        check_seconds: float = 1.0,
        cache_size: int = 4,
        url: str | None = None,
    ) -> None:
        if (store is None) == (plan is None):
            raise ValueError("give a store or a plan, not both or neither")
        self.store = store
        self._fixed = LoadedCounty.of(LoadedPlan.build(plan)) if plan is not None else None
        self._check_seconds = check_seconds
        self._cache_size = cache_size
        self._url = url
        self._current: LoadedCounty | None = None
        self._checked_at = -float("inf")
        self._lock = threading.Lock()
        self._checking = threading.Lock()  # one "which versions are in force?" query at a time
        self._past: OrderedDict[tuple[str, int | None], LoadedPlan] = OrderedDict()
        self._staff_due: dt.datetime | None = None  # when a dated staff change takes effect
        self._digest: tuple[int, ...] | None = None  # what was in force at the last check
        if store is not None and sys.getswitchinterval() > _SWITCH_INTERVAL_S:
            sys.setswitchinterval(_SWITCH_INTERVAL_S)

    def cached(self, at: dt.datetime | None = None) -> LoadedCounty | None:
        """The current county without touching the store, or ``None`` when a check is due.

        Lets an async handler answer at once and go to a thread only for store work.
        """
        if self._fixed is not None:
            return self._fixed
        current = self._current
        fresh = time.monotonic() - self._checked_at < self._check_seconds
        return current if at is None and current is not None and fresh else None

    def expire(self) -> None:
        """Ask the store on the next request (after this worker activated or changed staff)."""
        self._checked_at = -float("inf")

    def refresh(self) -> None:
        """Ask the store now, in the calling thread (a change was notified: api/notify.py).

        Requests meanwhile answer from the plans in hand; the next ones from the new.
        """
        if self._fixed is not None or self.store is None:
            return
        with self._checking, contextlib.suppress(NoActivePlanError):
            self._refresh()

    def get(self, at: dt.datetime | None = None) -> LoadedCounty:
        """The plans in force now (or at ``at``); raises :class:`NoActivePlanError` if none."""
        if at is not None and self._fixed is None:
            return self._at(at)
        loaded = self.cached()
        if loaded is not None:
            return loaded
        current = self._current
        if current is not None and self._checked_at > -math.inf and self._check_seconds > 0:
            # a periodic check is due: one thread asks the store (and re-indexes what changed)
            # while the others answer from the county in hand, instead of piling up queries
            # and index builds under load
            if not self._checking.acquire(blocking=False):
                return current
        else:  # nothing yet, expired by a change here, or every request checks: wait for the
            # store's answer (a notified refresh in progress included)
            self._checking.acquire()
        try:
            return self.cached() or self._refresh()
        finally:
            self._checking.release()

    def _refresh(self) -> LoadedCounty:
        assert self.store is not None
        current = self._current
        digest = self.store.in_force_digest()
        self._checked_at = time.monotonic()
        due = self._staff_due is not None and dt.datetime.now(dt.UTC) >= self._staff_due
        if current is not None and digest == self._digest and not due:
            return current  # nothing came into or out of force: no need to list it
        if current is None:
            return self._cold_start(digest)
        infos = self.store.in_force()
        if not infos:
            self._current = None
            raise _no_plan()
        if current.key == tuple(_key(i) for i in infos) and not due:
            self._digest = digest
            return current
        held = {p.name: p for p in current.plans}
        if due:  # a dated staff change came into force: reload every part's staff
            held = {name: dataclasses.replace(p, revision=-1) for name, p in held.items()}
        parts = {info.jurisdiction: self._live(info, held.get(info.plan)) for info in infos}
        loaded = LoadedCounty(parts, previous=current)
        gc.freeze()  # the new part's objects: out of the cyclic collector's way
        self._current, self._digest = loaded, digest
        self._staff_due = self.store.staff().next_change()
        return loaded

    def _cold_start(self, digest: tuple[int, ...]) -> LoadedCounty:
        """Every plan in force read (one query per table) and indexed in the workers."""
        assert self.store is not None
        parts: dict[str, LoadedPlan] = {}
        queued: deque[tuple[VersionInfo, GridPlan]] = deque()

        def keep(info: VersionInfo, plan: GridPlan, index: GridIndex | None) -> None:
            loaded = LoadedPlan.build(plan, info.staff_revision, info.jurisdiction, index=index)
            parts[info.jurisdiction] = loaded

        def big_ones() -> Iterator[tuple[Any, ...]]:
            for info, plan in self.store.plans_in_force():  # type: ignore[union-attr]
                if _small(plan):
                    keep(info, plan, None)
                else:
                    queued.append((info, plan))
                    yield plan_arrays(plan)

        for index in _builder().build_many(big_ones()):
            keep(*queued.popleft(), index)
        if not parts:
            self._current = None
            raise _no_plan()
        loaded = LoadedCounty(parts)
        # the indexes hold ~1M objects: out of the cyclic collector's way, else each full
        # collection stalls the worker ~150 ms
        gc.freeze()
        self._current, self._digest = loaded, digest
        self._staff_due = self.store.staff().next_change()
        return loaded

    def _live(self, info: VersionInfo, held: LoadedPlan | None) -> LoadedPlan:
        """``info``'s loaded plan: the one in hand, its staff refreshed, or a new one."""
        assert self.store is not None
        if held is not None and held.key == _key(info):
            return held
        if held is not None and held.key[:2] == _key(info)[:2]:
            staff = self.store.staff().table(info.plan, info.version)
            return held.with_staff(staff, info.staff_revision)
        return self._load(info)

    def _at(self, at: dt.datetime) -> LoadedCounty:
        assert self.store is not None
        if at.tzinfo is None:
            at = at.replace(tzinfo=dt.UTC)
        infos = self.store.in_force(at)
        if not infos:
            raise NoActivePlanError(
                f"no plan version was in force at {at.isoformat()}; leave out `at` for the "
                "plans in force now"
            )
        parts = {}
        for info in infos:
            staff = self.store.staff_at(info.plan, info.version, at)
            parts[info.jurisdiction] = self._load(info).with_staff(staff, -1)
        return LoadedCounty(parts)

    def _load(self, info: VersionInfo) -> LoadedPlan:
        key = (info.plan, info.version)
        with self._lock:
            if key in self._past:
                self._past.move_to_end(key)
                return self._past[key]
            current = self._current
            held = {} if current is None else {p.key[:2]: p for p in current.plans}
            if key in held:
                return held[key]
        plan, index = self._read(info)
        loaded = LoadedPlan.build(plan, info.staff_revision, info.jurisdiction, index=index)
        with self._lock:
            self._past[key] = loaded
            while len(self._past) > max(self._cache_size, 1):
                self._past.popitem(last=False)
        return loaded

    def _read(self, info: VersionInfo) -> tuple[GridPlan, GridIndex | None]:
        """``info``'s plan and its index (``None``: to build here, a small plan).

        Read and indexed in a worker once the workers run and the store's URL is known, else
        read here and indexed in a worker when large.
        """
        assert self.store is not None
        if self._url is not None and _BUILDER is not None:
            return _builder().load(_read_version, self._url, info.plan, info.version)
        plan = self.store.get(info.plan, info.version)
        return plan, None if _small(plan) else _builder().build(*plan_arrays(plan))


_STORES: dict[str, PlanStore] = {}  # in an index worker: the store it opened last, by URL


def _read_version(url: str, name: str, version: int | None) -> GridPlan:
    """In an index worker: version ``version`` of plan ``name`` in the store at ``url``."""
    store = _STORES.get(url)
    if store is None:
        for other in _STORES.values():
            other.close()
        _STORES.clear()
        store = _STORES[url] = open_store(url)
    return store.get(name, version)


def _stale(held: LoadedPlan | None, info: VersionInfo) -> bool:
    """Whether ``info``'s version must be read and indexed (not the one in hand)."""
    return held is None or held.key[:2] != _key(info)[:2]


def _merged(
    plans: tuple[LoadedPlan, ...], previous: LoadedCounty | None, table: str
) -> Mapping[str, Any]:
    """Every plan's ``table`` as one mapping (their keys do not overlap).

    With a ``previous`` county, its mapping with the changed plans' entries laid over it
    (:class:`_Layered`): no copy of the county's table, whose hundreds of thousands of
    entries a copy (or freeing it) would hold the GIL for tens of milliseconds.
    """
    if previous is not None:
        now = {id(p) for p in plans}
        then = {id(p) for p in previous.plans}
        gone = [getattr(p, table) for p in previous.plans if id(p) not in now]
        new = [getattr(p, table) for p in plans if id(p) not in then]
        if len(gone) + len(new) < len(plans) // 2:
            return _Layered.over(getattr(previous, table), gone, new)
    merged: dict[str, Any] = {}
    for plan in plans:  # one short update per plan: the GIL is handed over in between
        merged.update(getattr(plan, table))
    return merged


class _Layered(Mapping[str, Any]):
    """A county's table: a shared base dict, the codes of it hidden, and entries over it.

    ``base`` is never changed (older counties read it); a re-index makes a new instance
    with the same ``base`` and its own small ``top`` and ``hidden``, in work of the size
    of the changed plans.
    """

    _MAX_TOP = 8  # layered entries at most 1/8 of the base, else one dict is made anew

    def __init__(self, base: dict[str, Any], hidden: frozenset[str], top: dict[str, Any]):
        self.base, self.hidden, self.top = base, hidden, top

    @classmethod
    def over(
        cls, below: Mapping[str, Any], gone: list[dict[str, Any]], new: list[dict[str, Any]]
    ) -> Mapping[str, Any]:
        """``below`` without the ``gone`` tables' keys, with the ``new`` tables' entries."""
        if isinstance(below, _Layered):
            base, hidden, top = below.base, set(below.hidden), dict(below.top)
        else:  # a county's own dict, never changed once made: shared, not copied
            base, hidden, top = dict(below) if not isinstance(below, dict) else below, set(), {}
        for table in gone:
            for code in table:
                top.pop(code, None)
                if code in base:
                    hidden.add(code)
        for table in new:
            top.update(table)
            hidden.update(code for code in table if code in base)
        if (len(top) + len(hidden)) * cls._MAX_TOP > len(base):
            merged = {k: v for k, v in base.items() if k not in hidden}
            merged.update(top)
            return merged
        return cls(base, frozenset(hidden), top)

    def __getitem__(self, code: str) -> Any:
        found = self.top.get(code, _MISSING)
        if found is not _MISSING:
            return found
        if code in self.hidden:
            raise KeyError(code)
        return self.base[code]

    def __contains__(self, code: object) -> bool:
        return code in self.top or (code not in self.hidden and code in self.base)

    def __len__(self) -> int:
        return len(self.base) - len(self.hidden) + len(self.top)

    def __iter__(self) -> Iterator[str]:
        yield from self.top
        yield from (code for code in self.base if code not in self.hidden)


_MISSING = object()


def _builder() -> IndexBuilder:
    """The process's index workers (started on the first large plan)."""
    global _BUILDER
    with _BUILDER_LOCK:
        if _BUILDER is None:
            _BUILDER = IndexBuilder(_LOADERS, **_INDEX_OPTIONS)
        return _BUILDER


def _small(plan: GridPlan) -> bool:
    """Whether ``plan`` is indexed faster in process than sent to a worker."""
    geoms = np.asarray(plan.grids.geometry.array, dtype=object)
    return int(shapely.get_num_coordinates(geoms).sum()) < _INLINE_VERTICES


def _no_plan() -> NoActivePlanError:
    return NoActivePlanError(
        "no plan is active: save, approve and activate one (`geogrid store activate NAME VERSION`)"
    )


def _key(info: VersionInfo) -> _Key:
    return info.plan, info.version, info.staff_revision
