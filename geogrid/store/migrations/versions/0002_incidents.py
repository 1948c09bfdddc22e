"""Incidents with their history, idempotency keys, API keys and the audit log.

Revision ID: 0002_incidents
Revises: 0001_initial
Create Date: 2026-11-23

Plain attribute tables on both backends (an incident's point is kept as lon/lat columns in
EPSG:4490 beside the coordinates as sent). SQLite: each table is registered in
``gpkg_contents`` as ``attributes``, as the GeoPackage standard asks of attribute tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from geogrid.store.schema import JsonType, UtcDateTime

revision: str = "0002_incidents"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("incidents", "incident_events", "idempotency_keys", "api_keys", "audit_log")
LEVEL_COLUMNS = tuple(f"level{n}_code" for n in range(1, 7))
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
URGENCIES = ("red", "yellow", "blue")
ROLES = ("reporter", "worker", "supervisor", "planner", "admin")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _create_incidents() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("reference", sa.Text, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("urgency", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("lon", sa.Double, nullable=False),
        sa.Column("lat", sa.Double, nullable=False),
        sa.Column("original_lon", sa.Double, nullable=False),
        sa.Column("original_lat", sa.Double, nullable=False),
        sa.Column("original_crs", sa.Text, nullable=False),
        sa.Column("plan_name", sa.Text),
        sa.Column("plan_version", sa.Integer),
        *(sa.Column(name, sa.Text) for name in LEVEL_COLUMNS),
        sa.Column("grid_code", sa.Text),
        sa.Column("staff", JsonType, nullable=False),
        sa.Column("assignee", sa.Text),
        sa.Column("reporter_name", sa.Text),
        sa.Column("reporter_phone", sa.Text),
        sa.Column("photos", JsonType, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("closed_at", UtcDateTime),
        sa.Column("deadline", UtcDateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("escalated_at", UtcDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_incidents"),
        sa.UniqueConstraint("reference", name="uq_incidents_reference"),
        sa.CheckConstraint(_in("status", INCIDENT_STATUSES), name="ck_incidents_status"),
        sa.CheckConstraint(_in("urgency", URGENCIES), name="ck_incidents_urgency"),
        sqlite_autoincrement=True,
    )
    for column in ("category", "status", *LEVEL_COLUMNS, "grid_code", "created_at"):
        op.create_index(f"ix_incidents_{column}", "incidents", [column])
    op.create_table(
        "incident_events",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column(
            "incident_id",
            sa.Integer,
            sa.ForeignKey(
                "incidents.id", ondelete="CASCADE", name="fk_incident_events_incident_id_incidents"
            ),
            nullable=False,
        ),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("from_status", sa.Text),
        sa.Column("to_status", sa.Text, nullable=False),
        sa.Column("urgency", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id", name="pk_incident_events"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_incident_events_incident_id", "incident_events", ["incident_id"])
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column(
            "incident_id",
            sa.Integer,
            sa.ForeignKey(
                "incidents.id", ondelete="CASCADE", name="fk_idempotency_keys_incident_id_incidents"
            ),
        ),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_idempotency_keys"),
        sa.UniqueConstraint("owner", "key", name="uq_idempotency_keys_owner_key"),
        sqlite_autoincrement=True,
    )


def _create_access() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("key_hash", sa.Text, nullable=False),
        sa.Column("prefix", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("grid_code", sa.Text),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("revoked_by", sa.Text),
        sa.Column("revoked_at", UtcDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
        sa.CheckConstraint(_in("role", ROLES), name="ck_api_keys_role"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("key_id", sa.Integer),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("object_type", sa.Text, nullable=False),
        sa.Column("object_id", sa.Text),
        sa.Column("details", JsonType, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_object", "audit_log", ["object_type", "object_id"])


def _register_geopackage() -> None:
    for table in TABLES:
        op.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
            f"VALUES ('{table}', 'attributes', '{table}', 'geogrid store: {table}')"
        )


def upgrade() -> None:
    """Create the incident, key and audit tables (registered in the GeoPackage on SQLite)."""
    _create_incidents()
    _create_access()
    if op.get_bind().dialect.name == "sqlite":
        _register_geopackage()


def downgrade() -> None:
    """Drop everything :func:`upgrade` created."""
    if op.get_bind().dialect.name == "sqlite":
        tables = ", ".join(f"'{t}'" for t in TABLES)
        op.execute(f"DELETE FROM gpkg_contents WHERE table_name IN ({tables})")
    for table in ("audit_log", "api_keys", "idempotency_keys", "incident_events", "incidents"):
        op.drop_table(table)
