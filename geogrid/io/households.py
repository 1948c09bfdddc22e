"""Households: points or building polygons with counts, from vector files or tables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geogrid import crs as gcrs
from geogrid.errors import PlanFileError
from geogrid.io.layers import read_layer
from geogrid.io.tables import TABLE_SUFFIXES, Table, read_table, split_sheet
from geogrid.plan import PLAN_CRS

__all__ = [
    "COUNT_COLUMNS",
    "HOUSEHOLD_ID_COLUMNS",
    "read_households",
]


def read_households(
    path: str | os.PathLike[str],
    *,
    count_column: str | None = None,
    crs: Any = None,
    layer: str | None = None,
    force_crs: bool = False,
) -> gpd.GeoDataFrame:
    """Read households as points or building polygons, in EPSG:4490.

    Parameters
    ----------
    path
        A vector file (points: one per household or with a count column; polygons: buildings
        or estates with a count column), or a ``.csv`` / ``.xlsx`` table with lon/lat columns
        (``lon``/``lng``/``longitude``/``经度`` and ``lat``/``latitude``/``纬度``).
    count_column
        Column with the number of households per row; default ``households`` when present,
        otherwise one household per row (points only).
    crs
        CRS of the coordinates: ``"wgs84"``, ``"cgcs2000"``, ``"gcj02"``, ``"bd09"`` or any EPSG
        code. For tables it defaults to WGS84; for vector files it means what it means for
        :func:`~geogrid.io.read_layer`: it fills a missing CRS, ``"gcj02"`` / ``"bd09"`` say
        the lon/lat of a file labelled WGS84 are really in that system (points and building
        polygons alike, every vertex converted), and another CRS than the file declares is
        an error unless ``force_crs``.
    layer
        Layer of a multi-layer vector file; the sheet of a workbook.
    force_crs
        Let ``crs`` win over the file's declaration.

    Returns
    -------
    geopandas.GeoDataFrame
        The file's columns plus an integer ``households`` column.
    """
    path, sheet = split_sheet(path)
    layer = layer or sheet
    if path.suffix.lower() in TABLE_SUFFIXES:
        frame = _households_table(path, crs, layer, count_column)
    else:
        frame = read_layer(path, layer=layer, crs=crs, force_crs=force_crs).to_crs(PLAN_CRS)
    note = frame.attrs.get("encoding_note")
    counted = _with_counts(frame, count_column, path)
    counted.attrs["encoding_note"] = note  # a CSV's guessed encoding, for the command to say
    return counted


_LON = ("lon", "lng", "longitude", "经度", "x")
_LAT = ("lat", "latitude", "纬度", "y")
#: Headers of a household count column in a table (besides ``--count-column``).
COUNT_COLUMNS = ("households", "户数", "住户数", "户数(户)")
#: Headers of a household number: a register with one row per resident (实有人口台账) has
#: several rows per household, counted once.
HOUSEHOLD_ID_COLUMNS = (
    "household_id",
    "户号",
    "户编号",
    "户籍号",
    "户籍编号",
    "家庭编号",
    "门牌户号",
)


def _households_table(
    path: Path, crs: Any, sheet: str | None, count_column: str | None
) -> gpd.GeoDataFrame:
    table = read_table(path, sheet=sheet, expect=(*_LON, *_LAT, *COUNT_COLUMNS))
    frame = table.frame
    lon_col = _find_column(table, _LON, "longitude")
    lat_col = _find_column(table, _LAT, "latitude")
    lon = pd.to_numeric(frame[lon_col], errors="coerce").to_numpy(float)
    lat = pd.to_numeric(frame[lat_col], errors="coerce").to_numpy(float)
    _raise_first_problem(lon, lat, table)
    x, y = gcrs.to_plan_lonlat(lon, lat, crs or "wgs84")
    points = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(x, y), crs=PLAN_CRS)
    points.attrs["encoding_note"] = table.encoding_note()
    points.attrs["rows"] = table.rows
    return points if count_column else _one_row_per_household(points, table)


def _one_row_per_household(frame: gpd.GeoDataFrame, table: Table) -> gpd.GeoDataFrame:
    """A count column is called ``households``; a register of residents becomes households.

    With a household number column (户号 …) and no count column, the rows of one household
    (its residents) are one household at the first row's place, with a ``residents`` count.
    """
    count = table.column(COUNT_COLUMNS)
    if count is not None:
        return frame.rename(columns={count: "households"}) if count != "households" else frame
    key = table.column(HOUSEHOLD_ID_COLUMNS)
    if key is None:
        return frame
    ids = frame[key].where(frame[key] != "", pd.Series([f"#row{r}" for r in table.rows]))
    residents = ids.map(ids.value_counts())
    first = ~ids.duplicated()
    frame.attrs["rows"] = [r for r, keep in zip(table.rows, first, strict=True) if keep]
    return (
        frame[first.to_numpy()].assign(residents=residents[first].to_numpy()).reset_index(drop=True)
    )


def _raise_first_problem(lon: np.ndarray, lat: np.ndarray, table: Table) -> None:
    problems = gcrs.coordinate_problems(lon, lat)
    bad = np.flatnonzero(pd.notna(problems))
    if len(bad):
        raise PlanFileError(
            f"{table.name}: {table.where(int(bad[0]))}: {problems[bad[0]]} ({len(bad)} bad rows "
            "in all)"
        )


def _find_column(table: Table, names: tuple[str, ...], what: str) -> str:
    found = table.column(names)
    if found is None:
        raise PlanFileError(
            f"{table.name}: no {what} column; name it one of {', '.join(names)} (the header, "
            f"row {table.header_row}, has {', '.join(map(str, table.frame.columns))})"
        )
    return found


def _with_counts(frame: gpd.GeoDataFrame, count_column: str | None, path: Path) -> gpd.GeoDataFrame:
    column = count_column or ("households" if "households" in frame.columns else None)
    if column is None:
        if not (frame.geom_type == "Point").all():
            raise PlanFileError(
                f"{path.name}: polygons need a household count column; pass --count-column NAME"
            )
        return frame.assign(households=1)
    if column not in frame.columns:
        raise PlanFileError(
            f"{path.name}: no column {column!r}; columns: {', '.join(map(str, frame.columns))}"
        )
    counts = pd.to_numeric(frame[column], errors="coerce")
    if counts.isna().any() or (counts < 0).any() or (counts % 1 != 0).any():
        row = int(np.flatnonzero(counts.isna() | (counts < 0) | (counts % 1 != 0))[0])
        rows = frame.attrs.get("rows")  # a table's rows as the sheet numbers them
        raise PlanFileError(
            f"{path.name}: row {rows[row] if rows else row + 1}: household count "
            f"{frame[column].iloc[row]!r} is not a whole number ≥ 0"
        )
    return frame.assign(households=counts.astype("int64"))
