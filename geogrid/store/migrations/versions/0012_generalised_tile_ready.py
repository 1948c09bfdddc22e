"""Generalised grids carry their tile attributes and, on PostGIS, their tile pixels.

Revision ID: 0012_generalised_tile_ready
Revises: 0011_draft_edits
Create Date: 2026-12-07

A low-zoom tile (``geogrid.store.tiles``) used to join every generalised grid to its row in
``grids`` for the attributes it carries, and to cut, snap and validate every grid with
``ST_AsMVTGeom`` — per grid, the whole of a province's zoom-8 tile (9,000 grids). From 0012
``generalised_grids`` holds:

* ``name``, ``parent_code``, ``households``, ``kind``: copied from the grid's row in
  ``grids`` (a version's grids never change once saved), so the tile reads no other row;
* ``pixels`` (PostGIS only; NULL on SQLite): the band's copy as ``ST_AsMVTGeom`` makes it for
  a tile at the band's own zoom, but for the whole world at once — integer tile pixels of
  that zoom, y down, validated and oriented (``geometry(MultiPolygon, 0)``); NULL for a grid
  under half a pixel, which a tile leaves out too. A tile at the band's zoom shifts the
  grids that lie inside it (``ST_Translate``) and cuts only those crossing its edge.

Upgrading fills both for every row (the attributes from ``grids``, the pixels: one
``UPDATE``, minutes for a province) and analyses the table; downgrading drops the columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from geogrid.store.generalised import pixels_sql
from geogrid.store.schema import MultiPolygonType

revision: str = "0012_generalised_tile_ready"
down_revision: str | Sequence[str] | None = "0011_draft_edits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ATTRIBUTES = ("name", "parent_code", "households", "kind")


def upgrade() -> None:
    """Add the columns, copy the attributes from ``grids``, make the pixels (PostGIS)."""
    with op.batch_alter_table("generalised_grids") as batch:
        batch.add_column(sa.Column("name", sa.Text))
        batch.add_column(sa.Column("parent_code", sa.Text))
        batch.add_column(sa.Column("households", sa.Integer))
        batch.add_column(sa.Column("kind", sa.Text))
        batch.add_column(sa.Column("pixels", MultiPolygonType(-1)))
    bind = op.get_bind()
    # the SQL of geogrid.store.generalised.complete_rows as it was at 0012 (it fills 0014's
    # column too now)
    if bind.dialect.name == "postgresql":
        copy = ", ".join(f"{c} = g.{c}" for c in _ATTRIBUTES)
        op.execute(
            f"UPDATE generalised_grids s SET {copy}, pixels = {pixels_sql('s')} FROM grids g "
            "WHERE g.version_id = s.version_id AND g.code = s.code"
        )
        # every row rewritten: fresh statistics for the tile query's plan (autovacuum, which
        # also clears the old rows, may take a while to come round)
        op.execute("ANALYZE generalised_grids")
    else:
        copy = ", ".join(
            f"{c} = (SELECT g.{c} FROM grids g WHERE g.version_id = s.version_id "
            "AND g.code = s.code)"
            for c in _ATTRIBUTES
        )
        op.execute(f"UPDATE generalised_grids AS s SET {copy}")


def downgrade() -> None:
    """Drop the columns."""
    with op.batch_alter_table("generalised_grids") as batch:
        for column in ("pixels", *reversed(_ATTRIBUTES)):
            batch.drop_column(column)
