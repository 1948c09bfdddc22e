"""Staff rosters (花名册): ``geogrid staff import`` and ``geogrid staff export``.

``geogrid staff import PLAN 花名册.xlsx -o PLAN2`` puts a roster into a plan file;
``geogrid staff import --store --plan NAME --from 2026-07-01 花名册.xlsx`` into the stored
version in force, with effect from a date, in one transaction. Every bad row is named by
its row number in the sheet and nothing is imported. ``geogrid staff export PLAN -o
花名册.xlsx`` (or ``--store [--plan NAME] [--at DATE]``) writes the roster back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from geogrid import samples
from geogrid.cli._common import ByOpt, load_plan, out, print_line, user, user_errors, warn
from geogrid.cli.people import AtOpt, FromOpt, parse_instant
from geogrid.errors import InvalidInputError
from geogrid.io.rosters import Roster, apply_roster, read_roster, write_roster

__all__ = ["staff_export", "staff_import"]

SheetOpt = Annotated[
    str | None, typer.Option(help="Sheet of the workbook (default: the first, or FILE:SHEET)")
]
EncodingOpt = Annotated[
    str | None, typer.Option(help="Encoding of a CSV roster (default: detected): gb18030, big5…")
]
StoreOpt = Annotated[
    bool, typer.Option("--store", help="The store's plan in force, not a plan file")
]
PlanNameOpt = Annotated[
    str | None,
    typer.Option("--plan", help="With --store: the stored plan (default: the only one in force)"),
]


@user_errors
def staff_import(
    files: Annotated[
        list[str],
        typer.Argument(help="PLAN ROSTER (a plan file and the roster), or ROSTER with --store"),
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Plan file to write (default: PLAN itself)"),
    ] = None,
    store: StoreOpt = False,
    plan_name: PlanNameOpt = None,
    effective: FromOpt = None,
    sheet: SheetOpt = None,
    encoding: EncodingOpt = None,
    by: ByOpt = None,
) -> None:
    """Import a staff roster (花名册, .xlsx/.xls/.csv): every grid it lists gets its staff.

    Grids the roster does not list keep theirs. Bad rows (no such grid, a person twice, a
    malformed phone, an unknown role) are listed by row number and nothing is imported.
    """
    if store:
        if len(files) != 1 or output is not None:
            raise InvalidInputError(
                "with --store give only the roster: geogrid staff import --store --plan NAME "
                "roster.xlsx"
            )
        _import_to_store(files[0], plan_name, effective, sheet, encoding, user(by))
        return
    if len(files) != 2 or effective is not None or plan_name is not None:
        raise InvalidInputError(
            "give the plan file and the roster (geogrid staff import plan.gpkg roster.xlsx "
            "-o plan2.gpkg), or --store with --plan and --from for the stored plan"
        )
    plan_spec, roster_spec = files
    if output is None and not Path(plan_spec).exists() and plan_spec in samples.sample_names():
        raise InvalidInputError(f"{plan_spec} is a sample: say where to write the plan with -o")
    plan = load_plan(plan_spec)
    roster = read_roster(roster_spec, plan.grids, sheet=sheet, encoding=encoding)
    target = output or Path(plan_spec)
    from geogrid.io import write_plan

    write_plan(apply_roster(plan, roster), target)
    _summary(roster, len(plan.grids))
    numbered = int(roster.staff["id_number"].notna().sum())
    if numbered:
        print_line(
            f"the 身份证号 of {numbered} people are not kept: a plan file holds none; import "
            "into the store (--store) to link the people by them"
        )
    print_line(f"wrote {target}")


def _import_to_store(
    roster_spec: str,
    plan_name: str | None,
    effective: str | None,
    sheet: str | None,
    encoding: str | None,
    by: str,
) -> None:
    from geogrid.access import Caller
    from geogrid.store import open_store
    from geogrid.store.rosters import import_roster

    with open_store() as store:
        roster, changed = import_roster(
            store,
            roster_spec,
            plan=plan_name,
            caller=Caller.local(by),
            effective=parse_instant(effective),
            sheet=sheet,
            encoding=encoding,
        )
    _summary(roster, None)
    if changed:
        first = changed[0]
        print_line(
            f"stored in {first.plan!r} version {first.version} with effect from "
            f"{first.valid_from:%Y-%m-%d %H:%M} UTC (staff revision {changed[-1].revision})"
        )


def _summary(roster: Roster, grids: int | None) -> None:
    if roster.encoding_note:
        warn(roster.encoding_note)
    kept = f"; the other {grids - len(roster.grids)} grids keep theirs" if grids else ""
    print_line(f"{roster.name}: {len(roster.staff)} staff on {len(roster.grids)} grids{kept}")


@user_errors
def staff_export(
    plan: Annotated[str | None, typer.Argument(help="Plan file or sample (or use --store)")] = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Roster to write: 花名册.xlsx or .csv")
    ] = Path("花名册.xlsx"),
    store: StoreOpt = False,
    plan_name: PlanNameOpt = None,
    at: AtOpt = None,
) -> None:
    """Write the staff of a plan, or of the store's plans in force (--at a date), as a roster."""
    if store == (plan is not None):
        raise InvalidInputError("give a plan file, or --store for the stored plans in force")
    if plan is not None:
        if plan_name is not None or at is not None:
            raise InvalidInputError("--plan and --at go with --store")
        loaded = load_plan(plan)
    else:
        from geogrid.store import open_store
        from geogrid.store.rosters import plans_in_force

        with open_store() as opened:
            loaded = plans_in_force(opened, plan=plan_name, at=parse_instant(at))
    write_roster(loaded.staff, loaded.grids, output)
    out.print(f"wrote {len(loaded.staff)} staff of {len(loaded.grids)} grids to {output}")
