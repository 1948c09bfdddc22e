"""What a rebuilt system hands the runner, and the figures its report compares.

A system module (``ruyang``, ``qinghu`` …) returns a :class:`Setup` from its ``setup``
function: the jurisdictions with their areas and inputs, the level names, how staff are
assigned and which cards to print. After the run it lists :class:`Figure` rows: each
published figure beside the rebuilt one, and whether geogrid was *given* it (``input``: a
planner's setting or the generated data) or *made* it (``output``: counted in the result).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Literal

import geopandas as gpd
from pyproj import CRS

from geogrid.examples.pipeline import Jurisdiction
from geogrid.plan import GridPlan

__all__ = ["Cards", "Figure", "Setup", "incident_figures"]


@dataclasses.dataclass
class Figure:
    """One row of a report: a published figure and the rebuilt one."""

    what: str
    published: float | str | None
    rebuilt: float | str | None
    role: Literal["input", "output"]
    note: str = ""
    rounded: float = 0.0
    """A published figure rounded down by the source ("103,500余"): the rebuilt one matches
    when it lies in ``[published, published + rounded)``."""

    @property
    def matches(self) -> bool | None:
        """Whether the rebuilt figure equals the published one (``None``: nothing to compare)."""
        if self.published is None or self.rebuilt is None:
            return None
        if isinstance(self.published, str) or isinstance(self.rebuilt, str):
            return str(self.published) == str(self.rebuilt)
        if self.rounded:
            low = float(self.published)
            return low <= float(self.rebuilt) < low + self.rounded
        return abs(float(self.published) - float(self.rebuilt)) < 1e-9


@dataclasses.dataclass
class Cards:
    """Household contact cards (直通卡) to print: the households of one jurisdiction's plan."""

    jurisdiction: str
    homes: gpd.GeoDataFrame
    group_by: str | None = None
    label: str | None = None


@dataclasses.dataclass
class Setup:
    """Everything a system gives the runner before geogrid takes over."""

    county: tuple[str, str]
    crs: CRS
    jurisdictions: list[Jurisdiction]
    levels: list[str]
    staff: Callable[[list[GridPlan]], list[GridPlan]]
    figures: Callable[[list[GridPlan], dict[str, Any]], list[Figure]]
    homes: gpd.GeoDataFrame
    cards: Sequence[Cards] = ()
    notes: list[str] = dataclasses.field(default_factory=list)
    incidents: dict[str, Any] | None = None
    """``simulate_year`` settings (``incidents``, ``closed_share``) for the year of incidents."""
    maps_for: Sequence[str] | None = None
    """Jurisdiction codes that get a wall map and signs (default all)."""
    post: Callable[[GridPlan, list[Any], CRS, int], GridPlan] | None = None
    """Levels added below a jurisdiction's partitioned plan (plan, its areas, CRS, seed)."""
    build: Callable[[Jurisdiction, CRS, int, str, str], GridPlan] | None = None
    """A jurisdiction's whole plan built by the system (jurisdiction, CRS, seed, plan name,
    attribution), instead of the partition of each area into grids."""
    sign_codes: Callable[[GridPlan], list[str]] | None = None
    """The grids that get a sign (default every deepest grid)."""
    extra_maps: Sequence[str] = ()
    """Names of level-2 areas (communities) that get a wall map of their own."""
    signs_under: str | None = None
    """Only the deepest grids under this grid code get signs (default every deepest grid)."""


def incident_figures(
    run: dict[str, Any], closed: int | None, rate: float | None, compare: bool = True
) -> list[Figure]:
    """Closed incidents and closure rate (办结率, %) of the simulated year beside the published."""
    summary = run.get("incidents") or {}
    if "closed" not in summary:
        return []
    return [
        Figure("incidents closed (办结)", closed if compare else None, int(summary["closed"]),
               "output", f"of {summary['incidents']:,} reported (input), lifecycle simulated"),
        Figure("closure rate % (办结率)", rate if compare else None,
               round(100 * float(summary["closure_rate"]), 1), "output",
               "closed / (reported − rejected)"),
    ]  # fmt: skip
