"""China's rough extent and the numbering of the CGCS2000 3-degree Gauss–Krüger zones.

Shared by the sanity checks (swapped coordinates, a zone prefix 带号 missing or extra) and by
the choice of a metric CRS.
"""

from __future__ import annotations

__all__ = [
    "CHINA_BOUNDS",
    "GK_FIRST_CM",
    "GK_FIRST_EPSG",
    "GK_FIRST_ZONE",
    "GK_LAST_CM",
    "GK_PREFIXED_FIRST_EPSG",
]

CHINA_BOUNDS = (73.4, 18.1, 135.1, 53.6)
"""China's rough lon/lat extent ``(min_lon, min_lat, max_lon, max_lat)``, used to spot swapped
coordinates and to choose a Gauss–Krüger zone (the South China Sea islands lie outside it)."""

GK_FIRST_CM = 75
"""Central meridian (degrees east) of the westernmost zone used in China."""

GK_LAST_CM = 135
"""Central meridian (degrees east) of the easternmost zone used in China."""

GK_FIRST_EPSG = 4534
"""EPSG code of the zone without prefix at CM 75E (4534: CM 75E … 4554: CM 135E)."""

GK_PREFIXED_FIRST_EPSG = 4513
"""EPSG code of the zone with prefix at CM 75E (4513: zone 25 … 4533: zone 45)."""

GK_FIRST_ZONE = 25
"""Zone number (带号, the easting prefix) of the zone at CM 75E."""
