"""Vector tiles (Mapbox Vector Tile 2.1) of a level's grids, in the Web Mercator tile scheme.

A tile ``z/x/y`` covers square ``x, y`` (from the north-west) of the ``2**z × 2**z`` division
of EPSG:3857; its geometry is in tile pixels, ``EXTENT`` (4096) to a side, y down, clipped to
the tile plus ``BUFFER`` pixels so that neighbouring tiles' strokes meet. One layer, ``grids``
(:data:`LAYER`), one feature per grid with the attributes in :data:`FIELDS`.

Two makers give the same tiles: the PostGIS store runs one ``ST_AsMVT`` query
(:mod:`geogrid.store.tiles`); any other plan is cut here in Python (:class:`LevelTiles`: an
STRtree of the level, shapely clip and snap, ``mapbox-vector-tile`` to encode). Plans are in
EPSG:4490 (CGCS2000 lon/lat), taken as WGS84 for Web Mercator (they differ by centimetres).

>>> tile_bounds(1, 0, 0)  # the north-west quarter of the world, in metres
(-20037508.342789244, 0.0, 0.0, 20037508.342789244)
>>> lonlat_to_tile(116.39, 39.90, 12)  # Tian'anmen at zoom 12
(3372, 1552)
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import Any

import mapbox_vector_tile
import numpy as np
import pandas as pd
import shapely

from geogrid.errors import NotFoundError
from geogrid.plan import GridPlan

__all__ = [
    "BUFFER",
    "EXTENT",
    "FIELDS",
    "LAYER",
    "MAX_ZOOM",
    "LevelTiles",
    "check_tile",
    "lonlat_to_mercator",
    "lonlat_to_tile",
    "mercator_to_lonlat",
    "simplify_tolerance",
    "tile_bounds",
    "tile_lonlat_bounds",
]

EXTENT = 4096
"""Tile side in pixels (MVT ``extent``)."""
BUFFER = 64
"""Pixels kept beyond each side of the tile."""
MAX_ZOOM = 22
"""The deepest zoom served (a pixel ≈ 2 cm at the equator)."""
LAYER = "grids"
"""The layer's name in every tile."""
FIELDS: dict[str, str] = {
    "code": "String",
    "name": "String",
    "level": "Number",
    "parent_code": "String",
    "households": "Number",
    "kind": "String",
    "jurisdiction": "String",
    "plan": "String",
    "version": "Number",
}
"""Attributes of a grid feature and their TileJSON types (a missing value is left out)."""

_R = 6378137.0  # Web Mercator sphere
_HALF = math.pi * _R  # 20037508.34…: half the world's side in metres
_MAX_LAT = 85.0511287798066


def check_tile(z: int, x: int, y: int) -> None:
    """Raise :class:`NotFoundError` unless ``z/x/y`` is a tile (``0 ≤ x, y < 2**z``)."""
    if not 0 <= z <= MAX_ZOOM:
        raise NotFoundError(f"no tile {z}/{x}/{y}: tiles exist at zoom 0 to {MAX_ZOOM}")
    side = 1 << z
    if not (0 <= x < side and 0 <= y < side):
        raise NotFoundError(f"no tile {z}/{x}/{y}: at zoom {z}, x and y run from 0 to {side - 1}")


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """``(minx, miny, maxx, maxy)`` of tile ``z/x/y`` in EPSG:3857 metres."""
    size = 2 * _HALF / (1 << z)
    return (-_HALF + x * size, _HALF - (y + 1) * size, -_HALF + (x + 1) * size, _HALF - y * size)


def tile_lonlat_bounds(
    z: int, x: int, y: int, buffer: float = 0.0
) -> tuple[float, float, float, float]:
    """``(west, south, east, north)`` of tile ``z/x/y`` grown by ``buffer`` pixels, in degrees."""
    minx, miny, maxx, maxy = tile_bounds(z, x, y)
    pad = (maxx - minx) * buffer / EXTENT
    (west, east), (south, north) = mercator_to_lonlat(
        np.array([minx - pad, maxx + pad]), np.array([miny - pad, maxy + pad])
    )
    return float(west), float(south), float(east), float(north)


def lonlat_to_mercator(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Degrees → EPSG:3857 metres (latitude clamped to ±85.05°, Web Mercator's edge)."""
    lat = np.clip(lat, -_MAX_LAT, _MAX_LAT)
    return np.radians(lon) * _R, np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) * _R


def mercator_to_lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """EPSG:3857 metres → degrees."""
    return np.degrees(x / _R), np.degrees(2 * np.arctan(np.exp(y / _R)) - np.pi / 2)


def lonlat_to_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The ``(x, y)`` of the zoom-``z`` tile holding point ``lon, lat``."""
    mx, my = lonlat_to_mercator(np.array([lon]), np.array([lat]))
    size = 2 * _HALF / (1 << z)
    last = (1 << z) - 1
    tx = min(max(int((mx[0] + _HALF) // size), 0), last)
    ty = min(max(int((_HALF - my[0]) // size), 0), last)
    return tx, ty


def simplify_tolerance(z: int, y: int) -> float:
    """Half a pixel of tile ``z/?/y`` in degrees, at its latitude nearest a pole.

    Simplifying lon/lat geometry by this before projecting moves no vertex by more than half
    a pixel (a degree of latitude is the shorter of the two on the Mercator plane).
    """
    _, south, _, north = tile_lonlat_bounds(z, 0, y)
    shrink = math.cos(math.radians(min(max(abs(south), abs(north)), _MAX_LAT)))
    return 0.5 * 360.0 / (EXTENT * (1 << z)) * shrink


def _mercator(geoms: np.ndarray) -> np.ndarray:
    """Lon/lat geometries → EPSG:3857 (vectorised over the array)."""

    def project(coords: np.ndarray) -> np.ndarray:
        x, y = lonlat_to_mercator(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return np.asarray(shapely.transform(geoms, project), dtype=object)


def _value(value: Any) -> Any:
    """A property value MVT can hold (numpy scalars as Python ones), ``None`` for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclasses.dataclass(frozen=True)
class LevelTiles:
    """One level's grids ready to cut into tiles: Web Mercator geometries and an STRtree.

    Build with :meth:`of`, then :meth:`encode` any tile.
    """

    mercator: np.ndarray
    properties: list[dict[str, Any]]
    bounds: tuple[float, float, float, float] | None

    @classmethod
    def of(cls, parts: Sequence[tuple[GridPlan, str]], level: int) -> LevelTiles:
        """The grids at ``level`` of every ``(plan, jurisdiction)`` in ``parts``."""
        geoms: list[np.ndarray] = []
        properties: list[dict[str, Any]] = []
        for plan, jurisdiction in parts:
            grids = plan.level(level) if level <= plan.depth else plan.grids.iloc[:0]
            geoms.append(np.asarray(grids.geometry.array, dtype=object))
            for row in grids[
                ["code", "name", "level", "parent_code", "households", "kind"]
            ].itertuples(index=False):
                values = row._asdict() | {
                    "jurisdiction": jurisdiction,
                    "plan": plan.name,
                    "version": plan.version,
                }
                properties.append(
                    {k: v for k, v in ((k, _value(v)) for k, v in values.items()) if v is not None}
                )
        lonlat = np.concatenate(geoms) if geoms else np.empty(0, dtype=object)
        bounds = None
        if len(lonlat):
            box = shapely.total_bounds(lonlat)
            bounds = (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
        return cls(_mercator(lonlat), properties, bounds)

    def __len__(self) -> int:
        return len(self.properties)

    @functools.cached_property
    def tree(self) -> shapely.STRtree:
        """Spatial index of the Mercator geometries (built on the first tile)."""
        return shapely.STRtree(self.mercator)

    def encode(self, z: int, x: int, y: int) -> bytes:
        """Tile ``z/x/y`` as MVT bytes; ``b""`` when no grid reaches it."""
        check_tile(z, x, y)
        minx, miny, maxx, maxy = tile_bounds(z, x, y)
        scale = EXTENT / (maxx - minx)
        pad = BUFFER / scale
        hits = np.sort(self.tree.query(shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)))
        if not len(hits):
            return b""
        origin = np.array([minx, maxy])
        flip = np.array([scale, -scale])  # y down, as MVT counts it
        pixels = shapely.transform(self.mercator[hits], lambda c: (c - origin) * flip)
        cut = shapely.clip_by_rect(pixels, -BUFFER, -BUFFER, EXTENT + BUFFER, EXTENT + BUFFER)
        cut = shapely.set_precision(shapely.simplify(cut, 0.5), 1.0)
        features = [
            {"geometry": geom, "properties": self.properties[n]}
            for n, geom in zip(hits.tolist(), cut, strict=True)
            if not geom.is_empty and geom.area > 0
        ]
        if not features:
            return b""
        return bytes(
            mapbox_vector_tile.encode(
                {"name": LAYER, "features": features},
                default_options={"y_coord_down": True, "extents": EXTENT},
            )
        )
