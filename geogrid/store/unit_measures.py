"""Each stored version's unit measures, kept beside it (table ``unit_measures``, migration 0013).

Opening a version in the workbench needs its units' shared edges, areas and perimeters
(:func:`geogrid.units.measures.measure_units`: a coverage check and the edges, seconds for
60,000 units). A version never changes its units, so they are measured once — when the
version is saved (:func:`plan_measures` before the save's transaction, kept in it), or, for a version saved
before 0013, the first time it is opened (:func:`keep_measures`) — and read back as bytes
(:func:`read_measures`). Only units that tile some level of their grids as they are (as a
partition writes them) are kept: a hand-drawn plan's building footprints are cut into cells
when opened, and those cells are measured then.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import sqlalchemy as sa

from geogrid.partition.redraw_units import units_tile
from geogrid.plan import GridPlan
from geogrid.store import schema
from geogrid.store.plan_reads import sort_plan
from geogrid.units.coverage import SNAP_DECIMALS, is_coverage, snapped
from geogrid.units.measures import UnitMeasures, measure_units

__all__ = [
    "KeptMeasures",
    "keep_measures",
    "plan_measures",
    "read_measures",
    "tiled_levels",
    "unit_measures",
]

_log = logging.getLogger(__name__)

unit_measures = sa.Table(
    "unit_measures",
    schema.metadata,
    sa.Column(
        "version_id",
        sa.Integer,
        sa.ForeignKey("plan_versions.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("tiles", schema.JsonType, nullable=False),
    sa.Column("measures", sa.LargeBinary, nullable=False),
)
"""One row per version whose units tile a level: ``tiles`` (those levels), ``measures``."""


@dataclasses.dataclass(frozen=True)
class KeptMeasures:
    """A version's kept measures: the levels its units tile, and the measures."""

    tiles: tuple[int, ...]
    measures: UnitMeasures


def tiled_levels(plan: GridPlan) -> tuple[int, ...]:
    """Levels of ``plan`` its units tile as they are, and form a coverage at (else none)."""
    if plan.units is None or len(plan.units) == 0:
        return ()
    levels = tuple(lv for lv in range(1, plan.depth + 1) if units_tile(plan, lv))
    if not levels or not is_coverage(
        snapped(plan.units.geometry.to_numpy(), SNAP_DECIMALS["degree"])
    ):
        return ()  # not a partition's units: measured (cut, cleaned) when opened
    return levels


def plan_measures(plan: GridPlan) -> KeptMeasures | None:
    """The measures of ``plan``'s units in the store's row order, as a save keeps them.

    ``None`` for units that do not tile a level of the plan (see the module docstring). A
    save measures before its transaction (seconds for 60,000 units: no lock held meanwhile)
    and keeps the result in it (:func:`keep_measures`).
    """
    try:
        levels = tiled_levels(plan)
        if not levels:
            return None
        return KeptMeasures(levels, measure_units(sort_plan(plan).units))
    except Exception:  # an aid to opening, never a reason to refuse a save
        _log.warning("plan %r: units not measured at save", plan.name, exc_info=True)
        return None


def keep_measures(connection: sa.Connection, version_id: int, kept: KeptMeasures) -> None:
    """Keep ``kept`` for ``version_id`` (nothing when it has measures already)."""
    found = connection.execute(
        sa.select(unit_measures.c.version_id).where(unit_measures.c.version_id == version_id)
    ).first()
    if found is None:
        values: dict[str, Any] = {
            "version_id": version_id,
            "tiles": list(kept.tiles),
            "measures": kept.measures.to_bytes(),
        }
        connection.execute(sa.insert(unit_measures).values(values))


def read_measures(connection: sa.Connection, version_id: int) -> KeptMeasures | None:
    """The measures kept for ``version_id`` (``None``: none kept, or in an older format)."""
    row = connection.execute(
        sa.select(unit_measures.c.tiles, unit_measures.c.measures).where(
            unit_measures.c.version_id == version_id
        )
    ).first()
    if row is None:
        return None
    measures = UnitMeasures.from_bytes(bytes(row.measures))
    if measures is None:
        return None
    return KeptMeasures(tuple(int(lv) for lv in row.tiles), measures)
