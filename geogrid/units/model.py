"""The :class:`Units` of one parent area, ready to partition, and their workload."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from geogrid.errors import InvalidInputError
from geogrid.units.inputs import STRADDLING_COLUMNS

__all__ = ["Units", "unit_weights"]


@dataclasses.dataclass
class Units:
    """Atomic units of one parent area, ready to partition.

    Attributes
    ----------
    table
        One row per unit, in a metric CRS: ``unit_id`` (str), ``name``, ``kind``
        (:class:`~geogrid.plan.UnitKind`), ``households`` (int), the extra count columns
        asked for, ``block`` (int), ``locked`` (the label of the locked grid holding the
        unit, or ``None``), ``sites`` (number of household sites merged into the unit) and
        the geometry (the unit's land, Polygon or MultiPolygon).
    edges
        One row per pair of adjacent units: ``a``, ``b`` (row positions, ``a < b``),
        ``length`` (shared boundary in metres), ``barrier`` (True when the shared boundary
        lies on a barrier) and ``cost`` (``length`` × :data:`BARRIER_COST` or
        :data:`BLOCK_COST`).
    parent
        The parent area in the metric CRS.
    crs
        The metric CRS of ``table`` and ``parent``.
    outside
        Household rows (as given) that lie outside the parent area.
    problems
        Messages about the input for the planner (households outside, empty input...).
    locked_labels
        Label of each locked grid in input order (its ``code`` when given).
    locked_grids
        Label → the attributes a locked grid was given and keeps in the plan: ``name``,
        ``kind`` (e.g. ``special`` 专属网格), ``subtype`` (``school``…), ``priority``; only
        those present.
    straddling
        Buildings across the parent's boundary (two communities), which cannot stay whole
        without moving the boundary: one row each (``id``, ``name``, ``households``,
        ``area_inside_m2``, ``area_outside_m2``, ``inside``). Each is counted wholly on the
        side holding its larger share (``inside``: here; else in :attr:`outside`); its land
        stays on both sides.
    """

    table: gpd.GeoDataFrame
    edges: pd.DataFrame
    parent: BaseGeometry
    crs: CRS
    outside: gpd.GeoDataFrame
    problems: list[str] = dataclasses.field(default_factory=list)
    locked_labels: list[str] = dataclasses.field(default_factory=list)
    locked_grids: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    straddling: pd.DataFrame = dataclasses.field(
        default_factory=lambda: pd.DataFrame(columns=list(STRADDLING_COLUMNS))
    )

    def __len__(self) -> int:
        return len(self.table)

    @functools.cached_property
    def measures(self) -> pd.DataFrame:
        """Area (m²), perimeter (m) and centroid ``x``, ``y`` of every unit (computed once)."""
        geoms = self.table.geometry.to_numpy()
        centroids = shapely.centroid(geoms)
        # a sliver unit cleaned away to nothing has no centroid: area 0, so x, y weigh nothing
        solid = ~(shapely.is_missing(centroids) | shapely.is_empty(centroids))
        x, y = np.zeros(len(geoms)), np.zeros(len(geoms))
        x[solid], y[solid] = shapely.get_x(centroids[solid]), shapely.get_y(centroids[solid])
        return pd.DataFrame(
            {
                "area": shapely.area(geoms),
                "perimeter": shapely.length(geoms),
                "x": x,
                "y": y,
            }
        )

    @property
    def households(self) -> int:
        """Households inside the parent (outside ones excluded)."""
        return int(self.table["households"].sum())

    def neighbours(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Adjacency in compressed sparse row form.

        Returns
        -------
        xadj, adjncy, edge
            Neighbours of unit ``i`` are ``adjncy[xadj[i]:xadj[i + 1]]``; ``edge`` gives the
            row of :attr:`edges` for each entry.
        """
        n = len(self.table)
        a = self.edges["a"].to_numpy(np.int64)
        b = self.edges["b"].to_numpy(np.int64)
        ids = np.arange(len(a))
        src = np.concatenate([a, b])
        dst = np.concatenate([b, a])
        eid = np.concatenate([ids, ids])
        order = np.lexsort((dst, src))
        counts = np.bincount(src, minlength=n)
        xadj = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return xadj, dst[order], eid[order]


def unit_weights(units: Units, weights: Mapping[str, float] | None) -> np.ndarray:
    """Workload of every unit: Σ coefficient × column (default: households only)."""
    weights = weights or {"households": 1.0}
    missing = [c for c in weights if c not in units.table.columns]
    if missing:
        raise InvalidInputError(
            f"no weight column(s) {', '.join(missing)} in the units; build the units with "
            "extra_columns=[...] naming them"
        )
    total = np.zeros(len(units.table))
    for column, factor in weights.items():
        total += float(factor) * units.table[column].to_numpy(float)
    return total
