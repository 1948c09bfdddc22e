"""Vector tiles (Mapbox Vector Tile 2.1) of a level's grids, in the Web Mercator tile scheme.

A tile ``z/x/y`` covers square ``x, y`` (from the north-west) of the ``2**z × 2**z`` division
of EPSG:3857; its geometry is in tile pixels, ``EXTENT`` (4096) to a side, y down, clipped to
the tile plus ``BUFFER`` pixels so that neighbouring tiles' strokes meet. One layer, ``grids``
(:data:`LAYER`), one feature per grid with the attributes in :data:`FIELDS`.

Two makers give the same tiles: the PostGIS store runs one ``ST_AsMVT`` query
(:mod:`geogrid.store.tiles`); any other plan is cut here in Python (:class:`LevelTiles`: an
STRtree of the level, shapely clip and snap, ``mapbox-vector-tile`` to encode). Plans are in
EPSG:4490 (CGCS2000 lon/lat), taken as WGS84 for Web Mercator (they differ by centimetres).

**Zoom bands.** A tile at zoom ``z ≤ 10`` is cut from a *generalised* copy of the level
(:func:`generalise`), not from the grids themselves: per band of :data:`BANDS` (4, 6, 8, 10;
a tile takes the first band at or above its zoom, :func:`band_of`) each plan's level is
simplified as a coverage (``shapely.coverage_simplify``: neighbouring grids keep sharing
their edges, no gap or overlap opens between them) by two tile pixels of the band's zoom
(:func:`band_tolerance`), in Web Mercator. Such a tile reads a few vertices per grid, already projected, where the grids
themselves have hundreds (a province's zoom-8 tile: thousands of grids, 1.5 M vertices).
Both stores keep the copies (table ``generalised_grids``, made when a version is activated);
Python tiles read them from the GeoPackage store, or make them on the first low-zoom tile
(a fixed plan, a version without them).

>>> tile_bounds(1, 0, 0)  # the north-west quarter of the world, in metres
(-20037508.342789244, 0.0, 0.0, 20037508.342789244)
>>> lonlat_to_tile(116.39, 39.90, 12)  # Tian'anmen at zoom 12
(3372, 1552)
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import mapbox_vector_tile
import numpy as np
import pandas as pd
import shapely

from geogrid.errors import NotFoundError
from geogrid.plan import GridPlan

__all__ = [
    "BANDS",
    "BUFFER",
    "EXTENT",
    "FIELDS",
    "LAYER",
    "MAX_ZOOM",
    "LevelTiles",
    "band_of",
    "band_tolerance",
    "check_tile",
    "generalise",
    "lonlat_to_mercator",
    "lonlat_to_tile",
    "mercator_geometries",
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
BANDS = (4, 6, 8, 10)
"""Zooms with a generalised copy of every level (:func:`band_of`); deeper tiles use the grids."""

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


def band_of(z: int) -> int | None:
    """The zoom band a tile at zoom ``z`` is cut from; ``None``: from the grids themselves.

    >>> band_of(3), band_of(8), band_of(9), band_of(11)
    (4, 8, 10, None)
    """
    return next((band for band in BANDS if z <= band), None)


def band_tolerance(band: int) -> float:
    """The band's simplification tolerance: two tile pixels at zoom ``band``, in metres.

    A tile pixel is one step of the tile's 4096 grid (:data:`EXTENT`), a sixteenth of a
    screen pixel of a 256-pixel tile. ``shapely.coverage_simplify`` (Visvalingam–Whyatt)
    drops a vertex whose triangle with its neighbours is smaller than the tolerance squared:
    by two tile pixels that keeps fewer vertices than Douglas–Peucker by half a pixel
    (the per-tile simplification of deeper zooms) and moves grid outlines by a fifth of a
    pixel on average, a pixel or so at the worst vertex (province data; the tests bound
    them by half a pixel on average and four at a vertex, a narrow spike cut).

    >>> round(band_tolerance(8), 2)
    76.44
    """
    return 2 * 2 * _HALF / (EXTENT * (1 << band))


def generalise(mercator: np.ndarray) -> dict[int, np.ndarray]:
    """Every band's copy of one coverage (a plan's level) in Web Mercator, by band.

    Each band is simplified from the next finer one (10 from the grids, 8 from 10, …) by
    :func:`band_tolerance`, as a coverage (``shapely.coverage_simplify``, outer boundary
    included): grids that share an edge still share it, vertex for vertex. A level that is no
    valid coverage (overlaps, edges that do not match) is simplified grid by grid instead
    (``preserve_topology``), and so is any grid whose coverage result is invalid or empty.

    Parameters
    ----------
    mercator
        The level's grids, EPSG:3857, one geometry per grid.

    Returns
    -------
    dict
        Band → geometries aligned with ``mercator``.
    """
    out: dict[int, np.ndarray] = {}
    finer = np.asarray(mercator, dtype=object)
    try:
        coverage = len(finer) > 0 and bool(shapely.coverage_is_valid(finer))
    except shapely.errors.GEOSException:
        coverage = False
    for band in sorted(BANDS, reverse=True):
        finer = out[band] = _simplify(finer, band_tolerance(band), coverage)
    return out


def _simplify(geoms: np.ndarray, tolerance: float, coverage: bool) -> np.ndarray:
    if not len(geoms):
        return geoms
    out, bad = geoms.copy(), np.ones(len(geoms), dtype=bool)
    if coverage:
        try:
            out = np.asarray(shapely.coverage_simplify(geoms, tolerance), dtype=object)
            bad = ~shapely.is_valid(out) | shapely.is_empty(out)
        except shapely.errors.GEOSException:  # never let a tile copy fail an activation
            pass
    if bad.any():
        out[bad] = shapely.simplify(geoms[bad], tolerance, preserve_topology=True)
    return out


def mercator_geometries(geoms: np.ndarray) -> np.ndarray:
    """Lon/lat geometries → EPSG:3857 (vectorised over the array; latitudes clamped)."""

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

    Build with :meth:`of`, then :meth:`encode` any tile. Tiles at zoom ≤ 10 are cut from the
    level generalised per zoom band (:func:`generalise`, each plan's grids as one coverage),
    made on the first such tile.
    """

    mercator: np.ndarray
    properties: list[dict[str, Any]]
    bounds: tuple[float, float, float, float] | None
    parts: tuple[int, ...] = ()  # grids of each plan, in order: each plan is one coverage
    stored: Callable[[int], Mapping[tuple[str, int, str], Any]] | None = None
    """Band → the store's generalised copies by ``(plan, version, code)``, if kept."""
    _banded: dict[int | None, tuple[np.ndarray, shapely.STRtree]] = dataclasses.field(
        default_factory=dict, repr=False, compare=False
    )
    _lock: threading.Lock = dataclasses.field(
        default_factory=threading.Lock, repr=False, compare=False
    )

    @classmethod
    def of(
        cls,
        parts: Sequence[tuple[GridPlan, str]],
        level: int,
        stored: Callable[[int], Mapping[tuple[str, int, str], Any]] | None = None,
    ) -> LevelTiles:
        """The grids at ``level`` of every ``(plan, jurisdiction)`` in ``parts``.

        ``stored``: where the store keeps the level's generalised copies (band → geometry
        by ``(plan, version, code)``, :func:`geogrid.store.tiles.read_generalised`);
        a band it lacks any grid of is made here instead.
        """
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
        sizes = tuple(len(g) for g in geoms)
        return cls(mercator_geometries(lonlat), properties, bounds, sizes, stored)

    def __len__(self) -> int:
        return len(self.properties)

    @property
    def tree(self) -> shapely.STRtree:
        """Spatial index of the Mercator geometries (built on the first tile)."""
        return self.source(None)[1]

    def source(self, band: int | None) -> tuple[np.ndarray, shapely.STRtree]:
        """The geometries of zoom band ``band`` (``None``: the grids) and their STRtree."""
        with self._lock:
            if band not in self._banded:
                if band is None:
                    self._banded[None] = (self.mercator, shapely.STRtree(self.mercator))
                elif not self._read(band):
                    self._generalise()
            return self._banded[band]

    def _read(self, band: int) -> bool:
        """Take band ``band`` from the store's copies; ``False`` if it lacks any grid."""
        if self.stored is None:
            return False
        copies = self.stored(band)
        found = [copies.get((p["plan"], p.get("version", 0), p["code"])) for p in self.properties]
        if any(g is None for g in found):
            return False
        geoms = np.empty(len(found), dtype=object)
        geoms[:] = found
        self._banded[band] = (geoms, shapely.STRtree(geoms))
        return True

    def _generalise(self) -> None:
        bands: dict[int, list[np.ndarray]] = {band: [] for band in BANDS}
        start = 0
        for size in self.parts or (len(self),):
            for band, geoms in generalise(self.mercator[start : start + size]).items():
                bands[band].append(geoms)
            start += size
        for band, pieces in bands.items():
            geoms = np.concatenate(pieces) if pieces else np.empty(0, dtype=object)
            self._banded[band] = (geoms, shapely.STRtree(geoms))

    def encode(self, z: int, x: int, y: int) -> bytes:
        """Tile ``z/x/y`` as MVT bytes; ``b""`` when no grid reaches it."""
        check_tile(z, x, y)
        geoms, tree = self.source(band_of(z))
        minx, miny, maxx, maxy = tile_bounds(z, x, y)
        scale = EXTENT / (maxx - minx)
        pad = BUFFER / scale
        hits = np.sort(tree.query(shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)))
        if not len(hits):
            return b""
        origin = np.array([minx, maxy])
        flip = np.array([scale, -scale])  # y down, as MVT counts it
        pixels = shapely.transform(geoms[hits], lambda c: (c - origin) * flip)
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
