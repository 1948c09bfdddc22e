"""Save warnings kept with the version (``plan_versions.warnings``, migration 0004), on both stores.

- ``save_checked`` keeps the warnings in ``VersionInfo.warnings`` and the note as written;
- the API shows them in every version's output;
- a store at 0003 goes up to 0004 (a note's ``warnings at save:`` tail moves into
  ``warnings``) and down again without losing a word.
"""

from __future__ import annotations

import datetime as dt
import doctest
import importlib
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient
from plans import community_plan

from api.main import create_app
from geogrid.store import open_store
from geogrid.store import schema as tables
from geogrid.store.database import alembic_config, create_engine, writing
from geogrid.store.publish import save_checked
from geogrid.validate import ProblemKind
from tests.service import issue_key, service_settings, street_plan

MIGRATION = importlib.import_module("geogrid.store.migrations.versions.0004_version_warnings")
BEFORE, AFTER = "0003_staff_changes", MIGRATION.revision


def warned_plan():
    """The street plan with households that do not add up: a warning, no error."""
    plan = street_plan()
    plan.grids["households"] = 10
    return plan


@pytest.fixture
def engine(store_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(store_url)
    yield engine
    engine.dispose()


# --------------------------------------------------------------------------- saving


def test_warnings_are_kept_beside_the_note(store_url: str) -> None:
    with open_store(store_url) as store:
        info, warnings = save_checked(store, warned_plan(), by="规划员", note="2026 redraw")
        listed = store.versions()
        clean, none = save_checked(store, street_plan(), by="规划员")
    assert warnings and {p.kind for p in warnings} == {ProblemKind.HOUSEHOLDS_MISMATCH}
    assert info.note == listed[0].note == "2026 redraw"
    assert info.warnings == listed[0].warnings == [p.to_dict() for p in warnings]
    assert (clean.warnings, none, clean.note) == ([], [], "")


def test_the_api_shows_the_warnings_of_every_version(tmp_path) -> None:
    with service_settings("gpkg", tmp_path) as values:
        planner = issue_key(values, "planner")
        with open_store(values.store_url) as store:
            _, warnings = save_checked(store, warned_plan(), by="规划员", note="外业")
        with TestClient(create_app(values)) as client:
            one = client.get(f"/plans/{street_plan().name}/versions/1", headers=planner).json()
            listed = client.get(f"/plans/{street_plan().name}/versions", headers=planner).json()
    assert one["note"] == "外业"
    assert [w["line"] for w in one["warnings"]] == [p.line() for p in warnings]
    assert listed[0]["warnings"] == one["warnings"]


# --------------------------------------------------------------------------- migration 0004

NOTES = {
    1: "from the field\nwarnings at save: households mismatch (户数不符) of 001: 10 ≠ 20; b",
    2: "warnings at save: only; a warning",
    3: "no warnings; content sha256:abc",
}


def version_rows(connection: sa.Connection) -> list[dict[str, Any]]:
    """Every ``plan_versions`` row as 0003 has it (no ``warnings``), by id."""
    table = tables.plan_versions
    later = {"warnings", "jurisdiction", "valid_from", "valid_to"}  # added by 0004 and 0005
    columns = [c for c in table.c if c.name not in later]
    rows = connection.execute(sa.select(*columns).order_by(table.c.id))
    return [dict(row._mapping) for row in rows]


def columns_of(connection: sa.Connection) -> set[str]:
    return {c["name"] for c in sa.inspect(connection).get_columns("plan_versions")}


def test_a_0003_store_goes_to_0004_and_back_without_losing_data(
    store_url: str, engine: sa.Engine
) -> None:
    with writing(engine) as connection:
        command.upgrade(alembic_config(connection), BEFORE)
        for number, note in NOTES.items():
            values = {"plan_name": "测试", "version": number, "levels": ["社区"], "note": note}
            values |= {"status": "draft", "created_by": "张三"}
            values |= {"created_at": dt.datetime(2026, 1, number, tzinfo=dt.UTC)}
            connection.execute(tables.plan_versions.insert().values(values))
        before = version_rows(connection)
    with writing(engine) as connection:
        command.upgrade(alembic_config(connection), AFTER)
    with open_store(store_url) as store:  # at the head: nothing more to do
        versions = {v.version: v for v in store.versions()}
    assert versions[1].note == "from the field"
    assert [w["line"] for w in versions[1].warnings] == [
        "households mismatch (户数不符) of 001: 10 ≠ 20",
        "b",
    ]
    assert (versions[2].note, [w["line"] for w in versions[2].warnings]) == (
        "",
        ["only", "a warning"],
    )
    assert (versions[3].note, versions[3].warnings) == (NOTES[3], [])
    with writing(engine) as connection:
        command.downgrade(alembic_config(connection), BEFORE)
    with engine.connect() as connection:
        assert "warnings" not in columns_of(connection)
        assert version_rows(connection) == before  # every word back where it was


def test_warnings_saved_at_0004_go_back_into_the_note(store_url: str, engine: sa.Engine) -> None:
    with open_store(store_url) as store:
        _, warnings = save_checked(store, warned_plan(), by="规划员", note="2026 redraw")
    with writing(engine) as connection:
        command.downgrade(alembic_config(connection), BEFORE)
        (note,) = connection.execute(sa.select(tables.plan_versions.c.note)).scalars()
    lines = "; ".join(p.line() for p in warnings)
    assert note == f"2026 redraw\nwarnings at save: {lines}"
    with open_store(store_url) as store:  # up again: the plan and its warnings' lines
        (info,) = store.versions()
        assert len(store.get(info.plan, info.version).grids) == len(street_plan().grids)
    assert info.note == "2026 redraw"
    assert [w["line"] for w in info.warnings] == [p.line() for p in warnings]


def test_the_geopackage_stays_sound_after_going_down(gpkg_path, engine_for_gpkg) -> None:
    with open_store(f"sqlite:///{gpkg_path}") as store:
        store.save(community_plan(), by="张三")
    with writing(engine_for_gpkg) as connection:
        command.downgrade(alembic_config(connection), BEFORE)
    with sqlite3.connect(gpkg_path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
        assert connection.execute("SELECT count(*) FROM grids").fetchone()[0] > 0


@pytest.fixture
def engine_for_gpkg(gpkg_path) -> Iterator[sa.Engine]:
    engine = create_engine(f"sqlite:///{gpkg_path}")
    yield engine
    engine.dispose()


def test_the_migrations_note_helpers() -> None:
    failures, tried = doctest.testmod(MIGRATION, raise_on_error=False)
    assert tried >= 4 and failures == 0
