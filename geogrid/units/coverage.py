"""Polygons as an exact coverage: shared edges vertex-matched, no gaps or overlaps between them.

Adjacency (:mod:`geogrid.units.adjacency`) and coverage unions need neighbours whose shared
edges have the same vertices. :func:`shapely.coverage_clean` makes any set of polygons so, but
it nodes every edge: 20 s for 25,000 units. Polygons that already are a coverage — a plan's
units as a partition wrote them, boxes a hair apart from float arithmetic — only need their
coordinates snapped to a grid finer than anything drawn (:data:`SNAP_DECIMALS`) and one check.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np
import shapely

__all__ = ["SNAP_DECIMALS", "exact_coverage", "is_coverage", "snapped"]

_CHECKED: OrderedDict[bytes, bool] = OrderedDict()  # digest of polygons → a valid coverage?
_KEPT = 32
_GUARD = threading.Lock()

SNAP_DECIMALS = {"metre": 3, "degree": 9}
"""Decimals coordinates are snapped to: 1 mm in a metric CRS, 10⁻⁹ degree (0.1 mm) in degrees."""


def snapped(geoms: np.ndarray, decimals: int) -> np.ndarray:
    """``geoms`` with every coordinate rounded to ``decimals``.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> snapped(np.array([box(0, 0, 1.00000001, 1)]), 3)[0].bounds
    (0.0, 0.0, 1.0, 1.0)
    """
    return shapely.transform(geoms, lambda xy: np.round(xy, decimals))


def is_coverage(geoms: np.ndarray) -> bool:
    """Whether ``geoms`` are valid polygons forming a valid coverage, remembered.

    The answer is kept by the digest of the polygons' WKB (a tenth of the check's time), so
    the same units checked again — opening a draft checks whether they tile its grids, then
    measures them; a second draft of the same version — cost no second check.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> is_coverage(np.array([box(0, 0, 1, 1), box(1, 0, 2, 1)]))
    True
    >>> is_coverage(np.array([box(0, 0, 1, 1), box(0.5, 0, 2, 1)]))
    False
    """
    digest = hashlib.blake2b(b"".join(shapely.to_wkb(geoms).tolist()), digest_size=16).digest()
    with _GUARD:
        known = _CHECKED.get(digest)
    if known is None:
        known = bool(shapely.is_valid(geoms).all() and shapely.coverage_is_valid(geoms))
        with _GUARD:
            _CHECKED[digest] = known
            while len(_CHECKED) > _KEPT:
                _CHECKED.popitem(last=False)
    return known


def exact_coverage(geoms: np.ndarray, decimals: int = SNAP_DECIMALS["metre"]) -> np.ndarray:
    """``geoms`` as an exact coverage, cleaned only when snapping is not enough.

    Snapped to ``decimals`` first; when that is a valid coverage
    (:func:`shapely.coverage_is_valid`) it is the answer, else the valid polygons of
    ``geoms`` go through :func:`shapely.coverage_clean`.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> cells = exact_coverage(np.array([box(0, 0, 1, 1), box(1.0000001, 0, 2, 1)]))
    >>> [c.bounds for c in cells]
    [(0.0, 0.0, 1.0, 1.0), (1.0, 0.0, 2.0, 1.0)]
    """
    if shapely.is_valid(geoms).all():
        near = snapped(geoms, decimals)
        if is_coverage(near):
            return near
    else:
        # "structure" keeps polygons only: the linework method leaves the collapsed slivers of
        # a round trip through EPSG:4490 as lines in a collection, which coverage_clean refuses
        geoms = shapely.make_valid(geoms, method="structure", keep_collapsed=False)
    return shapely.coverage_clean(geoms)
