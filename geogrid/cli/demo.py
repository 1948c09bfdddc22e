"""The shipped samples: ``geogrid demo`` (the main job end to end) and ``geogrid samples``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from geogrid import io, samples
from geogrid.cli._common import out, rich_table, user_errors
from geogrid.cli.maps import map_cmd
from geogrid.cli.partition import partition_cmd
from geogrid.cli.plans import errors, print_problems
from geogrid.report import grid_table, plan_report, terminal_tables
from geogrid.validate import validate_plan

__all__ = ["demo", "samples_cmd"]


@user_errors
def demo(
    sample: Annotated[str, typer.Option(help="Sample to run on")] = "haidian",
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the results")] = Path(
        "out"
    ),
) -> None:
    """The main job on the sample data: validate, report, store, partition and map a plan."""
    from geogrid.store import open_store

    output.mkdir(parents=True, exist_ok=True)
    plan = samples.load_sample(sample)
    out.rule(f"1. load — {plan.name}")
    out.print(
        f"{len(plan.grids)} grids on {plan.depth} levels ({' / '.join(plan.levels)}), "
        f"{len(plan.units)} units, {len(plan.staff)} staff"
    )
    out.rule("2. validate (校验)")
    problems = validate_plan(plan)
    print_problems(problems, False)
    if errors(problems):
        raise typer.Exit(1)
    out.rule("3. report (统计)")
    levels, _ = terminal_tables(plan_report(plan))  # one row per figure: fits 80 columns
    out.print(rich_table(levels, "levels (层级)"))
    grid_table(plan).to_csv(output / "report.csv", index=False)
    out.rule("4. store (入库)")
    with open_store() as store:
        info = store.save(plan, by="demo", note="sample plan")
        store.approve(info.plan, info.version, by="demo")
        store.activate(info.plan, info.version, by="demo")
        active = store.active()
        out.print(
            f"stored {info.plan!r} version {info.version} in {store.url}; active: version "
            f"{active.version if active else None}"
        )
    io.write_plan(plan, output / f"{sample}.geojson")
    out.rule("5. partition the same area afresh (网格划分)")
    partition_cmd(
        area=str(samples.sample_path(sample, "area.geojson")),
        households=str(samples.sample_path(sample, "households.gpkg")),
        barriers=str(samples.sample_path(sample, "roads.gpkg")),
        band="300-500",
        output=output / f"{sample}-partition.gpkg",
    )
    out.rule("6. maps (网格示意图)")
    map_cmd(
        plan=str(samples.sample_path(sample)),
        pdf=output / "wall-map.pdf",
        html=output / "map.html",
        context=[f"roads={samples.sample_path(sample, 'roads.gpkg')}"],
    )
    out.print(
        f"results in {output}/: report.csv, {sample}.geojson, {sample}-partition.gpkg, wall-map.pdf, map.html"
    )


def samples_cmd() -> None:
    """List the shipped sample data."""
    for name in samples.sample_names():
        out.print(f"{name}\t{samples.sample_path(name)}")
