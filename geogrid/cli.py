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

import geopandas as gpd
import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from geogrid import io, samples
from geogrid.access import Caller, Role
from geogrid.errors import CoordinateError, CRSError, GeogridError, PlanFileError
from geogrid.plan import GridPlan
from geogrid.report import grid_table, level_summary
from geogrid.validate import Change, Problem, Severity, fix_plan, validate_plan

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
ByOpt = Annotated[
    str | None, typer.Option(help="Who does this (recorded with the version; default: you)")
]


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
    changes: list[Change] = []
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
        doc: dict[str, Any] = {
            "valid": not _errors(problems),
            "problems": [p.to_dict() for p in problems],
        }
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
    households: Annotated[
        str | None,
        typer.Option("--households", help="Recount households from these (FILE[:LAYER])"),
    ] = None,
    band: Annotated[str | None, typer.Option(help="Households per grid, e.g. 300-500")] = None,
    barriers: Annotated[
        str | None, typer.Option(help="Roads/rivers: share of grid edges on them (FILE[:LAYER])")
    ] = None,
    level: Annotated[
        int | None, typer.Option(help="Level the band applies to (default 2, the grids)")
    ] = None,
    csv: Annotated[Path | None, typer.Option(help="Write the per-grid table as CSV")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")] = False,
) -> None:
    """Households, balance, shape, contiguity and barriers per grid and per level (统计)."""
    from geogrid.partition import parse_band
    from geogrid.report import plan_report, terminal_tables

    loaded = _load(plan)
    homes = None
    if households is not None:
        hh_path, hh_layer = _layer_spec(households)
        homes = io.read_households(
            hh_path, layer=_default_layer(hh_path, hh_layer, ("households", "buildings"))
        )
    result = plan_report(
        loaded,
        households=homes,
        band=parse_band(band) if band else None,
        band_level=level,
        barriers=_read_spec(barriers, ("roads", "streets")),
    )
    if csv is not None:
        result.grids.to_csv(csv, index=False)
    if as_json:
        doc = {"plan": loaded.name, **result.to_dict()}
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        return
    from rich import box

    levels, grids = terminal_tables(result)
    out.print(_rich_table(levels, f"{loaded.name} — levels (层级)"))
    table = _rich_table(grids, "grids (网格); hh households, dev deviation, unit largest unit")
    table.box, table.pad_edge, table.columns[0].no_wrap = box.SIMPLE_HEAD, False, True
    out.print(table)
    for row in result.exceptions.itertuples():
        out.print(f"[yellow]{row.kind}[/yellow]: {row.message}", soft_wrap=True)
    if result.exceptions.empty:
        out.print("no exceptions (无例外)")


def _rich_table(frame: pd.DataFrame, title: str) -> Table:
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(
            str(column), justify="right" if pd.api.types.is_numeric_dtype(frame[column]) else "left"
        )
    for row in frame.itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    return table


def _cell(value: Any) -> str:
    if isinstance(value, list | tuple):
        return " / ".join(map(str, value))
    return "" if pd.isna(value) else str(value)


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
        versions = store.versions()
    if not versions:
        out.print("the store is empty")
        return
    for v in versions:
        line = f"{v.plan}  v{v.version}  {v.status:<8}  created {_when(v.created_at)} by {v.created_by}"
        if v.approved_at:
            line += f"; approved {_when(v.approved_at)} by {v.approved_by}"
        if v.activated_at:
            line += f"; active from {_when(v.activated_at)} by {v.activated_by}"
        if v.deactivated_at:
            line += f" to {_when(v.deactivated_at)}"
        out.print(line, highlight=False, soft_wrap=True)


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


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


@app.command("samples")
def samples_cmd() -> None:
    """List the shipped sample data."""
    for name in samples.sample_names():
        out.print(f"{name}\t{samples.sample_path(name)}")


# --------------------------------------------------------------------------- partition
# (section owned by the partition work: `geogrid partition`)


def _layer_spec(spec: str) -> tuple[Path, str | None]:
    """``FILE`` or ``FILE:LAYER`` (the layer of a multi-layer GeoPackage)."""
    path = Path(spec)
    if path.exists() or ":" not in spec:
        return path, None
    file, _, layer = spec.rpartition(":")
    return Path(file), layer or None


def _default_layer(path: Path, layer: str | None, preferred: tuple[str, ...]) -> str | None:
    import pyogrio

    if layer is not None or not path.exists() or path.suffix.lower() in (".csv", ".xlsx", ".xls"):
        return layer
    try:
        names = [str(n) for n, _ in pyogrio.list_layers(path)]
    except Exception:  # not a vector file: the reader says so
        return None
    if len(names) <= 1:
        return None
    return next((n for n in preferred if n in names), names[0])


def _read_spec(spec: str | None, preferred: tuple[str, ...] = ()) -> Any:
    if spec is None:
        return None
    path, layer = _layer_spec(spec)
    return io.read_layer(path, layer=_default_layer(path, layer, preferred))


def _weights(pairs: list[str] | None) -> dict[str, float] | None:
    if not pairs:
        return None
    weights = {"households": 1.0}
    for pair in pairs:
        column, sep, factor = pair.partition("=")
        try:
            weights[column.strip()] = float(factor) if sep else 1.0
        except ValueError as exc:
            raise GeogridError(f"--weight {pair!r}: write COLUMN=FACTOR, e.g. shops=2") from exc
    return weights


@app.command("partition")
@_user_errors
def partition_cmd(
    area: Annotated[str, typer.Argument(help="Parent areas with code and name (FILE[:LAYER])")],
    households: Annotated[
        str, typer.Option("--households", help="Buildings with counts or household points")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Plan file to write")],
    band: Annotated[str | None, typer.Option(help="Households per grid, e.g. 300-500")] = None,
    grids: Annotated[int | None, typer.Option(help="Exactly K grids per area instead")] = None,
    weight: Annotated[
        list[str] | None,
        typer.Option(help="Workload column=factor besides households, e.g. shops=2"),
    ] = None,
    barriers: Annotated[str | None, typer.Option(help="Roads/rivers to cut along")] = None,
    keep_whole: Annotated[
        str | None, typer.Option(help="Estates/courtyards never split (FILE[:LAYER])")
    ] = None,
    lock: Annotated[str | None, typer.Option(help="Grids kept as they are (FILE[:LAYER])")] = None,
    then_band: Annotated[
        str | None, typer.Option(help="Micro-grids inside every grid, e.g. 20-50")
    ] = None,
    count_column: Annotated[str | None, typer.Option(help="Household count column")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same plan)")] = 0,
    name: Annotated[str | None, typer.Option(help="Plan name")] = None,
) -> None:
    """Partition communities/villages into grids balanced by households (网格划分)."""
    from geogrid.partition import parse_band, partition_areas

    if (band is None) == (grids is None):
        raise GeogridError("give --band MIN-MAX (e.g. 300-500) or --grids K")
    hh_path, hh_layer = _layer_spec(households)
    homes = io.read_households(
        hh_path,
        count_column=count_column,
        layer=_default_layer(hh_path, hh_layer, ("households", "buildings")),
    )
    plan, report = partition_areas(
        _read_spec(area),
        homes,
        band=parse_band(band) if band else None,
        grids=grids,
        weights=_weights(weight),
        barriers=_read_spec(barriers, ("roads", "streets")),
        keep_whole=_read_spec(keep_whole, ("estates",)),
        locked=_read_spec(lock, ("grids",)),
        then_band=parse_band(then_band) if then_band else None,
        seed=seed,
        name=name or output.stem,
        progress=sys.stderr.isatty(),
    )
    io.write_plan(plan, output)
    table = Table(title="partition (网格划分)")
    for column in ("area", "grids", "households", "in band", "min–max", "mean PP"):
        table.add_column(column, justify="left" if column == "area" else "right")
    for result in report.areas:
        metrics = result.result.metrics()
        free = metrics[metrics["locked"].isna()]
        table.add_row(
            f"{result.code} {result.name}",
            str(len(metrics)),
            str(int(metrics["households"].sum())),
            f"{int(free['in_band'].sum())}/{len(free)}",
            f"{free['load'].min():g}–{free['load'].max():g}" if len(free) else "",
            f"{free['polsby_popper'].mean():.2f}" if len(free) else "",
        )
    out.print(table)
    _print_exceptions(report)
    out.print(f"wrote {len(plan.grids)} grids and {len(plan.units)} units to {output}")


def _print_exceptions(report: Any) -> None:
    """Grid-level exceptions one by one; micro-grid ones counted by kind per area."""
    from collections import Counter

    for code, exception in report.exceptions:
        if code == "":
            out.print(f"[yellow]{exception.kind}[/yellow]: {exception.message}", soft_wrap=True)
    for area in report.areas:
        for exception in area.result.exceptions:
            if exception.kind == "households-outside":
                continue
            out.print(
                f"[yellow]{exception.kind}[/yellow] {area.code}: {exception.message}",
                soft_wrap=True,
            )
        micro = Counter(e.kind for p in area.micro.values() for e in p.exceptions)
        if micro:
            counts = ", ".join(f"{n} {kind}" for kind, n in sorted(micro.items()))
            out.print(
                f"micro-grids (微网格) of {area.code}: {counts} — mostly buildings above the "
                "micro-grid band, each its own micro-grid",
                soft_wrap=True,
            )


# --------------------------------------------------------------------------- maps
# (section owned by the maps work: `geogrid map`, `geogrid signs`, `geogrid cards`)

ContextOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--context",
        help="Layer for orientation, KIND=FILE[:LAYER], e.g. roads=roads.gpkg (repeatable)",
    ),
]


def _map_layer(spec: str) -> Any:
    """``FILE`` or ``FILE:LAYER`` read as a GeoDataFrame in its own CRS."""
    path = Path(spec)
    layer = None
    if not path.exists() and ":" in spec:
        file, _, layer = spec.rpartition(":")
        path = Path(file)
    return io.read_layer(path, layer=layer or None)


def _map_context(pairs: list[str] | None) -> dict[str, Any] | None:
    layers = {}
    for pair in pairs or []:
        kind, sep, spec = pair.partition("=")
        if not sep or not kind or not spec:
            raise typer.BadParameter(f"{pair!r}: write KIND=FILE, e.g. roads=roads.gpkg")
        layers[kind.strip()] = _map_layer(spec.strip())
    return layers or None


@app.command("map")
@_user_errors
def map_cmd(
    plan: PlanArg,
    pdf: Annotated[
        Path | None, typer.Option(help="Write the wall map (网格示意图) as a vector PDF")
    ] = None,
    png: Annotated[Path | None, typer.Option(help="Write the wall map as a PNG")] = None,
    html: Annotated[
        Path | None, typer.Option(help="Write the interactive web map (works offline)")
    ] = None,
    paper: Annotated[str, typer.Option(help="A0, A1, A2, A3 or A4")] = "A1",
    landscape: Annotated[bool, typer.Option(help="Landscape sheet")] = False,
    title: Annotated[str | None, typer.Option(help="Map title")] = None,
    level: Annotated[
        int | None, typer.Option(help="Level to colour and list (default: deepest)")
    ] = None,
    context: ContextOpt = None,
    nested_colours: Annotated[
        bool, typer.Option(help="Shade grids within their parent's hue")
    ] = False,
    legend_pages: Annotated[
        bool,
        typer.Option(help="Continue a long legend on extra pages (else: sheet only, with a note)"),
    ] = True,
    dpi: Annotated[int, typer.Option(help="PNG resolution")] = 300,
    tiles: Annotated[
        str | None, typer.Option(help="Base-map tile URL for --html (optional)")
    ] = None,
    tile_attribution: Annotated[str | None, typer.Option(help="Who made the tiles")] = None,
    tiles_crs: Annotated[
        str, typer.Option(help="wgs84, or gcj02 for AMap/Tencent tiles")
    ] = "wgs84",
) -> None:
    """Draw the plan: wall map (PDF/PNG) and/or web map (HTML)."""
    from geogrid.render import render_wall_map, render_web_map

    if not (pdf or png or html):
        raise GeogridError(
            "say what to draw: --pdf wall.pdf, --png wall.png and/or --html map.html"
        )
    grid_plan = _load(plan)
    layers = _map_context(context)
    for target in (pdf, png):
        if target is not None:
            wall = render_wall_map(
                grid_plan,
                target,
                paper=paper,
                landscape=landscape,
                title=title,
                level=level,
                context=layers,
                nested_colours=nested_colours,
                legend_pages=legend_pages,
                dpi=dpi,
            )
            names = ", ".join(str(f) for f in wall.files)
            out.print(
                f"wrote {names}: {wall.pages} page(s), {len(wall.labels)} grids, "
                f"{len(wall.callouts)} callouts, 1:{wall.scale:,.0f}",
                soft_wrap=True,
            )
    if html is not None:
        web = render_web_map(
            grid_plan,
            html,
            title=title,
            tiles=tiles,
            tile_attribution=tile_attribution,
            tiles_crs=tiles_crs,
        )
        out.print(f"wrote {html}: {web.size / 1e6:.2f} MB, opens with no internet", soft_wrap=True)


@app.command("signs")
@_user_errors
def signs_cmd(
    plan: PlanArg,
    pdf: Annotated[Path, typer.Option(help="PDF to write, one 公示牌 page per grid")],
    level: Annotated[int | None, typer.Option(help="Level (default: deepest)")] = None,
    code: Annotated[list[str] | None, typer.Option(help="Only this grid (repeatable)")] = None,
    paper: Annotated[str, typer.Option(help="A4 … A0")] = "A4",
    duties: Annotated[
        Path | None, typer.Option(help="Text file with the duties template ({worker}, {phone}…)")
    ] = None,
    context: ContextOpt = None,
) -> None:
    """Public signs (网格公示牌): map, staff, phones and duties for every grid."""
    from geogrid.render import render_signs
    from geogrid.render.signs import DEFAULT_DUTIES

    template = duties.read_text(encoding="utf-8") if duties else DEFAULT_DUTIES
    signs = render_signs(
        _load(plan),
        pdf,
        level=level,
        codes=code,
        paper=paper,
        duties=template,
        context=_map_context(context),
    )
    out.print(f"wrote {pdf}: {signs.pages} signs", soft_wrap=True)


@app.command("cards")
@_user_errors
def cards_cmd(
    plan: PlanArg,
    households: Annotated[str, typer.Option(help="Households or buildings, FILE[:LAYER]")],
    pdf: Annotated[Path, typer.Option(help="PDF to write, eight 直通卡 to a sheet")],
    group_by: Annotated[
        str | None, typer.Option(help="Courtyard/building column: one card per group")
    ] = None,
    label: Annotated[
        str | None, typer.Option(help="Column naming each household on its card")
    ] = None,
    level: Annotated[int | None, typer.Option(help="Level whose workers the cards name")] = None,
) -> None:
    """Household contact cards (网格员直通卡): grid, worker and phone per household or courtyard."""
    from geogrid.render import render_cards

    cards = render_cards(
        _load(plan), _map_layer(households), pdf, group_by=group_by, label=label, level=level
    )
    lost = int(cards.cards["grid_code"].isna().sum())
    out.print(
        f"wrote {pdf}: {len(cards.cards)} cards on {cards.pages} sheets"
        + (f"; {lost} outside every grid (their cards say so)" if lost else ""),
        soft_wrap=True,
    )


@app.command("redraw")
@_user_errors
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
) -> None:
    """Rebalance a plan after households changed, moving as few households as possible (调整)."""
    from geogrid.partition import parse_band, redraw

    hh_path, hh_layer = _layer_spec(households)
    homes = io.read_households(
        hh_path,
        count_column=count_column,
        layer=_default_layer(hh_path, hh_layer, ("households", "buildings")),
    )
    result = redraw(
        _load(plan),
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
        raise GeogridError(
            f"the redraw would move {result.moved_households} households, more than "
            f"--max-moved {max_moved} (调整户数超限); nothing written — raise the limit or "
            "widen the band"
        )
    io.write_plan(result.plan, output)
    changes = changes or output.with_name(f"{output.stem}_changes.csv")
    result.changes.to_csv(changes, index=False)
    result.lineage.to_csv(changes.with_name(f"{output.stem}_lineage.csv"), index=False)
    out.print(f"wrote {output}, the change list {changes} and the code lineage")


# --------------------------------------------------------------------------- locate
# (section owned by the service work: `geogrid locate`, `geogrid serve`, `geogrid keys`)

_POINT_FORMATS = (".csv", ".gpkg", ".geojson", ".json", ".parquet", ".shp")
_OUTPUT_FORMATS = {".csv": "csv", ".gpkg": "GPKG", ".geojson": "GeoJSON", ".parquet": "parquet"}
_SHOWN_BAD_ROWS = 5


@app.command("locate")
@_user_errors
def locate_cmd(
    plan: PlanArg,
    points: Annotated[
        Path | None,
        typer.Argument(help="Points: CSV with lon/lat columns, or GeoPackage/GeoJSON/…"),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Located points (.csv, .gpkg, .geojson, .parquet)"),
    ] = None,
    crs: Annotated[
        str | None,
        typer.Option(help="wgs84, cgcs2000, gcj02 (AMap/Tencent), bd09 (Baidu) or EPSG:…"),
    ] = None,
    lon: Annotated[float | None, typer.Option(help="One point: its longitude")] = None,
    lat: Annotated[float | None, typer.Option(help="One point: its latitude")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One point: answer as JSON")] = False,
    lon_column: Annotated[str, typer.Option(help="CSV column of longitudes")] = "lon",
    lat_column: Annotated[str, typer.Option(help="CSV column of latitudes")] = "lat",
    layer: Annotated[str | None, typer.Option(help="Layer of a multi-layer points file")] = None,
    keep_invalid: Annotated[
        bool,
        typer.Option(help="Write bad rows with status invalid and a reason instead of failing"),
    ] = False,
) -> None:
    """Which grid, at every level, holds each point (定位): a points file, or --lon/--lat."""
    single = lon is not None or lat is not None
    if single == (points is not None):
        raise GeogridError("give a points file (with -o OUT.csv) or one point with --lon and --lat")
    if single:
        if lon is None or lat is None:
            raise GeogridError("give both --lon and --lat")
        _locate_one(_load(plan), lon, lat, crs or "wgs84", as_json)
        return
    assert points is not None
    if output is None or output.suffix.lower() not in _OUTPUT_FORMATS:
        raise GeogridError(
            "say where to write the located points: -o located.csv (or .gpkg, .geojson, .parquet)"
        )
    frame = _read_points(points, layer, crs)
    columns = (lon_column, lat_column)
    missing = [c for c in columns if c not in frame.columns]
    if missing and not isinstance(frame, gpd.GeoDataFrame):
        raise PlanFileError(
            f"{points.name}: no column {' or '.join(missing)} (it has {', '.join(frame.columns)}); "
            "name the coordinate columns with --lon-column and --lat-column"
        )
    problems = _row_problems(frame, crs, columns)
    bad = np.flatnonzero(pd.notna(problems))
    if bad.size and not keep_invalid:
        raise CoordinateError(_bad_rows(frame, problems, bad, columns, points))
    located = _locate_rows(_load(plan), frame, crs, columns)
    if keep_invalid:
        _mark_invalid(located, problems, bad)
    located["distance_m"] = located["distance_m"].round(2)
    _write_points(located, output)
    counts = located["status"].value_counts()
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("inside", "outside", "invalid"))
    out.print(f"wrote {len(located)} points to {output}: {summary}", soft_wrap=True)


def _read_points(path: Path, layer: str | None, crs: str | None) -> pd.DataFrame:
    """A CSV as text columns (kept as written), or a vector file in its own CRS."""
    if not path.exists():
        raise PlanFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in _POINT_FORMATS:
        raise PlanFileError(
            f"{path.name}: give points as {', '.join(_POINT_FORMATS)} (format from the suffix)"
        )
    if suffix != ".csv":
        from geogrid.crs import parse_crs

        # --crs names the system of the coordinates; for a file without one, it also labels it
        parsed = parse_crs(crs) if crs is not None else None
        return io.read_layer(
            path, layer=layer, crs="EPSG:4326" if isinstance(parsed, str) else parsed
        )
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves GBK
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding)
        except UnicodeDecodeError:
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise PlanFileError(f"{path.name}: cannot read the CSV: {exc}") from exc
    raise PlanFileError(f"{path.name}: not UTF-8 or GB18030 text; save the CSV as UTF-8")


def _row_problems(frame: pd.DataFrame, crs: str | None, columns: tuple[str, str]) -> np.ndarray:
    """What is wrong with each row's point (None where nothing), checked as lon/lat degrees."""
    from geogrid.crs import coordinate_problems, parse_crs, to_plan_lonlat
    from geogrid.locate import point_coordinates

    x, y, used = point_coordinates(frame, crs, lon=columns[0], lat=columns[1])
    parsed = parse_crs(used)
    if not isinstance(parsed, str) and not parsed.is_geographic:  # projected: check lon/lat
        x, y = to_plan_lonlat(x, y, parsed)
    return coordinate_problems(x, y)


def _bad_rows(
    frame: pd.DataFrame, problems: np.ndarray, bad: np.ndarray, columns: tuple[str, str], path: Path
) -> str:
    """The error for rows that cannot be located: how many, the first few, what to do."""
    is_csv = path.suffix.lower() == ".csv"
    lines = [f"{bad.size} of {len(frame)} points cannot be located; nothing written:"]
    for i in bad[:_SHOWN_BAD_ROWS]:
        if is_csv:  # line 1 is the header
            got = ", ".join(f"{c}={frame[c].iloc[i]!r}" for c in columns)
            lines.append(f"  line {i + 2}: {problems[i]}: {got}")
        else:
            lines.append(f"  feature {i + 1}: {problems[i]}: {frame.geometry.iloc[i]}")
    if bad.size > _SHOWN_BAD_ROWS:
        lines.append(f"  … and {bad.size - _SHOWN_BAD_ROWS} more")
    lines.append("fix them, or pass --keep-invalid to write them with status invalid and a reason")
    return "\n".join(lines)


def _locate_rows(
    plan: GridPlan, frame: pd.DataFrame, crs: str | None, columns: tuple[str, str]
) -> pd.DataFrame:
    """:func:`geogrid.locate.locate_frame` in chunks, with a progress bar on a terminal."""
    from rich.progress import Progress

    from geogrid.locate import GridIndex, locate_frame

    with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("indexing the plan", total=None)
        index = GridIndex.from_plan(plan)
        bar.update(task, description="locating", total=len(frame), completed=0)
        return locate_frame(
            index,
            frame,
            crs,
            lon=columns[0],
            lat=columns[1],
            chunk_size=100_000,
            progress=lambda n: bar.advance(task, n),
        )


def _mark_invalid(located: pd.DataFrame, problems: np.ndarray, bad: np.ndarray) -> None:
    """Bad rows get status invalid, no codes, and a reason (every row gets the column)."""
    rows = located.index[bad]
    codes = [c for c in located.columns if c.endswith("_code")]
    located.loc[rows, codes] = pd.NA
    located.loc[rows, "distance_m"] = np.nan
    located.loc[rows, "status"] = "invalid"
    located["reason"] = pd.array(problems, dtype="string")


def _write_points(frame: pd.DataFrame, output: Path) -> None:
    """Write the located table in the format of ``output``'s suffix; all or nothing."""
    kind = _OUTPUT_FORMATS[output.suffix.lower()]
    if kind != "csv" and not isinstance(frame, gpd.GeoDataFrame):
        raise PlanFileError(
            f"{output.name}: points from a CSV have no geometry to write; use -o located.csv"
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    with io._staging(output) as staged:
        if kind == "csv":
            pd.DataFrame(frame).to_csv(staged, index=False, encoding="utf-8-sig")
        elif kind == "parquet":
            frame.to_parquet(staged)
        else:
            frame.to_file(staged, driver=kind, engine="pyogrio")


def _locate_one(plan: GridPlan, lon: float, lat: float, crs: str, as_json: bool) -> None:
    """Print one point's grids at every level with staff, or the nearest grid when outside."""
    from geogrid.locate import GridIndex, locate_points

    problem = _row_problems(pd.DataFrame({"lon": [lon], "lat": [lat]}), crs, ("lon", "lat"))[0]
    if problem is not None:
        raise CoordinateError(f"{problem}: got --lon {lon:.10g} --lat {lat:.10g}")
    result = locate_points(GridIndex.from_plan(plan), [lon], [lat], crs)
    answer = {
        "status": str(result.status[0]),
        "plan": {"name": plan.name, "version": plan.version},
        "lon": float(result.lon[0]),
        "lat": float(result.lat[0]),
        "grid_code": result.grid_codes()[0],
        "levels": [
            {
                "level": level,
                "level_name": plan.levels[level - 1],
                "grid": _grid_facts(plan, result.level_codes(level)[0]),
            }
            for level in result.levels
        ],
        "nearest": None,
    }
    if answer["status"] == "outside":
        answer["nearest"] = {
            "grid": _grid_facts(plan, result.nearest_codes()[0]),
            "distance_m": round(float(result.distance_m[0]), 2),
        }
    if as_json:  # the shape of the service's GET /locate
        sys.stdout.write(json.dumps(answer, ensure_ascii=False, indent=2) + "\n")
    else:
        _print_answer(answer)


def _grid_facts(plan: GridPlan, code: str | None) -> dict[str, Any] | None:
    """Code, name, level, kind and staff (role, name, phone) of grid ``code``."""
    if code is None:
        return None
    grid = plan.grid(code)
    staff = plan.staff_of(code)[["role", "name", "phone"]].astype(object)
    return {
        "code": code,
        "name": grid["name"],
        "level": int(grid["level"]),
        "kind": grid["kind"],
        "staff": staff.where(staff.notna(), None).to_dict("records"),
    }


def _print_answer(answer: dict[str, Any]) -> None:
    where = f"{answer['lon']:.6f}, {answer['lat']:.6f} (CGCS2000)"
    out.print(f"{answer['plan']['name']} — point {where}: {answer['status']}", soft_wrap=True)
    table = Table(show_header=True)
    for column in ("level", "code", "name", "kind", "staff"):
        table.add_column(column, no_wrap=column in ("code", "staff"))
    for row in answer["levels"]:
        grid = row["grid"] or {"code": "—", "name": "outside every grid", "kind": "", "staff": []}
        table.add_row(row["level_name"], grid["code"], grid["name"], grid["kind"], _staff(grid))
    out.print(table)
    nearest = answer["nearest"]
    if nearest is not None:
        grid = nearest["grid"]
        out.print(
            f"nearest grid: {grid['code']} {grid['name']}, {nearest['distance_m']:.1f} m away; "
            f"staff: {_staff(grid, '; ') or 'none listed'}",
            soft_wrap=True,
        )


def _staff(grid: dict[str, Any], sep: str = "\n") -> str:
    return sep.join(
        " ".join(str(v) for v in (p["role"], p["name"], p["phone"]) if v) for p in grid["staff"]
    )


# --------------------------------------------------------------------------- serve

_SERVER = "geogrid serve"


@app.command("serve")
@_user_errors
def serve_cmd(
    plan: Annotated[
        str | None,
        typer.Option(
            help="Plan file to serve: stored, approved and activated unless stored already"
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Run the web service (/locate, /incidents, /ogc, /maps; docs at /docs).

    The store is the embedded GeoPackage ($GEOGRID_DATA_DIR), or PostGIS when
    GEOGRID_DATABASE_URL is set.
    """
    import uvicorn

    from geogrid.store import open_store

    with open_store() as store:
        if plan is not None:
            info, stored_before = _ensure_stored(store, _load(plan), plan)
            done = "stored already as" if stored_before else "stored as"
            out.print(f"{info.plan!r} {done} version {info.version} ({info.status})")
        active = store.active_info()
        where = store.url
    if active is None:
        out.print(
            "no active plan: /locate answers 404 until one is activated "
            "(geogrid store activate NAME VERSION, or geogrid serve --plan FILE)",
            soft_wrap=True,
        )
    else:
        out.print(
            f"answering from {active.plan!r} version {active.version} in {where}", soft_wrap=True
        )
    out.print(f"serving on http://{host}:{port} (API docs at /docs)")
    # an import string: the geogrid package never imports the api package itself
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )


def _ensure_stored(store: Any, plan: GridPlan, source: str) -> tuple[Any, bool]:
    """The stored version with ``plan``'s content, saving it first when there is none.

    A version found in the store keeps its state unless it is a draft or approved (left so by
    an interrupted start): then it is approved and activated. A plan activated since in
    another way is not replaced by restarting the service with the same file.
    """
    from geogrid.store.versions import VersionStatus

    mark = f"content sha256:{_plan_digest(plan)}"
    found = [v for v in store.versions(plan.name) if mark in v.note]
    if found:
        info = found[-1]
    else:
        _refuse_invalid(plan)
        info = store.save(plan, by=_SERVER, note=f"{source} loaded by {_SERVER}; {mark}")
    if info.status is VersionStatus.DRAFT:
        info = store.approve(info.plan, info.version, by=_SERVER)
    if info.status is VersionStatus.APPROVED:
        info = store.activate(info.plan, info.version, by=_SERVER)
    return info, bool(found)


def _plan_digest(plan: GridPlan) -> str:
    """A fingerprint of the plan's content, the same for the same plan read from any format.

    Name, levels, attribution and the three tables in the store's row order; geometries
    normalised and rounded to 1e-7 degrees (GeoJSON keeps 7 decimals).
    """
    import hashlib

    import shapely

    from geogrid.store import sort_plan

    ordered = sort_plan(plan)
    digest = hashlib.sha256(
        json.dumps([plan.name, plan.levels, plan.attribution], ensure_ascii=False).encode()
    )
    for frame in (ordered.grids, ordered.units, ordered.staff):
        if isinstance(frame, gpd.GeoDataFrame):
            geoms = shapely.set_precision(frame.geometry.to_numpy(), 1e-7)
            digest.update(b"".join(shapely.to_wkb(shapely.normalize(geoms))))
            frame = pd.DataFrame(frame.drop(columns=frame.geometry.name))
        digest.update(frame.to_json(orient="split", index=False).encode())
    return digest.hexdigest()


# --------------------------------------------------------------------------- keys

keys_app = typer.Typer(
    help="API keys of the service: create (shown once), list, revoke.", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
@_user_errors
def keys_create(
    role: Annotated[Role, typer.Option(help="What the key may do")],
    name: Annotated[str, typer.Option(help="Who or what uses it, e.g. the worker's name")],
    grid: Annotated[
        str | None, typer.Option(help="Bind the key to this grid's subtree (workers: required)")
    ] = None,
) -> None:
    """Create an API key; the key is printed once, only its hash is kept."""
    from geogrid.access import GRID_REQUIRED
    from geogrid.store import open_store

    if role in GRID_REQUIRED and grid is None:
        raise GeogridError(f"a {role.value} key must be bound to a grid: add --grid CODE")
    with open_store() as store:
        raw, key = store.access().create_key(
            role, name=name, grid_code=grid, caller=_local_caller()
        )
    scope = f"grid {key.grid_code}" if key.grid_code else "every grid"
    err.print(f"created key {key.id} ({key.prefix}…): {key.name}, {key.role.value}, {scope}")
    sys.stdout.write(raw + "\n")
    err.print(
        "[yellow]warning:[/yellow] the key is shown only this once; the store keeps only its "
        "hash. Copy it now (send it as the X-API-Key header).",
        soft_wrap=True,
    )


@keys_app.command("list")
@_user_errors
def keys_list() -> None:
    """List API keys (prefixes only, never the keys)."""
    from geogrid.store import open_store

    with open_store() as store:
        keys = store.access().list_keys(caller=_local_caller())
    if not keys:
        out.print("no API keys yet: geogrid keys create --role ROLE --name NAME")
        return
    table = Table(title="API keys")
    for column in ("id", "prefix", "name", "role", "grid", "created", "by", "revoked"):
        table.add_column(column, no_wrap=column in ("id", "prefix", "role", "grid"))
    for key in keys:
        revoked = f"{_when(key.revoked_at)} by {key.revoked_by}" if key.revoked_at else ""
        table.add_row(
            str(key.id),
            f"{key.prefix}…",
            key.name,
            key.role.value,
            key.grid_code or "all",
            _when(key.created_at),
            key.created_by,
            revoked,
        )
    out.print(table)


@keys_app.command("revoke")
@_user_errors
def keys_revoke(key_id: Annotated[int, typer.Argument(help="Key id (geogrid keys list)")]) -> None:
    """Revoke an API key: it authenticates nobody from now on."""
    from geogrid.store import open_store

    with open_store() as store:
        key = store.access().revoke_key(key_id, caller=_local_caller())
    out.print(f"revoked key {key.id} ({key.prefix}…, {key.name}) at {_when(key.revoked_at)}")


def _local_caller() -> Caller:
    return Caller.local(getpass.getuser())
