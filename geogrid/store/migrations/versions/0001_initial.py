"""Plan versions, grids, staff, units and the code registry; GeoPackage metadata on SQLite.

Revision ID: 0001_initial
Revises:
Create Date: 2026-01-01

PostgreSQL: typed ``geometry(MultiPolygon, 4490)`` columns with GiST indexes (PostGIS must
already be installed in the database). SQLite: a GeoPackage 1.3 — application_id 'GPKG',
gpkg_spatial_ref_sys with EPSG:4490, gpkg_contents, gpkg_geometry_columns, and an R*Tree
index per geometry column kept by the standard triggers (whose ST_* functions the store
registers on each connection).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import alembic_helpers  # noqa: F401  (registers create_geospatial_* ops)

from geogrid.store.schema import JsonType, MultiPolygonType, UtcDateTime

revision: str = "0001_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SRID = 4490
FEATURE_TABLES = ("grids", "units")
ATTRIBUTE_TABLES = ("plan_versions", "staff", "grid_codes")

WKT_4326 = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,'
    'AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,'
    'AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],'
    'AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]'
)
WKT_4490 = (
    'GEOGCS["China Geodetic Coordinate System 2000",DATUM["China_2000",SPHEROID["CGCS2000",'
    '6378137,298.257222101,AUTHORITY["EPSG","1024"]],AUTHORITY["EPSG","1043"]],'
    'PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,'
    'AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],AXIS["Longitude",EAST],'
    'AUTHORITY["EPSG","4490"]]'
)

GPKG_CORE = [
    """CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
        srs_name TEXT NOT NULL,
        srs_id INTEGER PRIMARY KEY,
        organization TEXT NOT NULL,
        organization_coordsys_id INTEGER NOT NULL,
        definition TEXT NOT NULL,
        description TEXT)""",
    """CREATE TABLE IF NOT EXISTS gpkg_contents (
        table_name TEXT NOT NULL PRIMARY KEY,
        data_type TEXT NOT NULL,
        identifier TEXT UNIQUE,
        description TEXT DEFAULT '',
        last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
        min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE,
        srs_id INTEGER,
        CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id))""",
    """CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
        table_name TEXT NOT NULL,
        column_name TEXT NOT NULL,
        geometry_type_name TEXT NOT NULL,
        srs_id INTEGER NOT NULL,
        z TINYINT NOT NULL,
        m TINYINT NOT NULL,
        CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
        CONSTRAINT uk_gc_table_name UNIQUE (table_name),
        CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
        CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id))""",
    """CREATE TABLE IF NOT EXISTS gpkg_extensions (
        table_name TEXT,
        column_name TEXT,
        extension_name TEXT NOT NULL,
        definition TEXT NOT NULL,
        scope TEXT NOT NULL,
        CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name))""",
]

SPATIAL_REF_SYS = [
    (
        "Undefined cartesian SRS",
        -1,
        "NONE",
        -1,
        "undefined",
        "undefined cartesian coordinate reference system",
    ),
    (
        "Undefined geographic SRS",
        0,
        "NONE",
        0,
        "undefined",
        "undefined geographic coordinate reference system",
    ),
    (
        "WGS 84 geodetic",
        4326,
        "EPSG",
        4326,
        WKT_4326,
        "longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid",
    ),
    (
        "China Geodetic Coordinate System 2000",
        4490,
        "EPSG",
        4490,
        WKT_4490,
        "CGCS2000 longitude/latitude in decimal degrees",
    ),
]

# The R*Tree triggers of the GeoPackage 1.3 "gpkg_rtree_index" extension (<t> table,
# <c> geometry column, <i> integer primary key).
RTREE = [
    "CREATE VIRTUAL TABLE rtree_<t>_<c> USING rtree(id, minx, maxx, miny, maxy)",
    """CREATE TRIGGER rtree_<t>_<c>_insert AFTER INSERT ON <t>
      WHEN (new.<c> NOT NULL AND NOT ST_IsEmpty(NEW.<c>))
    BEGIN
      INSERT OR REPLACE INTO rtree_<t>_<c> VALUES (
        NEW.<i>, ST_MinX(NEW.<c>), ST_MaxX(NEW.<c>), ST_MinY(NEW.<c>), ST_MaxY(NEW.<c>));
    END""",
    """CREATE TRIGGER rtree_<t>_<c>_update1 AFTER UPDATE OF <c> ON <t>
      WHEN OLD.<i> = NEW.<i> AND (NEW.<c> NOTNULL AND NOT ST_IsEmpty(NEW.<c>))
    BEGIN
      INSERT OR REPLACE INTO rtree_<t>_<c> VALUES (
        NEW.<i>, ST_MinX(NEW.<c>), ST_MaxX(NEW.<c>), ST_MinY(NEW.<c>), ST_MaxY(NEW.<c>));
    END""",
    """CREATE TRIGGER rtree_<t>_<c>_update2 AFTER UPDATE OF <c> ON <t>
      WHEN OLD.<i> = NEW.<i> AND (NEW.<c> ISNULL OR ST_IsEmpty(NEW.<c>))
    BEGIN
      DELETE FROM rtree_<t>_<c> WHERE id = OLD.<i>;
    END""",
    """CREATE TRIGGER rtree_<t>_<c>_update3 AFTER UPDATE ON <t>
      WHEN OLD.<i> != NEW.<i> AND (NEW.<c> NOTNULL AND NOT ST_IsEmpty(NEW.<c>))
    BEGIN
      DELETE FROM rtree_<t>_<c> WHERE id = OLD.<i>;
      INSERT OR REPLACE INTO rtree_<t>_<c> VALUES (
        NEW.<i>, ST_MinX(NEW.<c>), ST_MaxX(NEW.<c>), ST_MinY(NEW.<c>), ST_MaxY(NEW.<c>));
    END""",
    """CREATE TRIGGER rtree_<t>_<c>_update4 AFTER UPDATE ON <t>
      WHEN OLD.<i> != NEW.<i> AND (NEW.<c> ISNULL OR ST_IsEmpty(NEW.<c>))
    BEGIN
      DELETE FROM rtree_<t>_<c> WHERE id IN (OLD.<i>, NEW.<i>);
    END""",
    """CREATE TRIGGER rtree_<t>_<c>_delete AFTER DELETE ON <t>
      WHEN old.<c> NOT NULL
    BEGIN
      DELETE FROM rtree_<t>_<c> WHERE id = OLD.<i>;
    END""",
]
RTREE_TRIGGERS = ("insert", "update1", "update2", "update3", "update4", "delete")


def _version_fk(table: str) -> sa.Column:
    return sa.Column(
        "version_id",
        sa.Integer,
        sa.ForeignKey(
            "plan_versions.id", ondelete="CASCADE", name=f"fk_{table}_version_id_plan_versions"
        ),
        nullable=False,
    )


def _create_tables() -> None:
    op.create_table(
        "plan_versions",
        sa.Column("id", sa.Integer, nullable=False),
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
        sa.PrimaryKeyConstraint("id", name="pk_plan_versions"),
        sa.UniqueConstraint("plan_name", "version", name="uq_plan_versions_plan_name_version"),
        sa.CheckConstraint(
            "status IN ('draft', 'approved', 'active', 'retired')", name="ck_plan_versions_status"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "uq_plan_versions_one_active",
        "plan_versions",
        ["status"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
        sqlite_where=sa.text("status = 'active'"),
    )
    op.create_geospatial_table(  # type: ignore[attr-defined]
        "grids",
        sa.Column("id", sa.Integer, nullable=False),
        _version_fk("grids"),
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
        sa.PrimaryKeyConstraint("id", name="pk_grids"),
        sa.UniqueConstraint("version_id", "code", name="uq_grids_version_id_code"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "staff",
        sa.Column("id", sa.Integer, nullable=False),
        _version_fk("staff"),
        sa.Column("grid_code", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("phone", sa.Text),
        sa.Column("valid_from", UtcDateTime),
        sa.Column("valid_to", UtcDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_staff"),
        sqlite_autoincrement=True,
    )
    op.create_geospatial_table(  # type: ignore[attr-defined]
        "units",
        sa.Column("id", sa.Integer, nullable=False),
        _version_fk("units"),
        sa.Column("unit_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("households", sa.Integer),
        sa.Column("grid_code", sa.Text),
        sa.Column("locked", sa.Boolean, nullable=False),
        sa.Column("geom", MultiPolygonType),
        sa.PrimaryKeyConstraint("id", name="pk_units"),
        sa.UniqueConstraint("version_id", "unit_id", name="uq_units_version_id_unit_id"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "grid_codes",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("plan_name", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("first_seen_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_grid_codes"),
        sa.UniqueConstraint("code", name="uq_grid_codes_code"),
        sqlite_autoincrement=True,
    )
    for table in ("grids", "staff", "units"):
        op.create_index(f"ix_{table}_version_id", table, ["version_id"])


def _create_gist_indexes() -> None:
    for table in FEATURE_TABLES:
        op.create_geospatial_index(  # type: ignore[attr-defined]
            f"ix_{table}_geom", table, ["geom"], postgresql_using="gist"
        )


def _create_geopackage() -> None:
    op.execute("PRAGMA application_id = 1196444487")  # 'GPKG'
    op.execute("PRAGMA user_version = 10300")  # GeoPackage 1.3.0
    for statement in GPKG_CORE:
        op.execute(statement)
    srs = sa.table(
        "gpkg_spatial_ref_sys",
        *(
            sa.column(c)
            for c in (
                "srs_name",
                "srs_id",
                "organization",
                "organization_coordsys_id",
                "definition",
                "description",
            )
        ),
    )
    for row in SPATIAL_REF_SYS:
        op.execute(
            srs.insert().prefix_with("OR IGNORE").values(dict(zip(srs.c.keys(), row, strict=True)))
        )
    for table in FEATURE_TABLES:
        _register_features(table)
    for table in ATTRIBUTE_TABLES:
        op.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
            f"VALUES ('{table}', 'attributes', '{table}', 'geogrid store: {table}')"
        )


def _register_features(table: str) -> None:
    op.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) "
        f"VALUES ('{table}', 'features', '{table}', 'geogrid store: {table} of every plan version', {SRID})"
    )
    op.execute(
        "INSERT INTO gpkg_geometry_columns (table_name, column_name, geometry_type_name, srs_id, z, m) "
        f"VALUES ('{table}', 'geom', 'MULTIPOLYGON', {SRID}, 0, 0)"
    )
    for statement in RTREE:
        op.execute(statement.replace("<t>", table).replace("<c>", "geom").replace("<i>", "id"))
    op.execute(
        "INSERT INTO gpkg_extensions (table_name, column_name, extension_name, definition, scope) "
        f"VALUES ('{table}', 'geom', 'gpkg_rtree_index', "
        "'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')"
    )


def upgrade() -> None:
    """Create the store's tables and, per backend, its spatial indexes and metadata."""
    _create_tables()
    if op.get_bind().dialect.name == "postgresql":
        _create_gist_indexes()
    else:
        _create_geopackage()


def downgrade() -> None:
    """Drop everything :func:`upgrade` created."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        for table in FEATURE_TABLES:
            for trigger in RTREE_TRIGGERS:
                op.execute(f"DROP TRIGGER IF EXISTS rtree_{table}_geom_{trigger}")
            op.execute(f"DROP TABLE IF EXISTS rtree_{table}_geom")
        tables = ", ".join(f"'{t}'" for t in FEATURE_TABLES + ATTRIBUTE_TABLES)
        op.execute(f"DELETE FROM gpkg_extensions WHERE table_name IN ({tables})")
        op.execute(f"DELETE FROM gpkg_geometry_columns WHERE table_name IN ({tables})")
        op.execute(f"DELETE FROM gpkg_contents WHERE table_name IN ({tables})")
    for table in ("grid_codes", "units", "staff", "grids"):
        op.drop_table(table)
    op.drop_index("uq_plan_versions_one_active", table_name="plan_versions")
    op.drop_table("plan_versions")
