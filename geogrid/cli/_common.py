"""What the command modules share: consoles, argument types, error printing, reading inputs."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from geogrid import io, samples
from geogrid.errors import GeogridError
from geogrid.plan import GridPlan

__all__ = [
    "ByOpt",
    "ColumnOpt",
    "CrsOpt",
    "CrsOpts",
    "ForceCrsOpt",
    "LayerLevelOpt",
    "PlanArg",
    "crs_of_inputs",
    "default_layer",
    "err",
    "layer_spec",
    "load_plan",
    "out",
    "parse_columns",
    "parse_layer_levels",
    "print_line",
    "read_households_spec",
    "read_spec",
    "rich_table",
    "user",
    "user_errors",
    "warn",
    "warn_if_offset",
    "when",
]

out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

PlanArg = Annotated[
    str,
    typer.Argument(
        help="Plan file (.gpkg/.geojson/.parquet/.shp, a zipped Shapefile, a .dxf/.kml/.kmz "
        "drawing) or a sample name, e.g. haidian"
    ),
]
LayerLevelOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--layer-level",
        help="For a drawing: a DXF layer or KML folder and its level, 网格界线=2 or "
        "网格界线=网格 (repeatable); only these layers are read; default: levels from nesting",
    ),
]
ColumnOpt = Annotated[
    list[str] | None,
    typer.Option("--column", "-c", help="Map a model column to yours: code=WGBM (repeatable)"),
]
CrsOpt = Annotated[
    str | None,
    typer.Option(
        help="What the coordinates are: wgs84, cgcs2000, gcj02 (AMap/Tencent), bd09 (Baidu) or "
        "EPSG:…; fills a missing CRS, says what a GeoJSON's (or WGS84-labelled file's) lon/lat "
        "really are; another CRS than the file declares needs --force-crs"
    ),
]
CrsOpts = Annotated[
    list[str] | None,
    typer.Option(
        "--crs",
        help="What the coordinates of every input are (wgs84, cgcs2000, gcj02, bd09, EPSG:…), "
        "or of one: INPUT=CRS, e.g. households=gcj02 (repeatable)",
    ),
]
ForceCrsOpt = Annotated[
    bool,
    typer.Option("--force-crs", help="Let --crs win over a CRS the file declares (a wrong one)"),
]
_WARNING = "[yellow]warning:[/yellow] "
ByOpt = Annotated[
    str | None, typer.Option(help="Who does this (recorded with the version; default: you)")
]


def user_errors(func: F) -> F:
    """Print a GeogridError as one line and exit 2 instead of a traceback.

    The problems an error carries (e.g. :class:`~geogrid.errors.InvalidPlanError`) are
    printed first, one a line.
    """

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GeogridError as exc:
            for problem in getattr(exc, "problems", None) or []:
                print_line(problem.line() if hasattr(problem, "line") else str(problem), err)
            print_line(str(exc), err, "[red]error:[/red] ")
            raise typer.Exit(2) from exc

    return wrapper  # type: ignore[return-value]


def print_line(text: str, console: Console = out, prefix: str = "") -> None:
    """``text`` as one line, as written: brackets in it (a file name, a code) are not markup.

    ``prefix`` is rich markup, e.g. ``"[red]error:[/red] "``.
    """
    console.print(prefix + escape(text), highlight=False, soft_wrap=True)


def user(by: str | None) -> str:
    """``--by``, or the name of the user running the command."""
    return by or getpass.getuser()


def parse_columns(pairs: list[str] | None) -> dict[str, str]:
    """``--column OURS=THEIRS`` options as a mapping."""
    mapping = {}
    for pair in pairs or []:
        ours, sep, theirs = pair.partition("=")
        if not sep or not ours or not theirs:
            raise typer.BadParameter(f"{pair!r}: write OURS=THEIRS, e.g. code=WGBM")
        mapping[ours.strip()] = theirs.strip()
    return mapping


def parse_layer_levels(pairs: list[str] | None, levels: list[str] | None = None) -> dict[str, int]:
    """``--layer-level LAYER=LEVEL`` options as a mapping; LEVEL a number or a level name.

    Examples
    --------
    >>> parse_layer_levels(["社区界线=1", "网格界线=网格"], ["社区", "网格"])
    {'社区界线': 1, '网格界线': 2}
    """
    mapping = {}
    for pair in pairs or []:
        layer, sep, level = (part.strip() for part in pair.rpartition("="))
        if sep and layer and level.isdigit() and int(level) >= 1:
            mapping[layer] = int(level)
        elif sep and layer and levels and level in levels:
            mapping[layer] = levels.index(level) + 1
        else:
            raise typer.BadParameter(
                f"{pair!r}: write LAYER=LEVEL with LEVEL a number from 1 (the top) or one of "
                f"the --levels names ({', '.join(levels or []) or 'none given'}), e.g. 网格界线=2"
            )
    return mapping


def load_plan(
    plan: str,
    columns: list[str] | None = None,
    crs: str | None = None,
    force_crs: bool = False,
    layer_levels: list[str] | None = None,
) -> GridPlan:
    """Read a plan file, or the sample of that name when no such file exists."""
    path = Path(plan)
    if not path.exists() and plan in samples.sample_names():
        path = samples.sample_path(plan)
    return io.read_plan(
        path,
        columns=parse_columns(columns),
        crs=crs,
        force_crs=force_crs,
        layer_levels=parse_layer_levels(layer_levels) or None,
    )


def crs_of_inputs(given: list[str] | None, inputs: tuple[str, ...]) -> dict[str, str | None]:
    """``--crs`` options as the CRS of each input: ``CRS`` for all, ``INPUT=CRS`` for one.

    Examples
    --------
    >>> crs_of_inputs(["gcj02", "area=cgcs2000"], ("area", "households"))
    {'area': 'cgcs2000', 'households': 'gcj02'}
    """
    every: str | None = None
    one: dict[str, str] = {}
    for value in given or []:
        name, sep, crs = value.partition("=")
        if sep and name.strip() in inputs and crs.strip():
            one[name.strip()] = crs.strip()
        elif sep and name.strip().isidentifier() and name.strip().lower() not in _PROJ_KEYS:
            raise typer.BadParameter(
                f"--crs {value!r}: no input {name.strip()!r}; write CRS for every input or "
                f"INPUT=CRS with INPUT one of {', '.join(inputs)}"
            )
        else:
            every = value.strip()
    return {name: one.get(name, every) for name in inputs}


_PROJ_KEYS = ("proj", "init")  # "+proj=utm ..." is a CRS, not INPUT=CRS


def layer_spec(spec: str) -> tuple[Path, str | None]:
    """``FILE`` or ``FILE:LAYER`` (the layer of a multi-layer GeoPackage)."""
    path = Path(spec)
    if path.exists() or ":" not in spec:
        return path, None
    file, _, layer = spec.rpartition(":")
    return Path(file), layer or None


def default_layer(path: Path, layer: str | None, preferred: tuple[str, ...]) -> str | None:
    """``layer``, else the first ``preferred`` layer of a multi-layer file, else its first."""
    return io.preferred_layer(path, layer, preferred)


def read_spec(
    spec: str | None,
    preferred: tuple[str, ...] = (),
    reader: Callable[..., Any] = io.read_layer,
    crs: str | None = None,
    force_crs: bool = False,
) -> Any:
    """The layer ``FILE[:LAYER]`` names (``None`` for ``None``), in the CRS of its coordinates.

    ``reader`` reads it (e.g. :func:`geogrid.io.read_areas`, which also checks every polygon);
    ``crs`` and ``force_crs`` are passed on (GCJ-02 / BD-09 come back converted to EPSG:4490).
    """
    if spec is None:
        return None
    path, layer = layer_spec(spec)
    return reader(path, layer=default_layer(path, layer, preferred), crs=crs, force_crs=force_crs)


def read_households_spec(
    spec: str, count_column: str | None = None, crs: str | None = None, force_crs: bool = False
) -> Any:
    """Households from ``FILE[:LAYER]`` (a households or buildings layer by default)."""
    path, layer = layer_spec(spec)
    homes = io.read_households(
        path,
        count_column=count_column,
        layer=default_layer(path, layer, ("households", "buildings")),
        crs=crs,
        force_crs=force_crs,
    )
    if homes.attrs.get("encoding_note"):
        warn(homes.attrs["encoding_note"])  # a guessed encoding is never silent
    return homes


def warn(text: str) -> None:
    """``text`` as one warning line on stderr."""
    print_line(text, err, _WARNING)


def warn_if_offset(homes: Any, areas: Any, homes_spec: str, areas_spec: str) -> None:
    """Warn when households and their areas look one GCJ-02 / BD-09 offset apart."""
    from geogrid.reproject import phone_map_offset

    found = phone_map_offset(
        homes,
        areas,
        points_name=layer_spec(homes_spec)[0].name,
        areas_name=layer_spec(areas_spec)[0].name,
    )
    if found:
        warn(found)


def rich_table(frame: pd.DataFrame, title: str) -> Table:
    """``frame`` as a terminal table; numbers right-aligned, lists joined with `` / ``."""
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


def when(moment: Any) -> str:
    """A timestamp to the minute, ``-`` for none."""
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"
