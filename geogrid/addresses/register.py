"""A household register (户籍/实有人口台账) → households on buildings, and a review sheet.

:func:`read_register` reads the office's sheet (``.xlsx``/``.xls``/``.csv``, the header row
found below any title rows); :func:`match_register` matches every row's address to a building
(:mod:`geogrid.addresses.match`) and gives a :class:`RegisterMatch`: the households placed on
their buildings, and the rows to review (ambiguous or unmatched) with their candidates.
:func:`write_review` writes those rows as an ``.xlsx`` sheet with an empty column
``楼栋编号(building_id)``; the planner fills it in and the sheet comes back as
``overrides`` (:func:`read_review`): a filled row assigns every register row with that address.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geogrid.addresses.match import (
    AMBIGUOUS,
    EXACT,
    FUZZY,
    MARGIN,
    MIN_SCORE,
    OVERRIDE,
    STATUSES,
    UNMATCHED,
    BuildingIndex,
    match_parts,
)
from geogrid.addresses.parse import parse_address, parse_addresses
from geogrid.errors import InvalidInputError, PlanFileError
from geogrid.plan import PLAN_CRS

__all__ = [
    "ADDRESS_COLUMNS",
    "HOUSEHOLD_ID_COLUMNS",
    "REVIEW_ID",
    "RegisterMatch",
    "building_households",
    "match_register",
    "read_register",
    "read_review",
    "register_addresses",
    "write_review",
]

ADDRESS_COLUMNS = (
    "地址",
    "住址",
    "家庭住址",
    "现住址",
    "居住地址",
    "实际居住地址",
    "户籍地址",
    "详细地址",
    "address",
)
"""Register columns read as the address, the first present (or pass ``address_column``)."""
_PART_COLUMNS = {
    "estate": ("小区", "小区名称", "村", "村组", "小区/村", "estate"),
    "building": ("楼栋", "楼号", "楼栋号", "栋", "building"),
    "unit": ("单元", "单元号", "unit"),
    "room": ("房号", "门牌号", "室", "户室号", "房间号", "room"),
}
_PART_MARKS = {"estate": "", "building": "栋", "unit": "单元", "room": ""}
HOUSEHOLD_ID_COLUMNS = ("户号", "户编号", "household_id")
"""A register column naming each row's household: rows sharing it are one household."""
REVIEW_ID = "楼栋编号(building_id)"
"""The review sheet's column the planner fills in with the right building's id."""
_REVIEW_SHEET, _BUILDINGS_SHEET = "待核对 review", "楼栋 buildings"
_ROW = "行号"


@dataclasses.dataclass
class RegisterMatch:
    """A register matched to buildings.

    Attributes
    ----------
    table
        Every register row: its own columns, ``row`` (its row number in the sheet),
        ``address``, the parts, ``building_id`` (``<NA>`` when not assigned), ``status``
        (``exact``, ``fuzzy``, ``override``, ``ambiguous``, ``unmatched``), ``score``
        (0–100), ``reason``, ``candidates`` (building ids: those that fit an ambiguous row;
        the buildings of the estate an unmatched row names) and
        ``households`` (1, or 0 on the later rows of a household spread over several rows).
    households
        The assigned rows with their building's geometry (EPSG:4490) and ``name`` = the
        address when the register has no ``name`` column: what ``report``, ``partition`` and
        ``cards`` read.
    review
        The ambiguous and unmatched rows, as :func:`write_review` writes them.
    buildings
        The buildings index they were matched to.
    """

    table: pd.DataFrame
    households: gpd.GeoDataFrame
    review: pd.DataFrame
    buildings: BuildingIndex

    def shares(self) -> dict[str, float]:
        """Share of the rows in each status (:data:`~geogrid.addresses.match.STATUSES`)."""
        counts = self.table["status"].value_counts()
        total = max(len(self.table), 1)
        return {s: float(counts.get(s, 0)) / total for s in STATUSES}

    def summary(self) -> str:
        """One line: rows, assigned, for review, shares by status."""
        shares = self.shares()
        done = sum(shares[s] for s in (EXACT, FUZZY, OVERRIDE))
        parts = ", ".join(f"{s} {shares[s]:.1%}" for s in STATUSES)
        return (
            f"{len(self.table)} rows: {done:.1%} on a building, "
            f"{len(self.review)} to review ({parts})"
        )


def read_register(path: str | os.PathLike[str], *, sheet: str | None = None) -> pd.DataFrame:
    """Read a register sheet as text, its header row found below any title rows.

    Parameters
    ----------
    path
        ``.xlsx``/``.xls`` (``FILE:SHEET`` or ``sheet`` chooses the sheet, default the first)
        or ``.csv`` (UTF-8, GBK/GB18030 or Big5); read by :func:`geogrid.io.tables.read_table`.

    Returns
    -------
    pandas.DataFrame
        Every column as text (empty cells ``""``), indexed by the rows' numbers in the sheet
        (the header is the row holding an address column or parts such as 小区 and 楼栋).
    """
    from geogrid.io.tables import read_table

    known = (*ADDRESS_COLUMNS, *(n for names in _PART_COLUMNS.values() for n in names))
    table = read_table(path, sheet=sheet, expect=known)
    frame = table.frame.copy()
    frame.index = pd.Index(table.rows, name="row")
    if not set(frame.columns) & set(known):
        raise PlanFileError(
            f"{table.name}: no address column (header row {table.header_row}); name it one "
            f"of {', '.join(ADDRESS_COLUMNS)} (or give 小区, 楼栋, 单元, 房号 columns)"
        )
    return frame


def register_addresses(register: pd.DataFrame, address_column: str | None = None) -> pd.Series:
    """Each row's address: its address column, or its estate/building/unit/room columns joined.

    Examples
    --------
    >>> frame = pd.DataFrame({"小区": ["青禾名都"], "楼栋": ["3"], "单元": ["2"], "房号": ["501"]})
    >>> register_addresses(frame).tolist()
    ['青禾名都3栋2单元501']
    """
    if address_column is not None:
        if address_column not in register.columns:
            raise InvalidInputError(
                f"the register has no column {address_column!r}; columns: "
                f"{', '.join(map(str, register.columns))}"
            )
        return register[address_column].astype(str)
    column = next((c for c in ADDRESS_COLUMNS if c in register.columns), None)
    if column is not None:
        return register[column].astype(str)
    found = {
        part: next((c for c in names if c in register.columns), None)
        for part, names in _PART_COLUMNS.items()
    }
    if found["estate"] is None or found["building"] is None:
        raise InvalidInputError(
            f"the register has no address column ({', '.join(ADDRESS_COLUMNS)}) and no "
            "小区 + 楼栋 columns; name the address column or pass address_column"
        )
    joined = pd.Series("", index=register.index, dtype=object)
    for part, column in found.items():
        if column is None:
            continue
        values = register[column].astype(str).str.strip()
        bare = values.str.fullmatch(r"[0-9０-９]+")
        joined = joined + values.where(~bare, values + _PART_MARKS[part])
    return joined


def match_register(
    register: pd.DataFrame,
    buildings: gpd.GeoDataFrame,
    estates: gpd.GeoDataFrame | None = None,
    *,
    overrides: Mapping[str, str] | None = None,
    address_column: str | None = None,
    household_column: str | None = None,
    id_column: str | None = None,
    number_column: str | None = None,
    min_score: float = MIN_SCORE,
    margin: float = MARGIN,
) -> RegisterMatch:
    """Match every register row's address to one building, or send it to review.

    Parameters
    ----------
    register
        The register (:func:`read_register`), one row a household or a person.
    buildings
        The buildings layer, with names and/or a number column (see
        :meth:`BuildingIndex.from_layers`).
    estates
        Estates (小区) or village groups as named polygons.
    overrides
        Normalised address → building id, from a corrected review sheet (:func:`read_review`).
    address_column
        The register's address column (default: the first of :data:`ADDRESS_COLUMNS`).
    household_column
        Column naming each row's household (default: the first of
        :data:`HOUSEHOLD_ID_COLUMNS` present); rows sharing it count one household.
    id_column, number_column
        Columns of ``buildings`` (see :meth:`BuildingIndex.from_layers`).
    min_score, margin
        Fuzzy estate thresholds (:func:`~geogrid.addresses.match.resolve_estates`).

    Returns
    -------
    RegisterMatch
    """
    index = BuildingIndex.from_layers(
        buildings, estates, id_column=id_column, number_column=number_column
    )
    addresses = register_addresses(register, address_column)
    parts = parse_addresses(addresses)
    found = match_parts(parts, index, min_score=min_score, margin=margin)
    table = register.copy()
    table["row"] = register.index.to_numpy()
    table["address"] = addresses.to_numpy()
    for column in ("estate", "building", "unit", "room"):
        table[f"address_{column}"] = parts[column].to_numpy()
    rows = found["building_row"].to_numpy(np.int64).copy()
    status = found["status"].to_numpy(object).copy()
    score = found["score"].to_numpy(float).copy()
    reason = found["reason"].to_numpy(object).copy()
    if overrides:
        _apply(overrides, parts["address_norm"], index, rows, status, score, reason)
    ids = index.ids
    table["building_id"] = pd.array([ids[r] if r >= 0 else None for r in rows], dtype="string")
    table["status"], table["score"], table["reason"] = status, score.round(1), reason
    table["candidates"] = [
        _listed([str(index.ids[c]) for c in cands], "、") if s in (AMBIGUOUS, UNMATCHED) else ""
        for cands, s in zip(found["candidates"], status, strict=True)
    ]
    table["households"] = _household_weights(register, household_column)
    table = table.reset_index(drop=True)
    return RegisterMatch(
        table, _placed(table, buildings, rows), _review(table, index, found), index
    )


def _apply(
    overrides: Mapping[str, str],
    normalised: pd.Series,
    index: BuildingIndex,
    rows: np.ndarray,
    status: np.ndarray,
    score: np.ndarray,
    reason: np.ndarray,
) -> None:
    position = {str(b): i for i, b in enumerate(index.ids.tolist())}
    unknown = sorted({str(b) for b in overrides.values() if str(b) not in position})
    if unknown:
        raise InvalidInputError(
            f"the review sheet names building id(s) not in the buildings layer: "
            f"{', '.join(unknown[:10])}; use an id from its sheet {_BUILDINGS_SHEET!r}"
        )
    given = normalised.map(lambda a: overrides.get(a)).to_numpy(object)
    for i in np.flatnonzero(pd.notna(given)):
        rows[i] = position[str(given[i])]
        status[i], score[i], reason[i] = OVERRIDE, 100.0, "set in the review sheet"


def _household_weights(register: pd.DataFrame, column: str | None) -> np.ndarray:
    if column is not None and column not in register.columns:
        raise InvalidInputError(
            f"the register has no column {column!r}; columns: {', '.join(map(str, register.columns))}"
        )
    column = column or next((c for c in HOUSEHOLD_ID_COLUMNS if c in register.columns), None)
    if column is None:
        return np.ones(len(register), dtype=np.int64)
    ids = register[column].astype(str).str.strip()
    first = ~ids.duplicated() | (ids == "")
    return first.to_numpy().astype(np.int64)


def _placed(table: pd.DataFrame, buildings: gpd.GeoDataFrame, rows: np.ndarray) -> gpd.GeoDataFrame:
    if buildings.crs is None:
        raise InvalidInputError("the buildings layer has no CRS; set one (e.g. EPSG:4490)")
    geoms = np.asarray(buildings.to_crs(PLAN_CRS).geometry.array, dtype=object)
    chosen = rows >= 0
    placed = table.loc[chosen].copy()
    placed = placed.drop(columns=["candidates"])
    if "name" not in placed.columns:
        placed["name"] = placed["address"]
    return gpd.GeoDataFrame(placed, geometry=list(geoms[rows[chosen]]), crs=PLAN_CRS)


_REVIEW_COLUMNS = {
    "row": _ROW,
    "address": "地址",
    "status": "状态",
    "reason": "原因",
    "candidates": "候选楼栋",
}


def _review(table: pd.DataFrame, index: BuildingIndex, found: pd.DataFrame) -> pd.DataFrame:
    todo = table[table["status"].isin([AMBIGUOUS, UNMATCHED])]
    review = todo[list(_REVIEW_COLUMNS)].rename(columns=_REVIEW_COLUMNS)
    review["候选楼栋说明"] = [
        _listed([str(index.labels[c]) for c in cands], "；")
        for cands in found["candidates"].to_numpy()[todo.index.to_numpy()]
    ]
    review[REVIEW_ID] = ""
    return review.reset_index(drop=True)


def _listed(items: list[str], sep: str, most: int = 20) -> str:
    """``items`` joined, the first ``most`` of them and ``…`` for the rest."""
    return sep.join(items[:most]) + (f"{sep}… ({len(items)})" if len(items) > most else "")


def write_review(match: RegisterMatch, path: str | os.PathLike[str]) -> Path:
    """Write the rows to review as ``.xlsx``: the rows, and every building's id to choose from.

    The planner writes the right building's id into :data:`REVIEW_ID` (ids are text cells,
    so ``way/123`` or ``0012`` stay as written) and passes the sheet back as overrides.
    """
    from geogrid.io.tables import write_workbook

    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise PlanFileError(f"{path.name}: write the review sheet as .xlsx")
    buildings = pd.DataFrame(
        {"楼栋编号 building_id": match.buildings.ids, "楼栋": match.buildings.labels}
    )
    sheets = {_REVIEW_SHEET: match.review, _BUILDINGS_SHEET: buildings}
    return write_workbook(path, sheets, text_columns=(REVIEW_ID, "楼栋编号 building_id"))


def read_review(path: str | os.PathLike[str]) -> dict[str, str]:
    """The corrections of a review sheet: normalised address → building id.

    Rows whose :data:`REVIEW_ID` is empty are left out (still to review).
    """
    from geogrid.io.tables import read_table

    path = Path(path)
    try:
        frame = read_table(path, sheet=_REVIEW_SHEET, expect=("地址", REVIEW_ID)).frame
    except PlanFileError:  # saved with its sheets renamed: the first one
        frame = read_table(path, expect=("地址", REVIEW_ID)).frame
    column = next((c for c in frame.columns if "building_id" in str(c)), None)
    if column is None or "地址" not in frame.columns:
        raise PlanFileError(
            f"{path.name}: not a review sheet (needs columns 地址 and {REVIEW_ID}); "
            "write one with `geogrid addresses match ... --review review.xlsx`"
        )
    given = frame[["地址", column]].dropna()
    given = given[given[column].str.strip() != ""]
    return {parse_address(a).text: str(b).strip() for a, b in given.itertuples(index=False)}


def building_households(
    match: RegisterMatch, buildings: gpd.GeoDataFrame, *, column: str = "households"
) -> gpd.GeoDataFrame:
    """The buildings with ``column`` = the register's households assigned to each.

    A building no register row names gets 0, whatever the layer estimated before: the
    register is the count (prefer registered counts to estimates).
    """
    position = {b: i for i, b in enumerate(match.buildings.ids.tolist())}
    assigned = match.table[match.table["building_id"].notna()]
    rows = assigned["building_id"].map(position).to_numpy(np.int64)
    counts = np.bincount(
        rows, weights=assigned["households"].to_numpy(float), minlength=len(buildings)
    )
    out = buildings.copy()
    out[column] = counts.astype(np.int64)
    out["register_rows"] = np.bincount(rows, minlength=len(buildings)).astype(np.int64)
    return out
