"""``report.md`` and ``report.json`` of a rebuilt system: published beside rebuilt, stages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["report_markdown", "write_report"]


def write_report(report: dict[str, Any], folder: Path) -> None:
    """Write ``report.json`` and ``report.md`` into ``folder``."""
    (folder / "report.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8"
    )
    (folder / "report.md").write_text(report_markdown(report), encoding="utf-8")


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    if isinstance(value, int | float):
        return f"{int(value):,}"
    return str(value)


def report_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: figures, jurisdictions, validation, store, stages, notes."""
    county = report["county"]
    lines = [
        f"# {county['name']} ({county['code']}) rebuilt — `geogrid example {report['system']} "
        f"--scale {report['scale']}`",
        "",
        "## Published and rebuilt",
        "",
        "| figure | published | rebuilt | given or made | note |",
        "| --- | ---: | ---: | --- | --- |",
    ]
    for f in report["figures"]:
        role = "input (given)" if f["role"] == "input" else "output (made by geogrid)"
        mark = "" if f["matches"] is None else (" ✓" if f["matches"] else " ✗")
        lines.append(
            f"| {f['what']} | {_value(f['published'])} | {_value(f['rebuilt'])}{mark} | {role} "
            f"| {f['note']} |"
        )
    lines += ["", "## Jurisdictions (one plan each)", ""]
    levels = list(report["jurisdictions"][0]["levels"]) if report["jurisdictions"] else []
    lines.append(
        "| code | name | " + " | ".join(levels) + " | kinds (deepest) | households | residents "
        "| staff | errors | warnings |"
    )
    lines.append("| --- | --- | " + " | ".join("---:" for _ in levels) + " | --- |" + " ---: |" * 5)
    for j in report["jurisdictions"]:
        counts = " | ".join(f"{j['levels'].get(n, 0):,}" for n in levels)
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(j["kinds"].items()))
        lines.append(
            f"| {j['code']} | {j['name']} | {counts} | {kinds} | {j['households']:,} "
            f"| {j['residents']:,} | {j['staff']:,} | {j['errors']} | {j['warnings']} |"
        )
    for j in report["jurisdictions"]:
        if j.get("problems"):
            lines += ["", f"Problems of {j['name']} (first 10):", ""]
            lines += [f"* {p}" for p in j["problems"]]
    stored = report["stored"]
    lines += [
        "",
        f"**Validation**: {'every plan valid (no errors)' if report['valid'] else 'ERRORS — see jurisdictions'}.",
        "",
        f"**Store**: `{Path(stored['path']).name}` holds {stored['plans']} plan(s), "
        f"{stored['versions']} version(s); {stored['in_force']} jurisdiction(s) in force at once, "
        f"{stored['grids_in_force']:,} grids in their union."
        + (
            f" Refused by the save policy: {', '.join(stored['refused'])}."
            if stored.get("refused")
            else ""
        ),
        "",
    ]
    incidents = report.get("incidents")
    if incidents and "closed" in incidents:
        lines += [
            f"**Incidents** (a year from {incidents.get('start', '')}): {incidents['incidents']:,} "
            f"reported, {incidents['closed']:,} closed, {incidents.get('rejected', 0):,} rejected, "
            f"{incidents.get('open', 0):,} open; closure rate {100 * incidents['closure_rate']:.2f} %; "
            f"{incidents.get('escalations', 0):,} escalations; referrals "
            f"{json.dumps(incidents.get('referrals', {}), ensure_ascii=False)}; "
            f"{incidents.get('hotline_orders', 0):,} 12345 work orders.",
            "",
        ]
    elif incidents:
        lines += [f"**Incidents**: {incidents}", ""]
    stats = report.get("incident_stats")
    if stats:
        ranking = ", ".join(
            f"{r['grid']} {r['closed']} closed" for r in stats["ranking_first_and_last"]
        )
        lines += [
            f"**Per grid** (`/stats` at level {stats['level']}, {stats['seconds']:.2f} s): "
            f"{stats['grids_with_incidents']:,} grids with incidents; closed per grid: median "
            f"{stats['closed_per_grid_median']:,}, most {stats['closed_per_grid_most']:,}; "
            f"ranking first and last: {ranking}.",
            "",
        ]
    lines += [
        "## Stages",
        "",
        "| stage | seconds | peak memory (MB) | what |",
        "| --- | ---: | ---: | --- |",
    ]
    for s in report["stages"]:
        lines.append(f"| {s['name']} | {s['seconds']:.1f} | {s['peak_mb']:.0f} | {s['note']} |")
    total = sum(s["seconds"] for s in report["stages"])
    peak = max((s["peak_mb"] for s in report["stages"]), default=0)
    lines += [f"| **total** | **{total:.1f}** | **{peak:.0f}** | |", ""]
    if report["notes"]:
        lines += ["## Notes", ""] + [f"* {n}" for n in report["notes"]] + [""]
    lines += ["## Origin", "", report["origin"], ""]
    return "\n".join(lines)
