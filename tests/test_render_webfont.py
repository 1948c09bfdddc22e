"""Tests of the subset web font (geogrid.render.webfont) and the web map's Chinese in Chromium.

The browser test runs Chromium under a fontconfig configuration that rejects every Chinese
font, so it would draw □ for each Chinese character without the embedded font.
"""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_render import ARTIFACTS, crafted_plan
from test_render_web import chromium, console_lines, needs_chromium

from geogrid.render.webfont import (
    FONT_FAMILY,
    FONT_STACK,
    font_by_digest,
    font_for_text,
    page_characters,
    web_font,
)


def cmap_of(data: bytes) -> set[str]:
    from fontTools.ttLib import TTFont

    with TTFont(io.BytesIO(data)) as font:
        return {chr(c) for c in font.getBestCmap()}


def embedded_font(document: str) -> bytes:
    found = re.search(
        r"url\(data:font/woff2;base64,([A-Za-z0-9+/=]+)\) format\(\"woff2\"\)", document
    )
    assert found, "no embedded woff2 @font-face"
    return base64.b64decode(found.group(1))


def source_chars() -> set[str]:
    from fontTools.ttLib import TTFont

    from geogrid.render.fonts import cjk_font_source

    with TTFont(cjk_font_source(), fontNumber=0, lazy=True) as font:
        return {chr(c) for c in font.getBestCmap()}


# --------------------------------------------------------------------------- the font


def test_subset_holds_the_characters_and_is_cached(tmp_path) -> None:
    import geogrid.render.webfont as webfont

    text = "清华园街道 网格长 张三 ① 𠀀\x07"  # 𠀀 (U+20000) is not in Noto Sans CJK SC
    font = web_font([text], folder=tmp_path)
    assert font.flavor == "woff2" and font.data[:4] == b"wOF2"
    assert font.media_type == "font/woff2" and font.filename == f"{font.digest}.woff2"
    chars = cmap_of(font.data)
    assert set(text) - {"𠀀", "\x07"} <= chars
    assert {chr(c) for c in range(0x20, 0x7F)} <= chars and "，" in chars and "。" in chars
    assert "\x07" not in chars and "𠀀" not in chars
    assert "国" not in chars and len(chars) < 200  # a subset, not the whole font
    assert (tmp_path / font.filename).read_bytes() == font.data
    # a set: order and repeats give the same font; another folder, memory emptied: from disk
    webfont._memory.clear()
    assert font_by_digest(font.digest, folder=tmp_path) == font
    assert web_font([text[::-1] * 2], folder=tmp_path) == font
    assert font_for_text(text) == web_font([text]).data
    for bad in ("../../etc/passwd", "x" * 24, font.digest.upper(), font.digest + "0"):
        assert font_by_digest(bad, folder=tmp_path) is None
    assert font_by_digest("0" * 24, folder=tmp_path) is None  # never made


def test_font_face_rule() -> None:
    font = web_font(["网格"])
    embedded = font.font_face()
    assert embedded.startswith(f'@font-face{{font-family:"{FONT_FAMILY}";src:url(data:font/woff2')
    assert base64.b64encode(font.data).decode() in embedded
    served = font.font_face(url=f"/fonts/{font.filename}", family="Workbench")
    assert f'src:url(/fonts/{font.filename}) format("woff2")' in served and '"Workbench"' in served
    assert FONT_STACK.startswith(f'"{FONT_FAMILY}",')


def test_web_map_embeds_every_character_of_the_page() -> None:
    from geogrid.render import render_web_map

    plan = crafted_plan()
    web = render_web_map(plan, title="海淀区 网格地图 ㊣")
    chars = cmap_of(embedded_font(web.html))
    shown = set("".join(plan.grids["name"].astype(str)) + "".join(plan.levels))
    shown |= set("海淀区 网格地图 ㊣搜索网格编码或名称颜色只区分相邻网格；点击网格看人员与电话")
    shown |= set("编码名称户数层级网格长网格员联系电话人员")  # tooltip and popup labels
    shown |= set("".join(p["name"] for people in plan.staff_by_grid().values() for p in people))
    assert "清" in shown and "戊" in shown
    assert shown - chars == set()
    # in fact every character of the document the font can draw
    drawable = {c for c in page_characters(web.html) if c.isprintable()} & source_chars()
    assert drawable - chars == set()
    assert f"font-family:{FONT_STACK}" in web.html


# --------------------------------------------------------------------------- in Chromium

FONTS_CONF = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>
  <dir>/usr/share/fonts</dir>
  <cachedir>{cache}</cachedir>
  <selectfont><rejectfont>
    <pattern><patelt name="lang"><string>zh-cn</string></patelt></pattern>
    <pattern><patelt name="lang"><string>zh-tw</string></patelt></pattern>
    <pattern><patelt name="lang"><string>ja</string></patelt></pattern>
    <glob>*CJK*</glob><glob>*[Hh]ei*</glob><glob>*[Ss]ong*</glob><glob>*[Mm]ing*</glob>
  </rejectfont></selectfont>
</fontconfig>
"""

# After the fonts are ready: is the face loaded, and does it draw 网 and 格 differently
# (tofu boxes of the fallback look alike)? Widths of a Chinese string in both fonts.
FONT_PROBE = """<script>
window.addEventListener('load', function () {
  document.fonts.ready.then(function () {
    var h = document.documentElement;
    function pixels(font, text) {
      var c = document.createElement('canvas'); c.width = 80; c.height = 80;
      var x = c.getContext('2d'); x.font = font; x.fillText(text, 4, 60);
      return Array.prototype.join.call(x.getImageData(0, 0, 80, 80).data, ',');
    }
    function width(font, text) {
      var x = document.createElement('canvas').getContext('2d'); x.font = font;
      return x.measureText(text).width;
    }
    var faces = []; document.fonts.forEach(function (f) { faces.push(f.family + ':' + f.status); });
    var own = '48px "Geogrid CJK"', fallback = '48px sans-serif';
    h.setAttribute('data-faces', faces.join(';'));
    h.setAttribute('data-check', String(document.fonts.check('16px "Geogrid CJK"', '网格')));
    h.setAttribute('data-own', String(pixels(own, '网') !== pixels(own, '格')));
    h.setAttribute('data-fallback', String(pixels(fallback, '网') !== pixels(fallback, '格')));
    h.setAttribute('data-wown', width(own, '网格地图编码'));
    h.setAttribute('data-wfallback', width(fallback, '网格地图编码'));
    var legend = document.getElementById('geogrid-legend');
    h.setAttribute('data-legend', getComputedStyle(legend).fontFamily.replace(/"/g, ''));
  });
});
</script>"""


@pytest.fixture
def no_cjk_fonts(tmp_path, monkeypatch) -> Path:
    """A fontconfig configuration with the system fonts minus every CJK one."""
    conf = tmp_path / "fonts.conf"
    conf.write_text(FONTS_CONF.format(cache=tmp_path / "fc-cache"), encoding="utf-8")
    monkeypatch.setenv("FONTCONFIG_FILE", str(conf))
    if shutil.which("fc-list"):
        listed = subprocess.run(
            ["fc-list", ":lang=zh"], capture_output=True, text=True, check=True
        ).stdout
        assert listed.strip() == "", f"Chromium would still see CJK fonts: {listed}"
    return conf


@needs_chromium
def test_web_map_draws_chinese_with_no_cjk_system_font(tmp_path, no_cjk_fonts) -> None:
    from PIL import Image

    from geogrid.render import render_web_map

    web = render_web_map(crafted_plan(), tmp_path / "fonts.html")
    probed = tmp_path / "probe-fonts.html"
    probed.write_text(web.html.replace("</html>", FONT_PROBE + "</html>"), encoding="utf-8")
    run = chromium(probed.as_uri(), tmp_path, "--dump-dom")
    assert console_lines(run.stderr) == []
    head = re.search(r"<html([^>]*)>", run.stdout)
    assert head, run.stdout[:500]
    found = dict(re.findall(r'data-([a-z]+)="([^"]*)"', head.group(1)))
    assert f"{FONT_FAMILY}:loaded" in found["faces"].split(";"), found
    assert found["check"] == "true"
    assert found["own"] == "true"  # the embedded font draws each character
    assert found["fallback"] == "false"  # without it, both are the same box: the bug
    assert abs(float(found["wown"]) - float(found["wfallback"])) > 1.0, found
    assert abs(float(found["wown"]) - 6 * 48) < 1.0  # CJK glyphs are one em wide
    assert found["legend"].startswith(FONT_FAMILY)

    shot = tmp_path / "web-map-font.png"
    run = chromium(web.path.as_uri(), tmp_path, f"--screenshot={shot}")  # type: ignore[union-attr]
    assert console_lines(run.stderr) == []
    with Image.open(shot) as image:
        assert image.size == (1200, 900)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / shot.name)
