"""What a plan's units measure: shared edges, areas, perimeters and a point inside each.

Contiguity and compactness of hand-drawn grids (the workbench) come from these alone, so
they are measured once per set of units — :func:`measure_units` snaps the units, checks
that they form a coverage and finds their shared edges (seconds for 60,000 units) — and can
be kept as bytes (:meth:`UnitMeasures.to_bytes`) beside the stored version they belong to.
:func:`units_digest` names the units measured (ids, order and exact coordinates), so kept
measures are only ever used for the very units they were taken of.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from geogrid.crs import metric_crs
from geogrid.units.adjacency import adjacency
from geogrid.units.build import units_from_polygons
from geogrid.units.coverage import SNAP_DECIMALS, is_coverage, snapped
from geogrid.units.inputs import frame_to_crs

__all__ = ["DRAWING_SCALE", "Drawing", "UnitMeasures", "drawing", "measure_units", "units_digest"]

_FORMAT = 1  # of the bytes written by UnitMeasures.to_bytes
_DRAWING = ("origin", "rings", "sizes", "xy")

DRAWING_SCALE = 10**7
"""Drawn units: coordinates as integers of 10⁻⁷ degree (1 cm), as GeoJSON's 7 decimals."""


@dataclasses.dataclass(frozen=True)
class Drawing:
    """Units' rings as flat integer arrays, for a page to draw (see :func:`drawing`).

    Unit ``i`` has ``rings[i]`` rings, ring ``j`` ``sizes[j]`` points (the closing point
    left out); ``xy`` holds, per ring, its first point less ``origin`` and then each point
    less the one before, in units of 1 / ``scale`` degree (lon, lat).
    """

    scale: int
    origin: np.ndarray
    rings: np.ndarray
    sizes: np.ndarray
    xy: np.ndarray


def drawing(geoms: np.ndarray, scale: int = DRAWING_SCALE) -> Drawing:
    """The rings of polygons ``geoms`` as a :class:`Drawing`.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> d = drawing(np.array([box(0, 0, 1, 1)]), 10)
    >>> d.rings.tolist(), d.sizes.tolist(), d.origin.tolist(), d.xy.tolist()
    ([1], [4], [0, 0], [10, 0, 0, 10, -10, 0, 0, -10])
    """
    polygons, owner = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(polygons, return_index=True)
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    sizes = np.bincount(ring_of, minlength=len(rings))
    keep = np.ones(len(xy), dtype=bool)
    keep[np.cumsum(sizes) - 1] = False  # the closing point repeats the first
    quantized = np.rint(xy * scale).astype(np.int64)[keep]
    first = np.zeros(int(keep.sum()), dtype=bool)
    first[np.concatenate([[0], np.cumsum(sizes - 1)[:-1]])] = True
    origin = quantized.min(axis=0) if len(quantized) else np.zeros(2, dtype=np.int64)
    steps = np.diff(quantized, axis=0, prepend=quantized[:1])
    steps[first] = quantized[first] - origin
    return Drawing(
        scale=scale,
        origin=origin,
        rings=np.bincount(owner[ring_part], minlength=len(geoms)),
        sizes=sizes - 1,
        xy=steps.ravel(),
    )


@dataclasses.dataclass(frozen=True)
class UnitMeasures:
    """Measures of units in one order (``digest``: :func:`units_digest` of them).

    Attributes
    ----------
    edges
        Shared edges: rows ``(a, b, length)`` (unit positions, metres).
    area, perimeter
        Per unit, square metres and metres.
    points
        A point inside each unit (``shapely.point_on_surface``), as ``(x, y)`` rows.
    coverage
        Whether the units, snapped (:data:`~geogrid.units.coverage.SNAP_DECIMALS`), are a
        valid coverage (measured as they are; otherwise cleaned first).
    drawing
        Their rings as the page draws them (:func:`drawing`), when taken.
    """

    digest: bytes
    edges: np.ndarray
    area: np.ndarray
    perimeter: np.ndarray
    points: np.ndarray
    coverage: bool
    drawing: Drawing | None = None

    def to_bytes(self) -> bytes:
        """The measures as bytes (NumPy ``.npz``, no pickles)."""
        arrays: dict[str, Any] = {
            "format": np.array([_FORMAT]),
            "digest": np.frombuffer(self.digest, dtype=np.uint8),
            "edges": self.edges.astype(np.float64),
            "area": self.area.astype(np.float64),
            "perimeter": self.perimeter.astype(np.float64),
            "points": self.points.astype(np.float64),
            "coverage": np.array([self.coverage]),
        }
        if self.drawing is not None:  # the page's rings, when taken
            arrays |= {f"drawing_{k}": getattr(self.drawing, k) for k in _DRAWING}
            arrays["drawing_scale"] = np.array([self.drawing.scale])
        out = io.BytesIO()
        np.savez(out, **arrays)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> UnitMeasures | None:
        """Measures written by :meth:`to_bytes`; ``None`` for bytes of another format."""
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            if int(arrays["format"][0]) != _FORMAT:
                return None
            return cls(
                digest=arrays["digest"].tobytes(),
                edges=arrays["edges"].reshape(-1, 3),
                area=arrays["area"],
                perimeter=arrays["perimeter"],
                points=arrays["points"].reshape(-1, 2),
                coverage=bool(arrays["coverage"][0]),
                drawing=_drawing_of(arrays) if "drawing_scale" in arrays else None,
            )

    def point_geometries(self) -> np.ndarray:
        """:attr:`points` as shapely points (empty where a unit was empty)."""
        points = shapely.points(self.points)
        points[np.isnan(self.points).any(axis=1)] = shapely.Point()
        return points


def _drawing_of(arrays: Any) -> Drawing:
    return Drawing(
        scale=int(arrays["drawing_scale"][0]), **{k: arrays[f"drawing_{k}"] for k in _DRAWING}
    )


def units_digest(unit_ids: Sequence[str] | np.ndarray, geoms: np.ndarray) -> bytes:
    """A digest of units: their ids and exact geometries, in order.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> a = units_digest(["u1"], np.array([box(0, 0, 1, 1)]))
    >>> a == units_digest(["u1"], np.array([box(0, 0, 1, 1.0000001)]))
    False
    """
    digest = hashlib.blake2b(digest_size=16)
    digest.update("\x1f".join(str(u) for u in unit_ids).encode())
    wkbs = shapely.to_wkb(np.asarray(geoms, dtype=object), output_dimension=2).tolist()
    digest.update(np.array([len(w) for w in wkbs], dtype="<i8").tobytes())  # where each ends
    digest.update(b"".join(wkbs))
    return digest.digest()


def measure_units(units: gpd.GeoDataFrame) -> UnitMeasures:
    """Measures of ``units`` (``unit_id``, ``households``, geometry; a lon/lat CRS).

    Units that are a coverage once snapped (as a partition writes them) are measured as they
    are; others are cleaned into one first (:func:`~geogrid.units.units_from_polygons`).
    """
    geoms = units.geometry.to_numpy()
    near = snapped(geoms, SNAP_DECIMALS["degree"])
    coverage = is_coverage(near)
    if coverage:
        metric = metric_crs(units)
        measured = frame_to_crs(gpd.GeoSeries(near, crs=units.crs), metric, "unit")
        n = len(measured)  # each unit its own group: adjacency splits multipart units itself
        edges = adjacency(measured, np.zeros(n, dtype=np.int64), np.arange(n), n)
    else:
        cleaned = units_from_polygons(
            units[["unit_id", "households", "geometry"]], id_column="unit_id", name_column=None
        )
        edges, measured = cleaned.edges, cleaned.table.geometry.to_numpy()
    points = shapely.point_on_surface(geoms)
    return UnitMeasures(
        digest=units_digest(units["unit_id"].astype(str).tolist(), geoms),
        edges=edges[["a", "b", "length"]].to_numpy(),
        area=shapely.area(measured),
        perimeter=shapely.length(measured),
        points=np.column_stack([shapely.get_x(points), shapely.get_y(points)]),
        coverage=coverage,
        drawing=drawing(geoms),
    )
