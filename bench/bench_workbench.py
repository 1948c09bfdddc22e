"""Benchmark: the workbench page in Debian's Chromium (Playwright), against a real server.

A street of ``2 × COLUMNS`` grids, each cut into ``PER_SIDE²`` units of 25 households
(``tests.service.with_units(street_plan(COLUMNS), PER_SIDE)``), is stored active in an
embedded store; ``uvicorn`` serves it on a loopback port. The browser signs in and then:

* **open**: from the click on "open" to the grid table filled and every unit drawn (the draft
  made on the server, ``/units``, ``/grids``, the canvas), with the calls' share; then the same
  version opened again (a second draft: the server has the version opened in memory);
* **move**: ``--moves`` times, the same 100 units (of grids 3, 4 …) assigned to grid 1, then 2,
  in turn (selection set in the page, then the click on "assign"): from the click to the new
  counts in the table, timed by Playwright and by the page's own clock (click → the first frame
  after the answer is merged, outlines included), with the ``POST /edits`` call's share; median
  and p95;
* **balance**: "balance this grid" on the grid the moves pushed above the band: click to
  proposal shown;
* **heap**: the page's JS heap (``performance.memory.usedJSHeapSize``) at the end.

    .venv/bin/python bench/bench_workbench.py --columns 1250 --per-side 5   # 2,500 grids, 62,500 units
    .venv/bin/python bench/bench_workbench.py --columns 100 --per-side 4 --moves 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from api.settings import ApiSettings  # noqa: E402
from tests.service import (  # noqa: E402
    activate,
    free_port,
    issue_key,
    street_plan,
    wait_until_up,
    with_units,
)

PAGE_CLOCK = """() => {
  // the page's own clock: the click on "assign", then the first frame after the page is idle
  window.benchClick = 0;
  window.benchDone = 0;
  document.querySelector("#assign-go").addEventListener("click", () => {
    window.benchClick = performance.now();
    window.benchDone = 0;
  }, { capture: true });
  new MutationObserver(() => {
    if (window.benchClick && !window.benchDone && !document.body.classList.contains("busy")) {
      requestAnimationFrame(() => { window.benchDone = performance.now(); });
    }
  }).observe(document.body, { attributes: true, attributeFilter: ["class"] });
}"""


def _ms(values: list[float]) -> str:
    """Median and p95 of ``values`` (seconds) in ms."""
    p95 = statistics.quantiles(values, n=20)[-1] if len(values) >= 20 else max(values)
    return f"{statistics.median(values) * 1000:.0f} / {p95 * 1000:.0f} ms"


def _open(page: Any, grids: int, units: int, label: str) -> None:
    """Click "open" on the version; print click → ready and the calls' share of it."""
    if not page.is_visible("#versions .open-version"):
        page.click(".tabs [role=tab][data-tab='plans']")
    before = page.evaluate("performance.clearResourceTimings(); workbench.state.draftId ?? ''")
    start = time.perf_counter()
    page.click("#versions .open-version")
    page.wait_for_function(
        f"workbench.state.draftId && workbench.state.draftId !== '{before}'"
        " && performance.getEntriesByType('resource').some((e) =>"
        " e.name.includes(`/drafts/${workbench.state.draftId}/grids`))"
        f" && document.querySelectorAll('#grid-table tbody tr').length === {grids}"
        f" && workbench.state.map.unitCount === {units}"
    )
    page.evaluate("new Promise(r => requestAnimationFrame(() => r()))")
    opened = time.perf_counter() - start
    print(f"{label}: {opened:.2f} s", flush=True)
    calls = page.evaluate(
        """() => performance.getEntriesByType("resource")
            .filter((e) => /\\/drafts(\\/[0-9a-f]+(\\/(units|grids))?)?(\\?.*)?$/.test(e.name))
            .map((e) => [new URL(e.name).pathname.replace(/[0-9a-f]{32}/, "{id}"),
                         e.duration, e.transferSize, e.startTime, e.responseEnd])"""
    )
    waited, end = 0.0, 0.0  # the time some call was under way (calls overlap)
    for *_, begin, finish in sorted(calls, key=lambda call: call[3]):
        waited += max(0.0, finish - max(begin, end))
        end = max(end, finish)
    waited /= 1000
    for path, duration, size, *_ in calls:
        print(f"  {path}: {duration:.0f} ms, {size / 2**20:.1f} MB", flush=True)
    print(f"  calls {waited:.2f} s, the page's own work {opened - waited:.2f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", type=int, default=1250)
    parser.add_argument("--per-side", type=int, default=5)
    parser.add_argument("--moves", type=int, default=50)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="geogrid-bench-workbench-"))
    settings = ApiSettings(data_dir=folder, database_url=None)
    plan = with_units(street_plan(args.columns), per_side=args.per_side)
    grids, units = len(plan.level(2)), len(plan.units)
    per_grid = args.per_side**2 * 25
    band = f"{int(per_grid * 0.6)}-{int(per_grid * 1.4)}"
    activate(settings, plan)
    key = issue_key(settings, "planner")["X-API-Key"]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEOGRID_")}
    env |= {"GEOGRID_DATA_DIR": str(folder), "GEOGRID_MAX_BODY_BYTES": "50000000"}
    log = (folder / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(server, f"{url}/workbench")
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--enable-precise-memory-info"]
            )
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(600_000)
            page.on("pageerror", lambda error: print(f"page error: {error}", flush=True))
            page.on(
                "console",
                lambda m: print(f"console: {m.text}", flush=True) if m.type == "error" else None,
            )
            page.goto(f"{url}/workbench")
            page.fill("#key", key)
            page.click("#signin-go")
            page.wait_for_selector("#plans li button")
            page.click("#plans li button")
            page.fill("#open-band", band)
            page.wait_for_selector("#versions .open-version")
            _open(page, grids, units, f"{grids} grids, {units} units: open to ready")
            _open(page, grids, units, "the same version opened again (a second draft)")
            codes = [f"110108001001{n:03d}" for n in (1, 2)]
            # 100 units of the grids after the first two, moved to grid 1 and 2 in turn
            chosen = page.evaluate(
                """(codes) => workbench.state.map.unitList()
                    .filter((p) => p.grid.startsWith("110108001001") && !codes.includes(p.grid))
                    .slice(0, 100).map((p) => p.unit_id)""",
                codes,
            )
            page.evaluate(PAGE_CLOCK)
            walls, pages, edits = [], [], []
            for i in range(args.moves):
                target = codes[i % 2]
                page.evaluate(
                    """(ids) => {
                      workbench.state.selection = ids;
                      workbench.state.map.setSelection(ids);
                      performance.clearResourceTimings();
                    }""",
                    chosen,
                )
                page.select_option("#assign-grid", target)
                before = page.inner_text(f"#grid-table tr[data-code='{target}'] td:nth-child(3)")
                start = time.perf_counter()
                page.click("#assign-go")
                page.wait_for_function(
                    f"document.querySelector(\"#grid-table tr[data-code='{target}'] "
                    f"td:nth-child(3)\").textContent !== '{before}' && window.benchDone > 0"
                )
                walls.append(time.perf_counter() - start)
                inside, call = page.evaluate(
                    """() => [window.benchDone - window.benchClick,
                              performance.getEntriesByType("resource")
                                .filter((e) => e.name.includes("/edits"))
                                .map((e) => e.duration).pop() ?? 0]"""
                )
                pages.append(inside / 1000)
                edits.append(call / 1000)
            if walls:
                print(f"move 100 units ({len(walls)} moves), median / p95:", flush=True)
                for label, values in (
                    ("click → counts shown (Playwright)", walls),
                    ("click → counts painted (in the page)", pages),
                    ("  of which POST /edits", edits),
                ):
                    print(f"  {label}: {_ms(values)}", flush=True)
            page.click(f"#grid-table tr[data-code='{codes[0]}'] .grid-focus")
            start = time.perf_counter()
            page.click("#balance-this")
            page.wait_for_selector("#proposal:not([hidden])")
            print(f"balance this grid: {time.perf_counter() - start:.2f} s", flush=True)
            moved = page.inner_text("#proposal-text")
            print(f"  proposal: {moved}", flush=True)
            heap = page.evaluate("performance.memory.usedJSHeapSize")
            print(f"JS heap: {heap / 2**20:.0f} MB", flush=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
