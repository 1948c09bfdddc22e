"""The workbench draws a big stored plan's reference layer from ``/tiles``, in a real Chromium.

A ``uvicorn`` process serves the Haidian sample (active) with ``GEOGRID_TILES_ABOVE_GRIDS``
set below its grid count, so the page must take the tiles path; Debian's Chromium, every
request outside the local server aborted (the test fails if one is tried). Opening the sample
as a draft and ticking *compare* draws the version opened from vector tiles (the vendored
Leaflet.VectorGrid, served by ``/workbench/vectorgrid/``) instead of fetching its GeoJSON.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.settings import ApiSettings
from geogrid.samples import load_sample
from tests.service import activate, free_port, issue_key, wait_until_up

playwright = pytest.importorskip(
    "playwright.sync_api", reason="pip install playwright (the dev extra)"
)
CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
# canvas pixels drawn in the reference pane (the base's outlines from the tiles)
_DRAWN = """() => {
  let drawn = 0;
  for (const canvas of document.querySelectorAll('.leaflet-reference-pane canvas')) {
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) drawn++;
  }
  return drawn;
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """The app over a store with the sample active, tiles above 5 grids; URL, key, plan."""
    folder = tmp_path_factory.mktemp("workbench-tiles")
    settings = ApiSettings(data_dir=folder, database_url=None)
    plan = load_sample()
    activate(settings, plan)
    key = issue_key(settings, "planner", name="规划员小王")["X-API-Key"]
    port = free_port()
    log = folder / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEOGRID_")}
    env |= {"GEOGRID_DATA_DIR": str(folder), "GEOGRID_TILES_ABOVE_GRIDS": "5"}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(process, f"{url}/workbench")
        yield url, key, plan.name
    finally:
        process.terminate()
        process.wait(timeout=20)
        print(log.read_text(errors="replace"))


def test_compare_draws_the_base_from_tiles_above_the_threshold(server, tmp_path) -> None:
    url, key, plan = server
    outside: list[str] = []
    errors: list[str] = []
    requests: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM))
        context = browser.new_context(viewport={"width": 1200, "height": 800})

        def route(r) -> None:
            if r.request.url.startswith(url + "/"):
                r.continue_()
            else:
                outside.append(r.request.url)
                r.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        tiles: list[int] = []
        page.on("request", lambda r: requests.append(r.url))
        page.on("response", lambda r: tiles.append(r.status) if r.url.endswith(".mvt") else None)
        page.goto(f"{url}/workbench")
        page.wait_for_selector("body[data-ready=true]")
        page.fill("#key", key)
        page.click("#signin-go")
        page.click(f"#plans button[data-plan='{plan}']")
        page.click("#versions .version[data-version='1'] .open-version")
        page.wait_for_selector("#grid-table tbody tr")
        page.check("#compare")
        page.wait_for_function("workbench.state.map.map.hasLayer(workbench.state.map.base)")
        page.wait_for_function("typeof L.VectorGrid === 'function'")
        page.wait_for_function(f"({_DRAWN})() > 100", timeout=20_000)
        layers = page.evaluate(
            "workbench.state.map.base.getLayers().map((l) => l instanceof L.VectorGrid)"
        )
        page.screenshot(path=str(tmp_path / "compare-from-tiles.png"))
        browser.close()
    assert outside == [] and errors == [], (outside, errors)
    assert layers == [True]  # one layer, drawn from the tiles
    assert tiles and set(tiles) <= {200, 204} and 200 in tiles
    assert any("/workbench/vectorgrid/leaflet-vectorgrid.js" in r for r in requests)
    assert not any("which=base" in r for r in requests)  # no GeoJSON of the base
