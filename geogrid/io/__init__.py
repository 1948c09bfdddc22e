"""Read and write grid plans and household files.

Plan files keep the three tables of a :class:`~geogrid.plan.GridPlan` in every format:

=================  ==========================================================================
GeoPackage         layers ``grids`` and ``units`` (MultiPolygon, EPSG:4490), ``staff`` (no
                   geometry) and ``plan`` (key/value metadata: name, levels, attribution)
GeoJSON            RFC 7946 FeatureCollection, lon/lat with 7 decimals, outer rings
                   counter-clockwise and holes clockwise; each feature has a ``layer``
                   property (``grids`` / ``units``), a grid its staff; staff and plan metadata
                   are the foreign members ``staff`` and ``geogrid`` — the same document the
                   API exports (:func:`plan_to_geojson`)
GeoParquet         one table with a ``layer`` column (``grids`` / ``units``); staff and plan
                   metadata in the file's key/value metadata under ``geogrid``
Shapefile          ``NAME.shp`` (grids, short column names), ``NAME_units.shp``,
                   ``NAME_staff.csv`` and ``NAME.geogrid.json`` (metadata) side by side
=================  ==========================================================================

Read, never written: drawings — DXF from CAD, KML/KMZ from phone maps and Google Earth
(:func:`read_drawing`) — and a ``.zip`` holding one plan file, e.g. a zipped Shapefile
(:func:`unpack_zip`, safe against zip bombs and path traversal).

A file without geogrid's metadata (e.g. a layer someone drew in QGIS) is read as a grids
layer, with ``columns`` mapping the model's names to the file's own. Writes go to a temporary
file first and replace the target only when complete, so a failed write leaves nothing behind.

The package keeps one concept per module, data flowing one way:

================  ==========================================================================
``formats``       suffix → plan format, level names, names shared by readers and writers
``archives``      zips opened safely: size cap, no path traversal (:func:`unpack_zip`)
``dxf``, ``kml``  the raw outlines and labels of a CAD or phone-map drawing
``drawings``      a drawing as a grids layer: codes, levels, parents (:func:`read_drawing`)
``layers``        one vector layer with the shared checks (:func:`read_layer`,
                  :func:`read_areas`)
``plans``         reading plans (:func:`read_plan`)
``geojson``       the plan GeoJSON document (:func:`plan_to_geojson`), for files and the API
``writing``       writing plans (:func:`write_plan`)
``bundle``        a plan as one blob for a database row (:func:`plan_to_bytes`)
``households``    households and buildings (:func:`read_households`)
``points``        points to locate (:func:`read_points`, :func:`write_points`)
``tables``        every table in and out: Excel and CSV (:func:`read_table`, :func:`write_table`)
``rosters``       staff rosters, 花名册 (:func:`read_roster`, :func:`write_roster`)
``dbf``           the encoding of a DBF without ``.cpg`` (:func:`dbf_encoding`)
================  ==========================================================================
"""

from __future__ import annotations

from geogrid.io.archives import unpack_zip
from geogrid.io.bundle import plan_from_bytes, plan_to_bytes
from geogrid.io.dbf import dbf_encoding
from geogrid.io.drawings import DRAWING_FORMATS, read_drawing
from geogrid.io.formats import (
    DEFAULT_LEVEL_NAMES,
    FORMATS,
    READ_ONLY_FORMATS,
    plan_format,
    sniff_suffix,
)
from geogrid.io.geojson import GEOJSON_MEDIA_TYPE, plan_to_geojson, plan_to_geojson_bytes
from geogrid.io.households import read_households
from geogrid.io.layers import preferred_layer, read_areas, read_layer
from geogrid.io.plans import read_plan
from geogrid.io.points import POINT_FORMATS, POINT_OUTPUT_FORMATS, read_points, write_points
from geogrid.io.rosters import read_roster, write_roster
from geogrid.io.tables import TABLE_SUFFIXES, read_table, write_table, write_workbook
from geogrid.io.writing import write_plan

__all__ = [
    "DEFAULT_LEVEL_NAMES",
    "DRAWING_FORMATS",
    "FORMATS",
    "GEOJSON_MEDIA_TYPE",
    "POINT_FORMATS",
    "POINT_OUTPUT_FORMATS",
    "READ_ONLY_FORMATS",
    "TABLE_SUFFIXES",
    "dbf_encoding",
    "plan_format",
    "plan_from_bytes",
    "plan_to_bytes",
    "plan_to_geojson",
    "plan_to_geojson_bytes",
    "preferred_layer",
    "read_areas",
    "read_drawing",
    "read_households",
    "read_layer",
    "read_plan",
    "read_points",
    "read_roster",
    "read_table",
    "sniff_suffix",
    "unpack_zip",
    "write_plan",
    "write_points",
    "write_roster",
    "write_table",
    "write_workbook",
]
