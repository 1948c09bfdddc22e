"""The grid-plan model: nested levels of grids, their staff, and the atomic units they hold.

A :class:`GridPlan` is three tables that travel together through every file format and store:

``grids``
    one row per grid (网格) at every level, a GeoDataFrame in EPSG:4490 (CGCS2000 lon/lat)
    with the columns of :data:`GRID_COLUMNS`; geometries are MultiPolygons.
``staff``
    grid heads (网格长) and workers (专职 / 兼职网格员) by grid code, :data:`STAFF_COLUMNS`;
    a role is a key of the configured :class:`~geogrid.roles.RoleSet` (:func:`current_roles`),
    which also gives the order staff are listed in.
``units``
    the atomic units a grid is made of (buildings, courtyards 院落, estates 小区, cells) with
    their households, the grid code each belongs to and whether it is locked,
    :data:`UNIT_COLUMNS`; may be empty.

Constructing a plan normalises the tables (column order, dtypes, MultiPolygon, CRS), so two
plans read from different formats compare equal column by column.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import warnings
from collections.abc import Sequence
from enum import StrEnum
from numbers import Integral

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geogrid.codes import code_problem
from geogrid.errors import CoordinateError, CRSError, InvalidPlanError, PlanFileError
from geogrid.polygons import nonfinite
from geogrid.roles import DEFAULT_ROLES, current_roles

__all__ = [
    "GRID_COLUMNS",
    "MAX_LEVELS",
    "PLAN_CRS",
    "STAFF_COLUMNS",
    "UNIT_COLUMNS",
    "GridKind",
    "GridPlan",
    "Priority",
    "SpecialType",
    "UnitKind",
    "normalise_grids",
    "normalise_staff",
    "normalise_units",
    "plan_digest",
    "staff_records",
]

PLAN_CRS = CRS.from_epsg(4490)
"""Plans are stored in CGCS2000 geographic coordinates (lon/lat order in every table)."""

MAX_LEVELS = 6


class GridKind(StrEnum):
    """Grid type (网格类型)."""

    URBAN = "urban"  # 城市社区网格
    RURAL = "rural"  # 农村网格
    SPECIAL = "special"  # 专属网格


class SpecialType(StrEnum):
    """Subtype of a special grid (专属网格)."""

    SCHOOL = "school"  # 学校
    HOSPITAL = "hospital"  # 医院
    ENTERPRISE = "enterprise"  # 企业 / 园区
    MARKET = "market"  # 市场 / 商圈
    SCENIC = "scenic"  # 景区
    INSTITUTION = "institution"  # 机关事业单位


class Priority(StrEnum):
    """Workload class of a grid: priority (重点) or ordinary (一般)."""

    KEY = "key"  # 重点
    NORMAL = "normal"  # 一般


def __getattr__(name: str) -> object:
    """``StaffRole`` and ``STAFF_ORDER``, deprecated: staff roles are :mod:`geogrid.roles`."""
    if name in ("StaffRole", "STAFF_ORDER"):
        warnings.warn(
            f"geogrid.plan.{name} is deprecated: use geogrid.roles.current_roles() "
            "(keys, label(), sort_key(), parse())",
            DeprecationWarning,
            stacklevel=2,
        )
        role = StrEnum("StaffRole", {k.upper(): k for k in DEFAULT_ROLES.keys})  # type: ignore[misc]
        return role if name == "StaffRole" else tuple(role)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class UnitKind(StrEnum):
    """Kind of atomic unit that is never split between grids."""

    BUILDING = "building"  # 楼栋
    COURTYARD = "courtyard"  # 院落
    ESTATE = "estate"  # 小区
    VILLAGE = "village"  # 自然村 / 村民小组
    CELL = "cell"  # land without households (tessellation cell)


#: Column name -> pandas dtype of the ``grids`` table (``geometry`` comes last).
GRID_COLUMNS: dict[str, str] = {
    "code": "string",
    "name": "string",
    "level": "int64",
    "parent_code": "string",
    "kind": "string",
    "subtype": "string",
    "priority": "string",
    "households": "Int64",
    "residents": "Int64",
    "shops": "Int64",
    "key_persons": "Int64",
    "valid_from": "string",
    "valid_to": "string",
}
#: Column name -> pandas dtype of the ``staff`` table.
STAFF_COLUMNS: dict[str, str] = {
    "grid_code": "string",
    "role": "string",
    "name": "string",
    "phone": "string",
}
#: Column name -> pandas dtype of the ``units`` table (``geometry`` comes last).
UNIT_COLUMNS: dict[str, str] = {
    "unit_id": "string",
    "name": "string",
    "kind": "string",
    "households": "Int64",
    "grid_code": "string",
    "locked": "bool",
}
_REQUIRED_GRID = ("code", "name", "level")
# Row order of the digest: the store's row order (``geogrid.store.sort_plan``) when digests
# were first recorded in version notes; fixed here so that recorded digests stay valid.
_DIGEST_ORDER = {
    "grids": ["level", "code"],
    "units": ["unit_id"],
    "staff": ["grid_code", "role", "name"],
}
_DIGEST_PRECISION = 1e-7  # degrees; GeoJSON keeps 7 decimals
_DEFAULTS: dict[str, object] = {"kind": GridKind.URBAN.value, "priority": Priority.NORMAL.value}
_ENUMS: dict[str, type[StrEnum]] = {
    "kind": GridKind,
    "subtype": SpecialType,
    "priority": Priority,
}


@dataclasses.dataclass
class GridPlan:
    """A versioned set of nested grids with staff and units.

    Parameters
    ----------
    name
        Human name of the plan, e.g. ``"清华园街道网格划分 2026"``.
    levels
        Names of the levels from the top down, chosen by the place, e.g.
        ``["社区", "网格", "微网格"]``; level 1 is ``levels[0]``.
    grids, staff, units
        The three tables; see the module docstring. They are normalised on construction.
    attribution
        Data attribution printed on maps, e.g. ``"© OpenStreetMap contributors"``.
    version
        Version number given by a store; ``None`` for a plan not stored yet.

    Raises
    ------
    InvalidPlanError
        When ``name`` or ``attribution`` is not text, ``levels`` is not a list of 1 to
        :data:`MAX_LEVELS` names, ``version`` is not a whole number ≥ 1, or a grid code is
        missing or not a code (see :func:`geogrid.codes.code_problem`); the message names the
        field and what it expects.
    PlanFileError, CRSError, CoordinateError
        When a table cannot be normalised (see :func:`normalise_grids`).

    Examples
    --------
    >>> from shapely.geometry import box
    >>> grids = gpd.GeoDataFrame(
    ...     {"code": ["110108001001"], "name": ["示例社区"], "level": [1]},
    ...     geometry=[box(116.30, 39.99, 116.31, 40.00)], crs=4490)
    >>> plan = GridPlan("示例", ["社区"], grids)
    >>> plan.depth, plan.grids.geom_type.iloc[0]
    (1, 'MultiPolygon')
    >>> GridPlan("示例", "社区", grids)
    Traceback (most recent call last):
    ...
    geogrid.errors.InvalidPlanError: `levels` (层级) must be a list of 1 to 6 level names, top first, e.g. ["社区", "网格"]; got '社区'
    """

    name: str
    levels: list[str]
    grids: gpd.GeoDataFrame
    staff: pd.DataFrame = dataclasses.field(default_factory=lambda: normalise_staff(None))
    units: gpd.GeoDataFrame = dataclasses.field(default_factory=lambda: normalise_units(None))
    attribution: str = ""
    version: int | None = None

    def __post_init__(self) -> None:
        self.name = _text_field(self.name, "name", "方案名称", '"清华园街道网格划分 2026"')
        self.levels = _levels(self.levels)
        self.attribution = _text_field(
            "" if self.attribution is None else self.attribution,
            "attribution",
            "数据来源",
            '"© OpenStreetMap contributors"',
        )
        self.version = _version(self.version)
        self.grids = normalise_grids(self.grids)
        self.staff = normalise_staff(self.staff)
        self.units = normalise_units(self.units)

    @property
    def depth(self) -> int:
        """Number of levels in the plan."""
        return len(self.levels)

    def level(self, n: int) -> gpd.GeoDataFrame:
        """Grids of level ``n`` (1 = top)."""
        return self.grids[self.grids["level"] == n]

    def grid(self, code: str) -> pd.Series:
        """The row of grid ``code``; raises ``KeyError`` when absent."""
        rows = self.grids[self.grids["code"] == code]
        if rows.empty:
            raise KeyError(f"no grid with code {code!r} in plan {self.name!r}")
        return rows.iloc[0]

    def children(self, code: str | None) -> gpd.GeoDataFrame:
        """Grids whose parent is ``code`` (``None``: the top level)."""
        if code is None:
            return self.grids[self.grids["parent_code"].isna()]
        return self.grids[self.grids["parent_code"] == code]

    def ancestor_codes(self, codes: Sequence[object] | np.ndarray, level: int) -> np.ndarray:
        """The code of ``level`` above (or at) every code; a code not in the plan stays itself.

        Examples
        --------
        >>> from shapely.geometry import box
        >>> grids = gpd.GeoDataFrame(
        ...     {"code": ["001", "001001"], "name": ["社区", "网格"], "level": [1, 2],
        ...      "parent_code": [None, "001"]},
        ...     geometry=[box(0, 0, 1, 1), box(0, 0, 1, 1)], crs=4490)
        >>> GridPlan("示例", ["社区", "网格"], grids).ancestor_codes(["001001", "x"], 1).tolist()
        ['001', 'x']
        """
        level_of = dict(zip(self.grids["code"].astype(str), self.grids["level"], strict=True))
        parent_of = dict(
            zip(self.grids["code"].astype(str), self.grids["parent_code"], strict=True)
        )
        out = []
        for code in list(codes):
            while code in level_of and level_of[code] > level and pd.notna(parent_of[code]):
                code = str(parent_of[code])
            out.append(code)
        return np.array(out, dtype=object)

    def staff_of(self, code: str) -> pd.DataFrame:
        """Staff rows of grid ``code`` in the role order (:func:`~geogrid.roles.current_roles`)."""
        rows = self.staff[self.staff["grid_code"] == code]
        return rows.iloc[_staff_order(rows["role"])]

    def staff_by_grid(self) -> dict[str, list[dict[str, str | None]]]:
        """Every grid's staff as ``{"role", "name", "phone"}`` records in the role order.

        The order is :func:`~geogrid.roles.current_roles`' (the head first with the default
        roles); within a role, the staff table's order.

        Every grid of the plan has an entry (an empty list without staff); ``phone`` is
        ``None`` when missing.

        Examples
        --------
        >>> from shapely.geometry import box
        >>> grids = gpd.GeoDataFrame({"code": ["001"], "name": ["东"], "level": [1]},
        ...                          geometry=[box(0, 0, 1, 1)], crs=4490)
        >>> staff = pd.DataFrame({"grid_code": ["001", "001"], "role": ["part_time", "head"],
        ...                       "name": ["李", "王"], "phone": [None, "138"]})
        >>> GridPlan("示例", ["网格"], grids, staff=staff).staff_by_grid()["001"]
        [{'role': 'head', 'name': '王', 'phone': '138'}, {'role': 'part_time', 'name': '李', 'phone': None}]
        """
        out: dict[str, list[dict[str, str | None]]] = {str(c): [] for c in self.grids["code"]}
        staff = self.staff.iloc[_staff_order(self.staff["role"])]
        for code, record in zip(staff["grid_code"], _staff_records(staff), strict=True):
            out.setdefault(str(code), []).append(record)
        return out

    def facts_by_grid(self, *, staff: bool = True) -> dict[str, dict[str, object]]:
        """:meth:`grid_facts` of every grid, by code (without ``staff`` when ``staff=False``)."""
        people = self.staff_by_grid() if staff else {}
        out: dict[str, dict[str, object]] = {}
        for row in self.grids.itertuples(index=False):
            facts = _facts(row.code, row.name, row.level, row.kind, row.parent_code)
            if staff:
                facts["staff"] = people.get(str(row.code), [])
            out[str(row.code)] = facts
        return out

    def grid_facts(self, code: str) -> dict[str, object]:
        """What ``/locate``, ``geogrid locate`` and the web map say about grid ``code``.

        Returns
        -------
        dict
            ``code``, ``name``, ``level``, ``kind``, ``parent_code`` (``None`` at the top)
            and ``staff``: ``{"role", "name", "phone"}`` records in the role order.
            Raises ``KeyError`` when the plan has no grid ``code``.

        Examples
        --------
        >>> from shapely.geometry import box
        >>> grids = gpd.GeoDataFrame({"code": ["001"], "name": ["东"], "level": [1]},
        ...                          geometry=[box(0, 0, 1, 1)], crs=4490)
        >>> GridPlan("示例", ["网格"], grids).grid_facts("001")
        {'code': '001', 'name': '东', 'level': 1, 'kind': 'urban', 'parent_code': None, 'staff': []}
        """
        row = self.grid(code)
        facts = _facts(row["code"], row["name"], row["level"], row["kind"], row["parent_code"])
        return facts | {"staff": _staff_records(self.staff_of(code))}

    def copy(self) -> GridPlan:
        """A deep copy (tables copied, geometries shared as they are immutable)."""
        return dataclasses.replace(
            self, grids=self.grids.copy(), staff=self.staff.copy(), units=self.units.copy()
        )


def _facts(
    code: object, name: object, level: object, kind: object, parent: object
) -> dict[str, object]:
    return {
        "code": str(code),
        "name": str(name),
        "level": int(level),  # type: ignore[call-overload]
        "kind": str(kind),
        "parent_code": None if pd.isna(parent) else str(parent),
    }


def staff_records(staff: pd.DataFrame) -> list[dict[str, str | None]]:
    """Staff rows as ``{"role", "name", "phone"}`` records in the role order (stable).

    The order of :meth:`GridPlan.staff_by_grid`, for rows of one grid.
    """
    return _staff_records(staff.iloc[_staff_order(staff["role"])])


def _staff_records(staff: pd.DataFrame) -> list[dict[str, str | None]]:
    """``{"role", "name", "phone"}`` per staff row, in order (``phone`` ``None`` when missing)."""
    return [
        {"role": str(role), "name": str(name), "phone": None if pd.isna(phone) else str(phone)}
        for role, name, phone in zip(staff["role"], staff["name"], staff["phone"], strict=True)
    ]


def _staff_order(roles: pd.Series) -> np.ndarray:
    """Positions that sort ``roles`` into the role order (stable; unknown roles last)."""
    role_set = current_roles()
    rank = {key: role_set.sort_key(key) for key in roles.dropna().unique()}
    keys = roles.astype(object).map(rank).fillna(len(role_set)).to_numpy(float)
    return np.argsort(keys, kind="stable")


def plan_digest(plan: GridPlan) -> str:
    """A fingerprint of the plan's content, the same for the same plan read from any format.

    The SHA-256 of the name, levels, attribution and the three tables with their rows in a
    fixed order (grids by level and code, units by unit id, staff by grid code, role and
    name); geometries are normalised and rounded to 1e-7 degrees (GeoJSON keeps 7 decimals).
    The version number is not part of the content.

    Parameters
    ----------
    plan
        The plan.

    Returns
    -------
    str
        64 hexadecimal digits.

    Examples
    --------
    >>> from geogrid.samples import load_sample
    >>> plan = load_sample("haidian")
    >>> len(plan_digest(plan)), plan_digest(plan) == plan_digest(plan.copy())
    (64, True)
    >>> renamed = plan.copy()
    >>> renamed.name = "另一个方案"
    >>> plan_digest(renamed) == plan_digest(plan)
    False
    """
    digest = hashlib.sha256(
        json.dumps([plan.name, plan.levels, plan.attribution], ensure_ascii=False).encode()
    )
    for table in ("grids", "units", "staff"):
        frame = getattr(plan, table)
        if len(frame):
            frame = frame.sort_values(_DIGEST_ORDER[table], kind="stable", na_position="last")
        if isinstance(frame, gpd.GeoDataFrame):
            geoms = shapely.set_precision(frame.geometry.to_numpy(), _DIGEST_PRECISION)
            digest.update(b"".join(shapely.to_wkb(shapely.normalize(geoms))))
            frame = pd.DataFrame(frame.drop(columns=frame.geometry.name))
        digest.update(frame.to_json(orient="split", index=False).encode())
    return digest.hexdigest()


def _text_field(value: object, field: str, chinese: str, example: str) -> str:
    if not isinstance(value, str):
        raise InvalidPlanError(
            f"`{field}` ({chinese}) must be text, e.g. {example}; got {_shown(value)}"
        )
    return value


def _levels(levels: object) -> list[str]:
    names = list(levels) if isinstance(levels, list | tuple) else None
    if (
        names is None
        or not 1 <= len(names) <= MAX_LEVELS
        or not all(isinstance(n, str) and n.strip() for n in names)
    ):
        raise InvalidPlanError(
            f"`levels` (层级) must be a list of 1 to {MAX_LEVELS} level names, top first, "
            f'e.g. ["社区", "网格"]; got {_shown(levels)}'
        )
    return names


def _version(version: object) -> int | None:
    if version is None:
        return None
    if isinstance(version, bool) or not isinstance(version, Integral) or int(version) < 1:
        raise InvalidPlanError(
            "`version` (版本号) must be a whole number ≥ 1 given by a store, or null for a plan "
            f"not stored yet; got {_shown(version)}"
        )
    return int(version)


def _shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters: an error never echoes a large input."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def normalise_grids(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return ``grids`` with the columns, dtypes, CRS and geometry type of the model.

    Missing optional columns are added empty (``kind`` defaults to ``urban`` and ``priority``
    to ``normal``); extra columns are dropped. Raises :class:`PlanFileError` for missing
    required columns, non-polygon geometries or values outside an enumeration,
    :class:`InvalidPlanError` for a grid without a code or a code or parent code that is not
    a code (:func:`geogrid.codes.code_problem`), :class:`CoordinateError` for a coordinate
    that is not a finite number, and :class:`CRSError` when the CRS is missing.
    """
    if not isinstance(grids, gpd.GeoDataFrame) or grids.geometry.name not in grids:
        raise PlanFileError("the grids table has no geometry column (几何列): give polygons")
    missing = [c for c in _REQUIRED_GRID if c not in grids.columns]
    if missing:
        raise PlanFileError(
            f"the grids table lacks the column(s) {', '.join(missing)}; "
            "map your own column names with --column code=YOUR_NAME (see `geogrid import`)"
        )
    _check_finite(grids, "grid", "code")
    grids = _to_plan_crs(grids, "grids")
    out = pd.DataFrame(index=pd.RangeIndex(len(grids)))
    for column, dtype in GRID_COLUMNS.items():
        values = grids[column].to_numpy() if column in grids else None
        out[column] = _column(values, dtype, len(grids), _DEFAULTS.get(column), column)
    for column, enum in _ENUMS.items():
        _check_enum(out[column], enum, column)
    _check_codes(out)
    if (out["level"] < 1).any() or (out["level"] > MAX_LEVELS).any():
        raise PlanFileError(f"grid levels run from 1 (top) to {MAX_LEVELS}")
    for column in ("valid_from", "valid_to"):
        _check_dates(out[column], column)
    geometry = _multipolygons(grids.geometry.to_numpy(), "grid", out["code"])
    return gpd.GeoDataFrame(out, geometry=geometry, crs=PLAN_CRS)


def normalise_staff(staff: pd.DataFrame | None) -> pd.DataFrame:
    """Return the staff table with the model's columns and dtypes (empty when ``None``).

    A role may be given by key, Chinese name or alias of the configured roles
    (:func:`~geogrid.roles.current_roles`); the table keeps the key. An unknown role is an
    :class:`InvalidPlanError` naming the row and listing the valid roles.

    Examples
    --------
    >>> staff = pd.DataFrame({"grid_code": ["001", "001"], "role": ["网格长", "专职"],
    ...                       "name": ["王", "李"]})
    >>> normalise_staff(staff)["role"].tolist()
    ['head', 'full_time']
    """
    staff = pd.DataFrame(columns=list(STAFF_COLUMNS)) if staff is None else staff
    missing = [c for c in ("grid_code", "role", "name") if c not in staff.columns]
    if missing:
        raise PlanFileError(f"the staff table lacks the column(s) {', '.join(missing)}")
    out = pd.DataFrame(index=pd.RangeIndex(len(staff)))
    for column, dtype in STAFF_COLUMNS.items():
        values = staff[column].to_numpy() if column in staff else None
        out[column] = _column(values, dtype, len(staff), None, column)
    for column in ("grid_code", "role", "name"):
        if out[column].isna().any():
            row = int(out[column].isna().to_numpy().nonzero()[0][0])
            raise PlanFileError(
                f"staff row {row + 1} has no {column}; every staff row needs grid_code, role and name"
            )
    out["role"] = _role_keys(out["role"])
    return out


def _role_keys(roles: pd.Series) -> pd.Series:
    """Every role as its key in the configured role set; an unknown one names its row."""
    role_set = current_roles()
    keys: dict[str, str] = {}
    for value in roles.unique():
        try:
            keys[value] = role_set.parse(value)
        except InvalidPlanError as exc:
            row = int(np.flatnonzero(roles.to_numpy() == value)[0])
            raise InvalidPlanError(f"staff row {row + 1}: {exc}") from None
    return roles.map(keys).astype(roles.dtype)


def normalise_units(units: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """Return the units table with the model's columns, dtypes and CRS (empty when ``None``)."""
    if units is None or len(units) == 0:
        empty = {c: pd.Series([], dtype=d) for c, d in UNIT_COLUMNS.items()}
        return gpd.GeoDataFrame(empty, geometry=gpd.GeoSeries([], crs=PLAN_CRS), crs=PLAN_CRS)
    if "unit_id" not in units.columns:
        raise PlanFileError("the units table lacks the column unit_id")
    _check_finite(units, "unit", "unit_id")
    units = _to_plan_crs(units, "units")
    out = pd.DataFrame(index=pd.RangeIndex(len(units)))
    for column, dtype in UNIT_COLUMNS.items():
        values = units[column].to_numpy() if column in units else None
        default = (
            False if column == "locked" else (UnitKind.BUILDING.value if column == "kind" else None)
        )
        out[column] = _column(values, dtype, len(units), default, column)
    _check_enum(out["kind"], UnitKind, "kind")
    geometry = _multipolygons(units.geometry.to_numpy(), "unit", out["unit_id"])
    return gpd.GeoDataFrame(out, geometry=geometry, crs=PLAN_CRS)


def _to_plan_crs(frame: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
    if frame.crs is None:
        raise CRSError(
            f"the {what} layer has no coordinate reference system (坐标系缺失); "
            "give one, e.g. --crs EPSG:4490 for CGCS2000 lon/lat"
        )
    if CRS(frame.crs).equals(PLAN_CRS):
        return frame
    return frame.to_crs(PLAN_CRS)


def _check_finite(frame: gpd.GeoDataFrame, what: str, id_column: str) -> None:
    bad = np.flatnonzero(nonfinite(frame.geometry.to_numpy()))
    if len(bad):
        name = frame[id_column].iloc[int(bad[0])]
        raise CoordinateError(
            f"{what} {_shown(name)} has a coordinate that is not a finite number (NaN or "
            f"infinite) (无效几何); redraw or repair its polygon ({len(bad)} such {what}(s) in all)"
        )


def _column(
    values: np.ndarray | None, dtype: str, n: int, default: object, column: str
) -> pd.Series:
    if values is None:
        values = np.full(n, default, dtype=object)
    series = pd.Series(values, dtype=object)
    _check_scalars(series, column)
    if dtype == "string":
        series = _texts(series)
    elif dtype in ("Int64", "int64"):
        series = _integers(series)
    elif dtype == "bool":
        if pd.api.types.infer_dtype(series, skipna=False) == "boolean":
            series = series.astype(bool)  # all true or false already (a store's column)
        else:
            series = series.map(lambda v: bool(v) if _present(v) else False)
    if default is not None:
        series = series.where(series.notna(), default)
    try:
        return series.astype(dtype)
    except (TypeError, ValueError) as exc:
        raise PlanFileError(f"a required value is missing or not a number: {exc}") from exc


def _check_scalars(series: pd.Series, column: str) -> None:
    """One value per cell: a list or an object (e.g. from JSON) is refused, not stringified."""
    if not pd.api.types.infer_dtype(series, skipna=True).startswith("mixed"):
        return  # all text, all numbers...: the common case, decided in C
    nested = series.map(lambda v: isinstance(v, list | tuple | dict | set | np.ndarray))
    if bool(nested.any()):
        row = int(np.flatnonzero(nested.to_numpy())[0])
        raise PlanFileError(
            f"column {column!r}, row {row + 1}: {_shown(series.iloc[row])} is a list or an "
            "object; give one value per cell, e.g. a name as text"
        )


def _texts(series: pd.Series) -> pd.Series:
    """Text values stripped, empty → missing; the common all-text case stays vectorised."""
    present = series.map(_present, na_action=None) if len(series) < 64 else series.notna()
    if pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
        texts = True  # decided in C: every present value is text
    else:
        texts = bool((series.map(type).eq(str) | ~present).all())
    if texts:
        stripped = series.where(~present, series.astype("string").str.strip())
        return stripped.where(stripped.ne("") & present, None).astype(object)
    return series.map(_text)


def _integers(series: pd.Series) -> pd.Series:
    """Whole numbers (floats such as 3.0 accepted), missing kept; anything else is an error."""
    numbers = pd.to_numeric(series, errors="coerce")
    missing = numbers.isna()
    bad = numbers.notna() & (numbers % 1 != 0)
    if bool(missing.any()):  # only a missing number may be a value that is not one
        bad |= missing & series.map(_present)
    if bool(bad.any()):
        raise PlanFileError(f"{series[bad].iloc[0]!r} is not a whole number")
    return numbers.astype("Int64").astype(object).where(numbers.notna(), None)


def _present(value: object) -> bool:
    return (
        value is not None
        and not (isinstance(value, float) and np.isnan(value))
        and value is not pd.NA
    )


def _text(value: object) -> object:
    if not _present(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # codes read back as floats by some drivers
    if isinstance(value, dt.datetime | pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    return text or None


def _check_enum(series: pd.Series, enum: type[StrEnum], column: str) -> None:
    allowed = {member.value for member in enum}
    bad = sorted(set(series.dropna().unique()) - allowed)  # unique: no Python loop per row
    if bad:
        raise PlanFileError(
            f"column {column!r} has value(s) {', '.join(map(repr, bad))}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )


def _check_codes(grids: pd.DataFrame) -> None:
    """Every grid has a code, and every code and parent code is a code (no quotes, spaces...)."""
    missing = np.flatnonzero(grids["code"].isna().to_numpy())
    if len(missing):
        i = int(missing[0])
        name = grids["name"].iloc[i]
        which = f"grid {name!r}" if isinstance(name, str) else "a grid"
        raise InvalidPlanError(
            f"{which} (row {i + 1} of the grids) has no code (编码); every grid needs one, "
            f"e.g. 110108001001 ({len(missing)} grid(s) without a code in all)"
        )
    for column, what in (("code", "grid code"), ("parent_code", "parent_code")):
        for code in grids[column].dropna().unique():
            problem = code_problem(code)
            if problem:
                raise InvalidPlanError(f"{what} {_shown(code)} {problem}")


def _check_dates(series: pd.Series, column: str) -> None:
    for value in series.dropna():
        try:
            dt.date.fromisoformat(value)
        except ValueError as exc:
            raise PlanFileError(f"{column} {value!r} is not a date like 2026-01-31") from exc


def _multipolygons(geoms: np.ndarray, what: str, ids: Sequence[object] | pd.Series) -> np.ndarray:
    types = shapely.get_type_id(geoms)
    polygonal = (types == shapely.GeometryType.POLYGON) | (
        types == shapely.GeometryType.MULTIPOLYGON
    )
    empty = shapely.is_empty(geoms) | shapely.is_missing(geoms)
    bad = ~polygonal & ~empty
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        kind = shapely.get_type_id(geoms[i])
        raise PlanFileError(
            f"{what} {list(ids)[i]!r} is a {shapely.GeometryType(kind).name.title()}, "
            f"but {what}s must be polygons; {int(bad.sum())} non-polygon geometries in all"
        )
    out = np.array(geoms, dtype=object)
    singles = types == shapely.GeometryType.POLYGON
    if singles.any():  # promote in one vectorised call: part i -> multipolygon i
        out[singles] = shapely.multipolygons(geoms[singles], indices=np.arange(int(singles.sum())))
    out[shapely.is_missing(geoms)] = shapely.MultiPolygon()
    return out
