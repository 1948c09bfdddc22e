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

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from api.settings import ApiSettings
from geogrid.samples import load_sample
from tests.service import activate, free_port, issue_key, wait_until_up

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
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEOGRID_")}
    env |= {
        "GEOGRID_DATA_DIR": str(folder),
        "GEOGRID_PLAN_CHECK_SECONDS": "0",
        "GEOGRID_KEY_CACHE_SECONDS": "0",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(process, f"{url}/workbench")
        yield Server(url, planner, supervisor, settings, plan.name)
    finally:
        process.terminate()
        output = process.communicate(timeout=20)[0].decode()
        print(output)


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
    yield b
    context.close()
    print(f"screenshots: {artefacts}")
    assert b.outside == [], f"requests outside the local server: {b.outside}"
    assert b.unexpected_errors() == [], b.errors


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
    assert markers >= 1
    page.click(".problem-go")  # type: ignore[attr-defined]
    page.wait_for_selector(".leaflet-popup-content")  # type: ignore[attr-defined]
    browser.shot("upload-problems")
