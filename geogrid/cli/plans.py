"""Plan files: ``geogrid validate``, ``geogrid import`` and ``geogrid report``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from geogrid import io
from geogrid.cli._common import (
    ColumnOpt,
    CrsOpt,
    CrsOpts,
    ForceCrsOpt,
    LayerLevelOpt,
    PlanArg,
    crs_of_inputs,
    load_plan,
    out,
    parse_columns,
    parse_layer_levels,
    print_line,
    read_households_spec,
    read_spec,
    rich_table,
    user_errors,
    warn,
    warn_if_offset,
)
from geogrid.cli.addresses import EstatesOpt, OverridesOpt, RegisterOpt, register_households
from geogrid.errors import CoordinateError, CRSError
from geogrid.validate import (
    Change,
    Problem,
    Severity,
    fix_plan,
    geometry_problems,
    validate_plan,
)

__all__ = ["errors", "import_", "print_problems", "report", "validate"]


@user_errors
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
    force_crs: ForceCrsOpt = False,
    layer_level: LayerLevelOpt = None,
) -> None:
    """Check a plan: valid geometry, no gaps or overlaps, children inside parents, codes, households."""
    try:
        loaded = load_plan(plan, column, crs, force_crs, layer_level)
    except (CRSError, CoordinateError) as exc:
        print_problems([Problem.from_error(exc)], as_json)
        raise typer.Exit(1) from exc
    changes: list[Change] = []
    if fix:
        loaded, changes = fix_plan(loaded, tolerance_m=tolerance)
    problems = validate_plan(loaded)
    if fix and output is not None:
        io.write_plan(loaded, output)
    if as_json:
        print_problems(problems, True, changes=[c.to_dict() for c in changes])
    else:
        for change in changes:
            print_line(change.line(), out, "fixed: ")
        print_problems(problems, False)
        if fix and output is not None:
            out.print(f"wrote the fixed plan to {output}")
        elif fix and changes:
            out.print("nothing written: pass --output FILE to keep the fixed plan")
    raise typer.Exit(1 if errors(problems) else 0)


def errors(problems: list[Problem]) -> list[Problem]:
    """Problems that make a plan invalid (warnings such as a households mismatch do not)."""
    return [p for p in problems if p.severity is Severity.ERROR]


def print_problems(
    problems: list[Problem], as_json: bool, changes: list[dict[str, Any]] | None = None
) -> None:
    """Problems one a line and a verdict, or as a JSON document with ``valid`` and ``changes``."""
    if as_json:
        doc: dict[str, Any] = {
            "valid": not errors(problems),
            "problems": [p.to_dict() for p in problems],
        }
        if changes is not None:
            doc["changes"] = changes
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        return
    for problem in problems:
        print_line(problem.line())
    found = errors(problems)
    if not found:
        warned = f" ({len(problems)} warning(s))" if problems else ""
        out.print(f"[green]valid[/green]: no errors found (校验通过){warned}")
    else:
        out.print(f"[red]{len(found)} error(s)[/red], {len(problems) - len(found)} warning(s)")


@user_errors
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
    force_crs: ForceCrsOpt = False,
    layer_level: LayerLevelOpt = None,
    encoding: Annotated[
        str | None,
        typer.Option(
            help="Text encoding of a Shapefile's attributes (gbk, big5, utf-8); default: its "
            ".cpg, else detected — a sample of the names read is shown"
        ),
    ] = None,
) -> None:
    """Import or convert a plan (GeoPackage, GeoJSON, GeoParquet, Shapefile or its zip, DXF, KML/KMZ).

    Staff in the layer's attributes come along: map a column of names to a role and one of
    phones to ``ROLE_phone`` (``-c head=WGZ -c head_phone=DH -c full_time=ZZWGY``); columns
    already named as a role (网格长, 专职网格员 …, phones 网格长电话) are taken as they are.

    A DXF drawing needs ``--crs`` (the surveyor's system, e.g. EPSG:4546); a KML/KMZ traced
    on a phone map needs ``--crs gcj02`` (AMap, Tencent) or ``bd09`` (Baidu). Grids with an
    empty or invalid geometry (e.g. a self-intersecting "bow-tie") are written as they are,
    with a warning each: ``geogrid validate`` counts them as errors.
    """
    names = levels.split(",") if levels else None
    plan = io.read_plan(
        source,
        columns=parse_columns(column),
        layer=layer,
        levels=names,
        name=name,
        crs=crs,
        force_crs=force_crs,
        layer_levels=parse_layer_levels(layer_level, names) or None,
        encoding=encoding,
    )
    _show_encoding(source, encoding, plan)
    io.write_plan(plan, output)
    out.print(
        f"wrote {len(plan.grids)} grids, {len(plan.staff)} staff, {len(plan.units)} units to {output}"
    )
    _warn_defaults(plan, parse_columns(column), source)
    broken = geometry_problems(plan)
    for problem in broken:
        warn(problem.line())
    if broken:
        warn(
            f"{len(broken)} grid(s) with an empty or invalid geometry, errors for `geogrid "
            f"validate`; repair them: geogrid validate --fix {output} -o FIXED"
        )


def _show_encoding(source: Path, encoding: str | None, plan: Any) -> None:
    """Never a silent guess: how a Shapefile's text was read, and a sample of its names."""
    from geogrid.io.dbf import dbf_encoding

    shapefile = source.suffix.lower() in (".shp", ".zip")
    found = dbf_encoding(source, encoding) if shapefile else None
    if found is None:
        return
    sample = "、".join(map(str, plan.grids["name"].head(5)))
    (warn if found.guessed else out.print)(f"{found.describe()}")
    print_line(f"  names read: {sample}")


def _warn_defaults(plan: Any, columns: dict[str, str], source: Path) -> None:
    """Say what a foreign layer's missing columns became: names = codes, one level."""
    grids = plan.grids
    if source.suffix.lower() in io.DRAWING_FORMATS:
        if (grids["name"].astype(str) == grids["code"].astype(str)).all():
            warn(
                "each grid has one label in the drawing, taken as both its code and its name "
                "(编码 = 名称); write both inside each outline (a code line and a name line), or "
                "map attributes with -c code=TAG -c name=TAG"
            )
        return
    if "name" not in columns and (grids["name"].astype(str) == grids["code"].astype(str)).all():
        warn(
            "no name column: every grid is named by its code; map the names with "
            "-c name=COLUMN (e.g. -c name=WGMC)"
        )
    if columns and plan.depth == 1 and len(grids) > 1 and "parent_code" not in columns:
        warn(
            f"no parent_code column: all {len(grids)} grids are on one level; if the layer holds "
            "several levels, map the parent codes with -c parent_code=COLUMN (e.g. SQBM)"
        )


@user_errors
def report(
    plan: PlanArg,
    households: Annotated[
        str | None,
        typer.Option(
            "--households",
            help="Recount households from these (FILE[:LAYER]; a register .xlsx[:SHEET] or "
            ".csv: a 户数 column, else one household per 户号, else per row)",
        ),
    ] = None,
    count_column: Annotated[
        str | None,
        typer.Option(
            "--count-column",
            help="Column of --households holding each row's household count "
            "(default: `households` when present, else one household a row)",
        ),
    ] = None,
    band: Annotated[str | None, typer.Option(help="Households per grid, e.g. 300-500")] = None,
    barriers: Annotated[
        str | None, typer.Option(help="Roads/rivers: share of grid edges on them (FILE[:LAYER])")
    ] = None,
    level: Annotated[
        int | None, typer.Option(help="Level the band applies to (default 2, the grids)")
    ] = None,
    csv: Annotated[Path | None, typer.Option(help="Write the per-grid table as CSV")] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write the report: .xlsx (网格台账: grids, levels, exceptions; Chinese "
            "headers) or .csv (the per-grid table)",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")] = False,
    households_register: RegisterOpt = None,
    estates: EstatesOpt = None,
    overrides: OverridesOpt = None,
    crs: CrsOpts = None,
    force_crs: ForceCrsOpt = False,
) -> None:
    """Households, balance, shape, contiguity and barriers per grid and per level (统计).

    ``--crs`` says what the coordinates of the inputs are (``plan``, ``households``,
    ``barriers``): ``--crs gcj02`` for all, ``--crs households=gcj02`` for one.
    """
    from geogrid.partition import parse_band
    from geogrid.report import plan_report, terminal_tables

    systems = crs_of_inputs(crs, ("plan", "households", "barriers"))
    loaded = load_plan(plan, crs=systems["plan"], force_crs=force_crs)
    homes = None
    if households_register is not None:
        homes = register_households(households_register, households, estates, overrides)
    elif households is not None:
        homes = read_households_spec(households, crs=systems["households"], force_crs=force_crs)
        warn_if_offset(homes, loaded.grids, households, plan)
    result = plan_report(
        loaded,
        households=homes,
        count_column=count_column,
        band=parse_band(band) if band else None,
        band_level=level,
        barriers=read_spec(
            barriers, ("roads", "streets"), crs=systems["barriers"], force_crs=force_crs
        ),
    )
    if csv is not None:
        result.grids.to_csv(csv, index=False)
    if output is not None:
        from geogrid.report import write_report

        write_report(result, output)
    if as_json:
        doc = {"plan": loaded.name, **result.to_dict()}
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        return
    from rich import box

    levels, grids = terminal_tables(result)
    out.print(rich_table(levels, f"{loaded.name} — levels (层级)"))
    table = rich_table(grids, "grids (网格); hh households, dev deviation, unit largest unit")
    table.box, table.pad_edge, table.columns[0].no_wrap = box.SIMPLE_HEAD, False, True
    out.print(table)
    for row in result.exceptions.itertuples():
        out.print(f"[yellow]{row.kind}[/yellow]: {row.message}", soft_wrap=True)
    if result.exceptions.empty:
        out.print("no exceptions (无例外)")
