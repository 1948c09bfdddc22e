"""What validation finds and what fixing does: :class:`Problem` and :class:`Change`.

Each has a kind with an English and a Chinese term, and one readable line for the planner.
"""

from __future__ import annotations

import dataclasses
import json
from enum import StrEnum
from typing import Any

import shapely

from geogrid.errors import CoordinateError, CRSError

__all__ = ["Change", "ChangeKind", "Problem", "ProblemKind", "Severity", "area_text"]


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
    geometry: shapely.Geometry | None = dataclasses.field(default=None, compare=False, repr=False)
    """The gap, hole, overlap or outside part itself (EPSG:4490), to outline on a map."""

    @property
    def severity(self) -> Severity:
        """Severity of :attr:`kind`."""
        return self.kind.severity

    def line(self) -> str:
        """One readable line, e.g. ``gap (缝隙) in P between A, B at 116.31234, 39.99876: 3 m²``."""
        text = self.kind.label + _subject(self)
        if self.lon is not None and self.lat is not None:
            text += f" at {self.lon:.5f}, {self.lat:.5f}"
        tail = [part for part in (area_text(self.area_m2), self.detail) if part]
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

    def to_feature(self) -> dict[str, Any]:
        """A GeoJSON feature, to show the problem on a map.

        Properties: :meth:`to_dict`; geometry: the gap, hole, overlap or outside part, else
        the problem's point, else ``None`` (a problem with no place).
        """
        geometry = self.geometry
        if geometry is None and self.lon is not None and self.lat is not None:
            geometry = shapely.Point(self.lon, self.lat)
        shape = None
        if geometry is not None and not geometry.is_empty:
            shape = json.loads(shapely.to_geojson(shapely.set_precision(geometry, 1e-7)))
        return {"type": "Feature", "properties": self.to_dict(), "geometry": shape}

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


def area_text(area: float | None) -> str:
    """An area for a message: ``"1,234.5 m²"``, ``"0.042 m²"``; ``""`` for ``None``."""
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
        tail = [part for part in (area_text(self.area_m2), self.detail) if part]
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
