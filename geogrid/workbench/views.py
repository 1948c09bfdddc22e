"""What the workbench shows of a draft: units and grids as GeoJSON, selections, the change list.

Colours come from the wall map's palette and colouring (neighbouring grids always differ),
computed on the grids' adjacency through their units' shared edges, so the browser only
paints what the server says.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence

import geopandas as gpd
import networkx as nx
import numpy as np
import orjson
import pandas as pd
import shapely

from geogrid.errors import InvalidInputError
from geogrid.partition.notice import CHANGE_COLUMNS
from geogrid.plan import PLAN_CRS
from geogrid.render.colouring import PALETTE, colour_indices, shade
from geogrid.units.measures import DRAWING_SCALE, drawing
from geogrid.workbench.draft import Draft
from geogrid.workbench.evaluate import Evaluation, Figures

__all__ = [
    "UNITS_SCALE",
    "changes",
    "grid_colours",
    "grids_geojson",
    "select_units",
    "units_compact",
    "units_geojson",
]


def grid_colours(draft: Draft, level: int | None = None) -> dict[str, str]:
    """A fill colour per grid of ``level``: neighbours (sharing a unit edge) always differ.

    A draft at its base (no edit before the cursor) has the colours of its base, kept: the
    units and the outlines of a draft just opened are asked for at once, and both colour.
    """
    if draft.cursor:
        return _colours(draft, level)
    level = draft.level if level is None else level
    with _GUARD:
        kept = _BASE_COLOURS.setdefault(draft, {})
        found = kept.get(level)
    if found is None:
        found = _colours(draft, level)
        with _GUARD:
            kept[level] = found
    return dict(found)


_BASE_COLOURS: weakref.WeakKeyDictionary[Draft, dict[int, dict[str, str]]] = (
    weakref.WeakKeyDictionary()
)
_GUARD = threading.Lock()


def _colours(draft: Draft, level: int | None) -> dict[str, str]:
    owner = draft.at_level(level)
    a, b = draft.edges[:, 0].astype(np.int64), draft.edges[:, 1].astype(np.int64)
    across = owner[a] != owner[b]
    graph = nx.Graph()
    graph.add_nodes_from(draft.codes_at(draft.level if level is None else level))
    graph.add_edges_from(zip(owner[a][across].tolist(), owner[b][across].tolist(), strict=True))
    return {code: _colour(i) for code, i in colour_indices(graph).items()}


def _colour(index: int) -> str:
    base = PALETTE[index % len(PALETTE)]
    rounds = index // len(PALETTE)
    return shade(base, 2 * rounds, 2 * rounds + 1) if rounds else base


def units_geojson(draft: Draft) -> bytes:
    """The draft's units as GeoJSON.

    Properties: ``unit_id``, ``name``, ``kind``, ``households``, ``grid`` (edited level),
    ``code`` (deepest), ``locked``, ``colour`` (of its grid).
    """
    colours = grid_colours(draft)
    grid = draft.at_level()
    frame = gpd.GeoDataFrame(
        {
            "unit_id": draft.unit_ids,
            "name": draft.units["name"].astype(object).where(draft.units["name"].notna(), None),
            "kind": draft.units["kind"].astype(object),
            "households": draft.households,
            "grid": grid,
            "code": draft.codes,
            "locked": draft.locked_units(),
            "colour": [colours.get(c, "#cccccc") for c in grid.tolist()],
        },
        geometry=draft.units.geometry.to_numpy(),
        crs=PLAN_CRS,
    )
    return _geojson(frame)


UNITS_SCALE = DRAWING_SCALE
"""Compact units: coordinates as integers of 10⁻⁷ degree (1 cm), as the GeoJSON's 7 decimals."""


def units_compact(draft: Draft) -> bytes:
    """The draft's units as flat arrays, for the page to draw in one canvas (JSON).

    The same facts as :func:`units_geojson` in a tenth of the bytes, quick to parse:
    ``ids``, ``names``, ``households``, ``locked`` (0/1) per unit; ``codes`` (every code
    named) with ``grid`` (edited level) and ``code`` (deepest) as indexes into it;
    ``colours`` per grid code. Geometry: unit ``i`` has ``rings[i]`` rings, ring ``j``
    ``sizes[j]`` points (the closing point left out); ``xy`` holds, per ring, its first point
    less ``origin`` and then each point less the one before, in units of 1 / ``scale``
    degree (lon, lat).
    """
    grid, codes = draft.at_level(), draft.codes
    table, index = np.unique(np.concatenate([grid, codes]).astype(str), return_inverse=True)
    colours = grid_colours(draft)
    drawn = draft.measures.drawing  # kept with the version's measures: no ring taken apart
    if drawn is None or drawn.scale != UNITS_SCALE:
        drawn = drawing(draft.units.geometry.to_numpy(), UNITS_SCALE)
    payload = {
        "scale": UNITS_SCALE,
        "origin": drawn.origin,
        "ids": draft.unit_ids,
        "names": draft.units["name"].astype(object).where(draft.units["name"].notna(), None),
        "households": draft.households,
        "locked": draft.locked_units().astype(np.int8),
        "codes": table.tolist(),
        "grid": index[: len(grid)],
        "code": index[len(grid) :],
        "colours": colours,
        "rings": drawn.rings,
        "sizes": drawn.sizes,
        "xy": drawn.xy,
    }
    payload["ids"] = payload["ids"].tolist()
    payload["names"] = payload["names"].tolist()
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)


def grids_geojson(
    draft: Draft,
    evaluation: Evaluation | Figures,
    *,
    level: int | None = None,
    which: str = "draft",
) -> bytes:
    """Grid polygons of ``level``: the draft's (dissolved from units when edited) or the base's.

    Properties: ``code``, ``name``, ``households``, ``status`` and ``colour`` (draft only).
    ``evaluation``: the draft's figures — the :class:`Figures` kept edit by edit (no second
    evaluation of every grid) or an :class:`Evaluation`.
    """
    level = draft.level if level is None else level
    if not 1 <= level <= draft.base.depth:
        raise InvalidInputError(f"level must be 1…{draft.base.depth}, got {level}")
    if which == "base":
        grids = draft.base.level(level)
        frame = gpd.GeoDataFrame(
            {
                "code": grids["code"].astype(str),
                "name": grids["name"].astype(str),
                "households": grids["households"].astype(object),
            },
            geometry=grids.geometry.to_numpy(),
            crs=PLAN_CRS,
        )
        return _geojson(frame)
    # plain dicts: a pandas lookup per grid and column took a second for 2,500 grids
    if isinstance(evaluation, Figures):
        rows = evaluation.rows.values()
        households = {r["code"]: int(r["households"]) for r in rows}
        status = {r["code"]: str(r["status"]) for r in rows}
    else:
        facts = evaluation.grids.set_index("code")
        households = {c: int(h) for c, h in facts["households"].items()}
        status = {c: str(s) for c, s in facts["status"].items()}
    names = draft.grids["name"].to_dict()
    codes = [c for c in draft.codes_at(level) if level < draft.level or c in status]
    colours = grid_colours(draft, level) if level >= draft.level else {}
    frame = gpd.GeoDataFrame(
        {
            "code": codes,
            "name": [str(names[c]) for c in codes],
            "households": [households.get(c) for c in codes],
            "status": [status.get(c) for c in codes],
            "colour": [colours.get(c) for c in codes],
        },
        geometry=[draft.geometry(c) for c in codes],
        crs=PLAN_CRS,
    )
    return _geojson(frame[~frame.geometry.is_empty])


def _geojson(frame: gpd.GeoDataFrame) -> bytes:
    """A FeatureCollection as bytes, written directly.

    GeoPandas' ``to_json`` took seconds for thousands of units; here geometries come from
    shapely's vectorised writer and properties from orjson.
    """
    rounded = shapely.transform(frame.geometry.to_numpy(), lambda xy: np.round(xy, 7))
    geoms = shapely.to_geojson(rounded)  # 7 decimals (1 cm), for display
    table = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    records = table.astype(object).where(table.notna(), None).to_dict("records")
    features = b",".join(
        b'{"type":"Feature","properties":'
        + orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY)
        + b',"geometry":'
        + (geom.encode() if geom is not None else b"null")
        + b"}"
        for record, geom in zip(records, geoms.tolist(), strict=True)
    )
    return b'{"type":"FeatureCollection","features":[' + features + b"]}"


def select_units(
    draft: Draft,
    *,
    polygon: Sequence[Sequence[float]] | None = None,
    box: Sequence[float] | None = None,
) -> list[str]:
    """Ids of the units whose representative point lies in ``polygon`` or ``box``."""
    if polygon is not None:
        if len(polygon) < 3:
            raise InvalidInputError("a lasso needs at least three points (套索至少三个点)")
        shape = shapely.make_valid(shapely.Polygon([(float(x), float(y)) for x, y in polygon]))
    elif box is not None and len(box) == 4:
        west, south, east, north = (float(v) for v in box)
        shape = shapely.box(min(west, east), min(south, north), max(west, east), max(south, north))
    else:
        raise InvalidInputError("send a polygon ([[lon, lat], …]) or a box ([w, s, e, n])")
    inside = shapely.contains_xy(shape, shapely.get_x(draft.points), shapely.get_y(draft.points))
    return [str(u) for u in draft.unit_ids[inside]]


def changes(draft: Draft) -> pd.DataFrame:
    """The building-level change list against the base plan (:data:`CHANGE_COLUMNS`).

    One row per unit whose grid at the edited level changed, most households first within
    each old → new pair; grids' names as they are in the base plan and in the draft.
    """
    base_parent = dict(
        zip(draft.base.grids["code"].astype(str), draft.base.grids["parent_code"], strict=True)
    )
    base_level = dict(
        zip(draft.base.grids["code"].astype(str), draft.base.grids["level"], strict=True)
    )

    def base_at(code: str) -> str:
        while base_level.get(code, 0) > draft.level:
            code = str(base_parent[code])
        return code

    old = np.array([base_at(c) for c in draft.base_codes.tolist()], dtype=object)
    new = draft.at_level()
    moved = np.flatnonzero(old != new)
    names = dict(zip(draft.base.grids["code"].astype(str), draft.base.grids["name"], strict=True))
    names |= {str(c): str(n) for c, n in draft.grids["name"].items()}
    frame = pd.DataFrame(
        {
            "id": draft.unit_ids[moved],
            "name": draft.units["name"].to_numpy(object)[moved],
            "address": None,
            "households": draft.households[moved],
            "from_code": old[moved],
            "from_name": [names.get(c) for c in old[moved]],
            "to_code": new[moved],
            "to_name": [names.get(c) for c in new[moved]],
        },
        columns=list(CHANGE_COLUMNS),
    )
    frame = frame.sort_values(["from_code", "to_code", "households"], ascending=[True, True, False])
    return frame.reset_index(drop=True)
