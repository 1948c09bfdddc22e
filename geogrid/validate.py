"""Check a grid plan — valid geometry, no gaps, no overlaps, children inside parents — and fix it.

:func:`validate_plan` returns a sorted list of :class:`Problem`; :func:`fix_plan` snaps
digitising slop (slivers, tiny gaps and overlaps, children poking out of their parent) within a
tolerance and returns the fixed plan with a list of :class:`Change`. Overlays and tolerances work
in local metres (an affine scaling of lon/lat, which keeps the plan's straight edges and
T-junctions exact); areas are measured in the CGCS2000 Gauss–Krüger zone
:func:`geogrid.crs.metric_crs` chooses for the plan; locations are reported in CGCS2000 lon/lat
(EPSG:4490). See ``docs/validation.md`` for every check.

Uncovered parts of a parent are told apart by what borders them:

``hole`` (空洞)
    enclosed by one grid alone — an interior ring of that grid no sibling fills;
``gap`` (缝隙)
    bordered mostly by sibling grids (a sliver between two neighbours, a missing grid);
``not_covering_parent`` (未覆盖上级)
    lying mostly along the parent's own edge (the children stop short of it), or a parent
    with no children at all while other grids of its level have some.

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> grids = gpd.GeoDataFrame(
...     {"code": ["110108001", "110108001001", "110108001002"], "name": ["社区", "一", "二"],
...      "level": [1, 2, 2], "parent_code": [None, "110108001", "110108001"]},
...     geometry=[box(116.30, 40.00, 116.31, 40.01), box(116.30, 40.00, 116.305, 40.01),
...               box(116.3051, 40.00, 116.31, 40.01)], crs=4490)
>>> plan = GridPlan("示例", ["社区", "网格"], grids)
>>> for problem in validate_plan(plan):
...     print(problem.line())
gap (缝隙) in 110108001 between 110108001001, 110108001002 at 116.30505, 40.00500: 9,481.8 m²
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from geogrid.crs import metric_crs
from geogrid.errors import CoordinateError, CRSError
from geogrid.plan import PLAN_CRS, GridPlan
from geogrid.polygons import invalid_reason

__all__ = [
    "Change",
    "ChangeKind",
    "Problem",
    "ProblemKind",
    "Severity",
    "fix_plan",
    "geometry_problems",
    "validate_plan",
]

_EPS_M = 1e-3  # metres: "touching" for neighbour search and shared-border measurement
_MAX_PIN_ROUNDS = 6


class Severity(StrEnum):
    """How bad a problem is: an ``error`` breaks the model, a ``warning`` asks for a look."""

    ERROR = "error"
    WARNING = "warning"


class ProblemKind(StrEnum):
    """What validation can find; :attr:`label` gives the English and Chinese terms."""

    MISSING_CRS = "missing_crs"
    WRONG_CRS = "wrong_crs"
    SWAPPED_LATLON = "swapped_latlon"
    EMPTY_GEOMETRY = "empty_geometry"
    INVALID_GEOMETRY = "invalid_geometry"
    DUPLICATE_CODE = "duplicate_code"
    MISSING_PARENT = "missing_parent"
    LEVEL_MISMATCH = "level_mismatch"
    OUTSIDE_PARENT = "outside_parent"
    NOT_COVERING_PARENT = "not_covering_parent"
    GAP = "gap"
    HOLE = "hole"
    OVERLAP = "overlap"
    HOUSEHOLDS_MISMATCH = "households_mismatch"
    CODE_SCHEME = "code_scheme"

    @property
    def label(self) -> str:
        """English term with the Chinese one in parentheses, e.g. ``"gap (缝隙)"``."""
        english, chinese = _PROBLEM_TERMS[self]
        return f"{english} ({chinese})"

    @property
    def severity(self) -> Severity:
        """:attr:`Severity.WARNING` for code-scheme and household-count findings."""
        return Severity.WARNING if self in _WARNINGS else Severity.ERROR


_PROBLEM_TERMS: dict[ProblemKind, tuple[str, str]] = {
    ProblemKind.MISSING_CRS: ("missing CRS", "坐标系缺失"),
    ProblemKind.WRONG_CRS: ("wrong CRS", "坐标系错误"),
    ProblemKind.SWAPPED_LATLON: ("swapped lat/lon", "经纬度颠倒"),
    ProblemKind.EMPTY_GEOMETRY: ("empty geometry", "空几何"),
    ProblemKind.INVALID_GEOMETRY: ("invalid geometry", "无效几何"),
    ProblemKind.DUPLICATE_CODE: ("duplicate code", "编码重复"),
    ProblemKind.MISSING_PARENT: ("missing parent", "上级缺失"),
    ProblemKind.LEVEL_MISMATCH: ("level mismatch", "层级不符"),
    ProblemKind.OUTSIDE_PARENT: ("outside parent", "超出上级"),
    ProblemKind.NOT_COVERING_PARENT: ("not covering parent", "未覆盖上级"),
    ProblemKind.GAP: ("gap", "缝隙"),
    ProblemKind.HOLE: ("hole", "空洞"),
    ProblemKind.OVERLAP: ("overlap", "重叠"),
    ProblemKind.HOUSEHOLDS_MISMATCH: ("households mismatch", "户数不符"),
    ProblemKind.CODE_SCHEME: ("code scheme", "编码不规范"),
}
_WARNINGS = frozenset({ProblemKind.CODE_SCHEME, ProblemKind.HOUSEHOLDS_MISMATCH})
_KIND_ORDER = {kind: i for i, kind in enumerate(ProblemKind)}
_BETWEEN_KINDS = frozenset({ProblemKind.GAP, ProblemKind.OVERLAP, ProblemKind.NOT_COVERING_PARENT})


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing wrong with a plan.

    Parameters
    ----------
    kind
        What is wrong.
    codes
        The grids concerned: the grid itself, or the siblings bordering a gap / sharing an
        overlap (sorted); empty for a file-level problem.
    lon, lat
        A point at the problem in CGCS2000 lon/lat (EPSG:4490), rounded to 6 decimals (~0.1 m),
        inside the gap / overlap / outside part itself; ``None`` when the problem has no place.
    area_m2
        Area of the problem in square metres (gap, hole, overlap, outside part), else ``None``.
    detail
        What exactly is wrong, e.g. GEOS's reason for an invalid geometry.
    parent
        The parent grid whose children are concerned (gaps, overlaps, outside parts …), or
        ``None`` at the top level.

    Examples
    --------
    >>> Problem(ProblemKind.OVERLAP, ("110108001001", "110108001002"), 116.312346, 39.998761,
    ...         12.04, parent="110108001").line()
    'overlap (重叠) in 110108001 between 110108001001, 110108001002 at 116.31235, 39.99876: 12.0 m²'
    """

    kind: ProblemKind
    codes: tuple[str, ...] = ()
    lon: float | None = None
    lat: float | None = None
    area_m2: float | None = None
    detail: str = ""
    parent: str | None = None

    @property
    def severity(self) -> Severity:
        """Severity of :attr:`kind`."""
        return self.kind.severity

    def line(self) -> str:
        """One readable line, e.g. ``gap (缝隙) in P between A, B at 116.31234, 39.99876: 3 m²``."""
        text = self.kind.label + _subject(self)
        if self.lon is not None and self.lat is not None:
            text += f" at {self.lon:.5f}, {self.lat:.5f}"
        tail = [part for part in (_area_text(self.area_m2), self.detail) if part]
        return text + (": " + "; ".join(tail) if tail else "")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping (for ``geogrid validate --json``)."""
        return {
            "kind": self.kind.value,
            "label": self.kind.label,
            "severity": self.severity.value,
            "codes": list(self.codes),
            "parent": self.parent,
            "lon": self.lon,
            "lat": self.lat,
            "area_m2": None if self.area_m2 is None else round(self.area_m2, 3),
            "detail": self.detail,
            "line": self.line(),
        }

    @classmethod
    def from_error(cls, exc: CRSError | CoordinateError) -> Problem:
        """Turn a CRS or coordinate error raised while reading a file into a problem.

        The kind is taken from the error's ``problem_kind`` attribute when it has one, else
        from the Chinese term in its message: 坐标系缺失 → ``missing_crs``, 经纬度颠倒 →
        ``swapped_latlon``, 无效几何 → ``invalid_geometry`` (e.g. a NaN coordinate), anything
        else → ``wrong_crs``.

        Examples
        --------
        >>> error = CRSError("the layer has no coordinate reference system (坐标系缺失)")
        >>> Problem.from_error(error).kind
        <ProblemKind.MISSING_CRS: 'missing_crs'>
        """
        if not isinstance(exc, CRSError | CoordinateError):
            raise TypeError(
                f"only CRSError and CoordinateError become problems, got {type(exc).__name__}"
            )
        kind = getattr(exc, "problem_kind", None)
        if kind is None:
            message = str(exc)
            if "坐标系缺失" in message or "no coordinate reference system" in message:
                kind = ProblemKind.MISSING_CRS
            elif "经纬度颠倒" in message or "swapped" in message:
                kind = ProblemKind.SWAPPED_LATLON
            elif "无效几何" in message:
                kind = ProblemKind.INVALID_GEOMETRY
            else:
                kind = ProblemKind.WRONG_CRS
        detail = str(exc)
        prefix = f"{ProblemKind(kind).label}: "
        if detail.startswith(prefix):
            detail = detail[len(prefix) :]
        return cls(ProblemKind(kind), detail=detail)


def _subject(problem: Problem) -> str:
    codes = ", ".join(problem.codes)
    if problem.kind in _BETWEEN_KINDS:
        text = f" in {problem.parent}" if problem.parent else ""
        if problem.codes:
            text += f" {'between' if len(problem.codes) > 1 else 'next to'} {codes}"
        return text
    if problem.kind is ProblemKind.HOLE:
        return f" in {codes}" if codes else ""
    text = f" {codes}" if codes else ""
    return text + (f" (parent {problem.parent})" if problem.parent else "")


def _area_text(area: float | None) -> str:
    if area is None:
        return ""
    return f"{area:,.1f} m²" if area >= 1 else f"{area:.2g} m²"


class ChangeKind(StrEnum):
    """What :func:`fix_plan` did to a grid."""

    MADE_VALID = "made_valid"
    SNAPPED = "snapped"
    REFUSED = "refused"

    @property
    def label(self) -> str:
        """English term with the Chinese one in parentheses, e.g. ``"snapped (吸附)"``."""
        english, chinese = _CHANGE_TERMS[self]
        return f"{english} ({chinese})"


_CHANGE_TERMS: dict[ChangeKind, tuple[str, str]] = {
    ChangeKind.MADE_VALID: ("made valid", "几何修复"),
    ChangeKind.SNAPPED: ("snapped", "吸附"),
    ChangeKind.REFUSED: ("fix refused", "拒绝修复"),
}


@dataclasses.dataclass(frozen=True)
class Change:
    """One change :func:`fix_plan` made — or refused to make.

    Parameters
    ----------
    kind
        ``made_valid``: an invalid geometry repaired with ``shapely.make_valid``;
        ``snapped``: a boundary moved by at most the tolerance (area gained and given up in
        ``detail``); ``refused``: grids left as they were because the fix would have moved a
        unit (and its households) to another grid.
    codes
        The grids concerned.
    area_m2
        Area of the change (symmetric difference), when it has one.
    detail
        What was done or why not.

    Examples
    --------
    >>> Change(ChangeKind.SNAPPED, ("110108001001",), 3.21, "gained 3.2 m², gave up 0.0 m²").line()
    'snapped (吸附) 110108001001: 3.2 m²; gained 3.2 m², gave up 0.0 m²'
    """

    kind: ChangeKind
    codes: tuple[str, ...] = ()
    area_m2: float | None = None
    detail: str = ""

    def line(self) -> str:
        """One readable line."""
        text = self.kind.label + (f" {', '.join(self.codes)}" if self.codes else "")
        tail = [part for part in (_area_text(self.area_m2), self.detail) if part]
        return text + (": " + "; ".join(tail) if tail else "")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        return {
            "kind": self.kind.value,
            "label": self.kind.label,
            "codes": list(self.codes),
            "area_m2": None if self.area_m2 is None else round(self.area_m2, 3),
            "detail": self.detail,
            "line": self.line(),
        }


# --------------------------------------------------------------------------- plan in metres


@dataclasses.dataclass
class _Grids:
    """The plan's grids as arrays, geometries in metres and made valid for overlay work."""

    codes: np.ndarray  # str
    parents: np.ndarray  # str or None
    levels: np.ndarray  # int
    households: pd.Series  # Int64
    original: np.ndarray  # lon/lat geometries as given
    metric: np.ndarray  # metric, polygonal, valid (empty where empty)
    space: _Space
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


def _prepare(plan: GridPlan) -> _Grids:
    grids = plan.grids
    space = _Space.of(grids.geometry.to_numpy())
    metric = _made_valid(space.to_work(grids.geometry.to_numpy()))
    codes = grids["code"].astype(object).to_numpy()
    parents = np.array([None if pd.isna(p) else str(p) for p in grids["parent_code"]], dtype=object)
    first: dict[str, int] = {}
    for i, code in enumerate(codes):
        first.setdefault(code, i)
    return _Grids(
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
        out[bad] = [_polygonal(g) for g in shapely.make_valid(out[bad])]
    return out


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """Return the polygonal part of ``geom`` as a (Multi)Polygon; empty when it has none."""
    type_id = shapely.get_type_id(geom)
    if type_id in (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON):
        return geom
    parts = shapely.get_parts(geom)
    polygons = [p for p in parts if shapely.get_type_id(p) == shapely.GeometryType.POLYGON]
    multi = [p for p in parts if shapely.get_type_id(p) == shapely.GeometryType.MULTIPOLYGON]
    polygons += [q for m in multi for q in shapely.get_parts(m)]
    return shapely.MultiPolygon(polygons) if polygons else shapely.Polygon()


def _polygon_parts(geom: shapely.Geometry) -> np.ndarray:
    parts = shapely.get_parts(_polygonal(geom))
    return parts[shapely.area(parts) > 0] if len(parts) else parts


class _Space:
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
    def of(cls, geoms: np.ndarray) -> _Space:
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
        parts = _polygon_parts(geom)
        if len(parts) == 0:
            if shapely.is_empty(geom):
                return None, None
            target = geom
        else:
            target = parts[int(np.argmax(shapely.area(parts)))]
        point = self.to_lonlat(shapely.point_on_surface(target))
        return round(float(shapely.get_x(point)), 6), round(float(shapely.get_y(point)), 6)


# --------------------------------------------------------------------------- validate


@dataclasses.dataclass(frozen=True)
class _Noise:
    """What counts as floating-point or reprojection noise rather than a problem."""

    area_m2: float
    width_m: float

    def significant(self, parts: np.ndarray) -> np.ndarray:
        """Which polygons are larger than ``area_m2`` and wider than ``width_m``."""
        big = shapely.area(parts) > self.area_m2
        if self.width_m > 0 and big.any():
            core = shapely.buffer(parts[big], -0.5 * self.width_m, quad_segs=2)
            big[big] = ~shapely.is_empty(core)
        return np.asarray(big, dtype=bool)

    def kept(self, geom: shapely.Geometry) -> shapely.Geometry | None:
        """The significant polygons of ``geom``, ``None`` when there are none."""
        parts = _polygon_parts(geom)
        parts = parts[self.significant(parts)]
        return shapely.multipolygons(parts) if len(parts) else None


def validate_plan(
    plan: GridPlan, *, tolerance_m2: float = 0.01, noise_width_m: float = 0.01
) -> list[Problem]:
    """Find every problem of a plan's grids.

    Checks, for every grid: empty and invalid geometry (with GEOS's reason and location),
    duplicate codes, a parent code that is not in the plan, a level that is not its parent's
    plus one, a code that does not start with its parent's code (warning); and for every
    sibling group: parts of a child outside its parent, overlaps between siblings, parts of
    the parent its children leave uncovered (gap, hole or not covering parent), and household
    counts that do not add up to the parent's (warning). Top-level grids have no parent, so
    there only overlaps and the gaps and holes they enclose are found.

    Parameters
    ----------
    plan
        The plan to check.
    tolerance_m2
        Gaps, overlaps and outside parts smaller than this (square metres) are floating-point
        noise and not reported.
    noise_width_m
        Gaps, overlaps and outside parts narrower than this everywhere (metres; 1 cm by
        default) are not reported either: they come from converting between CRSs (a vertex
        on a straight edge in one CRS is millimetres off it in another), not from planning.

    Returns
    -------
    list of Problem
        Sorted: errors before warnings, then by kind, parent, codes and location. Empty for a
        valid plan.
    """
    if tolerance_m2 < 0:
        raise ValueError(f"tolerance_m2 must be >= 0 square metres, got {tolerance_m2}")
    if noise_width_m < 0:
        raise ValueError(f"noise_width_m must be >= 0 metres, got {noise_width_m}")
    noise = _Noise(tolerance_m2, noise_width_m)
    grids = _prepare(plan)
    space = grids.space
    problems = [
        *_geometry_problems(grids.codes, grids.original),
        *_code_problems(grids),
        *_outside_parent(grids, space, noise),
        *_overlaps(grids, space, noise),
        *_uncovered(grids, space, noise, plan),
        *_households(grids),
    ]
    return sorted(problems, key=_sort_key)


def _sort_key(p: Problem) -> tuple[Any, ...]:
    severity = 0 if p.severity is Severity.ERROR else 1
    where = (math.inf, math.inf) if p.lon is None or p.lat is None else (p.lon, p.lat)
    return (severity, _KIND_ORDER[p.kind], p.parent or "", p.codes, where, p.detail)


def geometry_problems(plan: GridPlan) -> list[Problem]:
    """Empty and invalid grid geometries only: the cheap part of :func:`validate_plan`.

    No overlays, so it suits a quick look, e.g. after ``geogrid import``.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Polygon
    >>> bow_tie = Polygon([(116.30, 40.00), (116.31, 40.01), (116.31, 40.00), (116.30, 40.01)])
    >>> grids = gpd.GeoDataFrame({"code": ["110108001"], "name": ["社区"], "level": [1]},
    ...                          geometry=[bow_tie], crs=4490)
    >>> [p.line() for p in geometry_problems(GridPlan("示例", ["社区"], grids))]
    ['invalid geometry (无效几何) 110108001 at 116.30500, 40.00500: Self-intersection; repair it in QGIS (Vector › Geometry Tools › Fix Geometries) or with --fix']
    """
    codes = plan.grids["code"].astype(object).to_numpy()
    return list(_geometry_problems(codes, plan.grids.geometry.to_numpy()))


def _geometry_problems(codes: np.ndarray, geoms: np.ndarray) -> Iterator[Problem]:
    empty = shapely.is_empty(geoms) | shapely.is_missing(geoms)
    for i in np.flatnonzero(empty):
        yield Problem(ProblemKind.EMPTY_GEOMETRY, (codes[i],), detail="the grid has no area")
    for i in np.flatnonzero(~empty & ~shapely.is_valid(geoms)):
        reason, lon, lat = invalid_reason(geoms[i])
        detail = (
            f"{reason}; repair it in QGIS (Vector › Geometry Tools › Fix Geometries) or with --fix"
        )
        yield Problem(ProblemKind.INVALID_GEOMETRY, (codes[i],), lon, lat, detail=detail)


def _code_problems(grids: _Grids) -> Iterator[Problem]:
    counts = pd.Series(grids.codes).value_counts()
    for code, n in counts[counts > 1].items():
        yield Problem(ProblemKind.DUPLICATE_CODE, (str(code),), detail=f"{n} grids share this code")
    for code, parent, level in zip(grids.codes, grids.parents, grids.levels, strict=True):
        if parent is None:
            if level > 1:
                detail = f"a level-{level} grid needs a parent_code"
                yield Problem(ProblemKind.MISSING_PARENT, (code,), detail=detail)
            continue
        row = grids.first.get(parent)
        if row is None:
            detail = f"its parent {parent} is not in the plan"
            yield Problem(ProblemKind.MISSING_PARENT, (code,), detail=detail, parent=parent)
            continue
        expected = int(grids.levels[row]) + 1
        if level != expected:
            detail = f"level {level} under a level-{expected - 1} parent; expected level {expected}"
            yield Problem(ProblemKind.LEVEL_MISMATCH, (code,), detail=detail, parent=parent)
        if not code.startswith(parent):
            detail = "the code does not start with its parent's code"
            yield Problem(ProblemKind.CODE_SCHEME, (code,), detail=detail, parent=parent)


def _outside_parent(grids: _Grids, space: _Space, noise: _Noise) -> Iterator[Problem]:
    pairs = [(i, grids.parent_row(i)) for i in range(len(grids.codes))]
    child = np.array([i for i, p in pairs if p is not None], dtype=np.intp)
    parent = np.array([p for _, p in pairs if p is not None], dtype=np.intp)
    if len(child) == 0:
        return
    a, b = grids.metric[child], grids.metric[parent]
    suspect = ~shapely.is_empty(a) & ~shapely.is_empty(b) & ~shapely.covers(b, a)
    outside = shapely.difference(a[suspect], b[suspect])
    area = shapely.area(outside)
    for i, geom, size in zip(child[suspect], outside, area, strict=True):
        geom = noise.kept(geom) if size > noise.area_m2 else None
        if geom is not None:
            lon, lat = space.lonlat(geom)
            code, parent_code = grids.codes[i], grids.parents[i]
            yield Problem(
                ProblemKind.OUTSIDE_PARENT,
                (code,),
                lon,
                lat,
                space.area_m2(geom),
                parent=parent_code,
            )


def _overlaps(grids: _Grids, space: _Space, noise: _Noise) -> Iterator[Problem]:
    geoms = grids.metric
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keys = grids.group_keys
    keep = (left < right) & (keys[left] == keys[right])
    left, right = left[keep], right[keep]
    keep = ~shapely.touches(geoms[left], geoms[right])
    left, right = left[keep], right[keep]
    shared = shapely.intersection(geoms[left], geoms[right])
    area = shapely.area(shared)
    for i, j, geom, size in zip(left, right, shared, area, strict=True):
        geom = noise.kept(geom) if size > noise.area_m2 else None
        if geom is not None:
            lon, lat = space.lonlat(geom)
            codes = tuple(sorted((grids.codes[i], grids.codes[j])))
            yield Problem(
                ProblemKind.OVERLAP, codes, lon, lat, space.area_m2(geom), parent=grids.parents[i]
            )


def _uncovered(grids: _Grids, space: _Space, noise: _Noise, plan: GridPlan) -> Iterator[Problem]:
    groups = grids.groups()
    for key, rows in groups.items():
        rows = rows[~shapely.is_empty(grids.metric[rows])]
        parent = grids.first.get(key) if key else None
        if key and parent is None:
            continue  # missing parent: reported already
        yield from _uncovered_group(grids, space, noise, rows, parent)
    yield from _childless(grids, space, groups, plan)


def _uncovered_group(
    grids: _Grids, space: _Space, noise: _Noise, rows: np.ndarray, parent: int | None
) -> Iterator[Problem]:
    if len(rows) == 0:
        return
    children = grids.metric[rows]
    union = _union(children)
    if parent is None:
        area = _enclosed(union)
        edge = None
    else:
        area = shapely.difference(grids.metric[parent], union)
        edge = shapely.boundary(grids.metric[parent])
    parts = _polygon_parts(area)
    parts = parts[noise.significant(parts)]
    if len(parts) == 0:
        return
    tree = shapely.STRtree(children)
    edge_zone = None if edge is None else shapely.buffer(edge, _EPS_M, quad_segs=1)
    parent_code = None if parent is None else grids.codes[parent]
    for part in parts:
        near = tree.query(part, predicate="dwithin", distance=_EPS_M)
        codes = tuple(sorted({grids.codes[rows[k]] for k in near}))
        kind = _uncovered_kind(part, edge_zone, len(codes))
        lon, lat = space.lonlat(part)
        yield Problem(kind, codes, lon, lat, space.area_m2(part), parent=parent_code)


def _uncovered_kind(
    part: shapely.Geometry, edge_zone: shapely.Geometry | None, n_near: int
) -> ProblemKind:
    perimeter = float(shapely.length(part))
    on_edge = 0.0
    if edge_zone is not None:
        on_edge = float(shapely.length(shapely.intersection(shapely.boundary(part), edge_zone)))
    if on_edge <= _EPS_M and n_near == 1:
        return ProblemKind.HOLE
    if on_edge > perimeter - on_edge:
        return ProblemKind.NOT_COVERING_PARENT
    return ProblemKind.GAP


def _union(geoms: np.ndarray) -> shapely.Geometry:
    geoms = geoms[~shapely.is_empty(geoms)]
    if len(geoms) == 0:
        return shapely.Polygon()
    if shapely.coverage_is_valid(geoms):
        return shapely.coverage_union_all(geoms)
    return shapely.union_all(geoms)


def _enclosed(union: shapely.Geometry) -> shapely.Geometry:
    """Return the areas a coverage encloses but does not cover (its holes)."""
    rings = [ring for part in _polygon_parts(union) for ring in shapely.get_rings(part)[1:]]
    if not rings:
        return shapely.Polygon()
    holes = shapely.union_all(shapely.polygons(np.array(rings, dtype=object)))
    return shapely.difference(holes, union)


def _childless(
    grids: _Grids, space: _Space, groups: dict[str, np.ndarray], plan: GridPlan
) -> Iterator[Problem]:
    """Grids without children on a level where others have some."""
    levels_with_children = {
        int(grids.levels[grids.first[key]]) for key in groups if key in grids.first
    }
    for code, i in grids.first.items():
        level = int(grids.levels[i])
        if code in groups or level not in levels_with_children or shapely.is_empty(grids.metric[i]):
            continue
        name = plan.levels[level] if level < len(plan.levels) else str(level + 1)
        detail = (
            f"no level-{level + 1} grids ({name}) inside, while other level-{level} grids have some"
        )
        lon, lat = space.lonlat(grids.metric[i])
        area = space.area_m2(grids.metric[i])
        yield Problem(ProblemKind.NOT_COVERING_PARENT, (), lon, lat, area, detail, parent=code)


def _households(grids: _Grids) -> Iterator[Problem]:
    for key, rows in grids.groups().items():
        parent = grids.first.get(key) if key else None
        if parent is None:
            continue
        total = grids.households.iloc[parent]
        children = grids.households.iloc[rows]
        if pd.isna(total) or children.isna().any():
            continue
        if int(children.sum()) != int(total):
            detail = (
                f"its {len(rows)} children sum to {int(children.sum())} households, "
                f"it records {int(total)}"
            )
            yield Problem(ProblemKind.HOUSEHOLDS_MISMATCH, (key,), detail=detail)


# --------------------------------------------------------------------------- fix


def fix_plan(plan: GridPlan, *, tolerance_m: float = 0.5) -> tuple[GridPlan, list[Change]]:
    """Snap digitising slop within ``tolerance_m`` metres; leave anything larger alone.

    Top-down, for each sibling group, in the plan's metric CRS: invalid geometries are
    repaired (``shapely.make_valid``); ``shapely.coverage_clean`` snaps vertices closer than
    the tolerance, merges gaps narrower than it and resolves overlaps (into the neighbour
    with the longest shared border), with the outside of the parent as an extra, fixed
    polygon so children snap to the parent's edge; children are clipped to their parent and
    the remaining narrow gaps along its edge given to the child with the longest border.

    A grid whose boundary would move by more than the tolerance anywhere (a wide overlap,
    a child far outside its parent) is kept as it was, so validation still reports it. A fix
    that would take a unit's representative point (and its households) out of the grid it
    belongs to is refused: the grids concerned are kept and a ``refused`` change says why.

    Parameters
    ----------
    plan
        The plan to fix; it is not modified.
    tolerance_m
        Largest width (metres) of a sliver, gap or overlap to remove, and largest distance a
        vertex may be snapped.

    Returns
    -------
    (GridPlan, list of Change)
        The fixed plan (a copy) and what was changed, one entry per changed grid.
    """
    if not tolerance_m > 0:
        raise ValueError(f"tolerance_m must be > 0 metres, got {tolerance_m}")
    grids = _prepare(plan)
    fixed = grids.metric.copy()
    changes = list(_validity_changes(grids))
    units = _Units.of(plan, grids.space)
    groups = grids.groups()
    for key in sorted(groups, key=lambda k: _depth(grids, k)):
        parent = grids.first.get(key) if key else None
        rows = groups[key][~shapely.is_empty(grids.metric[groups[key]])]
        if len(rows) == 0:
            continue
        new, refused = _fix_group(
            fixed, rows, None if parent is None else fixed[parent], tolerance_m, units, grids
        )
        fixed[rows] = new
        changes += refused
    changes += _snap_changes(grids, fixed)
    return _rebuilt(plan, grids, fixed), changes


def _depth(grids: _Grids, key: str) -> int:
    row = grids.first.get(key)
    return 0 if row is None else int(grids.levels[row])


def _validity_changes(grids: _Grids) -> Iterator[Change]:
    invalid = ~shapely.is_empty(grids.original) & ~shapely.is_valid(grids.original)
    for i in np.flatnonzero(invalid):
        reason = invalid_reason(grids.original[i])[0]
        detail = f"{reason} repaired with make_valid; check the shape"
        yield Change(ChangeKind.MADE_VALID, (grids.codes[i],), detail=detail)


def _fix_group(
    fixed: np.ndarray,
    rows: np.ndarray,
    parent: shapely.Geometry | None,
    tolerance_m: float,
    units: _Units,
    grids: _Grids,
) -> tuple[np.ndarray, list[Change]]:
    """Clean one sibling group, pinning grids whose fix would be wide or move a unit."""
    before = fixed[rows]
    pinned = np.zeros(len(rows), dtype=bool)
    refused: list[Change] = []
    for _ in range(_MAX_PIN_ROUNDS):
        after = before.copy()
        free = ~pinned
        if free.any():
            after[free] = _cleaned(before[free], before[pinned], parent, tolerance_m)
        wide = free & _wide_changes(before, after, tolerance_m)
        moves = units.moves(grids.codes[rows], before, after)
        for unit_text, losing, taking in moves:
            codes = tuple(
                sorted({grids.codes[rows[losing]], *(grids.codes[rows[t]] for t in taking)})
            )
            loser = grids.codes[rows[losing]]
            detail = f"kept as they were: the fix would move unit {unit_text} out of {loser}"
            refused.append(Change(ChangeKind.REFUSED, codes, detail=detail))
            pinned[[losing, *taking]] = True
        if not wide.any() and not moves:
            return after, refused
        pinned |= wide
    return before, refused


def _cleaned(
    geoms: np.ndarray,
    fixed_neighbours: np.ndarray,
    parent: shapely.Geometry | None,
    tolerance_m: float,
) -> np.ndarray:
    frame = []
    if parent is not None:
        west, south, east, north = shapely.bounds(shapely.union_all([parent, *geoms]))
        margin = 10 * tolerance_m + 1.0
        outer = shapely.box(west - margin, south - margin, east + margin, north + margin)
        frame = [shapely.difference(outer, parent)]
    cleaned = shapely.coverage_clean(
        np.array([*frame, *geoms], dtype=object),
        snapping_distance=-1,  # automatic: tiny, so sound grids keep their vertices
        gap_width=tolerance_m,
        merge_strategy="longest_border",
    )[len(frame) :]
    cleaned = np.array([_polygonal(g) for g in cleaned], dtype=object)
    if parent is None:
        return cleaned
    cleaned = np.array([_polygonal(g) for g in shapely.intersection(cleaned, parent)], dtype=object)
    return _filled(cleaned, fixed_neighbours, parent, tolerance_m)


def _filled(
    geoms: np.ndarray, fixed_neighbours: np.ndarray, parent: shapely.Geometry, tolerance_m: float
) -> np.ndarray:
    """Give each narrow uncovered part of the parent to the child with the longest border."""
    union = shapely.union_all(np.array([*geoms, *fixed_neighbours], dtype=object))
    out = geoms.copy()
    tree = shapely.STRtree(geoms)
    for part in _polygon_parts(shapely.difference(parent, union)):
        if not _narrow(part, tolerance_m):
            continue
        near = tree.query(part, predicate="dwithin", distance=_EPS_M)
        if len(near) == 0:
            continue
        zones = shapely.buffer(shapely.boundary(geoms[near]), _EPS_M, quad_segs=1)
        border = shapely.length(shapely.intersection(shapely.boundary(part), zones))
        k = int(near[int(np.argmax(border))])
        out[k] = _polygonal(shapely.union(out[k], part))
    return out


def _narrow(geom: shapely.Geometry, tolerance_m: float) -> bool:
    return bool(shapely.is_empty(shapely.buffer(geom, -0.5 * tolerance_m * (1 + 1e-6))))


def _wide_changes(before: np.ndarray, after: np.ndarray, tolerance_m: float) -> np.ndarray:
    change = shapely.symmetric_difference(before, after)
    return np.array([not _narrow(c, tolerance_m) for c in change], dtype=bool)


@dataclasses.dataclass
class _Units:
    """Representative points of the plan's units (metric), by the grid code they belong to."""

    points: np.ndarray
    grid_codes: np.ndarray
    labels: np.ndarray

    @classmethod
    def of(cls, plan: GridPlan, space: _Space) -> _Units:
        units = plan.units
        units = units[units["grid_code"].notna() & ~units.geometry.is_empty]
        points = shapely.point_on_surface(space.to_work(units.geometry.to_numpy()))
        labels = [
            _unit_text(u, h) for u, h in zip(units["unit_id"], units["households"], strict=True)
        ]
        return cls(
            points, units["grid_code"].astype(object).to_numpy(), np.array(labels, dtype=object)
        )

    def moves(
        self, codes: np.ndarray, before: np.ndarray, after: np.ndarray
    ) -> list[tuple[str, int, list[int]]]:
        """Units of grids ``codes`` that their grid holds ``before`` but not ``after``.

        Returns (unit label, position of the losing grid, positions of grids now holding it).
        """
        position = {code: k for k, code in enumerate(codes)}
        mine = np.array([c in position for c in self.grid_codes], dtype=bool)
        if not mine.any():
            return []
        points = self.points[mine]
        own = np.array([position[c] for c in self.grid_codes[mine]], dtype=np.intp)
        lost = shapely.covers(before[own], points) & ~shapely.covers(after[own], points)
        out = []
        for k in np.flatnonzero(lost):
            taking = [
                int(t) for t in np.flatnonzero(shapely.covers(after, points[k])) if t != own[k]
            ]
            out.append((str(self.labels[mine][k]), int(own[k]), taking))
        return out


def _unit_text(unit_id: object, households: Any) -> str:
    return f"{unit_id}" if pd.isna(households) else f"{unit_id} ({households} households)"


def _snap_changes(grids: _Grids, fixed: np.ndarray) -> Iterator[Change]:
    gained = shapely.area(shapely.difference(fixed, grids.metric))
    lost = shapely.area(shapely.difference(grids.metric, fixed))
    for i in np.flatnonzero(gained + lost > 0):
        detail = f"gained {_area_text(float(gained[i]))}, gave up {_area_text(float(lost[i]))}"
        yield Change(ChangeKind.SNAPPED, (grids.codes[i],), float(gained[i] + lost[i]), detail)


def _rebuilt(plan: GridPlan, grids: _Grids, fixed: np.ndarray) -> GridPlan:
    changed = _changed_rows(grids, fixed)
    table = plan.grids.copy()
    if changed.any():
        back = grids.space.to_lonlat(fixed[changed])
        geometry = table.geometry.to_numpy().copy()
        geometry[changed] = back
        table = table.set_geometry(geometry, crs=PLAN_CRS)
    return dataclasses.replace(plan.copy(), grids=table)


def _changed_rows(grids: _Grids, fixed: np.ndarray) -> np.ndarray:
    invalid = ~shapely.is_valid(grids.original) & ~shapely.is_empty(grids.original)
    moved = shapely.area(shapely.symmetric_difference(fixed, grids.metric)) > 0
    return np.asarray(invalid | moved, dtype=bool)
