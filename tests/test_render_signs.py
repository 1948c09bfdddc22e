"""Tests of the public signs (公示牌) and contact cards (直通卡)."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from test_render import SAMPLE, check_fonts, crafted_plan, needs_poppler, page_sizes_mm, pdf_text

from geogrid.errors import InvalidInputError, NotFoundError


@needs_poppler
def test_one_sign_per_grid(tmp_path):
    from geogrid.render import render_signs

    plan = crafted_plan()
    roads = gpd.GeoDataFrame(
        geometry=[shapely.LineString([(116.295, 40.01), (116.345, 40.012)])], crs=4326
    )
    signs = render_signs(plan, tmp_path / "signs.pdf", context={"roads": roads}, date="2026-11-23")
    grids = plan.level(2).sort_values("code")
    assert signs.pages == len(grids) and signs.codes == list(grids["code"])
    sizes = page_sizes_mm(signs.path)
    assert len(sizes) == len(grids) and all(s == pytest.approx((210, 297), abs=0.05) for s in sizes)
    check_fonts(signs.path)
    text = pdf_text(signs.path)
    pages = text.split("\f")
    for page, grid in zip(pages, grids.itertuples(index=False), strict=False):
        assert grid.name in page and grid.code in page and "网格公示牌" in page
    assert "13800000000" in pages[0] and "13900000000" in pages[0]  # head and worker phones
    assert "安全生产" in text and "2026-11-23" in text and "© OpenStreetMap contributors" in text


def test_signs_template_and_selection(tmp_path):
    from geogrid.render import render_signs

    plan = crafted_plan()
    signs = render_signs(
        plan, tmp_path / "one.pdf", codes=["110108002001"], duties="请找{worker}，电话{phone}。"
    )
    assert signs.pages == 1
    with pytest.raises(InvalidInputError, match="placeholder"):
        render_signs(plan, tmp_path / "bad.pdf", duties="{mayor}")
    with pytest.raises(NotFoundError, match="no grid '999'"):
        render_signs(plan, tmp_path / "bad.pdf", codes=["999"])


@needs_poppler
def test_cards_per_courtyard(tmp_path):
    from geogrid.render import render_cards

    plan = crafted_plan()
    homes = gpd.GeoDataFrame(
        {
            "courtyard": ["袁家院子", "袁家院子", "袁家院子", "李家大院", "飞地"],
            "door": ["1号", "2号", "3号", "1号", "1号"],
        },
        geometry=[
            shapely.Point(116.3051, 40.0151),
            shapely.Point(116.3052, 40.0152),
            shapely.Point(116.3053, 40.0153),
            shapely.Point(116.3350, 40.0150),
            shapely.Point(116.4000, 40.1000),  # outside every grid
        ],
        crs=4326,
    )
    cards = render_cards(plan, homes, tmp_path / "cards.pdf", group_by="courtyard", label="door")
    assert cards.pages == 1
    table = cards.cards.set_index("group")
    assert table.loc["袁家院子", "grid_code"] == "110108001001"
    assert table.loc["袁家院子", "households"] == 3
    assert table.loc["袁家院子", "phone"] == "13900000000"
    assert table.loc["李家大院", "grid_code"] == "110108002001"
    assert table["grid_code"].isna().sum() == 1
    check_fonts(cards.path)
    text = pdf_text(cards.path)
    assert "网格员直通卡" in text and "1号、2号、3号" in text and "李戊" not in text
    assert "未落入任何网格" in text and "13900000003" in text


@needs_poppler
@pytest.mark.skipif(not (SAMPLE / "plan.gpkg").exists(), reason="sample plan not built yet")
def test_sample_signs_and_cards(tmp_path):
    from geogrid.io import read_plan
    from geogrid.render import render_cards, render_signs

    plan = read_plan(SAMPLE / "plan.gpkg")
    signs = render_signs(plan, tmp_path / "signs.pdf", context={"roads": SAMPLE / "roads.gpkg"})
    assert signs.pages == len(plan.level(plan.depth))
    check_fonts(signs.path)
    buildings = gpd.read_file(SAMPLE / "households.gpkg", layer="buildings")
    cards = render_cards(plan, buildings, tmp_path / "cards.pdf")
    assert len(cards.cards) == int((buildings["households"] > 0).sum())
    assert cards.cards["grid_code"].notna().all()
    check_fonts(cards.path)
