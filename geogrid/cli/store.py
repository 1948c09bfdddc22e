"""Plan versions in the store: ``geogrid store save / list / approve / activate / export``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from geogrid import io
from geogrid.cli._common import ByOpt, PlanArg, load_plan, out, user, user_errors, when

__all__ = ["store_activate", "store_approve", "store_export", "store_list", "store_save"]


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
            f"{v.plan}  v{v.version}  {v.status:<8}  created {when(v.created_at)} by {v.created_by}"
        )
        if v.approved_at:
            line += f"; approved {when(v.approved_at)} by {v.approved_by}"
        if v.activated_at:
            line += f"; active from {when(v.activated_at)} by {v.activated_by}"
        if v.deactivated_at:
            line += f" to {when(v.deactivated_at)}"
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
def store_activate(name: str, version: int, by: ByOpt = None) -> None:
    """Make an approved version the active plan (启用); the previous one is retired."""
    from geogrid.store import open_store

    with open_store() as store:
        store.activate(name, version, by=user(by))
    out.print(f"activated {name!r} version {version}")


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
