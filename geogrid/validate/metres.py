"""The plan in metres: its grids as arrays, overlays in local metres, areas in a metric CRS.

Shared by the checks (:mod:`geogrid.validate.checks`) and the fixes (:mod:`geogrid.validate.fix`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from geogrid.crs import metric_crs
from geogrid.plan import PLAN_CRS, GridPlan

__all__ = ["EPS_M", "Grids", "Space", "polygon_parts", "polygonal", "prepare"]

EPS_M = 1e-3
"""Metres: "touching" for neighbour search and shared-border measurement."""


@dataclasses.dataclass
class Grids:
    """The plan's grids as arrays, geometries in metres and made valid for overlay work."""

    codes: np.ndarray  # str
    parents: np.ndarray  # str or None
    levels: np.ndarray  # int
    households: pd.Series  # Int64
    original: np.ndarray  # lon/lat geometries as given
    metric: np.ndarray  # metric, polygonal, valid (empty where empty)
    space: Space
    first: dict[str, int]  # code -> first row

    @property
    def group_keys(self) -> np.ndarray:
        """Sibling-group key of each row: the parent code, ``""`` at the top level."""
        return np.array([p or "" for p in self.parents], dtype=object)

    def parent_row(self, i: int) -> int | None:
        """Row of the parent of row ``i``, ``None`` at the top or when the parent is missing."""
        parent = self.parents[i]
        return None if parent is None else self.first.get(parent)

    def groups(self) -> dict[str, np.ndarray]:
        """Sibling groups: key (parent code or ``""``) -> rows, in code order of the key."""
        keys = self.group_keys
        order = np.argsort(keys, kind="stable")
        unique, starts = np.unique(keys[order], return_index=True)
        return dict(zip(unique, np.split(order, starts[1:]), strict=True))


def prepare(plan: GridPlan) -> Grids:
    """The grids of ``plan`` as arrays, in local metres and made valid (see :class:`Grids`)."""
    grids = plan.grids
    space = Space.of(grids.geometry.to_numpy())
    metric = _made_valid(space.to_work(grids.geometry.to_numpy()))
    codes = grids["code"].astype(object).to_numpy()
    parents = np.array([None if pd.isna(p) else str(p) for p in grids["parent_code"]], dtype=object)
    first: dict[str, int] = {}
    for i, code in enumerate(codes):
        first.setdefault(code, i)
    return Grids(
        codes=codes,
        parents=parents,
        levels=grids["level"].to_numpy(dtype=np.int64),
        households=grids["households"].reset_index(drop=True),
        original=grids.geometry.to_numpy(),
        metric=metric,
        space=space,
        first=first,
    )


def _made_valid(geoms: np.ndarray) -> np.ndarray:
    out = np.array(geoms, dtype=object)
    bad = ~shapely.is_valid(out) & ~shapely.is_empty(out)
    if bad.any():
        out[bad] = [polygonal(g) for g in shapely.make_valid(out[bad])]
    return out


def polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """Return the polygonal part of ``geom`` as a (Multi)Polygon; empty when it has none."""
    type_id = shapely.get_type_id(geom)
    if type_id in (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON):
        return geom
    parts = shapely.get_parts(geom)
    polygons = [p for p in parts if shapely.get_type_id(p) == shapely.GeometryType.POLYGON]
    multi = [p for p in parts if shapely.get_type_id(p) == shapely.GeometryType.MULTIPOLYGON]
    polygons += [q for m in multi for q in shapely.get_parts(m)]
    return shapely.MultiPolygon(polygons) if polygons else shapely.Polygon()


def polygon_parts(geom: shapely.Geometry) -> np.ndarray:
    """The polygons of ``geom`` with an area, as an array (empty when there are none)."""
    parts = shapely.get_parts(polygonal(geom))
    return parts[shapely.area(parts) > 0] if len(parts) else parts


class Space:
    """Local metres: an affine map of lon/lat, so straight edges and T-junctions stay exact.

    Overlays run in this space, where a child's vertex on its parent's edge stays on that
    edge (a map projection would bend the edge and open millimetre slivers); areas reported
    to the planner come from the projected CRS :func:`geogrid.crs.metric_crs` chooses.
    """

    def __init__(self, bounds: tuple[float, float, float, float], crs: CRS) -> None:
        west, south, east, north = bounds
        self.origin = np.array([(west + east) / 2.0, (south + north) / 2.0])
        phi = math.radians(float(self.origin[1]))
        a, e2 = 6378137.0, 0.00669438002290  # GRS80 (CGCS2000)
        w = 1.0 - e2 * math.sin(phi) ** 2
        self.scale = np.array(
            [math.radians(a / math.sqrt(w) * math.cos(phi)), math.radians(a * (1 - e2) / w**1.5)]
        )
        self._to_metric = Transformer.from_crs(PLAN_CRS, crs, always_xy=True)

    @classmethod
    def of(cls, geoms: np.ndarray) -> Space:
        """The space for lon/lat geometries ``geoms`` (EPSG:4490)."""
        present = geoms[~(shapely.is_empty(geoms) | shapely.is_missing(geoms))]
        if len(present) == 0:
            return cls((116.0, 40.0, 116.0, 40.0), CRS.from_epsg(4548))
        bounds = shapely.total_bounds(present)
        west, south, east, north = (float(v) for v in bounds)
        return cls((west, south, east, north), metric_crs((west, south, east, north)))

    def to_work(self, geoms: Any) -> Any:
        """Lon/lat -> local metres."""
        return shapely.transform(geoms, lambda xy: (xy - self.origin) * self.scale)

    def to_lonlat(self, geoms: Any) -> Any:
        """Local metres -> lon/lat."""
        return shapely.transform(geoms, lambda xy: xy / self.scale + self.origin)

    def area_m2(self, geom: shapely.Geometry) -> float:
        """Area in square metres, measured in the projected CRS, rounded to 3 decimals."""
        metric = shapely.transform(
            self.to_lonlat(geom), lambda x, y: self._to_metric.transform(x, y), interleaved=False
        )
        return round(float(shapely.area(metric)), 3)

    def lonlat(self, geom: shapely.Geometry) -> tuple[float | None, float | None]:
        """A point inside the largest polygon of ``geom``, in lon/lat rounded to 6 decimals."""
        parts = polygon_parts(geom)
        if len(parts) == 0:
            if shapely.is_empty(geom):
                return None, None
            target = geom
        else:
            target = parts[int(np.argmax(shapely.area(parts)))]
        point = self.to_lonlat(shapely.point_on_surface(target))
        return round(float(shapely.get_x(point)), 6), round(float(shapely.get_y(point)), 6)
