"""The store's tables, shared by PostGIS and the embedded GeoPackage.

One set of SQLAlchemy Core tables serves both backends; only two column types differ by
dialect, and they are defined here:

:class:`MultiPolygonType`
    ``geometry(MultiPolygon, 4490)`` through GeoAlchemy2 on PostgreSQL, a GeoPackage binary
    blob in a column declared ``MULTIPOLYGON`` on SQLite (``srid=3857`` for the generalised
    copies tiles are cut from). This is the one place where shapely geometries are converted
    to and from the database.
:class:`UtcDateTime`
    ``timestamptz`` on PostgreSQL, ISO 8601 text ending in ``Z`` on SQLite (the GeoPackage
    ``DATETIME`` form); values are always timezone-aware UTC datetimes in Python.

The Alembic migrations in ``geogrid/store/migrations`` create these tables; this module is
what queries use and what ``alembic revision --autogenerate`` compares against.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import shapely
import sqlalchemy as sa
from geoalchemy2 import Geometry, WKBElement
from shapely.geometry.base import BaseGeometry
from sqlalchemy.engine import Dialect

from geogrid.store.gpkg import gpkg_to_shape, shape_to_gpkg
from geogrid.tiles import BANDS

__all__ = [
    "INCIDENT_STATUSES",
    "JOB_STATES",
    "LEVEL_COLUMNS",
    "LINEAGE_INCLUDE",
    "ROLES",
    "SPATIAL_INDEXES",
    "SRID",
    "STATUSES",
    "URGENCIES",
    "JsonType",
    "MultiPolygonType",
    "UtcDateTime",
    "api_keys",
    "audit_log",
    "draft_edits",
    "drafts",
    "generalised_grids",
    "gpkg_contents",
    "grid_codes",
    "grids",
    "idempotency_keys",
    "incident_events",
    "incidents",
    "jobs",
    "jurisdictions",
    "metadata",
    "people",
    "plan_versions",
    "staff",
    "staff_changes",
    "units",
]

SRID = 4490
"""Spatial reference of every stored geometry: CGCS2000 lon/lat."""

SPATIAL_INDEXES = (
    "ix_grids_geom",
    "ix_units_geom",
    *(f"ix_generalised_grids_geom_{band}" for band in BANDS),
)
"""GiST indexes of the geometry columns (PostGIS only; a GeoPackage has R*Tree tables)."""

STATUSES = ("draft", "approved", "active", "retired")
"""Version states, in the order a version moves through them."""

INCIDENT_STATUSES = (
    "reported",
    "accepted",
    "dispatched",
    "handled",
    "feedback",
    "closed",
    "rejected",
    "reopened",
)
"""Incident states (:class:`geogrid.incidents.Status`)."""

URGENCIES = ("red", "yellow", "blue")
"""Incident urgency levels (:class:`geogrid.incidents.Urgency`)."""

JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
"""Job states (:class:`geogrid.jobs.JobState`)."""

ROLES = ("reporter", "worker", "supervisor", "planner", "admin")
"""API key roles (:class:`geogrid.access.Role`)."""

LEVEL_COLUMNS = tuple(f"level{n}_code" for n in range(1, 7))
"""The incident columns holding the grid code at each level, from the top."""

LINEAGE_INCLUDE = ("status", "created_at", "closed_at", "deadline")
"""What ``ix_incidents_lineage`` carries besides the level codes: all the statistics read."""

_NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
_ISO_UTC = (
    "%(year)04d-%(month)02d-%(day)02dT%(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06dZ"
)
_ISO_UTC_RE = r"(\d+)-(\d+)-(\d+)[T ](\d+):(\d+):(\d+)(?:\.(\d{6}))?"


class _GeoPackageGeometry(sa.types.UserDefinedType[bytes]):
    """A blob column declared with its geometry type name, as GeoPackage feature tables are."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "MULTIPOLYGON"


class MultiPolygonType(sa.types.TypeDecorator[BaseGeometry]):
    """A ``MultiPolygon`` in EPSG:4490 that reads and writes shapely geometries.

    PostgreSQL gets GeoAlchemy2's ``Geometry("MULTIPOLYGON", 4490)`` (written as EWKB,
    read through ``ST_AsEWKB``); SQLite gets a GeoPackage binary blob. Spatial indexes are
    created by the migrations (GiST on PostGIS, R*Tree in the GeoPackage), not by
    GeoAlchemy2's table events.
    """

    impl = sa.LargeBinary
    cache_ok = True
    spatial_index = False  # read by GeoAlchemy2's table events: the migrations index instead
    use_N_D_index = False

    def __init__(self, srid: int = SRID) -> None:
        super().__init__()
        self.srid = srid

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        """Pick the column type of ``dialect`` (GeoAlchemy2 may ask with ``None``)."""
        if dialect is None:
            return self.impl_instance
        if dialect.name == "postgresql":
            geometry = Geometry("MULTIPOLYGON", srid=self.srid, spatial_index=False)
            return dialect.type_descriptor(geometry)
        return dialect.type_descriptor(_GeoPackageGeometry())

    def process_bind_param(self, value: BaseGeometry | None, dialect: Dialect) -> Any:
        """Shapely geometry -> hex EWKB (PostGIS) or GeoPackage blob (SQLite)."""
        if value is None:
            return None
        if dialect.name == "postgresql":
            ewkb = shapely.to_wkb(
                shapely.set_srid(value, self.srid), hex=True, include_srid=True, output_dimension=2
            )
            return ewkb
        return shape_to_gpkg(value, self.srid)

    def process_result_value(self, value: Any, dialect: Dialect) -> BaseGeometry | None:
        """EWKB (PostGIS) or GeoPackage blob (SQLite) -> shapely geometry without SRID."""
        if value is None:
            return None
        if isinstance(value, WKBElement):
            geom = shapely.from_wkb(bytes(value.data))
        else:
            geom = gpkg_to_shape(value)
        return shapely.set_srid(geom, 0)


class _GeoPackageDateTime(sa.types.UserDefinedType[str]):
    """Text in a column declared ``DATETIME``, as GeoPackage attribute columns are."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "DATETIME"


class UtcDateTime(sa.types.TypeDecorator[dt.datetime]):
    """A timestamp in UTC with millisecond precision, returned timezone-aware.

    PostgreSQL stores ``timestamptz``; SQLite stores the GeoPackage ``DATETIME`` text form
    ``2026-01-31T08:00:00.000Z`` (which also sorts and compares correctly as text). Values are
    truncated to milliseconds on both backends, so they compare the same way. A naive datetime
    is taken as local time, as :meth:`datetime.datetime.astimezone` does.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        """GeoPackage ``DATETIME`` text on SQLite, ``timestamptz`` elsewhere."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_GeoPackageDateTime())
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        """Convert to UTC, truncate to milliseconds (ISO text on SQLite)."""
        if value is None:
            return None
        value = value.astimezone(dt.UTC)
        value = value.replace(microsecond=value.microsecond // 1000 * 1000)
        if dialect.name == "sqlite":
            return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class _JsonText(sa.types.TypeDecorator[Any]):
    """JSON kept as ``TEXT`` (GeoPackage has no JSON column type); non-ASCII kept readable."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        """Serialise to JSON text."""
        return None if value is None else json.dumps(value, ensure_ascii=False)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        """Parse JSON text."""
        return None if value is None else json.loads(value)


JsonType = sa.JSON().with_variant(_JsonText(), "sqlite")
"""``json`` on PostgreSQL, JSON text on SQLite."""


metadata = sa.MetaData(naming_convention=_NAMING)

plan_versions = sa.Table(
    "plan_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("plan_name", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("levels", JsonType, nullable=False),
    sa.Column("attribution", sa.Text, nullable=False, server_default=""),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("status", sa.Text, nullable=False, server_default="draft"),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("approved_by", sa.Text),
    sa.Column("approved_at", UtcDateTime),
    sa.Column("activated_by", sa.Text),
    sa.Column("activated_at", UtcDateTime),
    sa.Column("deactivated_at", UtcDateTime),
    sa.Column("staff_revision", sa.Integer, nullable=False, server_default="0"),
    # the plan's validation warnings when saved: Problem.to_dict() objects (migration 0004)
    sa.Column("warnings", JsonType, nullable=False, server_default="[]"),
    # the area the plan governs, and the period the version is in force (migration 0005)
    sa.Column("jurisdiction", sa.Text, nullable=False, index=True),
    sa.Column("valid_from", UtcDateTime),
    sa.Column("valid_to", UtcDateTime),
    sa.UniqueConstraint("plan_name", "version"),
    sa.CheckConstraint(f"status IN {STATUSES!r}", name="status"),
    sa.Index(
        "uq_plan_versions_one_active",
        "jurisdiction",
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
        sqlite_where=sa.text("status = 'active'"),
    ),
    sqlite_autoincrement=True,
)

grids = sa.Table(
    "grids",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "version_id",
        sa.Integer,
        sa.ForeignKey("plan_versions.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("parent_code", sa.Text),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("subtype", sa.Text),
    sa.Column("priority", sa.Text, nullable=False),
    sa.Column("households", sa.Integer),
    sa.Column("residents", sa.Integer),
    sa.Column("shops", sa.Integer),
    sa.Column("key_persons", sa.Integer),
    sa.Column("valid_from", sa.Text),
    sa.Column("valid_to", sa.Text),
    sa.Column("geom", MultiPolygonType),
    sa.UniqueConstraint("version_id", "code"),
    sa.Index("ix_grids_geom", "geom", postgresql_using="gist"),
    sqlite_autoincrement=True,
)

generalised_grids = sa.Table(
    # each level of a version simplified per zoom band, in EPSG:3857 (geogrid.tiles.generalise;
    # made at activation, migration 0010): low-zoom tiles are cut from these
    "generalised_grids",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "version_id",
        sa.Integer,
        sa.ForeignKey("plan_versions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("band", sa.Integer, nullable=False),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("geom", MultiPolygonType(3857), nullable=False),
    # migration 0012: the grid's attributes a tile carries, copied from ``grids`` (a tile
    # reads no other row of the grid); PostGIS: ``pixels``, the copy in integer tile pixels
    # of the band's zoom, y down, as ST_AsMVTGeom makes them (no SRID; NULL on SQLite, and
    # for a grid under half a pixel)
    sa.Column("name", sa.Text),
    sa.Column("parent_code", sa.Text),
    sa.Column("households", sa.Integer),
    sa.Column("kind", sa.Text),
    sa.Column("pixels", MultiPolygonType(-1)),
    sa.Column("pixels_out", MultiPolygonType(-1)),  # 0014: the same at zoom band - 1
    sa.Index("ix_generalised_grids_version_id_level_band", "version_id", "level", "band"),
    *(
        sa.Index(
            f"ix_generalised_grids_geom_{band}",
            "geom",
            postgresql_using="gist",
            postgresql_where=sa.text(f"band = {band}"),
        )
        for band in BANDS
    ),
    sqlite_autoincrement=True,
)

staff = sa.Table(
    "staff",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "version_id",
        sa.Integer,
        sa.ForeignKey("plan_versions.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("grid_code", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("phone", sa.Text),
    sa.Column("valid_from", UtcDateTime),
    sa.Column("valid_to", UtcDateTime),
    # the person holding this assignment (migration 0005)
    sa.Column("person_id", sa.Integer, sa.ForeignKey("people.id"), index=True),
    sa.Index("ix_staff_grid_code", "grid_code"),
    sqlite_autoincrement=True,
)

units = sa.Table(
    "units",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "version_id",
        sa.Integer,
        sa.ForeignKey("plan_versions.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("unit_id", sa.Text, nullable=False),
    sa.Column("name", sa.Text),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("households", sa.Integer),
    sa.Column("grid_code", sa.Text),
    sa.Column("locked", sa.Boolean, nullable=False),
    sa.Column("geom", MultiPolygonType),
    sa.UniqueConstraint("version_id", "unit_id"),
    sa.Index("ix_units_geom", "geom", postgresql_using="gist"),
    sqlite_autoincrement=True,
)

staff_changes = sa.Table(
    "staff_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "version_id",
        sa.Integer,
        sa.ForeignKey("plan_versions.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("grid_code", sa.Text, nullable=False, index=True),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("before", JsonType, nullable=False),
    sa.Column("after", JsonType, nullable=False),
    sa.Column("changed_by", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("changed_at", UtcDateTime, nullable=False),
    sqlite_autoincrement=True,
)

jurisdictions = sa.Table(
    "jurisdictions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code", sa.Text, nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("parent_code", sa.Text, index=True),
    sa.Column("level_name", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sqlite_autoincrement=True,
)

people = sa.Table(
    "people",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("phone", sa.Text),
    sa.Column("id_number", sa.Text),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_people_name_phone", "name", "phone"),
    sa.Index(
        "uq_people_id_number",
        "id_number",
        unique=True,
        postgresql_where=sa.text("id_number IS NOT NULL"),
        sqlite_where=sa.text("id_number IS NOT NULL"),
    ),
    sqlite_autoincrement=True,
)

grid_codes = sa.Table(
    "grid_codes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code", sa.Text, nullable=False, unique=True),
    sa.Column("plan_name", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("first_seen_at", UtcDateTime, nullable=False),
    sqlite_autoincrement=True,
)


def _level_columns() -> list[sa.Column[str]]:
    return [sa.Column(name, sa.Text, index=True) for name in LEVEL_COLUMNS]


incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("reference", sa.Text, nullable=False, unique=True),
    sa.Column("category", sa.Text, nullable=False, index=True),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("urgency", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False, index=True),
    sa.Column("lon", sa.Double, nullable=False),
    sa.Column("lat", sa.Double, nullable=False),
    sa.Column("original_lon", sa.Double, nullable=False),
    sa.Column("original_lat", sa.Double, nullable=False),
    sa.Column("original_crs", sa.Text, nullable=False),
    sa.Column("plan_name", sa.Text),
    sa.Column("plan_version", sa.Integer),
    *_level_columns(),
    sa.Column("grid_code", sa.Text, index=True),
    sa.Column("staff", JsonType, nullable=False),
    sa.Column("assignee", sa.Text),
    sa.Column("reporter_name", sa.Text),
    sa.Column("reporter_phone", sa.Text),
    sa.Column("photos", JsonType, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False, index=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("closed_at", UtcDateTime),
    sa.Column("deadline", UtcDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("escalated_at", UtcDateTime),
    # statistics read this index alone, in its order (migration 0006)
    sa.Index("ix_incidents_lineage", *LEVEL_COLUMNS, postgresql_include=list(LINEAGE_INCLUDE)),
    sa.CheckConstraint(f"status IN {INCIDENT_STATUSES!r}", name="status"),
    sa.CheckConstraint(f"urgency IN {URGENCIES!r}", name="urgency"),
    sqlite_autoincrement=True,
)

incident_events = sa.Table(
    "incident_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("from_status", sa.Text),
    sa.Column("to_status", sa.Text, nullable=False),
    sa.Column("urgency", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sqlite_autoincrement=True,
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="CASCADE")),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("owner", "key"),
    sqlite_autoincrement=True,
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key_hash", sa.Text, nullable=False, unique=True),
    sa.Column("prefix", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("grid_code", sa.Text),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("revoked_by", sa.Text),
    sa.Column("revoked_at", UtcDateTime),
    sa.CheckConstraint(f"role IN {ROLES!r}", name="role"),
    sqlite_autoincrement=True,
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", UtcDateTime, nullable=False, index=True),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("key_id", sa.Integer),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("object_type", sa.Text, nullable=False),
    sa.Column("object_id", sa.Text),
    sa.Column("details", JsonType, nullable=False),
    sa.Index("ix_audit_log_object", "object_type", "object_id"),
    sqlite_autoincrement=True,
)

jobs = sa.Table(
    "jobs",
    metadata,
    # long work run in its own process (migration 0007; :mod:`geogrid.store.jobs`)
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False, index=True),
    sa.Column("done", sa.Integer, nullable=False, server_default="0"),
    sa.Column("total", sa.Integer, nullable=False, server_default="0"),
    sa.Column("message", sa.Text, nullable=False, server_default=""),
    sa.Column("params", JsonType, nullable=False),
    sa.Column("inputs", sa.LargeBinary),
    sa.Column("result", JsonType),
    sa.Column("result_blob", sa.LargeBinary),
    sa.Column("error", sa.Text),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("owner", sa.Text, nullable=False, index=True),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("scope", sa.Text),
    sa.Column("jurisdiction", sa.Text),
    sa.Column("runner", sa.Text),
    sa.Column("pid", sa.Integer),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("started_at", UtcDateTime),
    sa.Column("finished_at", UtcDateTime),
    sa.Column("heartbeat_at", UtcDateTime),
    sa.CheckConstraint(f"state IN {JOB_STATES!r}", name="state"),
)

drafts = sa.Table(
    "drafts",
    metadata,
    # workbench drafts: a plan being redrawn by hand (migration 0008; geogrid.store.drafts)
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("plan", sa.Text, nullable=False),
    sa.Column("base_version", sa.Integer),
    sa.Column("jurisdiction", sa.Text, nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("band", JsonType),
    # the base plan: read from version ``base_from`` of ``plan`` when set (migration 0011),
    # else these bytes (an upload, a partition's result)
    sa.Column("base", sa.LargeBinary),
    sa.Column("base_from", sa.Integer),
    sa.Column("cursor", sa.Integer, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("staff", JsonType, nullable=False),
    sa.Column("proposal", JsonType),
    sa.Column("saved_version", sa.Integer),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("owner", sa.Text, nullable=False, index=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

draft_edits = sa.Table(
    "draft_edits",
    metadata,
    # a draft's edit log, one row per edit, appended (migration 0011; geogrid.store.drafts)
    sa.Column(
        "draft_id",
        sa.Text,
        sa.ForeignKey("drafts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("edit", JsonType, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

#: The GeoPackage table of contents (SQLite only; created by the migrations, not in ``metadata``).
gpkg_contents = sa.Table(
    "gpkg_contents",
    sa.MetaData(),
    sa.Column("table_name", sa.Text, primary_key=True),
    sa.Column("last_change", UtcDateTime),
    sa.Column("min_x", sa.Float),
    sa.Column("min_y", sa.Float),
    sa.Column("max_x", sa.Float),
    sa.Column("max_y", sa.Float),
)
