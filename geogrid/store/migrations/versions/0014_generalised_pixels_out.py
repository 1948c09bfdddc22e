"""Generalised grids carry their tile pixels one zoom out too (PostGIS).

Revision ID: 0014_generalised_pixels_out
Revises: 0013_unit_measures
Create Date: 2026-12-07

Migration 0012 gave each generalised grid its ``pixels`` at the band's own zoom, so a tile
at zoom 4, 6, 8 or 10 shifts the grids inside it instead of cutting each. A tile one zoom
out (3, 5, 7, 9: cut from the next band up, ``geogrid.tiles.band_of``) still cut every grid
with ``ST_AsMVTGeom`` — a province's zoom-9 tile, 2,400 grids of band 10 at ~90 vertices
each, took longer than its zoom-8 tile. ``pixels_out`` (PostGIS only; NULL on SQLite): the
same for zoom ``band - 1`` (``ST_AsMVTGeom`` of the whole world at that zoom; NULL for a
grid under half a pixel there). Upgrading fills it for every row (one ``UPDATE``), then
rewrites the table in (version, level, band) order (``CLUSTER``: a tile reads a band's rows
of a few dozen versions, each now on contiguous pages) and analyses it; downgrading drops
the column.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from geogrid.store.generalised import pixels_sql
from geogrid.store.schema import MultiPolygonType

revision: str = "0014_generalised_pixels_out"
down_revision: str | Sequence[str] | None = "0013_unit_measures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``pixels_out``; make it on PostGIS."""
    with op.batch_alter_table("generalised_grids") as batch:
        batch.add_column(sa.Column("pixels_out", MultiPolygonType(-1)))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"UPDATE generalised_grids s SET pixels_out = {pixels_sql('s', 1)}")
        # rewritten in (version, level, band) order: the UPDATEs of 0012 and this one left a
        # band's rows scattered (the province's dense zoom-8 tile read 7,451 pages for 11,738
        # rows, 29 ms; in order 9 ms), and the table twice its size until vacuumed
        op.execute("CLUSTER generalised_grids USING ix_generalised_grids_version_id_level_band")
        op.execute("ANALYZE generalised_grids")


def downgrade() -> None:
    """Drop ``pixels_out``."""
    with op.batch_alter_table("generalised_grids") as batch:
        batch.drop_column("pixels_out")
