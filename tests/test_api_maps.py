"""``/maps`` through the real HTTP app, on the embedded store and on PostGIS.

The sample plan (Haidian) is saved, approved and activated in a fresh store; the answers are
opened as real files: pypdf for the page size, ``pdftotext`` (poppler) for the Chinese text.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from api.main import create_app
from api.settings import ApiSettings
from geogrid.plan import GridPlan
from geogrid.samples import load_sample
from geogrid.store import open_store

PT_PER_MM = 72 / 25.4
A4_PT = (210 * PT_PER_MM, 297 * PT_PER_MM)
A3_PT = (297 * PT_PER_MM, 420 * PT_PER_MM)
GRID = "110108900001002"  # 荷清苑第二网格, level 2
COMMUNITY = "110108900001"  # 荷清苑社区, level 1


@functools.cache
def _sample() -> GridPlan:
    return load_sample("haidian")


@pytest.fixture
def settings(store_url: str, tmp_path: Path) -> ApiSettings:
    """Service settings over a store of each kind holding the active sample plan."""
    plan = _sample()
    with open_store(store_url) as store:
        info = store.save(plan, by="规划员")
        store.approve(plan.name, info.version, by="审核员")
        store.activate(plan.name, info.version, by="审核员")
    return ApiSettings(database_url=store_url, data_dir=tmp_path, plan_check_seconds=0)


@pytest.fixture
def client(settings: ApiSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def pdf_text(content: bytes) -> str:
    """The text of a PDF by poppler's ``pdftotext``, which must not warn."""
    done = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-", "-"], input=content, capture_output=True, check=True
    )
    assert done.stderr == b"", done.stderr.decode(errors="replace")
    return done.stdout.decode("utf-8")


def page_sizes(content: bytes) -> list[tuple[float, float]]:
    reader = PdfReader(io.BytesIO(content))
    return [(float(p.mediabox.width), float(p.mediabox.height)) for p in reader.pages]


# --------------------------------------------------------------------------- wall map


@pytest.mark.parametrize(
    ("params", "size"),
    [
        ({"paper": "A4"}, A4_PT),
        ({"paper": "a3", "landscape": "true"}, A3_PT[::-1]),
    ],
    ids=["A4", "A3-landscape"],
)
def test_wall_map_is_a_pdf_of_the_paper_size_with_the_chinese_title(client, params, size) -> None:
    title = "荷清苑街道网格示意图 ($2$ 版)"  # "$…$" is text, not mathtext
    response = client.get("/maps/wall.pdf", params={**params, "title": title})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("inline;")
    assert response.content.startswith(b"%PDF-")
    sizes = page_sizes(response.content)
    assert sizes[0] == pytest.approx(size, abs=0.5)
    text = pdf_text(response.content)
    assert title in text
    assert "荷清苑第二网格" in text  # a label or legend row
    assert "OpenStreetMap" in text  # the attribution survives the store


def test_wall_map_defaults_to_the_plan_name_and_takes_a_level(client) -> None:
    response = client.get("/maps/wall.pdf", params={"paper": "A4", "level": 1})
    assert response.status_code == 200, response.text
    text = pdf_text(response.content)
    assert "海淀区示例街道网格划分" in text
    assert "荷清苑社区" in text
    assert "荷清苑第二网格" not in text  # level 1 lists communities only


def test_bad_paper_is_422_naming_the_valid_sizes(client) -> None:
    response = client.get("/maps/wall.pdf", params={"paper": "B5"})
    assert response.status_code == 422
    message = str(response.json()["detail"])
    assert all(size in message for size in ("A0", "A1", "A2", "A3", "A4"))


def test_missing_level_is_422_naming_the_levels(client) -> None:
    response = client.get("/maps/wall.pdf", params={"paper": "A4", "level": 3})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail[0]["loc"] == ["query", "level"]
    assert "levels: 1, 2" in detail[0]["msg"]


@pytest.mark.parametrize("title", ["网格示意图\n第二行", "网格 \U0001f600", "\x7f"])
def test_title_the_font_cannot_draw_is_422(client, title) -> None:
    response = client.get("/maps/wall.pdf", params={"paper": "A4", "title": title})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail[0]["loc"] == ["query", "title"]
    assert "cannot draw" in detail[0]["msg"]


# --------------------------------------------------------------------------- web map


def test_web_map_is_one_html_page_with_nothing_from_the_internet(client) -> None:
    response = client.get("/maps/web.html")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    html = response.text
    assert html.lstrip().lower().startswith("<!doctype html")
    assert "L.map(" in html  # Leaflet is inlined ...
    assert not re.search(
        r'<(script|link|img)\b[^>]*(src|href)\s*=\s*["\']?(https?:)?//', html, re.I
    )
    assert not re.search(r"@import\s+url\(\s*[\"']?(https?:)?//", html)  # ... and so is its CSS
    assert "荷清苑第二网格" in html
    assert "海淀区示例街道网格划分" in html


def test_web_map_title_is_escaped(client) -> None:
    html = client.get("/maps/web.html", params={"title": "<script>alert(1)</script>"}).text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --------------------------------------------------------------------------- signs


@pytest.mark.parametrize(("code", "name"), [(GRID, "荷清苑第二网格"), (COMMUNITY, "荷清苑社区")])
def test_sign_is_one_a4_page_for_the_grid(client, code, name) -> None:
    response = client.get(f"/maps/grids/{code}/sign.pdf")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert f'filename="sign-{code}.pdf"' in response.headers["content-disposition"]
    sizes = page_sizes(response.content)
    assert len(sizes) == 1
    assert sizes[0] == pytest.approx(A4_PT, abs=0.5)
    text = pdf_text(response.content)
    assert "网格公示牌" in text
    assert name in text
    assert code in text


def test_unknown_grid_is_404(client) -> None:
    response = client.get("/maps/grids/110108999999999/sign.pdf")
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "NotFoundError"
    assert "110108999999999" in body["detail"]


# --------------------------------------------------------------------------- ?at= and no plan


def test_at_draws_the_version_active_then(client) -> None:
    now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    before = dt.datetime(2000, 1, 1)
    assert (
        client.get(f"/maps/grids/{GRID}/sign.pdf", params={"at": now.isoformat()}).status_code
        == 200
    )
    for url in ("/maps/wall.pdf?paper=A4", "/maps/web.html", f"/maps/grids/{GRID}/sign.pdf"):
        response = client.get(url, params={"at": before.isoformat()})
        assert response.status_code == 404, url
        assert response.json()["error"] == "NoActivePlanError"


def test_no_active_plan_is_404(store_url: str, tmp_path: Path) -> None:
    settings = ApiSettings(database_url=store_url, data_dir=tmp_path, plan_check_seconds=0)
    with TestClient(create_app(settings)) as client:
        for url in ("/maps/wall.pdf", "/maps/web.html", f"/maps/grids/{GRID}/sign.pdf"):
            response = client.get(url)
            assert response.status_code == 404, url
            assert response.json()["error"] == "NoActivePlanError"


def test_fixed_plan_app_serves_maps_without_a_store() -> None:
    with TestClient(create_app(ApiSettings(), plan=_sample())) as client:
        response = client.get(f"/maps/grids/{GRID}/sign.pdf")
    assert response.status_code == 200
    assert "荷清苑第二网格" in pdf_text(response.content)
