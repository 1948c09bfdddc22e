"""Point → grid at every level: the in-process index, the boundary rule and its SQL twin.

**Boundary rule.** At each level, a point belongs to the grid with the *smallest code* among
the grids whose polygon *covers* it (``shapely.covers`` / ``ST_Covers``: the interior or the
boundary). A point on an edge or vertex shared by several grids so belongs to exactly one,
the same in batch, API and PostGIS paths; :data:`POSTGIS_LOCATE_SQL` is the SQL of the rule
(``ORDER BY code COLLATE "C"`` compares codes bytewise, as Python compares ``str``). A child's
code starts with its parent's (:mod:`geogrid.codes`), so in a nested plan the level-1 answer is
the parent of the level-2 answer also on shared edges.

A point covered by no grid of the finest level is *outside*: it gets the nearest grid of that
level and the distance in metres, measured in the plan's metric CRS
(:func:`geogrid.crs.metric_crs`, a CGCS2000 Gauss–Krüger zone); ties go to the smallest code.

**Index.** :class:`GridIndex` answers exactly like the brute-force rule but about ten times
faster than an R-tree: per level, a raster pyramid whose cells lying clear of every polygon
edge hold the answer; only points in the thin band of cells touched by an edge are tested
exactly with ``shapely.covers`` against the few grids whose edges touch that cell. See
``docs/locate.md``.

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> from geogrid.plan import GridPlan
>>> grids = gpd.GeoDataFrame(
...     {"code": ["001", "002"], "name": ["东", "西"], "level": [1, 1]},
...     geometry=[box(116.30, 39.99, 116.31, 40.00), box(116.31, 39.99, 116.32, 40.00)],
...     crs=4490)
>>> index = GridIndex.from_plan(GridPlan("示例", ["网格"], grids))
>>> result = index.locate([116.305, 116.31, 116.33], [39.995, 39.995, 39.995])
>>> result.grid_codes().tolist()  # the shared edge x = 116.31 goes to the smaller code
['001', '001', None]
>>> result.status.tolist(), result.nearest_codes().tolist()
(['inside', 'inside', 'outside'], [None, None, '002'])
>>> round(float(result.distance_m[2]))  # 0.01° of longitude at 40°N
854
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from pyproj import CRS, Geod, Transformer
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geogrid.crs import (
    CRS_ALIASES,
    CRSLike,
    bd09_to_wgs84,
    gcj02_to_wgs84,
    metric_crs,
    to_plan_lonlat,
)
from geogrid.errors import PlanFileError
from geogrid.plan import PLAN_CRS, GridPlan

_GEOD = Geod(ellps="GRS80")  # CGCS2000's ellipsoid, for far-away outside points

__all__ = [
    "NEAREST_TIE_M",
    "OUTSIDE",
    "POSTGIS_LOCATE_SQL",
    "POSTGIS_NEAREST_SQL",
    "GridIndex",
    "LocateResult",
    "locate_frame",
    "locate_points",
    "point_coordinates",
    "postgis_locate_sql",
    "postgis_nearest_sql",
]

OUTSIDE = -1
"""Grid number meaning "no grid of this level covers the point"."""

POSTGIS_LOCATE_SQL = """\
SELECT g.code
FROM {table} AS g
WHERE g.level = %(level)s
  AND ST_Covers(g.{geom}, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4490))
ORDER BY g.code COLLATE "C"
LIMIT 1"""
"""The boundary rule in PostGIS for one point and one level (psycopg parameters ``lon``,
``lat``, ``level``; format ``table`` and ``geom`` in first, see :func:`postgis_locate_sql`).
No row: the point is outside that level."""

NEAREST_TIE_M = 1e-6
"""Grids this close (metres) to the nearest distance tie for nearest; the smallest code wins."""

POSTGIS_NEAREST_SQL = """\
WITH d AS (
  SELECT g.code,
         ST_Distance(ST_Transform(g.{geom}, %(metric_srid)s),
                     ST_Transform(ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4490),
                                  %(metric_srid)s)) AS distance_m
  FROM {table} AS g
  WHERE g.level = %(level)s
)
SELECT code, (SELECT min(distance_m) FROM d) AS distance_m
FROM d
WHERE distance_m <= (SELECT min(distance_m) FROM d) + 1e-6
ORDER BY code COLLATE "C"
LIMIT 1"""
"""Nearest grid of a level and its distance in metres for an outside point, measured in the
metric CRS ``metric_srid`` (:attr:`GridIndex.metric_crs`); grids within
:data:`NEAREST_TIE_M` of the nearest tie and the smallest code wins."""

_BRANCHING = 2  # each refined cell splits into 2 × 2 children
_MAX_TIERS = 12
_STATUS_NAMES = np.array(["inside", "outside", "invalid"], dtype=object)
_INSIDE, _OUTSIDE, _INVALID = 0, 1, 2


def postgis_locate_sql(table: str = "grids", geom: str = "geom") -> str:
    """:data:`POSTGIS_LOCATE_SQL` for a table and geometry column.

    Parameters
    ----------
    table, geom
        The grids table (columns ``code``, ``level`` and a ``geometry(MultiPolygon, 4490)``)
        and its geometry column; trusted identifiers, not user input.

    Returns
    -------
    str
        SQL with psycopg parameters ``%(lon)s``, ``%(lat)s``, ``%(level)s``.

    Examples
    --------
    >>> "ST_Covers(g.geom" in postgis_locate_sql()
    True
    """
    return POSTGIS_LOCATE_SQL.format(table=table, geom=geom)


def postgis_nearest_sql(table: str = "grids", geom: str = "geom") -> str:
    """:data:`POSTGIS_NEAREST_SQL` for a table and geometry column (see :func:`postgis_locate_sql`).

    Examples
    --------
    >>> "min(distance_m)" in postgis_nearest_sql("plan_grids", "geometry")
    True
    """
    return POSTGIS_NEAREST_SQL.format(table=table, geom=geom)


# --------------------------------------------------------------------------- results


@dataclasses.dataclass(frozen=True)
class LocateResult:
    """Where each point fell; arrays are aligned with the input points.

    Attributes
    ----------
    levels
        Level numbers of the plan (1 = top), the rows of ``grid``.
    codes
        Grid codes of the plan, sorted; ``grid`` and ``nearest`` index into it.
    grid
        ``(n_levels, n_points)`` int array: per level the grid covering the point by the
        boundary rule, as an index into ``codes``, or :data:`OUTSIDE` (-1).
    status_code
        0 inside (a grid of the finest level covers the point), 1 outside, 2 invalid
        (a non-finite coordinate).
    nearest
        For outside points, the nearest grid of the finest level (index into ``codes``);
        -1 otherwise.
    distance_m
        Distance in metres to ``nearest`` for outside points; 0 inside; NaN when invalid.
    lon, lat
        The points in plan coordinates (CGCS2000), as located.
    """

    levels: tuple[int, ...]
    codes: np.ndarray
    grid: np.ndarray
    status_code: np.ndarray
    nearest: np.ndarray
    distance_m: np.ndarray
    lon: np.ndarray
    lat: np.ndarray

    def __len__(self) -> int:
        return int(self.status_code.shape[0])

    @property
    def status(self) -> np.ndarray:
        """``"inside"``, ``"outside"`` or ``"invalid"`` per point (object array)."""
        return _STATUS_NAMES[self.status_code]

    @property
    def inside(self) -> np.ndarray:
        """True where a grid of the finest level covers the point."""
        return self.status_code == _INSIDE

    def level_codes(self, level: int) -> np.ndarray:
        """Codes of level ``level`` per point (object array, ``None`` where outside it)."""
        return self._as_codes(self.grid[self.levels.index(level)])

    def grid_codes(self) -> np.ndarray:
        """Codes of the finest level per point (``None`` outside)."""
        return self._as_codes(self.grid[-1])

    def nearest_codes(self) -> np.ndarray:
        """Nearest finest-level grid code of outside points (``None`` elsewhere)."""
        return self._as_codes(self.nearest)

    def _as_codes(self, numbers: np.ndarray) -> np.ndarray:
        out = np.full(numbers.shape, None, dtype=object)
        found = numbers >= 0
        out[found] = self.codes[numbers[found]]
        return out


# --------------------------------------------------------------------------- the index


class GridIndex:
    """In-process point-in-grid index over every level of a plan.

    Build it once per plan with :meth:`from_plan` (a second or so for thousands of grids)
    and call :meth:`locate` for batches; it is read-only and safe to share between threads.

    Parameters
    ----------
    codes, levels, geometries
        One entry per grid: code, level number and (Multi)Polygon in plan lon/lat.
    metric
        CRS in metres for the distance to the nearest grid; by default
        :func:`geogrid.crs.metric_crs` of the grids.
    boundary_fraction
        Refine the raster until at most this share of the area lies in cells touched by an
        edge (where points get an exact test), or ``max_cells`` is reached.
    max_cells
        Cap on raster cells per level (memory: 4 bytes each).

    Examples
    --------
    >>> from shapely.geometry import box
    >>> index = GridIndex(["1", "2"], [1, 1], [box(0, 0, 1, 1), box(1, 0, 2, 1)])
    >>> index.locate([1.0], [1.0]).grid_codes().tolist()  # the shared vertex
    ['1']
    """

    def __init__(
        self,
        codes: npt.ArrayLike,
        levels: npt.ArrayLike,
        geometries: npt.ArrayLike,
        *,
        metric: CRSLike | None = None,
        boundary_fraction: float = 0.005,
        max_cells: int = 6_000_000,
    ) -> None:
        codes_arr = np.asarray(codes, dtype=object).astype(str).astype(object)
        levels_arr = np.asarray(levels, dtype=np.int64)
        geoms = np.asarray(geometries, dtype=object)
        _check_inputs(codes_arr, levels_arr, geoms)
        order = np.argsort(codes_arr.astype(str), kind="stable")
        self.codes: np.ndarray = codes_arr[order]
        self.grid_levels: np.ndarray = levels_arr[order]
        self.geometries: np.ndarray = geoms[order]
        self.levels: tuple[int, ...] = tuple(int(v) for v in np.unique(levels_arr))
        self.metric_crs: CRS = (
            metric_crs(tuple(shapely.total_bounds(self.geometries)))
            if metric is None
            else CRS.from_user_input(metric)
        )
        self._levels = [
            _LevelIndex(
                np.flatnonzero(self.grid_levels == level),
                self.geometries,
                self.metric_crs,
                boundary_fraction,
                max_cells,
            )
            for level in self.levels
        ]
        self._levels[-1].prepare_nearest()  # outside answers come from the finest level

    @classmethod
    def from_plan(cls, plan: GridPlan, **options: Any) -> GridIndex:
        """Build the index of every level of ``plan`` (options as for the constructor)."""
        grids = plan.grids
        return cls(
            grids["code"].to_numpy(dtype=object),
            grids["level"].to_numpy(dtype=np.int64),
            np.asarray(grids.geometry.array, dtype=object),
            **options,
        )

    def __repr__(self) -> str:
        sizes = ", ".join(
            f"level {lv}: {ix.size} grids" for lv, ix in zip(self.levels, self._levels, strict=True)
        )
        return f"<GridIndex {sizes}>"

    @property
    def nbytes(self) -> int:
        """Memory held by the rasters, in bytes."""
        return sum(level.nbytes for level in self._levels)

    def locate(
        self, lon: npt.ArrayLike, lat: npt.ArrayLike, *, nearest: bool = True
    ) -> LocateResult:
        """Locate points given in plan lon/lat (CGCS2000 ≡ WGS84).

        Parameters
        ----------
        lon, lat
            Longitudes and latitudes, 1-d or scalars (convert GCJ-02 / BD-09 / projected
            input first with :func:`geogrid.crs.to_plan_lonlat`, or use
            :func:`locate_points`).
        nearest
            Find the nearest grid and distance of outside points (the slow part when many
            points are outside).

        Returns
        -------
        LocateResult
        """
        x = np.atleast_1d(np.asarray(lon, dtype=float)).ravel()
        y = np.atleast_1d(np.asarray(lat, dtype=float)).ravel()
        if x.shape != y.shape:
            raise ValueError(f"lon and lat differ in length: {x.size} and {y.size}")
        grid = np.full((len(self.levels), x.size), OUTSIDE, dtype=np.int64)
        finite = np.isfinite(x) & np.isfinite(y)
        for row, level in enumerate(self._levels):
            grid[row] = level.locate(x, y, finite)
        status = np.where(grid[-1] >= 0, _INSIDE, _OUTSIDE)
        status[~finite] = _INVALID
        near = np.full(x.size, -1, dtype=np.int64)
        distance = np.where(status == _INSIDE, 0.0, np.nan)
        outside = np.flatnonzero(status == _OUTSIDE)
        if nearest and outside.size:
            near[outside], distance[outside] = self._levels[-1].nearest(x[outside], y[outside])
        return LocateResult(self.levels, self.codes, grid, status, near, distance, x, y)

    def locate_exact(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> np.ndarray:
        """The boundary rule by brute force (an R-tree and ``shapely.covers``), for checking.

        Returns
        -------
        numpy.ndarray
            ``(n_levels, n_points)`` grid numbers as in :attr:`LocateResult.grid`.
        """
        x = np.atleast_1d(np.asarray(lon, dtype=float)).ravel()
        y = np.atleast_1d(np.asarray(lat, dtype=float)).ravel()
        return np.stack([level.exact(x, y) for level in self._levels])


def locate_points(
    index: GridIndex,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    crs: CRSLike = "wgs84",
    *,
    chunk_size: int = 1_000_000,
    progress: Callable[[int], None] | None = None,
) -> LocateResult:
    """Convert points from ``crs`` to plan lon/lat and locate them, in chunks.

    Parameters
    ----------
    index
        The plan's :class:`GridIndex`.
    x, y
        Coordinates in ``crs`` (lon/lat order for geographic systems).
    crs
        ``wgs84``, ``cgcs2000``, ``gcj02``, ``bd09`` or any CRS pyproj knows.
    chunk_size
        Points per chunk.
    progress
        Called with the number of points done after each chunk (for a progress bar).

    Returns
    -------
    LocateResult

    Examples
    --------
    >>> from shapely.geometry import box
    >>> index = GridIndex(["1"], [1], [box(116.30, 39.99, 116.31, 40.00)])
    >>> from geogrid.crs import wgs84_to_gcj02
    >>> lon, lat = wgs84_to_gcj02(116.305, 39.995)
    >>> locate_points(index, [lon], [lat], "gcj02").grid_codes().tolist()
    ['1']
    """
    xs = np.atleast_1d(np.asarray(x, dtype=float)).ravel()
    ys = np.atleast_1d(np.asarray(y, dtype=float)).ravel()
    parts = []
    for start, stop in _chunks(xs.size, chunk_size):
        lon, lat = _to_plan(xs[start:stop], ys[start:stop], crs)
        parts.append(index.locate(lon, lat))
        if progress is not None:
            progress(stop - start)
    return _concat(index, parts)


def locate_frame(
    index: GridIndex,
    points: pd.DataFrame,
    crs: CRSLike | None = None,
    *,
    lon: str = "lon",
    lat: str = "lat",
    chunk_size: int = 1_000_000,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Locate a table of points; the columns of ``geogrid locate PLAN POINTS.csv``.

    Parameters
    ----------
    index
        The plan's :class:`GridIndex`.
    points
        A table with ``lon`` / ``lat`` columns, or a GeoDataFrame of points (its CRS is
        used when ``crs`` is not given).
    crs
        CRS of the coordinates (default: the GeoDataFrame's, else ``wgs84``).
    lon, lat
        Column names of a plain table.
    chunk_size, progress
        As for :func:`locate_points`.

    Returns
    -------
    pandas.DataFrame
        The input columns plus ``level1_code`` … ``levelN_code``, ``grid_code`` (finest
        level), ``status`` (inside / outside / invalid), ``nearest_code`` and ``distance_m``
        (set when outside).

    Examples
    --------
    >>> from shapely.geometry import box
    >>> index = GridIndex(["1"], [1], [box(116.30, 39.99, 116.31, 40.00)])
    >>> table = pd.DataFrame({"id": [7, 8], "lon": [116.305, 116.32], "lat": [39.995, 39.995]})
    >>> located = locate_frame(index, table)
    >>> print(located[["id", "level1_code", "status", "nearest_code"]].to_string(index=False))
     id level1_code  status nearest_code
      7           1  inside         <NA>
      8        <NA> outside            1
    """
    x, y, crs = _coordinates(points, crs, lon, lat)
    result = locate_points(index, x, y, crs, chunk_size=chunk_size, progress=progress)
    out = pd.DataFrame(points).copy()
    if isinstance(points, gpd.GeoDataFrame):
        out = gpd.GeoDataFrame(out, geometry=points.geometry.name, crs=points.crs)
    for level in result.levels:
        out[f"level{level}_code"] = pd.array(result.level_codes(level), dtype="string")
    out["grid_code"] = pd.array(result.grid_codes(), dtype="string")
    out["status"] = result.status.astype(str)
    out["nearest_code"] = pd.array(result.nearest_codes(), dtype="string")
    out["distance_m"] = np.where(result.status_code == _OUTSIDE, result.distance_m, np.nan)
    return out


def _coordinates(
    points: pd.DataFrame, crs: CRSLike | None, lon: str, lat: str
) -> tuple[np.ndarray, np.ndarray, CRSLike]:
    if isinstance(points, gpd.GeoDataFrame):
        geoms = points.geometry
        if not (geoms.geom_type.isin(["Point"]) | geoms.isna()).all():
            raise PlanFileError("the points file holds non-point geometries; give points")
        crs = crs if crs is not None else (points.crs if points.crs is not None else "wgs84")
        present = ~(geoms.isna() | geoms.is_empty)
        x = np.full(len(points), np.nan)
        y = np.full(len(points), np.nan)
        x[present.to_numpy()] = geoms[present].x.to_numpy()
        y[present.to_numpy()] = geoms[present].y.to_numpy()
        return x, y, crs
    missing = [c for c in (lon, lat) if c not in points.columns]
    if missing:
        raise PlanFileError(
            f"the points table lacks the column(s) {', '.join(missing)}; name them lon and "
            "lat, or say which columns hold them"
        )
    x = pd.to_numeric(points[lon], errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(points[lat], errors="coerce").to_numpy(dtype=float)
    return x, y, crs if crs is not None else "wgs84"


_SAME_AS_PLAN = {"EPSG:4326", "EPSG:4490"}


def _to_plan(x: np.ndarray, y: np.ndarray, crs: CRSLike) -> tuple[np.ndarray, np.ndarray]:
    """:func:`geogrid.crs.to_plan_lonlat`, with a fast path for the named lon/lat systems.

    Comparing pyproj CRS objects costs tenths of a second; a request locating one point
    cannot pay that, and the four systems phones and GPS send need no comparison.
    """
    if isinstance(crs, str):
        key = crs.strip().lower().replace("-", "").replace("_", "").replace(" ", "")
        target = CRS_ALIASES.get(key, crs.strip().upper())
        if target in _SAME_AS_PLAN:
            return x, y
        if target == "gcj02":
            return gcj02_to_wgs84(x, y)
        if target == "bd09":
            return bd09_to_wgs84(x, y)
    return to_plan_lonlat(x, y, crs)


def _chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, max(n, 1), max(size, 1)):
        yield start, min(start + size, n)


def _concat(index: GridIndex, parts: list[LocateResult]) -> LocateResult:
    return LocateResult(
        index.levels,
        index.codes,
        np.concatenate([p.grid for p in parts], axis=1),
        np.concatenate([p.status_code for p in parts]),
        np.concatenate([p.nearest for p in parts]),
        np.concatenate([p.distance_m for p in parts]),
        np.concatenate([p.lon for p in parts]),
        np.concatenate([p.lat for p in parts]),
    )


def _check_inputs(codes: np.ndarray, levels: np.ndarray, geoms: np.ndarray) -> None:
    if not (codes.shape == levels.shape == geoms.shape) or codes.ndim != 1:
        raise PlanFileError("codes, levels and geometries must be 1-d and of equal length")
    if codes.size == 0:
        raise PlanFileError("the plan has no grids to locate points in; load or activate a plan")
    if len(set(codes.tolist())) != codes.size:
        raise PlanFileError("grid codes must be unique to locate points; run `geogrid validate`")
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        raise PlanFileError(
            f"grid {codes[np.flatnonzero(missing)[0]]!r} has no geometry; draw it or drop it"
        )
    polygonal = np.isin(shapely.get_type_id(geoms), (3, 6))
    if not polygonal.all():
        raise PlanFileError(
            f"grid {codes[np.flatnonzero(~polygonal)[0]]!r} is not a polygon; grids are areas"
        )


# --------------------------------------------------------------------------- one level


class _LevelIndex:
    """Raster pyramid of one level; grid numbers index the parent :class:`GridIndex`."""

    def __init__(
        self,
        members: np.ndarray,
        geometries: np.ndarray,
        metric: CRS,
        boundary_fraction: float,
        max_cells: int,
    ) -> None:
        self.members = members  # global grid numbers, ascending = code order
        self.size = int(members.size)
        self.geoms = geometries[members]
        shapely.prepare(self.geoms)
        _warm(self.geoms)
        self.tree = shapely.STRtree(self.geoms)
        self._metric = metric
        self._metric_tree: shapely.STRtree | None = None
        self._to_metric: Transformer | None = None
        self._edge_poly = np.empty(0, dtype=np.int64)
        self._build(boundary_fraction, max_cells)

    @property
    def nbytes(self) -> int:
        return int(
            sum(t.nbytes for t in self.tiers) + self.leaf_ptr.nbytes + self.leaf_polys.nbytes
        )

    # ----------------------------------------------------------------- lookup

    def locate(self, x: np.ndarray, y: np.ndarray, finite: np.ndarray) -> np.ndarray:
        """Local answer → global grid numbers (``OUTSIDE`` where none covers)."""
        out = np.full(x.size, OUTSIDE, dtype=np.int64)
        u = (x - self.x0) * self.inv_h
        v = (y - self.y0) * self.inv_h_y
        inside = finite & (u >= 0) & (v >= 0) & (u < self.width) & (v < self.height)
        idx = np.flatnonzero(inside)
        ix, iy = u[idx].astype(np.int64), v[idx].astype(np.int64)
        value = self._descend(ix, iy)
        resolved = value >= OUTSIDE
        out[idx[resolved]] = value[resolved]
        leaf = ~resolved
        if leaf.any():
            pts = idx[leaf]
            out[pts] = self._leaf_test(x[pts], y[pts], -2 - value[leaf])
        found = out >= 0
        out[found] = self.members[out[found]]
        return out

    def _descend(self, ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
        """Tier values at fine-cell coordinates: local grid, -1, or ≤ -2 (a leaf)."""
        shift = self.depth
        value = self.tiers[0][(iy >> shift) * self.nx0 + (ix >> shift)].astype(np.int64)
        pending = np.flatnonzero(value <= -2)
        for tier in range(1, len(self.tiers)):
            if pending.size == 0:
                break
            shift = self.depth - tier
            block = -2 - value[pending]
            sub = ((iy[pending] >> shift) & 1) * 2 + ((ix[pending] >> shift) & 1)
            value[pending] = self.tiers[tier][block * 4 + sub]
            pending = pending[value[pending] <= -2]
        return value

    def _leaf_test(self, x: np.ndarray, y: np.ndarray, leaf: np.ndarray) -> np.ndarray:
        """Exact covers test against each leaf's candidates, smallest code first."""
        if self.overlapping:  # a cell may lie inside a grid that has no edge in it
            return self._exact_local(shapely.points(x, y))
        answer = np.full(x.size, OUTSIDE, dtype=np.int64)
        start, stop = self.leaf_ptr[leaf], self.leaf_ptr[leaf + 1]
        todo = np.arange(x.size)
        points = shapely.points(x, y)
        offset = 0
        while todo.size:
            has = start[todo] + offset < stop[todo]
            todo = todo[has]
            if todo.size == 0:
                break
            cand = self.leaf_polys[start[todo] + offset]
            hit = shapely.covers(self.geoms[cand], points[todo])
            answer[todo[hit]] = cand[hit]
            todo = todo[~hit]
            offset += 1
        missed = np.flatnonzero(answer == OUTSIDE)
        if missed.size:  # e.g. a grid holding the whole cell while another's edge grazes it
            answer[missed] = self._exact_local(points[missed])
        return answer

    def exact(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Brute force: smallest covering code per point, as global grid numbers."""
        out = np.full(x.size, OUTSIDE, dtype=np.int64)
        finite = np.isfinite(x) & np.isfinite(y)
        local = self._exact_local(shapely.points(x[finite], y[finite]))
        found = local >= 0
        sub = np.flatnonzero(finite)[found]
        out[sub] = self.members[local[found]]
        return out

    def _exact_local(self, points: np.ndarray) -> np.ndarray:
        answer = np.full(points.size, OUTSIDE, dtype=np.int64)
        if points.size == 0:
            return answer
        which, poly = self.tree.query(points, predicate="covered_by")
        if which.size:
            best = np.full(points.size, self.size, dtype=np.int64)
            np.minimum.at(best, which, poly)
            answer = np.where(best < self.size, best, OUTSIDE)
        return answer

    def prepare_nearest(self) -> None:
        """Build the tree of edges in metres used for outside points."""
        self._to_metric = Transformer.from_crs(PLAN_CRS, self._metric, always_xy=True)
        edges, self._edge_poly = _metric_edges(self.geoms, self._to_metric)
        self._metric_tree = shapely.STRtree(edges)

    def nearest(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest grid (global number, ties to the smallest code) and distance in metres."""
        if self._metric_tree is None or self._to_metric is None:
            self.prepare_nearest()
        assert self._metric_tree is not None and self._to_metric is not None
        mx, my = self._to_metric.transform(x, y)
        points = shapely.points(mx, my)
        (which, _), dist = self._metric_tree.query_nearest(
            points, return_distance=True, all_matches=False
        )
        distance = np.full(x.size, np.nan)
        distance[which] = dist
        # grids within a micrometre of the nearest tie; the smallest code wins
        which, edge = self._metric_tree.query(
            points, predicate="dwithin", distance=distance + NEAREST_TIE_M
        )
        best = np.full(x.size, self.size, dtype=np.int64)
        np.minimum.at(best, which, self._edge_poly[edge])
        far = best == self.size  # beyond the metric zone (e.g. another continent): geodesic
        if far.any():
            best[far], distance[far] = self._nearest_geodesic(x[far], y[far])
        return self.members[best], distance

    def _nearest_geodesic(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest grid by lon/lat geometry, distance on the ellipsoid, for far-away points."""
        points = shapely.points(x, y)
        (which, poly) = self.tree.query_nearest(points, all_matches=False)
        best = np.zeros(x.size, dtype=np.int64)
        best[which] = poly
        lines = shapely.shortest_line(self.geoms[best], points)
        start, end = shapely.get_point(lines, 0), shapely.get_point(lines, 1)
        _, _, metres = _GEOD.inv(
            shapely.get_x(start), shapely.get_y(start), shapely.get_x(end), shapely.get_y(end)
        )
        return best, np.asarray(metres, dtype=float)

    # ----------------------------------------------------------------- build

    def _build(self, boundary_fraction: float, max_cells: int) -> None:
        minx, miny, maxx, maxy = shapely.total_bounds(self.geoms)
        coslat = max(math.cos(math.radians((miny + maxy) / 2.0)), 0.05)
        target0 = int(np.clip(64 * self.size, 4096, 1 << 18))
        side = math.sqrt(max((maxx - minx) * coslat * (maxy - miny), 1e-30) / target0)
        side = max(side, (maxx - minx) * coslat / 4096, (maxy - miny) / 4096, 1e-12)
        hx0, hy0 = side / coslat, side
        self.x0, self.y0 = minx - hx0 / 2, miny - hy0 / 2
        self.nx0 = math.ceil((maxx - self.x0) / hx0 + 0.5) + 1
        self.ny0 = math.ceil((maxy - self.y0) / hy0 + 0.5) + 1
        self.depth = _MAX_TIERS
        scale = float(1 << self.depth)
        self.inv_h, self.inv_h_y = scale / hx0, scale / hy0
        self.width, self.height = self.nx0 * scale, self.ny0 * scale
        # slack around every edge, in fine cells: far above rounding, far below a cell
        ulp = 64 * np.spacing(max(abs(minx), abs(maxx), abs(miny), abs(maxy), 1.0))
        self.eps = max(1e-6, ulp * max(self.inv_h, self.inv_h_y))
        self.overlapping = _overlapping(self.geoms, self.tree, self.eps / self.inv_h)
        seg_u, seg_v, seg_poly = self._segments()
        self.tiers: list[np.ndarray] = []
        self._build_tiers(seg_u, seg_v, seg_poly, boundary_fraction, max_cells)

    def _segments(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Polygon edges in fine-cell units: ``(n, 2)`` u and v of the ends, polygon number."""
        parts, part_of = shapely.get_parts(self.geoms, return_index=True)
        rings, ring_of = shapely.get_rings(parts, return_index=True)
        coords, coord_of = shapely.get_coordinates(rings, return_index=True)
        same = coord_of[1:] == coord_of[:-1]
        u = (coords[:, 0] - self.x0) * self.inv_h
        v = (coords[:, 1] - self.y0) * self.inv_h_y
        seg_u = np.column_stack([u[:-1][same], u[1:][same]])
        seg_v = np.column_stack([v[:-1][same], v[1:][same]])
        return seg_u, seg_v, part_of[ring_of[coord_of[:-1][same]]]

    def _build_tiers(
        self,
        seg_u: np.ndarray,
        seg_v: np.ndarray,
        seg_poly: np.ndarray,
        boundary_fraction: float,
        max_cells: int,
    ) -> None:
        cells, polys = _touched(seg_u, seg_v, seg_poly, self.depth, self.nx0, self.eps)
        boundary = _distinct(cells)
        self.tiers.append(self._tier0(boundary))
        total_area = float(self.nx0 * self.ny0)
        tier = 0
        n_cells = self.tiers[0].size
        while True:
            area = boundary.size / float(4**tier)
            nxt = 4 * boundary.size
            if (
                tier == self.depth
                or area <= boundary_fraction * total_area
                or n_cells + nxt > max_cells
            ):
                break
            tier += 1
            width = self.nx0 << tier
            cells, polys = _touched(seg_u, seg_v, seg_poly, self.depth - tier, width, self.eps)
            boundary = self._refine(boundary, _distinct(cells), tier)
            n_cells += nxt
        self._leaves(boundary, cells, polys)
        self.depth_used = tier

    def _tier0(self, boundary: np.ndarray) -> np.ndarray:
        clear = np.ones(self.nx0 * self.ny0, dtype=bool)
        clear[boundary] = False
        labels, _ = ndimage.label(clear.reshape(self.ny0, self.nx0))
        labels = labels.ravel()
        found, first = _first_of_each(labels)
        first = first[found > 0]  # one cell per component
        cy, cx = np.divmod(first, self.nx0)
        answer = self._centres_exact(cx, cy, 0)
        raster = np.empty(labels.size, dtype=np.int32)
        raster[clear] = answer[labels[clear] - 1]
        raster[boundary] = -2 - np.arange(boundary.size)
        return raster

    def _centres_exact(self, cx: np.ndarray, cy: np.ndarray, tier: int) -> np.ndarray:
        size = float(1 << (self.depth - tier))
        x = self.x0 + (cx + 0.5) * size / self.inv_h
        y = self.y0 + (cy + 0.5) * size / self.inv_h_y
        return self._exact_local(shapely.points(x, y))

    def _refine(self, parents: np.ndarray, boundary: np.ndarray, tier: int) -> np.ndarray:
        """Add tier ``tier``: the 2 × 2 children of the boundary cells ``parents``.

        Children clear of edges get their grid from a clear neighbour outside the refined
        region (the same grid: no edge lies between them) or, failing that, an exact test.
        """
        width = self.nx0 << tier
        pw = width >> 1
        py, px = np.divmod(parents, pw)
        sub = np.arange(4)
        cx = (2 * px[:, None] + (sub & 1)).ravel()
        cy = (2 * py[:, None] + (sub >> 1)).ravel()
        keys = cy * width + cx  # children in (parent, sub) order
        is_boundary = _contains(boundary, keys)
        values = np.empty(keys.size, dtype=np.int32)
        values[is_boundary] = -2 - np.arange(int(is_boundary.sum()))
        clear = np.flatnonzero(~is_boundary)
        values[clear] = self._label_clear(cx[clear], cy[clear], keys, is_boundary, tier)
        self.tiers.append(values)
        return keys[is_boundary]

    def _label_clear(
        self, cx: np.ndarray, cy: np.ndarray, keys: np.ndarray, is_boundary: np.ndarray, tier: int
    ) -> np.ndarray:
        width, height = self.nx0 << tier, self.ny0 << tier
        order = np.argsort(keys)
        sorted_keys = keys[order]
        clear_keys = cy * width + cx
        n = cx.size
        node_of = np.full(keys.size, -1, dtype=np.int64)
        node_of[np.searchsorted(sorted_keys, clear_keys)] = np.arange(n)  # by sorted position
        rows, cols = [], []
        attach_node, attach_value = [], []
        for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            nx, ny = cx + dx, cy + dy
            off = (nx < 0) | (ny < 0) | (nx >= width) | (ny >= height)
            nkey = ny * width + nx
            pos = np.minimum(np.searchsorted(sorted_keys, nkey), sorted_keys.size - 1)
            present = ~off & (sorted_keys[pos] == nkey)
            neighbour_clear = present & ~is_boundary[order[pos]]
            if dx + dy > 0:  # each edge once
                rows.append(np.flatnonzero(neighbour_clear))
                cols.append(node_of[pos[neighbour_clear]])
            attach_node.append(np.flatnonzero(off))
            attach_value.append(np.full(int(off.sum()), OUTSIDE, dtype=np.int64))
            outer = np.flatnonzero(~off & ~present)
            if outer.size:
                shift = self.depth - tier
                value = self._descend(nx[outer] << shift, ny[outer] << shift)
                attach_node.append(outer)
                attach_value.append(value)
        r, c = np.concatenate(rows), np.concatenate(cols)
        graph = coo_matrix((np.ones(r.size, dtype=np.int8), (r, c)), shape=(n, n))
        count, comp = connected_components(graph, directed=False)
        label = np.full(count, -3, dtype=np.int64)
        nodes, values = np.concatenate(attach_node), np.concatenate(attach_value)
        label[comp[nodes]] = values
        loose = np.flatnonzero(label == -3)
        if loose.size:
            first = _first_of_each(comp)[1][loose]
            label[loose] = self._centres_exact(cx[first], cy[first], tier)
        return label[comp]

    def _leaves(self, boundary: np.ndarray, cells: np.ndarray, polys: np.ndarray) -> None:
        """Candidate grids of the finest boundary cells (CSR, by code within a cell)."""
        order = np.lexsort((polys, cells))
        cells, polys = cells[order], polys[order]
        keep = np.ones(cells.size, dtype=bool)
        keep[1:] = (cells[1:] != cells[:-1]) | (polys[1:] != polys[:-1])
        cells, polys = cells[keep], polys[keep]
        sorter = np.argsort(boundary)
        pos = np.minimum(np.searchsorted(boundary, cells, sorter=sorter), boundary.size - 1)
        known = boundary[sorter[pos]] == cells  # drop touches outside the refined cells
        leaf, polys = sorter[pos[known]], polys[known]
        order = np.argsort(leaf, kind="stable")
        counts = np.bincount(leaf, minlength=boundary.size)
        self.leaf_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.leaf_polys = polys[order].astype(np.int64)


def _warm(geoms: np.ndarray) -> None:
    """Make GEOS build each prepared polygon's point locator now, not on the first query."""
    minx, miny, maxx, maxy = shapely.bounds(geoms).T
    shapely.covers(geoms, shapely.points((minx + maxx) / 2, (miny + maxy) / 2))


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (a sort beats numpy's hash-based ``unique`` on big int arrays)."""
    values = np.sort(values)
    keep = np.ones(values.size, dtype=bool)
    keep[1:] = values[1:] != values[:-1]
    return values[keep]


def _first_of_each(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values and the index of the first occurrence of each."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    keep = np.ones(values.size, dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep], order[keep]


def _contains(sorted_values: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``np.isin`` for a sorted, distinct ``sorted_values``."""
    if sorted_values.size == 0:
        return np.zeros(values.size, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_values, values), sorted_values.size - 1)
    return sorted_values[pos] == values


def _overlapping(geoms: np.ndarray, tree: shapely.STRtree, width: float) -> bool:
    """Whether two grids overlap by more than ``width`` degrees (not just rounding slivers).

    With real overlaps a boundary cell can lie inside a grid none of whose edges touches
    it, so the leaf candidates are not enough and points there are tested against all grids.
    """
    if shapely.coverage_is_valid(geoms):  # edges match exactly: no overlaps (the fast path)
        return False
    first, second = tree.query(geoms, predicate="intersects")
    pair = first < second
    common = shapely.intersection(geoms[first[pair]], geoms[second[pair]])
    common = common[shapely.area(common) > 0]
    return bool((~shapely.is_empty(shapely.buffer(common, -width))).any())


def _metric_edges(geoms: np.ndarray, transformer: Transformer) -> tuple[np.ndarray, np.ndarray]:
    """Every polygon edge as a 2-point line in metres, and its polygon number.

    The distance from an outside point to a polygon is its distance to the nearest edge; a
    tree of short edges answers that much faster than a tree of whole polygons.
    """
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    coords, coord_of = shapely.get_coordinates(rings, return_index=True)
    mx, my = transformer.transform(coords[:, 0], coords[:, 1])
    xy = np.column_stack([mx, my])
    same = np.flatnonzero(coord_of[1:] == coord_of[:-1])
    pairs = np.stack([xy[same], xy[same + 1]], axis=1)
    return shapely.linestrings(pairs), part_of[ring_of[coord_of[same]]]


def _touched(
    seg_u: np.ndarray, seg_v: np.ndarray, seg_poly: np.ndarray, shift: int, width: int, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cells of size ``2**shift`` fine units touched by each segment grown by ``eps``.

    Returns cell keys (``row * width + col``) and the segment's polygon, one pair per touch
    (repeats possible). Conservative: a cell any point of which lies within ``eps`` (in the
    max norm) of a segment is always reported.
    """
    size = float(1 << shift)
    u1, u2 = seg_u[:, 0] / size, seg_u[:, 1] / size
    v1, v2 = seg_v[:, 0] / size, seg_v[:, 1] / size
    e = eps / size
    lo_u, hi_u = np.minimum(u1, u2), np.maximum(u1, u2)
    c0 = np.floor(lo_u - e).astype(np.int64)
    c1 = np.floor(hi_u + e).astype(np.int64)
    ncol = c1 - c0 + 1
    seg = np.repeat(np.arange(u1.size), ncol)
    col = np.repeat(c0, ncol) + (np.arange(seg.size) - np.repeat(np.cumsum(ncol) - ncol, ncol))
    a = np.maximum(col - e, lo_u[seg])
    b = np.minimum(col + 1 + e, hi_u[seg])
    du = u2[seg] - u1[seg]
    flat = du == 0
    safe = np.where(flat, 1.0, du)
    ta = np.where(flat, 0.0, (a - u1[seg]) / safe)
    tb = np.where(flat, 1.0, (b - u1[seg]) / safe)
    va = v1[seg] + ta * (v2[seg] - v1[seg])
    vb = v1[seg] + tb * (v2[seg] - v1[seg])
    r0 = np.floor(np.minimum(va, vb) - e).astype(np.int64)
    r1 = np.floor(np.maximum(va, vb) + e).astype(np.int64)
    nrow = r1 - r0 + 1
    pair = np.repeat(np.arange(seg.size), nrow)
    row = np.repeat(r0, nrow) + (np.arange(pair.size) - np.repeat(np.cumsum(nrow) - nrow, nrow))
    return row * width + col[pair], seg_poly[seg[pair]]


def point_coordinates(
    points: pd.DataFrame, crs: CRSLike | None = None, *, lon: str = "lon", lat: str = "lat"
) -> tuple[np.ndarray, np.ndarray, CRSLike]:
    """The coordinates :func:`locate_frame` reads from ``points``, and their CRS.

    Parameters
    ----------
    points, crs, lon, lat
        As for :func:`locate_frame`.

    Returns
    -------
    x, y : numpy.ndarray
        Float coordinates in that CRS; NaN where a value is missing or not a number.
    crs
        ``crs``, else the GeoDataFrame's, else ``"wgs84"``.

    Examples
    --------
    >>> x, y, crs = point_coordinates(pd.DataFrame({"lon": ["116.3", ""], "lat": [40, 40]}))
    >>> x.tolist(), crs
    ([116.3, nan], 'wgs84')
    """
    return _coordinates(points, crs, lon, lat)
