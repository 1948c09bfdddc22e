"""Tests of the web map (geogrid.render.webmap): offline HTML checked in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from test_render import ARTIFACTS, SAMPLE, crafted_plan, lattice_plan

from geogrid.errors import InvalidInputError

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (apt-get install chromium)"
)
# Collects script errors into an attribute of <html>, which --dump-dom shows.
PROBE = (
    "<script>window.addEventListener('error', function (e) {"
    " var h = document.documentElement; h.setAttribute('data-errors',"
    " (h.getAttribute('data-errors') || '') + '|' + e.message); });</script>"
)
AFTER_LOAD = (
    "<script>window.addEventListener('load', function () { var h = document.documentElement;"
    " h.setAttribute('data-paths', document.querySelectorAll('path.leaflet-interactive').length);"
    " h.setAttribute('data-panes', document.querySelectorAll('.leaflet-pane').length);"
    " h.setAttribute('data-search', String(geogridSearch(SEARCH))); });</script>"
)


def chromium(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium with the network cut off (proxy to a closed port, no DNS)."""
    profile = tmp_path / "chromium-profile"
    command = [
        CHROMIUM or "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--proxy-server=127.0.0.1:9",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=5000",
        "--window-size=1200,900",
        *args,
        url,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def open_in_chromium(html_path: Path, tmp_path: Path, search: str) -> dict[str, str]:
    """Open the map; return the probe's attributes; fail on console messages or script errors."""
    text = html_path.read_text(encoding="utf-8")
    probed = tmp_path / f"probe-{html_path.name}"
    after = AFTER_LOAD.replace("SEARCH", json.dumps(search))
    probed.write_text(
        text.replace("<head>", "<head>" + PROBE, 1).replace("</html>", after + "</html>"), "utf-8"
    )
    run = chromium(probed.as_uri(), tmp_path, "--dump-dom")
    assert console_lines(run.stderr) == []
    head = re.search(r"<html([^>]*)>", run.stdout)
    assert head, run.stdout[:500]
    attributes = dict(re.findall(r'data-([a-z]+)="([^"]*)"', head.group(1)))
    assert "errors" not in attributes, attributes
    return attributes


def screenshot(html_path: Path, tmp_path: Path, name: str) -> Path:
    from PIL import Image

    shot = tmp_path / name
    run = chromium(html_path.as_uri(), tmp_path, f"--screenshot={shot}")
    assert console_lines(run.stderr) == []
    with Image.open(shot) as image:
        assert image.size == (1200, 900)
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
        assert colours is not None and len(colours) > 20  # not a blank page
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / name)
    return shot


# --------------------------------------------------------------------------- the HTML


def test_web_map_is_self_contained(tmp_path):
    from geogrid.render import colour_grids, render_web_map

    plan = crafted_plan()
    web = render_web_map(plan, tmp_path / "map.html")
    assert web.path == tmp_path / "map.html" and web.path.read_text("utf-8") == web.html
    assert not re.search(r'<(script|link|img)\b[^>]*(src|href)="(https?:)?//', web.html)
    for host in ("jsdelivr", "cdnjs", "code.jquery", "bootstrapcdn", "unpkg"):
        assert host not in web.html
    assert "Leaflet 1.9.4" in web.html  # the vendored library, inlined
    assert "data:image/png;base64," in web.html
    assert "清华园一网格" in web.html and "13900000000" in web.html
    assert web.colours[2] == colour_grids(plan, 2)
    assert web.size < 400_000


def test_tiles_are_optional_and_gcj02_shifts_the_grids(tmp_path):
    from geogrid.render import render_web_map

    plan = crafted_plan()
    plain = render_web_map(plan)
    assert "L.tileLayer(" not in plain.html
    url = "http://tiles.intranet/{z}/{x}/{y}.png"
    shifted = render_web_map(plan, tiles=url, tile_attribution="本单位底图", tiles_crs="gcj02")
    assert url in shifted.html and "本单位底图" in shifted.html

    def first_point(document: str) -> tuple[float, float]:
        from geogrid.render.webmap import decode_ring

        ring = re.search(
            r'geogridGrids\(\{"fields":.*?"features":\[\[\[.*?\],\[\["((?:[^"\\]|\\.)*)"', document
        )
        x, y = decode_ring(json.loads(f'"{ring.group(1)}"'))[0]
        return float(x), float(y)

    (x0, y0), (x1, y1) = first_point(plain.html), first_point(shifted.html)
    assert 0.003 < x1 - x0 < 0.01 and 0.0005 < y1 - y0 < 0.003  # the GCJ-02 offset in Beijing


def test_web_map_errors(tmp_path):
    from geogrid.render import render_web_map

    with pytest.raises(InvalidInputError, match="tile_attribution"):
        render_web_map(crafted_plan(), tiles="http://x/{z}/{x}/{y}.png")
    with pytest.raises(InvalidInputError, match="use one of wgs84, gcj02"):
        render_web_map(crafted_plan(), tiles_crs="bd09")
    with pytest.raises(InvalidInputError, match=r"\.html"):
        render_web_map(crafted_plan(), tmp_path / "map.pdf")


def test_coverage_simplification_keeps_shared_edges():
    from geogrid.render.webmap import simplify_coverage

    # staircase regions: 1,200 cells of 50 m (integer metres, so shared corners are equal),
    # each given to the nearest of 12 seeds
    rng = np.random.default_rng(5)
    seeds = rng.uniform([440_000, 4_430_000], [442_000, 4_431_500], size=(12, 2))
    xs, ys = np.meshgrid(440_000 + np.arange(40) * 50, 4_430_000 + np.arange(30) * 50)
    corners = np.column_stack([xs.ravel(), ys.ravel()]).astype(float)
    owner = np.argmin(
        np.hypot(*(corners[:, None, :] - seeds[None, :, :]).transpose(2, 0, 1)), axis=1
    )
    cells = shapely.box(corners[:, 0], corners[:, 1], corners[:, 0] + 50, corners[:, 1] + 50)
    regions = [shapely.coverage_union_all(cells[owner == k]) for k in np.unique(owner)]
    grids = gpd.GeoSeries(regions, crs=4548).to_crs(4490)
    assert shapely.coverage_is_valid(grids.to_numpy())
    simple, done = simplify_coverage(grids, 5.0)
    assert done
    assert shapely.coverage_is_valid(simple.to_crs(3857).to_numpy())
    before = shapely.get_num_coordinates(grids.to_numpy()).sum()
    after = shapely.get_num_coordinates(simple.to_numpy()).sum()
    assert after < before / 2


# --------------------------------------------------------------------------- in a browser


@needs_chromium
def test_web_map_shows_offline_in_chromium(tmp_path):
    from geogrid.render import render_web_map

    plan = crafted_plan()
    incidents = gpd.GeoDataFrame(
        {"category": ["占道经营"], "description": ["早市摊位"]},
        geometry=[shapely.Point(116.305, 40.015)],
        crs=4326,
    )
    web = render_web_map(plan, tmp_path / "crafted.html", incidents=incidents)
    assert "L.heatLayer(" in web.html and "simpleheat" in web.html  # the vendored plugin, inlined
    found = open_in_chromium(web.path, tmp_path, "东升二网格")
    # 2 communities + 6 grids + 1 incident marker, drawn as SVG paths in Leaflet's panes
    assert int(found["paths"]) == 9 and int(found["panes"]) >= 6
    assert found["search"] == "true"
    screenshot(web.path, tmp_path, "web-map-crafted.png")


@needs_chromium
def test_many_grids_in_chromium(tmp_path):
    from geogrid.render import render_web_map

    web = render_web_map(lattice_plan(25, 24), tmp_path / "lattice.html")
    found = open_in_chromium(web.path, tmp_path, "110108001600")
    assert int(found["paths"]) == 600 and found["search"] == "true"


@needs_chromium
@pytest.mark.skipif(not (SAMPLE / "plan.gpkg").exists(), reason="sample plan not built yet")
def test_sample_web_map_in_chromium(tmp_path):
    from geogrid.io import read_plan
    from geogrid.render import render_web_map

    plan = read_plan(SAMPLE / "plan.gpkg")
    web = render_web_map(plan, tmp_path / "haidian.html")
    assert all(web.simplified.values())
    found = open_in_chromium(web.path, tmp_path, plan.level(plan.depth)["name"].iloc[0])
    assert int(found["paths"]) == len(plan.grids) and found["search"] == "true"
    screenshot(web.path, tmp_path, "web-map-haidian.png")


def test_titles_and_names_are_text_not_template_code() -> None:
    """folium's elements are Jinja templates: a title with {{ … }} must stay text."""
    from geogrid.render.webmap import render_web_map
    from geogrid.samples import load_sample

    plan = load_sample()
    plan.attribution = "{% for x in range(3) %}重复{% endfor %}"
    web = render_web_map(plan, None, title="{{ 7*7 }} 网格 \x0e {% if %}")
    assert "&#123;&#123; 7*7 &#125;&#125;" in web.html and "49 网格" not in web.html
    assert "重复重复重复" not in web.html and "&#123;% for x in range(3) %&#125;" in web.html
