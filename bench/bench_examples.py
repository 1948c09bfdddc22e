"""The six real systems at full scale: run them (optional) and print the CASES.md tables.

    python bench/bench_examples.py --run            # geogrid example NAME --scale full, all six
    python bench/bench_examples.py                  # tables from out/examples/NAME-full/report.json

Each report.json (written by ``geogrid example``) holds the published and rebuilt figures and
the time and peak memory of every stage; this prints them as the Markdown tables of
docs/CASES.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

SYSTEMS = ("ruyang", "qinghu", "zhihe", "jinyuan", "zhuzhou", "wangcheng")


def _value(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    if isinstance(value, int | float):
        return f"{int(value):,}"
    return str(value)


def tables(folder: Path) -> str:
    """Markdown: one figures table per system and one timing table for all."""
    lines: list[str] = []
    timing = [
        "| system | command | total s | partition s | maps s | incidents s | peak MB | valid |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name in SYSTEMS:
        path = folder / f"{name}-full" / "report.json"
        if not path.exists():
            continue
        report = json.loads(path.read_text(encoding="utf-8"))
        county = report["county"]
        lines += [
            f"### {name}: {county['name']} ({county['code']})",
            "",
            "| figure | published | rebuilt | given or made |",
            "| --- | ---: | ---: | --- |",
        ]
        for f in report["figures"]:
            if f["published"] is None:
                continue
            mark = {True: " ✓", False: " ✗", None: ""}[f["matches"]]
            lines.append(
                f"| {f['what']} | {_value(f['published'])} | {_value(f['rebuilt'])}{mark} "
                f"| {'input' if f['role'] == 'input' else 'output'} |"
            )
        lines.append("")
        stages = {s["name"]: s for s in report["stages"]}
        total = sum(s["seconds"] for s in report["stages"])
        maps = sum(stages[n]["seconds"] for n in ("wall maps", "signs", "cards") if n in stages)
        peak = max(s["peak_mb"] for s in report["stages"])
        timing.append(
            f"| {name} | `geogrid example {name} --scale full` | {total:.0f} | "
            f"{stages['partition']['seconds']:.0f} | {maps:.0f} | "
            f"{stages.get('incidents', {}).get('seconds', 0):.0f} | {peak:.0f} | "
            f"{'yes' if report['valid'] else 'NO'} |"
        )
    return "\n".join([*lines, *timing, ""])


def main() -> None:
    """Run (with ``--run``) and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", action="store_true", help="run the six at full scale first")
    parser.add_argument("--out", type=Path, default=Path("out/examples"))
    args = parser.parse_args()
    if args.run:
        for name in SYSTEMS:
            folder = args.out / f"{name}-full"
            command = ["geogrid", "example", name, "--scale", "full", "-o", str(folder)]
            subprocess.run(command, check=True)
    sys.stdout.write(tables(args.out))


if __name__ == "__main__":
    main()
