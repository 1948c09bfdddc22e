"""``geogrid qgis``: a QGIS project of the plan, written without QGIS, opened with the real one.

The structural test reads the ``.qgz`` back as XML: one layer per level on the GeoPackage
beside it, the wall map's colours, Chinese labels, a print layout with map, legend, scale bar
and north arrow. The real-QGIS test runs ``tests/qgis_check.py`` under Debian's
``/usr/bin/python3`` (the only interpreter with the QGIS bindings) headless: it runs only
with ``GEOGRID_TEST_QGIS=1`` (``make test-qgis`` installs QGIS, ~4.5 minutes, and sets it).
"""

from __future__ import annotations

import json
import os
import subprocess
import unicodedata
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pyogrio
import pytest
from typer.testing import CliRunner

from geogrid import io
from geogrid.cli import app
from geogrid.render import colour_grids, write_qgis_project
from geogrid.render.qgis import QGIS_FONT
from tests.service import street_plan

QGIS_PYTHON = "/usr/bin/python3"
CHECK = Path(__file__).with_name("qgis_check.py")


def project_xml(path: Path) -> ET.Element:
    with zipfile.ZipFile(path) as archive:
        (name,) = archive.namelist()
        assert name == f"{path.stem}.qgs"
        return ET.fromstring(archive.read(name).decode("utf-8").split("\n", 1)[1])


def test_the_project_has_a_layer_per_level_with_the_wall_map_colours(tmp_path) -> None:
    plan = street_plan()
    written = write_qgis_project(plan, tmp_path / "示例街道.qgz", paper="A3")
    assert written.geopackage == tmp_path / "示例街道.gpkg"
    assert io.read_plan(written.geopackage).grids["code"].tolist() == plan.grids["code"].tolist()
    root = project_xml(written.project)
    layers = {e.findtext("layername"): e for e in root.iter("maplayer")}
    assert list(layers) == ["社区界线", "2 网格", "1 社区"] == written.layers
    for level, name in ((1, "1 社区"), (2, "2 网格")):
        layer = layers[name]
        source = layer.findtext("datasource")
        assert source == f'./示例街道.gpkg|layername=grids|subset="level" = {level}'
        assert len(layer.findtext("id")) > 10  # QGIS replaces shorter ids
        renderer = layer.find("renderer-v2")
        assert renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == "code"
        symbols = {s.get("name"): s for s in renderer.iter("symbol")}
        colours = {}
        for category in renderer.iter("category"):
            prop = symbols[category.get("symbol")].find("layer/prop[@k='color']")
            r, g, b, _ = (int(v) for v in prop.get("v").split(","))
            colours[category.get("value")] = f"#{r:02x}{g:02x}{b:02x}"
        assert colours == colour_grids(plan, level)
        style = layer.find("labeling/settings/text-style")
        assert style.get("fieldName") == "name" and style.get("fontFamily") == QGIS_FONT
        assert layer.get("labelsEnabled") == "1"
    tree = {e.get("name"): e.get("checked") for e in root.iter("layer-tree-layer")}
    assert tree["2 网格"] == "Qt::Checked" and tree["1 社区"] == "Qt::Unchecked"
    assert root.find("projectCrs/spatialrefsys/authid").text.startswith("EPSG:45")
    (layout,) = root.iter("Layout")
    assert layout.get("name") == "网格示意图"
    kinds = sorted(int(item.get("type")) for item in layout.iter("LayoutItem"))
    assert kinds == [65638, 65639, 65640, 65641, 65641, 65641, 65642, 65646]
    (page,) = (i for i in layout.iter("LayoutItem") if i.get("type") == "65638")
    assert page.get("size") == "297,420,mm"
    texts = [i.get("labelText") for i in layout.iter("LayoutItem") if i.get("type") == "65641"]
    assert texts[0] == "示例街道 网格示意图"
    legend = next(i for i in layout.iter("LayoutItem") if i.get("type") == "65642")
    assert legend.find("layer-tree-group/layer-tree-layer").get("name") == "2 网格"


def test_the_command_writes_the_project(tmp_path) -> None:
    plan_path = io.write_plan(street_plan(), tmp_path / "plan.gpkg")
    result = CliRunner().invoke(
        app, ["qgis", str(plan_path), "-o", str(tmp_path / "out" / "wall.qgz"), "--level", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "网格示意图" in result.output
    assert (tmp_path / "out" / "wall.gpkg").exists()
    names = [str(n) for n, _ in pyogrio.list_layers(tmp_path / "out" / "wall.gpkg")]
    assert "grids" in names
    refused = CliRunner().invoke(app, ["qgis", str(plan_path), "-o", str(tmp_path / "x.pdf")])
    assert refused.exit_code == 2 and ".qgz" in refused.output


@pytest.mark.skipif(
    os.environ.get("GEOGRID_TEST_QGIS") != "1",
    reason="the real QGIS runs from `make test-qgis` (installing it takes ~4.5 minutes)",
)
def test_real_qgis_opens_the_project_and_prints_the_layout(tmp_path) -> None:
    plan = street_plan()
    written = write_qgis_project(plan, tmp_path / "示例街道.qgz", paper="A3")
    pdf = tmp_path / "layout.pdf"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env |= {"QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(tmp_path)}
    done = subprocess.run(
        [QGIS_PYTHON, str(CHECK), str(written.project), str(pdf)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["read"] and report["errors"] == []
    assert report["crs"].startswith("EPSG:45")
    layers = report["layers"]
    assert set(layers) == set(written.layers)
    assert all(layer["valid"] for layer in layers.values())
    assert layers["2 网格"]["features"] == 24 and layers["1 社区"]["features"] == 2
    assert layers["2 网格"]["colours"] == colour_grids(plan, 2)
    assert layers["2 网格"]["labels"] and layers["2 网格"]["label_field"] == "name"
    assert layers["2 网格"]["label_font"] == QGIS_FONT
    items = report["items"]["网格示意图"]
    for kind in ("QgsLayoutItemMap", "QgsLayoutItemLegend", "QgsLayoutItemScaleBar"):
        assert kind in items
    assert report["pdf"] == 0 and pdf.stat().st_size > 10_000
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    text = unicodedata.normalize("NFKC", text)  # Qt's PDFs map some glyphs to Kangxi radicals
    assert "示例街道 网格示意图" in text and "第1网格" in text
