"""Drafts' edit logs appended row by row; drafts of a stored version point at it.

Revision ID: 0011_draft_edits
Revises: 0010_generalised_grids
Create Date: 2026-12-07

Until 0011 a draft row held its whole edit log as one JSON list (``drafts.log``), written
again after every edit, and a copy of its base plan's bytes (``drafts.base``) even when the
base was a version in the store.

``draft_edits``: one row per edit of a draft — ``draft_id``, ``seq`` (0, 1, … the edit's
place in the log), ``edit`` (the delta as JSON, as ``drafts.log`` held it) and
``created_at``. An edit adds one row (and drops the undone rows after the cursor); undo
and redo change only ``drafts.cursor``. The rows go with their draft (``ON DELETE
CASCADE``). ``drafts.base_from``: the version of ``drafts.plan`` the base plan is read
from; ``drafts.base`` is then empty (nullable from 0011) — uploads and partition results
keep their bytes.

Upgrading moves every draft's ``log`` into ``draft_edits`` (``created_at`` = the draft's
``updated_at``) and drops ``log``; existing drafts keep their bytes. Downgrading puts the
rows back into ``log`` and writes the bytes of the drafts that point at a version (the
version's plan, as the draft was opened from it). SQLite: ``drafts`` is copied in batch
mode (a column becomes nullable) before ``draft_edits`` refers to it, and never after (a
copy drops the table, which deletes its edits in cascade); ``draft_edits`` is registered in
``gpkg_contents`` as ``attributes``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from geogrid.store.schema import JsonType, UtcDateTime

revision: str = "0011_draft_edits"
down_revision: str | Sequence[str] | None = "0010_generalised_grids"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_drafts = sa.table(
    "drafts",
    sa.column("id", sa.Text),
    sa.column("plan", sa.Text),
    sa.column("base", sa.LargeBinary),
    sa.column("base_from", sa.Integer),
    sa.column("log", JsonType),
    sa.column("updated_at", UtcDateTime),
)
_edits = sa.table(
    "draft_edits",
    sa.column("draft_id", sa.Text),
    sa.column("seq", sa.Integer),
    sa.column("edit", JsonType),
    sa.column("created_at", UtcDateTime),
)


def upgrade() -> None:
    """Create ``draft_edits``, move every log into it, drop ``drafts.log``."""
    with op.batch_alter_table("drafts") as batch:
        batch.alter_column("base", existing_type=sa.LargeBinary, nullable=True)
        batch.add_column(sa.Column("base_from", sa.Integer))
    op.create_table(
        "draft_edits",
        sa.Column("draft_id", sa.Text, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("edit", JsonType, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["draft_id"], ["drafts.id"], name="fk_draft_edits_draft_id_drafts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("draft_id", "seq", name="pk_draft_edits"),
    )
    connection = op.get_bind()
    query = sa.select(_drafts.c.id, _drafts.c.log, _drafts.c.updated_at)
    for draft_id, log, at in connection.execute(query).all():
        rows = [
            {"draft_id": draft_id, "seq": seq, "edit": edit, "created_at": at}
            for seq, edit in enumerate(log or [])
        ]
        if rows:
            connection.execute(_edits.insert(), rows)
    if connection.dialect.name == "sqlite":
        # in place (SQLite ≥ 3.35): a batch copy would drop ``drafts``, and with it (foreign
        # keys on, ON DELETE CASCADE) every row just written to ``draft_edits``
        op.execute("ALTER TABLE drafts DROP COLUMN log")
    else:
        op.drop_column("drafts", "log")
    if connection.dialect.name == "sqlite":
        op.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
            "VALUES ('draft_edits', 'attributes', 'draft_edits', "
            "'geogrid store: workbench drafts'' edit logs, one row per edit')"
        )


def downgrade() -> None:
    """Put every log back into ``drafts.log`` and every base's bytes into ``drafts.base``."""
    from geogrid.io.bundle import plan_to_bytes
    from geogrid.store.plan_reads import load_plan
    from geogrid.store.schema import plan_versions

    connection = op.get_bind()
    op.add_column("drafts", sa.Column("log", JsonType, nullable=True))
    logs: dict[str, list[object]] = {}
    query = sa.select(_edits.c.draft_id, _edits.c.edit).order_by(_edits.c.draft_id, _edits.c.seq)
    for draft_id, edit in connection.execute(query):
        logs.setdefault(draft_id, []).append(edit)
    for (draft_id,) in connection.execute(sa.select(_drafts.c.id)).all():
        connection.execute(
            _drafts.update().where(_drafts.c.id == draft_id).values(log=logs.get(draft_id, []))
        )
    pointing = sa.select(_drafts.c.id, _drafts.c.plan, _drafts.c.base_from).where(
        _drafts.c.base.is_(None)
    )
    for draft_id, plan, version in connection.execute(pointing).all():
        row = connection.execute(
            sa.select(plan_versions).where(
                plan_versions.c.plan_name == plan, plan_versions.c.version == version
            )
        ).one()
        blob = plan_to_bytes(load_plan(connection, row))
        connection.execute(_drafts.update().where(_drafts.c.id == draft_id).values(base=blob))
    if connection.dialect.name == "sqlite":
        op.execute("DELETE FROM gpkg_contents WHERE table_name = 'draft_edits'")
    op.drop_table("draft_edits")
    with op.batch_alter_table("drafts") as batch:
        batch.alter_column("log", existing_type=JsonType, nullable=False)
        batch.alter_column("base", existing_type=sa.LargeBinary, nullable=False)
        batch.drop_column("base_from")
