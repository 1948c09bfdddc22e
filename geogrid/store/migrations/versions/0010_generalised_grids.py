"""Generalised grids: each version's levels simplified per zoom band, for low-zoom tiles.

Revision ID: 0010_generalised_grids
Revises: 0009_plan_notify
Create Date: 2026-12-06

``generalised_grids``: per plan version, level and zoom band (4, 6, 8, 10), each grid's
geometry simplified as a coverage by two tile pixels of the band's zoom, in EPSG:3857
(:func:`geogrid.tiles.generalise`); a tile at zoom ≤ 10 is cut from these instead of from
``grids``. PostgreSQL: ``geometry(MultiPolygon, 3857)`` with one partial GiST index per band.
SQLite: GeoPackage blobs (srs 3857), the table registered in ``gpkg_contents`` as
``attributes``. The versions active now get theirs here (:func:`backfill_generalised`:
seconds for a city, minutes for a province); versions activated later get theirs at
activation.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from geogrid.store.generalised import backfill_generalised
from geogrid.store.schema import MultiPolygonType

revision: str = "0010_generalised_grids"
down_revision: str | Sequence[str] | None = "0009_plan_notify"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BANDS = (4, 6, 8, 10)  # geogrid.tiles.BANDS when this migration was written


def upgrade() -> None:
    """Create ``generalised_grids`` and fill it for the versions active now."""
    op.create_table(
        "generalised_grids",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("band", sa.Integer, nullable=False),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("geom", MultiPolygonType(3857), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["plan_versions.id"],
            name="fk_generalised_grids_version_id_plan_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_generalised_grids"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_generalised_grids_version_id_level_band",
        "generalised_grids",
        ["version_id", "level", "band"],
    )
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
            "VALUES ('generalised_grids', 'attributes', 'generalised_grids', "
            "'geogrid store: grids generalised per zoom band, EPSG:3857 blobs')"
        )
    else:
        for band in BANDS:
            op.create_index(
                f"ix_generalised_grids_geom_{band}",
                "generalised_grids",
                ["geom"],
                postgresql_using="gist",
                postgresql_where=sa.text(f"band = {band}"),
            )
    backfill_generalised(bind, complete=False)  # 0012 adds more columns and fills them


def downgrade() -> None:
    """Drop ``generalised_grids``."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DELETE FROM gpkg_contents WHERE table_name = 'generalised_grids'")
    else:
        for band in BANDS:
            op.drop_index(f"ix_generalised_grids_geom_{band}", table_name="generalised_grids")
    op.drop_index("ix_generalised_grids_version_id_level_band", table_name="generalised_grids")
    op.drop_table("generalised_grids")
