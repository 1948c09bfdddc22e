"""Points located at their own instants: the plans and staff a store had over a period.

Incidents reported last spring are judged against last spring's grids and grid workers. A
:class:`History` holds what a workers needs for that, read once from the store: the periods
(*epochs*) in which the set of versions in force did not change, each version's grids (no
staff, no units: the index needs only the grids) and every staff row of each version with
its period (``valid_from`` / ``valid_to``). A :class:`TimedLocator` on a worker locates each
point in the versions in force at its instant — one index per version, one county index per
epoch, both kept — and gives it the staff of its grid in force at that instant, in the role
order (:func:`geogrid.plan.staff_records`): the answer ``/locate?at=T`` gives for one point.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from geogrid.crs import CRSLike
from geogrid.errors import NoActivePlanError
from geogrid.locate import CountyIndex, GridIndex, Locator, locate_frame
from geogrid.plan import GridPlan, normalise_staff, normalise_units, staff_records

if TYPE_CHECKING:
    from geogrid.store import PlanStore, VersionInfo

__all__ = ["History", "TimedLocator", "locator_for"]

Key = tuple[str, int]
"""A version: (plan name, version number)."""

_KEPT_EPOCHS = 4  # county indexes a worker keeps (points come roughly in time order)
_NO_TIME = "no valid report time in column {column!r}"
_NO_PLAN = "no plan version was in force at the report time"


def locator_for(plans: Mapping[str, GridPlan]) -> Locator:
    """One plan's :class:`GridIndex`, or a county's over several (as the service builds them)."""
    if len(plans) == 1:
        return GridIndex.from_plan(next(iter(plans.values())))
    return CountyIndex({j: GridIndex.from_plan(p, lazy_nearest=True) for j, p in plans.items()})


@dataclasses.dataclass(frozen=True)
class History:
    """The versions in force in a store over a period, and every staff row of each.

    Attributes
    ----------
    starts
        Start of each epoch (``datetime64[ns]``, UTC), ascending; an epoch lasts until the next
        one starts, the last one without end.
    epochs
        Per epoch, the versions in force, as (jurisdiction, version key) pairs by jurisdiction.
    plans
        Each version's plan, without staff and units.
    staff
        Each version's staff rows (``STAFF_COLUMNS`` plus ``valid_from`` / ``valid_to``,
        ``datetime64[ns, UTC]``, NaT for open), in store order.
    levels
        The most levels of any plan (every located table gets that many code columns).
    """

    starts: np.ndarray
    epochs: list[tuple[tuple[str, Key], ...]]
    plans: dict[Key, GridPlan]
    staff: dict[Key, pd.DataFrame]
    levels: int

    @classmethod
    def of(cls, store: PlanStore, start: dt.datetime, end: dt.datetime) -> History:
        """What ``store`` had in force between ``start`` and ``end`` (both included)."""
        infos = [i for i in store.versions() if _overlaps(i, start, end)]
        if not infos:
            raise NoActivePlanError(
                f"no plan version was in force between {start.isoformat()} and "
                f"{end.isoformat()}, the report times of the points"
            )
        bounds = {start} | {
            t for i in infos for t in (i.valid_from, i.valid_to) if t and start < t <= end
        }
        starts = sorted(bounds)
        epochs = [
            tuple(sorted((i.jurisdiction, (i.plan, i.version)) for i in infos if i.in_force(t)))
            for t in starts
        ]
        keys = sorted({key for epoch in epochs for _, key in epoch})
        plans = {key: _grids_only(store.get(*key)) for key in keys}
        staff = {key: store.staff_periods(*key) for key in keys}
        return cls(
            starts=_instants(pd.Series(starts)),
            epochs=epochs,
            plans=plans,
            staff=staff,
            levels=max(len(p.levels) for p in plans.values()),
        )

    def epoch_of(self, times: np.ndarray) -> np.ndarray:
        """The epoch of each instant (``datetime64[ns]``); -1 for NaT or none in force."""
        epoch = np.searchsorted(self.starts, times, side="right") - 1
        epoch[np.isnat(times)] = -1
        empty = np.array([not e for e in self.epochs] + [True])
        epoch[empty[epoch]] = -1  # index -1 reads the trailing True
        return epoch


class TimedLocator:
    """Locates points in the versions in force at their instants, with the staff then.

    Built on a worker from a :class:`History`; keeps each version's index, the county index
    of the last few epochs and each grid's staff periods as it meets them.
    """

    def __init__(self, history: History) -> None:
        self.history = history
        self._indexes: dict[Key, GridIndex] = {}
        self._counties: OrderedDict[int, tuple[Locator, dict[str, Key]]] = OrderedDict()
        self._staff_rows: dict[Key, dict[str, pd.DataFrame]] = {}
        self._periods: dict[tuple[Key, str], tuple[np.ndarray, np.ndarray]] = {}

    def locate(
        self,
        points: pd.DataFrame,
        at: str,
        crs: CRSLike | None = None,
        *,
        lon: str = "lon",
        lat: str = "lat",
        staff: bool = True,
        chunk_size: int = 1_000_000,
    ) -> pd.DataFrame:
        """:func:`~geogrid.locate.locate_frame` of each point at its instant (column ``at``).

        Adds ``reason`` (why a point was not located: no valid time, no plan in force then)
        and, with ``staff``, the staff of its grid then as JSON records. Rows keep their order.
        """
        times = _instants(points[at])
        epochs = self.history.epoch_of(times)
        pieces = []
        for epoch in np.unique(epochs):
            rows = np.flatnonzero(epochs == epoch)
            part = points.iloc[rows]
            if epoch < 0:
                located = self._unlocated(part, np.isnat(times[rows]), at)
            else:
                locator, owners = self._county(int(epoch))
                located = locate_frame(locator, part, crs, lon=lon, lat=lat, chunk_size=chunk_size)
                located["reason"] = pd.array([pd.NA] * len(part), dtype="string")
                if staff:
                    located["staff"] = self._staff(located["grid_code"], times[rows], owners)
            pieces.append(located.assign(_row=rows))
        out = pd.concat(pieces).sort_values("_row", kind="stable").drop(columns="_row")
        return self._columns(out, staff)

    # -- indexes -------------------------------------------------------------------------

    def _county(self, epoch: int) -> tuple[Locator, dict[str, Key]]:
        """The locator of ``epoch``'s versions and the version holding each grid code."""
        if epoch in self._counties:
            self._counties.move_to_end(epoch)
            return self._counties[epoch]
        members = self.history.epochs[epoch]
        plans = {jurisdiction: self.history.plans[key] for jurisdiction, key in members}
        if len(plans) == 1:
            key = members[0][1]
            if key not in self._indexes:
                self._indexes[key] = GridIndex.from_plan(self.history.plans[key])
            locator: Locator = self._indexes[key]
        else:
            locator = locator_for(plans)
        owners = {
            str(code): key for _, key in members for code in self.history.plans[key].grids["code"]
        }
        self._counties[epoch] = locator, owners
        while len(self._counties) > _KEPT_EPOCHS:
            self._counties.popitem(last=False)
        return locator, owners

    # -- staff ---------------------------------------------------------------------------

    def _staff(self, codes: pd.Series, times: np.ndarray, owners: dict[str, Key]) -> pd.Series:
        """Each point's grid's staff at its instant as JSON (``[]`` none, NA for no grid)."""
        values = np.full(len(codes), None, dtype=object)
        known = codes.notna().to_numpy()
        frame = pd.DataFrame(
            {"code": codes[known].astype(str).to_numpy(), "row": np.flatnonzero(known)}
        )
        for code, group in frame.groupby("code", sort=False):
            edges, records = self._periods_of(owners[str(code)], str(code))
            rows = group["row"].to_numpy()
            values[rows] = records[np.searchsorted(edges, times[rows], side="right")]
        return pd.Series(pd.array(values, dtype="string"), index=codes.index)

    def _periods_of(self, key: Key, code: str) -> tuple[np.ndarray, np.ndarray]:
        """A grid's staff changes (instants) and its staff as JSON before, between and after."""
        if (key, code) not in self._periods:
            if key not in self._staff_rows:
                table = self.history.staff[key]
                self._staff_rows[key] = {str(c): g for c, g in table.groupby("grid_code")}
            rows = self._staff_rows[key].get(code)
            self._periods[key, code] = _periods(rows)
        return self._periods[key, code]

    # -- shape ---------------------------------------------------------------------------

    def _unlocated(self, part: pd.DataFrame, no_time: np.ndarray, at: str) -> pd.DataFrame:
        out = part.copy()
        for column in ("grid_code", "nearest_code", "staff"):
            out[column] = pd.array([pd.NA] * len(part), dtype="string")
        out["status"] = "invalid"
        out["distance_m"] = np.nan
        reasons = np.where(no_time, _NO_TIME.format(column=at), _NO_PLAN)
        out["reason"] = pd.array(reasons, dtype="string")
        return out

    def _columns(self, out: pd.DataFrame, staff: bool) -> pd.DataFrame:
        """Every level's code column, in order, whatever the epochs' plans had."""
        levels = [f"level{n}_code" for n in range(1, self.history.levels + 1)]
        for column in levels:
            if column not in out.columns:
                out[column] = pd.array([pd.NA] * len(out), dtype="string")
        tail = [*levels, "grid_code", "status", "nearest_code", "distance_m", "reason"]
        tail += ["staff"] if staff else []
        head = [c for c in out.columns if c not in tail]
        return out[head + tail]


def _overlaps(info: VersionInfo, start: dt.datetime, end: dt.datetime) -> bool:
    """Whether version ``info`` was in force at some instant of [start, end]."""
    if info.valid_from is None or info.valid_from > end:
        return False
    if info.valid_to is not None and (info.valid_to <= start or info.valid_to <= info.valid_from):
        return False
    return info.in_force(max(start, info.valid_from))


def _grids_only(plan: GridPlan) -> GridPlan:
    return dataclasses.replace(plan, staff=normalise_staff(None), units=normalise_units(None))


def _instants(values: pd.Series) -> np.ndarray:
    """Instants (ISO 8601 text or timestamps) as UTC ``datetime64[ns]``.

    Naive ones are taken as UTC; unreadable ones are NaT.
    """
    parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    return parsed.dt.tz_localize(None).to_numpy("datetime64[ns]")


def _periods(rows: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """(change instants, JSON staff per interval) of one grid's staff rows."""
    if rows is None or rows.empty:
        return np.array([], dtype="datetime64[ns]"), np.array(["[]"], dtype=object)
    starts, ends = _instants(rows["valid_from"]), _instants(rows["valid_to"])
    edges = np.unique(np.concatenate([starts[~np.isnat(starts)], ends[~np.isnat(ends)]]))
    before = edges[:1] - np.timedelta64(1, "ns") if edges.size else np.zeros(1, "datetime64[ns]")
    probes = np.concatenate([before, edges])  # one instant in each interval
    records = []
    for probe in probes:
        held = (np.isnat(starts) | (starts <= probe)) & (np.isnat(ends) | (ends > probe))
        records.append(json.dumps(staff_records(rows[held]), ensure_ascii=False))
    return edges, np.array(records, dtype=object)
