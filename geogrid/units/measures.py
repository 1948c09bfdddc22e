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

import geopandas as gpd
import numpy as np
import shapely

from geogrid.crs import metric_crs
from geogrid.units.adjacency import adjacency
from geogrid.units.build import units_from_polygons
from geogrid.units.coverage import SNAP_DECIMALS, is_coverage, snapped
from geogrid.units.inputs import frame_to_crs

__all__ = ["UnitMeasures", "measure_units", "units_digest"]

_FORMAT = 1  # of the bytes written by UnitMeasures.to_bytes


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
    """

    digest: bytes
    edges: np.ndarray
    area: np.ndarray
    perimeter: np.ndarray
    points: np.ndarray
    coverage: bool

    def to_bytes(self) -> bytes:
        """The measures as bytes (NumPy ``.npz``, no pickles)."""
        out = io.BytesIO()
        np.savez(
            out,
            format=np.array([_FORMAT]),
            digest=np.frombuffer(self.digest, dtype=np.uint8),
            edges=self.edges.astype(np.float64),
            area=self.area.astype(np.float64),
            perimeter=self.perimeter.astype(np.float64),
            points=self.points.astype(np.float64),
            coverage=np.array([self.coverage]),
        )
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
            )

    def point_geometries(self) -> np.ndarray:
        """:attr:`points` as shapely points (empty where a unit was empty)."""
        points = shapely.points(self.points)
        points[np.isnan(self.points).any(axis=1)] = shapely.Point()
        return points


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
    for wkb in shapely.to_wkb(np.asarray(geoms, dtype=object), output_dimension=2).tolist():
        digest.update(len(wkb).to_bytes(4, "little"))
        digest.update(wkb)
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
    )
