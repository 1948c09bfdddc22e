"""Read and write grid plans and household files.

Plan files keep the three tables of a :class:`~geogrid.plan.GridPlan` in every format:

=================  ==========================================================================
GeoPackage         layers ``grids`` and ``units`` (MultiPolygon, EPSG:4490), ``staff`` (no
                   geometry) and ``plan`` (key/value metadata: name, levels, attribution)
GeoJSON            RFC 7946 FeatureCollection, lon/lat with 7 decimals; each feature has a
                   ``layer`` property (``grids`` / ``units``); staff and plan metadata are the
                   foreign members ``staff`` and ``geogrid``
GeoParquet         one table with a ``layer`` column (``grids`` / ``units``); staff and plan
                   metadata in the file's key/value metadata under ``geogrid``
Shapefile          ``NAME.shp`` (grids, short column names), ``NAME_units.shp``,
                   ``NAME_staff.csv`` and ``NAME.geogrid.json`` (metadata) side by side
=================  ==========================================================================

A file without geogrid's metadata (e.g. a layer someone drew in QGIS) is read as a grids
layer, with ``columns`` mapping the model's names to the file's own. Writes go to a temporary
file first and replace the target only when complete, so a failed write leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
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
from geogrid.plan import PLAN_CRS, STAFF_COLUMNS, GridPlan
from geogrid.polygons import REPAIR_HINT, polygon_problem

__all__ = [
    "DEFAULT_LEVEL_NAMES",
    "FORMATS",
    "POINT_FORMATS",
    "POINT_OUTPUT_FORMATS",
    "plan_format",
    "read_areas",
    "read_households",
    "read_layer",
    "read_plan",
    "read_points",
    "write_plan",
    "write_points",
]

FORMATS = {
    ".gpkg": "gpkg",
    ".geojson": "geojson",
    ".json": "geojson",
    ".parquet": "parquet",
    ".geoparquet": "parquet",
    ".shp": "shapefile",
}
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
#: Suffixes :func:`read_points` reads: a CSV table, or a vector file.
POINT_FORMATS = (".csv", ".gpkg", ".geojson", ".json", ".parquet", ".shp")
#: Suffix -> format :func:`write_points` writes (``csv``, ``parquet`` or a GDAL driver).
POINT_OUTPUT_FORMATS = {
    ".csv": "csv",
    ".gpkg": "GPKG",
    ".geojson": "GeoJSON",
    ".parquet": "parquet",
}
_CSV_ENCODINGS = ("utf-8-sig", "gb18030")  # Excel in China saves GBK
_META_KEY = "geogrid"
_FORMAT_VERSION = 1
_META_FIELDS = "name, levels, attribution and version"


def plan_format(path: str | os.PathLike[str]) -> str:
    """Name of the plan format for ``path`` from its suffix.

    Examples
    --------
    >>> plan_format("plan.gpkg"), plan_format("grids.geojson")
    ('gpkg', 'geojson')
    """
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise PlanFileError(
            f"{Path(path).name}: unknown plan format {suffix or '(no suffix)'!r}; "
            f"use one of {', '.join(sorted(FORMATS))}"
        )
    return FORMATS[suffix]


# --------------------------------------------------------------------------- reading plans


def read_plan(
    path: str | os.PathLike[str],
    *,
    columns: Mapping[str, str] | None = None,
    layer: str | None = None,
    levels: list[str] | None = None,
    name: str | None = None,
    crs: Any = None,
) -> GridPlan:
    """Read a plan file written by geogrid, or import someone else's grids layer.

    Parameters
    ----------
    path
        A ``.gpkg``, ``.geojson``/``.json``, ``.parquet`` or ``.shp`` file.
    columns
        For foreign files: the model's column names mapped to the file's, e.g.
        ``{"code": "WGBM", "name": "WGMC", "parent_code": "SQBM", "households": "HS"}``.
    layer
        Layer to read from a multi-layer foreign file (default: ``grids`` or the only layer).
    levels
        Level names, top first, when the file does not carry them.
    name
        Plan name when the file does not carry one (default: the file name).
    crs
        CRS to assume when the file has none (e.g. ``"EPSG:4490"``); never overrides one.

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
        When the CRS is missing, unknown (also a GeoJSON ``crs`` member) or does not fit the
        coordinates, or a coordinate is not a finite number.
    """
    path = Path(path)
    kind = plan_format(path)
    if not path.exists():
        raise PlanFileError(f"{path}: no such file")
    reader = {
        "gpkg": _read_gpkg,
        "geojson": _read_geojson,
        "parquet": _read_parquet,
        "shapefile": _read_shapefile,
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
    grids = _prepare_layer(grids, path, crs, columns)
    units = _prepare_layer(units, path, crs, None) if units is not None and len(units) else None
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


def read_layer(
    path: str | os.PathLike[str], *, layer: str | None = None, crs: Any = None
) -> gpd.GeoDataFrame:
    """Read one vector layer with the same checks as plans (format, geometry, CRS sanity).

    The result keeps the file's own CRS (after ``crs`` fills a missing one).
    """
    path = Path(path)
    if not path.exists():
        raise PlanFileError(f"{path}: no such file")
    try:
        with _quiet_reading():
            frame = pyogrio.read_dataframe(path, layer=layer)
    except GdalCRSError as exc:
        raise CRSError(_unknown_crs(path, exc)) from exc
    except (DataSourceError, DataLayerError) as exc:
        raise PlanFileError(f"{path.name}: not a readable geo file: {_first_line(exc)}") from exc
    except shapely.errors.GEOSException as exc:
        raise PlanFileError(_unreadable_geometry(path, layer, exc)) from exc
    return _check_crs(_with_geometry(frame, path), path, crs)


def read_areas(
    path: str | os.PathLike[str], *, layer: str | None = None, crs: Any = None
) -> gpd.GeoDataFrame:
    """Read the parent areas to partition (社区 / 村 boundaries), each one usable polygon.

    The checks of :func:`read_layer`, then every feature must be a non-empty polygon with
    finite coordinates that is valid (no self-intersecting "bow-tie"): a broken boundary is
    refused before any work, rather than repaired into an area nobody drew.

    Parameters
    ----------
    path, layer, crs
        As in :func:`read_layer`.

    Returns
    -------
    geopandas.GeoDataFrame
        The areas in the file's own CRS.

    Raises
    ------
    PlanFileError
        Naming the first feature (by its ``code`` when it has one) that is no usable polygon,
        and what is wrong with it.

    Examples
    --------
    >>> import tempfile
    >>> from shapely.geometry import Polygon
    >>> folder = tempfile.TemporaryDirectory()
    >>> bow_tie = Polygon([(116.30, 40.00), (116.31, 40.01), (116.31, 40.00), (116.30, 40.01)])
    >>> areas = gpd.GeoDataFrame({"code": ["110108001"]}, geometry=[bow_tie], crs=4490)
    >>> areas.to_file(Path(folder.name) / "area.gpkg", engine="pyogrio")
    >>> read_areas(Path(folder.name) / "area.gpkg")
    Traceback (most recent call last):
    ...
    geogrid.errors.PlanFileError: area.gpkg: feature 1 (code 110108001) is not a valid polygon: Self-intersection at 116.30500, 40.00500; repair it (QGIS: Vector › Geometry Tools › Fix Geometries) and try again
    >>> folder.cleanup()
    """
    path = Path(path)
    frame = read_layer(path, layer=layer, crs=crs)
    found = polygon_problem(frame.geometry.to_numpy())
    if found is None:
        return frame
    i, problem = found
    code = frame["code"].iloc[i] if "code" in frame.columns else None
    raise PlanFileError(f"{path.name}: {_feature(i, code)} {problem}; {REPAIR_HINT}")


def _feature(i: int, code: Any = None) -> str:
    """``feature N`` (1-based), with its code when it has one."""
    return f"feature {i + 1}" + ("" if code is None or pd.isna(code) else f" (code {code})")


@contextlib.contextmanager
def _quiet_reading() -> Iterator[None]:
    """Let broken geometries fail with one error, not a warning first (GDAL's, numpy's)."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.filterwarnings("ignore", "Non closed ring detected", RuntimeWarning)
        yield


def _unreadable_geometry(path: Path, layer: str | None, exc: BaseException) -> str:
    """Which feature's geometry GEOS cannot read (e.g. a ring that is not closed), and why."""
    where = "a feature"
    with contextlib.suppress(Exception), _quiet_reading():  # only to name the feature
        meta, _, wkb, fields = pyogrio.raw.read(path, layer=layer)
        parsed = shapely.from_wkb(wkb, on_invalid="ignore")
        broken = np.flatnonzero(pd.notna(wkb) & shapely.is_missing(parsed))
        names = [str(n) for n in meta["fields"]]
        if len(broken):
            i = int(broken[0])
            where = _feature(i, fields[names.index("code")][i] if "code" in names else None)
    return f"{path.name}: {where} has a geometry that cannot be read: {_first_line(exc)}; {REPAIR_HINT}"


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


def _read_shapefile(path: Path, layer: str | None) -> tuple[Any, Any, Any, dict[str, Any]]:
    sidecar = path.with_suffix(".geogrid.json")
    grids = pyogrio.read_dataframe(path, encoding="UTF-8" if sidecar.exists() else None)
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
    frame: gpd.GeoDataFrame, path: Path, crs: Any, columns: Mapping[str, str] | None
) -> gpd.GeoDataFrame:
    frame = _check_crs(_with_geometry(frame, path), path, crs)
    if columns:
        missing = [theirs for theirs in columns.values() if theirs not in frame.columns]
        if missing:
            raise PlanFileError(
                f"{path.name}: no column(s) {', '.join(missing)} to map; "
                f"the file has {', '.join(map(str, frame.columns.drop(frame.geometry.name)))}"
            )
        frame = frame.rename(columns={theirs: ours for ours, theirs in columns.items()})
    if "level" not in frame.columns and "code" in frame.columns:
        frame = frame.assign(level=_infer_levels(frame))
    return frame


def _with_geometry(frame: Any, path: Path) -> gpd.GeoDataFrame:
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame:
        raise PlanFileError(f"{path.name}: no geometry column (几何列); a plan needs grid polygons")
    return frame


def _check_crs(frame: gpd.GeoDataFrame, path: Path, crs: Any) -> gpd.GeoDataFrame:
    if frame.crs is None and crs is not None:
        frame = frame.set_crs(crs)
    problem = gcrs.layer_crs_problem(frame)
    if problem:
        raise CRSError(f"{path.name}: {problem}")
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


def _unknown_crs(path: Path, exc: BaseException) -> str:
    return (
        f"{path.name}: unknown coordinate reference system (坐标系无法识别): {_first_line(exc)}; "
        "fix the CRS definition (for a shapefile, its .prj), or remove it and pass --crs EPSG:4490"
    )


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


# --------------------------------------------------------------------------- writing plans


def write_plan(plan: GridPlan, path: str | os.PathLike[str]) -> Path:
    """Write ``plan`` to ``path`` in the format its suffix names; nothing is left on failure.

    Returns
    -------
    pathlib.Path
        The written file (for a Shapefile, the ``.shp``).
    """
    path = Path(path)
    kind = plan_format(path)
    writer = {
        "gpkg": _write_gpkg,
        "geojson": _write_geojson,
        "parquet": _write_parquet,
        "shapefile": _write_shapefile,
    }[kind]
    path.parent.mkdir(parents=True, exist_ok=True)
    with _staging(path) as staged:
        writer(plan, staged)
    return path


@contextlib.contextmanager
def _staging(path: Path) -> Iterator[Path]:
    """Yield a path in a temporary folder beside ``path``; move every file made there into place."""
    folder = Path(tempfile.mkdtemp(prefix=f".{path.stem}-", dir=path.parent))
    try:
        yield folder / path.name
        for made in sorted(folder.iterdir()):
            os.replace(made, path.parent / made.name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _meta(plan: GridPlan) -> dict[str, Any]:
    return {
        "format": _FORMAT_VERSION,
        "name": plan.name,
        "levels": plan.levels,
        "attribution": plan.attribution,
        "version": plan.version,
    }


def _write_gpkg(plan: GridPlan, path: Path) -> None:
    meta = pd.DataFrame(
        [(k, json.dumps(v, ensure_ascii=False)) for k, v in _meta(plan).items()],
        columns=["key", "value"],
    )
    pyogrio.write_dataframe(plan.grids, path, layer="grids", geometry_type="MultiPolygon")
    pyogrio.write_dataframe(plan.units, path, layer="units", geometry_type="MultiPolygon")
    pyogrio.write_dataframe(plan.staff, path, layer="staff")
    pyogrio.write_dataframe(meta, path, layer="plan")


def _write_geojson(plan: GridPlan, path: Path) -> None:
    features = _features(plan.grids, "grids", "code") + _features(plan.units, "units", "unit_id")
    collection = {
        "type": "FeatureCollection",
        _META_KEY: _meta(plan),
        "staff": _records(plan.staff),
        "features": features,
    }
    path.write_text(
        json.dumps(collection, ensure_ascii=False, separators=(",", ":")), encoding="utf-8"
    )


def _features(frame: gpd.GeoDataFrame, layer: str, id_column: str) -> list[dict[str, Any]]:
    geoms = shapely.transform(frame.geometry.to_numpy(), lambda xy: np.round(xy, GEOJSON_DECIMALS))
    return [
        {
            "type": "Feature",
            "id": props[id_column],
            "properties": {"layer": layer, **props},
            "geometry": json.loads(shapely.to_geojson(geom)) if not geom.is_empty else None,
        }
        for props, geom in zip(
            _records(frame.drop(columns=frame.geometry.name)), geoms, strict=True
        )
    ]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain JSON-ready dicts (pandas NA → None, numpy scalars → Python)."""
    plain = frame.astype(object).where(frame.notna(), None)
    return [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
        for row in plain.to_dict("records")
    ]


def _write_parquet(plan: GridPlan, path: Path) -> None:
    # one table: grid rows and unit rows together (shared columns: name, households), told
    # apart by `layer`
    table = pd.concat(
        [plan.grids.assign(layer="grids"), plan.units.assign(layer="units")],
        ignore_index=True,
        sort=False,
    )
    gpd.GeoDataFrame(table, geometry="geometry", crs=PLAN_CRS).to_parquet(path, index=False)
    # GeoParquet's own `geo` metadata comes from geopandas; add ours beside it
    arrow = pq.read_table(path)
    meta = {**_meta(plan), "staff": _records(plan.staff)}
    schema_meta = {
        **(arrow.schema.metadata or {}),
        _META_KEY.encode(): json.dumps(meta, ensure_ascii=False).encode(),
    }
    pq.write_table(arrow.replace_schema_metadata(schema_meta), path)


def _write_shapefile(plan: GridPlan, path: Path) -> None:
    pyogrio.write_dataframe(
        plan.grids.rename(columns=_SHP_NAMES), path, geometry_type="MultiPolygon", encoding="UTF-8"
    )
    if len(plan.units):
        units_path = path.with_name(f"{path.stem}_units.shp")
        pyogrio.write_dataframe(
            plan.units.rename(columns=_SHP_NAMES),
            units_path,
            geometry_type="MultiPolygon",
            encoding="UTF-8",
        )
    plan.staff.to_csv(path.with_name(f"{path.stem}_staff.csv"), index=False)
    path.with_suffix(".geogrid.json").write_text(
        json.dumps(_meta(plan), ensure_ascii=False), encoding="utf-8"
    )


# --------------------------------------------------------------------------- households


def read_households(
    path: str | os.PathLike[str],
    *,
    count_column: str | None = None,
    crs: Any = None,
    layer: str | None = None,
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
        code. For tables it defaults to WGS84; for vector files it fills a missing CRS, and for
        point files ``"gcj02"``/``"bd09"`` says the file's lon/lat are really in that system.

    Returns
    -------
    geopandas.GeoDataFrame
        The file's columns plus an integer ``households`` column.
    """
    path = Path(path)
    if path.suffix.lower() in (".csv", ".xlsx", ".xls"):
        frame = _households_table(path, crs)
    else:
        special = isinstance(crs, str) and crs.lower() in ("gcj02", "bd09")
        frame = read_layer(path, layer=layer, crs=None if special else crs)
        if special:
            frame = _shift_points(frame, crs, path)
        frame = frame.to_crs(PLAN_CRS)
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


def _shift_points(frame: gpd.GeoDataFrame, crs: str, path: Path) -> gpd.GeoDataFrame:
    if not (frame.geom_type == "Point").all():
        raise CRSError(f"{path.name}: {crs} applies to points only; this file has other geometries")
    lon, lat = frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy()
    _raise_first_problem(lon, lat, path)
    x, y = gcrs.to_plan_lonlat(lon, lat, crs)
    return gpd.GeoDataFrame(
        frame.drop(columns=frame.geometry.name), geometry=gpd.points_from_xy(x, y), crs=PLAN_CRS
    )


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


# --------------------------------------------------------------------------- points


def read_points(
    path: str | os.PathLike[str], *, layer: str | None = None, crs: Any = None
) -> pd.DataFrame:
    r"""Read points to locate: a CSV as text columns (kept as written), or a vector file.

    Parameters
    ----------
    path
        A ``.csv`` table (UTF-8, or GB18030 as Excel in China saves it) or a vector file
        (``.gpkg``, ``.geojson``/``.json``, ``.parquet``, ``.shp``); see :data:`POINT_FORMATS`.
    layer
        Layer of a multi-layer vector file.
    crs
        The system of the coordinates (``"wgs84"``, ``"gcj02"``, ``"bd09"``, ``"EPSG:…"``).
        A vector file without a CRS is labelled with it (``"EPSG:4326"`` for ``"gcj02"`` and
        ``"bd09"``, whose lon/lat are shifted later); it is not used for a CSV.

    Returns
    -------
    pandas.DataFrame
        For a CSV, every column as text with empty cells as ``""``, so nothing is lost before
        the coordinates are checked; for a vector file, a GeoDataFrame in the file's own CRS.

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
    path = Path(path)
    if not path.exists():
        raise PlanFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in POINT_FORMATS:
        raise PlanFileError(
            f"{path.name}: give points as {', '.join(POINT_FORMATS)} (format from the suffix)"
        )
    if suffix != ".csv":
        # crs names the system of the coordinates; for a file without one, it also labels it
        parsed = gcrs.parse_crs(crs) if crs is not None else None
        return read_layer(path, layer=layer, crs="EPSG:4326" if isinstance(parsed, str) else parsed)
    for encoding in _CSV_ENCODINGS:
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding)
        except UnicodeDecodeError:
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise PlanFileError(f"{path.name}: cannot read the CSV: {exc}") from exc
    raise PlanFileError(f"{path.name}: not UTF-8 or GB18030 text; save the CSV as UTF-8")


def write_points(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a table of points in the format of ``path``'s suffix; nothing is left on failure.

    Parameters
    ----------
    frame
        The points, e.g. what :func:`geogrid.locate.locate_frame` returns. A plain DataFrame
        (points read from a CSV) can only be written as CSV.
    path
        A ``.csv`` (UTF-8 with a byte-order mark, which Excel reads), ``.gpkg``, ``.geojson``
        or ``.parquet`` file; see :data:`POINT_OUTPUT_FORMATS`.

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
    if kind != "csv" and not isinstance(frame, gpd.GeoDataFrame):
        raise PlanFileError(
            f"{path.name}: points from a CSV have no geometry to write; use -o located.csv"
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
