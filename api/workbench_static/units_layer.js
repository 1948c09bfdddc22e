// All of a draft's units in one canvas: drawn from the compact payload of
// GET /drafts/{id}/units?format=compact, hit-tested by bounding box then point in polygon.
// One Leaflet layer per unit took seconds to build and redraw for 50,000 units.
/* global L */

const TILE = 256; // Leaflet's pixels per world at zoom 0 (EPSG:3857)
const BATCH = 500; // units per path drawn

// Web Mercator pixels at zoom 0, as L.CRS.EPSG3857.latLngToPoint(·, 0) gives them
function mercatorX(lon) {
  return TILE * (0.5 + lon / 360);
}
function mercatorY(lat) {
  const s = Math.sin((Math.max(Math.min(lat, 85.0511287798), -85.0511287798) * Math.PI) / 180);
  return TILE * (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI));
}
function latOf(y) {
  return (Math.atan(Math.sinh(Math.PI * (1 - (2 * y) / TILE))) * 180) / Math.PI;
}

export const UnitsLayer = L.Layer.extend({
  // style(i) → {color, weight, opacity, fillColor, fillOpacity, dashArray} of unit i, the
  // same object for units that look alike
  initialize(options) {
    L.setOptions(this, options);
    this.props = []; // per unit: {unit_id, name, households, grid, code, locked}
    this.index = new Map(); // unit id → position
    this.size = 0;
    this.frame = 0;
    this.full = false; // the next frame draws every unit
    this.spots = []; // … or only where these units lie
  },

  onAdd(map) {
    this.canvas = L.DomUtil.create("canvas", "leaflet-zoom-hide units-canvas");
    this.getPane().appendChild(this.canvas);
    map.on("moveend zoomend resize viewreset", this.redraw, this);
    this.redraw();
  },

  onRemove(map) {
    map.off("moveend zoomend resize viewreset", this.redraw, this);
    this.canvas.remove();
  },

  // Take the compact payload: properties per unit, rings as Mercator pixels at zoom 0.
  setData(data) {
    const n = data.ids.length;
    this.props = new Array(n);
    this.index = new Map();
    for (let i = 0; i < n; i++) {
      const id = String(data.ids[i]);
      this.props[i] = {
        unit_id: id,
        name: data.names[i],
        households: data.households[i],
        grid: data.codes[data.grid[i]],
        code: data.codes[data.code[i]],
        locked: Boolean(data.locked[i]),
      };
      this.index.set(id, i);
    }
    const rings = data.sizes.length;
    this.ringStart = new Uint32Array(n + 1); // unit i: rings ringStart[i] … ringStart[i + 1]
    for (let i = 0; i < n; i++) this.ringStart[i + 1] = this.ringStart[i] + data.rings[i];
    this.pointStart = new Uint32Array(rings + 1); // ring j: points pointStart[j] … [j + 1]
    for (let j = 0; j < rings; j++) this.pointStart[j + 1] = this.pointStart[j] + data.sizes[j];
    const points = this.pointStart[rings];
    this.xy = new Float64Array(2 * points);
    this.box = new Float64Array(4 * n).fill(NaN); // per unit: minX, minY, maxX, maxY
    const [ox, oy] = data.origin;
    const steps = data.xy;
    for (let i = 0; i < n; i++) {
      let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
      for (let j = this.ringStart[i]; j < this.ringStart[i + 1]; j++) {
        let qx = ox, qy = oy; // a ring's first point is relative to the origin, then steps
        for (let k = this.pointStart[j]; k < this.pointStart[j + 1]; k++) {
          if (k === this.pointStart[j]) {
            qx = ox + steps[2 * k];
            qy = oy + steps[2 * k + 1];
          } else {
            qx += steps[2 * k];
            qy += steps[2 * k + 1];
          }
          const x = mercatorX(qx / data.scale);
          const y = mercatorY(qy / data.scale);
          this.xy[2 * k] = x;
          this.xy[2 * k + 1] = y;
          if (x < minX) minX = x;
          if (x > maxX) maxX = x;
          if (y < minY) minY = y;
          if (y > maxY) maxY = y;
        }
      }
      this.box.set([minX, minY, maxX, maxY], 4 * i);
    }
    this.size = n;
    this.redraw();
  },

  propsOf(id) {
    const i = this.index.get(String(id));
    return i === undefined ? undefined : this.props[i];
  },

  // the unit's bounding box centre as a LatLng
  centre(i) {
    const b = this.box;
    return L.latLng(latOf((b[4 * i + 1] + b[4 * i + 3]) / 2), ((b[4 * i] + b[4 * i + 2]) / 2 / TILE - 0.5) * 360);
  },

  getBounds() {
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    for (let i = 0; i < this.size; i++) {
      const b = 4 * i;
      if (!(this.box[b] <= this.box[b + 2])) continue; // a unit without geometry
      minX = Math.min(minX, this.box[b]);
      minY = Math.min(minY, this.box[b + 1]);
      maxX = Math.max(maxX, this.box[b + 2]);
      maxY = Math.max(maxY, this.box[b + 3]);
    }
    const lon = (x) => (x / TILE - 0.5) * 360;
    return L.latLngBounds([latOf(maxY), lon(minX)], [latOf(minY), lon(maxX)]);
  },

  // Map → Mercator pixels at zoom 0 to container pixels: x · scale + dx (the same for y).
  transform() {
    const map = this._map;
    const scale = map.getZoomScale(map.getZoom(), 0);
    const zero = map.layerPointToContainerPoint(map.getPixelOrigin().multiplyBy(-1));
    return { scale, dx: zero.x, dy: zero.y };
  },

  // The unit under a point (-1 for none): the last drawn wins, as on the map.
  unitAt(latlng) {
    if (!this.size) return -1;
    const x = mercatorX(latlng.lng);
    const y = mercatorY(latlng.lat);
    for (let i = this.size - 1; i >= 0; i--) {
      const b = 4 * i;
      if (x < this.box[b] || x > this.box[b + 2] || y < this.box[b + 1] || y > this.box[b + 3]) continue;
      if (this.contains(i, x, y)) return i;
    }
    return -1;
  },

  // even-odd rule over all the unit's rings (holes and parts)
  contains(i, x, y) {
    let inside = false;
    const xy = this.xy;
    for (let j = this.ringStart[i]; j < this.ringStart[i + 1]; j++) {
      const start = this.pointStart[j], end = this.pointStart[j + 1];
      for (let k = start, last = end - 1; k < end; last = k++) {
        const xi = xy[2 * k], yi = xy[2 * k + 1], xj = xy[2 * last], yj = xy[2 * last + 1];
        if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
      }
    }
    return inside;
  },

  // Draw again on the next frame (many changes in one task draw once).
  redraw() {
    this.full = true;
    this.schedule();
  },

  // Draw again only where units `ids` lie (an edit, a selection): the rest of the canvas stays.
  redrawIds(ids) {
    for (const id of ids) {
      const i = this.index.get(String(id));
      if (i !== undefined) this.spots.push(i);
    }
    this.schedule();
  },

  schedule() {
    if (!this._map) {
      this.spots = [];
      return;
    }
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      const spots = this.spots;
      this.spots = [];
      if (this.full || !this.sameView() || spots.length > this.size / 4) {
        this.full = false;
        this.draw();
      } else if (spots.length) this.drawSpots(spots);
    });
  },

  // Whether the canvas still shows the map as it is now (no pan, zoom or resize since).
  sameView() {
    const drawn = this.drawn;
    if (!drawn) return false;
    const { scale, dx, dy } = this.transform();
    const size = this._map.getSize();
    return drawn.scale === scale && drawn.dx === dx && drawn.dy === dy && drawn.w === size.x && drawn.h === size.y;
  },

  draw() {
    const map = this._map;
    if (!map) return;
    const size = map.getSize();
    const ratio = window.devicePixelRatio || 1;
    const canvas = this.canvas;
    L.DomUtil.setPosition(canvas, map.containerPointToLayerPoint([0, 0]));
    canvas.width = size.x * ratio;
    canvas.height = size.y * ratio;
    canvas.style.width = `${size.x}px`;
    canvas.style.height = `${size.y}px`;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.lineJoin = ctx.lineCap = "round";
    const { scale, dx, dy } = this.transform();
    this.drawn = { scale, dx, dy, w: size.x, h: size.y };
    this.paint(ctx, [-dx / scale, -dy / scale, (size.x - dx) / scale, (size.y - dy) / scale]);
  },

  // Clear and draw again the rectangle around units `spots` (lines reach 4 px past a unit).
  drawSpots(spots) {
    const { scale, dx, dy } = this.transform();
    const b = this.box;
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const i of spots) {
      if (!(b[4 * i] <= b[4 * i + 2])) continue; // a unit without geometry
      x0 = Math.min(x0, b[4 * i]);
      y0 = Math.min(y0, b[4 * i + 1]);
      x1 = Math.max(x1, b[4 * i + 2]);
      y1 = Math.max(y1, b[4 * i + 3]);
    }
    if (!(x0 <= x1)) return;
    const pad = 4 / scale;
    const area = [x0 - pad, y0 - pad, x1 + pad, y1 + pad];
    const ctx = this.canvas.getContext("2d");
    const [left, top] = [area[0] * scale + dx, area[1] * scale + dy];
    const [width, height] = [(area[2] - area[0]) * scale, (area[3] - area[1]) * scale];
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();
    ctx.clearRect(left, top, width, height);
    this.paint(ctx, area);
    ctx.restore();
  },

  // Draw every unit whose box meets `area` ([minX, minY, maxX, maxY], map pixels at zoom 0).
  paint(ctx, [minX, minY, maxX, maxY]) {
    const { scale, dx, dy } = this.transform();
    // units sharing a style are drawn together, in batches (one huge Path2D grew slower
    // with every point: seconds for 50,000 units)
    const groups = new Map();
    for (let i = 0; i < this.size; i++) {
      const b = 4 * i;
      if (this.box[b] > maxX || this.box[b + 2] < minX || this.box[b + 1] > maxY || this.box[b + 3] < minY) continue;
      const style = this.options.style(i); // one object per look: grouped by identity
      let group = groups.get(style);
      if (!group) groups.set(style, (group = { style, units: [] }));
      group.units.push(i);
    }
    // plain units first, highlighted (thicker lines) on top
    for (const { style, units } of [...groups.values()].sort((a, b) => a.style.weight - b.style.weight)) {
      ctx.fillStyle = style.fillColor;
      ctx.strokeStyle = style.color;
      ctx.lineWidth = style.weight;
      ctx.setLineDash(style.dashArray ? style.dashArray.split(" ").map(Number) : []);
      for (let start = 0; start < units.length; start += BATCH) {
        ctx.beginPath();
        for (const i of units.slice(start, start + BATCH)) this.trace(ctx, i, scale, dx, dy);
        ctx.globalAlpha = style.fillOpacity;
        ctx.fill("evenodd");
        ctx.globalAlpha = style.opacity;
        ctx.stroke();
      }
    }
    ctx.globalAlpha = 1;
  },

  trace(path, i, scale, dx, dy) {
    const xy = this.xy;
    for (let j = this.ringStart[i]; j < this.ringStart[i + 1]; j++) {
      const start = this.pointStart[j], end = this.pointStart[j + 1];
      for (let k = start; k < end; k++) {
        const x = xy[2 * k] * scale + dx, y = xy[2 * k + 1] * scale + dy;
        if (k === start) path.moveTo(x, y);
        else path.lineTo(x, y);
      }
      path.closePath();
    }
  },
});
