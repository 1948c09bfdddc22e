"""Request and answer bodies of the workbench's drafts (``api/routes/drafts.py``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "DraftIn",
    "DraftOut",
    "EditIn",
    "EditOut",
    "GridFactsOut",
    "ProblemOut",
    "ProposalIn",
    "ProposalOut",
    "RefusedOut",
    "SaveIn",
    "SelectIn",
    "SelectOut",
    "UnitChangeOut",
]

_BAND = r"^\d{1,6}(\.\d+)?-\d{1,6}(\.\d+)?$"
_TEXT = r"^[^\x00-\x1f\x7f]*$"
Code = Annotated[str, Field(min_length=1, max_length=30, pattern=r"^[0-9A-Za-z_-]+$")]
UnitId = Annotated[str, Field(min_length=1, max_length=200, pattern=_TEXT)]
Lon = Annotated[float, Field(ge=-180, le=180)]
Lat = Annotated[float, Field(ge=-90, le=90)]
Point = tuple[Lon, Lat]


class DraftIn(BaseModel):
    """Open a stored version as a draft."""

    plan: str = Field(min_length=1, max_length=200, pattern=_TEXT, examples=["示例街道"])
    version: int | None = Field(default=None, ge=1, le=2**31 - 1, description="default: latest")
    band: str | None = Field(
        default=None, pattern=_BAND, examples=["300-500"], description="households per grid"
    )
    then_band: str | None = Field(
        default=None, pattern=_BAND, examples=["20-50"], description="per micro-grid (微网格)"
    )
    level: int | None = Field(default=None, ge=1, le=6, description="level edited (default 2)")


class GridFactsOut(BaseModel):
    """One grid of the draft as it stands."""

    code: str
    name: str
    level: int
    parent_code: str | None
    households: int
    units: int
    status: str = Field(description="low / ok / high (against the band), empty, none (no band)")
    band_low: float | None
    band_high: float | None
    pieces: int = Field(description="pieces it falls into over shared unit edges (1 = contiguous)")
    polsby_popper: float | None
    locked: bool
    changed: bool = Field(description="its units differ from the version opened")


class ProblemOut(BaseModel):
    """Something to fix, with where it is."""

    kind: str = Field(description="out_of_band / broken / empty")
    grid: str
    message: str
    units: list[str] = Field(description="for a broken grid: the units of its stray pieces")
    where: list[float] | None = Field(description="[lon, lat] to show it at")


class MoveOut(BaseModel):
    """A unit a proposal would move (grids at the edited level)."""

    unit: str
    name: str | None
    households: int
    from_: str = Field(alias="from")
    to: str

    model_config = {"populate_by_name": True}


class ProposalOut(BaseModel):
    """Moves proposed by the redraw or the partition, pending until accepted or rejected."""

    id: str
    kind: str
    moves: list[MoveOut]
    new_grids: list[str]
    moved_households: int
    problems: list[str]


class DraftOut(BaseModel):
    """A draft: what it was opened from, its figures and problems, undo/redo, its ETag."""

    id: str
    plan: str
    base_version: int | None
    jurisdiction: str
    levels: list[str]
    level: int
    band: dict[str, float] | None
    revision: int
    etag: str
    edits: int = Field(description="edits applied (the undo depth)")
    can_undo: bool
    can_redo: bool
    grids: list[GridFactsOut]
    problems: list[ProblemOut]
    proposal: ProposalOut | None
    staff: dict[str, list[dict[str, Any]]]
    saved_version: int | None
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime


class RefusedOut(BaseModel):
    """A unit an edit could not move, and why."""

    unit: str
    reason: str


class UnitChangeOut(BaseModel):
    """A unit whose grid or lock a change changed."""

    unit: str
    grid: str = Field(description="its grid at the edited level")
    code: str = Field(description="its deepest grid (a micro-grid when the plan has them)")
    locked: bool


class EditOut(BaseModel):
    """What one change (edit, undo, redo, accepted proposal) did — not the whole draft.

    Its size follows the change: the touched grids' new figures and problems, the units
    that moved and the touched grids' new outlines. `GET /drafts/{id}` gives the whole draft.
    """

    id: str
    revision: int
    etag: str
    edits: int = Field(description="edits applied (the undo depth)")
    can_undo: bool
    can_redo: bool
    proposal: ProposalOut | None
    grids: list[GridFactsOut] = Field(description="the grids the change touched, as they are now")
    removed: list[str] = Field(description="codes of the grids the change removed")
    problems: list[ProblemOut] = Field(
        description="the touched grids' problems (they replace those grids' earlier ones)"
    )
    units: list[UnitChangeOut] = Field(description="units whose grid or lock changed")
    outlines: dict[str, Any] = Field(
        description="GeoJSON FeatureCollection: the touched grids of the edited level, each with "
        "`code`, `name`, `households`, `status` and `colour`"
    )
    colours: dict[str, str] = Field(
        description="every grid's fill colour when the change added or removed grids, else empty"
    )
    changed: list[str] = Field(description="grids of the edited level touched or removed")
    refused: list[RefusedOut]
    notes: list[str]


class MoveIn(BaseModel):
    """Move units to a grid."""

    op: Literal["move"]
    units: list[UnitId] = Field(min_length=1, max_length=100_000)
    to: Code


class NewGridIn(BaseModel):
    """Make a new grid of units."""

    op: Literal["new_grid"]
    units: list[UnitId] = Field(min_length=1, max_length=100_000)
    name: str | None = Field(default=None, min_length=1, max_length=100, pattern=_TEXT)


class SplitIn(BaseModel):
    """Split a grid along a drawn line."""

    op: Literal["split"]
    grid: Code
    line: list[Point] = Field(min_length=2, max_length=10_000)


class MergeIn(BaseModel):
    """Merge the second grid into the first."""

    op: Literal["merge"]
    grids: list[Code] = Field(min_length=2, max_length=2)


class LockIn(BaseModel):
    """Lock or unlock a grid (the algorithms and moves leave it alone)."""

    op: Literal["lock"]
    grid: Code
    locked: bool = True


class RenameIn(BaseModel):
    """Rename a grid."""

    op: Literal["rename"]
    grid: Code
    name: str = Field(min_length=1, max_length=100, pattern=_TEXT)


EditIn = Annotated[
    MoveIn | NewGridIn | SplitIn | MergeIn | LockIn | RenameIn, Field(discriminator="op")
]


class SelectIn(BaseModel):
    """A lasso polygon or a box; the units whose representative point lies inside."""

    polygon: list[Point] | None = Field(default=None, min_length=3, max_length=10_000)
    box: tuple[Lon, Lat, Lon, Lat] | None = Field(default=None, description="[w, s, e, n]")


class SelectOut(BaseModel):
    """Units selected."""

    units: list[str]


class ProposalIn(BaseModel):
    """Ask the algorithms for a proposal."""

    kind: Literal["balance", "repartition"]
    grids: list[Code] | None = Field(
        default=None, max_length=10_000, description="balance: default every grid"
    )
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


class SaveIn(BaseModel):
    """Save the draft as a new draft version of its plan."""

    note: str = Field(default="", max_length=2000, pattern=_TEXT)
    overwrite: bool = Field(
        default=False, description="save even though the plan got a newer version meanwhile"
    )
