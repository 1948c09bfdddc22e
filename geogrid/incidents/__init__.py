"""Incidents (事件): categories, urgency and deadlines, the lifecycle and its escalation rule.

A resident or grid worker reports a point, a category, a description and photos
(:class:`IncidentReport`); the service finds the grid at every level and its staff
(:class:`Placement`); the case then moves through the lifecycle below until it is closed.
Everything here is pure: no database, no clock (times are passed in). The store
(:mod:`geogrid.store.incidents`) keeps incidents and their history.

Lifecycle (:data:`TRANSITIONS`)::

    reported   → accepted | rejected
    accepted   → dispatched | rejected
    dispatched → handled | accepted            (accepted: returned for another dispatch)
    handled    → feedback | dispatched         (dispatched: handling failed)
    feedback   → closed | dispatched           (dispatched: not resolved, e.g. mediation failed)
    closed     → reopened
    rejected   → reopened
    reopened   → accepted | rejected

A *failed attempt* is a case sent back to ``dispatched`` from ``handled`` or ``feedback``
(handling or mediation did not resolve it). A blue case that fails
:attr:`DeadlinePolicy.escalate_after` (3) times becomes yellow (the Zhuzhou rule: 蓝色纠纷调解
三次不成升为黄色). A case that is neither closed nor rejected after its deadline is overdue.

The rules are split by concern, and everything public is re-exported here:
:mod:`geogrid.incidents.lifecycle` (reports, placements, incidents, their events and moves),
:mod:`geogrid.incidents.urgency` (urgency and deadlines), :mod:`geogrid.incidents.taxonomy`
(categories), :mod:`geogrid.incidents.referral` (overdue cases referred up the chain grid →
community → street → department) and :mod:`geogrid.incidents.stats` (figures per grid).

Examples
--------
>>> import datetime as dt
>>> t0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
>>> report = IncidentReport("dispute", "邻里噪音纠纷", 116.305, 39.995)
>>> case = open_incident(report, Placement(116.305, 39.995, ("110108001", "110108001001")), at=t0)
>>> case.status.value, case.urgency.value, case.grid_code, case.deadline.isoformat()
('reported', 'blue', '110108001001', '2026-03-09T08:00:00+00:00')
>>> for target in ["accepted", "dispatched", "handled", "dispatched", "handled", "feedback",
...                "dispatched", "handled", "feedback", "dispatched"]:
...     case, events = apply_transition(case, Status(target), by="王芳", role="worker", at=t0)
>>> case.attempts, case.urgency.value, [e.action.value for e in events]
(3, 'yellow', ['transition', 'escalate'])
"""

from geogrid.incidents.lifecycle import (
    FAILED_ATTEMPTS,
    OPEN_STATUSES,
    TRANSITIONS,
    CaseFacts,
    Event,
    EventAction,
    Incident,
    IncidentReport,
    Placement,
    StaffMember,
    Status,
    apply_transition,
    check_transition,
    incident_etag,
    is_overdue,
    open_incident,
    reference_number,
    request_hash,
    should_escalate,
)
from geogrid.incidents.lifecycle import MAX_DESCRIPTION as MAX_DESCRIPTION
from geogrid.incidents.lifecycle import MAX_PHOTOS as MAX_PHOTOS
from geogrid.incidents.referral import (
    DEFAULT_CHAIN,
    REFERRAL_NOTE,
    ReferralChain,
    refer_overdue,
    referral_tier,
)
from geogrid.incidents.stats import GridStats, grid_stats
from geogrid.incidents.taxonomy import DEFAULT_TAXONOMY, Category, Taxonomy
from geogrid.incidents.urgency import DEFAULT_POLICY, DeadlinePolicy, Urgency

__all__ = [
    "DEFAULT_CHAIN",
    "DEFAULT_POLICY",
    "DEFAULT_TAXONOMY",
    "FAILED_ATTEMPTS",
    "OPEN_STATUSES",
    "REFERRAL_NOTE",
    "TRANSITIONS",
    "CaseFacts",
    "Category",
    "DeadlinePolicy",
    "Event",
    "EventAction",
    "GridStats",
    "Incident",
    "IncidentReport",
    "Placement",
    "ReferralChain",
    "StaffMember",
    "Status",
    "Taxonomy",
    "Urgency",
    "apply_transition",
    "check_transition",
    "grid_stats",
    "incident_etag",
    "is_overdue",
    "open_incident",
    "refer_overdue",
    "reference_number",
    "referral_tier",
    "request_hash",
    "should_escalate",
]
