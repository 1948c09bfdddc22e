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
    read_households_spec,
    user_errors,
    warn_if_offset,
)
from geogrid.errors import InvalidInputError

__all__ = ["redraw_cmd"]


@user_errors
def redraw_cmd(
    plan: PlanArg,
    households: Annotated[str, typer.Option("--households", help="All households now")],
    band: Annotated[str, typer.Option(help="Households per grid, e.g. 300-500")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Redrawn plan file")],
    max_moved: Annotated[
        int | None, typer.Option(help="Refuse (write nothing) when more households would move")
    ] = None,
    level: Annotated[int, typer.Option(help="Level to rebalance (2 = grids)")] = 2,
    then_band: Annotated[
        str | None,
        typer.Option(help="Cut the micro-grids of changed and new grids again, e.g. 20-50"),
    ] = None,
    changes: Annotated[
        Path | None, typer.Option(help="Change list CSV (default: beside the output)")
    ] = None,
    count_column: Annotated[str | None, typer.Option(help="Household count column")] = None,
    seed: Annotated[int, typer.Option(help="Random seed")] = 0,
    crs: CrsOpts = None,
    force_crs: ForceCrsOpt = False,
) -> None:
    """Rebalance a plan after households changed, moving as few households as possible (调整).

    ``--crs`` says what the coordinates of the inputs are (``plan``, ``households``):
    ``--crs gcj02`` for both, ``--crs households=gcj02`` for one.
    """
    from geogrid.partition import parse_band, redraw

    systems = crs_of_inputs(crs, ("plan", "households"))
    loaded = load_plan(plan, crs=systems["plan"], force_crs=force_crs)
    homes = read_households_spec(households, count_column, systems["households"], force_crs)
    warn_if_offset(homes, loaded.grids, households, plan)
    result = redraw(
        loaded,
        homes,
        band=parse_band(band),
        level=level,
        then_band=parse_band(then_band) if then_band else None,
        seed=seed,
    )
    out.print(
        f"moved {result.moved_households} households in {len(result.changes)} units "
        f"(lower bound {result.lower_bound:g}); grids out of band: "
        f"{', '.join(result.out_of_band) or 'none'}"
    )
    if max_moved is not None and result.moved_households > max_moved:
        raise InvalidInputError(
            f"the redraw would move {result.moved_households} households, more than "
            f"--max-moved {max_moved} (调整户数超限); nothing written — raise the limit or "
            "widen the band"
        )
    io.write_plan(result.plan, output)
    changes = changes or output.with_name(f"{output.stem}_changes.csv")
    result.changes.to_csv(changes, index=False)
    result.lineage.to_csv(changes.with_name(f"{output.stem}_lineage.csv"), index=False)
    out.print(f"wrote {output}, the change list {changes} and the code lineage")
