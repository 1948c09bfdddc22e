"""Whether a geometry can serve as a grid or area polygon, and if not, why and where.

One owner for the checks that readers and validation apply to polygons: a geometry that is
missing or empty, not polygonal, has a coordinate that is not a finite number (NaN, infinite),
or is invalid in GEOS's sense (a self-intersecting "bow-tie", a ring that crosses itself...),
with GEOS's reason and the place it names.

Examples
--------
>>> from shapely.geometry import Polygon, box
>>> bow_tie = Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
>>> invalid_reason(bow_tie)
('Self-intersection', 0.5, 0.5)
>>> polygon_problem(np.array([box(0, 0, 1, 1), bow_tie], dtype=object))
(1, 'is not a valid polygon: Self-intersection at 0.50000, 0.50000')
"""

from __future__ import annotations

import re

import numpy as np
import shapely

__all__ = ["REPAIR_HINT", "invalid_reason", "nonfinite", "polygon_problem"]

REPAIR_HINT = "repair it (QGIS: Vector › Geometry Tools › Fix Geometries) and try again"
"""What to tell someone whose polygon :func:`polygon_problem` refuses."""

_REASON = re.compile(r"^(?P<reason>.*?)\s*\[(?P<x>\S+) (?P<y>\S+)\]\s*$")
_POLYGONAL = (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON)


def nonfinite(geoms: np.ndarray) -> np.ndarray:
    """Which of ``geoms`` have a coordinate that is NaN or infinite (boolean array).

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> nonfinite(np.array([Point(0, 0), Point(0, float("nan")), None], dtype=object)).tolist()
    [False, True, False]
    """
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    bad = np.zeros(len(geoms), dtype=bool)
    bad[index[~np.isfinite(coords).all(axis=1)]] = True
    return bad


def invalid_reason(geom: shapely.Geometry) -> tuple[str, float | None, float | None]:
    """GEOS's reason ``geom`` is invalid and the place it names (``None`` when it names none).

    Returns ``("Valid Geometry", None, None)`` for a valid geometry.
    """
    reason = str(shapely.is_valid_reason(geom))
    match = _REASON.match(reason)
    if not match:
        return reason, None, None
    x, y = float(match["x"]), float(match["y"])
    if not (np.isfinite(x) and np.isfinite(y)):
        return match["reason"], None, None
    return match["reason"], round(x, 6), round(y, 6)


def polygon_problem(geoms: np.ndarray) -> tuple[int, str] | None:
    """The first of ``geoms`` that is no usable polygon, and what is wrong with it.

    Parameters
    ----------
    geoms
        Geometries (an object array; ``None`` for a missing one).

    Returns
    -------
    (int, str) or None
        The position of the first bad geometry and a phrase to follow its name, e.g.
        ``"is a LineString, not a polygon"``; ``None`` when every geometry is a non-empty,
        finite, valid (Multi)Polygon.
    """
    geoms = np.asarray(geoms, dtype=object)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    types = shapely.get_type_id(geoms)
    other = ~missing & ~np.isin(types, _POLYGONAL)
    infinite = nonfinite(geoms)
    invalid = ~(missing | other | infinite) & ~shapely.is_valid(geoms)
    bad = np.flatnonzero(missing | other | infinite | invalid)
    if len(bad) == 0:
        return None
    i = int(bad[0])
    if missing[i]:
        return i, "has no geometry; give its boundary polygon"
    if other[i]:
        kind = shapely.GeometryType(int(types[i])).name.title()
        return i, f"is a {kind}, not a polygon"
    if infinite[i]:
        return i, "has a coordinate that is not a finite number (NaN or infinite)"
    reason, x, y = invalid_reason(geoms[i])
    where = "" if x is None or y is None else f" at {x:.5f}, {y:.5f}"
    return i, f"is not a valid polygon: {reason}{where}"
