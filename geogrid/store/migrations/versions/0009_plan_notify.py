"""Several servers, one store: PostgreSQL tells every listener when plans or staff change.

Revision ID: 0009_plan_notify
Revises: 0008_drafts
Create Date: 2026-12-06

Triggers on ``plan_versions`` (a version saved, approved, activated, retired, its period
changed) and ``staff_changes`` (staff changed in place, now or dated) send
``NOTIFY geogrid_plans`` with ``<table>:<id>`` as payload, in the writing transaction: the
notice is delivered at commit, to every ``geogrid serve`` process listening
(:mod:`api.notify`), whichever process or command wrote — so a plan activated on one node
is answered by all, without any of them polling the store per request. PostgreSQL only:
the embedded GeoPackage store has one process by design.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009_plan_notify"
down_revision: str | Sequence[str] | None = "0008_drafts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "geogrid_plans"  # api.notify.CHANNEL
TABLES = ("plan_versions", "staff_changes")


def upgrade() -> None:
    """Create the notifying function and its triggers (PostgreSQL)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION geogrid_notify_plans() RETURNS trigger AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME || ':' || NEW.id);
            RETURN NULL;
        END;
        $$ LANGUAGE plpgsql
        """
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_notify AFTER INSERT OR UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION geogrid_notify_plans()"
        )


def downgrade() -> None:
    """Drop them."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify ON {table}")
    op.execute("DROP FUNCTION IF EXISTS geogrid_notify_plans()")
