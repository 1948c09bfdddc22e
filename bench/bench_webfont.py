"""Benchmark: making the subset CJK web font of a page (geogrid.render.webfont).

Characters are the first N of GB 2312 level 1 (the 3,755 most common hanzi, in pinyin order),
as a page of names would hold. For each N: the first making (empty disk cache), a repeat from
the disk cache (memory emptied) and from memory; the WOFF2 size. Then the county web map of
``bench_maps.py`` (2,500 grids with staff): its characters and the font's share of the page.
Medians of ``--repeat`` runs; CPU seconds of this process (the machine is shared), wall time
in brackets.

    .venv/bin/python bench/bench_webfont.py              # writes the "## Web fonts" section
    .venv/bin/python bench/bench_webfont.py --no-write --repeat 1
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_docs import replace_section  # noqa: E402
from bench_maps import make_plan, timed  # noqa: E402

import geogrid.render.webfont as webfont  # noqa: E402
from geogrid.render import render_web_map  # noqa: E402
from geogrid.render.fonts import cjk_font_source  # noqa: E402

SIZES = (50, 400, 1000, 3000)


def common_hanzi(n: int) -> str:
    """The first ``n`` characters of GB 2312 level 1 (rows 16-55)."""
    chars = []
    for row in range(0xB0, 0xD8):
        for cell in range(0xA1, 0xFF):
            try:
                chars.append(bytes([row, cell]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return "".join(chars[:n])


def run(repeat: int) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []

    def add(what: str, seconds: tuple[float, float], size: str) -> None:
        cpu, wall = seconds
        shown = f"{cpu * 1000:.0f} ms ({wall * 1000:.0f} ms wall)"
        if cpu < 0.01:
            shown = f"{cpu * 1000:.2f} ms ({wall * 1000:.2f} ms wall)"
        rows.append((what, shown, size))
        print(f"{what:60s} {shown:28s} {size}", flush=True)

    webfont.web_font(["预热"], folder=tempfile.mkdtemp())  # imports, font lookup
    for n in SIZES:
        text = common_hanzi(n)

        def make(text: str = text) -> webfont.WebFont:
            webfont._memory.clear()
            return webfont.web_font([text], folder=tempfile.mkdtemp(prefix="bench-font-"))

        seconds, font = timed(make, repeat)
        size = f"{len(font.data) / 1000:.0f} kB WOFF2"  # type: ignore[attr-defined]
        add(f"{n:,} hanzi + ASCII and punctuation: made", seconds, size)
        folder = tempfile.mkdtemp(prefix="bench-font-")
        webfont.web_font([text], folder=folder)

        def from_disk(text: str = text, folder: str = folder) -> webfont.WebFont:
            webfont._memory.clear()
            return webfont.web_font([text], folder=folder)

        add(f"{n:,} hanzi: from the disk cache", timed(from_disk, repeat)[0], "")

        def from_memory(text: str = text, folder: str = folder) -> webfont.WebFont:
            return webfont.web_font([text], folder=folder)

        add(f"{n:,} hanzi: from memory", timed(from_memory, 5)[0], "")

    plan = make_plan(2500, 260)
    web = render_web_map(plan)
    chars = {c for c in webfont.page_characters(web.html) if not c.isascii()}
    font = webfont.web_font(webfont.page_characters(web.html))
    rows.append(
        (
            f"county web map (2,500 grids): {len(chars)} non-ASCII characters",
            "",
            f"font {len(font.data) / 1000:.0f} kB of {web.size / 1e6:.1f} MB (base64)",
        )
    )
    return rows


def section(rows: list[tuple[str, str, str]], repeat: int) -> str:
    import fontTools

    source = cjk_font_source()
    lines = [
        "## Web fonts",
        "",
        "The subset CJK web font a page ships (`geogrid.render.webfont.web_font`): Noto Sans CJK "
        f"SC ({source.name}, {source.stat().st_size / 1e6:.1f} MB) subset with fontTools, CFF "
        "outlines kept, WOFF2 (brotli). Characters are the first N of GB 2312 level 1; made = "
        "empty cache. CPU time of the benchmark process (the machine is shared; wall in "
        f"brackets), medians of {repeat} run(s).",
        "",
        f"Machine: {platform.machine()}, Python {platform.python_version()}, "
        f"fontTools {fontTools.version}; load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores when done.",
        "",
        "```",
        "    .venv/bin/python bench/bench_webfont.py",
        "```",
        "",
        "| what | CPU time (wall) | size |",
        "| --- | --- | --- |",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rows = run(args.repeat)
    if not args.no_write:
        replace_section(ROOT / "docs" / "BENCHMARKS.md", "Web fonts", section(rows, args.repeat))


if __name__ == "__main__":
    main()
