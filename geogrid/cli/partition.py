"""Drawing grids afresh: ``geogrid partition``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from geogrid import io
from geogrid.cli._common import (
    CrsOpts,
    ForceCrsOpt,
    crs_of_inputs,
    err,
    layer_spec,
    out,
    read_households_spec,
    read_spec,
    user_errors,
    warn_if_offset,
)
from geogrid.cli.addresses import EstatesOpt, OverridesOpt, RegisterOpt, register_households
from geogrid.errors import InvalidInputError

__all__ = ["partition_cmd"]

_PARTITION_INPUTS = ("area", "households", "barriers", "keep-whole", "lock", "units", "incidents")


def _weights(pairs: list[str] | None) -> dict[str, float] | None:
    if not pairs:
        return None
    weights = {"households": 1.0}
    for pair in pairs:
        column, sep, factor = pair.partition("=")
        try:
            weights[column.strip()] = float(factor) if sep else 1.0
        except ValueError as exc:
            raise InvalidInputError(
                f"--weight {pair!r}: write COLUMN=FACTOR, e.g. shops=2"
            ) from exc
    return weights


@user_errors
def partition_cmd(
    area: Annotated[str, typer.Argument(help="Parent areas with code and name (FILE[:LAYER])")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Plan file to write")],
    households: Annotated[
        str | None,
        typer.Option(
            "--households", help="Buildings with counts or household points (counted into --units)"
        ),
    ] = None,
    units: Annotated[
        str | None,
        typer.Option(
            "--units",
            help="Polygons kept whole as the units: natural villages, villager groups, "
            "production teams (FILE[:LAYER])",
        ),
    ] = None,
    band: Annotated[str | None, typer.Option(help="Households per grid, e.g. 300-500")] = None,
    grids: Annotated[int | None, typer.Option(help="Exactly K grids per area instead")] = None,
    grids_total: Annotated[
        int | None,
        typer.Option(help="K grids over all areas together, shared out by workload"),
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option(help="Grid kind: urban, rural or special (default: the area's kind column)"),
    ] = None,
    weight: Annotated[
        list[str] | None,
        typer.Option(help="Workload column=factor besides households, e.g. shops=2, incidents=3"),
    ] = None,
    incidents: Annotated[
        str | None,
        typer.Option(help="Incident points for --weight incidents=F (default: the store's)"),
    ] = None,
    incidents_since: Annotated[
        str | None, typer.Option(help="Count incidents reported on or after DATE (2025-01-01)")
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
    households_register: RegisterOpt = None,
    estates: EstatesOpt = None,
    overrides: OverridesOpt = None,
    crs: CrsOpts = None,
    force_crs: ForceCrsOpt = False,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Run on a dask cluster, one task per area: local, local:N (N worker "
            "processes here) or a scheduler address (tcp://host:8786)"
        ),
    ] = None,
) -> None:
    """Partition communities/villages into grids balanced by households (网格划分).

    ``--crs`` says what the coordinates of the inputs are (``area``, ``households``,
    ``barriers``, ``keep-whole``, ``lock``, ``units``, ``incidents``): ``--crs gcj02`` for
    all, ``--crs households=gcj02`` for one; GCJ-02 and BD-09 are converted vertex by vertex.
    """
    from geogrid.partition import parse_band, partition_areas

    if sum(x is not None for x in (band, grids, grids_total)) != 1:
        raise InvalidInputError(
            "give one of --band MIN-MAX (e.g. 300-500), --grids K (per area) or "
            "--grids-total K (all areas)"
        )
    if households is None and units is None:
        raise InvalidInputError(
            "give --households (buildings or household points), or --units (village "
            "polygons) with a count column (--count-column 户数)"
        )
    if units is not None and (barriers or keep_whole or lock):
        raise InvalidInputError(
            "--units are the whole units already: drop --barriers, --keep-whole and --lock"
        )
    weights = _weights(weight)
    systems = crs_of_inputs(crs, _PARTITION_INPUTS)
    # a broken boundary stops here, first
    areas = read_spec(area, reader=io.read_areas, crs=systems["area"], force_crs=force_crs)
    homes = None
    if households_register is not None:
        homes = register_households(households_register, households, estates, overrides)
        warn_if_offset(homes, areas, households or households_register, area)
    elif households is not None:
        homes = read_households_spec(households, count_column, systems["households"], force_crs)
        warn_if_offset(homes, areas, households, area)
    settings: dict[str, Any] = {
        "band": parse_band(band) if band else None,
        "grids": grids,
        "weights": weights,
        "barriers": read_spec(
            barriers, ("roads", "streets"), crs=systems["barriers"], force_crs=force_crs
        ),
        "keep_whole": read_spec(
            keep_whole, ("estates",), crs=systems["keep-whole"], force_crs=force_crs
        ),
        "locked": read_spec(lock, ("grids",), crs=systems["lock"], force_crs=force_crs),
        "kind": kind,
        "count_column": (count_column or "households") if homes is None else "households",
        "then_band": parse_band(then_band) if then_band else None,
        "seed": seed,
        "name": name or output.stem,
    }
    given = {
        "grids_total": grids_total,
        "units": read_spec(units, ("villages", "units"), crs=systems["units"], force_crs=force_crs),
        "incidents": _incidents(weights, incidents, incidents_since, systems["incidents"]),
    }
    report: Any
    if scheduler is not None:  # one task per area on a dask cluster
        from geogrid.cluster import partition_with_scheduler

        plan, report = partition_with_scheduler(scheduler, areas, homes, **given, **settings)
    else:
        plan, report = partition_areas(
            areas, homes, **given, **settings, progress=sys.stderr.isatty()
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
    for failed in getattr(report, "failed", []):  # areas whose cluster task failed
        err.print(f"[red]failed[/red] {failed.code} {failed.name}: {failed.reason}", soft_wrap=True)
    if getattr(report, "failed", []):
        raise typer.Exit(1)


def _incidents(
    weights: dict[str, float] | None, path: str | None, since: str | None, crs: str | None
) -> Any:
    """Incident points for ``--weight incidents=F``: the file's, else the store's active plan's."""
    import datetime as dt

    from geogrid.partition.workload import INCIDENTS, incident_points, stored_incident_points

    if INCIDENTS not in (weights or {}):
        if path is not None or since is not None:
            raise InvalidInputError(
                "--incidents and --incidents-since count incidents into the workload: "
                "add --weight incidents=F (e.g. incidents=3)"
            )
        return None
    start = None
    if since is not None:
        try:
            start = dt.datetime.fromisoformat(since)
        except ValueError as exc:
            raise InvalidInputError(
                f"--incidents-since {since!r}: write a date, e.g. 2025-01-01"
            ) from exc
    if path is None:
        from geogrid.store import open_store

        with open_store() as store:
            return stored_incident_points(
                store, since=start if start is None or start.tzinfo else start.astimezone()
            )
    file, layer = layer_spec(path)
    return incident_points(io.read_points(file, layer=layer, crs=crs), crs, since=start)


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
