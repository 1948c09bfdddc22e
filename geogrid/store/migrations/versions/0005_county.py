"""County: plans per jurisdiction, versions in force for a period, people behind staff rows.

Revision ID: 0005_county
Revises: 0004_version_warnings
Create Date: 2026-12-06

- ``plan_versions.jurisdiction``: the area a plan governs, named by a code (the code of the
  plan's one top-level grid, else the plan's name). One version per jurisdiction is active,
  instead of one per store.
- ``plan_versions.valid_from`` / ``valid_to``: the period a version is in force. Existing
  versions get the activation and deactivation instants they already have.
- ``jurisdictions``: the registry of codes above and at the plans' top levels (county →
  township → …), with parent links; the scope of a key bound to a county follows them.
- ``people`` and ``staff.person_id``: a grid worker is a person holding assignments; existing
  staff rows get one person per distinct (name, phone).

SQLite: the new tables are registered in ``gpkg_contents`` as ``attributes``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from geogrid.store.schema import JsonType, UtcDateTime

revision: str = "0005_county"
down_revision: str | Sequence[str] | None = "0004_version_warnings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_versions = sa.table(
    "plan_versions",
    sa.column("id", sa.Integer),
    sa.column("plan_name", sa.Text),
    sa.column("jurisdiction", sa.Text),
    sa.column("activated_at", UtcDateTime),
    sa.column("deactivated_at", UtcDateTime),
    sa.column("valid_from", UtcDateTime),
    sa.column("valid_to", UtcDateTime),
    sa.column("levels", JsonType),
)
_grids = sa.table(
    "grids",
    sa.column("version_id", sa.Integer),
    sa.column("code", sa.Text),
    sa.column("level", sa.Integer),
)
_staff = sa.table(
    "staff",
    sa.column("id", sa.Integer),
    sa.column("name", sa.Text),
    sa.column("phone", sa.Text),
    sa.column("person_id", sa.Integer),
)
_people = sa.table(
    "people",
    sa.column("id", sa.Integer),
    sa.column("name", sa.Text),
    sa.column("phone", sa.Text),
    sa.column("created_at", UtcDateTime),
)
_NEW_TABLES = ("jurisdictions", "people")


def upgrade() -> None:
    """Add jurisdictions, periods in force and people; fill them from what is stored."""
    _create_tables()
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.add_column(
        "plan_versions", sa.Column("jurisdiction", sa.Text, nullable=False, server_default="")
    )
    op.add_column("plan_versions", sa.Column("valid_from", UtcDateTime))
    op.add_column("plan_versions", sa.Column("valid_to", UtcDateTime))
    if sqlite:  # SQLite adds a column with a reference in place, not a constraint later
        op.execute("ALTER TABLE staff ADD COLUMN person_id INTEGER REFERENCES people (id)")
    else:
        op.add_column("staff", sa.Column("person_id", sa.Integer))
        op.create_foreign_key("fk_staff_person_id_people", "staff", "people", ["person_id"], ["id"])
        op.alter_column("plan_versions", "jurisdiction", server_default=None)
    _fill_versions()
    _fill_people()
    op.create_index("ix_plan_versions_jurisdiction", "plan_versions", ["jurisdiction"])
    op.create_index("ix_staff_person_id", "staff", ["person_id"])
    op.create_index("ix_staff_grid_code", "staff", ["grid_code"])
    op.drop_index("uq_plan_versions_one_active", table_name="plan_versions")
    _one_active_index("jurisdiction")
    if sqlite:
        for name in _NEW_TABLES:
            op.execute(
                "INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
                f"VALUES ('{name}', 'attributes', '{name}', 'geogrid store: {name}')"
            )


def downgrade() -> None:
    """Drop what :func:`upgrade` added (a store with several active plans cannot go back)."""
    connection = op.get_bind()
    active = connection.scalar(
        sa.text("SELECT count(*) FROM plan_versions WHERE status = 'active'")
    )
    if active and active > 1:
        raise RuntimeError(
            f"{active} jurisdictions have an active plan; 0004 allows one: retire all but one"
        )
    op.drop_index("uq_plan_versions_one_active", table_name="plan_versions")
    _one_active_index("status")
    op.drop_index("ix_staff_grid_code", table_name="staff")
    op.drop_index("ix_staff_person_id", table_name="staff")
    op.drop_index("ix_plan_versions_jurisdiction", table_name="plan_versions")
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        for statement in (
            "ALTER TABLE staff DROP COLUMN person_id",
            "ALTER TABLE plan_versions DROP COLUMN valid_to",
            "ALTER TABLE plan_versions DROP COLUMN valid_from",
            "ALTER TABLE plan_versions DROP COLUMN jurisdiction",
        ):
            op.execute(statement)
        for name in _NEW_TABLES:
            op.execute(f"DELETE FROM gpkg_contents WHERE table_name = '{name}'")
    else:
        op.drop_constraint("fk_staff_person_id_people", "staff", type_="foreignkey")
        op.drop_column("staff", "person_id")
        for column in ("valid_to", "valid_from", "jurisdiction"):
            op.drop_column("plan_versions", column)
    op.drop_table("people")
    op.drop_table("jurisdictions")


def _create_tables() -> None:
    op.create_table(
        "jurisdictions",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("parent_code", sa.Text),
        sa.Column("level_name", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_jurisdictions"),
        sa.UniqueConstraint("code", name="uq_jurisdictions_code"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_jurisdictions_parent_code", "jurisdictions", ["parent_code"])
    op.create_table(
        "people",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("phone", sa.Text),
        sa.Column("id_number", sa.Text),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_people"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_people_name_phone", "people", ["name", "phone"])
    op.create_index(
        "uq_people_id_number",
        "people",
        ["id_number"],
        unique=True,
        postgresql_where=sa.text("id_number IS NOT NULL"),
        sqlite_where=sa.text("id_number IS NOT NULL"),
    )


def _one_active_index(column: str) -> None:
    op.create_index(
        "uq_plan_versions_one_active",
        "plan_versions",
        [column],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
        sqlite_where=sa.text("status = 'active'"),
    )


def _fill_versions() -> None:
    """Jurisdiction = the one top-level grid's code, else the plan name; periods from activation."""
    connection = op.get_bind()
    rows = connection.execute(sa.select(_versions.c.id, _versions.c.plan_name)).all()
    for version_id, plan_name in rows:
        tops = connection.scalars(
            sa.select(_grids.c.code).where(_grids.c.version_id == version_id, _grids.c.level == 1)
        ).all()
        jurisdiction = tops[0] if len(tops) == 1 else plan_name
        connection.execute(
            _versions.update()
            .where(_versions.c.id == version_id)
            .values(
                jurisdiction=jurisdiction,
                valid_from=_versions.c.activated_at,
                valid_to=_versions.c.deactivated_at,
            )
        )


def _fill_people() -> None:
    """One person per distinct (name, phone) of the staff rows."""
    connection = op.get_bind()
    pairs = connection.execute(sa.select(_staff.c.name, _staff.c.phone).distinct()).all()
    now = dt.datetime.now(dt.UTC)
    for name, phone in pairs:
        person = connection.execute(
            _people.insert().values(name=name, phone=phone, created_at=now).returning(_people.c.id)
        ).scalar_one()
        same_phone = _staff.c.phone.is_(None) if phone is None else _staff.c.phone == phone
        connection.execute(
            _staff.update().where(_staff.c.name == name, same_phone).values(person_id=person)
        )
