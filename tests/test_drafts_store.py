"""Drafts in the store (migration 0011), on both stores.

* the edit log is appended row by row (``draft_edits``): edits, undo and redo survive a
  server restart (a new :class:`Workbench` over the same store) and go on from there; an
  edit after undo replaces the undone rows; a change naming a stale revision writes nothing,
  a record read before other processes' edits rebuilds the draft as it is now, and a
  conflicting save keeps every edit;
* a draft of a stored version carries no base bytes (``base_from``) and opens the same plan;
  an upload's draft keeps its bytes;
* a store at 0010 with drafts in it upgrades (each ``drafts.log`` carried into
  ``draft_edits``) and goes down again without losing an edit;
* the embedded store writes ahead (WAL, ``synchronous = NORMAL``) and another connection
  sees every commit.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from geogrid.access import Caller
from geogrid.errors import PreconditionFailedError
from geogrid.io.bundle import plan_from_bytes, plan_to_bytes
from geogrid.store import PlanStore, open_store
from geogrid.store.database import alembic_config, create_engine, writing
from geogrid.store.schema import JsonType, UtcDateTime, draft_edits
from geogrid.testing import assert_plans_equal
from geogrid.workbench.draft import Draft
from geogrid.workbench.edits import apply_edit
from geogrid.workbench.service import DraftConflictError, Workbench
from tests.service import street_plan, with_units

PLANNER = Caller.local("规划员")
PLAN = with_units(street_plan(6), per_side=2)
WEST, EAST = "110108001001", "110108001002"


@pytest.fixture
def store(store_url: str) -> Iterator[PlanStore]:
    with open_store(store_url) as opened:
        info = opened.save(PLAN, by="规划员")
        opened.approve(PLAN.name, info.version, by="审核员")
        opened.activate(PLAN.name, info.version, by="审核员")
        yield opened


def _move(unit: int, to: int, parent: str = WEST) -> dict:
    """Move unit ``u<unit>`` of the first grid of ``parent`` to its grid number ``to``."""
    return {"op": "move", "units": [f"{parent}001-u{unit}"], "to": f"{parent}{to:03d}"}


def _rows(store: PlanStore, draft_id: str) -> list[tuple[int, dict]]:
    query = sa.select(draft_edits.c.seq, draft_edits.c.edit).where(
        draft_edits.c.draft_id == draft_id
    )
    with store._engine.connect() as connection:
        rows = connection.execute(query.order_by(draft_edits.c.seq)).all()
    return [(int(seq), edit) for seq, edit in rows]


def _state(bench: Workbench, draft_id: str) -> tuple[list[str], int, int]:
    draft = bench.draft(bench.drafts.get(draft_id))
    return list(draft.codes), draft.cursor, len(draft.log)


def test_edits_undo_and_redo_survive_a_restart(store: PlanStore) -> None:
    bench = Workbench(store)
    record = bench.open(PLANNER, PLAN.name, band="50-150")
    for unit, to in ((1, 2), (2, 2), (3, 3)):
        bench.edit(PLANNER, record.id, _move(unit, to))
    bench.step(PLANNER, record.id, back=True)
    assert len(_rows(store, record.id)) == 3  # undo moved the cursor, wrote no row
    before = _state(bench, record.id)
    assert before[1:] == (2, 3)

    restarted = Workbench(store)  # another process: the draft rebuilt from the store
    assert _state(restarted, record.id) == before
    restarted.step(PLANNER, record.id, back=False)  # redo what was undone before
    restarted.step(PLANNER, record.id, back=True)
    restarted.step(PLANNER, record.id, back=True)
    restarted.edit(PLANNER, record.id, _move(4, 3))  # replaces the two undone edits
    rows = _rows(store, record.id)
    assert [seq for seq, _ in rows] == [0, 1]
    assert rows[1][1]["params"] == {"units": ["110108001001001-u4"], "to": "110108001001003"}

    again = Workbench(store)
    codes, cursor, length = _state(again, record.id)
    assert (cursor, length) == (2, 2) and codes == _state(restarted, record.id)[0]
    moved = dict(zip(PLAN.units["unit_id"], codes, strict=True))
    assert moved["110108001001001-u1"] == "110108001001002"
    assert moved["110108001001001-u3"] == "110108001001001"  # undone, then replaced
    assert moved["110108001001001-u4"] == "110108001001003"
    while again.draft(again.drafts.get(record.id)).can_undo:
        again.step(PLANNER, record.id, back=True)
    assert list(again.draft(again.drafts.get(record.id)).codes) == list(PLAN.units["grid_code"])


def test_a_stale_change_writes_nothing(store: PlanStore) -> None:
    one, two = Workbench(store), Workbench(store)  # two server processes, one draft
    record = one.open(PLANNER, PLAN.name)
    one.edit(PLANNER, record.id, _move(1, 2))
    two.draft(two.drafts.get(record.id))  # the second process holds revision 2
    one.edit(PLANNER, record.id, _move(2, 2), expect="r2")
    with pytest.raises(PreconditionFailedError, match="r3"):
        two.edit(PLANNER, record.id, _move(3, 3), expect="r2")
    stale = two.drafts.get(record.id)
    with pytest.raises(PreconditionFailedError):  # racing past the If-Match check
        two.drafts.update(record.id, stale.revision - 1, cursor=0)
    assert [seq for seq, _ in _rows(store, record.id)] == [0, 1]
    assert two.drafts.get(record.id).revision == 3
    assert _state(two, record.id)[1:] == (2, 2)


def test_a_record_read_before_other_edits_rebuilds_the_draft_as_it_is_now(
    store: PlanStore,
) -> None:
    """A process holding an old record (cursor 3) rebuilds after another process undid two
    edits and replaced them (log of 2): it gets the current draft, never the old cursor
    over the new log."""
    one, two = Workbench(store), Workbench(store)  # two server processes, one draft
    record = one.open(PLANNER, PLAN.name)
    for unit, to in ((1, 2), (2, 2), (3, 3)):
        one.edit(PLANNER, record.id, _move(unit, to))
    stale = two.drafts.get(record.id)  # read before the others' change, not yet rebuilt
    assert stale.cursor == 3
    one.step(PLANNER, record.id, back=True)
    one.step(PLANNER, record.id, back=True)
    one.edit(PLANNER, record.id, _move(4, 3))
    revision, log = two.drafts.log(record.id)
    assert revision == two.drafts.get(record.id).revision and len(log) == 2
    draft = two.draft(stale)
    assert (draft.cursor, len(draft.log)) == (2, 2)
    assert list(draft.codes) == _state(one, record.id)[0]


def test_a_conflicting_save_keeps_every_edit(store: PlanStore) -> None:
    bench = Workbench(store)
    mine, theirs = bench.open(PLANNER, PLAN.name), bench.open(PLANNER, PLAN.name)
    for unit in (1, 2):
        bench.edit(PLANNER, mine.id, _move(unit, 2))
    bench.edit(PLANNER, theirs.id, _move(1, 3, EAST))
    saved = bench.save(PLANNER, theirs.id, note="乙")
    with pytest.raises(DraftConflictError):
        bench.save(PLANNER, mine.id, note="甲")
    restarted = Workbench(store)
    assert _state(restarted, mine.id)[1:] == (2, 2)
    forced = restarted.save(PLANNER, mine.id, note="甲", overwrite=True)
    assert forced.version == saved.version + 1
    kept = store.get(PLAN.name, forced.version).units.set_index("unit_id")["grid_code"]
    assert kept["110108001001001-u2"] == "110108001001002"
    record = restarted.drafts.get(mine.id)
    assert (record.base_from, record.base_version) == (1, forced.version)
    # saved, the draft still stands on the version it was opened from
    assert _state(Workbench(store), mine.id)[1:] == (2, 2)


def test_a_stored_versions_draft_has_no_bytes_and_opens_the_same_plan(store: PlanStore) -> None:
    bench = Workbench(store)
    record = bench.open(PLANNER, PLAN.name)
    again = bench.open(PLANNER, PLAN.name)  # from the version kept opened in memory
    upload = bench.create(PLANNER, PLAN)  # an upload: no version to point at
    with store._engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT id, base IS NULL FROM drafts")).all()
    assert {d: bool(empty) for d, empty in rows} == {
        record.id: True,
        again.id: True,
        upload.id: False,
    }
    assert (record.base_from, again.base_from, upload.base_from) == (1, 1, None)
    with pytest.raises(Exception, match="base's bytes"):
        bench.drafts.base(record.id)
    restarted = Workbench(store)
    for draft_id in (record.id, again.id, upload.id):
        draft = restarted.draft(restarted.drafts.get(draft_id))
        assert_plans_equal(draft.base, PLAN, tolerance=1e-9)
        assert list(draft.codes) == list(PLAN.units["grid_code"])


def test_deleting_a_draft_deletes_its_edits(store: PlanStore) -> None:
    bench = Workbench(store)
    record = bench.open(PLANNER, PLAN.name)
    bench.edit(PLANNER, record.id, _move(1, 2))
    bench.drafts.delete(record.id)
    assert _rows(store, record.id) == []


# --------------------------------------------------------------------------- migration 0011

BEFORE = "0010_generalised_grids"
OLD = "d" * 32
_OLD_DRAFTS = sa.table(  # drafts as 0008 made them
    "drafts",
    *(sa.column(name) for name in ("id", "plan", "base_version", "jurisdiction", "level")),
    *(sa.column(name) for name in ("cursor", "revision", "created_by", "owner", "base")),
    *(sa.column(name, JsonType) for name in ("band", "log", "staff", "proposal")),
    *(sa.column(name, UtcDateTime) for name in ("created_at", "updated_at")),
)


def _old_log() -> tuple[list[dict], list[str]]:
    """Three moves and one undo as a 0010 server logged them; the codes they leave."""
    draft = Draft(PLAN, level=2)
    for unit, to in ((1, 2), (2, 3), (3, 2)):
        apply_edit(draft, _move(unit, to))
    draft.undo()
    return json.loads(json.dumps([d.to_json() for d in draft.log])), list(draft.codes)


def _old_drafts(connection: sa.Connection) -> dict[str, tuple[list[dict], int, bytes]]:
    query = sa.select(_OLD_DRAFTS.c.id, _OLD_DRAFTS.c.log, _OLD_DRAFTS.c.cursor, _OLD_DRAFTS.c.base)
    return {d: (log, cursor, bytes(base)) for d, log, cursor, base in connection.execute(query)}


def test_a_store_with_drafts_upgrades_and_downgrades(store_url: str) -> None:
    log, codes = _old_log()
    engine = create_engine(store_url)
    at = dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.UTC)
    try:
        with writing(engine) as connection:  # a store as 0010 left it, with a draft in it
            command.upgrade(alembic_config(connection), BEFORE)
            values = {"id": OLD, "plan": PLAN.name, "jurisdiction": WEST[:9], "level": 2}
            values |= {"base": plan_to_bytes(PLAN), "log": log, "cursor": 2, "revision": 5}
            values |= {"staff": {}, "created_by": "规划员", "owner": PLANNER.identity}
            values |= {"created_at": at, "updated_at": at}
            connection.execute(_OLD_DRAFTS.insert().values(values))
    finally:
        engine.dispose()
    with open_store(store_url) as store:  # opening upgrades to the newest migration
        rows = _rows(store, OLD)
        assert [edit for _, edit in rows] == log and [seq for seq, _ in rows] == [0, 1, 2]
        bench = Workbench(store)
        record = bench.drafts.get(OLD)
        assert (record.cursor, record.revision, record.base_from) == (2, 5, None)
        draft = bench.draft(record)
        assert (list(draft.codes), draft.cursor, len(draft.log)) == (codes, 2, 3)
        bench.step(PLANNER, OLD, back=False)  # the move undone before the upgrade, redone
        info = store.save(PLAN, by="规划员")
        pointing = bench.open(PLANNER, PLAN.name, info.version)
        bench.edit(PLANNER, pointing.id, _move(4, 3))
        new_log = [edit for _, edit in _rows(store, pointing.id)]
        with writing(store._engine) as connection:  # down to 0010: logs and bytes back
            command.downgrade(alembic_config(connection), BEFORE)
            old = _old_drafts(connection)
        assert old[OLD] == (log, 3, plan_to_bytes(PLAN))
        assert old[pointing.id][:2] == (new_log, 1)
        assert_plans_equal(plan_from_bytes(old[pointing.id][2]), PLAN, tolerance=1e-9)
        with writing(store._engine) as connection:  # and up again
            command.upgrade(alembic_config(connection), "head")
        assert [edit for _, edit in _rows(store, OLD)] == log
        assert _state(Workbench(store), pointing.id)[1:] == (1, 1)


def test_the_embedded_store_writes_ahead(gpkg_path: Path) -> None:
    """WAL with synchronous=NORMAL (docs/storage.md); a second connection sees every commit."""
    with open_store(f"sqlite:///{gpkg_path}") as store:
        bench = Workbench(store)
        info = store.save(PLAN, by="规划员")
        record = bench.open(PLANNER, PLAN.name, info.version)
        bench.edit(PLANNER, record.id, _move(1, 2))
        with store._engine.connect() as connection:
            mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
            sync = connection.exec_driver_sql("PRAGMA synchronous").scalar()
        assert (mode, sync) == ("wal", 1)  # 1: NORMAL
        with open_store(f"sqlite:///{gpkg_path}") as other:  # another process's view
            assert Workbench(other).drafts.get(record.id).cursor == 1
    with sqlite3.connect(gpkg_path) as plain:  # closed: the log folded back into the file
        assert plain.execute("SELECT count(*) FROM draft_edits").fetchone() == (1,)
