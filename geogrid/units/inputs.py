"""Inputs of the units: the parent area, barrier lines, blocks and household sites, in metres."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from geogrid.crs import metric_crs
from geogrid.errors import CRSError, InvalidInputError
from geogrid.plan import UnitKind

__all__ = [
    "STRADDLING_COLUMNS",
    "Sites",
    "clipped_lines",
    "cut_blocks",
    "find_sites",
    "frame_to_crs",
    "geometry_to_crs",
    "household_areas",
    "household_counts",
    "metric_crs_for",
    "numbers",
    "parent_geometry",
]


def parent_geometry(
    parent: BaseGeometry | gpd.GeoSeries | gpd.GeoDataFrame, households: gpd.GeoDataFrame, crs: Any
) -> tuple[BaseGeometry, CRS]:
    """The parent as one valid shapely geometry and its CRS; refuses several rows or no CRS."""
    if isinstance(parent, gpd.GeoDataFrame | gpd.GeoSeries):
        if len(parent) != 1:
            raise InvalidInputError(
                f"give one parent area (上级区域) at a time, got {len(parent)}; "
                "loop over the rows of the AREA layer"
            )
        if parent.crs is None:
            raise CRSError("the parent area has no CRS (坐标系缺失); set one with set_crs")
        geom, source = parent.geometry.iloc[0], CRS(parent.crs)
    else:
        given = crs if crs is not None else households.crs
        if given is None:
            raise CRSError("say the CRS of the parent area (坐标系): pass crs=...")
        geom, source = parent, CRS(given)
    if geom is None or geom.is_empty or shapely.get_dimensions(geom) != 2:
        raise InvalidInputError("the parent area (上级区域) must be a non-empty polygon")
    return shapely.make_valid(geom) if not geom.is_valid else geom, source


def metric_crs_for(geom: BaseGeometry, source: CRS) -> CRS:
    """``source`` when it is metric already, else a projected CRS chosen for ``geom``."""
    if source.is_projected and source.axis_info[0].unit_name in ("metre", "meter"):
        return source
    return metric_crs(gpd.GeoSeries([geom], crs=source))


def geometry_to_crs(geom: BaseGeometry, source: CRS, target: CRS) -> BaseGeometry:
    """One geometry from ``source`` to ``target``."""
    if source == target:
        return geom
    out: BaseGeometry = gpd.GeoSeries([geom], crs=source).to_crs(target).iloc[0]
    return out


def frame_to_crs(frame: gpd.GeoDataFrame | gpd.GeoSeries, metric: CRS, what: str) -> np.ndarray:
    """The geometries of a layer in ``metric`` as an object array; a layer without CRS is refused."""
    if frame.crs is None:
        raise CRSError(f"the {what} layer has no CRS (坐标系缺失); set one with set_crs")
    series = frame.geometry if isinstance(frame, gpd.GeoDataFrame) else frame
    return np.asarray(series.to_crs(metric).array, dtype=object)


def clipped_lines(
    frame: gpd.GeoDataFrame | gpd.GeoSeries | None, metric: CRS, parent: BaseGeometry
) -> np.ndarray:
    """Lines of a layer (polygons give their outlines) clipped to ``parent``."""
    if frame is None or len(frame) == 0:
        return np.empty(0, dtype=object)
    geoms = frame_to_crs(frame, metric, "barrier")
    geoms = geoms[~shapely.is_missing(geoms)]
    polygonal = shapely.get_dimensions(geoms) == 2
    geoms = np.where(polygonal, shapely.boundary(geoms), geoms)
    clipped = shapely.get_parts(shapely.intersection(geoms, parent))
    return np.asarray(clipped[shapely.get_dimensions(clipped) == 1], dtype=object)


def cut_blocks(parent: BaseGeometry, lines: np.ndarray) -> np.ndarray:
    """Faces of the parent cut by ``lines``; the parent's holes are left out."""
    rings = shapely.get_parts(shapely.boundary(parent))
    noded = shapely.union_all(np.concatenate([rings, lines]))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    faces = faces[shapely.area(faces) > 0]
    inside = shapely.contains_properly(parent, shapely.point_on_surface(faces))
    return np.asarray(faces[inside], dtype=object)


@dataclasses.dataclass
class Sites:
    """Household sites: a building, or household points stacked at one place."""

    points: np.ndarray  # representative point per site (metric)
    households: np.ndarray  # int
    extra: dict[str, np.ndarray]
    name: list[str | None]
    kind: list[str]
    members: list[list[int]]  # input row positions
    footprints: np.ndarray  # building polygon per site (metric), None for point sites


def find_sites(
    households: gpd.GeoDataFrame,
    metric: CRS,
    parent: BaseGeometry,
    count_column: str,
    extra_columns: Sequence[str],
) -> tuple[Sites, gpd.GeoDataFrame, list[str], pd.DataFrame]:
    """Household sites inside the parent, the rows outside it, the problems, the straddlers.

    The last are the buildings across the parent's boundary (see :data:`STRADDLING_COLUMNS`).
    """
    geoms = frame_to_crs(households, metric, "households")
    missing = [c for c in extra_columns if c not in households.columns]
    if missing:
        raise InvalidInputError(
            f"the households layer has no column(s) {', '.join(missing)}; "
            f"its columns: {', '.join(map(str, households.columns))}"
        )
    counts = household_counts(households, count_column)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    inside, inside_area = _larger_share(np.array([parent], dtype=object), geoms)
    inside = inside == 0
    points = np.empty(len(geoms), dtype=object)
    points[present] = shapely.point_on_surface(geoms[present])
    # a building straddling the boundary is counted wholly on the side of its larger share
    straddle = np.flatnonzero(present & np.isfinite(inside_area))
    cut = straddle[inside[straddle]]
    points[cut] = shapely.point_on_surface(_largest_part(shapely.intersection(geoms[cut], parent)))
    problems = []
    outside = households.iloc[np.flatnonzero(~inside)]
    if len(outside):
        problems.append(
            f"{int(counts[~inside].sum())} household(s) in {len(outside)} row(s) lie outside "
            "the parent area (区域外住户); they are not in any grid — check their "
            "coordinates or the boundary"
        )
    straddling = _straddling(households, straddle, counts, geoms, inside_area, inside)
    rows = np.flatnonzero(inside)
    xy = shapely.get_coordinates(points[rows])
    # points at the same place are one site (one building, or household points stacked)
    _, first, inverse = np.unique(xy, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    n = len(first)
    members: list[list[int]] = [[] for _ in range(n)]
    for row, site in zip(rows.tolist(), inverse.tolist(), strict=True):
        members[site].append(row)
    polygonal = shapely.get_dimensions(geoms) == 2
    names = households["name"].to_numpy(object) if "name" in households else None
    extra = {
        c: np.bincount(inverse, weights=numbers(households[c]), minlength=n) for c in extra_columns
    }
    return (
        Sites(
            points=points[rows[first]],
            footprints=_footprints(geoms[rows[first]], polygonal[rows[first]]),
            households=np.bincount(inverse, weights=counts[rows], minlength=n).astype(np.int64),
            extra={c: v.astype(np.int64) for c, v in extra.items()},
            name=[_name(names, m) for m in members],
            kind=[
                UnitKind.BUILDING.value if polygonal[m[0]] else UnitKind.CELL.value for m in members
            ],
            members=members,
        ),
        outside,
        problems,
        straddling,
    )


def _footprints(geoms: np.ndarray, polygonal: np.ndarray) -> np.ndarray:
    out = np.full(len(geoms), None, dtype=object)
    out[polygonal] = geoms[polygonal]
    return out


def household_counts(households: gpd.GeoDataFrame, column: str) -> np.ndarray:
    """Household count of every row (1 each without the column); negative counts are refused."""
    if column not in households.columns:
        return np.ones(len(households), dtype=float)
    values = numbers(households[column])
    if (values < 0).any():
        raise InvalidInputError(f"household counts (住户数) in {column!r} must not be negative")
    return values


def numbers(series: pd.Series) -> np.ndarray:
    """A column as floats, blanks and text as 0."""
    return pd.to_numeric(series, errors="coerce").fillna(0).to_numpy(float)


def _name(names: np.ndarray | None, members: list[int]) -> str | None:
    if names is None:
        return None
    found = [str(names[m]) for m in members if not pd.isna(names[m])]
    return "、".join(found[:3]) if found else None


STRADDLING_COLUMNS = ("id", "name", "households", "area_inside_m2", "area_outside_m2", "inside")
"""Columns of :attr:`~geogrid.units.Units.straddling`: the building's ``id`` (its ``id``,
``bid`` or ``osm_id`` column, else its row label), ``name``, ``households``, its footprint
area inside and outside the parent, and ``inside`` (counted in this parent: its larger share
lies inside)."""
_ID_COLUMNS = ("id", "bid", "osm_id", "building_id")
_STRADDLE_SHARE = 1e-3  # a footprint with less than this share beyond the boundary is inside


def household_areas(areas: np.ndarray, geoms: np.ndarray) -> np.ndarray:
    """Index of the area each household row belongs to, ``-1`` for none.

    A point (or a building inside one area) belongs to the first area covering its
    representative point; a building across the boundary between areas to the area holding
    the larger share of its footprint (first area on a tie), so it is counted wholly on one
    side. The one rule for :func:`~geogrid.units.build_units` and
    :func:`~geogrid.partition.partition_areas`.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> areas = np.array([box(0, 0, 10, 10), box(10, 0, 20, 10)])
    >>> household_areas(areas, np.array([box(8, 1, 18, 2), shapely.Point(15, 5)])).tolist()
    [1, 1]
    """
    return _larger_share(areas, geoms)[0]


def _larger_share(areas: np.ndarray, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Area of every row (see :func:`household_areas`), and the footprint inside it.

    The second is given for polygons crossing an area's boundary by more than
    :data:`_STRADDLE_SHARE` of their area (``nan`` for the others); such a polygon belongs to
    the area holding the largest piece, unless more of it lies outside every area (``-1``).
    """
    found = np.full(len(geoms), -1, dtype=np.int64)
    share = np.full(len(geoms), np.nan)
    present = np.flatnonzero(~(shapely.is_missing(geoms) | shapely.is_empty(geoms)))
    if len(present) == 0 or len(areas) == 0:
        return found, share
    shapely.prepare(areas)
    points = shapely.point_on_surface(geoms[present])
    hit, area = shapely.STRtree(areas).query(points, predicate="intersects")
    found[present[hit[::-1]]] = area[::-1]  # the first area for a point on a shared border
    polygons = present[shapely.get_dimensions(geoms[present]) == 2]
    if len(polygons) == 0:
        return found, share
    row, area = shapely.STRtree(areas).query(geoms[polygons], predicate="intersects")
    whole = shapely.covers(areas[area], geoms[polygons[row]])
    crossing = np.unique(row[~whole])
    if len(crossing) == 0:
        return found, share
    rows = polygons[crossing]
    pick = np.isin(row, crossing)
    row, area = row[pick], area[pick]
    pieces = shapely.area(shapely.intersection(geoms[polygons[row]], areas[area]))
    total = shapely.area(geoms[rows])
    frame = pd.DataFrame({"row": polygons[row], "area": area, "piece": pieces})
    within = frame.groupby("row")["piece"].sum().loc[rows].to_numpy()
    frame = frame.sort_values(["row", "piece", "area"], ascending=[True, False, True])
    chosen = frame.drop_duplicates("row").set_index("row").loc[rows]
    piece = chosen["piece"].to_numpy()
    kept = (piece > 0) & (piece >= total - within)  # not more of it beyond every area
    found[rows] = np.where(kept, chosen["area"].to_numpy(), -1)
    real = total - piece > _STRADDLE_SHARE * total
    share[rows[real]] = piece[real]
    return found, share


def _largest_part(geoms: np.ndarray) -> np.ndarray:
    """The largest polygon of every geometry (an overlay may leave slivers and lines)."""
    parts, index = shapely.get_parts(geoms, return_index=True)
    area = shapely.area(parts)
    order = np.lexsort((-area, index))
    first = np.ones(len(order), dtype=bool)
    first[1:] = index[order][1:] != index[order][:-1]
    out = geoms.copy()
    out[index[order][first]] = parts[order][first]
    return out


def _straddling(
    households: gpd.GeoDataFrame,
    rows: np.ndarray,
    counts: np.ndarray,
    geoms: np.ndarray,
    inside_area: np.ndarray,
    inside: np.ndarray,
) -> pd.DataFrame:
    """The buildings across the parent's boundary (columns :data:`STRADDLING_COLUMNS`)."""
    column = next((c for c in _ID_COLUMNS if c in households.columns), None)
    ids = households[column].to_numpy(object) if column else households.index.to_numpy(object)
    names = households["name"].to_numpy(object) if "name" in households else None
    own = inside_area[rows]
    total = shapely.area(geoms[rows])
    return pd.DataFrame(
        {
            "id": [str(ids[r]) for r in rows.tolist()],
            "name": [_name(names, [r]) for r in rows.tolist()],
            "households": counts[rows].astype(np.int64),
            "area_inside_m2": own,
            "area_outside_m2": total - own,
            "inside": inside[rows],
        },
        columns=list(STRADDLING_COLUMNS),
    )
