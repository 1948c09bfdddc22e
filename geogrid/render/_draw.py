"""Drawing helpers shared by the printed maps: shapely -> matplotlib paths, text measuring."""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path as FilePath
from typing import TYPE_CHECKING, Any, TypeAlias

import geopandas as gpd
import numpy as np
import shapely

from geogrid.errors import CRSError

if TYPE_CHECKING:
    from matplotlib.path import Path

__all__ = ["ContextLayer", "TextMeter", "context_geoms", "line_paths", "polygon_paths"]

ContextLayer: TypeAlias = gpd.GeoDataFrame | gpd.GeoSeries | str | os.PathLike[str]
"""A context layer (roads, rivers, buildings): a GeoDataFrame/GeoSeries or a file path."""


def context_geoms(layer: ContextLayer, crs: Any) -> np.ndarray:
    """The non-empty geometries of a context layer, in ``crs`` (a file path is read first)."""
    if isinstance(layer, str | os.PathLike):
        from geogrid.io import read_layer

        layer = read_layer(layer)
    if layer.crs is None:
        raise CRSError("a context layer has no CRS; set one (e.g. EPSG:4490) before drawing it")
    series = layer.geometry if isinstance(layer, gpd.GeoDataFrame) else layer
    geoms = series.to_crs(crs).to_numpy()
    return np.asarray(geoms[~(shapely.is_empty(geoms) | shapely.is_missing(geoms))])


_MOVETO, _LINETO, _CLOSEPOLY = 1, 2, 79  # matplotlib.path.Path codes


def polygon_paths(geoms: Sequence[shapely.Geometry] | np.ndarray) -> list[Path]:
    """One compound matplotlib ``Path`` per (multi)polygon, holes included.

    Built with array operations over all rings at once, so 100,000s of vertices take
    milliseconds. An empty geometry gives an empty path.
    """
    from matplotlib.path import Path

    geoms = np.asarray(geoms, dtype=object)
    parts, part_owner = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = _rings(parts)
    coords, ring_of_vertex = shapely.get_coordinates(rings, return_index=True)
    codes = np.full(len(coords), _LINETO, dtype=np.uint8)
    if len(coords):
        starts = np.r_[0, np.flatnonzero(np.diff(ring_of_vertex)) + 1]
        ends = np.r_[starts[1:] - 1, len(coords) - 1]
        codes[starts] = _MOVETO
        codes[ends] = _CLOSEPOLY
    owner_of_vertex = part_owner[ring_part[ring_of_vertex]] if len(coords) else np.array([], int)
    return _split(coords, codes, owner_of_vertex, len(geoms), Path)


def line_paths(geoms: Sequence[shapely.Geometry] | np.ndarray) -> list[Path]:
    """One matplotlib ``Path`` per geometry's lines (polygons give their boundaries)."""
    from matplotlib.path import Path

    geoms = np.asarray(geoms, dtype=object)
    polygonal = np.isin(shapely.get_type_id(geoms), (3, 6))
    geoms = np.where(polygonal, shapely.boundary(geoms), geoms)
    parts, owner = shapely.get_parts(geoms, return_index=True)
    parts, sub_owner = shapely.get_parts(parts, return_index=True)  # MultiLineString boundaries
    owner = owner[sub_owner]
    coords, line_of_vertex = shapely.get_coordinates(parts, return_index=True)
    codes = np.full(len(coords), _LINETO, dtype=np.uint8)
    if len(coords):
        codes[np.r_[0, np.flatnonzero(np.diff(line_of_vertex)) + 1]] = _MOVETO
    owner_of_vertex = owner[line_of_vertex] if len(coords) else np.array([], int)
    return _split(coords, codes, owner_of_vertex, len(geoms), Path)


def _rings(parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All rings of polygons (each exterior, then its holes) and the polygon each belongs to."""
    rings, owner = shapely.get_rings(parts, return_index=True)
    return rings, owner


def _split(
    coords: np.ndarray, codes: np.ndarray, owner: np.ndarray, n: int, path_type: type
) -> list:
    bounds = np.searchsorted(owner, np.arange(n + 1))
    return [
        path_type(coords[a:b], codes[a:b]) if b > a else path_type(np.empty((0, 2)))
        for a, b in itertools.pairwise(bounds)
    ]


class TextMeter:
    """Width and height of text set in a TrueType font, from its advance widths.

    Parameters
    ----------
    font_file
        A TrueType/OpenType font file (the map's subset).
    """

    def __init__(self, font_file: str | FilePath) -> None:
        self.font_file = FilePath(font_file)

    @cached_property
    def _advances(self) -> tuple[dict[int, float], float]:
        from fontTools.ttLib import TTFont

        with TTFont(self.font_file, lazy=True) as font:
            em = float(font["head"].unitsPerEm)
            hmtx = font["hmtx"].metrics
            widths = {code: hmtx[name][0] / em for code, name in font.getBestCmap().items()}
        return widths, 1.0

    def width(self, text: str, size: float) -> float:
        """Width in points of the widest line of ``text`` at ``size`` points."""
        widths, default = self._advances
        return size * max(
            (sum(widths.get(ord(c), default) for c in line) for line in text.split("\n")),
            default=0.0,
        )

    @staticmethod
    def height(text: str, size: float, linespacing: float = 1.2) -> float:
        """Height in points of ``text`` at ``size`` points (lines ``linespacing`` apart)."""
        return size * (1.0 + linespacing * text.count("\n"))
