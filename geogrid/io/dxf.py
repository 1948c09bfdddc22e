"""CAD drawings (DXF) as grid polygons: closed outlines, and the labels written inside them.

A surveying firm delivers grid outlines as a DXF drawn in a local projected system, most
often a CGCS2000 Gauss–Krüger zone (EPSG:4513–4554). A DXF does not say which, so the
reader never guesses: the caller states it (``--crs EPSG:4546``) or the file is refused.

What is read, with `ezdxf <https://ezdxf.mozman.at>`_, from the model space:

========================  ===================================================================
outlines                  closed ``LWPOLYLINE`` and 2D ``POLYLINE`` (arcs of bulges
                          cut into chords within 5 cm of the arc), and the boundary paths of ``HATCH``
                          (the largest path the outline, paths inside it holes); a hatch
                          drawn over a polyline of the same outline on the same layer is
                          one grid, not two
labels                    ``TEXT`` and ``MTEXT`` (each line of it): a label made of digits
                          and Latin letters (``110108001001``, ``A-03``) is the grid's code,
                          any other (``青禾社区第一网格``) its name
block attributes          the ``ATTRIB`` values of a block ``INSERT`` (tag → column, e.g.
                          ``WGBM``, ``WGMC``), mapped like any foreign column with
                          ``-c code=WGBM``
========================  ===================================================================

Each label or block goes to the smallest outline that contains its insertion point; with
a layer → level mapping, only to an outline of its own layer's level (so the community's
name, written inside one of its grids, goes to the community). Nothing is silently
dropped: an outline with two different codes or names inside, or with none, is an error
naming the layer and where it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import Polygon

from geogrid.errors import PlanFileError

__all__ = [
    "read_dxf",
]

_FLATTEN = 0.05
"""Largest distance, in drawing units (metres), between an arc and the chords replacing it."""
_CODE = re.compile(r"[0-9A-Za-z][0-9A-Za-z_\-./]*")
_SAME = 1e-6
"""Two outlines whose symmetric difference is below this share of their area are one."""


@dataclass
class _Label:
    layer: str
    x: float
    y: float
    values: dict[str, str] = field(default_factory=dict)


def read_dxf(path: Path, layer_levels: Mapping[str, int] | None = None) -> gpd.GeoDataFrame:
    """The grid outlines of a DXF drawing with their labels, in drawing coordinates (no CRS).

    Parameters
    ----------
    path
        The ``.dxf`` file (ASCII or binary, any DXF version ezdxf reads; damaged files are
        recovered when ezdxf can).
    layer_levels
        Layer name → level (1 = top). When given, only outlines and labels on these layers
        are read, and a label goes to an outline of its layer's level.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per outline: ``layer``, ``code`` and ``name`` from the texts inside (when
        any), one column per block attribute tag, and ``level`` when ``layer_levels`` is
        given; the geometry a Polygon in drawing units, no CRS.

    Raises
    ------
    PlanFileError
        When the file is not a DXF, has no closed outline (on the mapped layers), or an
        outline has conflicting labels or none.
    """
    doc = _open(path)
    wanted = None if not layer_levels else set(layer_levels)
    outlines, outline_layers = _outlines(doc.modelspace(), wanted)
    if not outlines:
        scope = f" on the layers {', '.join(sorted(wanted))}" if wanted else ""
        raise PlanFileError(
            f"{path.name}: no closed outline{scope} (闭合多段线 / 填充) in the model space; draw "
            "each grid as a closed polyline or hatch"
            + ("; check the layer names (图层)" if wanted else "")
        )
    labels = _labels(doc.modelspace(), wanted)
    frame = gpd.GeoDataFrame({"layer": outline_layers}, geometry=outlines)
    frame = _dedupe(frame)
    if layer_levels:
        frame["level"] = frame["layer"].map(layer_levels).astype(int)
    return _attach(frame, labels, layer_levels, path)


def _open(path: Path) -> Any:
    import ezdxf
    from ezdxf import recover

    try:
        doc, auditor = recover.readfile(str(path))
    except (OSError, ezdxf.DXFError, UnicodeDecodeError, ValueError) as exc:
        raise PlanFileError(
            f"{path.name}: not a readable DXF drawing ({exc}); save it again from CAD as DXF "
            "(AutoCAD 2000 or later)"
        ) from exc
    if auditor.has_errors:
        raise PlanFileError(
            f"{path.name}: a damaged DXF ({auditor.errors[0].message}); open it in CAD, run "
            "AUDIT/RECOVER and save it again as DXF"
        )
    return doc


# --------------------------------------------------------------------------- outlines


def _outlines(space: Iterable[Any], wanted: set[str] | None) -> tuple[list[Polygon], list[str]]:
    """Every closed outline, as polygons, with its layer."""
    polygons: list[Polygon] = []
    layers: list[str] = []
    for entity in space:
        layer = str(entity.dxf.get("layer", "0"))
        if wanted is not None and layer not in wanted:
            continue
        kind = entity.dxftype()
        rings: list[np.ndarray] = []
        if _closed_polyline(entity, kind):
            rings = [_flat(entity)]
        elif kind == "HATCH":
            rings = _hatch_rings(entity)
        for polygon in _polygons(rings):
            polygons.append(polygon)
            layers.append(layer)
    return polygons, layers


def _closed_polyline(entity: Any, kind: str) -> bool:
    if kind == "LWPOLYLINE":
        return bool(entity.closed) or _ends_meet(entity.get_points("xy"))
    return kind == "POLYLINE" and entity.is_2d_polyline and entity.is_closed


def _ends_meet(points: Any) -> bool:
    points = list(points)
    return len(points) >= 4 and np.allclose(points[0], points[-1])


def _flat(entity: Any) -> np.ndarray:
    """A polyline's ring, each bulge (arc) followed exactly (see :func:`_bulged`)."""
    if entity.dxftype() == "LWPOLYLINE":
        return _bulged([(x, y, b) for x, y, b in entity.get_points("xyb")])
    return _bulged([(v.dxf.location.x, v.dxf.location.y, v.dxf.bulge) for v in entity.vertices])


def _bulged(vertices: list[tuple[float, float, float]]) -> np.ndarray:
    """The closed ring through ``(x, y, bulge)`` vertices, arcs cut into chords.

    A bulge is the tangent of a quarter of the arc's angle, positive counter-clockwise. The
    points are put on the arc itself, at most :data:`_FLATTEN` from it between them (ezdxf's
    own paths stand in cubic Béziers for arcs, 0.027 % of the radius off: 27 cm at 1 km).
    """
    from ezdxf.math import Vec2, bulge_center, bulge_radius

    points: list[tuple[float, float]] = []
    for i, (x, y, bulge) in enumerate(vertices):
        points.append((x, y))
        if not bulge:
            continue
        nx, ny, _ = vertices[(i + 1) % len(vertices)]
        start, end = Vec2(x, y), Vec2(nx, ny)
        if start.isclose(end):
            continue
        centre, radius = bulge_center(start, end, bulge), bulge_radius(start, end, bulge)
        sweep = 4 * np.arctan(bulge)
        step = 2 * np.arccos(max(-1.0, 1 - _FLATTEN / radius)) if radius > _FLATTEN else np.pi
        count = max(1, int(np.ceil(abs(sweep) / step)))
        first = np.arctan2(y - centre.y, x - centre.x)
        angles = first + sweep * np.arange(1, count) / count
        points.extend(
            zip(centre.x + radius * np.cos(angles), centre.y + radius * np.sin(angles), strict=True)
        )
    return np.array(points, dtype=float)


def _hatch_rings(hatch: Any) -> list[np.ndarray]:
    """The boundary paths of a hatch: polyline paths exactly, edge paths through ezdxf."""
    from ezdxf import path as dxfpath

    rings = []
    for boundary in hatch.paths:
        if hasattr(boundary, "vertices"):  # a polyline path: (x, y, bulge)
            rings.append(
                _bulged([(v[0], v[1], v[2] if len(v) > 2 else 0.0) for v in boundary.vertices])
            )
        else:
            made = dxfpath.from_hatch_edge_path(boundary)
            rings.append(np.array([(v.x, v.y) for v in made.flattening(_FLATTEN)], dtype=float))
    return rings


def _polygons(rings: list[np.ndarray]) -> list[Polygon]:
    """Rings as polygons: each ring inside a larger one is a hole of it (even–odd)."""
    shells = [Polygon(r) for r in rings if len(r) >= 3 and np.isfinite(r).all()]
    shells = sorted((s for s in shells if s.area > 0), key=lambda s: -s.area)
    out: list[tuple[Polygon, list[Polygon]]] = []
    for shell in shells:
        spot = shell.representative_point()
        host = next((o for o in out if o[0].contains(spot) and not o[1]), None)
        if host is not None and not any(h.contains(spot) for h in host[1]):
            host[1].append(shell)
        else:
            out.append((shell, []))
    return [
        Polygon(shell.exterior.coords, [h.exterior.coords for h in holes]) for shell, holes in out
    ]


def _dedupe(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One row for the same outline drawn twice on a layer (a hatch over its polyline)."""
    geoms = frame.geometry.to_numpy()
    keep = np.ones(len(frame), dtype=bool)
    tree = shapely.STRtree(geoms)
    for i, j in zip(*tree.query(geoms, predicate="intersects"), strict=True):
        if j <= i or not keep[i] or not keep[j]:
            continue
        if frame["layer"].iat[i] != frame["layer"].iat[j]:
            continue
        area = max(geoms[i].area, geoms[j].area)
        if shapely.symmetric_difference(geoms[i], geoms[j]).area <= _SAME * area:
            keep[j] = False
    return frame[keep].reset_index(drop=True)


# --------------------------------------------------------------------------- labels


def _labels(space: Iterable[Any], wanted: set[str] | None) -> list[_Label]:
    labels = []
    for entity in space:
        layer = str(entity.dxf.get("layer", "0"))
        if wanted is not None and layer not in wanted:
            continue
        kind = entity.dxftype()
        if kind in ("TEXT", "MTEXT"):
            x, y = _text_point(entity)
            lines = [t.strip() for t in entity.plain_text().splitlines() if t.strip()]
            codes = [line for line in lines if _CODE.fullmatch(line)]
            names = [line for line in lines if not _CODE.fullmatch(line)]
            label = _Label(layer, x, y)
            if codes:  # two codes in one text stay visible, and the code check names them
                label.values["code"] = " / ".join(codes)
            if names:  # a name broken over lines is one name
                label.values["name"] = "".join(names)
            if label.values:
                labels.append(label)
        elif kind == "INSERT" and entity.attribs:
            point = entity.dxf.insert
            values = {
                str(a.dxf.tag): a.dxf.text.strip() for a in entity.attribs if a.dxf.text.strip()
            }
            if values:
                labels.append(_Label(layer, float(point.x), float(point.y), values))
    return labels


def _text_point(entity: Any) -> tuple[float, float]:
    """Where a text is: its alignment point when it is centred or aligned, else its insertion."""
    text = entity.dxftype() == "TEXT"
    aligned = text and (entity.dxf.get("halign", 0) or entity.dxf.get("valign", 0))
    if aligned and entity.dxf.hasattr("align_point"):
        point = entity.dxf.align_point
        return float(point.x), float(point.y)
    point = entity.dxf.insert
    return float(point.x), float(point.y)


def _attach(
    frame: gpd.GeoDataFrame,
    labels: list[_Label],
    layer_levels: Mapping[str, int] | None,
    path: Path,
) -> gpd.GeoDataFrame:
    """Give each outline the values of the labels inside it; conflicts are errors."""
    geoms = frame.geometry.to_numpy()
    areas = shapely.area(geoms)
    tree = shapely.STRtree(geoms)
    values: list[dict[str, str]] = [{} for _ in geoms]
    clashes: list[str] = []
    for label in labels:
        hits = tree.query(shapely.Point(label.x, label.y), predicate="within")
        if layer_levels:
            level = layer_levels[label.layer]
            hits = hits[frame["level"].to_numpy()[hits] == level]
        if hits.size == 0:
            continue
        i = int(hits[np.argmin(areas[hits])])
        for key, value in label.values.items():
            if values[i].setdefault(key, value) != value:
                clashes.append(
                    f"the outline on layer {frame['layer'].iat[i]!r} around "
                    f"{_where(geoms[i])} holds two {key}s, {values[i][key]!r} and {value!r}"
                )
    if clashes:
        raise PlanFileError(
            f"{path.name}: {clashes[0]}"
            + (f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else "")
            + "; keep one label per outline in CAD, or map the layers to levels "
            "(--layer-level 社区界线=1 --layer-level 网格界线=2) so that each label goes to "
            "the outline of its own level"
        )
    table = pd.DataFrame(values, index=frame.index, dtype=object)
    for column in table.columns:
        frame[column] = table[column]
    return frame


def _where(geom: shapely.Geometry) -> str:
    spot = geom.representative_point()
    return f"x={spot.x:.1f}, y={spot.y:.1f}"
