"""Overdue cases referred upward: grid → community → street → department (网格吹哨、部门报到).

The Wangcheng rule: a case still open after its deadline is taken up by the level above —
the grid (网格) first, then the community (社区), the street (街道) and finally a functional
department (职能部门). Each level gets the case's own time limit again before it goes further
up: a case of urgency *u* reaches tier *k* (0 = the grid) once it is open and overdue at
``deadline + (k − 1) · limit(u)``. Referral changes neither status nor urgency nor deadline
(the case stays overdue in the statistics): it sets ``assignee`` to the unit now holding it
and writes an ``escalate`` event whose note starts with :data:`REFERRAL_NOTE`, so the tier a
case has reached is the number of such events in its history (:func:`referral_tier`).

The unit at each tier follows the incident's grid lineage: tier 0 is its finest grid, tier 1
the grid above it (the community of a 社区 → 网格 plan), and so on up to the plan's top level;
above that the code one level up (the street a community's code starts with, since codes are
the parent's plus three digits); the last tier is always the department of the case's
category (:attr:`ReferralChain.departments`).

Examples
--------
>>> import datetime as dt
>>> from geogrid.incidents.lifecycle import IncidentReport, Placement, open_incident
>>> t0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
>>> where = Placement(112.8, 28.3, ("430112001001", "430112001001003"))
>>> case = open_incident(IncidentReport("environment", "垃圾堆放", 112.8, 28.3), where, at=t0)
>>> DEFAULT_CHAIN.due(case, 0).isoformat()  # blue: 7 days
'2026-03-09T08:00:00+00:00'
>>> later = dt.datetime(2026, 3, 9, 9, 0, tzinfo=dt.UTC)
>>> moved, events = refer_overdue(case, tier=0, at=later, by="超期督办", role="admin")
>>> moved.assignee, events[0].note.split(":")[0]
('社区 430112001001', '超期上提')
>>> DEFAULT_CHAIN.unit(case, 2), DEFAULT_CHAIN.unit(case, 3)
('430112001', '区城市管理和综合执法局')
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from geogrid.errors import InvalidIncidentError, TransitionError
from geogrid.incidents.lifecycle import OPEN_STATUSES, Event, EventAction, Incident
from geogrid.incidents.urgency import DEFAULT_POLICY, DeadlinePolicy

__all__ = [
    "DEFAULT_CHAIN",
    "DEFAULT_DEPARTMENTS",
    "REFERRAL_NOTE",
    "ReferralChain",
    "refer_overdue",
    "referral_tier",
]

REFERRAL_NOTE = "超期上提"
"""Start of the note of every referral event (an ``escalate`` event that changes no urgency)."""

DEFAULT_DEPARTMENTS: Mapping[str, str] = MappingProxyType(
    {
        "work_safety": "区应急管理局",
        "environment": "区城市管理和综合执法局",
        "emergency": "区应急管理局",
        "petition": "区信访局",
        "social_assistance": "区民政局",
        "dispute": "区司法局",
        "public_order": "区公安分局",
        "facilities": "区住房和城乡建设局",
    }
)
"""Department (职能部门) that takes up an overdue case of each default category."""


@dataclasses.dataclass(frozen=True)
class ReferralChain:
    """The tiers an overdue case climbs, and the department of each category.

    Attributes
    ----------
    tiers
        Names of the tiers from the bottom: ``("网格", "社区", "街道", "部门")``; the last one is
        the department tier. At least two.
    departments
        Category code → department name (the last tier).
    default_department
        Department of a category not in ``departments``.
    """

    tiers: tuple[str, ...] = ("网格", "社区", "街道", "部门")
    departments: Mapping[str, str] = dataclasses.field(default_factory=lambda: DEFAULT_DEPARTMENTS)
    default_department: str = "区职能部门"

    def __post_init__(self) -> None:
        tiers = tuple(self.tiers)
        if len(tiers) < 2 or not all(isinstance(t, str) and t.strip() for t in tiers):
            raise InvalidIncidentError(
                f"a referral chain needs two or more tier names, e.g. ('网格', '社区', '街道', "
                f"'部门'); got {tiers!r}"
            )
        object.__setattr__(self, "tiers", tiers)

    @property
    def top(self) -> int:
        """Index of the last tier (the department)."""
        return len(self.tiers) - 1

    def unit(self, incident: Incident, tier: int) -> str:
        """The unit holding ``incident`` at ``tier``: a grid code, a code above, a department."""
        if tier >= self.top:
            return self.departments.get(incident.category, self.default_department)
        lineage = incident.level_codes
        if tier < len(lineage):
            return lineage[-1 - tier]
        top = lineage[0] if lineage else ""
        cut = 3 * (tier - len(lineage) + 1)
        return top[:-cut] if len(top) > cut else self.tiers[tier]

    def due(
        self, incident: Incident, tier: int, policy: DeadlinePolicy = DEFAULT_POLICY
    ) -> dt.datetime | None:
        """When the case, now at ``tier``, may go one tier up; ``None`` if it never does."""
        if incident.status not in OPEN_STATUSES or tier >= self.top:
            return None
        return incident.deadline + tier * policy.limit(incident.urgency)


DEFAULT_CHAIN = ReferralChain()
"""网格 → 社区 → 街道 → 部门, with the departments of :data:`DEFAULT_DEPARTMENTS`."""


def referral_tier(events: Iterable[Event]) -> int:
    """The tier a case has reached: the number of referral events in its history."""
    return sum(
        1 for e in events if e.action is EventAction.ESCALATE and e.note.startswith(REFERRAL_NOTE)
    )


def refer_overdue(
    incident: Incident,
    *,
    tier: int,
    at: dt.datetime,
    by: str,
    role: str,
    chain: ReferralChain = DEFAULT_CHAIN,
    policy: DeadlinePolicy = DEFAULT_POLICY,
) -> tuple[Incident, list[Event]]:
    """Refer an overdue case from ``tier`` one tier up; the changed case and its event.

    Raises :class:`TransitionError` when the case is closed or rejected, is at the last tier,
    or is not yet due at ``at`` (:meth:`ReferralChain.due`), and
    :class:`InvalidIncidentError` when ``at`` is before the case's last change.
    """
    label = f"incident {incident.reference}" if incident.reference else "the incident"
    at = at.astimezone(dt.UTC)
    due = chain.due(incident, tier, policy)
    if due is None:
        where = "closed or rejected" if incident.status not in OPEN_STATUSES else "at the top"
        raise TransitionError(f"{label} is {where}: it cannot be referred further up")
    if at <= due:
        raise TransitionError(
            f"{label} goes above {chain.tiers[tier]} only after {due.isoformat()} "
            f"(it is {at.isoformat()})"
        )
    if at < incident.updated_at:
        raise InvalidIncidentError(
            f"{label} last changed at {incident.updated_at.isoformat()}; a referral cannot be "
            f"dated earlier ({at.isoformat()})"
        )
    unit = chain.unit(incident, tier + 1)
    hours = (at - incident.deadline).total_seconds() / 3600
    note = (
        f"{REFERRAL_NOTE}: {chain.tiers[tier]} → {chain.tiers[tier + 1]} ({unit}), "
        f"超期 {hours:.0f} 小时 (网格吹哨、部门报到)"
    )
    holder = unit if tier + 1 >= chain.top else f"{chain.tiers[tier + 1]} {unit}"
    moved = dataclasses.replace(incident, assignee=holder, updated_at=at)
    event = Event(
        EventAction.ESCALATE, incident.status, incident.status, moved.urgency, by, role, at, note
    )
    return moved, [event]
