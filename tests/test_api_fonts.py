"""``/fonts`` through the real HTTP app: the served subset web fonts and their caching."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from fontTools.ttLib import TTFont

from api.main import create_app
from api.routes.fonts import FONT_STACK, font_face, font_url
from tests.service import service_settings, street_plan

UI = "工作台 打开方案 保存草稿 撤销 重做 平衡此网格 审批"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """The service with a key required on /locate, /ogc and /maps: fonts stay open."""
    with (
        service_settings("gpkg", tmp_path, open_locate=False) as settings,
        TestClient(create_app(settings, plan=street_plan())) as test_client,
    ):
        yield test_client


def test_a_linked_font_is_served_immutable_with_its_etag(client) -> None:
    url = font_url([UI, "示例街道"])
    assert url.startswith("/fonts/") and url.endswith(".woff2")
    assert font_url(["示例街道", UI]) == url  # the same characters, the same URL
    digest = url.removeprefix("/fonts/").removesuffix(".woff2")
    response = client.get(url)  # no key: a browser fetches fonts without the page's headers
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "font/woff2"
    assert response.headers["etag"] == f'"{digest}"'
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    with TTFont(io.BytesIO(response.content)) as font:
        chars = {chr(c) for c in font.getBestCmap()}
    assert set(UI + "示例街道") <= chars
    for tag in (f'"{digest}"', f'W/"{digest}"', f'"other", "{digest}"', "*"):
        again = client.get(url, headers={"If-None-Match": tag})
        assert again.status_code == 304 and again.content == b"", tag
        assert again.headers["etag"] == f'"{digest}"'
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    face = font_face([UI, "示例街道"])
    assert f'src:url({url}) format("woff2")' in face and '"Geogrid CJK"' in face
    assert FONT_STACK.startswith('"Geogrid CJK"')


def test_unknown_or_malformed_digests(client) -> None:
    missing = client.get("/fonts/0123456789abcdef01234567.woff2")
    assert missing.status_code == 404
    assert missing.json()["error"] == "NotFoundError" and "reload" in missing.json()["detail"]
    for bad in ("ABCDEF0123456789ABCDEF01", "short", "0123456789abcdef01234567aa"):
        assert client.get(f"/fonts/{bad}.woff2").status_code == 422, bad
    assert client.get("/fonts/0123456789abcdef01234567.ttf").status_code == 404
