"""GeoPackage geometry blobs, and the SQL functions a GeoPackage's R*Tree triggers call.

A GeoPackage stores each geometry as a small header followed by ISO WKB (OGC 12-128r18,
clause 2.1.3 "GeoPackageBinary")::

    magic 'GP' | version 0 | flags | srs_id (int32) | envelope (0 or 4 doubles) | WKB

``flags`` holds the byte order of the header (bit 0), the envelope kind (bits 1-3; we write
kind 1, ``minx, maxx, miny, maxy``) and the empty-geometry flag (bit 4).

The R*Tree spatial index of a feature table (``rtree_<table>_<column>``) is kept by triggers
that call ``ST_IsEmpty``, ``ST_MinX``, ``ST_MaxX``, ``ST_MinY`` and ``ST_MaxY``; GDAL and
SpatiaLite provide those functions in C, plain :mod:`sqlite3` does not, so
:func:`register_functions` adds Python versions to each connection the store opens.

Examples
--------
>>> from shapely.geometry import box
>>> blob = shape_to_gpkg(box(116.3, 40.0, 116.4, 40.1), srs_id=4490)
>>> blob[:2], gpkg_srs_id(blob), gpkg_envelope(blob)
(b'GP', 4490, (116.3, 116.4, 40.0, 40.1))
>>> gpkg_to_shape(blob).equals(box(116.3, 40.0, 116.4, 40.1))
True
"""

from __future__ import annotations

import math
import sqlite3
import struct
from collections.abc import Callable, Iterable

import shapely
from shapely.geometry.base import BaseGeometry

from geogrid.errors import StoreError

__all__ = [
    "gpkg_envelope",
    "gpkg_is_empty",
    "gpkg_srs_id",
    "gpkg_to_shape",
    "gpkg_wkb",
    "register_functions",
    "shape_to_gpkg",
]

_MAGIC = b"GP"
_HEADER = struct.Struct("<2sBBi")  # magic, version, flags, srs_id (little endian)
_ENVELOPE_SIZES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}  # envelope kind -> bytes
_LITTLE_ENDIAN = 0b0000_0001
_ENVELOPE_XY = 0b0000_0010  # kind 1 in bits 1-3
_EMPTY = 0b0001_0000
_EXTENDED = 0b0010_0000


def shape_to_gpkg(geom: BaseGeometry, srs_id: int) -> bytes:
    """Encode a shapely geometry as a GeoPackage binary blob (2D, little endian).

    Parameters
    ----------
    geom
        Any 2D shapely geometry; an empty one gets the empty flag and no envelope.
    srs_id
        The ``gpkg_spatial_ref_sys.srs_id`` of the coordinates, e.g. 4490.
    """
    wkb = shapely.to_wkb(geom, byte_order=1, flavor="iso", output_dimension=2)
    if geom.is_empty:
        return _HEADER.pack(_MAGIC, 0, _LITTLE_ENDIAN | _EMPTY, srs_id) + wkb
    minx, miny, maxx, maxy = geom.bounds
    header = _HEADER.pack(_MAGIC, 0, _LITTLE_ENDIAN | _ENVELOPE_XY, srs_id)
    return header + struct.pack("<4d", minx, maxx, miny, maxy) + wkb


def gpkg_to_shape(blob: bytes) -> BaseGeometry:
    """Decode a GeoPackage binary blob into a shapely geometry."""
    flags = _flags(blob)
    offset = _HEADER.size + _ENVELOPE_SIZES[(flags >> 1) & 0b111]
    return shapely.from_wkb(bytes(blob[offset:]))


def gpkg_wkb(blobs: Iterable[bytes | None]) -> list[bytes | None]:
    """The WKB inside each GeoPackage blob (``None`` kept), for one vectorised decode.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> blobs = [shape_to_gpkg(box(0, 0, 1, 1), 4490), None]
    >>> [None if g is None else g.bounds for g in shapely.from_wkb(gpkg_wkb(blobs))]
    [(0.0, 0.0, 1.0, 1.0), None]
    """
    sizes = _ENVELOPE_SIZES
    out: list[bytes | None] = []
    for blob in blobs:
        if blob is None:
            out.append(None)
            continue
        out.append(bytes(blob[_HEADER.size + sizes[(_flags(blob) >> 1) & 0b111] :]))
    return out


def gpkg_srs_id(blob: bytes) -> int:
    """The spatial reference id written in the blob's header."""
    flags = _flags(blob)
    order = "<" if flags & _LITTLE_ENDIAN else ">"
    (srs_id,) = struct.unpack_from(f"{order}i", blob, 4)
    return int(srs_id)


def gpkg_is_empty(blob: bytes) -> bool:
    """Whether the blob's header flags an empty geometry (writers must set the flag)."""
    return bool(_flags(blob) & _EMPTY)


def gpkg_envelope(blob: bytes) -> tuple[float, float, float, float] | None:
    """``(minx, maxx, miny, maxy)`` of the blob (from its header when present), ``None`` if empty."""
    flags = _flags(blob)
    kind = (flags >> 1) & 0b111
    if kind:
        order = "<" if flags & _LITTLE_ENDIAN else ">"
        minx, maxx, miny, maxy = struct.unpack_from(f"{order}4d", blob, _HEADER.size)
        if not any(math.isnan(v) for v in (minx, maxx, miny, maxy)):
            return (minx, maxx, miny, maxy)
    geom = gpkg_to_shape(blob)
    if geom.is_empty:
        return None
    minx, miny, maxx, maxy = geom.bounds
    return (minx, maxx, miny, maxy)


def register_functions(dbapi_connection: sqlite3.Connection) -> None:
    """Add ``ST_IsEmpty`` and ``ST_MinX/MaxX/MinY/MaxY`` to a :mod:`sqlite3` connection.

    These are the functions the GeoPackage R*Tree triggers call; with them registered,
    inserting into a feature table keeps its ``rtree_<table>_<column>`` index current,
    whether the file was made by geogrid or by GDAL/QGIS.
    """
    functions = {
        "ST_IsEmpty": _sql_is_empty,
        "ST_MinX": _sql_bound(0),
        "ST_MaxX": _sql_bound(1),
        "ST_MinY": _sql_bound(2),
        "ST_MaxY": _sql_bound(3),
    }
    for name, function in functions.items():
        dbapi_connection.create_function(name, 1, function, deterministic=True)


def _flags(blob: bytes) -> int:
    if blob is None or len(blob) < _HEADER.size or bytes(blob[:2]) != _MAGIC:
        raise StoreError(
            "a geometry is not a GeoPackage binary blob (no 'GP' header); the file was "
            "written by a tool that does not follow the GeoPackage standard: re-export it "
            "with GDAL/QGIS"
        )
    flags = blob[3]
    if flags & _EXTENDED:
        raise StoreError(
            "a geometry uses the extended GeoPackage binary type, which geogrid cannot "
            "read: convert the layer with ogr2ogr to standard MultiPolygons"
        )
    return int(flags)


def _sql_is_empty(blob: bytes | None) -> int | None:
    if blob is None:
        return None
    return int(gpkg_is_empty(blob))


def _sql_bound(index: int) -> Callable[[bytes | None], float | None]:
    offset = _HEADER.size + 8 * index
    read = struct.Struct("<d").unpack_from

    def bound(blob: bytes | None) -> float | None:
        if blob is None:
            return None
        if blob[:2] == _MAGIC and blob[3] & 0b1110 and blob[3] & _LITTLE_ENDIAN:
            (value,) = read(blob, offset)  # fast path: envelope in a little-endian header
            if value == value:  # not NaN
                return float(value)
        envelope = gpkg_envelope(blob)
        return None if envelope is None else envelope[index]

    return bound
