"""The interactive web map: one self-contained HTML file that works with no internet.

Built with folium (map, layer control, tiles) and Leaflet, with the wall map's colours
(:mod:`geogrid.render.colouring`): a layer per level, tooltips (code, name, households), popups
with the staff and their phones, a legend, a search box for grid codes and names, and
incidents as circle markers and a heat layer (vendored Leaflet.heat) when given.

**Offline.** folium links Leaflet, jQuery and Bootstrap from public CDNs; on an office
intranet such a map shows nothing. Here the CDN links are dropped and Leaflet's own script and
stylesheet (vendored in ``geogrid/render/assets/leaflet``, BSD-2-Clause) are inlined, with its
images as data URIs. The search box is a few lines of plain JavaScript, so no plugin is
fetched either. There is no base map unless a tile URL is given (e.g. the office's own tile
server).

**Chinese in any browser.** A browser with no CJK system font draws Chinese as boxes (□), so the
page embeds a subset of Noto Sans CJK SC holding every character it may show (titles, labels,
legend, tooltips, popups, level and staff names; :mod:`geogrid.render.webfont`), as a WOFF2
``data:`` URI, and uses it for all text.

**GCJ-02 tiles.** Chinese web maps (AMap/Gaode, Tencent) draw their tiles in GCJ-02, offset
hundreds of metres from the CGCS2000/WGS84 plan. Pass ``tiles_crs="gcj02"`` with such tiles
and the grids are shifted into GCJ-02 for display (the file's coordinates are then GCJ-02).

**Size.** Geometry is simplified per level with ``shapely.coverage_simplify`` in metres, which
keeps shared edges shared (no gaps or overlaps appear), and the rings are written in Google's
polyline encoding at 1e-6 degrees (about 0.1 m; some 6 bytes a vertex instead of GeoJSON's 22),
decoded by a few lines of inlined JavaScript into Leaflet polygons. 2,500 grids with 650,000
vertices make a 2.5 MB file, Leaflet included.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import os
import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from geogrid.crs import metric_crs, wgs84_to_gcj02
from geogrid.errors import ConfigurationError, CRSError, InvalidInputError
from geogrid.plan import PLAN_CRS, GridPlan
from geogrid.render.colouring import adjacency_graph, colour_grids
from geogrid.render.legend import legend_rows
from geogrid.render.webfont import FONT_STACK, page_characters, web_font
from geogrid.roles import current_roles

__all__ = ["ASSETS", "WebMap", "render_web_map", "simplify_coverage"]

ASSETS = Path(__file__).resolve().parent / "assets"
"""Folder of the vendored assets (Leaflet)."""
_DECIMALS = 6
_TILES_CRS = ("wgs84", "gcj02")


@dataclasses.dataclass(frozen=True)
class WebMap:
    """What :func:`render_web_map` made.

    Attributes
    ----------
    html
        The complete HTML document.
    path
        Where it was written, or ``None``.
    colours
        Level -> (grid code -> fill colour).
    simplified
        Level -> whether its geometry was simplified (an invalid coverage is kept as is).
    """

    html: str
    path: Path | None
    colours: dict[int, dict[str, str]]
    simplified: dict[int, bool]

    @property
    def size(self) -> int:
        """Size of the HTML in bytes (UTF-8)."""
        return len(self.html.encode("utf-8"))


def render_web_map(
    plan: GridPlan,
    path: str | os.PathLike[str] | None = None,
    *,
    title: str | None = None,
    tiles: str | None = None,
    tile_attribution: str | None = None,
    tiles_crs: str = "wgs84",
    tolerance_m: float = 2.0,
    incidents: gpd.GeoDataFrame | None = None,
    vector_tiles: str | None = None,
) -> WebMap:
    """Render ``plan`` as a self-contained interactive HTML map.

    Parameters
    ----------
    plan
        The plan.
    path
        Write the HTML here (``.html``); ``None`` only returns it.
    title
        Page title; default ``"<plan name> 网格地图"``.
    tiles
        Optional base-map tile URL template, e.g. ``"http://tiles.intranet/{z}/{x}/{y}.png"``;
        default none (the map works with no tile server).
    tile_attribution
        Attribution of the tiles (required with ``tiles``).
    tiles_crs
        ``"wgs84"`` (OpenStreetMap-style tiles) or ``"gcj02"`` (AMap/Tencent tiles: the grids
        are shifted into GCJ-02 to sit on them).
    tolerance_m
        Simplification tolerance in metres (0 keeps every vertex).
    incidents
        Points to show as circle markers; ``category`` and ``description`` columns, when
        present, go into their tooltips.
    vector_tiles
        The service's vector tile URL template (``…/tiles/{level}/{z}/{x}/{y}.mvt``): every
        level is drawn from those tiles (vendored Leaflet.VectorGrid) instead of being
        inlined, for a plan too big for one page; the map then needs the service, has no
        search box entries and colours grids by code rather than so neighbours differ.

    Returns
    -------
    WebMap
        The HTML, where it went, the colours and whether each level was simplified.
    """
    import folium

    _check_args(plan, path, tiles, tile_attribution, tiles_crs)
    title = title or f"{plan.name} 网格地图"
    fmap = _base_map(plan, tiles, tile_attribution)
    levels = sorted(int(v) for v in plan.grids["level"].unique())
    colours: dict[int, dict[str, str]] = {}
    simplified: dict[int, bool] = {}
    layers, layers_made = [], []
    for level in levels:
        if vector_tiles is None:
            graph = adjacency_graph(plan.level(level), measure=False)
            colours[level] = colour_grids(plan, level, graph=graph)
            frame, simplified[level] = _level_frame(
                plan, level, colours[level], tolerance_m, tiles_crs
            )
            data, count = _encode_level(frame), len(frame)
        else:
            colours[level], simplified[level] = {}, False
            data, count = _tiled_level(plan, level, vector_tiles)
        layer = _add_level(fmap, plan, level, data, count, deepest=level == levels[-1])
        if vector_tiles is None:  # the search box looks through inlined grids
            layers.append(f"{{level: {level}, layer: {layer.get_name()}}}")
        layers_made.append(layer)
    if incidents is not None and len(incidents):
        _add_incidents(fmap, incidents, tiles_crs)
    folium.LayerControl(collapsed=False).add_to(fmap)
    _add_legend(fmap, plan, levels, title)
    search = f"var geogridLayers = [{', '.join(layers)}];" + _SEARCH_JS.replace(
        "MAP", fmap.get_name()
    )
    text = fmap.get_root().render()
    for layer in layers_made:
        text = text.replace(layer.token, layer.data, 1)
    heat = incidents is not None and len(incidents) > 0
    text = _offline(text, title, search, heat=heat, vector=vector_tiles is not None)
    text = _embed_font(text)
    written = None
    if path is not None:
        written = Path(path)
        written.parent.mkdir(parents=True, exist_ok=True)
        written.write_text(text, encoding="utf-8")
    return WebMap(html=text, path=written, colours=colours, simplified=simplified)


def _check_args(
    plan: GridPlan, path: Any, tiles: str | None, attribution: str | None, tiles_crs: str
) -> None:
    if plan.grids.empty:
        raise InvalidInputError(f"plan {plan.name!r} has no grids to map")
    if path is not None and Path(path).suffix.lower() not in (".html", ".htm"):
        raise InvalidInputError(f"{Path(path).name}: a web map is written as .html")
    if tiles_crs not in _TILES_CRS:
        raise InvalidInputError(f"tiles_crs {tiles_crs!r}: use one of {', '.join(_TILES_CRS)}")
    if tiles and not attribution:
        raise InvalidInputError("give tile_attribution with tiles (who made the base map)")


# --------------------------------------------------------------------------- geometry


def simplify_coverage(geoms: gpd.GeoSeries, tolerance_m: float) -> tuple[gpd.GeoSeries, bool]:
    """Simplify a coverage (grids that tile an area) so shared edges stay shared.

    The work is done in metres (:func:`geogrid.crs.metric_crs`); the result has the input's
    CRS. A set of grids that is not a valid coverage (overlaps, or edges that do not match
    vertex for vertex) is returned unchanged, with ``False``.

    Examples
    --------
    >>> from shapely.geometry import Polygon
    >>> left = Polygon([(116.30, 40.0), (116.31, 40.0), (116.31000001, 40.005), (116.31, 40.01), (116.30, 40.01)])
    >>> right = Polygon([(116.31, 40.0), (116.32, 40.0), (116.32, 40.01), (116.31, 40.01), (116.31000001, 40.005)])
    >>> out, done = simplify_coverage(gpd.GeoSeries([left, right], crs=4490), 2.0)
    >>> done, [len(g.exterior.coords) for g in out]
    (True, [5, 5])
    """
    if tolerance_m <= 0 or len(geoms) == 0:
        return geoms, False
    metric = geoms.to_crs(metric_crs(geoms))
    values = metric.to_numpy()
    if not bool(shapely.coverage_is_valid(values)):
        return geoms, False
    simple = shapely.coverage_simplify(values, tolerance_m, simplify_boundary=True)
    return gpd.GeoSeries(simple, index=geoms.index, crs=metric.crs).to_crs(geoms.crs), True


def _level_frame(
    plan: GridPlan, level: int, colours: dict[str, str], tolerance_m: float, tiles_crs: str
) -> tuple[gpd.GeoDataFrame, bool]:
    grids = plan.level(level).sort_values("code", kind="stable").reset_index(drop=True)
    geometry, simplified = simplify_coverage(grids.geometry, tolerance_m)
    rows = legend_rows(plan, grids)
    staff = _staff_texts(plan)
    geoms = geometry.to_numpy()
    if tiles_crs == "gcj02":
        geoms = shapely.transform(
            geoms, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1]))
        )
    geoms = shapely.transform(geoms, lambda xy: np.round(xy, _DECIMALS))
    frame = gpd.GeoDataFrame(
        {
            "code": rows["code"],
            "name": rows["name"],
            "households": rows["households"],
            "level_name": plan.levels[level - 1] if level <= len(plan.levels) else str(level),
            "head": rows["head"],
            "workers": rows["workers"],
            "phone": rows["phone"],
            "staff": [staff.get(c, "—") for c in rows["code"]],
            "colour": [colours[c] for c in rows["code"]],
        },
        geometry=geoms,
        crs=PLAN_CRS,
    )
    return frame, simplified


def _staff_texts(plan: GridPlan) -> dict[str, str]:
    """Grid code -> "网格长：王芳 138…；专职网格员：李强 139…" in the role order."""
    roles = current_roles()
    return {
        code: "；".join(
            f"{roles.label(p['role'])}：{p['name']} {p['phone'] or ''}".strip() for p in people
        )
        for code, people in plan.staff_by_grid().items()
        if people
    }


# --------------------------------------------------------------------------- folium


def _base_map(plan: GridPlan, tiles: str | None, attribution: str | None) -> Any:
    import folium

    west, south, east, north = plan.grids.total_bounds
    fmap = folium.Map(
        location=[(south + north) / 2, (west + east) / 2],
        tiles=None,
        control_scale=True,
        prefer_canvas=False,
        zoom_control=True,
    )
    fmap.default_js = []
    fmap.default_css = []
    if tiles:
        folium.TileLayer(tiles=tiles, attr=attribution, name="底图", max_zoom=20).add_to(fmap)
    fmap.fit_bounds([[south, west], [north, east]])
    return fmap


_FIELDS = (
    "code",
    "name",
    "households",
    "level_name",
    "head",
    "workers",
    "phone",
    "staff",
    "colour",
)


def _tiled_level(plan: GridPlan, level: int, url: str) -> tuple[str, int]:
    """A level drawn from vector tiles: their URL, and its names' characters for the font."""
    names = plan.level(level)["name"].astype(str)
    characters = "".join(sorted(set("".join(names))))
    data = {"tiles": url.replace("{level}", str(level)), "characters": characters}
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/"), len(names)


def _add_level(
    fmap: Any, plan: GridPlan, level: int, data: str, count: int, *, deepest: bool
) -> Any:
    """Add one level as a layer of polygons: the deepest filled, the ones above as outlines."""
    name = plan.levels[level - 1] if level <= len(plan.levels) else str(level)
    style = {
        "color": "#333333",
        "weight": 1.0 + 2.0 * (plan.depth - level),
        "fillOpacity": 0.6 if deepest else 0.0,
        "opacity": 0.9,
    }
    layer = _grid_layer_class()(data, style, name=f"第 {level} 级 · {name}（{count}）")
    layer.add_to(fmap)
    return layer


def _encode_level(frame: gpd.GeoDataFrame) -> str:
    """The level's grids as compact JSON.

    Field names, then per grid its values and its polygons as lists of rings, each ring in
    Google's polyline encoding at 1e-6 degrees (about 6 bytes a vertex instead of 22).
    """
    values = frame[list(_FIELDS)].astype(str).to_numpy().tolist()
    features = []
    for props, geom in zip(values, frame.geometry.to_numpy(), strict=True):
        if geom is None or geom.is_empty:
            continue
        parts = [
            [encode_ring(shapely.get_coordinates(ring)) for ring in shapely.get_rings(part)]
            for part in shapely.get_parts(geom)
        ]
        features.append([props, parts])
    data = {"fields": list(_FIELDS), "features": features}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


def encode_ring(lonlat: np.ndarray, precision: int = _DECIMALS) -> str:
    """Encode lon/lat pairs with Google's polyline algorithm (lat first, as Leaflet wants).

    Examples
    --------
    >>> encode_ring(np.array([[-120.2, 38.5], [-120.95, 40.7], [-126.453, 43.252]]), 5)
    '_p~iF~ps|U_ulLnnqC_mqNvxq`@'
    """
    scaled = np.round(np.asarray(lonlat, dtype=float)[:, ::-1] * 10**precision).astype(np.int64)
    deltas = np.diff(scaled, axis=0, prepend=np.zeros((1, 2), dtype=np.int64)).ravel()
    zigzag = np.where(deltas < 0, ~(deltas << 1), deltas << 1).astype(np.uint64)
    chunks = (zigzag[:, None] >> (5 * np.arange(7, dtype=np.uint64))[None, :]) & np.uint64(31)
    bits = np.maximum(1, np.ceil(np.log2(zigzag.astype(float) + 1) / 5)).astype(int)
    used = np.arange(7)[None, :] < bits[:, None]
    more = np.arange(7)[None, :] < (bits - 1)[:, None]
    codes = chunks + np.where(more, 0x20, 0).astype(np.uint64) + np.uint64(63)
    return codes[used].astype(np.uint8).tobytes().decode("ascii")


def decode_ring(text: str, precision: int = _DECIMALS) -> np.ndarray:
    """Inverse of :func:`encode_ring`: an array of lon/lat pairs.

    Examples
    --------
    >>> decode_ring('_p~iF~ps|U_ulLnnqC_mqNvxq`@', 5).tolist()
    [[-120.2, 38.5], [-120.95, 40.7], [-126.453, 43.252]]
    """
    numbers, value, shift = [], 0, 0
    for char in text.encode("ascii"):
        chunk = char - 63
        value |= (chunk & 0x1F) << shift
        shift += 5
        if chunk < 0x20:
            numbers.append(~(value >> 1) if value & 1 else value >> 1)
            value, shift = 0, 0
    latlon = np.cumsum(np.array(numbers, dtype=np.int64).reshape(-1, 2), axis=0) / 10**precision
    return np.asarray(latlon[:, ::-1])


def _grid_layer_class() -> type:
    """A folium layer drawing encoded grids with the inlined ``geogridGrids`` script."""
    import folium
    from folium.elements import ElementAddToElement
    from jinja2 import Template

    class GridLayer(folium.map.Layer):
        _template = Template(
            "{% macro script(this, kwargs) %}"
            "var {{ this.get_name() }} = geogridGrids({{ this.token }}, {{ this.style }});"
            "{% endmacro %}"
        )

        def __init__(self, data: str, style: dict[str, Any], name: str) -> None:
            super().__init__(name=name, overlay=True, control=True, show=True)
            self._name = "GeogridGrids"
            self.data = data  # put in after rendering: branca parses scripts as templates
            self.token = f"GEOGRID_DATA_{self.get_name()}"
            self.style = json.dumps(style)

        def render(self, **kwargs: Any) -> Any:
            parent = self._parent.get_name() if self._parent is not None else ""
            add = ElementAddToElement(element_name=self.get_name(), element_parent_name=parent)
            self.add_child(add, name=self.get_name() + "_add")
            return super().render(**kwargs)

    return GridLayer


def _add_incidents(fmap: Any, incidents: gpd.GeoDataFrame, tiles_crs: str) -> None:
    import folium

    if incidents.crs is None:
        raise CRSError("the incidents have no CRS; set one (EPSG:4490 or EPSG:4326) first")
    points = incidents.to_crs(PLAN_CRS)
    group = folium.FeatureGroup(name=f"事件（{len(points)}）", show=True)
    for row in points.itertuples(index=False):
        geom = row.geometry
        if geom is None or geom.is_empty or geom.geom_type != "Point":
            continue
        lon, lat = geom.x, geom.y
        if tiles_crs == "gcj02":
            lon, lat = wgs84_to_gcj02(lon, lat)
        tip = (
            " · ".join(str(getattr(row, c)) for c in ("category", "description") if hasattr(row, c))
            or "事件"
        )
        folium.CircleMarker(
            [lat, lon],
            radius=5,
            color="#b2182b",
            fill=True,
            fill_opacity=0.8,
            weight=1,
            tooltip=html.escape(tip),
        ).add_to(group)
    group.add_to(fmap)
    spots = [[lat, lon] for lat, lon in _marker_points(points, tiles_crs)]
    if spots:
        from folium.plugins import HeatMap

        HeatMap(spots, name="事件热力", radius=18, blur=15, show=False).add_to(fmap)


def _marker_points(points: gpd.GeoDataFrame, tiles_crs: str) -> list[tuple[float, float]]:
    geoms = points.geometry.to_numpy()
    geoms = geoms[~(shapely.is_empty(geoms) | shapely.is_missing(geoms))]
    geoms = geoms[shapely.get_type_id(geoms) == 0]
    lon, lat = shapely.get_x(geoms), shapely.get_y(geoms)
    if tiles_crs == "gcj02":
        lon, lat = wgs84_to_gcj02(lon, lat)
    return list(zip(np.asarray(lat).tolist(), np.asarray(lon).tolist(), strict=True))


def _text(value: str) -> str:
    """``value`` as HTML text that folium's Jinja templates also leave alone.

    A ``folium.Element`` is a Jinja template: a title or name holding ``{{ … }}`` or ``{% … %}``
    would otherwise be parsed and run as template code (or fail to parse).
    """
    return html.escape(value).replace("{", "&#123;").replace("}", "&#125;")


def _add_legend(fmap: Any, plan: GridPlan, levels: list[int], title: str) -> None:
    import folium

    rows = "".join(
        f'<div><span style="display:inline-block;width:28px;border-top:{1 + 2.0 * (plan.depth - level):.1f}px '
        f'solid #333;vertical-align:middle"></span> {_text(plan.levels[level - 1])}界</div>'
        for level in levels
    )
    attribution = _text(plan.attribution or "")
    box = f"""
<div id="geogrid-legend" class="leaflet-control geogrid-panel" style="position:absolute;top:84px;left:10px;z-index:1000">
  <div style="font-weight:bold;font-size:14px">{_text(title)}</div>
  <input id="geogrid-search" list="geogrid-codes" placeholder="搜索网格编码或名称" autocomplete="off">
  <datalist id="geogrid-codes"></datalist>
  {rows}
  <div style="color:#555">颜色只区分相邻网格；点击网格看人员与电话</div>
  <div style="color:#555">{attribution}</div>
</div>"""
    fmap.get_root().html.add_child(folium.Element(box))
    fmap.get_root().header.add_child(folium.Element(_PANEL_CSS))


_GRIDS_JS = """
function geogridDecode(text) {
  var out = [], lat = 0, lng = 0, i = 0;
  while (i < text.length) {
    var pair = [0, 0];
    for (var k = 0; k < 2; k++) {
      var value = 0, shift = 0, chunk;
      do { chunk = text.charCodeAt(i++) - 63; value |= (chunk & 31) << shift; shift += 5; } while (chunk >= 32);
      pair[k] = (value & 1) ? ~(value >> 1) : (value >> 1);
    }
    lat += pair[0]; lng += pair[1];
    out.push([lat / 1e6, lng / 1e6]);
  }
  return out;
}
function geogridEscape(text) {
  return String(text).replace(/[&<>"']/g, function (c) {
    return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c];
  });
}
function geogridTable(props, keys, labels) {
  var rows = keys.map(function (key, i) {
    return '<tr><th>' + labels[i] + '</th><td>' + geogridEscape(props[key]) + '</td></tr>';
  });
  return '<table class="geogrid-table">' + rows.join('') + '</table>';
}
function geogridTiles(url, style) {
  // Leaflet.VectorGrid 1.3's canvas clicks call L.DomEvent.fakeStop, gone since Leaflet 1.8
  if (!L.DomEvent.fakeStop) { L.DomEvent.fakeStop = function (e) { e._stopped = true; }; }
  var palette = ['#8dd3c7', '#ffffb3', '#bebada', '#fb8072', '#80b1d3', '#fdb462', '#b3de69', '#fccde5'];
  var layer = L.vectorGrid.protobuf(url, {
    rendererFactory: L.canvas.tile, interactive: true, maxNativeZoom: 22,
    getFeatureId: function (f) { return f.properties.code; },
    vectorTileLayerStyles: {grids: function (props) {
      var h = 0;
      for (var i = 0; i < props.code.length; i++) { h = (h * 31 + props.code.charCodeAt(i)) >>> 0; }
      return Object.assign({}, style, {fill: true, fillColor: palette[h % palette.length]});
    }}
  });
  layer.on('click', function (e) {
    L.popup().setLatLng(e.latlng).setContent(geogridTable(e.layer.properties,
      ['name', 'code', 'households', 'jurisdiction', 'plan', 'version'],
      ['名称', '编码', '户数', '辖区', '方案', '版本'])).openOn(layer._map);
  });
  return layer;
}
function geogridGrids(data, style) {
  if (data.tiles) { return geogridTiles(data.tiles, style); }
  var group = L.featureGroup();
  data.features.forEach(function (feature) {
    var props = {};
    data.fields.forEach(function (field, i) { props[field] = feature[0][i]; });
    var rings = feature[1].map(function (part) { return part.map(geogridDecode); });
    var own = Object.assign({}, style, {fillColor: props.colour});
    var polygon = L.polygon(rings, own);
    polygon.feature = {properties: props};
    polygon.bindTooltip(geogridTable(props, ['code', 'name', 'households'], ['编码', '名称', '户数']), {sticky: true});
    polygon.bindPopup(geogridTable(props,
      ['name', 'code', 'level_name', 'households', 'head', 'workers', 'phone', 'staff'],
      ['名称', '编码', '层级', '户数', '网格长', '网格员', '联系电话', '人员']));
    polygon.on('mouseover', function () { polygon.setStyle({weight: own.weight + 2, color: '#000000'}); });
    polygon.on('mouseout', function () { polygon.setStyle(own); });
    group.addLayer(polygon);
  });
  return group;
}
"""

_PANEL_CSS = """<style>
.geogrid-table th{text-align:left;padding-right:8px;color:#555;font-weight:normal}
.geogrid-panel{background:rgba(255,255,255,.92);padding:8px 10px;border-radius:4px;
 box-shadow:0 1px 4px rgba(0,0,0,.3);font-size:12px;line-height:1.5;max-width:260px}
#geogrid-search{width:100%;box-sizing:border-box;margin:4px 0;padding:3px}
</style>"""

_SEARCH_JS = """
(function () {
  var entries = {};
  var list = document.getElementById('geogrid-codes');
  geogridLayers.forEach(function (item) {
    item.layer.eachLayer(function (feature) {
      var p = feature.feature.properties;
      var key = p.code + ' ' + p.name;
      entries[key] = {item: item, feature: feature};
      var option = document.createElement('option');
      option.value = key;
      list.appendChild(option);
    });
  });
  function find(text) {
    text = text.trim();
    if (!text) { return null; }
    if (entries[text]) { return entries[text]; }
    var keys = Object.keys(entries);
    for (var i = 0; i < keys.length; i++) {
      var p = entries[keys[i]].feature.feature.properties;
      if (p.code === text || p.name === text) { return entries[keys[i]]; }
    }
    for (var j = 0; j < keys.length; j++) {
      if (keys[j].indexOf(text) >= 0) { return entries[keys[j]]; }
    }
    return null;
  }
  var input = document.getElementById('geogrid-search');
  function go() {
    var hit = find(input.value);
    if (!hit) { input.style.background = '#fdd'; return; }
    input.style.background = '';
    if (!MAP.hasLayer(hit.item.layer)) { MAP.addLayer(hit.item.layer); }
    MAP.fitBounds(hit.feature.getBounds(), {maxZoom: 18});
    hit.feature.openPopup(hit.feature.getBounds().getCenter());
  }
  input.addEventListener('change', go);
  input.addEventListener('keydown', function (e) { if (e.key === 'Enter') { go(); } });
  window.geogridSearch = function (text) { input.value = text; go(); return !!find(text); };
})();
"""


# --------------------------------------------------------------------------- offline assets


def _offline(
    document: str, title: str, script: str, *, heat: bool = False, vector: bool = False
) -> str:
    """Inline the vendored Leaflet, add ``script`` after folium's, drop every CDN reference.

    With ``heat`` the vendored Leaflet.heat plugin is inlined too (the incident heat layer),
    with ``vector`` Leaflet.VectorGrid (levels drawn from vector tiles).
    """
    head = (
        f"<title>{html.escape(title)}</title>\n<style>{_leaflet_css()}</style>\n"
        f"<script>{_leaflet_js()}</script>\n<script>{_GRIDS_JS}</script>\n"
    )
    if heat:
        head += f"<script>{_asset_js('leaflet-heat/leaflet-heat.js')}</script>\n"
    if vector:
        head += f"<script>{_asset_js('leaflet-vectorgrid/leaflet-vectorgrid.js')}</script>\n"
    document = document.replace("<head>", "<head>\n" + head, 1)
    end = document.rindex("</html>")
    document = f"{document[:end]}<script>{script}</script>\n{document[end:]}"
    document = re.sub(r'<script src="https?://[^"]*"></script>\s*', "", document)
    document = re.sub(r'<link rel="stylesheet" href="https?://[^"]*"\s*/?>\s*', "", document)
    document = _unescape_cjk(document)
    leftover = re.findall(
        r'<(?:script|link|img|iframe)\b[^>]*(?:src|href)\s*=\s*"((?:https?:)?//[^"]+)"', document
    )
    if leftover:
        raise ConfigurationError(
            f"the web map still links {leftover[0]}; it would not work offline: the installed "
            "folium links an asset geogrid does not vendor; report it with the output of "
            "`pip show folium`"
        )
    return document


def _embed_font(document: str) -> str:
    """Embed the subset web font of every character of the page and use it for all text.

    A browser with no CJK system font would otherwise draw each Chinese character as a box.
    The rule follows Leaflet's stylesheet, so it wins over Leaflet's own font (same
    specificity, later).
    """
    font = web_font(page_characters(document))
    everything = ".leaflet-container,.leaflet-container *,body,input,button,select,textarea"
    style = f"<style>{font.font_face()}\n{everything}{{font-family:{FONT_STACK}}}</style>\n"
    end = document.index("</head>")
    return document[:end] + style + document[end:]


def _unescape_cjk(document: str) -> str:
    r"""Write CJK characters that JSON escaped (``\u7f51``) as themselves: half the bytes.

    Only CJK and full-width code points are unescaped, never ``<``, ``>``, ``&``, quotes or
    line separators, so scripts and JSON strings stay well formed.
    """

    def plain(match: re.Match[str]) -> str:
        code = int(match.group(1), 16)
        return chr(code) if 0x3000 <= code <= 0x9FFF or 0xFF00 <= code <= 0xFFEF else match.group(0)

    return re.sub(r"(?<!\\)\\u([0-9a-fA-F]{4})", plain, document)


def _leaflet_js() -> str:
    return _asset_js("leaflet/leaflet.js")


def _asset_js(name: str) -> str:
    text = (ASSETS / name).read_text(encoding="utf-8")
    return re.sub(r"//# sourceMappingURL=\S+", "", text).replace("</script", "<\\/script")


def _leaflet_css() -> str:
    css = (ASSETS / "leaflet" / "leaflet.css").read_text(encoding="utf-8")

    def inline(match: re.Match[str]) -> str:
        data = (ASSETS / "leaflet" / "images" / match.group(1)).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(data).decode('ascii')})"

    return re.sub(r"url\(images/([\w.-]+\.png)\)", inline, css)
