"""Plan versions and their life cycle: draft → approved → active → retired.

Every :meth:`~geogrid.store.PlanStore.save` makes a new *draft* version of a plan, in the
plan's jurisdiction (:mod:`geogrid.store.jurisdictions`); a reviewer *approves* it;
activating an approved version makes it its jurisdiction's plan from an instant
(``valid_from``, now or a date in the past or future) and *retires* the version that was
active before in that jurisdiction, whose period in force ends at that instant
(``valid_to``), in the same transaction. Other jurisdictions are untouched. A retired version
stays readable for history (and answers ``at=`` queries inside its period) but is never
activated again: to go back to it, save it again (a new version), approve and activate that.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from enum import StrEnum
from typing import Any

from geogrid.errors import VersionStateError

__all__ = ["VersionInfo", "VersionStatus", "check_transition"]


class VersionStatus(StrEnum):
    """State of a plan version."""

    DRAFT = "draft"  # 草稿: saved, not reviewed
    APPROVED = "approved"  # 已审核: may be activated
    ACTIVE = "active"  # 启用: its jurisdiction's latest activated version (one per jurisdiction)
    RETIRED = "retired"  # 停用: was active, replaced by another version


_ALLOWED = {
    VersionStatus.APPROVED: {VersionStatus.DRAFT},
    VersionStatus.ACTIVE: {VersionStatus.APPROVED},
    VersionStatus.RETIRED: {VersionStatus.ACTIVE},
}


@dataclasses.dataclass(frozen=True)
class VersionInfo:
    """One stored version of a plan (without its tables).

    Attributes
    ----------
    plan, version
        Plan name and version number (1, 2, ... per plan name).
    status
        Current :class:`VersionStatus`.
    levels, attribution, note
        Level names, map attribution and the note given when saving.
    created_by, created_at, approved_by, approved_at, activated_by, activated_at
        Who moved the version to each state and when (UTC, timezone-aware).
    deactivated_at
        When another version replaced it as the active one; ``None`` while active.
    staff_revision
        How many times staff of this version were changed in place (0 when saved).
    jurisdiction
        The code of the area the plan governs (:func:`geogrid.store.jurisdictions.jurisdiction_of`).
    valid_from, valid_to
        The period the version is in force: from its activation's date (which may lie in the
        past or the future) until the next activation in its jurisdiction; ``None`` before it
        is activated, and ``valid_to`` while nothing replaces it.
    warnings
        The plan's validation warnings when it was saved, as
        :meth:`geogrid.validate.Problem.to_dict` gives them (``kind``, ``severity``,
        ``codes``, ``line`` …); versions saved before migration 0004 have only ``severity``
        and ``line``. Empty for a clean plan.
    """

    plan: str
    version: int
    status: VersionStatus
    levels: list[str]
    attribution: str
    note: str
    created_by: str
    created_at: dt.datetime
    approved_by: str | None = None
    approved_at: dt.datetime | None = None
    activated_by: str | None = None
    activated_at: dt.datetime | None = None
    deactivated_at: dt.datetime | None = None
    staff_revision: int = 0
    warnings: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    jurisdiction: str = ""
    valid_from: dt.datetime | None = None
    valid_to: dt.datetime | None = None

    def in_force(self, at: dt.datetime) -> bool:
        """Whether the version is in force at instant ``at``."""
        return (
            self.status in (VersionStatus.ACTIVE, VersionStatus.RETIRED)
            and self.valid_from is not None
            and self.valid_from <= at
            and (self.valid_to is None or at < self.valid_to)
        )

    @property
    def etag(self) -> str:
        """A tag of the version's current state; it changes with every transition or staff change.

        Examples
        --------
        >>> draft = VersionInfo("示例", 1, VersionStatus.DRAFT, ["社区"], "", "", "张三",
        ...                     dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        >>> draft.etag == dataclasses.replace(draft, status=VersionStatus.APPROVED).etag
        False
        """
        state = (
            self.plan,
            self.version,
            self.status.value,
            self.approved_at,
            self.activated_at,
            self.deactivated_at,
            self.staff_revision,
            self.valid_from,
            self.valid_to,
        )
        return hashlib.sha256(repr(state).encode()).hexdigest()[:32]

    @classmethod
    def from_row(cls, row: Any) -> VersionInfo:
        """Build from a ``plan_versions`` row (a SQLAlchemy ``Row`` or mapping)."""
        values = dict(row._mapping) if hasattr(row, "_mapping") else dict(row)
        return cls(
            plan=values["plan_name"],
            version=values["version"],
            status=VersionStatus(values["status"]),
            levels=list(values["levels"]),
            attribution=values["attribution"],
            note=values["note"],
            created_by=values["created_by"],
            created_at=values["created_at"],
            approved_by=values["approved_by"],
            approved_at=values["approved_at"],
            activated_by=values["activated_by"],
            activated_at=values["activated_at"],
            deactivated_at=values["deactivated_at"],
            staff_revision=int(values.get("staff_revision") or 0),
            warnings=list(values.get("warnings") or []),
            jurisdiction=values.get("jurisdiction") or values["plan_name"],
            valid_from=values.get("valid_from"),
            valid_to=values.get("valid_to"),
        )


def check_transition(info: VersionInfo, target: VersionStatus) -> None:
    """Raise :class:`VersionStateError` unless ``info`` may move to ``target``.

    Examples
    --------
    >>> import datetime as dt
    >>> draft = VersionInfo("示例", 1, VersionStatus.DRAFT, ["社区"], "", "", "张三",
    ...                     dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    >>> check_transition(draft, VersionStatus.APPROVED)
    >>> check_transition(draft, VersionStatus.ACTIVE)
    Traceback (most recent call last):
    ...
    geogrid.errors.VersionStateError: version 1 of plan '示例' is a draft: approve it first (store.approve('示例', 1, by=...)), then activate it
    """
    if info.status in _ALLOWED[target]:
        return
    raise VersionStateError(_refusal(info, target))


def _refusal(info: VersionInfo, target: VersionStatus) -> str:
    which = f"version {info.version} of plan {info.plan!r}"
    if target is VersionStatus.ACTIVE and info.status is VersionStatus.DRAFT:
        return (
            f"{which} is a draft: approve it first "
            f"(store.approve({info.plan!r}, {info.version}, by=...)), then activate it"
        )
    if info.status is VersionStatus.RETIRED:
        return (
            f"{which} was retired on {info.deactivated_at:%Y-%m-%d %H:%M} UTC and cannot be "
            "used again: save it again as a new version (store.save(store.get(...), by=...)), "
            "approve and activate that"
        )
    if info.status is target:
        return f"{which} is already {target.value}"
    return (
        f"{which} is {info.status.value}; only a {_names(target)} version can become {target.value}"
    )


def _names(target: VersionStatus) -> str:
    return " or ".join(sorted(status.value for status in _ALLOWED[target]))
