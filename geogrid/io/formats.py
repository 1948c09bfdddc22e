"""Plan file formats: suffixes, level names and the names each format uses."""

from __future__ import annotations

import os
import re
from pathlib import Path

from geogrid.errors import PlanFileError

__all__ = [
    "DEFAULT_LEVEL_NAMES",
    "FORMATS",
    "GEOJSON_DECIMALS",
    "READ_ONLY_FORMATS",
    "plan_format",
    "sniff_suffix",
]

FORMATS = {
    ".gpkg": "gpkg",
    ".geojson": "geojson",
    ".json": "geojson",
    ".parquet": "parquet",
    ".geoparquet": "parquet",
    ".shp": "shapefile",
}
READ_ONLY_FORMATS = {
    ".dxf": "dxf",
    ".kml": "kml",
    ".kmz": "kml",
    ".zip": "zip",
}
"""Suffixes read as plans but never written: drawings (DXF, KML/KMZ) and zipped plan files."""
DEFAULT_LEVEL_NAMES = ["社区", "网格", "微网格", "楼栋", "单元", "院落"]
GEOJSON_DECIMALS = 7
_SHP_NAMES = {
    "parent_code": "parent",
    "households": "househlds",
    "residents": "residents",
    "key_persons": "key_person",
    "valid_from": "valid_from",
    "grid_code": "grid_code",
}
_META_KEY = "geogrid"
_FORMAT_VERSION = 1
_META_FIELDS = "name, levels, attribution and version"


def plan_format(path: str | os.PathLike[str], *, reading: bool = False) -> str:
    """Name of the plan format for ``path`` from its suffix.

    With ``reading``, also the formats geogrid reads but does not write
    (:data:`READ_ONLY_FORMATS`).

    Examples
    --------
    >>> plan_format("plan.gpkg"), plan_format("grids.geojson"), plan_format("网格.dxf", reading=True)
    ('gpkg', 'geojson', 'dxf')
    >>> plan_format("网格.kmz")
    Traceback (most recent call last):
    ...
    geogrid.errors.PlanFileError: 网格.kmz: geogrid reads .kmz files as plans but does not write them; write the plan as one of .geojson, .geoparquet, .gpkg, .json, .parquet, .shp
    """
    suffix = Path(path).suffix.lower()
    if reading and suffix in READ_ONLY_FORMATS:
        return READ_ONLY_FORMATS[suffix]
    if suffix in READ_ONLY_FORMATS:
        raise PlanFileError(
            f"{Path(path).name}: geogrid reads {suffix} files as plans but does not write them; "
            f"write the plan as one of {', '.join(sorted(FORMATS))}"
        )
    if suffix not in FORMATS:
        known = sorted(FORMATS) + (sorted(READ_ONLY_FORMATS) if reading else [])
        raise PlanFileError(
            f"{Path(path).name}: unknown plan format {suffix or '(no suffix)'!r}; "
            f"use one of {', '.join(known)}"
        )
    return FORMATS[suffix]


_MAGIC = (
    (b"SQLite format 3\x00", ".gpkg"),
    (b"PAR1", ".parquet"),
    (b"PK\x03\x04", ".zip"),  # a zipped Shapefile, a KMZ
    (b"PK\x05\x06", ".zip"),  # an empty zip: the reader says what is missing
    (b"AutoCAD Binary DXF", ".dxf"),
    (b"{", ".geojson"),
)
_DXF_TEXT = re.compile(rb"\A(?:999\r?\n[^\n]*\n\s*)?0\r?\n\s*SECTION\r?\n")
_KML = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?kml[\s>]")


def sniff_suffix(data: bytes) -> str | None:
    r"""The plan file suffix that the bytes ``data`` begin like, or ``None``.

    For files that arrive without a trustworthy name (uploads): GeoPackage, GeoParquet, zip
    (a zipped Shapefile or a KMZ), DXF (text or binary), KML and GeoJSON are told apart by
    their first bytes; a byte order mark and leading blanks are skipped.

    Examples
    --------
    >>> sniff_suffix(b"  0\nSECTION\n  2\nHEADER\n"), sniff_suffix(b"PK\x03\x04...")
    ('.dxf', '.zip')
    >>> sniff_suffix(b'\xef\xbb\xbf<?xml version="1.0"?>\n<kml xmlns="http://www.opengis.net/kml/2.2">')
    '.kml'
    >>> sniff_suffix(b"<html>") is None
    True
    """
    head = data[:4096].removeprefix(b"\xef\xbb\xbf").lstrip()
    for magic, suffix in _MAGIC:
        if head.startswith(magic):
            return suffix
    if _DXF_TEXT.match(head):
        return ".dxf"
    if head.startswith(b"<") and _KML.search(head):
        return ".kml"
    return None
