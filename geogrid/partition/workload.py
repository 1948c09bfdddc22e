"""Workload from incident history (事件工作量): busy places get smaller grids.

Household counts say how many people a grid worker serves; the incidents reported there
(disputes, hazards, complaints) say how much work they make. A partition with
``weights={"households": 1, "incidents": F}`` balances ``households + F × incidents`` per
grid, so where incidents cluster the grids hold fewer households.

The incidents come from an incidents file (any point table ``geogrid locate`` reads, see
:func:`incident_points`) or from the store (:func:`stored_incident_points`, the incidents
of the active plan); :func:`with_incidents` counts them into the units by the one
point → polygon rule (:func:`geogrid.units.household_areas`).

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import Point, box
>>> from geogrid.units import units_from_polygons
>>> units = units_from_polygons(gpd.GeoDataFrame({"households": [40, 60]},
...     geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs=4547))
>>> cases = gpd.GeoDataFrame(geometry=[Point(10, 10), Point(20, 30), Point(150, 50)], crs=4547)
>>> with_incidents(units, cases).table["incidents"].tolist()
[2, 1]
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geogrid.errors import CRSError, InvalidInputError
from geogrid.plan import PLAN_CRS
from geogrid.units import Units, household_areas

__all__ = [
    "INCIDENTS",
    "TIME_COLUMNS",
    "incident_points",
    "stored_incident_points",
    "with_incidents",
]

INCIDENTS = "incidents"
"""The weight (and unit column) name of the incident count: ``--weight incidents=F``."""

TIME_COLUMNS = ("created_at", "reported_at", "time", "date", "上报时间")
"""Columns of an incidents file read as the report time for ``since`` (the first present)."""


def incident_points(
    frame: pd.DataFrame,
    crs: Any = None,
    *,
    since: dt.date | dt.datetime | None = None,
    lon: str = "lon",
    lat: str = "lat",
) -> gpd.GeoDataFrame:
    """Incident points in EPSG:4490 from a table :func:`geogrid.io.read_points` returns.

    Parameters
    ----------
    frame
        A GeoDataFrame of points, or a table with ``lon`` / ``lat`` columns.
    crs
        The system of the coordinates (``"gcj02"`` for points from a phone map...), as in
        ``geogrid locate``; default the file's own, else WGS84.
    since
        Keep incidents reported on or after this date only, read from the first of
        :data:`TIME_COLUMNS` the table has.
    lon, lat
        Coordinate columns of a table.

    Returns
    -------
    geopandas.GeoDataFrame
        One point per incident with valid coordinates, EPSG:4490.

    Examples
    --------
    >>> table = pd.DataFrame({"lon": ["116.30", "116.31"], "lat": ["40.0", "40.0"],
    ...                       "date": ["2025-01-05", "2025-06-01"]})
    >>> len(incident_points(table, since=dt.date(2025, 3, 1)))
    1
    """
    from geogrid.crs import parse_crs, to_plan_lonlat
    from geogrid.locate import point_coordinates

    if since is not None:
        frame = frame[_reported_since(frame, since)]
    x, y, used = point_coordinates(frame, crs, lon=lon, lat=lat)
    good = np.isfinite(x) & np.isfinite(y)
    parsed = parse_crs(used)
    x, y = to_plan_lonlat(x[good], y[good], parsed)
    return gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=PLAN_CRS)


def _reported_since(frame: pd.DataFrame, since: dt.date | dt.datetime) -> np.ndarray:
    column = next((c for c in TIME_COLUMNS if c in frame.columns), None)
    if column is None:
        raise InvalidInputError(
            "--incidents-since needs the report time: the incidents file has none of the "
            f"columns {', '.join(TIME_COLUMNS)}; add one or drop --incidents-since"
        )
    times = pd.to_datetime(frame[column], errors="coerce", utc=True)
    start = pd.Timestamp(since).tz_localize("UTC") if pd.Timestamp(since).tz is None else since
    return np.asarray((times >= start).to_numpy(), dtype=bool)


def stored_incident_points(store: Any, *, since: dt.datetime | None = None) -> gpd.GeoDataFrame:
    """The incidents of the store's plans in force (every version) as points in EPSG:4490.

    Read through :meth:`geogrid.store.incidents.IncidentStore.list_incidents` (500 a page)
    as a local supervisor, so the reading is audited like any other; ``since`` keeps those
    reported at or after it.
    """
    from geogrid.access import Caller, Role

    plans = {info.plan for info in store.in_force()}
    caller = Caller("geogrid partition", Role.SUPERVISOR)
    incidents = store.incidents()
    lon: list[float] = []
    lat: list[float] = []
    before: int | None = None
    while True:
        page = incidents.list_incidents(caller=caller, since=since, limit=500, before_id=before)
        for item in page.items:
            if not plans or item.plan_name in plans:
                lon.append(item.lon)
                lat.append(item.lat)
        if page.next_before_id is None:
            break
        before = page.next_before_id
    return gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=PLAN_CRS)


def with_incidents(units: Units, incidents: gpd.GeoDataFrame) -> Units:
    """``units`` with an ``incidents`` column: the incidents inside each unit.

    Each point counts in the unit holding it (:func:`geogrid.units.household_areas`);
    points outside every unit are not counted.
    """
    if incidents.crs is None:
        raise CRSError("the incidents have no CRS (坐标系缺失); say it with --crs")
    points = np.asarray(incidents.to_crs(units.crs).geometry.array, dtype=object)
    cells = np.asarray(units.table.geometry.array, dtype=object)
    where = household_areas(cells, points) if len(points) else np.zeros(0, dtype=np.int64)
    counts = np.bincount(where[where >= 0], minlength=len(cells)).astype(np.int64)
    return dataclasses.replace(units, table=units.table.assign(**{INCIDENTS: counts}))
