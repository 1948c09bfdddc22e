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
    result = redraw(_load(plan), homes, band=parse_band(band), level=level, seed=seed)
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
