"""Unit measures kept beside each stored version (for the workbench's first open).

Revision ID: 0013_unit_measures
Revises: 0012_generalised_tile_ready
Create Date: 2026-12-07

``unit_measures``: per plan version whose units tile a level of its grids (a partition's
units), ``tiles`` (JSON list of those levels) and ``measures`` (bytes of
:class:`geogrid.units.measures.UnitMeasures`: the units' shared edges, areas, perimeters
and inside points, with the digest of the units measured). Written when a version is saved
(:mod:`geogrid.store.unit_measures`); a version saved earlier gets its row the first time the
workbench opens it, so upgrading fills nothing. The rows go with their version (``ON DELETE
CASCADE``). SQLite: registered in ``gpkg_contents`` as ``attributes``.

(The workbench brief named this migration 0012; 0012 was taken by
``0012_generalised_tile_ready`` meanwhile, so this one follows it.)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from geogrid.store.schema import JsonType

revision: str = "0013_unit_measures"
down_revision: str | Sequence[str] | None = "0012_generalised_tile_ready"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``unit_measures`` (empty: rows come with saves and first opens)."""
    op.create_table(
        "unit_measures",
        sa.Column("version_id", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("tiles", JsonType, nullable=False),
        sa.Column("measures", sa.LargeBinary, nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["plan_versions.id"],
            name="fk_unit_measures_version_id_plan_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", name="pk_unit_measures"),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
            "VALUES ('unit_measures', 'attributes', 'unit_measures', "
            "'geogrid store: each version''s unit measures (workbench)')"
        )


def downgrade() -> None:
    """Drop ``unit_measures``."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DELETE FROM gpkg_contents WHERE table_name = 'unit_measures'")
    op.drop_table("unit_measures")
