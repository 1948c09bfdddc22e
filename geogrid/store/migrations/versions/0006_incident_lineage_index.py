"""Statistics at county scale: a covering index of the incidents' lineages.

Revision ID: 0006_incident_lineage_index
Revises: 0005_county
Create Date: 2026-12-06

``ix_incidents_lineage`` on ``incidents (level1_code, …, level6_code)``, carrying ``status``,
``created_at``, ``closed_at`` and ``deadline`` (``INCLUDE``, PostgreSQL): the statistics
(:func:`geogrid.store.incident_stats.sql_stats`) group a year of a county by the lineage's
prefixes reading this index alone, in its order — an index-only scan of ~100 bytes a row
instead of the ~600-byte rows of the table, and no sort — and a street's or township's rows are
one range of it. SQLite gets the index on the six codes (the embedded store groups in
Python; the index keeps both schemas alike for ``alembic check``).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006_incident_lineage_index"
down_revision: str | Sequence[str] | None = "0005_county"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_incidents_lineage"
CODES = [f"level{n}_code" for n in range(1, 7)]
INCLUDE = ["status", "created_at", "closed_at", "deadline"]  # schema.LINEAGE_INCLUDE


def upgrade() -> None:
    """Create the covering index (minutes on a million rows: writes wait meanwhile)."""
    op.create_index(INDEX, "incidents", CODES, postgresql_include=INCLUDE)


def downgrade() -> None:
    """Drop it."""
    op.drop_index(INDEX, table_name="incidents")
