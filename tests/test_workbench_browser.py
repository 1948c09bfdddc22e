"""The workbench (``/workbench``) in a real Chromium, driven by Playwright, against a real server.

A ``uvicorn`` process serves the app on a free loopback port over an embedded store holding the
Haidian sample (active) and keys of a planner and a supervisor, made through the store as
``geogrid keys create`` makes them. The browser is Debian's Chromium (``/usr/bin/chromium``;
Playwright's own browsers are never downloaded); every request to anything but the local
server is aborted and recorded, and the test fails if one was attempted. Console errors fail
the test, except the one resource error each deliberate refusal (a 422 upload, a 412 save)
makes Chromium log. Screenshots go to the test's ``tmp_path`` (``artefacts/``); one is copied to
``docs/img/workbench.png`` when ``GEOGRID_UPDATE_SCREENSHOT=1``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
from shapely.geometry import shape
from shapely.ops import unary_union

from api.settings import ApiSettings
from geogrid.samples import load_sample
from tests.service import activate, free_port, issue_key, wait_until_up
from tests.workbench_pages import (
    api_call,
    click_unit,
    draft_facts,
    draft_units,
    drag,
    grid_row,
    grid_rows,
    replay,
    screen_point,
    wait_idle,
)

playwright = pytest.importorskip(
    "playwright.sync_api", reason="pip install playwright (the dev extra)"
)
CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists() and os.environ.get("CI") != "true":
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
STREET = "110108900001"  # the sample's first community (荷清苑社区)


@dataclass
class Server:
    url: str
    planner: str
    supervisor: str
    settings: ApiSettings
    plan: str
    log: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``uvicorn`` serving the app over a store with the sample active, and two keys."""
    folder = tmp_path_factory.mktemp("workbench-store")
    settings = ApiSettings(data_dir=folder, database_url=None)
    plan = load_sample()
    activate(settings, plan)
    planner = issue_key(settings, "planner", name="规划员小王")["X-API-Key"]
    supervisor = issue_key(settings, "supervisor", name="审核员老李")["X-API-Key"]
    port = free_port()
    log = folder / "server.log"  # a file, not a pipe nobody reads while the tests run
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEOGRID_")}
    env |= {
        "GEOGRID_DATA_DIR": str(folder),
        "GEOGRID_PLAN_CHECK_SECONDS": "0",
        "GEOGRID_KEY_CACHE_SECONDS": "0",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(process, f"{url}/workbench")
        yield Server(url, planner, supervisor, settings, plan.name, log)
    finally:
        process.terminate()
        process.wait(timeout=20)
        print(log.read_text(errors="replace"))


@dataclass
class Browser:
    """A page with the network cut except the local server, and what it logged."""

    page: object
    artefacts: Path
    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)  # resource errors a step provokes
    shots: int = 0

    def shot(self, name: str) -> Path:
        self.shots += 1
        self.page.evaluate("workbench.fontsSettled()")  # type: ignore[attr-defined]
        path = self.artefacts / f"{self.shots:02d}-{name}.png"
        self.page.screenshot(path=str(path))  # type: ignore[attr-defined]
        return path

    def expect_resource_error(self, status: int) -> None:
        self.expected.append(f"status of {status}")

    def unexpected_errors(self) -> list[str]:
        left = list(self.expected)
        out = []
        for text in self.errors:
            hit = next((e for e in left if "Failed to load resource" in text and e in text), None)
            if hit is None:
                out.append(text)
            else:
                left.remove(hit)
        return out


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM))
        yield browser
        browser.close()


@pytest.fixture
def browser(chromium, server: Server, tmp_path: Path) -> Iterator[Browser]:
    context = chromium.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    page = context.new_page()
    artefacts = tmp_path / "artefacts"
    artefacts.mkdir()
    b = Browser(page, artefacts)

    def route(r) -> None:
        if r.request.url.startswith(server.url + "/"):
            r.continue_()
        else:
            b.outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page.on("console", lambda m: b.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: b.errors.append(f"page error: {e}"))
    page.on(
        "response",
        lambda r: (
            b.errors.append(f"server error {r.status}: {r.request.method} {r.url}")
            if r.status >= 500
            else None
        ),
    )
    yield b
    context.close()
    print(f"screenshots: {artefacts}")
    assert b.outside == [], f"requests outside the local server: {b.outside}"
    assert b.unexpected_errors() == [], (b.errors, server.log.read_text(errors="replace")[-5000:])


def sign_in(b: Browser, server: Server, key: str, lang: str = "zh") -> None:
    page = b.page
    page.goto(f"{server.url}/workbench?lang={lang}")  # type: ignore[attr-defined]
    page.wait_for_selector("body[data-ready=true]")  # type: ignore[attr-defined]
    page.fill("#key", key)  # type: ignore[attr-defined]
    page.click("#signin-go")  # type: ignore[attr-defined]
    page.wait_for_selector("#plans li")  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- tests


def test_the_page_is_served_offline_in_chinese_and_english(
    browser: Browser, server: Server
) -> None:
    page = browser.page
    page.goto(f"{server.url}/workbench")  # type: ignore[attr-defined]
    page.wait_for_selector("body[data-ready=true]")  # type: ignore[attr-defined]
    assert page.title() == "网格编辑工作台"  # type: ignore[attr-defined]
    assert page.inner_text("#signin-go") == "登录"  # type: ignore[attr-defined]
    page.click("#lang")  # type: ignore[attr-defined]
    page.wait_for_selector("body[data-ready=true]")  # type: ignore[attr-defined]
    assert page.inner_text("#signin-go") == "Sign in"  # type: ignore[attr-defined]
    assert "lang=en" in page.url  # type: ignore[attr-defined]


def test_a_planner_signs_in_and_sees_the_plans(browser: Browser, server: Server) -> None:
    sign_in(browser, server, server.planner)
    page = browser.page
    assert server.plan in page.inner_text("#plans")  # type: ignore[attr-defined]
    assert "规划员小王" in page.inner_text("#who")  # type: ignore[attr-defined]
    assert page.is_visible("#upload")  # type: ignore[attr-defined]
    page.click(f"#plans button[data-plan='{server.plan}']")  # type: ignore[attr-defined]
    page.wait_for_selector("#versions .version")  # type: ignore[attr-defined]
    assert "在用" in page.inner_text("#versions")  # type: ignore[attr-defined]
    assert not page.is_visible(".review-approve")  # type: ignore[attr-defined]
    browser.shot("plans")


def test_a_bad_key_is_refused_with_a_message(browser: Browser, server: Server) -> None:
    page = browser.page
    page.goto(f"{server.url}/workbench")  # type: ignore[attr-defined]
    page.wait_for_selector("body[data-ready=true]")  # type: ignore[attr-defined]
    page.fill("#key", "ggk_not_a_key")  # type: ignore[attr-defined]
    browser.expect_resource_error(401)
    page.click("#signin-go")  # type: ignore[attr-defined]
    page.wait_for_selector(".msg-error")  # type: ignore[attr-defined]
    assert "请先登录" in page.inner_text("#messages")  # type: ignore[attr-defined]
    assert not page.is_visible("#upload")  # type: ignore[attr-defined]


def test_an_invalid_upload_shows_its_problems_on_the_map(
    browser: Browser, server: Server, tmp_path: Path
) -> None:
    from shapely.geometry import box

    from geogrid.io import write_plan

    plan = load_sample()
    grids = plan.grids.copy()
    first = grids.index[grids["level"] == 2][0]
    grids.loc[first, "geometry"] = box(*grids.loc[first, "geometry"].bounds).buffer(0.002)
    bad = type(plan)(plan.name, plan.levels, grids)
    path = write_plan(bad, tmp_path / "overlapping.geojson")
    sign_in(browser, server, server.planner)
    page = browser.page
    browser.expect_resource_error(422)
    page.set_input_files("#upload-file", str(path))  # type: ignore[attr-defined]
    page.click("#upload-go")  # type: ignore[attr-defined]
    page.wait_for_selector("#problem-list li")  # type: ignore[attr-defined]
    count = page.eval_on_selector_all("#problem-list li", "els => els.length")  # type: ignore[attr-defined]
    assert count >= 1
    assert "重叠" in page.inner_text("#problem-list")  # type: ignore[attr-defined]
    markers = page.evaluate("document.querySelectorAll('.problem-go').length")  # type: ignore[attr-defined]
    assert markers == count  # every problem has a place
    shapes = page.evaluate(  # type: ignore[attr-defined]
        "workbench.state.map.problems.getLayers().filter(l => l instanceof L.GeoJSON).length"
    )
    assert shapes >= 1  # the overlaps themselves are outlined, not only points
    page.click(".problem-go")  # type: ignore[attr-defined]
    page.wait_for_selector(".leaflet-popup-content")  # type: ignore[attr-defined]
    browser.shot("upload-problems")


# --------------------------------------------------------------------------- the scenario


def test_the_planner_redraws_saves_loses_a_conflict_and_a_supervisor_approves(
    browser: Browser, server: Server
) -> None:
    page = browser.page
    calls: list[tuple[str, str, str | None]] = []  # the draft calls the page makes, to replay
    page.on(  # type: ignore[attr-defined]
        "request",
        lambda r: (
            calls.append((r.method, r.url, r.post_data))
            if "/drafts" in r.url and r.method == "POST"
            else None
        ),
    )
    sign_in(browser, server, server.planner)
    # --- open the sample as a draft (band 300-500)
    page.click(f"#plans button[data-plan='{server.plan}']")  # type: ignore[attr-defined]
    page.click("#versions .open-version")  # type: ignore[attr-defined]
    page.wait_for_selector("#grid-table tbody tr")  # type: ignore[attr-defined]
    draft = page.evaluate("workbench.state.draftId")  # type: ignore[attr-defined]
    rows = page.eval_on_selector_all("#grid-table tbody tr", "els => els.length")  # type: ignore[attr-defined]
    assert rows == 23
    browser.shot("draft-opened")

    # --- run a partition of the first community, with progress, to the end
    page.click("[data-tab=partition]")  # type: ignore[attr-defined]
    page.fill("#partition-grids", STREET)  # type: ignore[attr-defined]
    page.fill("#partition-band", "300-500")  # type: ignore[attr-defined]
    page.click("#partition-go")  # type: ignore[attr-defined]
    page.wait_for_selector("#job:not([hidden])")  # type: ignore[attr-defined]
    browser.shot("partition-running")
    page.wait_for_selector(  # type: ignore[attr-defined]
        "#job[data-state=succeeded], #job[data-state=failed]", timeout=120_000
    )
    assert page.get_attribute("#job", "data-state") == "succeeded"  # type: ignore[attr-defined]
    assert page.evaluate("document.querySelector('#job-progress').value") > 0  # type: ignore[attr-defined]
    browser.shot("partition-done")

    # --- move a building from grid 1 to its neighbour 2: both counts change
    if page.evaluate("workbench.state.draftId") != draft:  # type: ignore[attr-defined]
        page.click("[data-tab=plans]")  # type: ignore[attr-defined]  # the job opened its result
        page.click("#versions .open-version")  # type: ignore[attr-defined]
        page.wait_for_selector("#grid-table tbody tr")  # type: ignore[attr-defined]
        draft = page.evaluate("workbench.state.draftId")  # type: ignore[attr-defined]
    page.click("[data-tab=edit]")  # type: ignore[attr-defined]
    units = draft_units(server, draft)
    one, two, five = (f"{STREET}00{n}" for n in (1, 2, 5))
    by_grid = {code: [u for u in units if u["grid"] == code] for code in (one, two, five)}
    two_area = unary_union([u["geom"] for u in by_grid[two]])
    five_area = unary_union([u["geom"] for u in by_grid[five]])
    border = sorted(
        (u for u in by_grid[one] if u["households"] > 0 and u["geom"].distance(two_area) < 1e-6),
        key=lambda u: -u["households"],
    )[0]
    before = {code: grid_row(page, code)["households"] for code in (one, two)}
    click_unit(page, border)
    page.wait_for_function("workbench.state.selection.length === 1")  # type: ignore[attr-defined]
    assert page.evaluate("workbench.state.selection[0]") == border["unit_id"]  # type: ignore[attr-defined]
    page.select_option("#assign-grid", two)  # type: ignore[attr-defined]
    page.click("#assign-go")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        f"Number(document.querySelector('#grid-table tr[data-code=\"{one}\"] td:nth-child(3)').textContent) === {before[one] - border['households']}"
    )
    assert grid_row(page, two)["households"] == before[two] + border["households"]
    browser.shot("moved")

    # --- break contiguity: a building of grid 1 far from grid 5 into grid 5, flagged
    far = next(
        u for u in by_grid[one] if u["households"] > 0 and u["geom"].distance(five_area) > 1e-4
    )
    click_unit(page, far)
    page.wait_for_function(f"workbench.state.selection[0] === {json.dumps(far['unit_id'])}")  # type: ignore[attr-defined]
    page.select_option("#assign-grid", five)  # type: ignore[attr-defined]
    page.click("#assign-go")  # type: ignore[attr-defined]
    page.wait_for_selector(f"#grid-table tr.broken[data-code='{five}']")  # type: ignore[attr-defined]
    assert "断开" in grid_row(page, five)["pieces"]
    assert page.locator("#draft-problems li.pk-broken").count() >= 1  # type: ignore[attr-defined]
    strays = page.evaluate("workbench.state.map.strays.size")  # type: ignore[attr-defined]
    assert strays >= 1
    page.click("#draft-problems li.pk-broken .problem-go")  # type: ignore[attr-defined]
    browser.shot("contiguity-broken")

    # --- undo with Ctrl+Z: grid 5 whole again
    page.click("#map")  # type: ignore[attr-defined]  # focus out of the form fields
    page.keyboard.press("Control+z")  # type: ignore[attr-defined]
    page.wait_for_selector(f"#grid-table tr[data-code='{five}']:not(.broken)")  # type: ignore[attr-defined]
    assert "连通" in grid_row(page, five)["pieces"]

    # --- push grid 1 above the band (shift-click buildings of grid 2), then balance it
    rest_two = sorted(
        (u for u in units if u["grid"] == two and u["unit_id"] != border["unit_id"]),
        key=lambda u: u["geom"].distance(unary_union([x["geom"] for x in by_grid[one]])),
    )
    need = 500 - grid_row(page, one)["households"] + 30
    chosen, total = [], 0
    for unit in rest_two:
        if total >= need:
            break
        if unit["households"] > 0:
            chosen.append(unit)
            total += unit["households"]
    for i, unit in enumerate(chosen):
        click_unit(page, unit, shift=i > 0)
    picked = page.evaluate("workbench.state.selection")  # type: ignore[attr-defined]
    assert sorted(picked) == sorted(u["unit_id"] for u in chosen), (
        picked,
        [u["unit_id"] for u in chosen],
    )
    page.select_option("#assign-grid", one)  # type: ignore[attr-defined]
    page.click("#assign-go")  # type: ignore[attr-defined]
    page.wait_for_selector(f"#grid-table tr.st-high[data-code='{one}']")  # type: ignore[attr-defined]
    high = grid_row(page, one)["households"]
    assert high > 500
    page.click(f"#grid-table tr[data-code='{one}'] .grid-focus")  # type: ignore[attr-defined]
    page.click("#balance-this")  # type: ignore[attr-defined]
    page.wait_for_selector("#proposal:not([hidden])")  # type: ignore[attr-defined]
    proposal = page.evaluate("workbench.state.proposal")  # type: ignore[attr-defined]
    assert proposal["moves"], proposal
    shot = browser.shot("proposal")
    if os.environ.get("GEOGRID_UPDATE_SCREENSHOT") == "1":  # the README's picture
        shutil.copyfile(shot, ROOT / "docs" / "img" / "workbench.png")
    page.click("#proposal-accept")  # type: ignore[attr-defined]
    page.wait_for_selector("#proposal[hidden]", state="attached")  # type: ignore[attr-defined]
    wait_idle(page)
    assert grid_row(page, one)["households"] == high - sum(
        m["households"] for m in proposal["moves"] if m["from"] == one
    ) + sum(m["households"] for m in proposal["moves"] if m["to"] == one)
    assert "st-ok" in grid_row(page, one)["status"]
    browser.shot("balanced")

    # --- the same calls made through the API alone give the same draft
    replayed = replay(server, calls)
    shown = api_call(server, server.planner, "GET", f"/drafts/{draft}")
    assert draft_facts(replayed) == draft_facts(shown)  # type: ignore[arg-type]

    # --- export the change list (.xlsx)
    page.click("[data-tab=publish]")  # type: ignore[attr-defined]
    with page.expect_download() as download:  # type: ignore[attr-defined]
        page.click("#changes-xlsx")  # type: ignore[attr-defined]
    path = download.value.path()
    assert Path(path).read_bytes()[:2] == b"PK"  # an xlsx (a zip)
    assert download.value.suggested_filename.endswith(".xlsx")

    # --- save: a new draft version
    page.fill("#save-note", "浏览器测试")  # type: ignore[attr-defined]
    page.click("#save-go")  # type: ignore[attr-defined]
    page.wait_for_function("workbench.state.saved !== null")  # type: ignore[attr-defined]
    saved = page.evaluate("workbench.state.saved")  # type: ignore[attr-defined]
    assert saved["version"] == 2 and saved["status"] == "draft"

    # --- someone else saves a newer version; this draft's next save loses, clearly, nothing lost
    other = api_call(server, server.planner, "POST", "/drafts", {"plan": server.plan})
    api_call(
        server, server.planner, "POST", f"/drafts/{other['id']}/save", {"note": "另一位规划员"}
    )  # type: ignore[index]
    page.click("[data-tab=edit]")  # type: ignore[attr-defined]
    page.click(f"#grid-table tr[data-code='{two}'] .lock")  # type: ignore[attr-defined]
    page.wait_for_selector(f"#grid-table tr[data-code='{two}'] .lock[aria-pressed=true]")  # type: ignore[attr-defined]
    revision = page.evaluate("workbench.state.draft.revision")  # type: ignore[attr-defined]
    page.click("[data-tab=publish]")  # type: ignore[attr-defined]
    browser.expect_resource_error(412)
    page.click("#save-go")  # type: ignore[attr-defined]
    page.wait_for_selector("#conflict[open]")  # type: ignore[attr-defined]
    text = page.inner_text("#conflict")  # type: ignore[attr-defined]
    assert "保存冲突" in text and "v3" in text and "您的草稿" in text, text
    assert "草稿保留未丢失" in text
    browser.shot("conflict")
    page.click("#conflict-keep")  # type: ignore[attr-defined]
    assert page.evaluate("workbench.state.draft.revision") == revision  # type: ignore[attr-defined]
    kept = api_call(server, server.planner, "GET", f"/drafts/{draft}")
    assert kept["revision"] == revision and kept["edits"] >= 1  # type: ignore[index]

    # --- a supervisor approves the saved version
    page.click("#signout")  # type: ignore[attr-defined]
    sign_in(browser, server, server.supervisor)
    assert not page.is_visible("#upload")  # type: ignore[attr-defined]
    page.click(f"#plans button[data-plan='{server.plan}']")  # type: ignore[attr-defined]
    page.wait_for_selector("#versions .version")  # type: ignore[attr-defined]
    assert not page.is_visible(".open-version")  # type: ignore[attr-defined]
    page.click("#versions .version[data-version='2'] .review-approve")  # type: ignore[attr-defined]
    page.wait_for_selector("#versions .version.st-approved[data-version='2']")  # type: ignore[attr-defined]
    version = api_call(server, server.supervisor, "GET", f"/plans/{quote(server.plan)}/versions/2")
    assert version["status"] == "approved" and version["approved_by"] == "审核员老李"  # type: ignore[index]
    browser.shot("approved")
    page.click("#versions .version[data-version='2'] .review-activate")  # type: ignore[attr-defined]
    page.wait_for_selector("#versions .version.st-active[data-version='2']")  # type: ignore[attr-defined]
    assert "在用 v2" in page.inner_text("#plans")  # type: ignore[attr-defined]


def _open_sample(browser: Browser, server: Server) -> str:
    page = browser.page
    page.click(f"#plans button[data-plan='{server.plan}']")  # type: ignore[attr-defined]
    page.click("#versions .version[data-version='1'] .open-version")  # type: ignore[attr-defined]
    page.wait_for_selector("#grid-table tbody tr")  # type: ignore[attr-defined]
    return str(page.evaluate("workbench.state.draftId"))  # type: ignore[attr-defined]


def test_box_lasso_new_grid_undo_redo_lock_merge_split_compare_staff_print(
    browser: Browser, server: Server
) -> None:
    page = browser.page
    sign_in(browser, server, server.planner)
    draft = _open_sample(browser, server)
    units = draft_units(server, draft)
    grids = api_call(server, server.planner, "GET", f"/drafts/{draft}/grids")
    shapes = {f["properties"]["code"]: shape(f["geometry"]) for f in grids["features"]}  # type: ignore[index]
    rows = grid_rows(page)

    # --- box select around a building of grid 3, then make it a new grid
    three = next(u for u in units if u["grid"] == f"{STREET}003" and u["households"] > 0)
    p = three["point"]
    x, y = screen_point(page, p.x, p.y, zoom=18)
    page.click("[data-mode=box]")  # type: ignore[attr-defined]
    drag(page, [(x - 4, y - 4), (x + 4, y + 4)])
    page.wait_for_function("workbench.state.selection.length >= 1")  # type: ignore[attr-defined]
    assert three["unit_id"] in page.evaluate("workbench.state.selection")  # type: ignore[attr-defined]
    page.fill("#new-grid-name", "新建测试网格")  # type: ignore[attr-defined]
    page.click("#new-grid")  # type: ignore[attr-defined]
    page.wait_for_function(
        f"document.querySelectorAll('#grid-table tbody tr').length === {rows + 1}"
    )  # type: ignore[attr-defined]
    assert "新建测试网格" in page.inner_text("#grid-table")  # type: ignore[attr-defined]

    # --- undo (button) and redo (Ctrl+Y)
    page.click("#undo")  # type: ignore[attr-defined]
    page.wait_for_function(f"document.querySelectorAll('#grid-table tbody tr').length === {rows}")  # type: ignore[attr-defined]
    page.click("#map")  # type: ignore[attr-defined]
    page.keyboard.press("Control+y")  # type: ignore[attr-defined]
    page.wait_for_function(
        f"document.querySelectorAll('#grid-table tbody tr').length === {rows + 1}"
    )  # type: ignore[attr-defined]

    # --- lasso around a building of grid 4; moving it into a locked grid is refused, with why
    four = next(u for u in units if u["grid"] == f"{STREET}004" and u["households"] > 0)
    p = four["point"]
    x, y = screen_point(page, p.x, p.y, zoom=18)
    page.click("[data-mode=lasso]")  # type: ignore[attr-defined]
    drag(page, [(x - 5, y - 5), (x + 5, y - 5), (x + 5, y + 5), (x - 5, y + 5), (x - 5, y - 4)])
    page.wait_for_function(f"workbench.state.selection.includes({json.dumps(four['unit_id'])})")  # type: ignore[attr-defined]
    page.click("[data-mode=pan]")  # type: ignore[attr-defined]
    six = f"{STREET}006"
    page.click(f"#grid-table tr[data-code='{six}'] .lock")  # type: ignore[attr-defined]
    page.wait_for_selector(f"#grid-table tr[data-code='{six}'] .lock[aria-pressed=true]")  # type: ignore[attr-defined]
    page.select_option("#assign-grid", six)  # type: ignore[attr-defined]
    browser.expect_resource_error(422)
    page.click("#assign-go")  # type: ignore[attr-defined]
    page.wait_for_selector(".msg-error")  # type: ignore[attr-defined]
    refusal = page.inner_text(".msg-error")  # type: ignore[attr-defined]
    assert six in refusal and "已锁定" in refusal, refusal
    browser.shot("refused")

    # --- merge two neighbouring grids of the same community
    a, b = next(
        (c, d)
        for c in shapes
        for d in shapes
        if c < d
        and c.startswith(f"{STREET}00")
        and d.startswith(f"{STREET}00")
        and six not in (c, d)
        and len(c) == len(d) == 15
        and shapes[c].intersection(shapes[d]).length > 0
    )
    rows = grid_rows(page)
    page.select_option("#merge-a", a)  # type: ignore[attr-defined]
    page.select_option("#merge-b", b)  # type: ignore[attr-defined]
    page.click("#merge-go")  # type: ignore[attr-defined]
    page.wait_for_function(
        f"document.querySelectorAll('#grid-table tbody tr').length === {rows - 1}"
    )  # type: ignore[attr-defined]
    assert page.locator(f"#grid-table tr[data-code='{b}']").count() == 0  # type: ignore[attr-defined]

    # --- the merged grid is above the band: re-partition it (a proposal), accept
    page.click(f"#grid-table tr[data-code='{a}'] .grid-focus")  # type: ignore[attr-defined]
    page.click("#repartition")  # type: ignore[attr-defined]
    page.wait_for_selector("#proposal:not([hidden])")  # type: ignore[attr-defined]
    proposal = page.evaluate("workbench.state.proposal")  # type: ignore[attr-defined]
    assert proposal["kind"] == "repartition" and proposal["moves"], proposal
    rows = grid_rows(page)
    page.click("#proposal-accept")  # type: ignore[attr-defined]
    page.wait_for_selector("#proposal[hidden]", state="attached")  # type: ignore[attr-defined]
    wait_idle(page)
    assert grid_rows(page) == rows + len(proposal["new_grids"])

    # --- split another grid along a line drawn across its middle
    c = next(
        code
        for code in sorted(shapes)
        if code.startswith(STREET) and len(code) == 15 and code not in (a, b, six)
    )
    west, south, east, north = shapes[c].bounds
    middle = (south + north) / 2
    page.click(f"#grid-table tr[data-code='{c}'] .grid-focus")  # type: ignore[attr-defined]
    page.evaluate(  # type: ignore[attr-defined]
        "b => { workbench.state.map.map.fitBounds([[b[1], b[0]], [b[3], b[2]]], {padding: [120, 120], animate: false}); }",
        [west, south, east, north],
    )
    start = screen_point(page, west - (east - west) * 0.05, middle)
    end = screen_point(page, east + (east - west) * 0.05, middle)
    page.click("[data-mode=line]")  # type: ignore[attr-defined]
    page.mouse.click(*start)  # type: ignore[attr-defined]
    page.mouse.dblclick(*end)  # type: ignore[attr-defined]
    page.wait_for_selector("#split-go:not([disabled])")  # type: ignore[attr-defined]
    rows = grid_rows(page)
    page.click("#split-go")  # type: ignore[attr-defined]
    wait_idle(page)
    assert grid_rows(page) > rows, (
        rows,
        grid_rows(page),
        page.inner_text("#messages"),  # type: ignore[attr-defined]
        page.evaluate("[workbench.state.focus, workbench.state.line]"),  # type: ignore[attr-defined]
        c,
    )
    browser.shot("split")
    page.click("[data-mode=pan]")  # type: ignore[attr-defined]

    # --- compare with the version opened: its outlines over the draft
    page.check("#compare")  # type: ignore[attr-defined]
    page.wait_for_function("workbench.state.map.map.hasLayer(workbench.state.map.base)")  # type: ignore[attr-defined]
    assert page.evaluate("workbench.state.map.base.getLayers().length") == 1  # type: ignore[attr-defined]
    browser.shot("compare")

    # --- staff of a draft grid, phone checked by the server
    page.click("[data-tab=staff]")  # type: ignore[attr-defined]
    page.select_option("#staff-grid", a)  # type: ignore[attr-defined]
    page.click("#staff-add")  # type: ignore[attr-defined]
    row = page.locator("#staff-table tbody tr").last  # type: ignore[attr-defined]
    row.locator("input[type=text]").fill("王网格")
    row.locator("input[type=tel]").fill("13812345678")
    page.click("#staff-save")  # type: ignore[attr-defined]
    page.wait_for_selector(".msg-ok:has-text('人员已保存')")  # type: ignore[attr-defined]
    staff = api_call(server, server.planner, "GET", f"/drafts/{draft}")["staff"]  # type: ignore[index]
    assert staff[a][0]["name"] == "王网格" and staff[a][0]["phone"] == "13812345678"

    # --- print the draft's wall map
    page.click("[data-tab=publish]")  # type: ignore[attr-defined]
    with page.expect_download(timeout=120_000) as download:  # type: ignore[attr-defined]
        page.click("#print-wall")  # type: ignore[attr-defined]
    assert Path(download.value.path()).read_bytes()[:5] == b"%PDF-"
    for button in ("#print-signs", "#changes-pdf"):  # the signs, the 公示 sheet as PDF
        with page.expect_download(timeout=120_000) as download:  # type: ignore[attr-defined]
            page.click(button)  # type: ignore[attr-defined]
        assert Path(download.value.path()).read_bytes()[:5] == b"%PDF-", button

    # --- the same page in English
    page.goto(f"{server.url}/workbench?lang=en")  # type: ignore[attr-defined]
    page.wait_for_selector("#plans li")  # type: ignore[attr-defined]  # the key is kept for the tab
    assert page.inner_text("#undo") == "Undo"  # type: ignore[attr-defined]
    assert "Signed in" in page.inner_text("#who")  # type: ignore[attr-defined]


def test_the_main_actions_work_from_the_keyboard_with_labelled_controls(
    browser: Browser, server: Server
) -> None:
    page = browser.page
    page.goto(f"{server.url}/workbench")  # type: ignore[attr-defined]
    page.wait_for_selector("body[data-ready=true]")  # type: ignore[attr-defined]
    page.focus("#key")  # type: ignore[attr-defined]
    page.keyboard.type(server.planner)  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    page.wait_for_selector("#plans li button")  # type: ignore[attr-defined]
    page.focus("#plans li button")  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    page.wait_for_selector("#versions .version[data-version='1'] .open-version")  # type: ignore[attr-defined]
    page.focus("#versions .version[data-version='1'] .open-version")  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    page.wait_for_selector("#grid-table tbody tr")  # type: ignore[attr-defined]
    one, two = f"{STREET}001", f"{STREET}002"
    before = grid_row(page, one)["households"], grid_row(page, two)["households"]
    # focus grid 1, open its unit list, tick the first unit with the space bar, assign it to 2
    page.focus(f"#grid-table tr[data-code='{one}'] .grid-focus")  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    page.focus("#grid-units-box summary")  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    page.focus("#grid-units li:first-child input")  # type: ignore[attr-defined]
    page.keyboard.press("Space")  # type: ignore[attr-defined]
    page.wait_for_function("workbench.state.selection.length === 1")  # type: ignore[attr-defined]
    unit = page.evaluate("workbench.state.selection[0]")  # type: ignore[attr-defined]
    households = page.evaluate(  # type: ignore[attr-defined]
        "id => workbench.state.map.unitProps(id).households", unit
    )
    page.focus("#assign-grid")  # type: ignore[attr-defined]
    page.select_option("#assign-grid", two)  # type: ignore[attr-defined]
    page.focus("#assign-go")  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        f"document.querySelector('#grid-table tr[data-code=\"{two}\"] td:nth-child(3)')"
        f".textContent === '{before[1] + households}'"
    )
    assert grid_row(page, one)["households"] == before[0] - households
    page.focus("#undo")  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        f"document.querySelector('#grid-table tr[data-code=\"{two}\"] td:nth-child(3)')"
        f".textContent === '{before[1]}'"
    )
    # every visible field has a label (a <label> or aria-label); every button has a name
    unlabelled = page.evaluate(  # type: ignore[attr-defined]
        """() => [...document.querySelectorAll('input, select, button')]
          .filter(el => el.offsetParent !== null)
          .filter(el => el.tagName === 'BUTTON'
              ? !(el.textContent.trim() || el.getAttribute('aria-label'))
              : !(el.labels?.length || el.getAttribute('aria-label')))
          .map(el => el.outerHTML.slice(0, 80))"""
    )
    assert unlabelled == []


def test_a_partition_of_uploaded_files_lands_in_the_editor(
    browser: Browser, server: Server
) -> None:
    from geogrid.samples import sample_path

    page = browser.page
    sign_in(browser, server, server.planner)
    page.click("[data-tab=partition]")  # type: ignore[attr-defined]
    page.check("input[name=source][value=files]")  # type: ignore[attr-defined]
    page.set_input_files("#partition-area", str(sample_path("haidian", "area.geojson")))  # type: ignore[attr-defined]
    page.set_input_files(  # type: ignore[attr-defined]
        "#partition-households", str(sample_path("haidian", "households.gpkg"))
    )
    page.set_input_files("#partition-barriers", str(sample_path("haidian", "roads.gpkg")))  # type: ignore[attr-defined]
    page.fill("#partition-band", "300-500")  # type: ignore[attr-defined]
    page.click("#partition-go")  # type: ignore[attr-defined]
    page.wait_for_selector(  # type: ignore[attr-defined]  # the page may hide it at once
        "#job[data-state=succeeded], #job[data-state=failed], .msg-error",
        state="attached",
        timeout=240_000,
    )
    assert page.get_attribute("#job", "data-state") == "succeeded", page.inner_text("body")  # type: ignore[attr-defined]
    page.wait_for_selector("#tab-edit:not([hidden]) #grid-table tbody tr")  # type: ignore[attr-defined]
    draft = page.evaluate("workbench.state.draft")  # type: ignore[attr-defined]
    assert draft["base_version"] is None and len(draft["grids"]) >= 20
    assert sum(g["households"] for g in draft["grids"]) == 9395  # every household of the sample
    assert "划分完成" in page.inner_text("#messages")  # type: ignore[attr-defined]
    browser.shot("partition-result")


def test_a_running_partition_is_cancelled_from_the_page(browser: Browser, server: Server) -> None:
    page = browser.page
    sign_in(browser, server, server.planner)
    _open_sample(browser, server)
    page.click("[data-tab=partition]")  # type: ignore[attr-defined]
    page.fill("#partition-grids", "")  # type: ignore[attr-defined]  # every community of the plan
    page.click("#partition-go")  # type: ignore[attr-defined]
    page.wait_for_selector("#job[data-state=queued], #job[data-state=running]")  # type: ignore[attr-defined]
    page.click("#job-cancel")  # type: ignore[attr-defined]
    page.wait_for_selector("#job[data-state=cancelled]", timeout=60_000)  # type: ignore[attr-defined]
    assert "已取消" in page.inner_text("#job-state")  # type: ignore[attr-defined]
    assert "已取消" in page.inner_text("#messages")  # type: ignore[attr-defined]
