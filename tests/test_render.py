"""Tests of the printed wall map and map colouring (geogrid.render)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from shapely.geometry import box

from geogrid.plan import GridPlan

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def crafted_plan() -> GridPlan:
    """Two communities near 116.3E 40.0N cut into 7 grids of awkward shapes, with staff.

    Grid 002003 is a sliver too thin for its name (a callout); 001001/001002 meet 002001 at
    a corner only; 001003 is L-shaped with a hole.
    """
    x0, y0, d = 116.30, 40.00, 0.01
    community_a = box(x0, y0, x0 + 2 * d, y0 + 2 * d)
    community_b = box(x0 + 2 * d, y0, x0 + 4 * d, y0 + 2 * d)
    grids = [
        ("110108001001", "1", "清华园一网格", box(x0, y0 + d, x0 + d, y0 + 2 * d), 320),
        ("110108001002", "1", "清华园二网格", box(x0 + d, y0 + d, x0 + 2 * d, y0 + 2 * d), 280),
        (
            "110108001003",
            "1",
            "荷清苑网格",
            box(x0, y0, x0 + 2 * d, y0 + d).difference(
                box(x0 + 0.3 * d, y0 + 0.3 * d, x0 + 0.5 * d, y0 + 0.5 * d)
            ),
            410,
        ),
        ("110108002001", "2", "东升一网格", box(x0 + 2 * d, y0 + d, x0 + 4 * d, y0 + 2 * d), 515),
        ("110108002002", "2", "东升二网格", box(x0 + 2 * d, y0, x0 + 3.98 * d, y0 + d), 233),
        ("110108002003", "2", "东升园区专属网格", box(x0 + 3.98 * d, y0, x0 + 4 * d, y0 + d), 12),
    ]
    rows = [
        {
            "code": "110108001",
            "name": "清华园社区",
            "level": 1,
            "parent_code": None,
            "households": 1010,
            "geometry": community_a,
        },
        {
            "code": "110108002",
            "name": "东升社区",
            "level": 1,
            "parent_code": None,
            "households": 760,
            "geometry": community_b,
        },
    ]
    for code, parent, name, geom, hh in grids:
        rows.append(
            {
                "code": code,
                "name": name,
                "level": 2,
                "parent_code": f"11010800{parent}",
                "households": hh,
                "geometry": geom,
            }
        )
    frame = gpd.GeoDataFrame(pd.DataFrame(rows), geometry="geometry", crs=4490)
    staff = []
    for i, (code, _, _, _, _) in enumerate(grids):
        staff.append(
            {
                "grid_code": code,
                "role": "head",
                "name": f"王{'一二三四五六'[i]}",
                "phone": f"1380000{i:04d}",
            }
        )
        staff.append(
            {
                "grid_code": code,
                "role": "full_time",
                "name": f"李{'甲乙丙丁戊己'[i]}",
                "phone": f"1390000{i:04d}",
            }
        )
    return GridPlan(
        "清华园街道网格划分 2026",
        ["社区", "网格"],
        frame,
        pd.DataFrame(staff),
        attribution="© OpenStreetMap contributors",
        version=3,
    )


def lattice_plan(columns: int = 20, rows: int = 15) -> GridPlan:
    """A county-like plan of ``columns`` × ``rows`` small grids in one community."""
    x0, y0, d = 116.30, 40.00, 0.002
    cells = [(c, r) for r in range(rows) for c in range(columns)]
    frame = gpd.GeoDataFrame(
        {
            "code": [f"110108001{i + 1:03d}" for i in range(len(cells))],
            "name": [f"第{i + 1}网格" for i in range(len(cells))],
            "level": 1,
            "households": [100 + i for i in range(len(cells))],
        },
        geometry=[
            box(x0 + c * d, y0 + r * d, x0 + (c + 1) * d, y0 + (r + 1) * d) for c, r in cells
        ],
        crs=4490,
    )
    return GridPlan("网格密集示例", ["网格"], frame)


SAMPLE = Path(__file__).resolve().parents[1] / "data" / "boundaries" / "haidian"

# --------------------------------------------------------------------------- helpers


def page_sizes_mm(pdf: Path) -> list[tuple[float, float]]:
    from pypdf import PdfReader

    reader = PdfReader(pdf)
    return [
        (float(p.mediabox.width) * 25.4 / 72, float(p.mediabox.height) * 25.4 / 72)
        for p in reader.pages
    ]


def check_fonts(pdf: Path) -> list[str]:
    """Run pdffonts; assert every font is embedded, subset, not Type 3, and no warnings."""
    run = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True)
    assert run.stderr.strip() == "", run.stderr
    lines = run.stdout.strip().splitlines()[2:]
    assert lines, "no fonts in the PDF"
    for line in lines:
        tokens = line.split()
        assert "Type 3" not in line, line
        assert tokens[-5] == "yes", f"not embedded: {line}"
        assert tokens[-4] == "yes", f"not subset: {line}"
        assert "simhei" not in line.lower(), line
    return lines


def pdf_text(pdf: Path) -> str:
    run = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True, check=True
    )
    assert run.stderr.strip() == "", run.stderr
    return run.stdout


def check_labels(plan: GridPlan, wall) -> None:
    """Each label lies in its grid: its box inside the grid (callouts: the marker point)."""
    grids = plan.level(wall.level).set_index("code")
    metric = grids.to_crs(wall.crs)
    assert {label.code for label in wall.labels} == set(grids.index)
    for label in wall.labels:
        geom = grids.geometry[label.code]
        assert geom.buffer(1e-9).contains(shapely.Point(label.lon, label.lat)), label
        if label.callout is None:
            assert metric.geometry[label.code].contains(box(*label.box)), label
    boxes = [box(*label.box) for label in wall.labels if label.callout is None]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.intersects(b)


def check_colours(plan: GridPlan, wall) -> None:
    from geogrid.render.colouring import adjacency_graph, check_colouring

    graph = adjacency_graph(plan.level(wall.level))
    assert graph.number_of_edges() > 0
    assert check_colouring(graph, wall.colours) == []


needs_poppler = pytest.mark.skipif(
    shutil.which("pdffonts") is None, reason="poppler-utils not installed"
)

# --------------------------------------------------------------------------- colouring


def test_adjacency_counts_edges_and_corners():
    from geogrid.render.colouring import adjacency_graph

    graph = adjacency_graph(crafted_plan().level(2))
    assert graph.has_edge("110108001002", "110108002001")
    assert graph.edges["110108001002", "110108002001"]["shared_m"] > 800
    assert graph.edges["110108001002", "110108002002"]["shared_m"] == 0.0  # a corner
    assert graph.has_edge("110108002002", "110108002003")
    assert not graph.has_edge("110108001001", "110108002001")
    edges_only = adjacency_graph(crafted_plan().level(2), corners=False)
    assert not edges_only.has_edge("110108001002", "110108002002")


@pytest.mark.parametrize("nested", [False, True])
def test_neighbours_never_share_a_colour(nested):
    from geogrid.render.colouring import PALETTE, adjacency_graph, check_colouring, colour_grids

    for plan in (crafted_plan(), lattice_plan()):
        level = plan.depth
        colours = colour_grids(plan, level, nested=nested)
        assert set(colours) == set(plan.level(level)["code"])
        assert check_colouring(adjacency_graph(plan.level(level)), colours) == []
        if not nested:
            assert set(colours.values()) <= set(PALETTE)
            assert len(set(colours.values())) <= 5


def test_colours_are_stable_across_processes():
    """Hash randomisation must not change the colours (string hashes differ per process)."""
    import json
    import sys

    script = (
        "import json, sys; sys.path.insert(0, 'tests');"
        "from test_render import lattice_plan, crafted_plan;"
        "from geogrid.render.colouring import colour_grids;"
        "print(json.dumps([colour_grids(lattice_plan()), colour_grids(crafted_plan())]))"
    )
    root = Path(__file__).resolve().parents[1]
    outputs = set()
    for seed in ("1", "2", "3"):
        env = {"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}
        run = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            cwd=root,
            env=env,
            check=True,
        )
        outputs.add(run.stdout)
    assert len(outputs) == 1
    assert json.loads(outputs.pop())[1]


# --------------------------------------------------------------------------- wall map


@needs_poppler
@pytest.mark.parametrize(
    ("paper", "landscape"),
    [("A0", False), ("A1", True), ("A2", False), ("A3", True), ("A4", False)],
)
def test_wall_map_pdf(tmp_path, paper, landscape):
    from geogrid.render import PAPER_MM, render_wall_map

    plan = crafted_plan()
    wall = render_wall_map(
        plan, tmp_path / "wall.pdf", paper=paper, landscape=landscape, date="2026-11-23"
    )
    width, height = PAPER_MM[paper]
    expected = (height, width) if landscape else (width, height)
    assert wall.files == [tmp_path / "wall.pdf"] and wall.pages == 1
    for size in page_sizes_mm(wall.files[0]):
        assert size == pytest.approx(expected, abs=0.05)
    check_fonts(wall.files[0])
    text = pdf_text(wall.files[0])
    assert "清华园街道网格划分 2026 网格示意图" in text
    assert "第 3 版" in text and "2026-11-23" in text
    assert "© OpenStreetMap contributors" in text
    assert "13900000000" in text and "网格长" in text
    check_colours(plan, wall)
    check_labels(plan, wall)
    # the sliver grid cannot hold its name: a numbered callout with its legend number
    assert [c.code for c in wall.callouts] == ["110108002003"]
    assert wall.callouts[0].callout == 6


@needs_poppler
def test_wall_map_custom_title_level_and_context(tmp_path):
    from geogrid.render import render_wall_map

    plan = crafted_plan()
    roads = gpd.GeoDataFrame(
        {"name": ["双清路"]},
        geometry=[shapely.LineString([(116.295, 40.01), (116.345, 40.012)])],
        crs=4326,
    )
    river = gpd.GeoDataFrame(geometry=[box(116.301, 40.002, 116.339, 40.0025)], crs=4490)
    wall = render_wall_map(
        plan,
        tmp_path / "communities.pdf",
        paper="A3",
        title="清华园街道社区分布图",
        level=1,
        context={"roads": roads, "rivers": river},
    )
    assert wall.level == 1 and len(wall.labels) == 2
    assert "清华园街道社区分布图" in pdf_text(wall.files[0])
    check_fonts(wall.files[0])
    check_labels(plan, wall)


def test_wall_map_png_300_dpi(tmp_path):
    from PIL import Image

    from geogrid.render import render_wall_map

    wall = render_wall_map(crafted_plan(), tmp_path / "wall.png", paper="A4")
    with Image.open(wall.files[0]) as image:
        width, height = image.size  # 210 × 297 mm at 300 dpi: 2480.3 × 3507.9 px
        assert abs(width - 2480.3) < 1 and abs(height - 3507.9) < 1
        assert image.info["dpi"] == pytest.approx((300, 300), abs=0.1)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(wall.files[0], ARTIFACTS / "wall-map-crafted-a4.png")


@needs_poppler
def test_long_legend_continues_on_more_pages(tmp_path):
    from geogrid.render import render_wall_map

    plan = lattice_plan()  # 300 grids on A4
    wall = render_wall_map(plan, tmp_path / "county.pdf", paper="A4")
    assert wall.pages > 1
    assert len(page_sizes_mm(wall.files[0])) == wall.pages
    check_fonts(wall.files[0])
    text = pdf_text(wall.files[0])
    for code in plan.grids["code"]:
        assert code in text
    assert "图例（续）" in text
    check_colours(plan, wall)
    check_labels(plan, wall)
    assert wall.callouts  # tiny grids on A4: numbers instead of names
    pngs = render_wall_map(plan, tmp_path / "county.png", paper="A4", dpi=30).files
    assert len(pngs) == wall.pages and all(p.exists() for p in pngs)


def test_wall_map_errors(tmp_path):
    from geogrid.errors import InvalidInputError
    from geogrid.render import render_wall_map

    with pytest.raises(InvalidInputError, match=re.escape("use one of A0, A1, A2, A3, A4")):
        render_wall_map(crafted_plan(), tmp_path / "x.pdf", paper="B5")
    with pytest.raises(InvalidInputError, match=r"\.pdf or \.png"):
        render_wall_map(crafted_plan(), tmp_path / "x.svg")
    with pytest.raises(InvalidInputError, match="no grids at level 4"):
        render_wall_map(crafted_plan(), tmp_path / "x.pdf", level=4)


@needs_poppler
@pytest.mark.skipif(not (SAMPLE / "plan.gpkg").exists(), reason="sample plan not built yet")
def test_sample_plan_wall_map(tmp_path):
    from geogrid.io import read_plan
    from geogrid.render import render_wall_map

    plan = read_plan(SAMPLE / "plan.gpkg")
    context = {"roads": SAMPLE / "roads.gpkg"} if (SAMPLE / "roads.gpkg").exists() else None
    wall = render_wall_map(plan, tmp_path / "haidian.pdf", paper="A1", context=context)
    assert page_sizes_mm(wall.files[0])[0] == pytest.approx((594, 841), abs=0.05)
    check_fonts(wall.files[0])
    text = pdf_text(wall.files[0])
    assert plan.name in text.replace("\n", "")
    check_colours(plan, wall)
    check_labels(plan, wall)
    png = render_wall_map(plan, tmp_path / "haidian.png", paper="A3", context=context, dpi=150)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(png.files[0], ARTIFACTS / "wall-map-haidian-a3.png")


@needs_poppler
def test_sheet_only_legend_says_where_the_rest_is(tmp_path):
    from geogrid.render import render_wall_map

    wall = render_wall_map(lattice_plan(), tmp_path / "sheet.pdf", paper="A4", legend_pages=False)
    assert wall.pages == 1 and len(page_sizes_mm(wall.files[0])) == 1
    assert "其余见图例续页" in pdf_text(wall.files[0]).replace("\n", "")


def test_font_is_freely_licensed(monkeypatch, tmp_path):
    from geogrid.errors import ConfigurationError
    from geogrid.render.fonts import FONT_ENV, cjk_font_source, truetype_subset

    assert "NotoSansCJK" in cjk_font_source().name
    fake = tmp_path / "SimHei.ttf"
    fake.write_bytes(b"not a font")
    monkeypatch.setenv(FONT_ENV, str(fake))
    with pytest.raises(ConfigurationError, match="not freely licensed"):
        cjk_font_source()
    monkeypatch.delenv(FONT_ENV)
    subset = truetype_subset(["网格"], folder=tmp_path)
    from fontTools.ttLib import TTFont

    font = TTFont(subset)
    assert "glyf" in font and "CFF " not in font  # TrueType outlines
    assert font["name"].getDebugName(6).startswith("GeogridNotoSansSC-")
    assert {ord("网"), ord("格")} <= set(font.getBestCmap())
