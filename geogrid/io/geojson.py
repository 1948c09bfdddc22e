"""Plan GeoJSON: the one document ``write_plan`` writes and the API exports.

A plan as an RFC 7946 FeatureCollection, lon/lat with 7 decimals (about 1 cm):

- one feature per grid (``"layer": "grids"``, ``id`` its code, its staff in the ``staff``
  property in the role order of :func:`geogrid.roles.current_roles`, for GIS viewers) and
  one per unit
  (``"layer": "units"``, ``id`` its unit id);
- polygons wound as RFC 7946 §3.1.6 asks: outer rings counter-clockwise, holes clockwise;
- the foreign members ``geogrid`` (file format version, plan name, level names, attribution,
  version) and ``staff`` (the staff table, which :func:`geogrid.io.read_plan` reads back).

:func:`geogrid.io.read_plan` (and so ``POST /plans``) reads the document back as the plan.
"""

from __future__ import annotations

import json
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geogrid.io.formats import _FORMAT_VERSION, _META_KEY, GEOJSON_DECIMALS
from geogrid.plan import GridPlan

__all__ = [
    "GEOJSON_MEDIA_TYPE",
    "plan_meta",
    "plan_to_geojson",
    "plan_to_geojson_bytes",
]

GEOJSON_MEDIA_TYPE = "application/geo+json"
"""The media type of GeoJSON (RFC 7946 §12)."""


def plan_meta(plan: GridPlan) -> dict[str, Any]:
    """The plan metadata every plan file keeps: format version, name, levels, attribution, version.

    Examples
    --------
    >>> from geogrid.samples import load_sample
    >>> sorted(plan_meta(load_sample("haidian")))
    ['attribution', 'format', 'levels', 'name', 'version']
    """
    return {
        "format": _FORMAT_VERSION,
        "name": plan.name,
        "levels": list(plan.levels),
        "attribution": plan.attribution,
        "version": plan.version,
    }


def plan_to_geojson(plan: GridPlan) -> dict[str, Any]:
    """``plan`` as an RFC 7946 FeatureCollection: grids, units, staff and plan metadata.

    Outer rings are counter-clockwise and holes clockwise (RFC 7946 §3.1.6), coordinates
    rounded to 7 decimals; the module docstring describes the document.

    Examples
    --------
    >>> from shapely.geometry import Polygon
    >>> square = Polygon([(0, 0), (0, 1), (1, 1), (1, 0)])  # clockwise
    >>> grids = gpd.GeoDataFrame({"code": ["001"], "name": ["东"], "level": [1]},
    ...                          geometry=[square], crs=4490)
    >>> staff = pd.DataFrame({"grid_code": ["001"], "role": ["head"], "name": ["王"],
    ...                       "phone": ["138"]})
    >>> doc = plan_to_geojson(GridPlan("示例", ["网格"], grids, staff=staff))
    >>> doc["geogrid"]["levels"], doc["staff"][0]["name"]
    (['网格'], '王')
    >>> feature = doc["features"][0]
    >>> feature["id"], feature["properties"]["layer"], feature["properties"]["staff"]
    ('001', 'grids', [{'role': 'head', 'name': '王', 'phone': '138'}])
    >>> feature["geometry"]["coordinates"][0][0]  # counter-clockwise now
    [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]
    """
    staff = plan.staff_by_grid()
    grids = _features(plan.grids, "grids", "code")
    for feature in grids:
        feature["properties"]["staff"] = staff.get(str(feature["id"]), [])
    return {
        "type": "FeatureCollection",
        _META_KEY: plan_meta(plan),
        "staff": _records(plan.staff),
        "features": grids + _features(plan.units, "units", "unit_id"),
    }


def plan_to_geojson_bytes(plan: GridPlan) -> bytes:
    """:func:`plan_to_geojson` as the bytes of a file: compact UTF-8 JSON, Chinese kept readable.

    Examples
    --------
    >>> from geogrid.samples import load_sample
    >>> plan_to_geojson_bytes(load_sample("haidian"))[:30]
    b'{"type":"FeatureCollection","g'
    """
    text = json.dumps(plan_to_geojson(plan), ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8")


def _features(frame: gpd.GeoDataFrame, layer: str, id_column: str) -> list[dict[str, Any]]:
    geoms = _rfc7946_geoms(frame.geometry.to_numpy())
    return [
        {
            "type": "Feature",
            "id": props[id_column],
            "properties": {"layer": layer, **props},
            "geometry": None if geom is None or geom.is_empty else _geometry(geom),
        }
        for props, geom in zip(
            _records(frame.drop(columns=frame.geometry.name)), geoms, strict=True
        )
    ]


def _rfc7946_geoms(geoms: np.ndarray) -> np.ndarray:
    """Coordinates rounded to 7 decimals, then outer rings wound CCW and holes CW.

    Rounding comes first, so the winding is that of the coordinates written.
    """
    rounded = shapely.transform(geoms, lambda xy: np.round(xy, GEOJSON_DECIMALS))
    return np.asarray(shapely.orient_polygons(rounded, exterior_cw=False))


def _geometry(geom: shapely.Geometry) -> dict[str, Any]:
    return dict(json.loads(shapely.to_geojson(geom)))


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain JSON-ready dicts (pandas NA → None, numpy scalars → Python)."""
    plain = frame.astype(object).where(frame.notna(), None)
    return [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
        for row in plain.to_dict("records")
    ]
