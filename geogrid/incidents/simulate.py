"""A year of located incidents with their lifecycle, run through geogrid's incident machinery.

The rebuilt real systems (Ruyang 1,365 cases closed at 98.3 %, Zhuzhou ~103,500 cases at
99.3 % with red / yellow / blue and 蓝升黄, Wangcheng's closed loop tied to the 12345 hotline
and referred up 网格 → 社区 → 街道 → 部门 when overdue) need a year of incidents in their
grids. :func:`simulate_year` makes one, through the real machinery at every step:

1. **points** drawn inside the store's active finest grids, weighted by households, sent as a
   phone app (GCJ-02), a grid worker's terminal (WGS84) or a 12345 work order (GCJ-02) would
   send them, and **located** by :func:`geogrid.locate.locate_points` on the plan's
   :class:`~geogrid.locate.GridIndex`, placed with the finest grid's staff exactly as
   ``POST /incidents`` places them (:meth:`~geogrid.incidents.Placement.from_plan`);
2. **lifecycles** (:mod:`geogrid.incidents.timeline`): accept, dispatch, handle, feedback, close;
   failed attempts (a blue case failing three times becomes yellow — the real rule); some
   rejected, some reopened; exactly ``closed_share`` of the cases not rejected closed (办结率),
   the open ones mostly the latest reports; overdue cases referred up the chain by the grid
   centre's hourly sweep (:func:`~geogrid.incidents.refer_overdue`);
3. **stored** in one transaction with the rows and events the one-by-one API calls write
   (:meth:`~geogrid.store.incidents.IncidentStore.import_histories`), or, with
   ``bulk=False``, through those calls themselves (``create_incident``, ``transition``,
   ``refer_overdue``), one change at a time in time order.

The incident model has no channel field: a 12345 work order is told by its reporter
(:data:`HOTLINE`) and its description, which starts with ``【12345工单 W…】``.

Examples
--------
>>> import datetime as dt
>>> from geogrid.store import open_store
>>> with open_store("sqlite:///plans.gpkg") as store:  # doctest: +SKIP
...     summary = simulate_year(store, incidents=1389, closed_share=0.983, seed=1,
...                             rejected_share=0.0, start=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
...     summary.closed, round(summary.closure_rate, 4)
(1365, 0.9827)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from geogrid.access import Caller, Role
from geogrid.errors import InvalidInputError, NoActivePlanError
from geogrid.incidents.lifecycle import (
    EventAction,
    Incident,
    Status,
    is_overdue,
)
from geogrid.incidents.points import HOTLINE, locate_reports
from geogrid.incidents.referral import DEFAULT_CHAIN, REFERRAL_NOTE, ReferralChain
from geogrid.incidents.taxonomy import DEFAULT_TAXONOMY, Taxonomy
from geogrid.incidents.timeline import Call, Fate, PlannedIncident, plan_steps, replay
from geogrid.incidents.urgency import DEFAULT_POLICY, DeadlinePolicy, Urgency
from geogrid.plan import GridPlan
from geogrid.store.incident_bulk import History

__all__ = [
    "DEFAULT_CATEGORY_MIX",
    "HOTLINE",
    "IMPORTER",
    "SimulationSummary",
    "UrgencyFigures",
    "plan_year",
    "plans_in_force",
    "simulate_year",
]

IMPORTER = Caller("事件模拟", Role.ADMIN)
"""Who stores a simulated year (bound to no grid)."""

DEFAULT_CATEGORY_MIX: Mapping[str, float] = {
    "environment": 0.24,
    "dispute": 0.18,
    "facilities": 0.14,
    "public_order": 0.10,
    "social_assistance": 0.08,
    "work_safety": 0.07,
    "petition": 0.05,
    "emergency": 0.02,
    "other": 0.12,
}
"""Share of each category of :data:`~geogrid.incidents.DEFAULT_TAXONOMY` in a simulated year."""

_WORKER_FOUND = 0.45  # share of non-hotline cases found by grid workers on patrol (巡查发现)
_YEAR = dt.timedelta(days=365)
Progress = Callable[[str, int, int], None]


@dataclasses.dataclass(frozen=True)
class UrgencyFigures:
    """Figures of one urgency (红 / 黄 / 蓝) in a simulated year.

    ``reported`` counts cases by their urgency at report time; the others by their urgency at
    the end (a blue case escalated to yellow counts as yellow).
    """

    reported: int
    final: int
    closed: int
    rejected: int
    closure_rate: float | None
    median_hours_to_close: float | None
    closed_late: int
    overdue: int


@dataclasses.dataclass(frozen=True)
class SimulationSummary:
    """What :func:`simulate_year` stored, and how long it took.

    Attributes
    ----------
    incidents
        Cases stored.
    statuses
        Cases per final status (``closed``, ``rejected``, ``reported``, ``accepted`` ...).
    closed, rejected, open
        Cases closed (办结), rejected (不予受理), still open at the end.
    closure_rate
        办结率 as :meth:`~geogrid.store.incidents.IncidentStore.stats` counts it:
        ``closed / (incidents − rejected)``.
    urgency
        :class:`UrgencyFigures` by urgency (``red``, ``yellow``, ``blue``).
    escalations
        Blue cases escalated to yellow after three failed attempts (蓝升黄).
    referrals
        Cases that reached each tier above the grid (``{"社区": n, "街道": n, "部门": n}``).
    reopened
        Cases reopened at least once (closed or rejected, then taken up again).
    hotline_orders
        Cases that arrived as 12345 work orders.
    events
        History events written (report, transitions, escalations, referrals).
    start, end
        The simulated period.
    seconds
        Wall time of the whole run; ``stages`` splits it (points, lifecycles, store).
    backend
        ``"postgis"`` or ``"geopackage"``; ``bulk`` whether rows went in one transaction.
    ids
        Ids of the stored incidents, in report order.
    """

    incidents: int
    statuses: dict[str, int]
    closed: int
    rejected: int
    open: int
    closure_rate: float | None
    urgency: dict[str, UrgencyFigures]
    escalations: int
    referrals: dict[str, int]
    reopened: int
    hotline_orders: int
    events: int
    start: dt.datetime
    end: dt.datetime
    seconds: float
    stages: dict[str, float]
    backend: str
    bulk: bool
    ids: list[int] = dataclasses.field(repr=False, default_factory=list)

    @property
    def rate(self) -> float:
        """Incidents stored per second of wall time."""
        return self.incidents / self.seconds if self.seconds > 0 else float("inf")

    def as_dict(self) -> dict[str, Any]:
        """Plain values (JSON-ready), without the ids."""
        values = dataclasses.asdict(self)
        values.pop("ids")
        values["start"], values["end"] = self.start.isoformat(), self.end.isoformat()
        values["rate"] = round(self.rate, 1)
        return values


def simulate_year(
    store: Any,
    *,
    incidents: int,
    closed_share: float,
    start: dt.datetime,
    seed: int,
    categories: Mapping[str, float] | Sequence[str] | None = None,
    urgency_mix: Mapping[str, float] | None = None,
    hotline_share: float = 0.0,
    progress: Progress | None = None,
    rejected_share: float = 0.01,
    days: float = 365,
    taxonomy: Taxonomy | None = None,
    policy: DeadlinePolicy | None = None,
    chain: ReferralChain = DEFAULT_CHAIN,
    bulk: bool = True,
) -> SimulationSummary:
    """Report a year of located incidents into ``store`` and move each through its lifecycle.

    Parameters
    ----------
    store
        An open :class:`~geogrid.store.PlanStore` with an active plan.
    incidents
        How many cases to report.
    closed_share
        办结率 to reach: ``closed / (incidents − rejected)``, hit to the nearest case (within
        0.1 point from ~500 cases not rejected).
    start
        Start of the period (timezone-aware); reports are spread over ``days`` from it.
    seed
        Seed of the random draws: the same seed on the same plan gives the same cases.
    categories
        Category codes of the taxonomy with their shares (a sequence: equal shares); default
        :data:`DEFAULT_CATEGORY_MIX` (for the default taxonomy) or equal shares.
    urgency_mix
        Shares of ``red``/``yellow``/``blue`` asked by the reports; ``None``: each case takes
        its category's default urgency.
    hotline_share
        Share of the cases arriving as 12345 work orders (reporter :data:`HOTLINE`).
    progress
        Called as ``progress(stage, done, total)`` (stages ``"points"``, ``"lifecycles"``,
        ``"store"``).
    rejected_share
        Share of the cases rejected (不予受理) in the end.
    days
        Length of the period.
    taxonomy, policy
        Categories and deadlines/escalation (default: the store's defaults).
    chain
        The referral chain of overdue cases (default 网格 → 社区 → 街道 → 部门).
    bulk
        ``True``: all rows in one transaction (fast); ``False``: one API call per change.

    Returns
    -------
    SimulationSummary
    """
    clock = time.perf_counter()
    taxonomy = taxonomy or DEFAULT_TAXONOMY
    policy = policy or DEFAULT_POLICY
    stages: dict[str, float] = {}
    planned = plan_year(
        plans_in_force(store),
        incidents=incidents,
        closed_share=closed_share,
        start=start,
        seed=seed,
        categories=categories,
        urgency_mix=urgency_mix,
        hotline_share=hotline_share,
        rejected_share=rejected_share,
        days=days,
        taxonomy=taxonomy,
        policy=policy,
        progress=progress,
    )
    stages["points"] = time.perf_counter() - clock
    end = _aware(start) + dt.timedelta(days=days)
    replayed = [replay(p, end=end, taxonomy=taxonomy, policy=policy, chain=chain) for p in planned]
    histories = [h for h, _ in replayed]
    _report(progress, "lifecycles", len(histories), len(histories))
    stages["lifecycles"] = time.perf_counter() - clock - stages["points"]
    incident_store = store.incidents(taxonomy=taxonomy, policy=policy)
    written = 0

    def advance(rows: int) -> None:
        nonlocal written
        written += rows
        _report(progress, "store", written, -1)

    if bulk:
        ids = incident_store.import_histories(histories, caller=IMPORTER, progress=advance)
    else:
        ids = replay_calls(incident_store, planned, replayed, chain=chain)
    stages["store"] = time.perf_counter() - clock - stages["points"] - stages["lifecycles"]
    return summarise(
        histories,
        planned,
        chain=chain,
        start=_aware(start),
        end=end,
        seconds=time.perf_counter() - clock,
        stages=stages,
        backend=store.backend,
        bulk=bulk,
        ids=ids,
    )


def plans_in_force(store: Any) -> dict[str, GridPlan]:
    """The plan in force in each jurisdiction of ``store``, by jurisdiction code."""
    plans = {info.jurisdiction: store.get(info.plan, info.version) for info in store.in_force()}
    if not plans:
        raise NoActivePlanError(
            "no plan is active in the store: save, approve and activate one first "
            "(`geogrid store activate NAME VERSION`)"
        )
    return plans


def plan_year(
    plans: GridPlan | Mapping[str, GridPlan],
    *,
    incidents: int,
    closed_share: float,
    start: dt.datetime,
    seed: int,
    categories: Mapping[str, float] | Sequence[str] | None = None,
    urgency_mix: Mapping[str, float] | None = None,
    hotline_share: float = 0.0,
    rejected_share: float = 0.01,
    days: float = 365,
    taxonomy: Taxonomy = DEFAULT_TAXONOMY,
    policy: DeadlinePolicy = DEFAULT_POLICY,
    progress: Progress | None = None,
) -> list[PlannedIncident]:
    """The located reports of a simulated year in ``plans`` and their planned moves, by time.

    ``plans`` is the plan in force of each jurisdiction (:func:`plans_in_force`), or one plan.
    The other parameters are :func:`simulate_year`'s. Nothing is stored: replay each with
    :func:`geogrid.incidents.timeline.replay`.
    """
    _check(incidents, closed_share, hotline_share, rejected_share, days)
    rng = np.random.default_rng(seed)
    start = _aware(start)
    end = start + dt.timedelta(days=days)
    span_ms = int((end - start).total_seconds() * 1000)
    times = np.sort(rng.integers(0, span_ms, size=incidents))
    reported = [start + dt.timedelta(milliseconds=int(t)) for t in times]
    codes = _draw_categories(rng, incidents, categories, taxonomy)
    asked = _draw_urgency(rng, incidents, urgency_mix)
    hotline = np.zeros(incidents, dtype=bool)
    hotline[rng.choice(incidents, size=round(hotline_share * incidents), replace=False)] = True
    found = ~hotline & (rng.random(incidents) < _WORKER_FOUND)
    crs = np.where(found, "wgs84", "gcj02")
    if isinstance(plans, GridPlan):
        plans = {plans.name: plans}
    reports = locate_reports(
        plans, rng, reported, codes, asked, hotline, found, crs, seed, progress
    )
    fates = _fates(rng, times, span_ms, closed_share, rejected_share)
    planned = []
    for n, (report, placement, reporter) in enumerate(reports):
        urgency = report.urgency or taxonomy.resolve(report.category).urgency
        moves = plan_steps(rng, fates[n], report.category, urgency, reported[n], end, policy)
        planned.append(
            PlannedIncident(report, placement, reporter, reported[n], moves, bool(hotline[n]))
        )
    return planned


def replay_calls(
    incident_store: Any,
    planned: Sequence[PlannedIncident],
    replayed: Sequence[tuple[History, list[Call]]],
    *,
    chain: ReferralChain = DEFAULT_CHAIN,
) -> list[int]:
    """Make every change through the one-by-one API calls, in time order; the incident ids."""
    order = [(p.at, n, 0) for n, p in enumerate(planned)]  # the report first
    order += [
        (call.at, n, k + 1) for n, (_, calls) in enumerate(replayed) for k, call in enumerate(calls)
    ]
    order.sort()
    ids: dict[int, int] = {}
    for _, n, k in order:
        if k == 0:
            p = planned[n]
            created = incident_store.create_incident(
                p.report, p.placement, caller=p.reporter, at=p.at
            )
            ids[n] = created.incident.id
            continue
        call = replayed[n][1][k - 1]
        if call.to is None:
            incident_store.refer_overdue(ids[n], caller=call.caller, at=call.at, chain=chain)
        else:
            incident_store.transition(
                ids[n],
                call.to,
                caller=call.caller,
                note=call.note,
                assignee=call.assignee,
                at=call.at,
            )
    return [ids[n] for n in range(len(planned))]


def summarise(
    histories: Sequence[History],
    planned: Sequence[PlannedIncident],
    *,
    chain: ReferralChain,
    start: dt.datetime,
    end: dt.datetime,
    seconds: float,
    stages: dict[str, float],
    backend: str,
    bulk: bool,
    ids: list[int],
) -> SimulationSummary:
    """The :class:`SimulationSummary` of replayed ``histories``."""
    finals = [h.incident for h in histories]
    statuses = Counter(i.status.value for i in finals)
    closed, rejected = statuses[Status.CLOSED.value], statuses[Status.REJECTED.value]
    tiers: Counter[int] = Counter()
    reopened = 0
    events = 0
    for h in histories:
        all_events = [e for w in h.writes for e in w.events]
        events += len(all_events)
        reached = sum(1 for e in all_events if e.note.startswith(REFERRAL_NOTE))
        tiers.update(range(1, reached + 1))
        reopened += any(
            e.action is EventAction.TRANSITION and e.to_status is Status.REOPENED
            for e in all_events
        )
    asked = Counter(h.writes[0].events[0].urgency for h in histories)  # urgency at report
    return SimulationSummary(
        incidents=len(finals),
        statuses=dict(sorted(statuses.items())),
        closed=closed,
        rejected=rejected,
        open=len(finals) - closed - rejected,
        closure_rate=_rate(closed, len(finals) - rejected),
        urgency={u.value: _urgency_figures(finals, u, asked[u], end) for u in Urgency},
        escalations=sum(1 for i in finals if i.escalated_at is not None),
        referrals={chain.tiers[t]: tiers[t] for t in range(1, len(chain.tiers))},
        reopened=reopened,
        hotline_orders=sum(1 for p in planned if p.hotline),
        events=events,
        start=start,
        end=end,
        seconds=seconds,
        stages={k: round(v, 3) for k, v in stages.items()},
        backend=backend,
        bulk=bulk,
        ids=list(ids),
    )


def _urgency_figures(
    finals: Sequence[Incident], urgency: Urgency, reported: int, end: dt.datetime
) -> UrgencyFigures:
    cases = [i for i in finals if i.urgency is urgency]
    closed = [i for i in cases if i.status is Status.CLOSED]
    rejected = sum(1 for i in cases if i.status is Status.REJECTED)
    hours = [(i.closed_at - i.created_at).total_seconds() / 3600 for i in closed if i.closed_at]
    return UrgencyFigures(
        reported=reported,
        final=len(cases),
        closed=len(closed),
        rejected=rejected,
        closure_rate=_rate(len(closed), len(cases) - rejected),
        median_hours_to_close=round(float(np.median(hours)), 3) if hours else None,
        closed_late=sum(1 for i in closed if i.closed_at and i.closed_at > i.deadline),
        overdue=sum(1 for i in cases if is_overdue(i, end)),
    )


# -- draws ---------------------------------------------------------------------------------------


def _fates(
    rng: np.random.Generator,
    times: np.ndarray,
    span_ms: int,
    closed_share: float,
    rejected_share: float,
) -> list[str]:
    """Closed, rejected or open per case: exact counts; the open ones mostly the latest."""
    n = times.size
    fates = np.full(n, Fate.CLOSED, dtype=object)
    rejected = rng.choice(n, size=round(rejected_share * n), replace=False)
    fates[rejected] = Fate.REJECTED
    rest = np.flatnonzero(fates == Fate.CLOSED)
    n_open = rest.size - round(closed_share * rest.size)
    if n_open:
        # the open cases: reported in the last weeks mostly, a few stuck since long before
        age_days = (span_ms - times[rest]) / 86_400_000
        weights = np.exp(-age_days / 14.0) + 0.02
        chosen = rng.choice(rest, size=n_open, replace=False, p=weights / weights.sum())
        fates[chosen] = Fate.OPEN
    return [str(f) for f in fates]


def _draw_categories(
    rng: np.random.Generator,
    n: int,
    categories: Mapping[str, float] | Sequence[str] | None,
    taxonomy: Taxonomy,
) -> np.ndarray:
    if categories is None:
        default = taxonomy is DEFAULT_TAXONOMY
        categories = dict(DEFAULT_CATEGORY_MIX) if default else list(taxonomy.codes)
    if not isinstance(categories, Mapping):
        categories = dict.fromkeys(categories, 1.0)
    codes = [taxonomy.resolve(code).code for code in categories]
    shares = np.array([float(v) for v in categories.values()])
    if not codes or (shares < 0).any() or shares.sum() <= 0:
        raise InvalidInputError(
            f"categories must give each code a share ≥ 0, some above 0: got {dict(categories)}"
        )
    return np.array(codes, dtype=object)[rng.choice(len(codes), size=n, p=shares / shares.sum())]


def _draw_urgency(
    rng: np.random.Generator, n: int, mix: Mapping[str, float] | None
) -> list[Urgency | None]:
    if mix is None:
        return [None] * n
    try:
        levels = [Urgency(k) for k in mix]
    except ValueError:
        raise InvalidInputError(
            f"urgency_mix takes red, yellow and blue with their shares, got {dict(mix)}"
        ) from None
    shares = np.array([float(v) for v in mix.values()])
    if (shares < 0).any() or shares.sum() <= 0:
        raise InvalidInputError(f"urgency_mix shares must be ≥ 0, some above 0: {dict(mix)}")
    return [levels[i] for i in rng.choice(len(levels), size=n, p=shares / shares.sum())]


def _check(
    incidents: int, closed_share: float, hotline_share: float, rejected: float, days: float
) -> None:
    if isinstance(incidents, bool) or not isinstance(incidents, int) or incidents < 1:
        raise InvalidInputError(f"incidents must be a whole number ≥ 1, got {incidents!r}")
    for name, value in (
        ("closed_share", closed_share),
        ("hotline_share", hotline_share),
        ("rejected_share", rejected),
    ):
        if not 0.0 <= float(value) <= 1.0:
            raise InvalidInputError(f"{name} is a share from 0 to 1 (0.983 = 98.3 %), got {value}")
    if not days > 0:
        raise InvalidInputError(f"days must be positive, got {days}")


def _aware(value: dt.datetime) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise InvalidInputError(
            f"start must be a timezone-aware datetime, e.g. dt.datetime(2025, 1, 1, "
            f"tzinfo=dt.UTC); got {value!r}"
        )
    value = value.astimezone(dt.UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _rate(closed: int, accepted: int) -> float | None:
    return closed / accepted if accepted > 0 else None


def _report(progress: Progress | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)
