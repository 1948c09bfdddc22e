"""Incidents in the store: ``geogrid incidents simulate`` (a year of located incidents)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from geogrid.cli._common import err, out, user_errors
from geogrid.errors import InvalidInputError

__all__ = ["incidents_relocate", "incidents_simulate"]


@user_errors
def incidents_simulate(
    count: Annotated[int, typer.Option("--count", "-n", help="How many incidents to report")],
    closed: Annotated[
        float, typer.Option(help="Closure rate (办结率) to reach, e.g. 0.983 for 98.3 %")
    ],
    seed: Annotated[int, typer.Option(help="Seed: the same seed on the same plan, the same year")],
    store: Annotated[
        str | None,
        typer.Option(help="Store URL (sqlite:///plans.gpkg or postgresql://…); default: settings"),
    ] = None,
    start: Annotated[
        str, typer.Option(help="First day of the simulated year (UTC), YYYY-MM-DD")
    ] = "2025-01-01",
    days: Annotated[float, typer.Option(help="Length of the period in days")] = 365,
    hotline: Annotated[
        float, typer.Option(help="Share arriving as 12345 hotline work orders, 0 to 1")
    ] = 0.0,
    rejected: Annotated[float, typer.Option(help="Share rejected (不予受理), 0 to 1")] = 0.01,
    one_by_one: Annotated[
        bool, typer.Option("--one-by-one", help="One API call per change instead of one bulk write")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """Report a year of located incidents into the store's active plan and run their lifecycle.

    Points are drawn in the finest grids by households, located like ``POST /incidents``, then
    accepted, dispatched, handled, fed back and closed (some rejected, reopened, escalated
    blue → yellow, referred up 网格 → 社区 → 街道 → 部门 when overdue).
    """
    from geogrid.incidents.simulate import simulate_year
    from geogrid.store import open_store

    try:
        first = dt.datetime.strptime(start, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError:
        raise InvalidInputError(f"--start takes a date as YYYY-MM-DD, got {start!r}") from None

    def progress(stage: str, done: int, total: int) -> None:
        if stage != "store" and done == total:
            err.print(f"{stage}: {done:,} done")

    with open_store(store) as opened:
        summary = simulate_year(
            opened,
            incidents=count,
            closed_share=closed,
            start=first,
            seed=seed,
            hotline_share=hotline,
            rejected_share=rejected,
            days=days,
            progress=progress,
            bulk=not one_by_one,
        )
    if as_json:
        sys.stdout.write(json.dumps(summary.as_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    _print(summary)


@user_errors
def incidents_relocate(
    scheduler: Annotated[
        str, typer.Option(help="The dask cluster: local, local:N or a scheduler address")
    ] = "local",
    store: Annotated[
        str | None,
        typer.Option(help="Store URL (sqlite:///plans.gpkg or postgresql://…); default: settings"),
    ] = None,
    batch: Annotated[int, typer.Option(min=1, help="Incidents per task and transaction")] = 100_000,
) -> None:
    """Re-locate every incident against the plans in force now and rewrite its grids (重新定位).

    Afterwards the statistics as reported (/stats) follow today's grids, as
    /stats?grouped=current does; the staff recorded at report time are kept.
    """
    from geogrid.cluster import client_for
    from geogrid.cluster.relocate import relocate_incidents
    from geogrid.store import open_store

    with open_store(store) as opened, client_for(scheduler) as client:
        summary = relocate_incidents(
            opened,
            client,
            batch=batch,
            on_progress=lambda done, total, message: err.print(f"[{done:,}/{total:,}] {message}"),
        )
    out.print(
        f"{summary.incidents:,} incidents re-located in {summary.batches} batches: "
        f"{summary.changed:,} moved to other grids, {summary.outside:,} now outside every grid "
        f"({summary.seconds:.1f} s)"
    )


def _print(summary: object) -> None:
    from geogrid.incidents.simulate import SimulationSummary

    assert isinstance(summary, SimulationSummary)
    rate = "—" if summary.closure_rate is None else f"{summary.closure_rate:.2%}"
    out.print(
        f"{summary.incidents:,} incidents {summary.start:%Y-%m-%d} → {summary.end:%Y-%m-%d}: "
        f"{summary.closed:,} closed, {summary.rejected:,} rejected, {summary.open:,} open; "
        f"办结率 {rate}"
    )
    table = Table(title="by urgency (at the end)")
    for column in ("urgency", "reported", "final", "closed", "rate", "median h", "late", "overdue"):
        table.add_column(column, justify="right")
    for name, fig in summary.urgency.items():
        table.add_row(
            name,
            f"{fig.reported:,}",
            f"{fig.final:,}",
            f"{fig.closed:,}",
            "—" if fig.closure_rate is None else f"{fig.closure_rate:.2%}",
            "—" if fig.median_hours_to_close is None else f"{fig.median_hours_to_close:.1f}",
            f"{fig.closed_late:,}",
            f"{fig.overdue:,}",
        )
    out.print(table)
    referred = ", ".join(f"{tier} {n:,}" for tier, n in summary.referrals.items())
    out.print(
        f"statuses: {summary.statuses}; 蓝升黄 escalations {summary.escalations:,}; "
        f"referred up: {referred}; reopened {summary.reopened:,}; "
        f"12345 orders {summary.hotline_orders:,}; events {summary.events:,}"
    )
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in summary.stages.items())
    out.print(
        f"{summary.backend}, {'bulk' if summary.bulk else 'one by one'}: "
        f"{summary.seconds:.1f} s ({stages}), {summary.rate:,.0f} incidents/s"
    )
