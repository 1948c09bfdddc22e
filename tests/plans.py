"""Crafted grid plans for tests: boxes laid out in metres near 116.3°E, 40.0°N.

Geometry is given in local metres from the origin (:data:`LON0`, :data:`LAT0`) and converted
to CGCS2000 lon/lat with a local scale, so a test can say "a 5 m × 100 m gap" and find it at
the right place. Reuse these builders in any test that needs a small plan.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import box

from geogrid.plan import GridPlan

LON0, LAT0 = 116.30, 40.00
_PHI = math.radians(LAT0)
_A, _E2 = 6378137.0, 0.00669438002290
_W = 1.0 - _E2 * math.sin(_PHI) ** 2
#: metres per degree of longitude and of latitude at LAT0 (GRS80)
M_PER_DEG_LON = math.radians(_A / math.sqrt(_W) * math.cos(_PHI))
M_PER_DEG_LAT = math.radians(_A * (1 - _E2) / _W**1.5)

COMMUNITY = "110108001"
QUADRANTS = ("110108001001", "110108001002", "110108001003", "110108001004")
SIDE = 400.0


def lonlat(x: float, y: float) -> tuple[float, float]:
    """Local metres east/north of the origin -> lon/lat."""
    return LON0 + x / M_PER_DEG_LON, LAT0 + y / M_PER_DEG_LAT


def metres(lon: float, lat: float) -> tuple[float, float]:
    """Lon/lat -> local metres east/north of the origin."""
    return (lon - LON0) * M_PER_DEG_LON, (lat - LAT0) * M_PER_DEG_LAT


def to_lonlat(geom: Any) -> Any:
    """A geometry (or array) in local metres -> lon/lat."""
    scale = np.array([M_PER_DEG_LON, M_PER_DEG_LAT])
    return shapely.transform(geom, lambda xy: xy / scale + np.array([LON0, LAT0]))


def to_metres(geom: Any) -> Any:
    """A lon/lat geometry (or array) -> local metres."""
    scale = np.array([M_PER_DEG_LON, M_PER_DEG_LAT])
    return shapely.transform(geom, lambda xy: (xy - np.array([LON0, LAT0])) * scale)


def mbox(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    """A lon/lat box given by its corners in local metres."""
    return to_lonlat(box(x0, y0, x1, y1))


def make_plan(
    rows: Iterable[Mapping[str, Any]], levels: Sequence[str] = ("社区", "网格")
) -> GridPlan:
    """A plan from rows with ``code``, ``level``, ``geometry`` (lon/lat) and optional fields."""
    rows = [dict(r) for r in rows]
    for row in rows:
        row.setdefault("name", f"网格{row['code'][-3:]}")
        row.setdefault("parent_code", None)
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=4490)
    return GridPlan("测试", list(levels), frame)


def community_plan(
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    extra: Iterable[Mapping[str, Any]] = (),
    levels: Sequence[str] = ("社区", "网格"),
) -> GridPlan:
    """A 400 m square community split into four 200 m quadrant grids, 100 households each.

    Quadrants: ``…001`` south-west, ``…002`` south-east, ``…003`` north-west, ``…004``
    north-east. ``overrides`` maps a code to fields to replace (``geometry`` in lon/lat);
    ``extra`` adds rows.
    """
    half = SIDE / 2
    corners = [(0, 0), (half, 0), (0, half), (half, half)]
    rows: list[dict[str, Any]] = [
        {"code": COMMUNITY, "level": 1, "geometry": mbox(0, 0, SIDE, SIDE), "households": 400}
    ]
    for code, (x, y) in zip(QUADRANTS, corners, strict=True):
        rows.append(
            {
                "code": code,
                "level": 2,
                "parent_code": COMMUNITY,
                "geometry": mbox(x, y, x + half, y + half),
                "households": 100,
            }
        )
    for row in rows:
        row.update((overrides or {}).get(row["code"], {}))
    return make_plan([*rows, *extra], levels)


def split_plan(
    xs: Sequence[float],
    ys: Sequence[float],
    *,
    code: str = COMMUNITY,
    origin: tuple[float, float] = (0.0, 0.0),
    width: float = SIDE,
    height: float = SIDE,
) -> GridPlan:
    """A ``width`` × ``height`` m community cut by vertical lines ``xs`` and horizontal ``ys``."""
    return plan_of(split_rows(xs, ys, code=code, origin=origin, width=width, height=height))


def split_rows(
    xs: Sequence[float],
    ys: Sequence[float],
    *,
    code: str = COMMUNITY,
    origin: tuple[float, float] = (0.0, 0.0),
    width: float = SIDE,
    height: float = SIDE,
) -> list[dict[str, Any]]:
    """Rows of :func:`split_plan`: the community first, then the cells row by row."""
    ox, oy = origin
    xcuts = [0.0, *sorted(xs), width]
    ycuts = [0.0, *sorted(ys), height]
    rows: list[dict[str, Any]] = [
        {"code": code, "level": 1, "geometry": mbox(ox, oy, ox + width, oy + height)}
    ]
    n = 0
    for y0, y1 in itertools.pairwise(ycuts):
        for x0, x1 in itertools.pairwise(xcuts):
            n += 1
            rows.append(
                {
                    "code": f"{code}{n:03d}",
                    "level": 2,
                    "parent_code": code,
                    "geometry": mbox(ox + x0, oy + y0, ox + x1, oy + y1),
                    "bounds_m": (ox + x0, oy + y0, ox + x1, oy + y1),
                }
            )
    return rows


def plan_of(rows: Iterable[Mapping[str, Any]]) -> GridPlan:
    """A plan from :func:`split_rows`-style rows (extra keys dropped)."""
    return make_plan({k: v for k, v in r.items() if k != "bounds_m"} for r in rows)
