"""Workbench drafts in the store: one row per draft, its base plan as a blob, its edit log.

A row changes only through :meth:`DraftStore.update` naming the revision it read, so two
browser tabs (or two server processes) cannot both win: the second gets
:class:`~geogrid.errors.PreconditionFailedError` and changes nothing.
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
from geogrid.store.schema import drafts

if TYPE_CHECKING:
    from geogrid.store.repository import PlanStore

__all__ = ["DraftRecord", "DraftStore"]

_FIELDS = [c.name for c in drafts.columns if c.name != "base"]


@dataclasses.dataclass(frozen=True)
class DraftRecord:
    """A draft's row without its base plan (see migration ``0008_drafts`` for the columns)."""

    id: str
    plan: str
    base_version: int | None
    jurisdiction: str
    level: int
    band: dict[str, Any] | None
    log: list[dict[str, Any]]
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
        base: bytes,
        *,
        plan: str,
        base_version: int | None,
        jurisdiction: str,
        level: int,
        band: Mapping[str, Any] | None,
        by: str,
        owner: str,
    ) -> DraftRecord:
        """Store a new draft of ``base`` (:func:`geogrid.io.bundle.plan_to_bytes`)."""
        now = now_ms()
        values: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "plan": plan,
            "base_version": base_version,
            "jurisdiction": jurisdiction,
            "level": level,
            "band": dict(band) if band else None,
            "base": base,
            "log": [],
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
        """The base plan's bytes of draft ``draft_id``."""
        with reading(self._engine, "read a draft") as connection:
            blob = connection.execute(
                sa.select(drafts.c.base).where(drafts.c.id == draft_id)
            ).scalar_one_or_none()
        if blob is None:
            raise NotFoundError(f"no draft {draft_id} (草稿不存在)")
        return bytes(blob)

    def list(self, owner: str | None = None) -> list[DraftRecord]:
        """Drafts, newest change first; only ``owner``'s when given."""
        query = _select().order_by(drafts.c.updated_at.desc())
        if owner is not None:
            query = query.where(drafts.c.owner == owner)
        with reading(self._engine, "list drafts") as connection:
            return [_record(dict(row._mapping)) for row in connection.execute(query)]

    def update(self, draft_id: str, revision: int, **values: Any) -> DraftRecord:
        """Change draft ``draft_id`` read at ``revision``; the revision goes up by one.

        Raises
        ------
        PreconditionFailedError
            When the draft changed since ``revision`` (another tab or user saved first).
        """
        now = now_ms()
        change = {**values, "revision": revision + 1, "updated_at": now}
        with write_transaction(self._engine, "update a draft") as connection:
            done = connection.execute(
                drafts.update()
                .where(drafts.c.id == draft_id, drafts.c.revision == revision)
                .values(**change)
            )
            if done.rowcount != 1:
                current = connection.execute(
                    sa.select(drafts.c.revision).where(drafts.c.id == draft_id)
                ).scalar_one_or_none()
                if current is None:
                    raise NotFoundError(f"no draft {draft_id} (草稿不存在)")
                raise PreconditionFailedError(
                    f"draft {draft_id} changed since revision {revision} (now r{current}); "
                    "reload it (草稿已被修改，请刷新)"
                )
            row = connection.execute(_select().where(drafts.c.id == draft_id)).one()
        return _record(dict(row._mapping))

    def delete(self, draft_id: str) -> None:
        """Remove draft ``draft_id`` (saved versions stay)."""
        with write_transaction(self._engine, "delete a draft") as connection:
            connection.execute(drafts.delete().where(drafts.c.id == draft_id))


def _select() -> sa.Select[Any]:
    return sa.select(*[drafts.c[name] for name in _FIELDS])


def _record(row: Mapping[str, Any]) -> DraftRecord:
    return DraftRecord(**{name: row[name] for name in _FIELDS})
