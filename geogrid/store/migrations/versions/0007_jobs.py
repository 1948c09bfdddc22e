"""Jobs: long work (a partition) run in its own process, with state, progress and result.

Revision ID: 0007_jobs
Revises: 0006_incident_lineage_index
Create Date: 2026-12-06

``jobs``: one row per job — ``id`` (a UUID as text), ``kind``, ``state`` (queued → running →
succeeded / failed / cancelled), progress (``done``, ``total``, ``message``), ``params``
(JSON) and ``inputs`` (the uploaded files, a zip), ``result`` (JSON) and ``result_blob``
(the result plan, :func:`geogrid.io.bundle.plan_to_bytes`), ``error``, who started it
(``created_by``, ``owner`` = the key's identity, ``role``, ``scope`` = the key's bound code)
and for which ``jurisdiction``; the process running it (``runner``, ``pid``,
``heartbeat_at``) and when it was created, started and finished. The store is the queue:
any server process claims queued jobs (:mod:`geogrid.store.jobs`).

SQLite: the table is registered in ``gpkg_contents`` as ``attributes``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from geogrid.store.schema import JsonType, UtcDateTime

revision: str = "0007_jobs"
down_revision: str | Sequence[str] | None = "0006_incident_lineage_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = ("queued", "running", "succeeded", "failed", "cancelled")  # schema.JOB_STATES


def upgrade() -> None:
    """Create ``jobs``."""
    op.create_table(
        "jobs",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("total", sa.Integer, nullable=False, server_default="0"),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("params", JsonType, nullable=False),
        sa.Column("inputs", sa.LargeBinary),
        sa.Column("result", JsonType),
        sa.Column("result_blob", sa.LargeBinary),
        sa.Column("error", sa.Text),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("scope", sa.Text),
        sa.Column("jurisdiction", sa.Text),
        sa.Column("runner", sa.Text),
        sa.Column("pid", sa.Integer),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("started_at", UtcDateTime),
        sa.Column("finished_at", UtcDateTime),
        sa.Column("heartbeat_at", UtcDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.CheckConstraint(f"state IN {STATES!r}", name="ck_jobs_state"),
    )
    op.create_index("ix_jobs_state", "jobs", ["state"])
    op.create_index("ix_jobs_owner", "jobs", ["owner"])
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
            "VALUES ('jobs', 'attributes', 'jobs', 'geogrid store: jobs')"
        )


def downgrade() -> None:
    """Drop ``jobs``."""
    op.drop_index("ix_jobs_owner", table_name="jobs")
    op.drop_index("ix_jobs_state", table_name="jobs")
    op.drop_table("jobs")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DELETE FROM gpkg_contents WHERE table_name = 'jobs'")
