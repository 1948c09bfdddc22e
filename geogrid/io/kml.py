"""Phone-map and Google Earth drawings (KML, KMZ) as grid polygons.

Grid outlines traced on a phone map (AMap 高德, Baidu 百度, 两步路, Ovi …) and exported, or
drawn in Google Earth, arrive as KML or KMZ (a zip holding ``doc.kml``). KML is WGS84
lon/lat by definition, but a phone app writes the coordinates of its own map — GCJ-02 or
BD-09 — into it, so the stated ``--crs gcj02|bd09`` says what they really are and every
vertex is converted (:func:`geogrid.reproject.geoms_to_plan`).

What is read, with the standard library's XML parser (no DTD, no entities: a document
declaring either is refused):

=====================  =====================================================================
``Placemark``          one grid per placemark with a ``Polygon`` (holes kept), a
                       ``MultiGeometry`` of polygons, or a closed ``LineString`` /
                       ``LinearRing`` (an outline traced as a line); points and open lines
                       (markers, tracks) are not grids and are skipped
``name``               the placemark's name → ``name``
``Folder``             the innermost folder's name → ``folder`` (folders → levels with
                       ``--layer-level 社区=1``)
``ExtendedData``       every ``Data`` / ``SimpleData`` field → a column of its own name,
                       mapped like any foreign column with ``-c code=WGBM``
=====================  =====================================================================
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
from shapely.geometry import MultiPolygon, Polygon

from geogrid.errors import PlanFileError
from geogrid.io.archives import DEFAULT_MAX_UNPACKED, read_member

__all__ = [
    "read_kml",
]

_DANGEROUS = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)


def read_kml(path: Path, *, max_bytes: int = DEFAULT_MAX_UNPACKED) -> gpd.GeoDataFrame:
    """The polygon placemarks of a KML or KMZ file, as they are written (lon/lat).

    Parameters
    ----------
    path
        A ``.kml`` file, or a ``.kmz`` (a zip with ``doc.kml`` or one ``.kml``).
    max_bytes
        Cap of the unpacked size of a KMZ (see :func:`geogrid.io.archives.read_member`).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per polygon placemark: ``name``, ``folder`` (the innermost folder, or
        ``None``) and one column per ExtendedData field; the geometry a Polygon or
        MultiPolygon in EPSG:4326 as KML declares (the caller says when it is GCJ-02 or
        BD-09).

    Raises
    ------
    PlanFileError
        When the file is not KML, declares a DTD or entities, or has no polygon placemark.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.TemporaryDirectory()
    >>> kml = Path(folder.name) / "grids.kml"
    >>> _ = kml.write_text('''<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Folder>
    ... <name>网格</name><Placemark><name>一网格</name><ExtendedData><Data name="WGBM">
    ... <value>001</value></Data></ExtendedData><Polygon><outerBoundaryIs><LinearRing>
    ... <coordinates>116.30,40.00 116.31,40.00 116.31,40.01 116.30,40.00</coordinates>
    ... </LinearRing></outerBoundaryIs></Polygon></Placemark></Folder></Document></kml>''',
    ...     encoding="utf-8")
    >>> read_kml(kml)[["name", "folder", "WGBM"]].values.tolist()
    [['一网格', '网格', '001']]
    >>> folder.cleanup()
    """
    data = (
        read_member(path, ".kml", max_bytes=max_bytes)
        if path.suffix.lower() == ".kmz"
        else path.read_bytes()
    )
    root = _parse(data, path)
    rows: list[dict[str, Any]] = []
    geoms: list[Polygon | MultiPolygon] = []
    for placemark, folder in _placemarks(root, None):
        geom = _geometry(placemark, path)
        if geom is None:
            continue
        row: dict[str, Any] = {"name": _text(_child(placemark, "name")), "folder": folder}
        row.update(_extended(placemark))
        rows.append(row)
        geoms.append(geom)
    if not geoms:
        raise PlanFileError(
            f"{path.name}: no polygon placemark (面) in the file; trace each grid as an area "
            "(多边形 / 面), not as a line or a point, and export it again"
        )
    return gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:4326")


def _parse(data: bytes, path: Path) -> ET.Element:
    if _DANGEROUS.search(data[:65536]) or b"<!ENTITY" in data:
        raise PlanFileError(
            f"{path.name}: the KML declares a DTD or entities, which KML never needs and "
            "geogrid does not read; export it again from the map app"
        )
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise PlanFileError(f"{path.name}: not well-formed KML ({exc})") from exc
    if _local(root.tag) != "kml":
        raise PlanFileError(
            f"{path.name}: an XML file, but not KML (its root is <{_local(root.tag)}>); "
            "export the grids from the map app as KML or KMZ"
        )
    return root


def _local(tag: Any) -> str:
    """The tag without its namespace: ``{http://www.opengis.net/kml/2.2}Placemark`` → ``Placemark``."""
    return str(tag).rpartition("}")[2]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in element if _local(c.tag) == name), None)


def _text(element: ET.Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def _placemarks(element: ET.Element, folder: str | None) -> Iterator[tuple[ET.Element, str | None]]:
    """Every placemark under ``element`` with the name of its innermost folder."""
    for child in element:
        tag = _local(child.tag)
        if tag == "Placemark":
            yield child, folder
        elif tag == "Folder":
            yield from _placemarks(child, _text(_child(child, "name")) or folder)
        elif tag in ("Document", "kml"):
            yield from _placemarks(child, folder)


def _geometry(placemark: ET.Element, path: Path) -> Polygon | MultiPolygon | None:
    polygons = [p for e in placemark for p in _polygons_in(e, path)]
    if not polygons:
        return None
    return polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)


def _polygons_in(element: ET.Element, path: Path) -> Iterator[Polygon]:
    tag = _local(element.tag)
    if tag == "Polygon":
        outer = _ring(element, "outerBoundaryIs", path)
        if outer is not None:
            holes = [_coordinates(r, path) for r in _rings(element, "innerBoundaryIs")]
            yield Polygon(outer, [h for h in holes if len(h) >= 3])
    elif tag in ("LineString", "LinearRing"):
        points = _coordinates(_child(element, "coordinates"), path)
        if len(points) >= 4 and np.allclose(points[0], points[-1]):
            yield Polygon(points)
    elif tag == "MultiGeometry":
        for part in element:
            yield from _polygons_in(part, path)


def _rings(polygon: ET.Element, boundary: str) -> Iterator[ET.Element | None]:
    for side in polygon:
        if _local(side.tag) == boundary:
            yield next(_child(r, "coordinates") for r in side if _local(r.tag) == "LinearRing")


def _ring(polygon: ET.Element, boundary: str, path: Path) -> np.ndarray | None:
    ring = next(_rings(polygon, boundary), None)
    points = _coordinates(ring, path)
    return points if len(points) >= 3 else None


def _coordinates(element: ET.Element | None, path: Path) -> np.ndarray:
    """``lon,lat[,alt] lon,lat[,alt] …`` as an (n, 2) array."""
    text = _text(element) or ""
    try:
        points = [tuple(map(float, t.split(",")[:2])) for t in text.split()]
        array = np.array(points, dtype=float).reshape(-1, 2)
    except ValueError as exc:
        raise PlanFileError(
            f"{path.name}: coordinates that are not numbers ({text[:60]!r}…); KML writes "
            "'lon,lat,alt lon,lat,alt …'"
        ) from exc
    return array


def _extended(placemark: ET.Element) -> dict[str, str | None]:
    """ExtendedData fields: ``<Data name=…><value>`` and ``<SimpleData name=…>``."""
    found: dict[str, str | None] = {}
    data = _child(placemark, "ExtendedData")
    for element in data.iter() if data is not None else ():
        tag, name = _local(element.tag), element.get("name")
        if tag == "Data" and name:
            found[name] = _text(_child(element, "value"))
        elif tag == "SimpleData" and name:
            found[name] = _text(element)
    return found
