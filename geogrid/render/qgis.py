"""A QGIS project of a plan (``.qgz``): the wall map's colours, labels and layout, in QGIS.

GIS staff open everything in QGIS. :func:`write_qgis_project` writes a project that opens
the plan — a GeoPackage written beside it — with

* one layer per level (``1 社区``, ``2 网格`` …) reading the plan's ``grids`` table
  filtered to that level, each grid filled with the same neighbour-distinct colour as on
  the wall map (:func:`geogrid.render.colouring.colour_grids`) and labelled with its
  Chinese name (Noto Sans CJK SC, a white halo); the wall-map level is shown, the others
  are there to switch on;
* the boundaries of the levels above the wall-map level drawn over it, heavier the higher
  the level, as on the wall map;
* a print layout ``网格示意图`` on the wall map's paper (A0–A4): map, title, subtitle, legend
  (``1. 名称（编码） 网格长 电话``, the wall map's legend rows), scale bar, north arrow and
  the data attribution.

The project is QGIS's own XML in a zip, written with the standard library: QGIS is not
needed to write it. The layers point at the GeoPackage by a relative path, so the two files
travel together. Checked with QGIS 3.22 (Debian's ``python3-qgis``): the project loads with
no errors, every layer is valid, and the layout exports to PDF (``make test-qgis``).
"""

from __future__ import annotations

import dataclasses
import os
import uuid
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pandas as pd
from pyproj import CRS

from geogrid.crs import metric_crs
from geogrid.errors import InvalidInputError
from geogrid.plan import GridPlan
from geogrid.render.colouring import colour_grids
from geogrid.render.legend import legend_rows
from geogrid.render.paper import PAPER_MM

__all__ = ["QGIS_FONT", "QgisProject", "write_qgis_project"]

QGIS_FONT = "Noto Sans CJK SC"
"""Font family of the labels and layout texts (Debian: fonts-noto-cjk)."""

_QGIS_VERSION = "3.22.16-Białowieża"
_OUTLINE = "60,60,60,255"
_LAYOUT = "网格示意图"
# layout item types (QgsLayoutItemRegistry): QGraphicsItem::UserType (65536) + 100 + n
_PAGE, _MAP, _PICTURE, _LABEL, _LEGEND, _SCALEBAR = 65638, 65639, 65640, 65641, 65642, 65646
_NORTH_ARROW = ":/images/north_arrows/layout_default_north_arrow.svg"


@dataclasses.dataclass(frozen=True)
class QgisProject:
    """What :func:`write_qgis_project` wrote.

    Attributes
    ----------
    project
        The ``.qgz`` file.
    geopackage
        The plan's GeoPackage beside it, which the layers read.
    layers
        Layer names, top of the layer tree first.
    colours
        Level → (grid code → fill colour), the wall map's colours.
    level
        The level shown (the wall map's).
    """

    project: Path
    geopackage: Path
    layers: list[str]
    colours: dict[int, dict[str, str]]
    level: int


def write_qgis_project(
    plan: GridPlan,
    path: str | os.PathLike[str],
    *,
    level: int | None = None,
    paper: str = "A1",
    landscape: bool = False,
    title: str | None = None,
    nested_colours: bool = False,
) -> QgisProject:
    """Write a QGIS project of ``plan``, with the plan's GeoPackage beside it.

    Parameters
    ----------
    plan
        The plan.
    path
        The ``.qgz`` file (``.qgs`` writes the XML unzipped); the GeoPackage is written
        beside it with the same name and ``.gpkg``.
    level
        The level shown filled and labelled, as on the wall map; default the deepest.
    paper, landscape
        Paper of the print layout, ``"A0"`` … ``"A4"``, as for the wall map.
    title
        Layout title; default ``"<plan name> 网格示意图"``.
    nested_colours
        Shade each grid within its parent's hue (as ``render_wall_map(nested_colours=True)``).

    Returns
    -------
    QgisProject
        The files, layer names, colours and the level shown.

    Raises
    ------
    InvalidInputError
        For another suffix than ``.qgz``/``.qgs``, an unknown paper, or a level the plan lacks.
    """
    from geogrid import io

    path = Path(path)
    if path.suffix.lower() not in (".qgz", ".qgs"):
        raise InvalidInputError(f"{path.name}: a QGIS project is written as .qgz (or .qgs)")
    key = str(paper).upper()
    if key not in PAPER_MM:
        raise InvalidInputError(f"unknown paper {paper!r}; use one of {', '.join(PAPER_MM)}")
    present = sorted(int(v) for v in plan.grids["level"].unique())
    shown = present[-1] if level is None else int(level)
    if shown not in present:
        raise InvalidInputError(
            f"plan {plan.name!r} has no grids at level {shown}; levels: {present}"
        )
    geopackage = io.write_plan(plan, path.with_suffix(".gpkg"))
    colours = {n: colour_grids(plan, n, nested=nested_colours) for n in present}
    crs = metric_crs(plan.grids.geometry)
    layers = _layers(plan, present, shown, colours, geopackage.name)
    root = _project(plan, layers, crs, key, landscape, title, shown)
    data = ET.tostring(root, encoding="unicode", xml_declaration=False)
    text = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + data
    if path.suffix.lower() == ".qgs":
        path.write_text(text, encoding="utf-8")
    else:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{path.stem}.qgs", text.encode("utf-8"))
    return QgisProject(path, geopackage, [layer.name for layer in layers], colours, shown)


# --------------------------------------------------------------------------- layers


@dataclasses.dataclass
class _Layer:
    id: str
    name: str
    source: str
    visible: bool
    renderer: ET.Element
    labels: ET.Element | None
    extent: tuple[float, float, float, float]


def _layers(
    plan: GridPlan,
    present: list[int],
    shown: int,
    colours: dict[int, dict[str, str]],
    gpkg: str,
) -> list[_Layer]:
    """Boundaries of the levels above ``shown`` (top first), then one filled layer per level."""
    layers = []
    for n in [n for n in present if n < shown]:
        grids = plan.level(n)
        width = 0.5 + 0.4 * (shown - n)
        layers.append(
            _Layer(
                f"geogrid_boundary_level_{n}",  # QGIS keeps ids over 10 characters
                f"{_level_name(plan, n)}界线",
                _source(gpkg, n),
                True,
                _single(_fill("0,0,0,0", "20,20,20,255", width, "no")),
                None,
                tuple(grids.total_bounds),
            )
        )
    for n in sorted(present, key=lambda n: (n != shown, n)):
        grids = plan.level(n).sort_values("code", kind="stable")
        rows = legend_rows(plan, grids)
        layers.append(
            _Layer(
                f"geogrid_grids_level_{n}",
                f"{n} {_level_name(plan, n)}",
                _source(gpkg, n),
                n == shown,
                _categorized(rows, colours[n]),
                _labeling(),
                tuple(grids.total_bounds),
            )
        )
    return layers


def _level_name(plan: GridPlan, n: int) -> str:
    return plan.levels[n - 1] if n <= len(plan.levels) else f"第{n}级"


def _source(gpkg: str, level: int) -> str:
    return f'./{gpkg}|layername=grids|subset="level" = {level}'


def _rgba(hex_colour: str) -> str:
    value = hex_colour.lstrip("#")
    return ",".join(str(int(value[i : i + 2], 16)) for i in (0, 2, 4)) + ",255"


def _fill(colour: str, outline: str, width: float, style: str = "solid") -> ET.Element:
    symbol = ET.Element(
        "symbol",
        {"type": "fill", "name": "0", "alpha": "1", "clip_to_extent": "1", "force_rhr": "0"},
    )
    layer = ET.SubElement(
        symbol, "layer", {"class": "SimpleFill", "pass": "0", "enabled": "1", "locked": "0"}
    )
    props = {
        "color": colour,
        "style": style,
        "outline_color": outline,
        "outline_style": "solid",
        "outline_width": f"{width:g}",
        "outline_width_unit": "MM",
        "joinstyle": "round",
    }
    for k, v in props.items():
        ET.SubElement(layer, "prop", {"k": k, "v": v})
    return symbol


def _single(symbol: ET.Element) -> ET.Element:
    renderer = ET.Element(
        "renderer-v2", {"type": "singleSymbol", "symbollevels": "0", "forceraster": "0"}
    )
    ET.SubElement(renderer, "symbols").append(symbol)
    return renderer


def _categorized(rows: pd.DataFrame, colours: dict[str, str]) -> ET.Element:
    """One category per grid: its wall-map colour, its legend row as the label."""
    renderer = ET.Element(
        "renderer-v2",
        {"type": "categorizedSymbol", "attr": "code", "symbollevels": "0", "forceraster": "0"},
    )
    categories = ET.SubElement(renderer, "categories")
    symbols = ET.SubElement(renderer, "symbols")
    for i, row in enumerate(rows.itertuples(index=False)):
        label = f"{row.number}. {row.name}（{row.code}） {row.head} {row.phone}"
        ET.SubElement(
            categories,
            "category",
            {"symbol": str(i), "value": str(row.code), "label": label, "render": "true"},
        )
        symbol = _fill(_rgba(colours.get(str(row.code), "#d4ccc4")), _OUTLINE, 0.3)
        symbol.set("name", str(i))
        symbols.append(symbol)
    return renderer


def _text_style(
    parent: ET.Element, points: float, *, bold: bool = False, halo: bool = False, **extra: str
) -> ET.Element:
    """A QgsTextFormat in Noto Sans CJK SC, black; ``halo`` adds a white buffer."""
    style = ET.SubElement(
        parent,
        "text-style",
        {
            "fontFamily": QGIS_FONT,
            "namedStyle": "Bold" if bold else "Regular",
            "fontSize": f"{points:.1f}",
            "fontSizeUnit": "Point",
            "fontWeight": "75" if bold else "50",
            "textColor": "0,0,0,255",
            "textOpacity": "1",
            "multilineHeight": "1",
        }
        | extra,
    )
    buffer = {"bufferDraw": "1" if halo else "0", "bufferSize": "0.8", "bufferSizeUnits": "MM"}
    buffer |= {"bufferColor": "255,255,255,255", "bufferOpacity": "0.9", "bufferNoFill": "1"}
    ET.SubElement(style, "text-buffer", buffer)
    return style


def _labeling() -> ET.Element:
    labeling = ET.Element("labeling", {"type": "simple"})
    settings = ET.SubElement(labeling, "settings", {"calloutType": "simple"})
    _text_style(settings, 9, halo=True, fieldName="name", isExpression="0")
    ET.SubElement(settings, "text-format", {"wrapChar": "", "multilineAlign": "1"})
    ET.SubElement(
        settings,
        "placement",
        {"placement": "1", "centroidInside": "1", "centroidWhole": "0", "fitInPolygonOnly": "0"},
    )
    ET.SubElement(
        settings,
        "rendering",
        {"obstacle": "1", "displayAll": "0", "upsidedownLabels": "0", "limitNumLabels": "0"},
    )
    return labeling


# --------------------------------------------------------------------------- project


def _srs(parent: ET.Element, crs: CRS) -> None:
    srs = ET.SubElement(parent, "spatialrefsys")
    authority = crs.to_authority() or ("EPSG", "4490")
    items = {
        "wkt": crs.to_wkt(),
        "authid": ":".join(authority),
        "description": crs.name,
        "projectionacronym": "longlat" if crs.is_geographic else "tmerc",
        "ellipsoidacronym": "EPSG:1024",
        "geographicflag": "true" if crs.is_geographic else "false",
    }
    for tag, text in items.items():
        ET.SubElement(srs, tag).text = text


def _project(
    plan: GridPlan,
    layers: list[_Layer],
    crs: CRS,
    paper: str,
    landscape: bool,
    title: str | None,
    shown: int,
) -> ET.Element:
    root = ET.Element("qgis", {"projectname": plan.name, "version": _QGIS_VERSION})
    ET.SubElement(root, "homePath", {"path": ""})
    ET.SubElement(root, "title").text = plan.name
    _srs(ET.SubElement(root, "projectCrs"), crs)
    tree = ET.SubElement(root, "layer-tree-group")
    ET.SubElement(tree, "customproperties")
    for layer in layers:
        ET.SubElement(
            tree,
            "layer-tree-layer",
            {
                "id": layer.id,
                "name": layer.name,
                "source": layer.source,
                "providerKey": "ogr",
                "checked": "Qt::Checked" if layer.visible else "Qt::Unchecked",
                "expanded": "1" if layer.visible else "0",
            },
        )
    order = ET.SubElement(tree, "custom-order", {"enabled": "0"})
    for layer in layers:
        ET.SubElement(order, "item").text = layer.id
    projectlayers = ET.SubElement(root, "projectlayers")
    for layer in layers:
        projectlayers.append(_maplayer(layer))
    properties = ET.SubElement(root, "properties")
    paths = ET.SubElement(properties, "Paths")
    ET.SubElement(paths, "Absolute", {"type": "bool"}).text = "false"
    srs = ET.SubElement(properties, "SpatialRefSys")  # QGIS 3.22 reads projectCrs only then
    ET.SubElement(srs, "ProjectionsEnabled", {"type": "int"}).text = "1"
    layouts = ET.SubElement(root, "Layouts")
    layouts.append(_layout(plan, layers, crs, paper, landscape, title, shown))
    return root


def _maplayer(layer: _Layer) -> ET.Element:
    element = ET.Element(
        "maplayer",
        {
            "type": "vector",
            "geometry": "Polygon",
            "wkbType": "MultiPolygon",
            "labelsEnabled": "1" if layer.labels is not None else "0",
            "styleCategories": "AllStyleCategories",
        },
    )
    extent = ET.SubElement(element, "extent")
    for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), layer.extent, strict=True):
        ET.SubElement(extent, tag).text = repr(float(value))
    ET.SubElement(element, "id").text = layer.id
    ET.SubElement(element, "datasource").text = layer.source
    ET.SubElement(element, "layername").text = layer.name
    _srs(ET.SubElement(element, "srs"), CRS.from_epsg(4490))
    ET.SubElement(element, "provider", {"encoding": "UTF-8"}).text = "ogr"
    element.append(layer.renderer)
    if layer.labels is not None:
        element.append(layer.labels)
    return element


# --------------------------------------------------------------------------- layout


def _layout(
    plan: GridPlan,
    layers: list[_Layer],
    crs: CRS,
    paper: str,
    landscape: bool,
    title: str | None,
    shown: int,
) -> ET.Element:
    width, height = PAPER_MM[paper]
    if landscape:
        width, height = height, width
    k = width / PAPER_MM["A4"][0]  # type scale: A4 = 1
    margin = 12 * k
    layout = ET.Element("Layout", {"name": _LAYOUT, "units": "mm", "printResolution": "300"})
    pages = ET.SubElement(layout, "PageCollection")
    pages.append(_item(_PAGE, (0, 0), (width, height), background=True))
    title_text = title or (plan.name if "图" in plan.name else f"{plan.name} 网格示意图")
    level_name = _level_name(plan, shown)
    count = int((plan.grids["level"] == shown).sum())
    title_h = 14 * k
    legend_h = 0.28 * height
    map_top = margin + title_h + 6 * k
    map_h = height - map_top - legend_h - margin - 6 * k
    map_box = (margin, map_top)
    map_size = (width - 2 * margin, map_h)
    map_item = _map_item(layers, crs, map_box, map_size, plan)
    layout.append(map_item)
    layout.append(
        _label(title_text, (margin, margin), (width - 2 * margin, title_h), 20 * k, bold=True)
    )
    subtitle = f"{level_name} {count} 个 · 坐标系 CGCS2000 · 制图：geogrid"
    layout.append(_label(subtitle, (margin, margin + title_h), (width - 2 * margin, 6 * k), 8 * k))
    map_uuid = map_item.get("uuid", "")
    legend_top = map_top + map_h + 6 * k
    layout.append(
        _legend(
            map_uuid,
            next(layer for layer in layers if layer.visible and layer.labels is not None),
            (margin, legend_top),
            (width - 2 * margin, legend_h),
            k,
        )
    )
    arrow = 14 * k
    layout.append(
        _north_arrow(
            map_uuid, (width - margin - arrow - 3 * k, map_top + 3 * k), (arrow, arrow * 1.4)
        )
    )
    layout.append(
        _scalebar(map_uuid, (margin + 3 * k, map_top + map_h - 14 * k), (60 * k, 10 * k), k)
    )
    attribution = plan.attribution or "网格数据：本单位"
    layout.append(
        _label(
            f"数据来源：{attribution}",
            (margin, height - margin),
            (width - 2 * margin, 5 * k),
            6 * k,
        )
    )
    return layout


def _item(
    kind: int,
    position: tuple[float, float],
    size: tuple[float, float],
    *,
    background: bool = False,
    z: int = 1,
    **extra: str,
) -> ET.Element:
    ident = "{" + str(uuid.uuid4()) + "}"
    attributes = {
        "type": str(kind),
        "uuid": ident,
        "templateUuid": ident,
        "id": "",
        "position": f"{position[0]:g},{position[1]:g},mm",
        "positionOnPage": f"{position[0]:g},{position[1]:g},mm",
        "size": f"{size[0]:g},{size[1]:g},mm",
        "referencePoint": "0",
        "frame": "false",
        "background": "true" if background else "false",
        "zValue": str(z),
        "visibility": "1",
        "opacity": "1",
        "blendMode": "0",
        "itemRotation": "0",
        "positionLock": "false",
        "excludeFromExports": "0",
        "outlineWidthM": "0.3,mm",
        "frameJoinStyle": "miter",
        "groupUuid": "",
    }
    item = ET.Element("LayoutItem", attributes | extra)
    ET.SubElement(item, "FrameColor", {"red": "0", "green": "0", "blue": "0", "alpha": "255"})
    ET.SubElement(
        item, "BackgroundColor", {"red": "255", "green": "255", "blue": "255", "alpha": "255"}
    )
    return item


def _map_item(
    layers: list[_Layer],
    crs: CRS,
    position: tuple[float, float],
    size: tuple[float, float],
    plan: GridPlan,
) -> ET.Element:
    item = _item(
        _MAP,
        position,
        size,
        background=True,
        keepLayerSet="false",
        drawCanvasItems="true",
        mapRotation="0",
        followPreset="false",
        frame="true",
    )
    bounds = plan.grids.to_crs(crs).total_bounds
    xmin, ymin, xmax, ymax = (float(v) for v in bounds)
    # the extent fills the frame, the grids centred with a margin of 4 %
    wide, high = (xmax - xmin) * 1.08, (ymax - ymin) * 1.08
    aspect = size[0] / size[1]
    wide, high = max(wide, high * aspect), max(high, wide / aspect)
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    ET.SubElement(
        item,
        "Extent",
        {
            "xmin": repr(cx - wide / 2),
            "ymin": repr(cy - high / 2),
            "xmax": repr(cx + wide / 2),
            "ymax": repr(cy + high / 2),
        },
    )
    _srs(ET.SubElement(item, "crs"), crs)
    ET.SubElement(item, "LayerSet")
    return item


def _font(size: float, bold: bool = False) -> str:
    """A QFont description, as Qt writes it: family, point size, …, weight."""
    return f"{QGIS_FONT},{size:.1f},-1,5,{75 if bold else 50},0,0,0,0,0"


def _label(
    text: str,
    position: tuple[float, float],
    size: tuple[float, float],
    points: float,
    bold: bool = False,
) -> ET.Element:
    item = _item(
        _LABEL,
        position,
        size,
        z=3,
        labelText=text,
        htmlState="0",
        marginX="0",
        marginY="0",
        halign="1",
        valign="32",
    )
    _text_style(item, points, bold=bold)
    ET.SubElement(item, "LabelFont", {"description": _font(points, bold), "style": ""})
    ET.SubElement(item, "FontColor", {"red": "0", "green": "0", "blue": "0", "alpha": "255"})
    return item


def _legend(
    map_uuid: str,
    layer: _Layer,
    position: tuple[float, float],
    size: tuple[float, float],
    k: float,
) -> ET.Element:
    item = _item(
        _LEGEND,
        position,
        size,
        z=2,
        map_uuid=map_uuid,
        title="图例",
        columnCount=str(max(1, round(2 * k))),
        splitLayer="1",
        equalColumnWidth="0",
        symbolWidth=f"{6 * k:g}",
        symbolHeight=f"{3.5 * k:g}",
        boxSpace="2",
        columnSpace="6",
        resizeToContents="1",
        legendFilterByAtlas="0",
        wrapChar="",
    )
    styles = ET.SubElement(item, "styles")
    for name, points in (
        ("title", 12 * k),
        ("group", 9 * k),
        ("subgroup", 8 * k),
        ("symbolLabel", 6 * k),
    ):
        style = ET.SubElement(styles, "style", {"name": name, "marginBottom": "1"})
        _text_style(style, points, bold=name == "title")
    model = ET.SubElement(item, "layer-tree-group")
    ET.SubElement(model, "customproperties")
    ET.SubElement(
        model,
        "layer-tree-layer",
        {
            "id": layer.id,
            "name": layer.name,
            "source": layer.source,
            "providerKey": "ogr",
            "checked": "Qt::Checked",
            "expanded": "1",
        },
    )
    return item


def _north_arrow(
    map_uuid: str, position: tuple[float, float], size: tuple[float, float]
) -> ET.Element:
    return _item(
        _PICTURE,
        position,
        size,
        z=4,
        file=_NORTH_ARROW,
        mapUuid=map_uuid,
        northMode="0",
        northOffset="0",
        pictureRotation="0",
        resizeMode="0",
        anchorPoint="0",
        svgFillColor="0,0,0,255",
        svgBorderColor="255,255,255,255",
        svgBorderWidth="0.2",
        mode="1",
    )


def _scalebar(
    map_uuid: str, position: tuple[float, float], size: tuple[float, float], k: float
) -> ET.Element:
    item = _item(
        _SCALEBAR,
        position,
        size,
        z=4,
        mapUuid=map_uuid,
        style="Single Box",
        unitType="meters",
        unitLabel="米",
        numSegments="2",
        numSegmentsLeft="0",
        numUnitsPerSegment="100",
        segmentSizeMode="1",
        minBarWidth=f"{20 * k:g}",
        maxBarWidth=f"{50 * k:g}",
        numMapUnitsPerScaleBarUnit="1",
        height=f"{2 * k:g}",
        labelBarSpace="2",
        boxContentSpace="1",
        alignment="0",
    )
    _text_style(item, 7 * k)
    return item
