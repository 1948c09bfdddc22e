"""Publishing a plan file: saved once, approved and activated, recognised again by its content.

A service started from a plan file (``geogrid serve --plan FILE``) publishes it with
:func:`publish_if_new`: the first start saves, approves and activates it; a restart with the
same plan — in any file format — finds the stored version by the content digest recorded in
its note (:func:`geogrid.plan.plan_digest`) and saves nothing.

>>> import tempfile
>>> from geogrid.samples import load_sample
>>> from geogrid.store import open_store
>>> plan = load_sample("haidian")
>>> folder = tempfile.TemporaryDirectory()
>>> with open_store(f"sqlite:///{folder.name}/plans.gpkg") as store:
...     first, found = publish_if_new(store, plan, by="值班员", source="plan.gpkg")
...     again, found_again = publish_if_new(store, plan.copy(), by="值班员", source="plan.geojson")
>>> (first.version, first.status.value, found), (again.version, found_again)
((1, 'active', False), (1, True))
>>> folder.cleanup()
"""

from __future__ import annotations

from geogrid.access import Caller
from geogrid.errors import InvalidPlanError
from geogrid.plan import GridPlan, plan_digest
from geogrid.store.repository import PlanStore
from geogrid.store.versions import VersionInfo, VersionStatus
from geogrid.validate import Problem, Severity, validate_plan

__all__ = ["publish_if_new", "require_valid", "save_checked"]


def require_valid(plan: GridPlan) -> list[Problem]:
    """The save policy, for every path that stores a plan (CLI, ``serve``, API upload).

    **Errors block; warnings never block**: they are returned to be shown, and
    :func:`save_checked` keeps them with the version (:attr:`VersionInfo.warnings`).

    Returns
    -------
    list of Problem
        The warnings (empty for a clean plan).

    Raises
    ------
    InvalidPlanError
        When :func:`geogrid.validate.validate_plan` finds an error; ``problems`` lists every
        :class:`~geogrid.validate.Problem` found; nothing may be saved.
    """
    problems = validate_plan(plan)
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if errors:
        raise InvalidPlanError(
            f"not saved: the plan has {len(errors)} error(s), listed in `problems`; nothing was stored: "
            "fix them (`geogrid validate --fix PLAN -o FIXED`) and save again",
            problems,
        )
    return problems


def save_checked(
    store: PlanStore,
    plan: GridPlan,
    *,
    by: str,
    note: str = "",
    caller: Caller | None = None,
) -> tuple[VersionInfo, list[Problem]]:
    """Save ``plan`` under the save policy (:func:`require_valid`); its warnings kept.

    Returns
    -------
    info : VersionInfo
        The new draft version: ``note`` as given, ``warnings`` the warnings'
        :meth:`~geogrid.validate.Problem.to_dict`.
    warnings : list of Problem
        The warnings, to show.
    """
    warnings = require_valid(plan)
    kept = [p.to_dict() for p in warnings]
    info = store.save(plan, by=by, note=note, warnings=kept, caller=caller)
    return info, warnings


def publish_if_new(
    store: PlanStore, plan: GridPlan, *, by: str, source: str
) -> tuple[VersionInfo, bool]:
    """The stored version with ``plan``'s content, saved, approved and activated if new.

    A version found in the store keeps its state unless it is a draft or approved (left so by
    an interrupted start): then it is approved and activated. A plan activated since in
    another way is not replaced by publishing the same plan again.

    Parameters
    ----------
    store
        The open store.
    plan
        The plan; a new one must pass :func:`require_valid`.
    by
        Who publishes (recorded as creator, approver and activator), e.g. ``"geogrid serve"``.
    source
        Where the plan came from, e.g. its file name; recorded in the version's note with
        the content digest.

    Returns
    -------
    info : VersionInfo
        The version, in its state now.
    found : bool
        Whether it was stored already (nothing was saved).

    Raises
    ------
    InvalidPlanError
        When the plan is new and has problems; nothing is saved.
    """
    mark = f"content sha256:{plan_digest(plan)}"
    found = [v for v in store.versions(plan.name) if mark in v.note]
    if found:
        info = found[-1]
    else:
        info, _ = save_checked(store, plan, by=by, note=f"{source} loaded by {by}; {mark}")
    if info.status is VersionStatus.DRAFT:
        info = store.approve(info.plan, info.version, by=by)
    if info.status is VersionStatus.APPROVED:
        info = store.activate(info.plan, info.version, by=by)
    return info, bool(found)
