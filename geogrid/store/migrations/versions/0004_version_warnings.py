"""Save warnings kept with the version: ``plan_versions.warnings``.

Revision ID: 0004_version_warnings
Revises: 0003_staff_changes
Create Date: 2026-11-25

Until 0004 the warnings validation found when a plan was saved were appended to the
version's ``note`` after a ``warnings at save:`` marker. They get their own JSON column, a
list of problems (``geogrid.validate.Problem.to_dict()`` objects), and the note is left as
the planner wrote it.

Upgrading moves a marked tail out of each note into ``warnings``: one object per problem
line, ``{"severity": "warning", "line": ...}`` (the lines were joined with ``"; "``).
Downgrading puts them back, so a store goes up and down again without losing a word.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from geogrid.store.schema import JsonType

revision: str = "0004_version_warnings"
down_revision: str | Sequence[str] | None = "0003_staff_changes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MARK = "warnings at save:"
"""What introduced the warnings in a note before 0004."""

_versions = sa.table(
    "plan_versions",
    sa.column("id", sa.Integer),
    sa.column("note", sa.Text),
    sa.column("warnings", JsonType),
)


def upgrade() -> None:
    """Add ``warnings`` and move each note's ``warnings at save:`` tail into it."""
    op.add_column(
        "plan_versions",
        sa.Column("warnings", JsonType, nullable=False, server_default="[]"),
    )
    connection = op.get_bind()
    marked = connection.execute(
        sa.select(_versions.c.id, _versions.c.note).where(_versions.c.note.contains(MARK))
    ).all()
    for version_id, note in marked:
        kept, warnings = split_note(note)
        connection.execute(
            _versions.update()
            .where(_versions.c.id == version_id)
            .values(note=kept, warnings=warnings)
        )


def downgrade() -> None:
    """Put the warnings back at the end of the note, then drop ``warnings``.

    SQLite drops the column in place (``ALTER TABLE … DROP COLUMN``, SQLite ≥ 3.35): a batch
    copy of ``plan_versions`` would drop the table its plans' rows hang on.
    """
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(_versions.c.id, _versions.c.note, _versions.c.warnings)
    ).all()
    for version_id, note, warnings in rows:
        if warnings:
            connection.execute(
                _versions.update()
                .where(_versions.c.id == version_id)
                .values(note=join_note(note, warnings))
            )
    if connection.dialect.name == "sqlite":
        op.execute("ALTER TABLE plan_versions DROP COLUMN warnings")
    else:
        op.drop_column("plan_versions", "warnings")


def split_note(note: str) -> tuple[str, list[dict[str, Any]]]:
    """A pre-0004 note split into the planner's note and the warnings after the marker.

    Examples
    --------
    >>> split_note("from the field\\nwarnings at save: a; b")
    ('from the field', [{'severity': 'warning', 'line': 'a'}, {'severity': 'warning', 'line': 'b'}])
    >>> split_note("warnings at save: a")
    ('', [{'severity': 'warning', 'line': 'a'}])
    """
    head, _, tail = note.rpartition(MARK)
    if head.endswith("\n"):
        head = head[:-1]
    lines = tail[1:].split("; ") if tail.startswith(" ") else [tail]
    return head, [{"severity": "warning", "line": line} for line in lines]


def join_note(note: str, warnings: list[Any]) -> str:
    """The pre-0004 note: ``note`` and the warnings' lines after the marker (the inverse).

    Examples
    --------
    >>> join_note("from the field", [{"line": "a"}, {"line": "b"}])
    'from the field\\nwarnings at save: a; b'
    >>> join_note(*split_note("x\\nwarnings at save: a; b")) == "x\\nwarnings at save: a; b"
    True
    """
    lines = "; ".join(str(w.get("line", w) if isinstance(w, dict) else w) for w in warnings)
    return f"{note}\n{MARK} {lines}" if note else f"{MARK} {lines}"
