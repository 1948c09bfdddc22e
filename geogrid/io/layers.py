"""Read one vector layer with the checks every reader shares (format, geometry, CRS sanity)."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyogrio.errors import CRSError as GdalCRSError
from pyogrio.errors import DataLayerError, DataSourceError

from geogrid import crs as gcrs
from geogrid.errors import CRSError, PlanFileError
from geogrid.io.dbf import dbf_encoding
from geogrid.polygons import REPAIR_HINT, polygon_problem
from geogrid.reproject import frame_to_plan, resolve_crs

__all__ = [
    "preferred_layer",
    "read_areas",
    "read_layer",
]

# lon/lat WGS84 by definition (GeoJSON: RFC 7946; KML: OGC 07-147), whatever was drawn
_IMPLICIT_LONLAT = (".geojson", ".json", ".kml", ".kmz")
_LONLAT = "EPSG:4326"


def read_layer(
    path: str | os.PathLike[str],
    *,
    layer: str | None = None,
    crs: Any = None,
    force_crs: bool = False,
) -> gpd.GeoDataFrame:
    """Read one vector layer with the same checks as plans (format, geometry, CRS sanity).

    Parameters
    ----------
    path
        Any vector file GDAL reads (GeoPackage, GeoJSON, Shapefile, GeoParquet …).
    layer
        Layer of a multi-layer file.
    crs
        What the coordinates are (``"wgs84"``, ``"cgcs2000"``, ``"gcj02"``, ``"bd09"``,
        ``"EPSG:4547"`` …): it fills a missing CRS, says what a GeoJSON's lon/lat really are,
        and ``gcj02`` / ``bd09`` say it of a file labelled WGS84/CGCS2000; a conflict with
        another declared CRS is an error (see :func:`geogrid.reproject.resolve_crs`).
    force_crs
        Let ``crs`` win over the file's declaration.

    Returns
    -------
    geopandas.GeoDataFrame
        In the CRS its coordinates are in; GCJ-02 / BD-09 converted to EPSG:4490, every
        vertex (edges densified first, see :func:`geogrid.reproject.geoms_to_plan`).

    Raises
    ------
    PlanFileError
        When the file is missing or unreadable.
    CRSError
        When the CRS is unknown, missing, conflicts with ``crs``, or does not fit the
        coordinates.
    """
    path = Path(path)
    return _check_crs(_read_vector(path, layer), path, crs, force=force_crs)


def preferred_layer(
    path: str | os.PathLike[str], layer: str | None, preferred: tuple[str, ...]
) -> str | None:
    """``layer``, else the first ``preferred`` layer of a multi-layer file, else its first.

    ``None`` for a one-layer file, a table (``.csv``, ``.xlsx``) or a file GDAL cannot list
    (the reader then says what is wrong with it).
    """
    path = Path(path)
    if layer is not None or not path.exists() or path.suffix.lower() in (".csv", ".xlsx", ".xls"):
        return layer
    try:
        names = [str(n) for n, _ in pyogrio.list_layers(path)]
    except Exception:  # not a vector file: the reader says so
        return None
    if len(names) <= 1:
        return None
    return next((n for n in preferred if n in names), names[0])


def _read_vector(path: Path, layer: str | None) -> gpd.GeoDataFrame:
    """The layer as GDAL reads it, in the file's own CRS; errors name the file."""
    if not path.exists():
        raise PlanFileError(f"{path}: no such file")
    try:
        with _quiet_reading():
            frame = pyogrio.read_dataframe(path, layer=layer, encoding=_dbf_text(path))
    except GdalCRSError as exc:
        raise CRSError(_unknown_crs(path, exc)) from exc
    except (DataSourceError, DataLayerError) as exc:
        raise PlanFileError(f"{path.name}: not a readable geo file: {_first_line(exc)}") from exc
    except shapely.errors.GEOSException as exc:
        raise PlanFileError(_unreadable_geometry(path, layer, exc)) from exc
    return _with_geometry(frame, path)


def _dbf_text(path: Path) -> str | None:
    """The encoding of a Shapefile without ``.cpg`` (GBK …, detected); else GDAL's choice."""
    found = dbf_encoding(path) if path.suffix.lower() == ".shp" else None
    return found.encoding if found else None


def read_areas(
    path: str | os.PathLike[str],
    *,
    layer: str | None = None,
    crs: Any = None,
    force_crs: bool = False,
) -> gpd.GeoDataFrame:
    """Read the parent areas to partition (社区 / 村 boundaries), each one usable polygon.

    The checks of :func:`read_layer`, then every feature must be a non-empty polygon with
    finite coordinates that is valid (no self-intersecting "bow-tie"): a broken boundary is
    refused before any work, rather than repaired into an area nobody drew.

    Parameters
    ----------
    path, layer, crs, force_crs
        As in :func:`read_layer`.

    Returns
    -------
    geopandas.GeoDataFrame
        The areas in the CRS of their coordinates (GCJ-02 / BD-09 converted to EPSG:4490).

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
    frame = read_layer(path, layer=layer, crs=crs, force_crs=force_crs)
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


def _with_geometry(frame: Any, path: Path) -> gpd.GeoDataFrame:
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame:
        raise PlanFileError(f"{path.name}: no geometry column (几何列); a plan needs grid polygons")
    return frame


def _check_crs(
    frame: gpd.GeoDataFrame, path: Path, crs: Any, *, force: bool = False
) -> gpd.GeoDataFrame:
    """``frame`` in the CRS of its coordinates, checked; GCJ-02 / BD-09 converted to EPSG:4490."""
    resolved = resolve_crs(
        frame.crs,
        crs,
        implicit=path.suffix.lower() in _IMPLICIT_LONLAT,
        force=force,
        where=path.name,
    )
    if isinstance(resolved, str):  # gcj02 / bd09: checked as lon/lat degrees, then converted
        labelled = frame.set_crs(_LONLAT, allow_override=True)
        _raise_crs_problem(labelled, path)
        return frame_to_plan(labelled, resolved)
    if resolved is not None and resolved is not frame.crs and not resolved.equals(frame.crs):
        frame = frame.set_crs(resolved, allow_override=True)
    _raise_crs_problem(frame, path)
    return frame


def _map_columns(
    frame: gpd.GeoDataFrame, columns: Mapping[str, str], path: Path
) -> gpd.GeoDataFrame:
    """``frame`` with the file's columns renamed to the model's (``{"code": "WGBM"}``).

    A column already named as the model's is replaced by the one mapped to it (unless it is
    itself mapped elsewhere); a mapped column the file lacks is an error listing its columns.
    """
    missing = [theirs for theirs in columns.values() if theirs not in frame.columns]
    if missing:
        raise PlanFileError(
            f"{path.name}: no column(s) {', '.join(missing)} to map; "
            f"the file has {', '.join(map(str, frame.columns.drop(frame.geometry.name)))}"
        )
    replaced = [ours for ours, theirs in columns.items() if ours != theirs]
    frame = frame.drop(
        columns=[c for c in replaced if c in frame.columns and c not in columns.values()]
    )
    return frame.rename(columns={theirs: ours for ours, theirs in columns.items()})


def _raise_crs_problem(frame: gpd.GeoDataFrame, path: Path) -> None:
    problem = gcrs.layer_crs_problem(frame)
    if problem:
        raise CRSError(f"{path.name}: {problem}")


def _unknown_crs(path: Path, exc: BaseException) -> str:
    return (
        f"{path.name}: unknown coordinate reference system (坐标系无法识别): {_first_line(exc)}; "
        "fix the CRS definition (for a shapefile, its .prj), or remove it and pass --crs EPSG:4490"
    )


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
