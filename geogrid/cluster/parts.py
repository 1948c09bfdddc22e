"""One Parquet part located in Arrow: no shapely point, no pandas frame, no Python string.

A worker locating a part through pandas spends most of its time outside the index: decoding
every WKB point into a shapely object, reading ``x`` / ``y`` back from them, turning each
answer into a Python ``str`` in an object column, and encoding all of it again to write it
(about 3.5 µs per point, of which the index is 0.25). Here the part is read as an Arrow
table; point coordinates come straight from the WKB bytes (21 bytes each: byte order, type,
x, y) with numpy; the answers' code columns are taken from one Arrow array of the plan's codes
(:class:`Texts`) by grid number; and the table is written back with the input's columns
untouched, their pandas and GeoParquet metadata kept and the new columns' added.

The file reads back (``geopandas.read_parquet``) as what :func:`geogrid.locate.locate_frame`
gives for the part. A part this does not cover — no pandas metadata, geometries other than
little-endian 2-d WKB points, a column named like an output column, coordinates as text —
returns ``None`` from :func:`located_table` and is located through pandas instead.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyproj import CRS

from geogrid.crs import CRSLike
from geogrid.locate import LocateResult, Locator, locate_points
from geogrid.locate.result import _OUTSIDE

__all__ = ["Texts", "located_table", "status_counts"]

_STATUS = pa.array(["inside", "outside", "invalid"], type=pa.large_string())
_POINT_WKB = 21  # byte order (1), type (4), x (8), y (8)
_CRS84 = "OGC:CRS84"  # GeoParquet: a column with no "crs" key is in it


@dataclasses.dataclass(frozen=True)
class Texts:
    """A locator's grid codes and each grid's staff (JSON) as Arrow arrays, by grid number."""

    codes: pa.Array
    staff: pa.Array

    @classmethod
    def of(cls, index: Locator, staff: Mapping[str, str]) -> Texts:
        """``staff``: code → the staff as JSON; a grid with none gets ``[]``."""
        codes = index.codes.tolist()
        return cls(
            pa.array(codes, type=pa.large_string()),
            pa.array([staff.get(code, "[]") for code in codes], type=pa.large_string()),
        )


def located_table(
    table: pa.Table,
    index: Locator,
    texts: Texts,
    *,
    crs: CRSLike | None,
    lon: str,
    lat: str,
    staff: bool,
    chunk_size: int,
) -> tuple[pa.Table, LocateResult] | None:
    """``table`` with the columns of :func:`~geogrid.locate.locate_frame` (and ``staff``).

    Returns ``None`` when the part is not one this path covers (see the module docstring).
    """
    meta = table.schema.metadata or {}
    if b"pandas" not in meta:
        return None
    pandas_meta = json.loads(meta[b"pandas"])
    names = _new_names(index.levels, staff)
    if set(names) & set(table.column_names):
        return None
    found = _coordinates(table, meta, crs, lon, lat)
    if found is None:
        return None
    x, y, source_crs = found
    result = locate_points(index, x, y, source_crs, chunk_size=chunk_size)
    finest = result.grid[-1] if result.finest is None else result.finest
    columns = [_take(texts.codes, row) for row in result.grid]
    columns += [_take(texts.codes, finest), pc.take(_STATUS, pa.array(result.status_code))]
    columns.append(_take(texts.codes, result.nearest))
    distance = result.distance_m
    columns.append(pa.array(distance, mask=(result.status_code != _OUTSIDE) | np.isnan(distance)))
    if staff:
        columns.append(_take(texts.staff, finest))
    for name, column in zip(names, columns, strict=True):
        table = table.append_column(name, column)
    pandas_meta["columns"] = pandas_meta["columns"] + _column_meta(tuple(names))
    meta = {**meta, b"pandas": json.dumps(pandas_meta).encode()}
    return table.replace_schema_metadata(meta), result


def status_counts(result: LocateResult) -> dict[str, int]:
    """Points by status."""
    counts = np.bincount(result.status_code, minlength=3)
    return {"inside": int(counts[0]), "outside": int(counts[1]), "invalid": int(counts[2])}


def _new_names(levels: tuple[int, ...], staff: bool) -> list[str]:
    names = [f"level{level}_code" for level in levels]
    names += ["grid_code", "status", "nearest_code", "distance_m"]
    return names + (["staff"] if staff else [])


def _take(texts: pa.Array, numbers: np.ndarray) -> pa.Array:
    """``texts[numbers]``, null where a number is negative (no grid)."""
    return pc.take(texts, pa.array(numbers, mask=numbers < 0))


@functools.cache
def _column_meta(names: tuple[str, ...]) -> list[dict[str, Any]]:
    """The pandas metadata ``locate_frame``'s columns get when pandas writes them."""
    text = pd.array(["x"], dtype="string")  # codes and staff: pandas' "string"
    sample = {name: text for name in names}
    sample["status"] = np.array(["inside"], dtype=object).astype(str)
    sample["distance_m"] = np.array([0.0])
    frame = pd.DataFrame(sample)[list(names)]
    schema = pa.Schema.from_pandas(frame, preserve_index=False)
    return list(schema.pandas_metadata["columns"])


def _coordinates(
    table: pa.Table, meta: Mapping[bytes, bytes], crs: CRSLike | None, lon: str, lat: str
) -> tuple[np.ndarray, np.ndarray, CRSLike] | None:
    """x, y (NaN where missing) and their CRS, as :func:`~geogrid.locate.point_coordinates`."""
    if b"geo" in meta:
        geo = json.loads(meta[b"geo"])
        column = geo.get("primary_column")
        info = geo.get("columns", {}).get(column, {})
        if info.get("encoding", "").upper() != "WKB" or column not in table.column_names:
            return None
        xy = _wkb_points(table[column])
        if xy is None:
            return None
        if crs is None:
            given = info.get("crs", _CRS84)
            crs = "wgs84" if given is None else _crs(json.dumps(given))
        return xy[0], xy[1], crs
    if lon not in table.column_names or lat not in table.column_names:
        return None  # pandas names what is missing
    x, y = _numbers(table[lon]), _numbers(table[lat])
    if x is None or y is None:
        return None
    return x, y, crs if crs is not None else "wgs84"


@functools.lru_cache(maxsize=16)
def _crs(projjson: str) -> CRS:
    """The CRS of a GeoParquet column (as geopandas reads it), parsed once per process."""
    return CRS.from_user_input(json.loads(projjson))


def _numbers(column: pa.ChunkedArray) -> np.ndarray | None:
    """A numeric column as float64 with NaN for nulls; ``None`` for any other type."""
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        return None
    return np.asarray(column.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=float)


def _wkb_points(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray] | None:
    """The x and y of a WKB column of little-endian 2-d points (NaN for nulls), or ``None``."""
    xs, ys = [], []
    for chunk in column.chunks:
        if isinstance(chunk, pa.ExtensionArray):
            chunk = chunk.storage
        if not (pa.types.is_binary(chunk.type) or pa.types.is_large_binary(chunk.type)):
            return None
        n = len(chunk)
        width = np.int64 if pa.types.is_large_binary(chunk.type) else np.int32
        _, offsets_buffer, data_buffer = chunk.buffers()
        offsets = np.frombuffer(offsets_buffer, dtype=width)[chunk.offset : chunk.offset + n + 1]
        data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer else np.empty(0, np.uint8)
        valid = ~np.asarray(chunk.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        if not (np.diff(offsets)[valid] == _POINT_WKB).all():
            return None  # other geometries, 3-d points, or empty WKB
        # the valid points' bytes follow each other (a null has none): one block, no gather
        block = data[int(offsets[0]) : int(offsets[-1])].reshape(-1, _POINT_WKB)
        head = block[:, :5]  # byte order, then the type as uint32
        if not ((head[:, 0] == 1) & (head[:, 1] == 1) & (head[:, 2:] == 0).all(axis=1)).all():
            return None
        x = np.full(n, np.nan)
        y = np.full(n, np.nan)
        for values, at in ((x, 5), (y, 13)) if block.size else ():
            values[valid] = np.ndarray(
                (block.shape[0],), "<f8", buffer=block, offset=at, strides=(_POINT_WKB,)
            )
        xs.append(x)
        ys.append(y)
    if not xs:
        return np.empty(0), np.empty(0)
    return np.concatenate(xs), np.concatenate(ys)
