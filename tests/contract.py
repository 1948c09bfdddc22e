"""Schemathesis with every check against the service: the OpenAPI schema tells the truth.

``run(kind, key, examples)`` serves a street plan from a fresh store (``"gpkg"`` or
``"postgis"``), with an admin key or none, runs every phase of Schemathesis (examples,
coverage, fuzzing, stateful) with all its checks, and counts failures per check; those in
:data:`ACCEPTED` are deviations docs/api.md explains. ``make schemathesis`` runs it in full.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import schemathesis
from fastapi.testclient import TestClient
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from api.main import create_app
from tests.service import activate, issue_key, service_settings, street_plan

__all__ = ["ACCEPTED", "ACCEPTED_CONFIG", "Report", "run"]

ACCEPTED: dict[tuple[str, str], str] = {
    ("positive_data_acceptance", "POST /plans"): "an upload's content (a plan file) has no "
    "schema: a binary the schema allows is rarely a GeoPackage, GeoJSON or GeoParquet plan",
    ("positive_data_acceptance", "POST /jobs/partition"): "as POST /plans: the files' "
    "content has no schema (a generated binary is rarely a GeoPackage, GeoJSON, GeoParquet or "
    "zipped Shapefile), and the JSON form names a stored plan (a generated name is rarely one)",
    ("positive_data_acceptance", "POST /plans/{name}/staff/import"): "a roster's content (an "
    "Excel workbook or a CSV with 姓名, grid and role columns) has no schema: a generated body "
    "is rarely a roster, and the roster's rows are checked against the plan",
    ("positive_data_acceptance", "GET /maps/wall.pdf"): "a title must be drawable by the map "
    "font; the font's coverage is not a JSON Schema pattern",
    ("positive_data_acceptance", "GET /maps/web.html"): "as wall.pdf: the map font",
    ("positive_data_acceptance", "GET /maps/grids/{code}/sign.pdf"): "as wall.pdf: the map font",
    ("positive_data_acceptance", "PUT /grids/{code}/staff"): "If-Match must be the current "
    "ETag; a generated one is stale: 412",
    ("positive_data_acceptance", "POST /drafts"): "a draft moves a plan's units (buildings "
    "with households): a stored plan without units, or a name no plan has, is refused with the "
    "reason; which stored plans have units is not a JSON Schema",
    ("positive_data_acceptance", "POST /incidents"): "an Idempotency-Key sent again with "
    "another body is 422 (draft-ietf-httpapi-idempotency-key-header); a swapped-looking point",
    ("positive_data_acceptance", "GET /locate"): "a point that looks swapped (lon 18-54, lat "
    "73-90: outside China, its swap inside) is 422 though inside the ranges",
    ("positive_data_acceptance", "POST /locate"): "as GET /locate: a swapped-looking point",
}
"""(check, operation) → why a failure there is the intended answer."""

ACCEPTED_CONFIG = {
    "generation.allow-x00 = false": "no text may hold NUL (U+0000): the request guard "
    "refuses it in the path, query and JSON body with 422 (PostgreSQL text cannot store it)"
}
"""Deviations accepted by configuring Schemathesis rather than by a failure."""


@dataclass
class Report:
    """What one run found: operations, cases, failures per (check, operation)."""

    kind: str
    key: str
    examples: int
    operations: int = 0
    cases: int = 0
    seconds: float = 0.0
    failures: Counter[tuple[str, str]] = field(default_factory=Counter)
    samples: dict[tuple[str, str], str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def unexpected(self) -> dict[tuple[str, str], str]:
        """Failures outside :data:`ACCEPTED`, with one sample each."""
        return {k: self.samples[k] for k in self.failures if k not in ACCEPTED}

    def per_check(self) -> Counter[str]:
        """Failures per check."""
        counts: Counter[str] = Counter()
        for (check, _), n in self.failures.items():
            counts[check] += n
        return counts


def run(kind: str, key: str, examples: int, *, seed: int = 1) -> Report:
    """Schemathesis, every phase and check, against a fresh ``kind`` store; ``key``: admin/none."""
    report = Report(kind, key, examples)
    with tempfile.TemporaryDirectory() as folder, service_settings(kind, Path(folder)) as values:
        activate(values, street_plan())
        headers = issue_key(values, "admin") if key == "admin" else {}
        app = create_app(values)
        with TestClient(app):  # the lifespan opens the store
            config = SchemathesisConfig.from_dict(
                {
                    "seed": seed,
                    "headers": headers,
                    # the request guard refuses NUL in every text with 422 (ACCEPTED_CONFIG)
                    "generation": {"max-examples": examples, "allow-x00": False},
                    "suppress-health-check": ["all"],
                }
            )
            schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
            schema.config.checks.update(included_check_names=["all"])
            report.operations = sum(1 for _ in schema.get_all_operations())
            start = time.perf_counter()
            for event in from_schema(schema).execute():
                _record(report, event)
            report.seconds = time.perf_counter() - start
    return report


def _record(report: Report, event: events.EngineEvent) -> None:
    if isinstance(event, events.NonFatalError | events.FatalError):
        report.errors.append(str(getattr(event, "value", None) or event.exception)[:500])
        return
    recorder = getattr(event, "recorder", None)
    if not isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
        return
    assert recorder is not None
    report.cases += len(recorder.cases)
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.failure_info is None:
                continue
            case = recorder.cases[case_id].value
            where = (check.name, case.operation.label)
            report.failures[where] += 1
            if where not in report.samples:
                interaction = recorder.interactions.get(case_id)
                answer = ""
                if interaction is not None and interaction.response is not None:
                    body = (interaction.response.content or b"")[:300]
                    answer = f" → {interaction.response.status_code} {body!r}"
                    answer = f"{interaction.request.method} {interaction.request.uri}{answer}"
                report.samples[where] = f"{check.failure_info.failure.title}: {answer}"


def main() -> None:
    """``python -m tests.contract``: the full-size run, figures as JSON (``make schemathesis``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500, help="examples per operation")
    parser.add_argument("--out", type=Path, default=Path("bench/results/schemathesis.json"))
    args = parser.parse_args()
    results = []
    for kind in ("gpkg", "postgis"):
        for key in ("admin", "none"):
            report = run(kind, key, args.examples)
            unexpected = report.unexpected()
            results.append(
                {
                    "store": kind,
                    "key": key,
                    "examples_per_operation": args.examples,
                    "operations": report.operations,
                    "cases": report.cases,
                    "seconds": round(report.seconds, 1),
                    "failures_per_check": dict(report.per_check()),
                    "accepted": {
                        f"{c} {o}": n for (c, o), n in report.failures.items() if (c, o) in ACCEPTED
                    },
                    "unexpected": {f"{c} {o}": s for (c, o), s in unexpected.items()},
                    "errors": report.errors,
                }
            )
            print(json.dumps(results[-1], ensure_ascii=False, indent=1), flush=True)
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n")
    if any(r["unexpected"] or r["errors"] for r in results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
