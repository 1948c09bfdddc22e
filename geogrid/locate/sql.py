"""The boundary rule's SQL twin: the same answer from PostGIS for one point and one level.

See :mod:`geogrid.locate` for the rule (smallest code among the grids covering the point;
outside points get the nearest grid, ties to the smallest code).
"""

from __future__ import annotations

__all__ = [
    "NEAREST_TIE_M",
    "POSTGIS_LOCATE_SQL",
    "POSTGIS_NEAREST_SQL",
    "postgis_locate_sql",
    "postgis_nearest_sql",
]

POSTGIS_LOCATE_SQL = """\
SELECT g.code
FROM {table} AS g
WHERE g.level = %(level)s
  AND ST_Covers(g.{geom}, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4490))
ORDER BY g.code COLLATE "C"
LIMIT 1"""
"""The boundary rule in PostGIS for one point and one level (psycopg parameters ``lon``,
``lat``, ``level``; format ``table`` and ``geom`` in first, see :func:`postgis_locate_sql`).
No row: the point is outside that level."""

NEAREST_TIE_M = 1e-6
"""Grids this close (metres) to the nearest distance tie for nearest; the smallest code wins."""

POSTGIS_NEAREST_SQL = """\
WITH d AS (
  SELECT g.code,
         ST_Distance(ST_Transform(g.{geom}, %(metric_srid)s),
                     ST_Transform(ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4490),
                                  %(metric_srid)s)) AS distance_m
  FROM {table} AS g
  WHERE g.level = %(level)s
)
SELECT code, (SELECT min(distance_m) FROM d) AS distance_m
FROM d
WHERE distance_m <= (SELECT min(distance_m) FROM d) + 1e-6
ORDER BY code COLLATE "C"
LIMIT 1"""
"""Nearest grid of a level and its distance in metres for an outside point, measured in the
metric CRS ``metric_srid`` (:attr:`GridIndex.metric_crs`); grids within
:data:`NEAREST_TIE_M` of the nearest tie and the smallest code wins."""


def postgis_locate_sql(table: str = "grids", geom: str = "geom") -> str:
    """:data:`POSTGIS_LOCATE_SQL` for a table and geometry column.

    Parameters
    ----------
    table, geom
        The grids table (columns ``code``, ``level`` and a ``geometry(MultiPolygon, 4490)``)
        and its geometry column; trusted identifiers, not user input.

    Returns
    -------
    str
        SQL with psycopg parameters ``%(lon)s``, ``%(lat)s``, ``%(level)s``.

    Examples
    --------
    >>> "ST_Covers(g.geom" in postgis_locate_sql()
    True
    """
    return POSTGIS_LOCATE_SQL.format(table=table, geom=geom)


def postgis_nearest_sql(table: str = "grids", geom: str = "geom") -> str:
    """:data:`POSTGIS_NEAREST_SQL` for a table and geometry column (see :func:`postgis_locate_sql`).

    Examples
    --------
    >>> "min(distance_m)" in postgis_nearest_sql("plan_grids", "geometry")
    True
    """
    return POSTGIS_NEAREST_SQL.format(table=table, geom=geom)
