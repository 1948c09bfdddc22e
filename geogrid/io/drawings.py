"""Drawings as grids layers: CAD (DXF) and phone-map (KML/KMZ) outlines, levels and parents.

A drawing has no grid table: it has outlines, labels and layers (DXF) or folders (KML).
:func:`read_drawing` turns either into the grids layer :func:`geogrid.io.read_plan` reads,
with the rules both formats share:

* **Columns.** Block attributes and ExtendedData fields are mapped with ``columns``
  (``-c code=WGBM``), replacing a code or name the labels gave.
* **Codes.** A drawing labelled with names only gets each grid's name as its code.
  An outline with neither is an error naming where it is.
* **Levels.** ``layer_levels`` maps DXF layers or KML folders to levels (1 = top). Without
  it, levels come from nesting: an outline lying (more than half of it) inside a larger one
  is one level below the smallest such outline.
* **Parents.** ``parent_code`` (unless mapped from a column) is the code of the smallest
  outline one level up that holds more than half of the grid.
* **CRS.** A DXF has none: ``crs`` must say which (a CGCS2000 Gauss–Krüger zone such as
  ``EPSG:4546``), or it is refused. A KML is WGS84 lon/lat by definition, and ``crs``
  (``gcj02`` / ``bd09``) says what a phone app really wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geogrid.errors import CRSError, PlanFileError
from geogrid.io.archives import DEFAULT_MAX_UNPACKED
from geogrid.io.layers import _map_columns

__all__ = [
    "DRAWING_FORMATS",
    "read_drawing",
]

DRAWING_FORMATS = {".dxf": "dxf", ".kml": "kml", ".kmz": "kml"}
"""Suffix → drawing format."""

_INSIDE = 0.5
"""Share of a grid's area that must lie inside an outline for it to be the grid's parent."""
_GK_HINT = (
    "CGCS2000 3-degree Gauss–Krüger zones are EPSG:4534–4554 (no zone prefix, e.g. EPSG:4546 "
    "for central meridian 111°E) and EPSG:4513–4533 (with the zone number in front of the "
    "easting)"
)


def read_drawing(
    path: Path,
    *,
    columns: Mapping[str, str] | None = None,
    layer_levels: Mapping[str, int] | None = None,
    crs: Any = None,
    max_bytes: int = DEFAULT_MAX_UNPACKED,
) -> gpd.GeoDataFrame:
    """The grids of a DXF, KML or KMZ drawing, with codes, names, levels and parent codes.

    Parameters
    ----------
    path
        A ``.dxf``, ``.kml`` or ``.kmz`` file.
    columns
        The model's column names mapped to the drawing's attribute names (block attribute
        tags, ExtendedData fields), e.g. ``{"code": "WGBM", "name": "WGMC"}``.
    layer_levels
        DXF layer or KML folder → level (1 = top); default: levels from nesting.
    crs
        What the coordinates are; required for a DXF.
    max_bytes
        Cap of the unpacked size of a KMZ.

    Returns
    -------
    geopandas.GeoDataFrame
        ``code``, ``name``, ``level``, ``parent_code`` and the drawing's own columns, in the
        CRS of its coordinates (a DXF: none, the caller sets ``crs``).

    Raises
    ------
    CRSError
        For a DXF without ``crs``.
    PlanFileError
        When the drawing cannot be read, a mapped column is missing, a layer or folder of
        ``layer_levels`` holds no outline, or an outline has no code and no name.
    """
    kind = DRAWING_FORMATS[path.suffix.lower()]
    if kind == "dxf":
        if crs is None:
            raise CRSError(
                f"{path.name}: a DXF drawing does not say its coordinate system (坐标系); give "
                f"it with --crs, e.g. --crs EPSG:4546 — {_GK_HINT}; ask the surveying firm "
                "which one they drew in"
            )
        from geogrid.io.dxf import read_dxf

        frame = read_dxf(path, layer_levels)
    else:
        from geogrid.io.kml import read_kml

        frame = read_kml(path, max_bytes=max_bytes)
        if layer_levels:
            frame = _folders_to_levels(frame, layer_levels, path)
    frame = _map_columns(frame, columns, path) if columns else frame
    frame = _codes(frame, path)
    if "level" not in frame.columns or frame["level"].isna().all():
        frame["level"] = _nesting_levels(frame.geometry.to_numpy())
    if "parent_code" not in frame.columns:
        frame["parent_code"] = _parent_codes(frame)
    return frame


def _folders_to_levels(
    frame: gpd.GeoDataFrame, layer_levels: Mapping[str, int], path: Path
) -> gpd.GeoDataFrame:
    found = set(frame["folder"].dropna())
    unknown = sorted(set(layer_levels) - found)
    if unknown:
        raise PlanFileError(
            f"{path.name}: no folder {', '.join(map(repr, unknown))} with polygons; its folders "
            f"are {', '.join(map(repr, sorted(found))) or '(none)'}"
        )
    frame = frame[frame["folder"].isin(list(layer_levels))].reset_index(drop=True)
    return frame.assign(level=frame["folder"].map(layer_levels).astype(int))


def _codes(frame: gpd.GeoDataFrame, path: Path) -> gpd.GeoDataFrame:
    """Every outline with a code: its own, else (in a drawing without any) its name."""
    code = frame["code"] if "code" in frame.columns else pd.Series(None, index=frame.index)
    name = frame["name"] if "name" in frame.columns else pd.Series(None, index=frame.index)
    if code.isna().all():
        code = name
    missing = np.flatnonzero(code.isna().to_numpy())
    if missing.size:
        where = ", ".join(_where(frame, i) for i in missing[:5])
        more = f" (and {missing.size - 5} more)" if missing.size > 5 else ""
        raise PlanFileError(
            f"{path.name}: {missing.size} outline(s) with no code (编码) inside: {where}{more}; "
            "write each grid's code as a text inside its outline (or a block attribute mapped "
            "with -c code=TAG), or map only the grid layers with --layer-level"
        )
    return frame.assign(code=code.astype(str))


def _where(frame: gpd.GeoDataFrame, i: int) -> str:
    spot = frame.geometry.iat[i].representative_point()
    own = frame["layer"].iat[i] if "layer" in frame.columns else frame["folder"].iat[i]
    label = f"layer/folder {own!r} " if own is not None and not pd.isna(own) else ""
    name = frame["name"].iat[i] if "name" in frame.columns else None
    named = f"named {name!r} " if name is not None and not pd.isna(name) else ""
    return f"{named}{label}around x={spot.x:.6g}, y={spot.y:.6g}"


def _holders(geoms: np.ndarray) -> list[np.ndarray]:
    """For each outline, the larger outlines holding more than half of it."""
    areas = shapely.area(geoms)
    spots = shapely.point_on_surface(geoms)
    tree = shapely.STRtree(geoms)
    found: list[np.ndarray] = []
    for i, spot in enumerate(spots):
        hits = tree.query(spot, predicate="within")
        hits = hits[(hits != i) & (areas[hits] > areas[i])]
        inside = shapely.area(shapely.intersection(geoms[hits], geoms[i])) > _INSIDE * areas[i]
        found.append(hits[inside])
    return found


def _nesting_levels(geoms: np.ndarray) -> np.ndarray:
    """1 + the number of outlines nested around each one."""
    return np.array([1 + h.size for h in _holders(geoms)], dtype=int)


def _parent_codes(frame: gpd.GeoDataFrame) -> list[str | None]:
    geoms = frame.geometry.to_numpy()
    areas = shapely.area(geoms)
    levels = frame["level"].to_numpy()
    codes = frame["code"].to_numpy()
    parents: list[str | None] = []
    for i, hits in enumerate(_holders(geoms)):
        hits = hits[levels[hits] == levels[i] - 1]
        parents.append(str(codes[hits[np.argmin(areas[hits])]]) if hits.size else None)
    return parents
