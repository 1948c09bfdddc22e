"""Staff changed in place, with history: ``staff_changes`` and a staff revision per version.

Revision ID: 0003_staff_changes
Revises: 0002_incidents
Create Date: 2026-11-24

``plan_versions.staff_revision`` counts the staff changes of a version (0 when saved), so a
service worker notices a change with the one small query it already makes. SQLite: the new
table is registered in ``gpkg_contents`` as ``attributes``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from geogrid.store.schema import JsonType, UtcDateTime

revision: str = "0003_staff_changes"
down_revision: str | Sequence[str] | None = "0002_incidents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the staff revision counter and the ``staff_changes`` table."""
    op.add_column(
        "plan_versions",
        sa.Column("staff_revision", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "staff_changes",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column(
            "version_id",
            sa.Integer,
            sa.ForeignKey(
                "plan_versions.id",
                ondelete="CASCADE",
                name="fk_staff_changes_version_id_plan_versions",
            ),
            nullable=False,
        ),
        sa.Column("grid_code", sa.Text, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("before", JsonType, nullable=False),
        sa.Column("after", JsonType, nullable=False),
        sa.Column("changed_by", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("changed_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_staff_changes"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_staff_changes_version_id", "staff_changes", ["version_id"])
    op.create_index("ix_staff_changes_grid_code", "staff_changes", ["grid_code"])
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
            "VALUES ('staff_changes', 'attributes', 'staff_changes', "
            "'geogrid store: staff_changes')"
        )


def downgrade() -> None:
    """Drop what :func:`upgrade` added.

    SQLite drops the column in place (``ALTER TABLE … DROP COLUMN``, SQLite ≥ 3.35): a batch
    copy of ``plan_versions`` would drop the table its plans' rows hang on.
    """
    op.drop_table("staff_changes")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DELETE FROM gpkg_contents WHERE table_name = 'staff_changes'")
        op.execute("ALTER TABLE plan_versions DROP COLUMN staff_revision")
    else:
        op.drop_column("plan_versions", "staff_revision")
