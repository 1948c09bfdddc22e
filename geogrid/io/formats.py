"""Plan file formats: suffixes, level names and the names each format uses."""

from __future__ import annotations

import os
from pathlib import Path

from geogrid.errors import PlanFileError

__all__ = [
    "DEFAULT_LEVEL_NAMES",
    "FORMATS",
    "GEOJSON_DECIMALS",
    "plan_format",
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
