"""The plan a request is answered from, with its locate index, cached per worker process.

Grids change rarely and an index takes a second or two to build, so each worker keeps the
index of the active version and asks the store which version is active at most every
``plan_check_seconds`` (one small query). When another process activates a new version,
every worker picks it up within that delay; requests keep being answered from the old
version while one thread builds the new index. A staff change in place (``PUT
/grids/{code}/staff``) raises the version's staff revision: the worker then reloads the staff
only, keeping the index.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import gc
import math
import threading
import time
from collections import OrderedDict
from typing import Any

import pandas as pd

from geogrid.errors import NoActivePlanError
from geogrid.locate import GridIndex
from geogrid.plan import GridPlan, normalise_staff
from geogrid.store import PlanStore, VersionInfo

__all__ = ["LoadedPlan", "PlanSource"]


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

    @property
    def key(self) -> tuple[str, int | None, int]:
        """Plan name, version and staff revision: what a worker compares with the store."""
        return self.name, self.version, self.revision

    def with_staff(self, staff: pd.DataFrame, revision: int) -> LoadedPlan:
        """The plan with another staff table (same grids and index), at staff ``revision``."""
        plan = copy.copy(self.plan)  # shallow: the grids are not normalised again
        plan.staff = normalise_staff(staff)
        return dataclasses.replace(self, plan=plan, staff=plan.staff_by_grid(), revision=revision)

    @classmethod
    def build(cls, plan: GridPlan, revision: int = 0) -> LoadedPlan:
        """Index ``plan`` and tabulate its grids and staff."""
        return cls(
            plan.name,
            plan.version,
            list(plan.levels),
            plan,
            GridIndex.from_plan(plan),
            plan.facts_by_grid(staff=False),
            plan.staff_by_grid(),
            revision,
        )


class PlanSource:
    """Where requests get their :class:`LoadedPlan`: a store, or one fixed plan.

    Parameters
    ----------
    store
        The plan store; its active version (or the one active at ``at``) answers.
    plan
        A fixed plan instead of a store (embedding, tests).
    check_seconds
        Minimum delay between two "which version is active?" queries.
    cache_size
        Past versions kept for ``at=`` queries.
    """

    def __init__(
        self,
        store: PlanStore | None = None,
        plan: GridPlan | None = None,
        *,
        check_seconds: float = 1.0,
        cache_size: int = 4,
    ) -> None:
        if (store is None) == (plan is None):
            raise ValueError("give a store or a plan, not both or neither")
        self.store = store
        self._fixed = LoadedPlan.build(plan) if plan is not None else None
        self._check_seconds = check_seconds
        self._cache_size = cache_size
        self._current: LoadedPlan | None = None
        self._checked_at = -float("inf")
        self._lock = threading.Lock()
        self._checking = threading.Lock()  # one "which version is active?" query at a time
        self._past: OrderedDict[tuple[str, int | None, int], LoadedPlan] = OrderedDict()

    def cached(self, at: dt.datetime | None = None) -> LoadedPlan | None:
        """The current plan without touching the store, or ``None`` when a check is due.

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

    def get(self, at: dt.datetime | None = None) -> LoadedPlan:
        """The plan active now (or at ``at``); raises :class:`NoActivePlanError` if none."""
        if at is not None and self._fixed is None:
            return self._at(at)
        loaded = self.cached()
        if loaded is not None:
            return loaded
        current = self._current
        if current is not None and self._checked_at > -math.inf:
            # a periodic check is due: one thread asks the store (and builds a new index if
            # the active version changed) while the others answer from the plan in hand,
            # instead of piling up queries and index builds under load
            if not self._checking.acquire(blocking=False):
                return current
        else:  # no plan yet, or expired by a change here: wait for the store's answer
            self._checking.acquire()
        try:
            return self.cached() or self._refresh()
        finally:
            self._checking.release()

    def _refresh(self) -> LoadedPlan:
        assert self.store is not None
        info = self.store.active_info()
        self._checked_at = time.monotonic()
        if info is None:
            self._current = None
            raise NoActivePlanError(
                "no plan is active: save, approve and activate one "
                "(`geogrid store activate NAME VERSION`)"
            )
        current = self._current
        if current is not None and current.key == _key(info):
            return current
        if current is not None and current.key[:2] == _key(info)[:2]:
            staff = self.store.staff().table(info.plan, info.version)
            loaded = current.with_staff(staff, info.staff_revision)
        else:
            loaded = self._load(info)
        self._current = loaded
        return loaded

    def _at(self, at: dt.datetime) -> LoadedPlan:
        assert self.store is not None
        if at.tzinfo is None:
            at = at.replace(tzinfo=dt.UTC)
        info = self.store.active_info(at)
        if info is None:
            raise NoActivePlanError(
                f"no plan version was active at {at.isoformat()}; leave out `at` for the "
                "active plan"
            )
        return self._load(info)

    def _load(self, info: VersionInfo) -> LoadedPlan:
        key = _key(info)
        with self._lock:
            if key in self._past:
                self._past.move_to_end(key)
                return self._past[key]
            current = self._current
            if current is not None and current.key == key:
                return current
        assert self.store is not None
        loaded = LoadedPlan.build(self.store.get(info.plan, info.version), info.staff_revision)
        # the index holds ~1M objects (e.g. 650k edge segments for 2,500 grids): out of the
        # cyclic collector's way, else each full collection stalls the worker ~150 ms
        gc.freeze()
        with self._lock:
            self._past[key] = loaded
            while len(self._past) > max(self._cache_size, 1):
                self._past.popitem(last=False)
        return loaded


def _key(info: VersionInfo) -> tuple[str, int | None, int]:
    return info.plan, info.version, info.staff_revision
