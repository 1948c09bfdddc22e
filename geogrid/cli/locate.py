"""``geogrid locate``: which grid, at every level, holds each point of a file, or one point."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import typer
from rich.table import Table

from geogrid import io
from geogrid.cli._common import PlanArg, err, load_plan, out, print_line, user_errors
from geogrid.errors import CoordinateError, InvalidInputError, PlanFileError
from geogrid.io.tables import find_column
from geogrid.plan import GridPlan
from geogrid.roles import current_roles

__all__ = ["locate_cmd"]

_SHOWN_BAD_ROWS = 5
_LON = ("lon", "lng", "longitude", "经度", "x")
_LAT = ("lat", "latitude", "纬度", "y")


@user_errors
def locate_cmd(
    plan: PlanArg,
    points: Annotated[
        Path | None,
        typer.Argument(
            help="Points: a table (.xlsx/.xls/.csv, FILE:SHEET) with lon/lat columns, or "
            "GeoPackage/GeoJSON/…"
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Located points (.xlsx, .csv, .gpkg, .geojson, .parquet)"
        ),
    ] = None,
    crs: Annotated[
        str | None,
        typer.Option(help="wgs84, cgcs2000, gcj02 (AMap/Tencent), bd09 (Baidu) or EPSG:…"),
    ] = None,
    lon: Annotated[float | None, typer.Option(help="One point: its longitude")] = None,
    lat: Annotated[float | None, typer.Option(help="One point: its latitude")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One point: answer as JSON")] = False,
    lon_column: Annotated[
        str | None,
        typer.Option(help="Table column of longitudes (default: lon, lng, 经度 … when present)"),
    ] = None,
    lat_column: Annotated[
        str | None,
        typer.Option(help="Table column of latitudes (default: lat, 纬度 … when present)"),
    ] = None,
    layer: Annotated[str | None, typer.Option(help="Layer of a multi-layer points file")] = None,
    encoding: Annotated[
        str | None,
        typer.Option(help="Encoding of a CSV (default: detected; gbk, big5, utf-8)"),
    ] = None,
    keep_invalid: Annotated[
        bool,
        typer.Option(help="Write bad rows with status invalid and a reason instead of failing"),
    ] = False,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Locate a (partitioned) Parquet of points on a dask cluster: local, local:N "
            "or a scheduler address; -o is then a folder of GeoParquet parts"
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            help="With --scheduler: locate in the store's plans in force (sqlite:///plans.gpkg "
            "or postgresql://…) instead of PLAN; give only POINTS"
        ),
    ] = None,
    at_column: Annotated[
        str | None,
        typer.Option(
            help="With --store: column of report times; each point is located in the plans "
            "and staff in force at its own time (默认：现行方案)"
        ),
    ] = None,
) -> None:
    """Which grid, at every level, holds each point (定位): a points file, or --lon/--lat."""
    if at_column is not None and store is None:
        raise InvalidInputError("--at-column needs --store: the versions and staff over time")
    if scheduler is not None or store is not None:
        columns = (lon_column, lat_column)
        _locate_on_cluster(plan, points, output, (scheduler, store, at_column), crs, columns)
        return
    single = lon is not None or lat is not None
    if single == (points is not None):
        raise InvalidInputError(
            "give a points file (with -o OUT.csv) or one point with --lon and --lat"
        )
    if single:
        if lon is None or lat is None:
            raise InvalidInputError("give both --lon and --lat")
        _locate_one(load_plan(plan), lon, lat, crs or "wgs84", as_json)
        return
    assert points is not None
    if output is None or output.suffix.lower() not in io.POINT_OUTPUT_FORMATS:
        raise InvalidInputError(
            "say where to write the located points: -o located.csv (or .xlsx, .gpkg, .geojson, "
            ".parquet)"
        )
    frame = io.read_points(points, layer=layer, crs=crs, encoding=encoding)
    if frame.attrs.get("encoding_note"):
        print_line(frame.attrs["encoding_note"], err, "[yellow]warning:[/yellow] ")
    columns = (
        lon_column or find_column(frame.columns, _LON) or "lon",
        lat_column or find_column(frame.columns, _LAT) or "lat",
    )
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
    located = _locate_rows(load_plan(plan), frame, crs, columns)
    if keep_invalid:
        _mark_invalid(located, problems, bad)
    located["distance_m"] = located["distance_m"].round(2)
    io.write_points(located, output)
    counts = located["status"].value_counts()
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("inside", "outside", "invalid"))
    out.print(f"wrote {len(located)} points to {output}: {summary}", soft_wrap=True)


def _locate_on_cluster(
    plan: str,
    points: Path | None,
    output: Path | None,
    where: tuple[str | None, str | None, str | None],
    crs: str | None,
    columns: tuple[str | None, str | None],
) -> None:
    """``--scheduler``: :func:`geogrid.cluster.locate_parquet` of PLAN or the store's plans.

    ``where`` is (scheduler, store, at column).
    """
    from geogrid.cluster import client_for, locate_parquet

    scheduler, store, at_column = where

    if scheduler is None:
        raise InvalidInputError("--store locates on a cluster: add --scheduler local (or local:N)")
    if store is not None:  # `geogrid locate --store URL POINTS.parquet`: no PLAN
        if points is not None:
            raise InvalidInputError("with --store give only the points: the store has the plans")
        points = Path(plan)
    if points is None or output is None:
        raise InvalidInputError("give the points (Parquet) and -o OUT (a folder of parts)")
    with contextlib.ExitStack() as stack:
        if store is not None:
            from geogrid.store import open_store

            plans: Any = stack.enter_context(open_store(store))
        else:
            plans = load_plan(plan)
        client = stack.enter_context(client_for(scheduler))
        summary = locate_parquet(
            plans,
            points,
            output,
            client,
            crs=crs,
            lon=columns[0] or "lon",
            lat=columns[1] or "lat",
            at=at_column,
            on_progress=lambda done, total, message: err.print(f"[{done}/{total}] {message}"),
        )
    out.print(
        f"wrote {summary.points:,} points in {summary.parts} parts to {output}: "
        f"{summary.inside:,} inside, {summary.outside:,} outside, {summary.invalid:,} invalid "
        f"({summary.seconds:.1f} s)",
        soft_wrap=True,
    )


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
    rows = frame.attrs.get("rows")  # a table's rows as the sheet numbers them
    lines = [f"{bad.size} of {len(frame)} points cannot be located; nothing written:"]
    for i in bad[:_SHOWN_BAD_ROWS]:
        if rows is not None:
            got = ", ".join(f"{c}={frame[c].iloc[i]!r}" for c in columns)
            lines.append(f"  {_row_word(path)} {rows[i]}: {problems[i]}: {got}")
        else:
            lines.append(f"  feature {i + 1}: {problems[i]}: {frame.geometry.iloc[i]}")
    if bad.size > _SHOWN_BAD_ROWS:
        lines.append(f"  … and {bad.size - _SHOWN_BAD_ROWS} more")
    lines.append("fix them, or pass --keep-invalid to write them with status invalid and a reason")
    return "\n".join(lines)


def _row_word(path: Path) -> str:
    return "line" if path.suffix.lower() == ".csv" else "row"


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
    """:meth:`GridPlan.grid_facts` in the shape of ``GET /locate`` (``None`` for no grid)."""
    if code is None:
        return None
    facts = plan.grid_facts(code)
    del facts["parent_code"]
    return facts


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
    """Each person as `网格长 王芳 138…`: the role's Chinese name (the JSON output keeps the key)."""
    roles = current_roles()
    return sep.join(
        " ".join(str(v) for v in (roles.label(p["role"]), p["name"], p["phone"]) if v)
        for p in grid["staff"]
    )
