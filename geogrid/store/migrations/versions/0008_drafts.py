"""Workbench drafts: a plan being redrawn by hand, its edit log and its pending proposal.

Revision ID: 0008_drafts
Revises: 0007_jobs
Create Date: 2026-12-06

``drafts``: one row per draft — the plan and version it was opened from (``base_version``
empty for a partition job's result), its ``jurisdiction``, the edited ``level`` and ``band``
(JSON ``{"low", "high", "then_low", "then_high"}``), the ``base`` plan with units tiling its
grids (:func:`geogrid.io.bundle.plan_to_bytes`), the edit ``log`` (JSON deltas) and
``cursor`` (undo/redo), a ``revision`` bumped by every change (the ETag; updates check it),
the grids' ``staff`` set in the draft, the pending ``proposal``, and the version it was
last saved as. SQLite: registered in ``gpkg_contents`` as ``attributes``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from geogrid.store.schema import JsonType, UtcDateTime

revision: str = "0008_drafts"
down_revision: str | Sequence[str] | None = "0007_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``drafts``."""
    op.create_table(
        "drafts",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("plan", sa.Text, nullable=False),
        sa.Column("base_version", sa.Integer),
        sa.Column("jurisdiction", sa.Text, nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("band", JsonType),
        sa.Column("base", sa.LargeBinary, nullable=False),
        sa.Column("log", JsonType, nullable=False),
        sa.Column("cursor", sa.Integer, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("staff", JsonType, nullable=False),
        sa.Column("proposal", JsonType),
        sa.Column("saved_version", sa.Integer),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_drafts"),
    )
    op.create_index("ix_drafts_owner", "drafts", ["owner"])
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
            "VALUES ('drafts', 'attributes', 'drafts', 'geogrid store: workbench drafts')"
        )


def downgrade() -> None:
    """Drop ``drafts``."""
    op.drop_index("ix_drafts_owner", table_name="drafts")
    op.drop_table("drafts")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DELETE FROM gpkg_contents WHERE table_name = 'drafts'")
