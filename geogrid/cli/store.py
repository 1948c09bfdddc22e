"""Plan versions in the store: ``geogrid store save / list / approve / activate / export``.

Also the jurisdiction registry: ``geogrid store jurisdiction add / list``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from geogrid import io
from geogrid.cli._common import ByOpt, PlanArg, load_plan, out, user, user_errors, when
from geogrid.cli.people import parse_instant

__all__ = [
    "jurisdiction_add",
    "jurisdiction_list",
    "store_activate",
    "store_approve",
    "store_export",
    "store_list",
    "store_save",
]

_FROM_HELP = (
    "When it comes into force (default now): 2025-06-01 for a redraw already in effect, "
    "a future date to announce it; ISO 8601, UTC unless it says"
)


@user_errors
def store_save(plan: PlanArg, by: ByOpt = None, note: str = "") -> None:
    """Save a plan as a new draft version (the old versions stay)."""
    from geogrid.store import open_store
    from geogrid.store.publish import require_valid, save_checked

    loaded = load_plan(plan)
    require_valid(loaded)  # errors refuse before the store is opened
    with open_store() as store:
        info, warnings = save_checked(store, loaded, by=user(by), note=note)
    out.print(f"saved {info.plan!r} version {info.version} as {info.status}")
    for problem in warnings:
        out.print(f"warning (kept with the version): {problem.line()}", soft_wrap=True)


@user_errors
def store_list() -> None:
    """List stored plans and their versions."""
    from geogrid.store import open_store

    with open_store() as store:
        versions = store.versions()
    if not versions:
        out.print("the store is empty")
        return
    for v in versions:
        line = (
            f"{v.plan}  [{v.jurisdiction}]  v{v.version}  {v.status:<8}  "
            f"created {when(v.created_at)} by {v.created_by}"
        )
        if v.approved_at:
            line += f"; approved {when(v.approved_at)} by {v.approved_by}"
        if v.valid_from:
            line += f"; in force from {when(v.valid_from)}"
            line += f" to {when(v.valid_to)}" if v.valid_to else ""
            line += f" (activated {when(v.activated_at)} by {v.activated_by})"
        if v.warnings:
            line += f"; {len(v.warnings)} warning(s) at save"
        out.print(line, highlight=False, soft_wrap=True)
        for warning in v.warnings:
            text = warning.get("line") if isinstance(warning, dict) else str(warning)
            out.print(f"    warning: {text}", highlight=False, soft_wrap=True, markup=False)


@user_errors
def store_approve(name: str, version: int, by: ByOpt = None) -> None:
    """Approve a draft version (审批)."""
    from geogrid.store import open_store

    with open_store() as store:
        store.approve(name, version, by=user(by))
    out.print(f"approved {name!r} version {version}")


@user_errors
def store_activate(
    name: str,
    version: int,
    by: ByOpt = None,
    valid_from: Annotated[str | None, typer.Option("--from", help=_FROM_HELP)] = None,
) -> None:
    """Make an approved version its jurisdiction's plan (启用); the one before is retired.

    Other jurisdictions (streets, townships) keep their plans.
    """
    from geogrid.store import open_store

    with open_store() as store:
        info = store.activate(name, version, by=user(by), valid_from=parse_instant(valid_from))
    out.print(
        f"activated {name!r} version {version} in jurisdiction {info.jurisdiction!r}, "
        f"in force from {when(info.valid_from)}"
    )


@user_errors
def jurisdiction_add(
    code: str,
    name: str,
    parent: Annotated[
        str | None, typer.Option(help="The code it lies in (a county above its townships)")
    ] = None,
    level: Annotated[str, typer.Option(help="What it is: 县, 乡镇, 街道 …")] = "",
) -> None:
    """Register a jurisdiction (or the county above the plans), with its parent code."""
    from geogrid.store import open_store

    with open_store() as store:
        entry = store.register_jurisdiction(code, name, parent=parent, level_name=level)
    above = f" in {entry.parent_code}" if entry.parent_code else ""
    out.print(f"registered {entry.code} {entry.name}{above}", highlight=False)


@user_errors
def jurisdiction_list() -> None:
    """List the registered jurisdictions, each with its plan in force now."""
    from geogrid.store import open_store

    with open_store() as store:
        entries = store.jurisdictions()
        in_force = {info.jurisdiction: info for info in store.in_force()}
    if not entries:
        out.print("no jurisdiction is registered yet: saving a plan registers its own")
        return
    for entry in entries:
        info = in_force.get(entry.code)
        plan = f"{info.plan} v{info.version}" if info else "no plan in force"
        above = f"  in {entry.parent_code}" if entry.parent_code else ""
        line = f"{entry.code}  {entry.name}  {entry.level_name}{above}  — {plan}"
        out.print(line, highlight=False, soft_wrap=True)


@user_errors
def store_export(
    name: str,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="File to write (format from suffix)")
    ],
    version: Annotated[int | None, typer.Option(help="Version (default: latest)")] = None,
) -> None:
    """Write a stored version to a plan file."""
    from geogrid.store import open_store

    with open_store() as store:
        plan = store.get(name, version)
    io.write_plan(plan, output)
    out.print(f"wrote {name!r} version {plan.version} to {output}")
