"""Drafts kept in a store, opened, edited and saved on behalf of a caller.

:class:`Workbench` is what the HTTP routes (``api/routes/drafts.py``) call: it checks who may
act (a planner covering the plan's jurisdiction creates, edits and saves; a draft is seen by
its owner and by administrators), keeps each draft's edit log in the store
(:class:`~geogrid.store.drafts.DraftStore`, every change naming the revision it read) and
holds the rebuilt :class:`~geogrid.workbench.draft.Draft` of recent drafts in memory.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd
import shapely

from geogrid.access import Caller, Permission, Role
from geogrid.errors import (
    AccessDeniedError,
    InvalidInputError,
    NotFoundError,
    PreconditionFailedError,
)
from geogrid.io.bundle import plan_from_bytes, plan_to_bytes
from geogrid.io.rosters import normalise_phone
from geogrid.partition.band import Band, parse_band
from geogrid.plan import GridPlan
from geogrid.store import PlanStore
from geogrid.store.drafts import DraftRecord, DraftStore, LogChange
from geogrid.store.jurisdictions import jurisdiction_of
from geogrid.store.publish import require_valid
from geogrid.store.unit_measures import KeptMeasures, tiled_levels
from geogrid.store.versions import VersionInfo
from geogrid.workbench.draft import Delta, Draft, tiling_plan
from geogrid.workbench.edits import Outcome, apply_edit
from geogrid.workbench.evaluate import Evaluation, Figures
from geogrid.workbench.proposals import Proposal, balance, repartition
from geogrid.workbench.views import grid_colours

__all__ = ["Change", "DraftConflictError", "Workbench"]

_CACHED = 16
_OPENED = 2  # stored versions kept opened, each with its units in memory


class DraftConflictError(PreconditionFailedError):
    """A draft's plan got a newer version since the draft was opened (HTTP 412).

    ``details`` carries both sides — ``yours`` (the draft) and ``theirs`` (the newer
    version) — so the planner sees them; the draft is kept.
    """

    def __init__(self, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.details = details


@dataclasses.dataclass
class Change:
    """What one change of a draft (an edit, undo, redo, an accepted proposal) did.

    Taken under the draft's lock right after the change, so that the answer is exact and
    costs what the change touched, not the whole draft.

    Attributes
    ----------
    record
        The draft's record after the change.
    delta
        The change as applied (for undo: the edit undone).
    grids, problems
        Figures and problems of the grids the change touched (rows as
        :class:`~geogrid.workbench.evaluate.Evaluation`'s).
    removed
        Codes of the grids the change removed.
    units
        ``unit``, ``grid`` (edited level), ``code`` (deepest), ``locked`` of every unit whose
        grid or lock changed.
    outlines
        The new polygon of every touched grid of the edited level.
    colours
        Fill colours of every grid of the edited level when the change added or removed
        grids (neighbours must differ); otherwise empty (colours stand).
    """

    record: DraftRecord
    delta: Delta
    grids: list[dict[str, Any]]
    problems: list[dict[str, Any]]
    removed: list[str]
    units: list[dict[str, Any]]
    outlines: dict[str, shapely.Geometry]
    colours: dict[str, str]
    edits: int
    can_undo: bool
    can_redo: bool
    outcome: Outcome | None = None


class Workbench:
    """The drafts of ``store`` (see the module docstring)."""

    def __init__(self, store: PlanStore) -> None:
        self.store = store
        self.drafts = DraftStore.of(store)
        self._cache: OrderedDict[str, tuple[int, Draft]] = OrderedDict()
        # a stored version opened: its pristine draft, and its base's bytes when the draft
        # cannot point at the version (units cut by tiling_plan)
        self._opened: OrderedDict[tuple[Any, ...], tuple[Draft, bytes | None]] = OrderedDict()
        self._locks: dict[str, threading.RLock] = {}
        self._figures: dict[str, Figures] = {}
        self._guard = threading.Lock()

    # ------------------------------------------------------------------ opening

    def open(
        self,
        caller: Caller,
        plan: str,
        version: int | None = None,
        *,
        band: str | None = None,
        then_band: str | None = None,
        level: int | None = None,
    ) -> DraftRecord:
        """Open ``plan`` (latest version by default) as a new draft of ``caller``'s."""
        _require(caller, Permission.MANAGE_PLANS)
        info = self._version(plan, version)
        if not self.store.covers(caller, info.jurisdiction):
            raise NotFoundError(f"no plan {plan!r}")
        # a stored version never changes but for its staff in place (staff_revision): opened
        # again, its base, blob and measured units are taken from memory
        key = (info.plan, info.version, info.staff_revision, level)
        with self._guard:
            held = self._opened.get(key)
        if held is None:
            return self.create(
                caller,
                self.store.get(plan, info.version),
                base_version=info.version,
                jurisdiction=info.jurisdiction,
                band=band,
                then_band=then_band,
                level=level,
                key=key,
            )
        bands = _bands(band, then_band)
        return self._record(
            caller,
            held[0].fresh(band=bands[0], then_band=bands[1]),
            held[1],
            base_version=info.version,
            base_from=info.version if held[1] is None else None,
            jurisdiction=info.jurisdiction,
        )

    def create(
        self,
        caller: Caller,
        plan: GridPlan,
        *,
        base_version: int | None = None,
        jurisdiction: str | None = None,
        band: str | None = None,
        then_band: str | None = None,
        level: int | None = None,
        key: tuple[Any, ...] | None = None,
    ) -> DraftRecord:
        """A new draft of ``plan`` (a stored version, or a partition's result).

        ``key`` names a stored version (``base_version``): its draft, untouched, is kept to
        open it again, and the draft's row points at the version instead of holding the
        plan's bytes — unless its units had to be cut to tile the grids (:func:`tiling_plan`),
        whose result is kept as bytes.
        """
        area = jurisdiction or jurisdiction_of(plan)
        if not self.store.covers(caller, area):
            raise AccessDeniedError(f"{caller.name} does not cover {area}")
        bands = _bands(band, then_band)
        edited = level if level is not None else min(2, plan.depth)
        base, pristine = self._pristine(plan, edited, key)
        stored = key is not None and base is plan and base_version is not None
        blob = None if stored else plan_to_bytes(base)
        if key is not None:
            with self._guard:
                self._opened[key] = (pristine, blob)
                while len(self._opened) > _OPENED:
                    self._opened.popitem(last=False)
        draft = pristine.fresh(band=bands[0], then_band=bands[1])
        return self._record(
            caller,
            draft,
            blob,
            base_version=base_version,
            base_from=base_version if blob is None else None,
            jurisdiction=area,
        )

    def _pristine(
        self, plan: GridPlan, level: int, key: tuple[Any, ...] | None
    ) -> tuple[GridPlan, Draft]:
        """The draft's base (:func:`tiling_plan`) and its draft before any edit.

        A stored version (``key``: plan, version …) comes with its units' measures, kept
        when it was saved (:mod:`geogrid.store.unit_measures`): no coverage check, no edges
        found again. A version saved before those were kept gets them kept now.
        """
        kept = self.store.unit_measures(key[0], key[1]) if key is not None else None
        if kept is not None and level in kept.tiles:
            return plan, Draft(plan, level=level, measures=kept.measures)
        base = tiling_plan(plan, level)
        pristine = Draft(base, level=level)
        if key is not None and kept is None and base is plan:
            levels = tiled_levels(plan)
            if levels:
                self.store.keep_unit_measures(
                    key[0], key[1], KeptMeasures(levels, pristine.measures)
                )
        return base, pristine

    def _record(
        self,
        caller: Caller,
        draft: Draft,
        blob: bytes | None,
        *,
        base_version: int | None,
        base_from: int | None,
        jurisdiction: str,
    ) -> DraftRecord:
        """Store ``draft`` as a new draft of ``caller``'s.

        Its base is ``blob``, or version ``base_from`` of its plan when ``blob`` is None.
        """
        record = self.drafts.create(
            blob,
            plan=draft.base.name,
            base_version=base_version,
            base_from=base_from,
            jurisdiction=jurisdiction,
            level=draft.level,
            band=_band_json((draft.band, draft.then_band)),
            by=caller.name,
            owner=caller.identity,
        )
        self._remember(record, draft)
        return record

    def _version(self, plan: str, version: int | None) -> VersionInfo:
        versions = self.store.versions(plan)
        if not versions:
            raise NotFoundError(f"no plan {plan!r}")
        if version is None:
            return max(versions, key=lambda v: v.version)
        found = [v for v in versions if v.version == version]
        if not found:
            raise NotFoundError(f"plan {plan!r} has no version {version}")
        return found[0]

    # ------------------------------------------------------------------ reading

    def record(self, caller: Caller, draft_id: str) -> DraftRecord:
        """Draft ``draft_id`` if ``caller`` may see it.

        Its owner and the administrators of its jurisdiction may; anyone else learns nothing
        of it (:class:`NotFoundError`).
        """
        record = self.drafts.get(draft_id)
        if not self._sees(caller, record):
            raise NotFoundError(f"no draft {draft_id} (草稿不存在)")
        return record

    def _sees(self, caller: Caller, record: DraftRecord) -> bool:
        if record.owner == caller.identity:
            return True
        return caller.role == Role.ADMIN and self.store.covers(caller, record.jurisdiction)

    def list(self, caller: Caller) -> list[DraftRecord]:
        """The caller's drafts (for an administrator, every draft of its jurisdictions)."""
        if caller.role != Role.ADMIN:
            return self.drafts.list(caller.identity)
        return [r for r in self.drafts.list() if self._sees(caller, r)]

    def draft(self, record: DraftRecord) -> Draft:
        """The draft of ``record`` as it stands (rebuilt from its base and log when not cached).

        A record read before the draft's lock may be stale by the time it is rebuilt, and the
        log is kept apart from the record: the rebuild takes a record and a log of the same
        revision (a cursor past the log's end, or another log's edits, otherwise).
        """
        held = self._held(record)
        if held is not None:
            return held
        revision, log = self.drafts.log(record.id)
        while revision != record.revision:
            record = self.drafts.get(record.id)
            held = self._held(record)
            if held is not None:
                return held
            revision, log = self.drafts.log(record.id)
        bands = _from_band_json(record.band)
        if record.base_from is None:
            base = plan_from_bytes(self.drafts.base(record.id))
            draft = Draft(base, level=record.level, band=bands[0], then_band=bands[1])
        else:  # the stored version's units tile its grids: the draft's base is the version
            key = (record.plan, record.base_from)
            _, pristine = self._pristine(self.store.get(*key), record.level, key)
            draft = pristine.fresh(band=bands[0], then_band=bands[1])
        draft.replay([Delta.from_json(d) for d in log], record.cursor)
        self._remember(record, draft)
        return draft

    def _held(self, record: DraftRecord) -> Draft | None:
        """The draft of ``record`` kept in memory at its revision, if any."""
        with self._guard:
            cached = self._cache.get(record.id)
            if cached is not None and cached[0] == record.revision:
                self._cache.move_to_end(record.id)
                return cached[1]
        return None

    def plan(self, record: DraftRecord) -> GridPlan:
        """The draft as a plan, with the staff set in it."""
        with self.view(record) as draft:
            plan = draft.to_plan(name=record.plan)
        if not record.staff:
            return plan
        kept = plan.staff[~plan.staff["grid_code"].isin(list(record.staff))]
        rows = [
            {"grid_code": code, "role": r["role"], "name": r["name"], "phone": r.get("phone")}
            for code, people in record.staff.items()
            if code in set(plan.grids["code"])
            for r in people
        ]
        staff = pd.concat([kept, pd.DataFrame(rows, columns=kept.columns)], ignore_index=True)
        return GridPlan(
            plan.name,
            plan.levels,
            plan.grids,
            staff=staff,
            units=plan.units,
            attribution=plan.attribution,
        )

    # ------------------------------------------------------------------ changing

    def edit(
        self, caller: Caller, draft_id: str, edit: Mapping[str, Any], expect: str | None = None
    ) -> Change:
        """Make one edit (see :func:`~geogrid.workbench.edits.plan_edit`)."""
        with self._changing(caller, draft_id, expect) as (record, draft):
            figures = self.figures(draft_id, draft)
            # a move, lock or rename without micro-grids makes no grid: no codes to avoid
            plain = edit.get("op") in ("move", "lock", "rename") and draft.base.depth == draft.level
            outcome = apply_edit(draft, edit, taken=() if plain else self.store.used_codes())
            fresh = 0 if outcome.delta.empty else 1  # nothing applied: no edit to store
            change = self._change(self._log(record, draft, fresh), draft, figures, outcome.delta)
            change.outcome = outcome
            return change

    def step(self, caller: Caller, draft_id: str, back: bool, expect: str | None = None) -> Change:
        """Undo (``back``) or redo one edit."""
        with self._changing(caller, draft_id, expect) as (record, draft):
            figures = self.figures(draft_id, draft)
            delta = draft.undo() if back else draft.redo()
            return self._change(self._log(record, draft, fresh=0), draft, figures, delta)

    def evaluation(self, record: DraftRecord) -> Evaluation:
        """Every grid's figures and the problems of the draft of ``record``."""
        with self.view(record) as draft:
            return self.figures(record.id, draft).evaluation()

    def figures(self, draft_id: str, draft: Draft) -> Figures:
        """The figures kept for ``draft`` (made afresh when missing or stale); hold its lock."""
        with self._guard:
            kept = self._figures.get(draft_id)
        if kept is None or kept.draft is not draft or not kept.current:
            kept = Figures(draft)
            with self._guard:
                self._figures[draft_id] = kept
        return kept

    def _change(self, record: DraftRecord, draft: Draft, figures: Figures, delta: Delta) -> Change:
        """The :class:`Change` ``delta`` made (the draft changed already)."""
        touched = figures.update(delta) if not delta.empty else []
        present = [c for c in touched if c in figures.rows]
        level = draft.level
        outlines = {c: figures.outline(c) for c in present if figures.rows[c]["level"] == level}
        colours: dict[str, str] = {}
        if delta.added or delta.removed:
            colours = grid_colours(draft)
        return Change(
            record=record,
            delta=delta,
            grids=figures.rows_of(present),
            problems=figures.problems_of(present),
            removed=[c for c in touched if c not in figures.rows],
            units=_units_changed(draft, figures, delta),
            outlines=outlines,
            colours=colours,
            edits=draft.cursor,
            can_undo=draft.can_undo,
            can_redo=draft.can_redo,
        )

    def propose(
        self,
        caller: Caller,
        draft_id: str,
        kind: str,
        grids: Sequence[str] | None = None,
        *,
        seed: int = 0,
    ) -> tuple[DraftRecord, dict[str, Any]]:
        """Compute a proposal (``balance`` / ``repartition``) and keep it pending."""
        with self._changing(caller, draft_id, None) as (record, draft):
            taken = self.store.used_codes()
            if kind == "balance":
                proposal = balance(draft, grids, seed=seed, taken=taken)
            elif kind == "repartition":
                if not grids:
                    raise InvalidInputError(
                        "name the grids to re-partition (请选择要重新划分的网格)"
                    )
                proposal = repartition(draft, grids, seed=seed, taken=taken)
            else:
                raise InvalidInputError(f"unknown proposal {kind!r}: balance or repartition")
            pending = _pending(proposal, draft)
            record = self.drafts.update(record.id, record.revision, proposal=pending)
            self._remember(record, draft)
            return record, pending

    def decide(self, caller: Caller, draft_id: str, proposal_id: str, accept: bool) -> Change:
        """Accept (one undoable edit) or reject the pending proposal ``proposal_id``."""
        with self._changing(caller, draft_id, None) as (record, draft):
            pending = record.proposal
            if pending is None or pending["id"] != proposal_id:
                raise NotFoundError(f"no pending proposal {proposal_id} (建议方案不存在或已处理)")
            figures = self.figures(draft_id, draft)
            delta = Delta.from_json(pending["delta"]) if accept else Delta("reject")
            if delta.empty:
                record = self.drafts.update(record.id, record.revision, proposal=None)
                self._remember(record, draft)
                return self._change(record, draft, figures, delta)
            draft.apply(delta)
            return self._change(self._log(record, draft), draft, figures, delta)

    def set_staff(
        self,
        caller: Caller,
        draft_id: str,
        code: str,
        people: Sequence[Mapping[str, Any]],
        expect: str | None = None,
    ) -> DraftRecord:
        """Set the staff of grid ``code`` in the draft; phones are checked."""
        with self._changing(caller, draft_id, expect) as (record, draft):
            if code not in draft.grids.index:
                raise NotFoundError(f"grid {code} is not in this draft (草稿中没有网格 {code})")
            roles = self.store_roles()
            rows = [_staff_row(p, roles) for p in people]
            staff = {**record.staff, code: rows}
            record = self.drafts.update(record.id, record.revision, staff=staff)
            self._remember(record, draft)
            return record

    @staticmethod
    def store_roles() -> set[str]:
        """The staff roles configured (keys)."""
        from geogrid.roles import current_roles

        return set(current_roles().keys)

    def save(
        self,
        caller: Caller,
        draft_id: str,
        *,
        note: str = "",
        expect: str | None = None,
        overwrite: bool = False,
    ) -> VersionInfo:
        """Store the draft as a new draft version of its plan (see :class:`DraftConflictError`)."""
        _require(caller, Permission.MANAGE_PLANS)
        with self._changing(caller, draft_id, expect) as (record, draft):
            newer = self._newer(record)
            if newer is not None and not overwrite:
                raise DraftConflictError(
                    f"plan {record.plan!r} got version {newer.version} (by {newer.created_by}) "
                    f"after this draft was opened from version {record.base_version}; your "
                    "draft is kept — compare, then save anyway or start from the new version "
                    "(方案已被他人保存新版本，您的草稿已保留)",
                    {"yours": _yours(record), "theirs": _theirs(newer)},
                )
            plan = self.plan(record)
            warnings = [p.to_dict() for p in require_valid(plan)]
            info = self.store.save(
                plan,
                by=caller.name,
                note=note or f"workbench draft {record.id[:8]}",
                warnings=warnings,
                caller=caller,
                jurisdiction=record.jurisdiction,
            )
            record = self.drafts.update(
                record.id, record.revision, base_version=info.version, saved_version=info.version
            )
            self._remember(record, draft)
            return info

    def _newer(self, record: DraftRecord) -> VersionInfo | None:
        versions = self.store.versions(record.plan) if record.plan in self.store.plans() else []
        if not versions:
            return None
        latest = max(versions, key=lambda v: v.version)
        if record.base_version is None or latest.version > record.base_version:
            return latest
        return None

    @contextmanager
    def _changing(
        self, caller: Caller, draft_id: str, expect: str | None
    ) -> Iterator[tuple[DraftRecord, Draft]]:
        """The draft under its lock; dropped from memory when the change fails half-way."""
        _require(caller, Permission.MANAGE_PLANS)
        with self._lock(draft_id):
            record = self.record(caller, draft_id)
            if expect is not None and expect not in (record.etag, "*"):
                raise PreconditionFailedError(
                    f"draft {draft_id} is at {record.etag}, not {expect}: reload it "
                    "(草稿已被修改，请刷新)"
                )
            draft = self.draft(record)
            try:
                yield record, draft
            except BaseException:
                self._forget(draft_id)
                raise

    def _log(self, record: DraftRecord, draft: Draft, fresh: int = 1) -> DraftRecord:
        """Store the draft's cursor and its last ``fresh`` edits (new; the rest are stored).

        Only the new edits are written (``draft_edits`` rows; an undone edit's row replaced):
        the log of a long session is thousands of moves, and writing all of it after every
        edit grew with the session. Undo and redo (``fresh=0``) write the cursor alone.
        """
        kept = len(draft.log) - fresh
        edits = [d.to_json() for d in draft.log[kept:]]
        log = LogChange(kept, edits, replaces=draft.dropped > 0) if fresh else None
        record = self.drafts.update(
            record.id,
            record.revision,
            log=log,
            cursor=draft.cursor,
            proposal=None,
        )
        self._remember(record, draft)
        return record

    @contextmanager
    def _lock(self, draft_id: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(draft_id, threading.RLock())
        with lock:
            yield

    @contextmanager
    def view(self, record: DraftRecord) -> Iterator[Draft]:
        """The draft of ``record``, held still while it is read.

        Edits wait for readers and readers for edits: none sees an edit half applied.
        """
        with self._lock(record.id):
            yield self.draft(record)

    def _remember(self, record: DraftRecord, draft: Draft) -> None:
        with self._guard:
            held = self._cache.get(record.id)
            if held is not None and held[0] > record.revision:
                return  # a newer state is in memory already: keep it
            self._cache[record.id] = (record.revision, draft)
            self._cache.move_to_end(record.id)
            while len(self._cache) > _CACHED:
                gone, _ = self._cache.popitem(last=False)
                self._figures.pop(gone, None)

    def _forget(self, draft_id: str) -> None:
        with self._guard:
            self._cache.pop(draft_id, None)
            self._figures.pop(draft_id, None)


def _units_changed(draft: Draft, figures: Figures, delta: Delta) -> list[dict[str, Any]]:
    """Units whose grid or lock ``delta`` changed: ``unit``, ``grid``, ``code``, ``locked``."""
    changed = {u for u, _, _ in delta.moves}
    for code, _, _ in delta.locked:
        changed |= _held(draft, figures, code)
    owner = figures.owner[draft.level]
    return [
        {
            "unit": str(draft.unit_ids[u]),
            "grid": str(owner[u]),
            "code": str(draft.codes[u]),
            "locked": bool(draft.unit_locked[u]) or draft.is_locked(str(draft.codes[u])),
        }
        for u in sorted(changed)
    ]


def _held(draft: Draft, figures: Figures, code: str) -> set[int]:
    """Positions of the units under grid ``code`` (any level)."""
    level = int(draft.grids.at[code, "level"])
    if level in figures.members:
        return set(figures.members[level].get(code, set()))
    groups = figures.members[draft.level]
    return {u for c, units in groups.items() if draft.ancestor(c, level) == code for u in units}


def _require(caller: Caller, permission: Permission) -> None:
    if not caller.can(permission):
        raise AccessDeniedError(f"role {caller.role} may not edit plans (无权编辑方案)")


def _bands(band: str | None, then_band: str | None) -> tuple[Band | None, Band | None]:
    return (parse_band(band) if band else None, parse_band(then_band) if then_band else None)


def _band_json(bands: tuple[Band | None, Band | None]) -> dict[str, float] | None:
    band, then = bands
    if band is None and then is None:
        return None
    found: dict[str, float] = {}
    if band is not None:
        found |= {"low": band.low, "high": band.high}
    if then is not None:
        found |= {"then_low": then.low, "then_high": then.high}
    return found


def _from_band_json(data: Mapping[str, float] | None) -> tuple[Band | None, Band | None]:
    data = data or {}
    band = Band(data["low"], data["high"]) if "low" in data else None
    then = Band(data["then_low"], data["then_high"]) if "then_low" in data else None
    return band, then


def _pending(proposal: Proposal, draft: Draft) -> dict[str, Any]:
    moves = proposal.moves(draft)
    return {
        "id": uuid.uuid4().hex[:12],
        "kind": proposal.kind,
        "delta": proposal.delta.to_json(),
        "moves": moves.to_dict("records"),
        "new_grids": [r["code"] for r in proposal.delta.added if int(r["level"]) == draft.level],
        "moved_households": proposal.moved_households,
        "problems": proposal.problems,
    }


def _staff_row(person: Mapping[str, Any], roles: set[str]) -> dict[str, Any]:
    role = str(person.get("role") or "")
    if role not in roles:
        raise InvalidInputError(f"unknown role {role!r}: one of {', '.join(sorted(roles))}")
    name = str(person.get("name") or "").strip()
    if not name or len(name) > 50:
        raise InvalidInputError("every staff member needs a name of 1 to 50 characters (姓名)")
    return {"role": role, "name": name, "phone": normalise_phone(person.get("phone"))}


def _yours(record: DraftRecord) -> dict[str, Any]:
    return {
        "draft": record.id,
        "plan": record.plan,
        "base_version": record.base_version,
        "edits": record.cursor,
        "updated_at": record.updated_at.isoformat(),
    }


def _theirs(info: VersionInfo) -> dict[str, Any]:
    return {
        "plan": info.plan,
        "version": info.version,
        "status": str(info.status),
        "created_by": info.created_by,
        "created_at": info.created_at.isoformat(),
        "note": info.note,
    }
