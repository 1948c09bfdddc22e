"""The invented administrative map inside a real outline: jurisdictions, communities, villages.

A county outline (:mod:`geogrid.examples.outlines`) is cut into townships or streets
(乡镇 / 街道), and each of those into its villages and communities (村 / 社区), all in metres,
each level tiling the one above (:func:`geogrid.examples.synth.divide`). A town seat is a disc
of small urban communities around a centre, the villages around it.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import shapely

from geogrid.examples.synth import divide

__all__ = ["Division", "divide_jurisdiction", "pick_central"]


@dataclasses.dataclass
class Division:
    """One jurisdiction's pieces: urban communities (the seat) and villages, in metres."""

    communities: np.ndarray
    villages: np.ndarray


def pick_central(cells: np.ndarray, point: Any) -> int:
    """Index of the cell holding (or nearest to) ``point``."""
    distances = shapely.distance(cells, point)
    return int(np.argmin(distances))


def divide_jurisdiction(
    region: Any,
    rng: np.random.Generator,
    *,
    villages: int,
    communities: int = 0,
    community_km2: float = 0.6,
    centre: Any = None,
) -> Division:
    """Cut ``region`` into ``communities`` urban communities around ``centre`` and villages.

    The communities fill a disc of ``communities × community_km2`` km² around ``centre``
    (default the region's point on surface), clipped to the region; the villages tile the rest.
    """
    if communities == 0:
        return Division(np.empty(0, dtype=object), divide(region, villages, rng))
    if villages == 0:
        return Division(divide(region, communities, rng), np.empty(0, dtype=object))
    centre = region.point_on_surface() if centre is None else centre
    radius = math.sqrt(communities * community_km2 * 1e6 / math.pi)
    core = region.intersection(centre.buffer(radius, quad_segs=32))
    core = (
        max(shapely.get_parts(core), key=lambda g: g.area) if core.geom_type != "Polygon" else core
    )
    rest = region.difference(core)
    urban = divide(core, communities, rng)
    rural = divide(rest, villages, rng) if villages else np.empty(0, dtype=object)
    return Division(urban, rural)
