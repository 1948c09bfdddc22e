"""Hierarchical grid codes: a child's code is its parent's code plus a sequence number.

Scheme (see ``docs/DESIGN.md``): the top level carries the code the place already has — for a
community (社区) or village (村) its 12-digit statistical division code (6 digits of GB/T 2260
county + 3 of the township/street + 3 of the community) — and every level below appends a
zero-padded sequence of :data:`SEQUENCE_DIGITS` digits. A grid under a 12-digit community code
so gets the 15-digit code used by grid-code standards such as DB11/T 2157.

Siblings are numbered north → south in rows, west → east inside a row, from their
representative points (``point_on_surface``) in a metric CRS. The row height is
:data:`ROW_FACTOR` times the median sibling size (√area), so the order follows how a planner
reads a map rather than tiny differences of latitude. A code in ``taken`` (every code the store
has ever issued) is skipped, so a code is never reused for a different area.

Whatever the scheme, a code is printed on signs, typed into phones and put into file names and
URLs, so it has at most :data:`MAX_CODE_LENGTH` characters and no whitespace, quotes or control
characters (:func:`code_problem`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

__all__ = [
    "MAX_CODE_LENGTH",
    "ROW_FACTOR",
    "SEQUENCE_DIGITS",
    "child_code",
    "code_problem",
    "number_children",
    "reading_order",
]

SEQUENCE_DIGITS = 3
ROW_FACTOR = 0.5
MAX_CODE_LENGTH = 64
_PLAIN = re.compile(r"[0-9A-Za-z_.-]+")  # the common case, which needs no closer look
_QUOTES = frozenset("'\"`‘’“”")
_RULE = (
    f"a code has at most {MAX_CODE_LENGTH} characters and no whitespace, quotes or control "
    "characters, e.g. 110108001001"
)


def code_problem(code: str) -> str | None:
    """Why ``code`` cannot be a grid code, or ``None`` when it can.

    Parameters
    ----------
    code
        A grid code as given (already stripped of leading and trailing blanks).

    Returns
    -------
    str or None
        What is wrong and what a code looks like, to follow the code in a message.

    Examples
    --------
    >>> code_problem("110108001001001") is None, code_problem("海淀-A01") is None
    (True, True)
    >>> print(code_problem("110108001001001'; DROP TABLE grids;--"))
    has a quote (') at character 16; a code has at most 64 characters and no whitespace, quotes or control characters, e.g. 110108001001
    """
    if len(code) > MAX_CODE_LENGTH:
        return f"is {len(code)} characters long; {_RULE}"
    if _PLAIN.fullmatch(code):
        return None
    for position, char in enumerate(code, start=1):
        category = unicodedata.category(char)
        if char in _QUOTES:
            what = f"a quote ({char})"
        elif char.isspace() or category.startswith("Z"):
            what = "whitespace"
        elif category.startswith("C"):
            what = f"a control character (U+{ord(char):04X})"
        else:
            continue
        return f"has {what} at character {position}; {_RULE}"
    return None


def child_code(parent_code: str | None, sequence: int) -> str:
    """Code of the ``sequence``-th child (1-based) of ``parent_code``.

    Examples
    --------
    >>> child_code("110108014001", 7)
    '110108014001007'
    """
    if not 1 <= sequence < 10**SEQUENCE_DIGITS:
        raise ValueError(f"sequence must be 1..{10**SEQUENCE_DIGITS - 1}, got {sequence}")
    return f"{parent_code or ''}{sequence:0{SEQUENCE_DIGITS}d}"


def reading_order(geometries: gpd.GeoSeries) -> np.ndarray:
    """Indices that sort ``geometries`` north → south in rows, then west → east.

    Parameters
    ----------
    geometries
        Polygons in any CRS with a known CRS; geographic input is projected first.

    Returns
    -------
    numpy.ndarray
        Positions into ``geometries`` in reading order.
    """
    if len(geometries) == 0:
        return np.array([], dtype=int)
    metric = _metric(geometries)
    points = shapely.point_on_surface(metric.to_numpy())
    x, y = shapely.get_x(points), shapely.get_y(points)
    size = float(np.median(np.sqrt(np.maximum(metric.area.to_numpy(), 0.0))))
    row_height = max(size * ROW_FACTOR, 1e-9)
    rows = np.floor((y.max() - y) / row_height)
    return np.lexsort((y * -1, x, rows))


def number_children(
    parent_code: str | None,
    geometries: gpd.GeoSeries,
    taken: Collection[str] = (),
) -> list[str]:
    """Codes for siblings under ``parent_code``, in the order of ``geometries``.

    Sequence numbers follow :func:`reading_order`; a code in ``taken`` is skipped.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> cells = gpd.GeoSeries([box(1, 0, 2, 1), box(0, 0, 1, 1), box(0, 1, 2, 2)], crs=3857)
    >>> number_children("110108014001", cells)
    ['110108014001003', '110108014001002', '110108014001001']
    >>> number_children("A", cells, taken={"A001"})
    ['A004', 'A003', 'A002']
    """
    order = reading_order(geometries)
    codes: list[str] = [""] * len(order)
    sequence = 0
    for position in order:
        sequence += 1
        while child_code(parent_code, sequence) in taken:
            sequence += 1
        codes[position] = child_code(parent_code, sequence)
    return codes


def _metric(geometries: gpd.GeoSeries) -> gpd.GeoSeries:
    crs = CRS(geometries.crs) if geometries.crs is not None else None
    if crs is None or not crs.is_geographic:
        return geometries
    lon, lat = geometries.union_all().centroid.coords[0]
    zone = CRS.from_proj4(f"+proj=tmerc +lon_0={lon} +lat_0={lat} +ellps=GRS80 +units=m")
    return geometries.to_crs(zone)
