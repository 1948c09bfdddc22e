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
from geogrid.io.layers import _first_line, read_layer
from geogrid.plan import PLAN_CRS

__all__ = [
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
        Layer of a multi-layer vector file.
    force_crs
        Let ``crs`` win over the file's declaration.

    Returns
    -------
    geopandas.GeoDataFrame
        The file's columns plus an integer ``households`` column.
    """
    path = Path(path)
    if path.suffix.lower() in (".csv", ".xlsx", ".xls"):
        frame = _households_table(path, crs)
    else:
        frame = read_layer(path, layer=layer, crs=crs, force_crs=force_crs).to_crs(PLAN_CRS)
    return _with_counts(frame, count_column, path)


def _households_table(path: Path, crs: Any) -> gpd.GeoDataFrame:
    try:
        table = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_excel(path)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, OSError) as exc:
        raise PlanFileError(f"{path.name}: cannot read the table ({_first_line(exc)})") from exc
    lon_col = _find_column(table, ("lon", "lng", "longitude", "经度", "x"), path, "longitude")
    lat_col = _find_column(table, ("lat", "latitude", "纬度", "y"), path, "latitude")
    lon = pd.to_numeric(table[lon_col], errors="coerce").to_numpy(float)
    lat = pd.to_numeric(table[lat_col], errors="coerce").to_numpy(float)
    _raise_first_problem(lon, lat, path)
    x, y = gcrs.to_plan_lonlat(lon, lat, crs or "wgs84")
    return gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(x, y), crs=PLAN_CRS)


def _raise_first_problem(lon: np.ndarray, lat: np.ndarray, path: Path) -> None:
    problems = gcrs.coordinate_problems(lon, lat)
    bad = np.flatnonzero(pd.notna(problems))
    if len(bad):
        raise PlanFileError(
            f"{path.name}: row {bad[0] + 1}: {problems[bad[0]]} ({len(bad)} bad rows in all)"
        )


def _find_column(table: pd.DataFrame, names: tuple[str, ...], path: Path, what: str) -> str:
    lookup = {str(c).strip().lower(): c for c in table.columns}
    for name in names:
        if name in lookup:
            return str(lookup[name])
    raise PlanFileError(f"{path.name}: no {what} column; name it one of {', '.join(names)}")


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
        raise PlanFileError(
            f"{path.name}: row {row + 1}: household count {frame[column].iloc[row]!r} is not a whole number ≥ 0"
        )
    return frame.assign(households=counts.astype("int64"))
