// The map: units coloured by grid, grid outlines, the base version's outlines, problems,
// a proposal's moves, the selection, and the drawing tools (box, lasso, split line).
/* global L */
import { UnitsLayer } from "./units_layer.js";

const PALETTE = [
  "#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5",
  "#bc80bd", "#ccebc5", "#ffed6f", "#a6cee3", "#b2df8a", "#fdbf6f", "#cab2d6", "#e5d8bd",
];
const STATUS_LINE = { low: "#2b6cb0", ok: "#2f855a", high: "#c53030" };

function paletteColour(code) {
  let h = 0;
  for (const ch of String(code)) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length];
}

export class MapView {
  constructor(element, { basemap } = {}) {
    this.renderer = L.canvas({ padding: 0.3, tolerance: 2 });
    this.map = L.map(element, {
      preferCanvas: true,
      renderer: this.renderer,
      zoomSnap: 0.25,
      doubleClickZoom: false,
      boxZoom: false,
      keyboard: true,
      attributionControl: Boolean(basemap),
    }).setView([39.99, 116.32], 14);
    if (basemap) L.tileLayer(basemap, { maxZoom: 19 }).addTo(this.map);
    this.colours = new Map(); // grid code → fill colour
    this.styles = new Map(); // a unit's look (fill and highlights) → its style object
    this.selected = new Set();
    this.proposed = new Map(); // unit id → target grid
    this.broken = new Set(); // grid codes in more than one piece
    this.strays = new Set(); // units of a broken grid's stray pieces
    // every unit in one canvas below the outlines (one Leaflet layer per unit took seconds
    // to build for 50,000 units): drawn from the compact payload, hit-tested here
    this.map.createPane("units").style.zIndex = 350;
    this.units = new UnitsLayer({ pane: "units", style: (i) => this.unitStyle(i) }).addTo(this.map);
    this.tooltip = L.tooltip({ sticky: true });
    this.map.on("mousemove", (e) => this.hover(e));
    this.map.on("mouseout", () => this.map.closeTooltip(this.tooltip));
    this.map.on("click", (e) => {
      const i = this.units.unitAt(e.latlng);
      if (i >= 0) this.onUnitClick?.(this.units.props[i].unit_id, e.originalEvent);
    });
    this.grids = L.layerGroup().addTo(this.map);
    this.base = L.layerGroup();
    this.problems = L.layerGroup().addTo(this.map);
    this.drawing = L.layerGroup().addTo(this.map);
    this.mode = "pan";
    this.installTools();
  }

  // ------------------------------------------------------------------ styles

  // the style of unit i (its properties as the server gave them, kept up to date by moves):
  // one shared object per look, so the layer groups 50,000 units by a handful of styles
  unitStyle(i) {
    const p = this.units.props[i];
    const id = p.unit_id;
    const fill = this.colours.get(p.grid) || paletteColour(p.grid);
    const flags = `${this.strays.has(id) ? "s" : ""}${this.proposed.has(id) ? "p" : ""}${this.selected.has(id) ? "x" : ""}${p.locked ? "l" : ""}`;
    const key = `${fill}|${flags}`;
    let style = this.styles.get(key);
    if (style) return style;
    style = { color: "#555", weight: 0.5, fillColor: fill, fillOpacity: 0.75, opacity: 0.8, dashArray: null };
    if (flags.includes("s")) Object.assign(style, { color: "#e53e3e", weight: 3, dashArray: "4 3" });
    if (flags.includes("p")) Object.assign(style, { color: "#d53f8c", weight: 2.5, fillColor: "#fbb6ce", fillOpacity: 0.9 });
    if (flags.includes("x")) Object.assign(style, { color: "#1a202c", weight: 2.5, fillColor: "#faf089", fillOpacity: 0.95 });
    if (flags.includes("l")) style.dashArray = "2 2";
    this.styles.set(key, style);
    return style;
  }

  restyle() {
    this.units.redraw();
  }

  // units whose style changed (a selection, a highlight, a move): drawn again where they lie
  restyleIds(ids) {
    this.units.redrawIds(ids);
  }

  hover(e) {
    const i = this.units.unitAt(e.latlng);
    this.map.getContainer().classList.toggle("over-unit", i >= 0);
    if (i < 0) {
      this.map.closeTooltip(this.tooltip);
      return;
    }
    const p = this.units.props[i];
    this.tooltip.setContent(`${p.name || p.unit_id} · ${p.households ?? 0} · ${p.grid}`).setLatLng(e.latlng);
    if (!this.map.hasLayer(this.tooltip)) this.map.openTooltip(this.tooltip);
  }

  // replace a set of highlighted ids, restyling what entered or left it
  swapSet(name, ids) {
    const before = this[name];
    const after = new Set(ids);
    this[name] = after;
    const changed = [...before].filter((id) => !after.has(id)).concat([...after].filter((id) => !before.has(id)));
    this.restyleIds(changed);
  }

  // ------------------------------------------------------------------ data

  // units from GET /drafts/{id}/units?format=compact (see UnitsLayer)
  setUnits(compact, { fit = false } = {}) {
    for (const [code, colour] of Object.entries(compact.colours || {})) this.colours.set(code, colour);
    this.units.setData(compact);
    if (fit && this.units.size) this.map.fitBounds(this.units.getBounds(), { padding: [20, 20] });
  }

  get unitCount() {
    return this.units.size;
  }

  unitProps(id) {
    return this.units.propsOf(id);
  }

  // every unit's properties (unit_id, name, households, grid, code, locked)
  unitList() {
    return this.units.props;
  }

  setGrids(collection, { fit = false } = {}) {
    this.grids.clearLayers();
    let recoloured = false;
    for (const feature of collection.features) {
      const p = feature.properties;
      if (p.colour && this.colours.get(p.code) !== p.colour) {
        this.colours.set(p.code, p.colour);
        recoloured = true;
      }
    }
    // outlines take no clicks: a click near a boundary selects the unit under it (the
    // "pick" tool picks a grid by clicking one of its units)
    const layer = L.geoJSON(collection, {
      renderer: this.renderer,
      interactive: false,
      style: (f) => {
        const p = f.properties;
        const broken = this.broken.has(p.code);
        return {
          color: broken ? "#e53e3e" : STATUS_LINE[p.status] || "#222",
          weight: broken ? 4 : 2,
          dashArray: broken ? "8 6" : null,
          fill: false,
        };
      },
    });
    this.grids.addLayer(layer);
    this.gridsGeo = layer;
    if (recoloured) this.restyle();
    if (fit) this.map.fitBounds(layer.getBounds(), { padding: [20, 20] });
  }

  setBroken(codes) {
    this.broken = new Set(codes);
  }

  setStrays(ids) {
    this.swapSet("strays", ids.map(String));
  }

  setBase(collection) {
    this.base.clearLayers();
    if (!collection) return;
    this.base.addLayer(L.geoJSON(collection, {
      renderer: this.renderer,
      interactive: false,
      style: { color: "#6b46c1", weight: 3, dashArray: "6 4", fill: false, opacity: 0.9 },
    }));
  }

  showBase(on) {
    if (on) this.base.addTo(this.map);
    else this.base.remove();
  }

  // problems: [{lon, lat, line, kind, geometry?}] — the problem's shape outlined (a gap, an
  // overlap, an outside part) and a marker at its point; both open the line when clicked
  setProblems(problems, { fit = true } = {}) {
    this.problems.clearLayers();
    const points = [];
    problems.forEach((p, i) => {
      if (p.geometry && p.geometry.type !== "Point") {
        const area = L.geoJSON(p.geometry, {
          renderer: this.renderer,
          style: { color: "#c53030", weight: 2, fillColor: "#f56565", fillOpacity: 0.45 },
        }).bindPopup(p.line || p.kind || "");
        area.problemIndex = i;
        this.problems.addLayer(area);
        const b = area.getBounds();
        points.push(b.getSouthWest(), b.getNorthEast());
      }
      if (p.lon == null || p.lat == null) return;
      const marker = L.circleMarker([p.lat, p.lon], {
        renderer: this.renderer, radius: 9, color: "#c53030", weight: 3, fillColor: "#feb2b2", fillOpacity: 0.8,
      }).bindPopup(p.line || p.kind || "");
      marker.problemIndex = i;
      this.problems.addLayer(marker);
      points.push([p.lat, p.lon]);
    });
    if (fit && points.length) this.map.fitBounds(L.latLngBounds(points).pad(0.3), { maxZoom: 17 });
  }

  focusProblem(i) {
    for (const layer of this.problems.getLayers()) {
      if (layer.problemIndex === i && layer instanceof L.GeoJSON) {
        this.map.fitBounds(layer.getBounds().pad(0.5), { maxZoom: 18 });
        layer.openPopup(layer.getBounds().getCenter());
        return;
      }
      if (layer.problemIndex === i) {
        this.map.setView(layer.getLatLng(), Math.max(this.map.getZoom(), 16));
        layer.openPopup();
      }
    }
  }

  setSelection(ids) {
    this.swapSet("selected", ids.map(String));
  }

  setProposal(moves) {
    const changed = new Set(this.proposed.keys());
    this.proposed = new Map((moves || []).map((m) => [String(m.unit), m.to]));
    for (const id of this.proposed.keys()) changed.add(id);
    this.restyleIds(changed);
  }

  // ------------------------------------------------------------------ tools

  setMode(mode) {
    this.mode = mode;
    this.drawing.clearLayers();
    this.line = null;
    const drawn = mode === "box" || mode === "lasso";
    if (drawn) this.map.dragging.disable();
    else this.map.dragging.enable();
    this.map.getContainer().dataset.mode = mode;
  }

  installTools() {
    const map = this.map;
    let start = null;
    let shape = null;
    let points = [];
    map.on("mousedown", (e) => {
      if (this.mode !== "box" && this.mode !== "lasso") return;
      start = e.latlng;
      points = [e.latlng];
      this.drawing.clearLayers();
      shape = this.mode === "box"
        ? L.rectangle([start, start], { renderer: this.renderer, color: "#2b6cb0", weight: 2, fillOpacity: 0.1 })
        : L.polygon([start], { renderer: this.renderer, color: "#2b6cb0", weight: 2, fillOpacity: 0.1 });
      this.drawing.addLayer(shape);
    });
    map.on("mousemove", (e) => {
      if (!start) return;
      if (this.mode === "box") shape.setBounds(L.latLngBounds(start, e.latlng));
      else {
        points.push(e.latlng);
        shape.setLatLngs(points);
      }
    });
    map.on("mouseup", (e) => {
      if (!start) return;
      const additive = e.originalEvent?.shiftKey;
      if (this.mode === "box") {
        const b = L.latLngBounds(start, e.latlng);
        this.onBox?.([b.getWest(), b.getSouth(), b.getEast(), b.getNorth()], additive);
      } else if (points.length >= 3) {
        this.onLasso?.(points.map((p) => [p.lng, p.lat]), additive);
      }
      start = null;
      setTimeout(() => this.drawing.clearLayers(), 300);
    });
    map.on("click", (e) => {
      if (this.mode !== "line") return;
      if (!this.line) {
        this.line = L.polyline([e.latlng], { renderer: this.renderer, color: "#d53f8c", weight: 3 });
        this.drawing.addLayer(this.line);
      } else this.line.addLatLng(e.latlng);
    });
    map.on("dblclick", () => {
      if (this.mode !== "line" || !this.line) return;
      const coords = this.line.getLatLngs().map((p) => [p.lng, p.lat]);
      const dedup = coords.filter((c, i) => i === 0 || c[0] !== coords[i - 1][0] || c[1] !== coords[i - 1][1]);
      if (dedup.length >= 2) this.onLine?.(dedup);
    });
  }

  // The screen point of a unit's centre (keyboard and test helpers).
  unitPoint(id) {
    const i = this.units.index.get(String(id));
    return i === undefined ? null : this.map.latLngToContainerPoint(this.units.centre(i));
  }
}
