"""The change list of a redraw, one row per building, as a street office posts it (公示).

Buildings are named by their own identifiers — the households layer's id, name and address
columns — never by the units' internal ids; the list is written as CSV in ``utf-8-sig`` so
spreadsheet programs open the Chinese text as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from geogrid.errors import InvalidInputError
from geogrid.io.tables import write_table

__all__ = [
    "ADDRESS_COLUMNS",
    "CHANGE_COLUMNS",
    "ID_COLUMNS",
    "NAME_COLUMNS",
    "NOTICE_HEADERS",
    "building_ids",
    "change_rows",
    "notice",
    "write_notice",
]

ID_COLUMNS = ("id", "building_id", "bid", "osm_id", "unit_id", "code", "编号", "楼栋编号")
"""Columns tried, in order, for the buildings' own id when no ``id_column`` is given."""
NAME_COLUMNS = ("name", "名称", "building_name", "楼栋名称")
ADDRESS_COLUMNS = ("address", "addr", "地址", "门牌", "addr:full")
CHANGE_COLUMNS = (
    "id",
    "name",
    "address",
    "households",
    "from_code",
    "from_name",
    "to_code",
    "to_name",
)
#: Column → bilingual header of the posted list.
NOTICE_HEADERS: dict[str, str] = {
    "id": "楼栋 building",
    "name": "名称 name",
    "address": "地址 address",
    "households": "户数 households",
    "from_code": "原网格编码 old grid code",
    "from_name": "原网格 old grid",
    "to_code": "新网格编码 new grid code",
    "to_name": "新网格 new grid",
}


def building_ids(households: pd.DataFrame, id_column: str | None = None) -> np.ndarray:
    """The id naming every household row: ``id_column``, else the first of :data:`ID_COLUMNS`.

    Rows without one are named ``#N`` (their position), so every row has a name.

    Examples
    --------
    >>> frame = pd.DataFrame({"name": ["1号楼", None], "households": [30, 20]})
    >>> building_ids(frame, "name").tolist()
    ['1号楼', '#2']
    >>> building_ids(frame, "addr")
    Traceback (most recent call last):
    ...
    geogrid.errors.InvalidInputError: no column 'addr' in the households to name buildings by; its columns: name, households
    """
    if id_column is not None and id_column not in households.columns:
        columns = ", ".join(str(c) for c in households.columns if c != "geometry")
        raise InvalidInputError(
            f"no column {id_column!r} in the households to name buildings by; its columns: "
            f"{columns}"
        )
    column = id_column or next((c for c in ID_COLUMNS if c in households.columns), None)
    fallback = np.array([f"#{i + 1}" for i in range(len(households))], dtype=object)
    if column is None:
        return fallback
    values = households[column].astype(object).to_numpy()
    given = pd.notna(values)
    return np.where(given, np.array([str(v) for v in values], dtype=object), fallback)


def change_rows(
    households: pd.DataFrame,
    ids: np.ndarray,
    rows: np.ndarray,
    counts: np.ndarray,
    old_codes: np.ndarray,
    new_codes: np.ndarray,
    names: Mapping[str, str],
    id_column: str | None = None,
) -> pd.DataFrame:
    """One row per moved building (:data:`CHANGE_COLUMNS`), most households first.

    ``rows`` are the household rows that moved, ``counts`` their households, ``old_codes`` and
    ``new_codes`` their grids; ``names`` gives the grids' names.
    """
    name_column = next(
        (c for c in NAME_COLUMNS if c in households.columns and c != id_column), None
    )
    address_column = next(
        (c for c in ADDRESS_COLUMNS if c in households.columns and c != id_column), None
    )

    def text(column: str | None) -> list[object]:
        if column is None:
            return [None] * len(rows)
        values = households[column].astype(object).to_numpy()[rows]
        return [None if pd.isna(v) else str(v) for v in values]

    frame = pd.DataFrame(
        {
            "id": ids[rows],
            "name": text(name_column),
            "address": text(address_column),
            "households": np.asarray(counts, dtype=np.int64),
            "from_code": old_codes,
            "from_name": [names.get(str(c)) for c in old_codes],
            "to_code": new_codes,
            "to_name": [names.get(str(c)) for c in new_codes],
        },
        columns=list(CHANGE_COLUMNS),
    )
    return frame.sort_values(["from_code", "to_code", "id"], kind="stable").reset_index(drop=True)


def notice(changes: pd.DataFrame) -> pd.DataFrame:
    """The change list with bilingual headers (:data:`NOTICE_HEADERS`), empty columns left out.

    Examples
    --------
    >>> changes = pd.DataFrame([["1号楼", None, None, 30, "A", "甲网格", "B", "乙网格"]],
    ...     columns=list(CHANGE_COLUMNS))
    >>> list(notice(changes).columns)
    ['楼栋 building', '户数 households', '原网格编码 old grid code', '原网格 old grid', '新网格编码 new grid code', '新网格 new grid']
    """
    empty = [c for c in ("name", "address") if c in changes and changes[c].isna().all()]
    return changes.drop(columns=empty).rename(columns=NOTICE_HEADERS)


def write_notice(changes: pd.DataFrame, path: Path) -> None:
    """Write the posted change list: ``.xlsx`` (codes as text, frozen header) or ``.csv``.

    CSV is written in ``utf-8-sig``, which Excel opens as Chinese text.
    """
    write_table(notice(changes), path, sheet="调整公示")
