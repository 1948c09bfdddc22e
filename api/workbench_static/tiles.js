// Reference layers of stored plans drawn from the service's vector tiles (/tiles) when the
// level is big: above GEOGRID_TILES_ABOVE_GRIDS grids (the TileJSON's geogrid:use_tiles, the
// web map's rule) one GeoJSON of every grid is slow to fetch and to draw, tiles bring only
// what the view shows. Leaflet.VectorGrid is the web map's vendored copy, loaded on first use.
/* global L */
import { call, enc, headers } from "./api.js";

const BASE_STYLE = { color: "#6b46c1", weight: 3, dashArray: "6 4", fill: false, opacity: 0.9 };
let vectorGrid = null; // the script's loading, once

function loadVectorGrid() {
  vectorGrid ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "/workbench/vectorgrid/leaflet-vectorgrid.js";
    script.onload = resolve;
    script.onerror = () => reject(new Error("Leaflet.VectorGrid did not load"));
    document.head.append(script);
  });
  return vectorGrid;
}

// Whether version `version` of plan `plan` is the one in force (only those are in /tiles).
async function inForce(plan, version) {
  const { data } = await call("GET", "/plans");
  return data.some((p) => p.name === plan && p.active_version === version);
}

// The draft's base version at the draft's level drawn from tiles into `map.base`: true when
// done, false when the caller should draw it from GeoJSON (a small level, or a base that is
// not the version in force).
export async function baseFromTiles(map, draft) {
  if (draft?.base_version == null || !(await inForce(draft.plan, draft.base_version))) return false;
  const { data: tilejson } = await call("GET", `/tiles/${enc(draft.level)}.json`);
  if (!tilejson["geogrid:use_tiles"]) return false;
  await loadVectorGrid();
  if (!map.map.getPane("reference")) {
    const pane = map.map.createPane("reference");
    pane.style.zIndex = 420; // above the units' canvas (350), below problems and tools
    pane.style.pointerEvents = "none";
  }
  const own = (p) => p.plan === draft.plan && p.version === draft.base_version;
  const layer = L.vectorGrid.protobuf(tilejson.tiles[0], {
    pane: "reference",
    rendererFactory: L.canvas.tile,
    interactive: false,
    maxNativeZoom: tilejson.maxzoom,
    fetchOptions: { headers: headers() },
    // the plans in force around it are in the tiles too: only the draft's own is drawn
    vectorTileLayerStyles: { grids: (p) => (own(p) ? BASE_STYLE : []) },
  });
  map.base.clearLayers();
  map.base.addLayer(layer);
  return true;
}
