"""Points to locate: read from a CSV or a vector file, written back with their grids."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from geogrid.errors import PlanFileError
from geogrid.io.layers import _IMPLICIT_LONLAT, _LONLAT, _check_crs, _read_vector
from geogrid.io.tables import TABLE_SUFFIXES, read_table, split_sheet, write_table
from geogrid.io.writing import _staging
from geogrid.reproject import resolve_crs

__all__ = [
    "POINT_FORMATS",
    "POINT_OUTPUT_FORMATS",
    "read_points",
    "write_points",
]

#: Suffixes :func:`read_points` reads: a table (CSV, Excel), or a vector file.
POINT_FORMATS = (*TABLE_SUFFIXES, ".gpkg", ".geojson", ".json", ".parquet", ".shp")
#: Suffix -> format :func:`write_points` writes (``csv``, ``parquet`` or a GDAL driver).
POINT_OUTPUT_FORMATS = {
    ".csv": "csv",
    ".xlsx": "xlsx",
    ".gpkg": "GPKG",
    ".geojson": "GeoJSON",
    ".parquet": "parquet",
}
_COORDINATE_HEADERS = ("lon", "lat", "lng", "longitude", "latitude", "经度", "纬度", "x", "y")


def read_points(
    path: str | os.PathLike[str],
    *,
    layer: str | None = None,
    crs: Any = None,
    encoding: str | None = None,
) -> pd.DataFrame:
    r"""Read points to locate: a table as text columns (kept as written), or a vector file.

    Parameters
    ----------
    path
        A table — ``.xlsx`` / ``.xls`` (``FILE:SHEET`` chooses a sheet; the header may sit
        below a title row) or ``.csv`` (UTF-8, GB18030 as Excel in China saves it, or Big5;
        detected) — read by :func:`geogrid.io.tables.read_table`, or a vector file
        (``.gpkg``, ``.geojson``/``.json``, ``.parquet``, ``.shp``); see :data:`POINT_FORMATS`.
    layer
        Layer of a multi-layer vector file; the sheet of a workbook.
    crs
        The system of the coordinates (``"wgs84"``, ``"gcj02"``, ``"bd09"``, ``"EPSG:…"``).
        A vector file without a CRS is labelled with it (``"EPSG:4326"`` for ``"gcj02"`` and
        ``"bd09"``, whose lon/lat are shifted when located); another CRS than the file
        declares is an error (:func:`geogrid.reproject.resolve_crs`); it is not used for a
        table.
    encoding
        A CSV's encoding; default: detected (:func:`geogrid.io.tables.detect_encoding`).

    Returns
    -------
    pandas.DataFrame
        For a table, every column as text with empty cells as ``""``, so nothing is lost
        before the coordinates are checked (``attrs["rows"]``: each row's number in the
        sheet; ``attrs["encoding_note"]``: what a CSV's guessed encoding was, or ``None``);
        for a vector file, a GeoDataFrame in the file's own CRS.

    Raises
    ------
    PlanFileError
        When the file is missing, has another suffix, or cannot be read.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = Path(folder.name) / "points.csv"
    >>> _ = path.write_bytes("地址,lon,lat\n海淀,116.3,39.99\n".encode("gb18030"))
    >>> read_points(path).to_dict("records")
    [{'地址': '海淀', 'lon': '116.3', 'lat': '39.99'}]
    >>> folder.cleanup()
    """
    path, sheet = split_sheet(path)
    if not path.exists():
        raise PlanFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    sheet = sheet or (layer if suffix in TABLE_SUFFIXES else None)
    if suffix not in POINT_FORMATS:
        raise PlanFileError(
            f"{path.name}: give points as {', '.join(POINT_FORMATS)} (format from the suffix)"
        )
    if suffix not in TABLE_SUFFIXES:
        # crs names the system of the coordinates; for a file without one, it also labels it
        frame = _read_vector(path, layer)
        resolved = resolve_crs(frame.crs, crs, implicit=suffix in _IMPLICIT_LONLAT, where=path.name)
        # points from a phone map are labelled lon/lat here and shifted when located
        return _check_crs(frame, path, _LONLAT if isinstance(resolved, str) else resolved)
    table = read_table(path, sheet=sheet, encoding=encoding, expect=_COORDINATE_HEADERS)
    frame = table.frame.reset_index(drop=True)
    frame.attrs["rows"] = table.rows  # the row numbers a planner sees, for messages
    frame.attrs["encoding_note"] = table.encoding_note()  # a guessed encoding, to be said
    return frame


def write_points(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a table of points in the format of ``path``'s suffix; nothing is left on failure.

    Parameters
    ----------
    frame
        The points, e.g. what :func:`geogrid.locate.locate_frame` returns. A plain DataFrame
        (points read from a table) can only be written as CSV or Excel.
    path
        A ``.csv`` (UTF-8 with a byte-order mark, which Excel reads), ``.xlsx`` (codes as
        text: :func:`geogrid.io.tables.write_table`; longitude and latitude columns added
        for points with a geometry), ``.gpkg``, ``.geojson`` or ``.parquet`` file; see
        :data:`POINT_OUTPUT_FORMATS`.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = Path(path)
    kind = POINT_OUTPUT_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise PlanFileError(
            f"{path.name}: write points as {', '.join(POINT_OUTPUT_FORMATS)} "
            "(format from the suffix)"
        )
    if kind == "xlsx":
        return write_table(_with_lonlat(frame), path, sheet="located")
    if kind != "csv" and not isinstance(frame, gpd.GeoDataFrame):
        raise PlanFileError(
            f"{path.name}: points from a table have no geometry to write; use -o located.csv "
            "or located.xlsx"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with _staging(path) as staged:
        if kind == "csv":
            pd.DataFrame(frame).to_csv(staged, index=False, encoding="utf-8-sig")
        elif kind == "parquet":
            frame.to_parquet(staged)
        else:
            frame.to_file(staged, driver=kind, engine="pyogrio")
    return path


def _with_lonlat(frame: pd.DataFrame) -> pd.DataFrame:
    """A table for Excel: a point geometry becomes ``lon`` / ``lat`` columns (if missing)."""
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame:
        return frame
    table = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    points = frame.geometry
    if (points.geom_type == "Point").all() and not {"lon", "lat"} & set(table.columns):
        table = table.assign(lon=points.x.to_numpy(), lat=points.y.to_numpy())
    return table
