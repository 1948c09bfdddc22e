"""The in-process index over every level of a plan, and locating tables of points with it."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from pyproj import CRS

from geogrid.crs import (
    CRS_ALIASES,
    CRSLike,
    bd09_to_wgs84,
    gcj02_to_wgs84,
    metric_crs,
    to_plan_lonlat,
)
from geogrid.errors import PlanFileError
from geogrid.locate.level import _LevelIndex
from geogrid.locate.result import _INSIDE, _INVALID, _OUTSIDE, OUTSIDE, LocateResult
from geogrid.plan import GridPlan

__all__ = [
    "GridIndex",
    "Locator",
    "locate_frame",
    "locate_points",
    "plan_arrays",
    "point_coordinates",
]


class Locator(Protocol):
    """What locates points: a :class:`GridIndex`, or a county's index over several plans."""

    levels: tuple[int, ...]
    codes: np.ndarray

    def locate(
        self, lon: npt.ArrayLike, lat: npt.ArrayLike, *, nearest: bool = True
    ) -> LocateResult:
        """Locate points in plan lon/lat."""
        ...


class GridIndex:
    """In-process point-in-grid index over every level of a plan.

    Build it once per plan with :meth:`from_plan` (a second or so for thousands of grids)
    and call :meth:`locate` for batches; it is read-only and safe to share between threads.

    Parameters
    ----------
    codes, levels, geometries
        One entry per grid: code, level number and (Multi)Polygon in plan lon/lat.
    parents
        Parent code per grid (``None`` at the top), as ``parent_code`` of a plan. A level
        whose every grid is exactly the union of its children (checked: the children form a
        valid coverage and their union equals the parent) and whose codes order like its
        children's is answered from the level below, with no raster of its own: a
        nested plan is indexed and searched once, at its finest level.
    metric
        CRS in metres for the distance to the nearest grid; by default
        :func:`geogrid.crs.metric_crs` of the grids.
    boundary_fraction
        Refine the raster until at most this share of the area lies in cells touched by an
        edge (where points get an exact test), or ``max_cells`` is reached.
    max_cells
        Cap on raster cells per level (memory: 4 bytes each).
    lazy_nearest
        Build the finest level's tree of edges in metres (for outside points) when the first
        outside point comes, not now: a county's jurisdictions rarely see one, and the tree
        is the largest part of the index.

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
        parents: npt.ArrayLike | None = None,
        metric: CRSLike | None = None,
        boundary_fraction: float = 0.005,
        max_cells: int = 6_000_000,
        lazy_nearest: bool = False,
    ) -> None:
        self._setup(codes, levels, geometries, parents, metric)
        for level in self._levels:
            if not level.derived:
                level.build(boundary_fraction, max_cells)
        if not lazy_nearest:  # else built by the first outside point
            self._levels[-1].prepare_nearest()  # outside answers come from the finest level

    def _link_levels(self, parent_codes: np.ndarray | None) -> None:
        """The levels, no raster built yet, and which are answered from the level below.

        ``_up[row]``: child grid number → parent grid number (-1 → -1) for a row answered
        from the row below. Each raster is then built alone (:meth:`_LevelIndex.build`): in
        this process, or level by level in others (:func:`geogrid.locate.build.level_state`).
        """
        self._up: dict[int, np.ndarray] = {}
        linked: list[_LevelIndex] = []
        for row in reversed(range(len(self.levels))):
            members = np.flatnonzero(self.grid_levels == self.levels[row])
            up = None if not linked else _derived(self, members, linked[-1], parent_codes)
            if up is not None:
                self._up[row] = up
            level = _LevelIndex(members, self.geometries, self.metric_crs, 0.0, 0, raster=False)
            level.derived = up is not None
            linked.append(level)
        self._levels = linked[::-1]

    def _setup(
        self,
        codes: npt.ArrayLike,
        levels: npt.ArrayLike,
        geometries: npt.ArrayLike,
        parents: npt.ArrayLike | None,
        metric: CRSLike | None,
    ) -> None:
        """Grids in code order, the metric CRS and the levels linked (no raster yet)."""
        codes_arr = np.asarray(codes, dtype=object).astype(str).astype(object)
        levels_arr = np.asarray(levels, dtype=np.int64)
        geoms = np.asarray(geometries, dtype=object)
        _check_inputs(codes_arr, levels_arr, geoms)
        order = np.argsort(codes_arr.astype(str), kind="stable")
        self._order = order
        self.codes: np.ndarray = codes_arr[order]
        self.grid_levels: np.ndarray = levels_arr[order]
        self.geometries: np.ndarray = geoms[order]
        self.levels: tuple[int, ...] = tuple(int(v) for v in np.unique(levels_arr))
        self.metric_crs: CRS = (
            metric_crs(tuple(shapely.total_bounds(self.geometries)))
            if metric is None
            else CRS.from_user_input(metric)
        )
        self._link_levels(None if parents is None else np.asarray(parents, dtype=object)[order])

    @classmethod
    def _linked(
        cls,
        codes: npt.ArrayLike,
        levels: npt.ArrayLike,
        geometries: npt.ArrayLike,
        parents: npt.ArrayLike | None = None,
    ) -> GridIndex:
        """The index with its levels linked and no raster built (not usable to locate yet)."""
        index = cls.__new__(cls)
        index._setup(codes, levels, geometries, parents, None)
        return index

    def state(self) -> dict[str, Any]:
        """What the build computed, without the geometries: arrays a process can send back.

        :meth:`from_state` in another process rebuilds the index from it and the same
        codes, levels and geometries, without building again (:mod:`geogrid.locate.build`).
        """
        return {
            "order": self._order,
            "levels": [level.state() for level in self._levels],
            "up": self._up,
            "metric": self.metric_crs.to_wkt(),
        }

    @classmethod
    def from_state(
        cls,
        codes: npt.ArrayLike,
        levels: npt.ArrayLike,
        geometries: npt.ArrayLike,
        state: dict[str, Any],
        *,
        metric: CRS | None = None,
        lazy_nearest: bool = True,
    ) -> GridIndex:
        """The index whose :meth:`state` is ``state``, over the geometries it was built from.

        ``metric``: the metric CRS when the caller has it already (else read from ``state``).
        """
        index = cls.__new__(cls)
        order = np.asarray(state["order"])
        index._order = order
        index.codes = np.asarray(codes, dtype=object).astype(str).astype(object)[order]
        index.grid_levels = np.asarray(levels, dtype=np.int64)[order]
        index.geometries = np.asarray(geometries, dtype=object)[order]
        index.levels = tuple(int(v) for v in np.unique(index.grid_levels))
        index.metric_crs = CRS.from_wkt(state["metric"]) if metric is None else metric
        index._up = state["up"]
        index._levels = [
            _LevelIndex.restore(
                np.flatnonzero(index.grid_levels == level), index.geometries, index.metric_crs, kept
            )
            for level, kept in zip(index.levels, state["levels"], strict=True)
        ]
        if not lazy_nearest:
            index._levels[-1].prepare_nearest()
        return index

    @classmethod
    def from_plan(cls, plan: GridPlan, **options: Any) -> GridIndex:
        """Build the index of every level of ``plan`` (options as for the constructor)."""
        codes, levels, geometries, parents = plan_arrays(plan)
        if parents is not None and "parents" not in options:
            options["parents"] = parents
        return cls(codes, levels, geometries, **options)

    def __repr__(self) -> str:
        sizes = ", ".join(
            f"level {lv}: {ix.size} grids" for lv, ix in zip(self.levels, self._levels, strict=True)
        )
        return f"<GridIndex {sizes}>"

    @property
    def nbytes(self) -> int:
        """Memory held by the rasters and the parent links, in bytes."""
        return sum(level.nbytes for level in self._levels) + sum(
            up.nbytes for up in self._up.values()
        )

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
        for row in reversed(range(len(self._levels))):
            up = self._up.get(row)
            # a derived level: the parent of the answer below (OUTSIDE maps to OUTSIDE)
            grid[row] = self._levels[row].locate(x, y, finite) if up is None else up[grid[row + 1]]
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
    index: Locator,
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
    index: Locator,
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


def _concat(index: Locator, parts: list[LocateResult]) -> LocateResult:
    if len(parts) == 1:
        return parts[0]

    def joined(name: str) -> np.ndarray | None:
        arrays = [getattr(p, name) for p in parts]
        return None if arrays[0] is None else np.concatenate(arrays)

    return LocateResult(
        index.levels,
        index.codes,
        np.concatenate([p.grid for p in parts], axis=1),
        np.concatenate([p.status_code for p in parts]),
        np.concatenate([p.nearest for p in parts]),
        np.concatenate([p.distance_m for p in parts]),
        np.concatenate([p.lon for p in parts]),
        np.concatenate([p.lat for p in parts]),
        finest=joined("finest"),
        part=joined("part"),
    )


def _derived(
    index: GridIndex,
    members: np.ndarray,
    below: _LevelIndex,
    parent_codes: np.ndarray | None,
) -> np.ndarray | None:
    """Parent links of the level below when they give the boundary rule's answer, else None.

    The rule at level ``L`` is the smallest code among the grids covering the point. When
    every grid of ``L`` is exactly the union of its children and the level below is a valid
    coverage, the grids of ``L`` covering a point are the parents of the children covering
    it; when parents in code order follow their children in code order, the smallest of them
    is the parent of the smallest child. Both are checked here.
    """
    if parent_codes is None or members.size == 0:
        return None
    children = below.members  # ascending grid number = code order
    number = {code: int(n) for n, code in zip(members, index.codes[members], strict=True)}
    parent = np.array([number.get(p, -1) for p in parent_codes[children]], dtype=np.int64)
    if (parent < 0).any() or (np.diff(parent) < 0).any():
        return None  # a child with no parent on this level, or codes out of order
    if not np.array_equal(np.unique(parent), members):
        return None  # a grid with no children
    if not (below.derived or below.is_coverage()):  # unions of a coverage are one
        return None  # overlapping children
    starts = np.r_[0, np.flatnonzero(np.diff(parent)) + 1, parent.size]
    unions = np.array(
        [shapely.coverage_union_all(below.geoms[a:b]) for a, b in itertools.pairwise(starts)],
        dtype=object,
    )
    outline = index.geometries[parent[starts[:-1]]]
    same = shapely.equals_exact(shapely.normalize(unions), shapely.normalize(outline), 0.0)
    if not same.all() and not shapely.equals(unions[~same], outline[~same]).all():
        return None  # vertex for vertex, else as point sets
    up = np.full(index.codes.size + 1, OUTSIDE, dtype=np.int64)  # up[-1] = OUTSIDE
    up[children] = parent
    return up


def plan_arrays(plan: GridPlan) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """What :meth:`GridIndex.from_plan` indexes: codes, levels, geometries, parent codes.

    Parent codes are ``None`` when the plan has no ``parent_code`` column.
    """
    grids = plan.grids
    parents = None
    if "parent_code" in grids.columns:
        parent = grids["parent_code"].astype(object)
        parents = parent.where(parent.notna(), None).to_numpy(dtype=object)
    return (
        grids["code"].to_numpy(dtype=object),
        grids["level"].to_numpy(dtype=np.int64),
        np.asarray(grids.geometry.array, dtype=object),
        parents,
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
