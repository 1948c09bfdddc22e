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

from geogrid.errors import InvalidPlanError
from geogrid.plan import GridPlan, plan_digest
from geogrid.store.repository import PlanStore
from geogrid.store.versions import VersionInfo, VersionStatus
from geogrid.validate import validate_plan

__all__ = ["publish_if_new", "require_valid"]


def require_valid(plan: GridPlan) -> None:
    """Refuse to store a plan with any problem, warnings included.

    Raises
    ------
    InvalidPlanError
        When :func:`geogrid.validate.validate_plan` finds anything; ``problems`` lists the
        :class:`~geogrid.validate.Problem` objects.
    """
    problems = validate_plan(plan)
    if problems:
        raise InvalidPlanError(
            f"not saved: {len(problems)} problem(s); fix them first (geogrid validate --fix)",
            problems,
        )


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
        require_valid(plan)
        info = store.save(plan, by=by, note=f"{source} loaded by {by}; {mark}")
    if info.status is VersionStatus.DRAFT:
        info = store.approve(info.plan, info.version, by=by)
    if info.status is VersionStatus.APPROVED:
        info = store.activate(info.plan, info.version, by=by)
    return info, bool(found)
