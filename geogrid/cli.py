"""The ``geogrid`` command line: thin typer commands over the library.

Exit codes: 0 success (a valid plan), 1 the plan has problems, 2 bad input (the message says
what to do).
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from geogrid import io, samples
from geogrid.errors import CoordinateError, CRSError, GeogridError
from geogrid.plan import GridPlan
from geogrid.report import grid_table, level_summary
from geogrid.validate import Problem, Severity, fix_plan, validate_plan

__all__ = ["app"]

app = typer.Typer(
    help="geogrid: community grid plans (网格划分) — validate, store, report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
store_app = typer.Typer(
    help="Plan versions in the store (embedded file or PostGIS).", no_args_is_help=True
)
app.add_typer(store_app, name="store")

out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

PlanArg = Annotated[
    str,
    typer.Argument(help="Plan file (.gpkg/.geojson/.parquet/.shp) or a sample name, e.g. haidian"),
]
ColumnOpt = Annotated[
    list[str] | None,
    typer.Option("--column", "-c", help="Map a model column to yours: code=WGBM (repeatable)"),
]
CrsOpt = Annotated[
    str | None, typer.Option(help="CRS to assume when the file has none, e.g. EPSG:4490")
]
ByOpt = Annotated[str | None, typer.Option(help="Who does this (recorded with the version; default: you)")]


def _user_errors(func: F) -> F:
    """Print a GeogridError as one line and exit 2 instead of a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GeogridError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from exc

    return wrapper  # type: ignore[return-value]


def _columns(pairs: list[str] | None) -> dict[str, str]:
    mapping = {}
    for pair in pairs or []:
        ours, sep, theirs = pair.partition("=")
        if not sep or not ours or not theirs:
            raise typer.BadParameter(f"{pair!r}: write OURS=THEIRS, e.g. code=WGBM")
        mapping[ours.strip()] = theirs.strip()
    return mapping


def _load(plan: str, columns: list[str] | None = None, crs: str | None = None) -> GridPlan:
    path = Path(plan)
    if not path.exists() and plan in samples.sample_names():
        path = samples.sample_path(plan)
    return io.read_plan(path, columns=_columns(columns), crs=crs)


@app.command()
@_user_errors
def validate(
    plan: PlanArg,
    fix: Annotated[
        bool, typer.Option("--fix", help="Snap slivers and tiny gaps, then re-validate")
    ] = False,
    tolerance: Annotated[float, typer.Option(help="--fix snapping tolerance in metres")] = 0.5,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where --fix writes the fixed plan")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Problems as JSON")] = False,
    column: ColumnOpt = None,
    crs: CrsOpt = None,
) -> None:
    """Check a plan: valid geometry, no gaps or overlaps, children inside parents, codes, households."""
    try:
        loaded = _load(plan, column, crs)
    except (CRSError, CoordinateError) as exc:
        _print_problems([Problem.from_error(exc)], as_json)
        raise typer.Exit(1) from exc
    changes = []
    if fix:
        loaded, changes = fix_plan(loaded, tolerance_m=tolerance)
    problems = validate_plan(loaded)
    if fix and output is not None:
        io.write_plan(loaded, output)
    if as_json:
        _print_problems(problems, True, changes=[c.to_dict() for c in changes])
    else:
        for change in changes:
            out.print(f"fixed: {change.line()}", highlight=False, soft_wrap=True)
        _print_problems(problems, False)
        if fix and output is not None:
            out.print(f"wrote the fixed plan to {output}")
        elif fix and changes:
            out.print("nothing written: pass --output FILE to keep the fixed plan")
    raise typer.Exit(1 if _errors(problems) else 0)


def _errors(problems: list[Problem]) -> list[Problem]:
    """Problems that make a plan invalid (warnings such as a households mismatch do not)."""
    return [p for p in problems if p.severity is Severity.ERROR]


def _print_problems(
    problems: list[Problem], as_json: bool, changes: list[dict[str, Any]] | None = None
) -> None:
    if as_json:
        doc: dict[str, Any] = {"valid": not _errors(problems), "problems": [p.to_dict() for p in problems]}
        if changes is not None:
            doc["changes"] = changes
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        return
    for problem in problems:
        out.print(problem.line(), highlight=False, soft_wrap=True)
    errors = _errors(problems)
    if not errors:
        warned = f" ({len(problems)} warning(s))" if problems else ""
        out.print(f"[green]valid[/green]: no errors found (校验通过){warned}")
    else:
        out.print(f"[red]{len(errors)} error(s)[/red], {len(problems) - len(errors)} warning(s)")


@app.command("import")
@_user_errors
def import_(
    source: Annotated[
        Path, typer.Argument(help="Someone's grids file, or a plan in another format")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Plan file to write (format from suffix)")
    ],
    column: ColumnOpt = None,
    layer: Annotated[str | None, typer.Option(help="Layer of a multi-layer file")] = None,
    levels: Annotated[str | None, typer.Option(help="Level names, top first: 社区,网格")] = None,
    name: Annotated[str | None, typer.Option(help="Plan name (default: the file name)")] = None,
    crs: CrsOpt = None,
) -> None:
    """Import or convert a plan (GeoPackage, GeoJSON, GeoParquet, Shapefile)."""
    plan = io.read_plan(
        source,
        columns=_columns(column),
        layer=layer,
        levels=levels.split(",") if levels else None,
        name=name,
        crs=crs,
    )
    io.write_plan(plan, output)
    out.print(
        f"wrote {len(plan.grids)} grids, {len(plan.staff)} staff, {len(plan.units)} units to {output}"
    )


@app.command()
@_user_errors
def report(
    plan: PlanArg,
    csv: Annotated[Path | None, typer.Option(help="Write the per-grid table as CSV")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")] = False,
) -> None:
    """Households, area, shape and staff per grid and per level."""
    loaded = _load(plan)
    table, summary = grid_table(loaded), level_summary(loaded)
    if csv is not None:
        table.to_csv(csv, index=False)
    if as_json:
        doc = {"plan": loaded.name, "levels": _plain(summary), "grids": _plain(table)}
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        return
    out.print(_rich_table(summary, f"{loaded.name} — levels (层级)"))
    out.print(_rich_table(table, "grids (网格)"))


def _plain(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records", force_ascii=False))  # type: ignore[no-any-return]


def _rich_table(frame: pd.DataFrame, title: str) -> Table:
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(
            str(column), justify="right" if pd.api.types.is_numeric_dtype(frame[column]) else "left"
        )
    for row in frame.itertuples(index=False):
        table.add_row(*("" if pd.isna(v) else str(v) for v in row))
    return table


@store_app.command("save")
@_user_errors
def store_save(plan: PlanArg, by: ByOpt = None, note: str = "") -> None:
    """Save a plan as a new draft version (the old versions stay)."""
    from geogrid.store import open_store

    loaded = _load(plan)
    _refuse_invalid(loaded)
    with open_store() as store:
        info = store.save(loaded, by=by or getpass.getuser(), note=note)
    out.print(f"saved {info.plan!r} version {info.version} as {info.status}")


def _refuse_invalid(plan: GridPlan) -> None:
    problems = validate_plan(plan)
    if problems:
        for problem in problems:
            err.print(problem.line(), highlight=False, soft_wrap=True)
        raise GeogridError(
            f"not saved: {len(problems)} problem(s); fix them first (geogrid validate --fix)"
        )


@store_app.command("list")
@_user_errors
def store_list() -> None:
    """List stored plans and their versions."""
    from geogrid.store import open_store

    with open_store() as store:
        rows = [vars(v) for v in store.versions()]
    out.print(
        _rich_table(pd.DataFrame(rows), "stored versions (版本)") if rows else "the store is empty"
    )


@store_app.command("approve")
@_user_errors
def store_approve(name: str, version: int, by: ByOpt = None) -> None:
    """Approve a draft version (审批)."""
    from geogrid.store import open_store

    with open_store() as store:
        store.approve(name, version, by=by or getpass.getuser())
    out.print(f"approved {name!r} version {version}")


@store_app.command("activate")
@_user_errors
def store_activate(name: str, version: int, by: ByOpt = None) -> None:
    """Make an approved version the active plan (启用); the previous one is retired."""
    from geogrid.store import open_store

    with open_store() as store:
        store.activate(name, version, by=by or getpass.getuser())
    out.print(f"activated {name!r} version {version}")


@store_app.command("export")
@_user_errors
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


@app.command()
@_user_errors
def demo(
    sample: Annotated[str, typer.Option(help="Sample to run on")] = "haidian",
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the results")] = Path(
        "out"
    ),
) -> None:
    """The main job on the sample data: load, validate, report, store and activate a plan."""
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
    _print_problems(problems, False)
    if _errors(problems):
        raise typer.Exit(1)
    out.rule("3. report (统计)")
    out.print(_rich_table(level_summary(plan), "levels (层级)"))
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
    out.print(f"wrote {output / 'report.csv'} and {output / f'{sample}.geojson'}")


@app.command("samples")
def samples_cmd() -> None:
    """List the shipped sample data."""
    for name in samples.sample_names():
        out.print(f"{name}\t{samples.sample_path(name)}")
