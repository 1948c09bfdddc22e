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

A file without geogrid's metadata (e.g. a layer someone drew in QGIS) is read as a grids
layer, with ``columns`` mapping the model's names to the file's own. Writes go to a temporary
file first and replace the target only when complete, so a failed write leaves nothing behind.

The package keeps one concept per module, data flowing one way:

================  ==========================================================================
``formats``       suffix → plan format, level names, names shared by readers and writers
``layers``        one vector layer with the shared checks (:func:`read_layer`,
                  :func:`read_areas`)
``plans``         reading plans (:func:`read_plan`)
``geojson``       the plan GeoJSON document (:func:`plan_to_geojson`), for files and the API
``writing``       writing plans (:func:`write_plan`)
``households``    households and buildings (:func:`read_households`)
``points``        points to locate (:func:`read_points`, :func:`write_points`)
================  ==========================================================================
"""

from __future__ import annotations

from geogrid.io.formats import DEFAULT_LEVEL_NAMES, FORMATS, plan_format
from geogrid.io.geojson import GEOJSON_MEDIA_TYPE, plan_to_geojson, plan_to_geojson_bytes
from geogrid.io.households import read_households
from geogrid.io.layers import read_areas, read_layer
from geogrid.io.plans import read_plan
from geogrid.io.points import POINT_FORMATS, POINT_OUTPUT_FORMATS, read_points, write_points
from geogrid.io.writing import write_plan

__all__ = [
    "DEFAULT_LEVEL_NAMES",
    "FORMATS",
    "GEOJSON_MEDIA_TYPE",
    "POINT_FORMATS",
    "POINT_OUTPUT_FORMATS",
    "plan_format",
    "plan_to_geojson",
    "plan_to_geojson_bytes",
    "read_areas",
    "read_households",
    "read_layer",
    "read_plan",
    "read_points",
    "write_plan",
    "write_points",
]
