"""Lifecycles of simulated incidents: who moves each case when, and what the rules make of it.

:func:`plan_steps` draws, for one located report, the moves a grid makes over its life —
accept, dispatch, handle, feedback, close; failed attempts sent back for another dispatch;
some rejected, some reopened; open cases stopped part-way. :func:`replay` then runs them
through the real rules (:func:`~geogrid.incidents.open_incident`,
:func:`~geogrid.incidents.apply_transition` — with its blue → yellow escalation — and
:func:`~geogrid.incidents.refer_overdue`, whose grid centre sweeps every hour and refers each
overdue case up the chain 网格 → 社区 → 街道 → 部门), and answers the incident as it ends up
with every change it went through (:class:`~geogrid.store.incident_bulk.History`) and the
calls a client would make (:class:`Call`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from geogrid.access import Caller, Role
from geogrid.incidents.lifecycle import (
    Event,
    EventAction,
    Incident,
    IncidentReport,
    Placement,
    Status,
    apply_transition,
    open_incident,
)
from geogrid.incidents.referral import DEFAULT_CHAIN, ReferralChain, refer_overdue
from geogrid.incidents.taxonomy import DEFAULT_TAXONOMY, Taxonomy
from geogrid.incidents.urgency import DEFAULT_POLICY, DeadlinePolicy, Urgency
from geogrid.roles import current_roles
from geogrid.store.incident_bulk import CREATE, History, Write
from geogrid.store.incident_rows import referral_details, transition_details

__all__ = ["GRID_CENTRE", "Call", "Fate", "PlannedIncident", "PlannedMove", "plan_steps", "replay"]

GRID_CENTRE = Caller("网格化服务管理中心", Role.ADMIN)
"""Who sweeps overdue cases up the referral chain (the grid centre's hourly check)."""

_HOUR = dt.timedelta(hours=1)
_MS = dt.timedelta(milliseconds=1)
# failed attempts 0, 1, 2, 3: disputes fail mediation more often
_FAILURES = {"dispute": (0.72, 0.14, 0.07, 0.07)}
_FAILURES_DEFAULT = (0.9, 0.07, 0.02, 0.01)
_REOPEN_CLOSED = 0.02  # share of closed cases reopened once and closed again
_REVIEWED_REJECTION = 0.01  # share of closed cases first rejected, reopened on review
_REJECT_AGAIN = 0.1  # share of rejected cases reopened and rejected again


class Fate:
    """How a simulated case ends: closed (办结), rejected (不予受理) or still open."""

    CLOSED = "closed"
    REJECTED = "rejected"
    OPEN = "open"


@dataclasses.dataclass(frozen=True)
class PlannedMove:
    """A move a grid makes: when, to what, by whom (``"head"`` or ``"worker"`` of the holder)."""

    at: dt.datetime
    to: Status
    who: str
    note: str = ""
    dispatch: bool = False


@dataclasses.dataclass(frozen=True)
class PlannedIncident:
    """A located report, who sent it and when, and the moves planned for it."""

    report: IncidentReport
    placement: Placement
    reporter: Caller
    at: dt.datetime
    moves: tuple[PlannedMove, ...]
    hotline: bool = False


@dataclasses.dataclass(frozen=True)
class Call:
    """A call a client makes after the report: a move (``to``) or a referral (``to=None``)."""

    at: dt.datetime
    caller: Caller
    to: Status | None
    note: str = ""
    assignee: str | None = None


def plan_steps(
    rng: np.random.Generator,
    fate: str,
    category: str,
    urgency: Urgency,
    reported: dt.datetime,
    end: dt.datetime,
    policy: DeadlinePolicy = DEFAULT_POLICY,
) -> tuple[PlannedMove, ...]:
    """The moves of one case reported at ``reported`` ending as ``fate``, all before ``end``."""
    limit = policy.limit(urgency).total_seconds()
    if fate == Fate.REJECTED:
        raw = _rejected(rng, limit)
    else:
        raw = _handled(rng, category, limit)
        if fate == Fate.CLOSED and rng.random() < _REOPEN_CLOSED:
            raw += [(rng.exponential(limit), Status.REOPENED, "head", "群众回访不满意，重启")]
            raw += _handled(rng, "", limit)
        if fate == Fate.CLOSED and rng.random() < _REVIEWED_REJECTION:
            raw = [
                (rng.exponential(0.05 * limit), Status.REJECTED, "head", "暂不予受理"),
                (rng.exponential(0.2 * limit), Status.REOPENED, "head", "复核后予以受理"),
                *raw,
            ]
        if fate == Fate.OPEN:
            raw = raw[: int(rng.integers(0, len(raw) - 1))]
    return _timed(raw, reported, end)


def _handled(rng: np.random.Generator, category: str, limit: float) -> list[tuple]:
    """Accept, dispatch, failed attempts, handle, feedback, close (delays in seconds)."""
    steps: list[tuple] = [
        (rng.exponential(0.03 * limit), Status.ACCEPTED, "head", "受理"),
        (rng.exponential(0.03 * limit), Status.DISPATCHED, "head", "派遣网格员处置"),
    ]
    shares = _FAILURES.get(category, _FAILURES_DEFAULT)
    for _ in range(int(rng.choice(len(shares), p=shares))):
        steps.append((rng.exponential(0.2 * limit), Status.HANDLED, "worker", "现场处置"))
        if rng.random() < 0.5:
            steps.append(
                (rng.exponential(0.03 * limit), Status.DISPATCHED, "head", "处置未完成，重新派遣")
            )
        else:
            steps.append((rng.exponential(0.03 * limit), Status.FEEDBACK, "worker", "回访"))
            steps.append(
                (rng.exponential(0.03 * limit), Status.DISPATCHED, "head", "调解未成功，再次调解")
            )
    steps += [
        (rng.exponential(0.3 * limit), Status.HANDLED, "worker", "处置完毕"),
        (rng.exponential(0.04 * limit), Status.FEEDBACK, "worker", "回访群众满意"),
        (rng.exponential(0.03 * limit), Status.CLOSED, "head", "办结"),
    ]
    return steps


def _rejected(rng: np.random.Generator, limit: float) -> list[tuple]:
    if rng.random() < 0.7:
        steps: list[tuple] = [
            (rng.exponential(0.05 * limit), Status.REJECTED, "head", "重复上报，不予受理")
        ]
    else:
        steps = [
            (rng.exponential(0.03 * limit), Status.ACCEPTED, "head", "受理"),
            (rng.exponential(0.05 * limit), Status.REJECTED, "head", "不属于网格事项，已告知来源"),
        ]
    if rng.random() < _REJECT_AGAIN:
        steps += [
            (rng.exponential(0.5 * limit), Status.REOPENED, "head", "群众再次反映，重新审核"),
            (rng.exponential(0.05 * limit), Status.REJECTED, "head", "审核后仍不予受理"),
        ]
    return steps


def _timed(raw: list[tuple], reported: dt.datetime, end: dt.datetime) -> tuple[PlannedMove, ...]:
    """Delays → instants (ms), squeezed to end before ``end`` when they would run past it."""
    offsets = np.cumsum([delay for delay, *_ in raw]) if raw else np.zeros(0)
    room = (end - reported).total_seconds() - 1.0
    if offsets.size and offsets[-1] > room:
        offsets = offsets * max(room, 0.0) / offsets[-1]
    moves = []
    for offset, (_, to, who, note) in zip(offsets, raw, strict=True):
        at = reported + dt.timedelta(milliseconds=int(offset * 1000))
        moves.append(PlannedMove(at, to, who, note, dispatch=to is Status.DISPATCHED))
    return tuple(moves)


# -- replay ------------------------------------------------------------------------------------


def replay(
    planned: PlannedIncident,
    *,
    end: dt.datetime,
    taxonomy: Taxonomy = DEFAULT_TAXONOMY,
    policy: DeadlinePolicy = DEFAULT_POLICY,
    chain: ReferralChain = DEFAULT_CHAIN,
) -> tuple[History, list[Call]]:
    """Run ``planned`` through the real rules; the history the store keeps and the calls made.

    Before each move, and after the last one until ``end``, the grid centre's hourly sweep
    refers the case one tier up whenever it is due (:meth:`ReferralChain.due`); moves after a
    referral are made by the unit then holding the case.
    """
    reporter = planned.reporter
    case = open_incident(
        planned.report,
        planned.placement,
        at=planned.at,
        by=reporter.name,
        taxonomy=taxonomy,
        policy=policy,
    )
    report = Event(
        EventAction.REPORT,
        None,
        Status.REPORTED,
        case.urgency,
        reporter.name,
        reporter.role.value,
        case.created_at,
    )
    writes = [Write(case.created_at, reporter, CREATE, (report,))]
    calls: list[Call] = []
    state = _State(case, 0, chain, policy, writes, calls)
    holders: dict[tuple[int, str], Caller] = {}
    for move in planned.moves:
        state.sweep(move.at)
        for who in {move.who, "worker"}:
            if (state.tier, who) not in holders:
                holders[state.tier, who] = _holder(state.case, state.tier, chain, who)
        caller, worker = holders[state.tier, move.who], holders[state.tier, "worker"]
        assignee = worker.name if move.dispatch else None
        moved, events = apply_transition(
            state.case,
            move.to,
            by=caller.name,
            role=caller.role.value,
            at=move.at,
            note=move.note,
            assignee=assignee,
            policy=policy,
        )
        details = transition_details(state.case.status, moved, events)
        writes.append(Write(move.at, caller, "incident.transition", tuple(events), details))
        calls.append(Call(move.at, caller, move.to, move.note, assignee))
        state.case = moved
    state.sweep(end)
    return History(state.case, tuple(writes)), calls


@dataclasses.dataclass
class _State:
    case: Incident
    tier: int
    chain: ReferralChain
    policy: DeadlinePolicy
    writes: list[Write]
    calls: list[Call]

    def sweep(self, until: dt.datetime) -> None:
        """Referrals the hourly sweep makes before ``until``."""
        while True:
            due = self.chain.due(self.case, self.tier, self.policy)
            if due is None:
                return
            at = _next_sweep(due)
            if at > until:
                return
            at = max(at, self.case.updated_at)
            moved, events = refer_overdue(
                self.case,
                tier=self.tier,
                at=at,
                by=GRID_CENTRE.name,
                role=GRID_CENTRE.role.value,
                chain=self.chain,
                policy=self.policy,
            )
            details = referral_details(self.chain, self.tier, moved)
            self.writes.append(Write(at, GRID_CENTRE, "incident.refer", tuple(events), details))
            self.calls.append(Call(at, GRID_CENTRE, None))
            self.case, self.tier = moved, self.tier + 1


def _next_sweep(due: dt.datetime) -> dt.datetime:
    """The first whole hour strictly after ``due``."""
    floor = due.replace(minute=0, second=0, microsecond=0)
    return floor + _HOUR


def _holder(case: Incident, tier: int, chain: ReferralChain, who: str) -> Caller:
    """Who acts on ``case`` at ``tier``: the grid's head or worker, then the units above."""
    if tier == 0 and case.grid_code is not None:
        return Caller(_staff_name(case, who), Role.WORKER, grid_code=case.grid_code)
    unit = chain.unit(case, tier)
    if tier < len(case.level_codes):
        return Caller(f"{chain.tiers[tier]}{unit}", Role.WORKER, grid_code=unit)
    return Caller(unit if tier >= chain.top else f"{chain.tiers[tier]}{unit}", Role.ADMIN)


def _staff_name(case: Incident, who: str) -> str:
    """The grid's head, or its worker (:meth:`~geogrid.roles.RoleSet.workers`, else the head)."""
    roles = current_roles()
    heads = roles.heads(case.staff)
    found = heads if who == "head" else roles.workers(case.staff) or heads
    return found[0].name if found else f"网格员{case.grid_code}"
