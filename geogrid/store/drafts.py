"""Workbench drafts in the store: one row per draft, and its edit log one row per edit.

A draft row names its base plan — a version of its plan in the store (``base_from``), or
the plan's bytes (an upload, a partition's result) — and holds the cursor of its log; the
log is in ``draft_edits`` (migration ``0011_draft_edits``), appended edit by edit: an edit
costs one row, whatever the length of the session, and undo or redo only moves the cursor.

A draft changes only through :meth:`DraftStore.update` naming the revision it read, so two
browser tabs (or two server processes) cannot both win: the second gets
:class:`~geogrid.errors.PreconditionFailedError` and changes nothing — its edit rows are
not written either (one transaction).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geogrid.errors import NotFoundError, PreconditionFailedError
from geogrid.store._session import now_ms, reading, write_transaction
from geogrid.store.schema import draft_edits, drafts

if TYPE_CHECKING:
    from geogrid.store.repository import PlanStore

__all__ = ["DraftRecord", "DraftStore", "LogChange"]

_FIELDS = [c.name for c in drafts.columns if c.name != "base"]


@dataclasses.dataclass(frozen=True)
class DraftRecord:
    """A draft's row without its base plan's bytes and its log (migrations 0008 and 0011).

    ``base_from`` is the version of ``plan`` the base plan is read from (``None``: the
    draft keeps the base's bytes, :meth:`DraftStore.base`); ``base_version`` is the version
    the draft is judged against when saved (the one opened, then the one it was saved as).
    """

    id: str
    plan: str
    base_version: int | None
    base_from: int | None
    jurisdiction: str
    level: int
    band: dict[str, Any] | None
    cursor: int
    revision: int
    staff: dict[str, Any]
    proposal: dict[str, Any] | None
    saved_version: int | None
    created_by: str
    owner: str
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def etag(self) -> str:
        """The entity tag of this state of the draft (``r<revision>``)."""
        return f"r{self.revision}"


@dataclasses.dataclass(frozen=True)
class LogChange:
    """Edits appended to a draft's log: kept are its first ``keep`` edits, then ``edits``.

    The rows from ``keep`` on (edits undone, then replaced by a new edit) are dropped;
    ``replaces=False`` says there are none (no statement to drop them).
    """

    keep: int
    edits: list[dict[str, Any]]
    replaces: bool = True


class DraftStore:
    """Drafts of one store (``PlanStore.drafts``)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    def of(cls, store: PlanStore) -> DraftStore:
        """The drafts kept in ``store``."""
        return cls(store._engine)

    def create(
        self,
        base: bytes | None,
        *,
        plan: str,
        base_version: int | None,
        base_from: int | None = None,
        jurisdiction: str,
        level: int,
        band: Mapping[str, Any] | None,
        by: str,
        owner: str,
    ) -> DraftRecord:
        """Store a new draft of ``base`` (:func:`geogrid.io.bundle.plan_to_bytes`).

        ``base`` is ``None`` when the base is version ``base_from`` of ``plan`` in the store.
        """
        if (base is None) == (base_from is None):
            raise ValueError("a draft's base is either bytes or a stored version")
        now = now_ms()
        values: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "plan": plan,
            "base_version": base_version,
            "jurisdiction": jurisdiction,
            "level": level,
            "band": dict(band) if band else None,
            "base": base,
            "base_from": base_from,
            "cursor": 0,
            "revision": 1,
            "staff": {},
            "proposal": None,
            "saved_version": None,
            "created_by": by,
            "owner": owner,
            "created_at": now,
            "updated_at": now,
        }
        with write_transaction(self._engine, "create a draft") as connection:
            connection.execute(drafts.insert().values(**values))
        return _record(values)

    def get(self, draft_id: str) -> DraftRecord:
        """The draft ``draft_id``.

        Raises
        ------
        NotFoundError
            When there is no such draft.
        """
        with reading(self._engine, "read a draft") as connection:
            row = connection.execute(_select().where(drafts.c.id == draft_id)).one_or_none()
        if row is None:
            raise NotFoundError(f"no draft {draft_id} (草稿不存在)")
        return _record(dict(row._mapping))

    def base(self, draft_id: str) -> bytes:
        """The base plan's bytes of draft ``draft_id`` (one without ``base_from``)."""
        with reading(self._engine, "read a draft") as connection:
            blob = connection.execute(
                sa.select(drafts.c.base).where(drafts.c.id == draft_id)
            ).scalar_one_or_none()
        if blob is None:
            raise NotFoundError(f"no draft {draft_id} with its base's bytes (草稿不存在)")
        return bytes(blob)

    def log(self, draft_id: str) -> tuple[int, list[dict[str, Any]]]:
        """The edit log of draft ``draft_id``, oldest first (edits after the cursor too).

        Returns the draft's revision with it, read in the same statement (one snapshot on
        both stores): the log belongs to that revision, even while others edit.
        """
        query = (
            sa.select(drafts.c.revision, draft_edits.c.edit)
            .select_from(drafts.outerjoin(draft_edits, draft_edits.c.draft_id == drafts.c.id))
            .where(drafts.c.id == draft_id)
            .order_by(draft_edits.c.seq)
        )
        with reading(self._engine, "read a draft's edits") as connection:
            rows = connection.execute(query).all()
        if not rows:
            raise NotFoundError(f"no draft {draft_id} (草稿不存在)")
        return rows[0][0], [edit for _, edit in rows if edit is not None]

    def list(self, owner: str | None = None) -> list[DraftRecord]:
        """Drafts, newest change first; only ``owner``'s when given."""
        query = _select().order_by(drafts.c.updated_at.desc())
        if owner is not None:
            query = query.where(drafts.c.owner == owner)
        with reading(self._engine, "list drafts") as connection:
            return [_record(dict(row._mapping)) for row in connection.execute(query)]

    def update(
        self, draft_id: str, revision: int, *, log: LogChange | None = None, **values: Any
    ) -> DraftRecord:
        """Change draft ``draft_id`` read at ``revision``; the revision goes up by one.

        ``log`` appends edits to its log (in the same transaction); ``values`` are columns
        of its row (``cursor``, ``proposal``, ``staff``…).

        Raises
        ------
        PreconditionFailedError
            When the draft changed since ``revision`` (another tab or user saved first):
            nothing is written.
        """
        now = now_ms()
        change = {**values, "revision": revision + 1, "updated_at": now}
        with write_transaction(self._engine, "update a draft") as connection:
            row = connection.execute(
                drafts.update()
                .where(drafts.c.id == draft_id, drafts.c.revision == revision)
                .values(**change)
                .returning(*[drafts.c[name] for name in _FIELDS])
            ).one_or_none()
            if row is None:
                current = connection.execute(
                    sa.select(drafts.c.revision).where(drafts.c.id == draft_id)
                ).scalar_one_or_none()
                if current is None:
                    raise NotFoundError(f"no draft {draft_id} (草稿不存在)")
                raise PreconditionFailedError(
                    f"draft {draft_id} changed since revision {revision} (now r{current}); "
                    "reload it (草稿已被修改，请刷新)"
                )
            if log is not None:
                _append(connection, draft_id, log, now)
        return _record(dict(row._mapping))

    def delete(self, draft_id: str) -> None:
        """Remove draft ``draft_id`` (saved versions stay)."""
        with write_transaction(self._engine, "delete a draft") as connection:
            connection.execute(draft_edits.delete().where(draft_edits.c.draft_id == draft_id))
            connection.execute(drafts.delete().where(drafts.c.id == draft_id))


def _append(connection: sa.Connection, draft_id: str, log: LogChange, now: dt.datetime) -> None:
    """Drop the edits of ``draft_id`` from ``log.keep`` on, then add ``log.edits`` there."""
    if log.replaces:
        connection.execute(
            draft_edits.delete().where(
                draft_edits.c.draft_id == draft_id, draft_edits.c.seq >= log.keep
            )
        )
    if log.edits:
        rows = [
            {"draft_id": draft_id, "seq": log.keep + i, "edit": edit, "created_at": now}
            for i, edit in enumerate(log.edits)
        ]
        connection.execute(draft_edits.insert(), rows)


def _select() -> sa.Select[Any]:
    return sa.select(*[drafts.c[name] for name in _FIELDS])


def _record(row: Mapping[str, Any]) -> DraftRecord:
    return DraftRecord(**{name: row[name] for name in _FIELDS})
