"""A draft: a plan being redrawn by hand, as its units' grid codes and a log of edits.

A :class:`Draft` starts from a plan whose units tile its grids (:func:`tiling_plan` cuts a
hand-drawn plan's grids into one cell per building). Its state is the deepest grid code of
every unit and the grid table (names, parents, locks); grid polygons are dissolved from the
units when asked. Every edit is a :class:`Delta` — the unit moves it made and the grids it
added, removed, renamed or locked — so undo applies the inverse and a draft is rebuilt
exactly from its base plan and its log (:meth:`Draft.replay`).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geogrid.errors import ConflictError, InvalidInputError
from geogrid.partition.band import Band
from geogrid.partition.redraw_units import parent_units, units_tile
from geogrid.plan import PLAN_CRS, GridKind, GridPlan
from geogrid.units.coverage import SNAP_DECIMALS, snapped
from geogrid.units.measures import UnitMeasures, measure_units, units_digest

__all__ = ["Delta", "Draft", "tiling_plan"]

_GRID_FIELDS = ("name", "level", "parent_code", "kind", "subtype", "priority")


@dataclasses.dataclass
class Delta:
    """One edit as the changes it made (see the module docstring).

    Attributes
    ----------
    op, params
        The edit asked for (``move``, ``split``…) and its parameters, kept for the log.
    moves
        ``(unit position, old deepest code, new deepest code)``.
    added, removed
        Grid rows (``code`` and :data:`_GRID_FIELDS`) the edit created or deleted.
    renamed, locked
        ``(code, before, after)``.
    """

    op: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    moves: list[tuple[int, str, str]] = dataclasses.field(default_factory=list)
    added: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    removed: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    renamed: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    locked: list[tuple[str, bool, bool]] = dataclasses.field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when the edit changed nothing."""
        return not (self.moves or self.added or self.removed or self.renamed or self.locked)

    def to_json(self) -> dict[str, Any]:
        """The delta as JSON-ready data (the store keeps the log this way).

        As :func:`dataclasses.asdict` gives it, without its deep copy of every move (a
        100-unit move: 5 ms → 0.1 ms); the parameters are shared, never changed.
        """
        return {
            "op": self.op,
            "params": dict(self.params),
            "moves": list(self.moves),
            "added": [dict(row) for row in self.added],
            "removed": [dict(row) for row in self.removed],
            "renamed": list(self.renamed),
            "locked": list(self.locked),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Delta:
        """Read a delta written by :meth:`to_json`."""
        return cls(
            op=data["op"],
            params=data.get("params", {}),
            moves=[(int(u), str(a), str(b)) for u, a, b in data.get("moves", [])],
            added=list(data.get("added", [])),
            removed=list(data.get("removed", [])),
            renamed=[(str(c), str(a), str(b)) for c, a, b in data.get("renamed", [])],
            locked=[(str(c), bool(a), bool(b)) for c, a, b in data.get("locked", [])],
        )


def tiling_plan(plan: GridPlan, level: int) -> GridPlan:
    """``plan`` with units that tile its grids of ``level`` (and below).

    A partition-made plan is returned as it is. A hand-drawn plan whose units are building
    footprints gets one cell per building inside its grids (the building's id, name and
    households; empty land as cells of 0 households), as the redraw builds them.

    Raises
    ------
    InvalidInputError
        When the plan has no units with households to cut its grids by.
    """
    if units_tile(plan, level):
        return plan
    if plan.units is None or len(plan.units) == 0:
        raise InvalidInputError(
            f"plan {plan.name!r} has no units (buildings with households): the workbench moves "
            "buildings between grids; upload the plan with its buildings, or partition it first"
        )
    homes = plan.units.reset_index(drop=True)
    ids = homes["unit_id"].astype(str).to_numpy(object)
    fields = parent_units(plan, homes, level, ids)
    frames = [field.frame for field in fields]
    units = gpd.GeoDataFrame(
        pd.concat(frames, ignore_index=True), geometry="geometry", crs=PLAN_CRS
    )
    units["unit_id"] = _unique(units["unit_id"].astype(str).tolist())
    return dataclasses.replace(plan, units=units[[*plan.units.columns]])


def _unique(ids: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for unit_id in ids:
        n = seen.get(unit_id, 0)
        seen[unit_id] = n + 1
        out.append(unit_id if n == 0 else f"{unit_id}#{n + 1}")
    return out


class Draft:
    """A plan being edited (see the module docstring).

    Parameters
    ----------
    base
        The plan opened; its units must tile its grids (:func:`tiling_plan`).
    level
        The level edited (default: 2, or 1 for a one-level plan); units move between its
        grids, and between the micro-grids one level below.
    band, then_band
        Households per grid at ``level`` and one level below (``None``: not judged).
    measures
        The units' measures when known (kept with a stored version); used only when they
        are those of ``base``'s units (:func:`~geogrid.units.measures.units_digest`).
    """

    def __init__(
        self,
        base: GridPlan,
        *,
        level: int | None = None,
        band: Band | None = None,
        then_band: Band | None = None,
        measures: UnitMeasures | None = None,
    ) -> None:
        self.level = level if level is not None else min(2, base.depth)
        if not 1 <= self.level <= base.depth or base.depth - self.level > 1:
            raise InvalidInputError(
                f"the edited level must be the finest level ({base.depth}) or the one above it; "
                f"got {self.level}"
            )
        self.base = base
        self.band, self.then_band = band, then_band
        units = base.units.reset_index(drop=True)
        self.units = units
        self.households = units["households"].fillna(0).to_numpy(np.int64)
        self.unit_ids = units["unit_id"].astype(str).to_numpy(object)
        self.position = {u: i for i, u in enumerate(self.unit_ids.tolist())}
        self.measures = _measured(units, measures)
        self.edges, self.area = self.measures.edges, self.measures.area
        self.perimeter = self.measures.perimeter
        self._points: list[np.ndarray] = []  # made when first asked; fresh() drafts share it
        self.base_codes = units["grid_code"].astype(str).to_numpy(object)
        grids = base.grids.set_index(base.grids["code"].astype(str))
        self.base_geoms = dict(zip(grids.index, grids.geometry, strict=True))
        self._start()
        special = {
            c for c, k in zip(grids.index, grids["kind"], strict=True) if k == GridKind.SPECIAL
        }
        own = units["locked"].fillna(False).to_numpy(bool)
        self.unit_locked = own | np.isin(
            self.lineage_at(self.base_codes, self.level), list(special)
        )

    def _start(self) -> None:
        """The state before any edit: every field an edit changes (caches too) is set here.

        The others — units, their measures, the base's outlines — never change, and
        :meth:`fresh` shares them.
        """
        self.codes = self.base_codes.copy()
        grids = self.base.grids.set_index(self.base.grids["code"].astype(str))
        self.grids = pd.DataFrame(grids[list(_GRID_FIELDS)].astype(object)).assign(locked=False)
        self.grids = self.grids.where(pd.notna(self.grids), None)
        self._tree_cache: tuple[dict[str, str | None], dict[str, int], dict[str, bool]] | None = (
            None
        )
        self._dirty_cache: set[str] | None = None
        self.log: list[Delta] = []
        self.cursor = 0
        self.dropped = 0

    def fresh(self, *, band: Band | None = None, then_band: Band | None = None) -> Draft:
        """A new draft of the same base and level, with no edits, sharing what edits never change.

        A version opened again starts here instead of reading and measuring its units again.
        """
        other = copy.copy(self)
        other.band, other.then_band = band, then_band
        other._start()
        return other

    @property
    def points(self) -> np.ndarray:
        """A point inside each unit.

        Made from the measures when first asked (a lasso, a problem's place): 60,000 shapely
        points are a quarter of a second of opening.
        """
        if not self._points:
            self._points.append(self.measures.point_geometries())
        return self._points[0]

    # ------------------------------------------------------------------ reading the state

    def lineage_at(self, codes: np.ndarray, level: int) -> np.ndarray:
        """The ancestors at ``level`` of deepest ``codes`` (codes above ``level`` kept)."""
        up = {c: self.ancestor(c, level) for c in set(codes.tolist())}
        return np.array([up[c] for c in codes.tolist()], dtype=object)

    def _tree(self) -> tuple[dict[str, str | None], dict[str, int], dict[str, bool]]:
        """Parent, level and lock of every grid as plain dicts, kept until the grids change.

        Pandas lookups one code at a time cost ~50 µs each: seconds for a big draft.
        """
        if self._tree_cache is None:
            rows = self.grids[["parent_code", "level", "kind", "locked"]].itertuples()
            parent, level, own = {}, {}, {}
            for code, up, lv, kind, locked in rows:
                parent[code] = None if up is None else str(up)
                level[code] = int(lv)
                own[code] = bool(locked) or kind == GridKind.SPECIAL
            held: dict[str, bool] = {}
            for code in sorted(level, key=level.__getitem__):  # parents first
                up = parent[code]
                held[code] = own[code] or (up is not None and held.get(up, False))
            self._tree_cache = (parent, level, held)
        return self._tree_cache

    def ancestor(self, code: str, level: int) -> str:
        """The grid at ``level`` holding grid ``code`` (``code`` itself at or above it)."""
        parent, levels, _ = self._tree()
        while code in levels and levels[code] > level and parent[code] is not None:
            code = str(parent[code])
        return code

    def at_level(self, level: int | None = None) -> np.ndarray:
        """Every unit's grid at ``level`` (default: the edited level)."""
        return self.lineage_at(self.codes, self.level if level is None else level)

    def codes_at(self, level: int) -> list[str]:
        """Codes of the draft's grids at ``level``, sorted."""
        return sorted(self.grids.index[self.grids["level"] == level])

    def children(self, code: str) -> list[str]:
        """Codes of the grids directly under ``code``, sorted."""
        return sorted(self.grids.index[self.grids["parent_code"] == code])

    def members(self, code: str) -> np.ndarray:
        """Positions of the units in grid ``code`` (any level)."""
        return np.flatnonzero(self.at_level(self._tree()[1][code]) == code)

    def is_locked(self, code: str) -> bool:
        """Whether grid ``code`` (or a grid above it) is locked by the planner or special."""
        return self._tree()[2].get(code, False)

    def locked_units(self) -> np.ndarray:
        """True for every unit that may not move (its own lock, special or locked grid)."""
        by_code = {c: self.is_locked(c) for c in set(self.codes.tolist())}
        return self.unit_locked | np.array([by_code[c] for c in self.codes.tolist()], dtype=bool)

    def positions(self, unit_ids: Iterable[str]) -> list[int]:
        """Positions of ``unit_ids``.

        Raises
        ------
        InvalidInputError
            Naming the ids that are not units of the draft.
        """
        ids = list(unit_ids)
        missing = [u for u in ids if u not in self.position]
        if missing:
            raise InvalidInputError(
                f"{len(missing)} unit(s) are not in this draft: {', '.join(missing[:5])}"
            )
        return [self.position[u] for u in ids]

    @property
    def can_undo(self) -> bool:
        """True when an edit can be undone."""
        return self.cursor > 0

    @property
    def can_redo(self) -> bool:
        """True when an undone edit can be redone."""
        return self.cursor < len(self.log)

    def dirty(self) -> set[str]:
        """Codes of the grids (edited level and below) whose units differ from the base's.

        Grids above the edited level never change: no edit crosses them. Kept until the
        next edit, undo or redo (every grid's outline asks for it).
        """
        if self._dirty_cache is not None:
            return self._dirty_cache
        moved = np.flatnonzero(self.codes != self.base_codes)
        found: set[str] = set()
        for code in set(self.codes[moved].tolist()) | set(self.base_codes[moved].tolist()):
            found.update(self._chain(code))
        found.update(c for c in self.grids.index if c not in self.base_geoms)
        self._dirty_cache = {
            c for c in found if c not in self.base_geoms or self._level_of(c) >= self.level
        }
        return self._dirty_cache

    def _level_of(self, code: str) -> int:
        if code in self.grids.index:
            return int(self.grids.at[code, "level"])
        return int(self.base.grids.loc[self.base.grids["code"] == code, "level"].iloc[0])

    def _chain(self, code: str) -> list[str]:
        chain = []
        while code in self.grids.index or code in self.base_geoms:
            chain.append(code)
            parent = (
                self.grids.at[code, "parent_code"]
                if code in self.grids.index
                else self.base.grids.set_index("code").at[code, "parent_code"]
            )
            if parent is None or pd.isna(parent):
                break
            code = str(parent)
        return chain

    def geometry(self, code: str) -> shapely.Geometry:
        """Grid ``code``'s polygon: the base plan's, or its units dissolved once edited."""
        if code not in self.dirty():
            return self.base_geoms[code]
        return _dissolve(self.units.geometry.to_numpy()[self.members(code)])

    # ------------------------------------------------------------------ editing

    def apply(self, delta: Delta) -> None:
        """Apply ``delta`` as a new edit: redo history after the cursor is dropped.

        ``dropped`` tells how many undone edits it dropped.
        """
        self._forward(delta)
        self.dropped = len(self.log) - self.cursor
        del self.log[self.cursor :]
        self.log.append(delta)
        self.cursor += 1

    def undo(self) -> Delta:
        """Undo the edit before the cursor.

        Raises
        ------
        ConflictError
            When there is nothing to undo.
        """
        if not self.can_undo:
            raise ConflictError("nothing to undo (没有可撤销的操作)")
        self.cursor -= 1
        delta = self.log[self.cursor]
        self._backward(delta)
        return delta

    def redo(self) -> Delta:
        """Redo the edit after the cursor.

        Raises
        ------
        ConflictError
            When there is nothing to redo.
        """
        if not self.can_redo:
            raise ConflictError("nothing to redo (没有可重做的操作)")
        delta = self.log[self.cursor]
        self._forward(delta)
        self.cursor += 1
        return delta

    def replay(self, log: Sequence[Delta], cursor: int) -> None:
        """Rebuild the state from the base plan: apply ``log[:cursor]``, keep the rest to redo."""
        for delta in log[:cursor]:
            self._forward(delta)
        self.log, self.cursor = list(log), cursor

    def _forward(self, delta: Delta) -> None:
        self._forget(delta)
        for row in delta.added:
            self._add_grid(row)
        for unit, _, new in delta.moves:
            self.codes[unit] = new
        for row in delta.removed:
            self.grids = self.grids.drop(index=row["code"])
        for code, _, name in delta.renamed:
            self.grids.at[code, "name"] = name
        for code, _, locked in delta.locked:
            self.grids.at[code, "locked"] = locked

    def _forget(self, delta: Delta) -> None:
        """Drop what ``delta`` makes stale: the grid tree only when it changes the grids."""
        self._dirty_cache = None
        if delta.added or delta.removed or delta.locked:
            self._tree_cache = None

    def _backward(self, delta: Delta) -> None:
        self._forget(delta)
        for code, locked, _ in delta.locked:
            self.grids.at[code, "locked"] = locked
        for code, name, _ in delta.renamed:
            self.grids.at[code, "name"] = name
        for row in delta.removed:
            self._add_grid(row)
        for unit, old, _ in delta.moves:
            self.codes[unit] = old
        for row in delta.added:
            self.grids = self.grids.drop(index=row["code"])

    def _add_grid(self, row: dict[str, Any]) -> None:
        values = {f: row.get(f) for f in _GRID_FIELDS} | {"locked": bool(row.get("locked"))}
        self.grids.loc[str(row["code"])] = pd.Series(values, dtype=object)

    def grid_row(self, code: str) -> dict[str, Any]:
        """Grid ``code`` as a row of a :class:`Delta` (``code`` and its fields)."""
        row = self.grids.loc[code]
        return {"code": code, **{f: _plain(row[f]) for f in _GRID_FIELDS}} | {
            "locked": bool(row["locked"])
        }

    # ------------------------------------------------------------------ back to a plan

    def to_plan(self, *, name: str | None = None) -> GridPlan:
        """The draft as a plan: grids dissolved from their units, empty ones left out.

        Staff of grids that still exist are kept; units carry their new deepest codes.
        """
        dirty = self.dirty()
        rows = []
        for code, row in self.grids.iterrows():
            code = str(code)
            if code in dirty:
                members = self.members(code)
                if len(members) == 0:
                    continue
                geom = _dissolve(self.units.geometry.to_numpy()[members])
                households: int | None = int(self.households[members].sum())
            else:
                geom = self.base_geoms[code]
                households = _base_households(self.base, code)
            rows.append(
                {"code": code, **{f: row[f] for f in _GRID_FIELDS}}
                | {"households": households, "geometry": geom}
            )
        grids = gpd.GeoDataFrame(rows, geometry="geometry", crs=PLAN_CRS)
        kept = set(grids["code"])
        staff = self.base.staff[self.base.staff["grid_code"].isin(kept)]
        units = self.units.assign(grid_code=self.codes)
        return GridPlan(
            name or self.base.name,
            self.base.levels,
            grids,
            staff=staff,
            units=units,
            attribution=self.base.attribution,
        )


def _measured(units: gpd.GeoDataFrame, kept: UnitMeasures | None) -> UnitMeasures:
    """``kept`` when they are the measures of ``units`` (same ids and geometries), else new."""
    if kept is not None:
        digest = units_digest(units["unit_id"].astype(str).tolist(), units.geometry.to_numpy())
        if digest == kept.digest:
            return kept
    return measure_units(units)


def _base_households(plan: GridPlan, code: str) -> int | None:
    value = plan.grids.loc[plan.grids["code"] == code, "households"]
    return None if value.empty or pd.isna(value.iloc[0]) else int(value.iloc[0])


def _plain(value: object) -> object:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _dissolve(geoms: np.ndarray) -> shapely.Geometry:
    """The union of units that tile their land (the fast coverage union when it can).

    Units a hair apart from float noise (as a partition writes them) are no coverage as they
    are, but are one once snapped as opening a draft snaps them (10⁻⁹ degree): the coverage
    union of the snapped units takes a fraction of a millisecond where the full union of
    100 units takes ~8 ms. Units that are no coverage even then get the full union.
    """
    if len(geoms) == 0:
        return shapely.MultiPolygon()
    for units in (geoms, snapped(geoms, SNAP_DECIMALS["degree"])):
        try:
            merged = shapely.coverage_union_all(units)
        except shapely.errors.GEOSException:
            continue
        if shapely.is_valid(merged):
            return merged
    return shapely.union_all(shapely.make_valid(geoms))
