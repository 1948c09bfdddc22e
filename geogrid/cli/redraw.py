"""Redrawing a plan after households changed, moving as few as possible: ``geogrid redraw``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from geogrid import io
from geogrid.cli._common import (
    CrsOpts,
    ForceCrsOpt,
    PlanArg,
    crs_of_inputs,
    load_plan,
    out,
    print_line,
    read_households_spec,
    user_errors,
    warn_if_offset,
)
from geogrid.cli.addresses import EstatesOpt, OverridesOpt, RegisterOpt, register_households
from geogrid.io.tables import write_table

__all__ = ["redraw_cmd"]


@user_errors
def redraw_cmd(
    plan: PlanArg,
    households: Annotated[str, typer.Option("--households", help="All households now")],
    band: Annotated[str, typer.Option(help="Households per grid, e.g. 300-500")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Redrawn plan file")],
    max_moved: Annotated[
        int | None,
        typer.Option(help="Refuse (write nothing) when more households would move"),
    ] = None,
    allow_out_of_band: Annotated[
        bool,
        typer.Option(help="Write the plan even when some grids cannot be brought into the band"),
    ] = False,
    level: Annotated[int, typer.Option(help="Level to rebalance (2 = grids)")] = 2,
    then_band: Annotated[
        str | None,
        typer.Option(help="Cut the micro-grids of changed and new grids again, e.g. 20-50"),
    ] = None,
    changes: Annotated[
        Path | None,
        typer.Option(
            help="Change list for public notice, .xlsx or .csv (default: a CSV beside the "
            "output); the lineage and cut-buildings lists take its format"
        ),
    ] = None,
    id_column: Annotated[
        str | None,
        typer.Option(
            help="Households column naming the buildings in the change list "
            "(id, name or address; default: id, building_id, osm_id… when present)"
        ),
    ] = None,
    count_column: Annotated[str | None, typer.Option(help="Household count column")] = None,
    seed: Annotated[int, typer.Option(help="Random seed")] = 0,
    households_register: RegisterOpt = None,
    estates: EstatesOpt = None,
    overrides: OverridesOpt = None,
    crs: CrsOpts = None,
    force_crs: ForceCrsOpt = False,
) -> None:
    """Rebalance a plan after households changed, moving as few households as possible (调整).

    Any valid plan: made by ``geogrid partition``, drawn by hand with building units, or
    grids only (cells are built per building inside the grids). Refuses, writing nothing,
    when the band cannot be restored (unless ``--allow-out-of-band``) or more than
    ``--max-moved`` households would move. Writes the plan, the change list (one row per
    building, ``utf-8-sig`` CSV for 公示), the code lineage and, when the old grid lines cut
    buildings, the list of those buildings.

    ``--crs`` says what the coordinates of the inputs are (``plan``, ``households``):
    ``--crs gcj02`` for both, ``--crs households=gcj02`` for one.
    """
    from geogrid.partition import parse_band, redraw
    from geogrid.partition.notice import write_notice

    systems = crs_of_inputs(crs, ("plan", "households"))
    loaded = load_plan(plan, crs=systems["plan"], force_crs=force_crs)
    if households_register is not None:
        homes = register_households(households_register, households, estates, overrides)
    else:
        homes = read_households_spec(households, count_column, systems["households"], force_crs)
    warn_if_offset(homes, loaded.grids, households, plan)
    result = redraw(
        loaded,
        homes,
        band=parse_band(band),
        level=level,
        then_band=parse_band(then_band) if then_band else None,
        max_moved=max_moved,
        allow_out_of_band=allow_out_of_band,
        id_column=id_column,
        seed=seed,
    )
    if result.built_units:
        out.print(
            "the plan's units do not cover its grids: built one cell per building inside them"
        )
    out.print(
        f"moved {result.moved_households} households in {len(result.changes)} buildings "
        f"(lower bound {result.lower_bound:g}); grids out of band: "
        f"{', '.join(result.out_of_band) or 'none'}"
    )
    for problem in result.problems:
        print_line(problem, out, "[yellow]warning:[/yellow] ")
    io.write_plan(result.plan, output)
    changes = changes or output.with_name(f"{output.stem}_changes.csv")
    write_notice(result.changes, changes)
    table = ".xlsx" if changes.suffix.lower() == ".xlsx" else ".csv"
    write_table(result.lineage, changes.with_name(f"{output.stem}_lineage{table}"))
    written = f"wrote {output}, the change list {changes} and the code lineage"
    if len(result.cut):
        cut = changes.with_name(f"{output.stem}_cut_buildings{table}")
        write_table(result.cut, cut)
        written += f"; {len(result.cut)} buildings the old grid lines cut: {cut}"
    out.print(written)
