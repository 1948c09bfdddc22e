"""Reading plans: geogrid's own plan files in every format, and someone else's grids layer."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio
import pyproj
import shapely
from pyogrio.errors import CRSError as GdalCRSError
from pyogrio.errors import DataLayerError, DataSourceError

from geogrid import crs as gcrs
from geogrid.errors import CRSError, InvalidInputError, PlanFileError
from geogrid.io.archives import DEFAULT_MAX_UNPACKED, unpack_zip
from geogrid.io.dbf import dbf_encoding
from geogrid.io.drawings import read_drawing
from geogrid.io.formats import (
    _FORMAT_VERSION,
    _META_FIELDS,
    _META_KEY,
    _SHP_NAMES,
    DEFAULT_LEVEL_NAMES,
    plan_format,
)
from geogrid.io.layers import (
    _check_crs,
    _feature,
    _first_line,
    _map_columns,
    _quiet_reading,
    _unknown_crs,
    _unreadable_geometry,
    _with_geometry,
)
from geogrid.io.rosters import staff_from_attributes
from geogrid.plan import STAFF_COLUMNS, GridPlan
from geogrid.polygons import REPAIR_HINT

__all__ = [
    "read_plan",
]


def read_plan(
    path: str | os.PathLike[str],
    *,
    columns: Mapping[str, str] | None = None,
    layer: str | None = None,
    levels: list[str] | None = None,
    name: str | None = None,
    crs: Any = None,
    force_crs: bool = False,
    layer_levels: Mapping[str, int] | None = None,
    max_bytes: int = DEFAULT_MAX_UNPACKED,
    encoding: str | None = None,
) -> GridPlan:
    """Read a plan file written by geogrid, or import someone else's grids layer or drawing.

    Parameters
    ----------
    path
        A ``.gpkg``, ``.geojson``/``.json``, ``.parquet`` or ``.shp`` file; a drawing, ``.dxf``
        (CAD) or ``.kml``/``.kmz`` (phone maps, Google Earth), read by
        :func:`geogrid.io.drawings.read_drawing`; or a ``.zip`` holding one of these (a zipped
        Shapefile), unpacked safely by :func:`geogrid.io.archives.unpack_zip`.
    columns
        For foreign files: the model's column names mapped to the file's, e.g.
        ``{"code": "WGBM", "name": "WGMC", "parent_code": "SQBM", "households": "HS"}``; a
        column of the model's name already in the file is replaced.
    layer
        Layer to read from a multi-layer foreign file (default: ``grids`` or the only layer).
    levels
        Level names, top first, when the file does not carry them.
    name
        Plan name when the file does not carry one (default: the file name).
    crs
        What the coordinates are: fills a missing CRS (e.g. ``"EPSG:4490"``), says what a
        GeoJSON's lon/lat really are (``"gcj02"`` for grids traced on AMap), and ``"gcj02"`` /
        ``"bd09"`` say it of any file labelled WGS84/CGCS2000 lon/lat; GCJ-02 and BD-09 are
        converted vertex by vertex, edges densified first
        (:func:`geogrid.reproject.geoms_to_plan`). Another CRS than the file declares is an
        error naming both (:func:`geogrid.reproject.resolve_crs`).
    force_crs
        Let ``crs`` win over the file's declaration (for a file whose CRS is wrong).
    layer_levels
        For a drawing: DXF layer or KML folder → level (1 = top); default from nesting.
    max_bytes
        Cap of the unpacked size of a ``.zip`` or ``.kmz``.
    encoding
        The text encoding of a foreign Shapefile's attributes (``gbk``, ``big5``, ``utf-8``);
        default: its ``.cpg``, else detected (:func:`geogrid.io.dbf.dbf_encoding`).

    Returns
    -------
    GridPlan
        The normalised plan (EPSG:4490, MultiPolygon).

    Raises
    ------
    PlanFileError
        When the file cannot be read as a plan: unknown format, unreadable or too deeply
        nested JSON, plan metadata or features of the wrong shape, no grids.
    InvalidPlanError
        When the plan's metadata or grid codes break the model's rules (the message names the
        field and what it expects).
    CRSError, CoordinateError
        When the CRS is missing, unknown (also a GeoJSON ``crs`` member), conflicts with
        ``crs`` or does not fit the coordinates, or a coordinate is not a finite number.
    """
    path = Path(path)
    kind = plan_format(path, reading=True)
    if not path.exists():
        raise PlanFileError(f"{path}: no such file")
    if kind == "zip":
        with tempfile.TemporaryDirectory() as folder:
            inner = unpack_zip(path, folder, max_bytes=max_bytes)
            return read_plan(
                inner,
                columns=columns,
                layer=layer,
                levels=levels,
                name=name or path.stem,
                crs=crs,
                force_crs=force_crs,
                layer_levels=layer_levels,
                max_bytes=max_bytes,
                encoding=encoding,
            )
    if kind in ("dxf", "kml"):
        mapping, columns = columns, None  # mapped by the drawing reader, before levels and parents

        def reader(path: Path, layer: str | None) -> tuple[Any, Any, Any, dict[str, Any]]:
            found = read_drawing(
                path, columns=mapping, layer_levels=layer_levels, crs=crs, max_bytes=max_bytes
            )
            return found, None, None, {}

    else:
        reader = {
            "gpkg": _read_gpkg,
            "geojson": _read_geojson,
            "parquet": _read_parquet,
            "shapefile": lambda path, layer: _read_shapefile(path, layer, encoding),
        }[kind]
    try:
        with _quiet_reading():
            grids, staff, units, meta = reader(path, layer)
    except GdalCRSError as exc:
        raise CRSError(_unknown_crs(path, exc)) from exc
    except RecursionError as exc:
        raise PlanFileError(
            f"{path.name}: its JSON is nested too deeply to read (arrays or objects inside each "
            "other hundreds of levels deep); a plan file is a few levels deep — write it again "
            "with geogrid or GDAL"
        ) from exc
    except (DataSourceError, DataLayerError, OSError, ValueError, pa.ArrowException) as exc:
        raise PlanFileError(
            f"{path.name}: cannot read it as a {kind} plan file: {_first_line(exc)}"
        ) from exc
    except shapely.errors.GEOSException as exc:
        raise PlanFileError(_unreadable_geometry(path, None, exc)) from exc
    if len(grids) == 0:
        raise PlanFileError(
            f"{path.name}: no grids (网格) in the file; a plan needs at least one grid polygon"
        )
    grids = _prepare_layer(grids, path, crs, columns, force_crs)
    if staff is None:  # a foreign layer: staff in its attribute columns (网格长 WGZ …)
        grids, staff = staff_from_attributes(grids, path.name)
    units = (
        _prepare_layer(units, path, crs, None, force_crs)
        if units is not None and len(units)
        else None
    )
    try:
        return GridPlan(
            name=_given(meta, "name", name or path.stem),
            levels=_given(meta, "levels", levels or _default_levels(grids)),
            grids=grids,
            staff=staff,
            units=units,
            attribution=meta.get("attribution", ""),
            version=meta.get("version"),
        )
    except InvalidInputError as exc:  # the same error, saying which file
        if str(exc).startswith(f"{path.name}: "):
            raise
        named = copy.copy(exc)
        named.args = (f"{path.name}: {exc}",)
        raise named from exc


def _given(meta: Mapping[str, Any], key: str, otherwise: Any) -> Any:
    """The metadata's ``key`` as given (checked by the model), else ``otherwise``."""
    value = meta.get(key)
    return otherwise if value is None or (isinstance(value, str) and value == "") else value


def _read_gpkg(path: Path, layer: str | None) -> tuple[Any, Any, Any, dict[str, Any]]:
    names = [str(n) for n, _ in pyogrio.list_layers(path)]
    if "plan" not in names:
        return pyogrio.read_dataframe(path, layer=_pick_layer(names, layer, path)), None, None, {}
    meta = _decode_meta(pyogrio.read_dataframe(path, layer="plan"), path)
    staff = pyogrio.read_dataframe(path, layer="staff") if "staff" in names else None
    units = pyogrio.read_dataframe(path, layer="units") if "units" in names else None
    return pyogrio.read_dataframe(path, layer="grids"), staff, units, meta


def _read_geojson(path: Path, layer: str | None) -> tuple[Any, Any, Any, dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PlanFileError(f"{path.name}: not GeoJSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise PlanFileError(f"{path.name}: not a GeoJSON FeatureCollection")
    meta = _plan_meta(data.get(_META_KEY), path, f"the `{_META_KEY}` member")
    features = data.get("features", [])
    if not isinstance(features, list):
        raise PlanFileError(
            f"{path.name}: `features` must be a list of grid features, not {_json_type(features)}"
        )
    frame = _features_to_frame(features, path, _geojson_crs(data.get("crs"), path))
    if not meta:
        return frame, None, None, {}
    staff = _staff_frame(data.get("staff"), path, "the `staff` member")
    grids, units = _split_layers(frame)
    return grids, staff, units, meta


def _read_parquet(path: Path, layer: str | None) -> tuple[Any, Any, Any, dict[str, Any]]:
    raw = (pq.read_schema(path).metadata or {}).get(_META_KEY.encode())
    try:
        frame = gpd.read_parquet(path)
    except ValueError as exc:
        raise PlanFileError(
            f"{path.name}: no geometry column (几何列) in this Parquet file"
        ) from exc
    if raw is None:
        return frame, None, None, {}
    meta = _plan_meta(json.loads(raw), path, f"the `{_META_KEY}` file metadata")
    staff = _staff_frame(meta.pop("staff", None), path, f"`staff` in the `{_META_KEY}` metadata")
    grids, units = _split_layers(frame)
    return grids, staff, units, meta


def _read_shapefile(
    path: Path, layer: str | None, encoding: str | None = None
) -> tuple[Any, Any, Any, dict[str, Any]]:
    sidecar = path.with_suffix(".geogrid.json")
    text = None if sidecar.exists() else dbf_encoding(path, encoding)
    grids = pyogrio.read_dataframe(
        path, encoding="UTF-8" if sidecar.exists() else (text.encoding if text else None)
    )
    if not sidecar.exists():
        return grids, None, None, {}
    back = {short: long for long, short in _SHP_NAMES.items()}
    grids = grids.rename(columns=back)
    meta = _plan_meta(json.loads(sidecar.read_text(encoding="utf-8")), path, sidecar.name)
    units_path = path.with_name(f"{path.stem}_units.shp")
    units = (
        pyogrio.read_dataframe(units_path, encoding="UTF-8").rename(columns=back)
        if units_path.exists()
        else None
    )
    staff_path = path.with_name(f"{path.stem}_staff.csv")
    staff = (
        pd.read_csv(staff_path, dtype=str, keep_default_na=False) if staff_path.exists() else None
    )
    return grids, staff, units, meta


def _pick_layer(names: list[str], layer: str | None, path: Path) -> str:
    if layer is not None:
        if layer not in names:
            raise PlanFileError(f"{path.name}: no layer {layer!r}; layers: {', '.join(names)}")
        return layer
    if "grids" in names or len(names) == 1:
        return "grids" if "grids" in names else names[0]
    raise PlanFileError(
        f"{path.name} has several layers ({', '.join(names)}); choose one with --layer"
    )


def _features_to_frame(features: list[Any], path: Path, crs: Any) -> gpd.GeoDataFrame:
    rows, geoms = [], []
    for i, feature in enumerate(features):
        properties = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(feature, dict) or not isinstance(properties, dict | None):
            what = "the feature" if not isinstance(feature, dict) else "its `properties`"
            value = feature if not isinstance(feature, dict) else properties
            raise PlanFileError(
                f"{path.name}: {_feature(i)}: {what} must be a JSON object, not "
                f"{_json_type(value)}; give each grid's code, name and level as properties"
            )
        try:
            geometry = feature.get("geometry")
            geoms.append(shapely.from_geojson(json.dumps(geometry)) if geometry else None)
        except (shapely.errors.GEOSException, TypeError, ValueError) as exc:
            raise PlanFileError(
                f"{path.name}: {_feature(i, (properties or {}).get('code'))} has a geometry "
                f"that cannot be read: {_first_line(exc)}; {REPAIR_HINT}"
            ) from exc
        rows.append(properties or {})
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs=crs)


def _geojson_crs(member: Any, path: Path) -> Any:
    """The CRS of a GeoJSON file: RFC 7946 lon/lat, or what an old-style ``crs`` member names.

    RFC 7946 GeoJSON is always WGS84 lon/lat, which we treat as CGCS2000 (the same to ~cm).
    GeoJSON of 2008 could name another CRS (``{"type": "name", "properties": {"name":
    "urn:ogc:def:crs:EPSG::4490"}}``): it is honoured when known, refused otherwise.
    """
    if member is None:
        return 4326
    properties = member.get("properties") if isinstance(member, dict) else None
    name = properties.get("name") if isinstance(properties, dict) else None
    if not isinstance(name, str) or member.get("type") != "name":
        raise CRSError(
            f"{path.name}: the `crs` member is not a named CRS (坐标系无法识别); remove it "
            '(GeoJSON is lon/lat) or name one: {"type": "name", "properties": {"name": '
            '"urn:ogc:def:crs:EPSG::4490"}}'
        )
    with contextlib.suppress(CRSError):
        parsed = gcrs.parse_crs(name)
        if isinstance(parsed, pyproj.CRS):
            return parsed
    raise CRSError(
        f"{path.name}: the `crs` member names {name[:80]!r}, an unknown coordinate reference "
        "system (坐标系无法识别); name a known one (e.g. urn:ogc:def:crs:EPSG::4490) or remove "
        "it for lon/lat"
    )


def _plan_meta(raw: Any, path: Path, where: str) -> dict[str, Any]:
    """The plan metadata as a mapping: ``{}`` when absent; refused when not a JSON object."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise PlanFileError(
            f"{path.name}: the plan metadata ({where}) must be a JSON object with "
            f"{_META_FIELDS}, not {_json_type(raw)}"
        )
    version = raw.get("format", _FORMAT_VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise PlanFileError(
            f"{path.name}: the plan metadata ({where}): `format` is {_json_type(version)}; "
            f"expected a whole number, {_FORMAT_VERSION} for this geogrid"
        )
    if version > _FORMAT_VERSION:
        raise PlanFileError(
            f"{path.name}: written in plan file format {version}, newer than this geogrid "
            f"reads ({_FORMAT_VERSION}); upgrade geogrid"
        )
    return dict(raw)


def _staff_frame(records: Any, path: Path, where: str) -> pd.DataFrame:
    if records is None:
        records = []
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise PlanFileError(
            f"{path.name}: {where} must be a list of JSON objects with grid_code, role, name "
            f"and phone, not {_json_type(records)}"
        )
    return pd.DataFrame(records, columns=list(STAFF_COLUMNS))


def _json_type(value: Any) -> str:
    """What ``value`` is, in JSON's words: ``a list``, ``an object``, ``text "x"``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, list):
        return "an empty list" if not value else "a list"
    return "an object" if isinstance(value, dict) else type(value).__name__


def _split_layers(frame: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    layer = frame["layer"] if "layer" in frame else pd.Series("grids", index=frame.index)
    grids = frame[layer == "grids"].reset_index(drop=True)
    units = frame[layer == "units"].reset_index(drop=True)
    return grids, units


def _decode_meta(table: pd.DataFrame, path: Path) -> dict[str, Any]:
    if not {"key", "value"} <= set(table.columns):
        raise PlanFileError(
            f"{path.name}: the `plan` layer (plan metadata) needs the columns key and value, "
            f"one row each for {_META_FIELDS}"
        )
    meta = dict(zip(table["key"], table["value"], strict=True))
    return _plan_meta({key: json.loads(value) for key, value in meta.items()}, path, "layer `plan`")


def _prepare_layer(
    frame: gpd.GeoDataFrame,
    path: Path,
    crs: Any,
    columns: Mapping[str, str] | None,
    force_crs: bool,
) -> gpd.GeoDataFrame:
    frame = _check_crs(_with_geometry(frame, path), path, crs, force=force_crs)
    if columns:
        frame = _map_columns(frame, columns, path)
    if "name" not in frame.columns and "code" in frame.columns:
        frame = frame.assign(name=frame["code"])  # `geogrid import` says so
    if "level" not in frame.columns and "code" in frame.columns:
        frame = frame.assign(level=_infer_levels(frame))
    return frame


def _infer_levels(frame: pd.DataFrame) -> pd.Series:
    if "parent_code" not in frame.columns:
        return pd.Series(1, index=frame.index)
    parent = dict(zip(frame["code"].astype(str), frame["parent_code"], strict=False))

    def depth(code: str) -> int:
        seen, level = {code}, 1
        while (up := parent.get(code)) is not None and not pd.isna(up) and str(up) in parent:
            code = str(up)
            if code in seen:  # a cycle: validation reports it, here just stop
                break
            seen.add(code)
            level += 1
        return level

    return frame["code"].astype(str).map(depth)


def _default_levels(grids: gpd.GeoDataFrame) -> list[str]:
    depth = int(pd.to_numeric(grids["level"], errors="coerce").max()) if len(grids) else 1
    return DEFAULT_LEVEL_NAMES[: max(1, min(depth, len(DEFAULT_LEVEL_NAMES)))]
