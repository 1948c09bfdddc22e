"""``/drafts``: the workbench's drafts — open a version, edit it, let the algorithms help, save.

Every button of the browser workbench is one of these calls (``docs/workbench.md``); the
server checks each one. Planners (``MANAGE_PLANS``) covering the plan's jurisdiction open,
edit and save drafts; a draft is seen by its owner and administrators (anyone else: 404).
Changes may name the state they change with ``If-Match: "r<revision>"`` (stale: 412).
"""

from __future__ import annotations

import math
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import numpy as np
import orjson
import shapely
from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool

from api.auth import store_of
from api.routes.plans import Planner, _location
from api.schemas_drafts import (
    DraftIn,
    DraftOut,
    EditIn,
    EditOut,
    GridFactsOut,
    ProblemOut,
    ProposalIn,
    ProposalOut,
    RefusedOut,
    SaveIn,
    SelectIn,
    SelectOut,
    UnitChangeOut,
)
from api.schemas_plans import StaffMemberIn, VersionOut
from geogrid.io.tables import write_table
from geogrid.partition.notice import notice
from geogrid.store.drafts import DraftRecord
from geogrid.workbench.notice_pdf import write_notice_pdf
from geogrid.workbench.service import Change, Workbench
from geogrid.workbench.views import (
    changes,
    grids_geojson,
    select_units,
    units_compact,
    units_geojson,
)

__all__ = ["router", "workbench_of"]

router = APIRouter(prefix="/drafts", tags=["workbench"])

DraftId = Annotated[str, PathParam(pattern=r"^[0-9a-f]{32}$", description="the draft's id")]
IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", description='the ETag read before (`"r<revision>"`); stale: 412'),
]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbench_of(request: Request) -> Workbench:
    """The service's workbench (made on first use, over the service's store)."""
    state = request.app.state
    if getattr(state, "workbench", None) is None:
        state.workbench = Workbench(store_of(request))
    bench: Workbench = state.workbench
    return bench


Bench = Annotated[Workbench, Depends(workbench_of)]


class ChangesFormat(StrEnum):
    """Format of the change list."""

    JSON = "json"
    CSV = "csv"
    XLSX = "xlsx"
    PDF = "pdf"


def _out(bench: Workbench, record: DraftRecord, response: Response | None = None) -> DraftOut:
    with bench.view(record) as draft:
        found = bench.figures(record.id, draft).evaluation()
        levels, can_undo, can_redo, cursor = (
            draft.base.levels,
            draft.can_undo,
            draft.can_redo,
            draft.cursor,
        )
    if response is not None:
        response.headers["ETag"] = f'"{record.etag}"'
    return DraftOut(
        id=record.id,
        plan=record.plan,
        base_version=record.base_version,
        jurisdiction=record.jurisdiction,
        levels=levels,
        level=record.level,
        band=record.band,
        revision=record.revision,
        etag=record.etag,
        edits=cursor,
        can_undo=can_undo,
        can_redo=can_redo,
        grids=found.grids.astype(object).where(found.grids.notna(), None).to_dict("records"),
        problems=[ProblemOut.model_validate(p) for p in found.problems],
        proposal=_proposal(record.proposal),
        staff=record.staff,
        saved_version=record.saved_version,
        created_by=record.created_by,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def _proposal(pending: dict[str, Any] | None) -> ProposalOut | None:
    if pending is None:
        return None
    return ProposalOut.model_validate({k: v for k, v in pending.items() if k != "delta"})


def _tag(if_match: str | None) -> str | None:
    return None if if_match is None else if_match.strip().strip('"').removeprefix("W/").strip('"')


@router.post("", status_code=201, response_model=DraftOut)
def open_draft(body: DraftIn, caller: Planner, bench: Bench, response: Response) -> DraftOut:
    """Open a stored version (default: the latest) as a new draft of the caller's."""
    record = bench.open(
        caller, body.plan, body.version, band=body.band, then_band=body.then_band, level=body.level
    )
    response.headers["Location"] = f"/drafts/{record.id}"
    return _out(bench, record, response)


@router.get("", response_model=list[DraftOut])
def list_drafts(caller: Planner, bench: Bench) -> list[DraftOut]:
    """The caller's drafts, newest change first (every draft for an administrator)."""
    return [_out(bench, record) for record in bench.list(caller)]


@router.get("/{draft_id}", response_model=DraftOut)
def get_draft(draft_id: DraftId, caller: Planner, bench: Bench, response: Response) -> DraftOut:
    """The draft as it stands: every grid's figures, the problems, undo/redo, its `ETag`."""
    return _out(bench, bench.record(caller, draft_id), response)


@router.delete("/{draft_id}", status_code=204)
def discard_draft(draft_id: DraftId, caller: Planner, bench: Bench) -> Response:
    """Discard a draft (its saved versions stay)."""
    bench.drafts.delete(bench.record(caller, draft_id).id)
    return Response(status_code=204)


_GEOJSON: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/geo+json": {"schema": {"type": "object"}}}}
}


_UNITS: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "application/geo+json": {"schema": {"type": "object"}},
            "application/json": {"schema": {"type": "object"}},
        }
    }
}


@router.get("/{draft_id}/units", response_class=Response, responses=_UNITS)
def draft_units(
    draft_id: DraftId,
    caller: Planner,
    bench: Bench,
    format: Annotated[
        str,
        Query(
            pattern="^(geojson|compact)$",
            description="geojson, or compact: flat arrays the page draws from (docs/workbench.md)",
        ),
    ] = "geojson",
) -> Response:
    """The draft's units, each with its grid and that grid's colour (GeoJSON or compact)."""
    with bench.view(bench.record(caller, draft_id)) as draft:
        if format == "compact":
            return Response(units_compact(draft), media_type="application/json")
        data = units_geojson(draft)
    return Response(data, media_type="application/geo+json")


@router.get("/{draft_id}/grids", response_class=Response, responses=_GEOJSON)
def draft_grids(
    draft_id: DraftId,
    caller: Planner,
    bench: Bench,
    level: Annotated[int | None, Query(ge=1, le=6, description="default: the edited level")] = None,
    which: Annotated[str, Query(pattern="^(draft|base)$", description="draft or base")] = "draft",
) -> Response:
    """Grid polygons as GeoJSON: the draft's, or the version it was opened from (`base`)."""
    with bench.view(bench.record(caller, draft_id)) as draft:
        figures = bench.figures(draft_id, draft)  # kept edit by edit: no second evaluation
        data = grids_geojson(draft, figures, level=level, which=which)
    return Response(data, media_type="application/geo+json")


@router.post("/{draft_id}/select", response_model=SelectOut)
def select(draft_id: DraftId, body: SelectIn, caller: Planner, bench: Bench) -> SelectOut:
    """The units inside a lasso polygon or a box (their representative point)."""
    box = list(body.box) if body.box else None
    polygon = [list(p) for p in body.polygon] if body.polygon else None
    with bench.view(bench.record(caller, draft_id)) as draft:
        return SelectOut(units=select_units(draft, polygon=polygon, box=box))


@router.post("/{draft_id}/edits", response_model=EditOut)
def edit_draft(
    draft_id: DraftId,
    edit: Annotated[EditIn, Body()],
    caller: Planner,
    bench: Bench,
    response: Response,
    if_match: IfMatch = None,
) -> EditOut:
    """One edit: `move`, `new_grid`, `split`, `merge`, `lock` or `rename`.

    Units that may not move are refused with the reason while the others move; an edit that
    cannot be made at all is a 422 with the reason. The answer is what the edit changed:
    the touched grids' figures, problems and outlines, and the units moved.
    """
    change = bench.edit(caller, draft_id, edit.model_dump(), _tag(if_match))
    return _change_out(change, response)


@router.post("/{draft_id}/undo", response_model=EditOut)
def undo(
    draft_id: DraftId, caller: Planner, bench: Bench, response: Response, if_match: IfMatch = None
) -> EditOut:
    """Undo the last edit (409 when there is none); the answer is what changed back."""
    return _change_out(bench.step(caller, draft_id, True, _tag(if_match)), response)


@router.post("/{draft_id}/redo", response_model=EditOut)
def redo(
    draft_id: DraftId, caller: Planner, bench: Bench, response: Response, if_match: IfMatch = None
) -> EditOut:
    """Redo the edit undone last (409 when there is none); the answer is what changed."""
    return _change_out(bench.step(caller, draft_id, False, _tag(if_match)), response)


def _change_out(change: Change, response: Response) -> EditOut:
    """The answer to a change: only what it touched (see :class:`EditOut`)."""
    record = change.record
    response.headers["ETag"] = f'"{record.etag}"'
    facts = {r["code"]: r for r in change.grids}
    outcome = change.outcome
    return EditOut(
        id=record.id,
        revision=record.revision,
        etag=record.etag,
        edits=change.edits,
        can_undo=change.can_undo,
        can_redo=change.can_redo,
        proposal=_proposal(record.proposal),
        grids=[GridFactsOut.model_validate(_facts(r)) for r in facts.values()],
        removed=change.removed,
        problems=[ProblemOut.model_validate(p) for p in change.problems],
        units=[UnitChangeOut.model_validate(u) for u in change.units],
        outlines=_outlines(change, facts),
        colours=change.colours,
        changed=sorted(change.outlines) + change.removed,
        refused=[RefusedOut(unit=u, reason=r) for u, r in outcome.refused] if outcome else [],
        notes=outcome.notes if outcome else [],
    )


def _facts(row: dict[str, Any]) -> dict[str, Any]:
    """A grid's row with NaN (no compactness) as None."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}


def _outlines(change: Change, facts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The touched grids' outlines as a GeoJSON FeatureCollection (7 decimals, as `/grids`)."""
    codes = [c for c, g in change.outlines.items() if not shapely.is_empty(g)]
    shapes = shapely.transform(
        np.array([change.outlines[c] for c in codes], dtype=object), lambda xy: np.round(xy, 7)
    )
    features = [
        {
            "type": "Feature",
            "properties": {
                "code": code,
                "name": facts[code]["name"],
                "households": facts[code]["households"],
                "status": facts[code]["status"],
                "colour": change.colours.get(code),
            },
            "geometry": orjson.loads(shapely.to_geojson(shape)),
        }
        for code, shape in zip(codes, shapes, strict=True)
    ]
    return {"type": "FeatureCollection", "features": features}


@router.post("/{draft_id}/proposals", status_code=201, response_model=ProposalOut)
def propose(draft_id: DraftId, body: ProposalIn, caller: Planner, bench: Bench) -> ProposalOut:
    """Let the algorithms propose moves, pending until accepted or rejected.

    `balance`: the fewest households moved to bring some grids (with their neighbours) or
    every grid into the band; `repartition`: some grids of one parent partitioned afresh.
    """
    _, pending = bench.propose(caller, draft_id, body.kind, body.grids, seed=body.seed)
    proposal = _proposal(pending)
    assert proposal is not None
    return proposal


@router.post("/{draft_id}/proposals/{proposal_id}/{decision}", response_model=EditOut)
def decide(
    draft_id: DraftId,
    proposal_id: Annotated[str, PathParam(pattern=r"^[0-9a-f]{12}$")],
    decision: Annotated[str, PathParam(pattern="^(accept|reject)$")],
    caller: Planner,
    bench: Bench,
    response: Response,
) -> EditOut:
    """Accept the pending proposal (one edit, undoable) or reject it; what changed."""
    change = bench.decide(caller, draft_id, proposal_id, decision == "accept")
    return _change_out(change, response)


@router.get(
    "/{draft_id}/changes",
    responses={200: {"content": {"text/csv": {}, XLSX: {}, "application/pdf": {}}}},
)
def change_list(
    draft_id: DraftId,
    caller: Planner,
    bench: Bench,
    format: Annotated[ChangesFormat, Query(description="json, csv, xlsx or pdf")] = (
        ChangesFormat.JSON
    ),
) -> Response:
    """The building-level change list against the version opened (调整公示)."""
    record = bench.record(caller, draft_id)
    with bench.view(record) as draft:
        frame = changes(draft)
    if format == ChangesFormat.JSON:
        rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
        from fastapi.responses import JSONResponse

        return JSONResponse(rows)
    suffix = f".{format.value}"
    with tempfile.TemporaryDirectory(prefix="geogrid-changes-") as folder:
        path = Path(folder) / f"changes{suffix}"
        if format == ChangesFormat.PDF:
            write_notice_pdf(frame, path, title=f"{record.plan} 网格调整公示")
        else:
            write_table(notice(frame), path, sheet="调整公示")
        content = path.read_bytes()
    media = {".csv": "text/csv; charset=utf-8", ".xlsx": XLSX, ".pdf": "application/pdf"}[suffix]
    name = f"{record.plan}-调整公示{suffix}"
    disposition = f"attachment; filename=\"changes{suffix}\"; filename*=UTF-8''{quote(name)}"
    return Response(content, media_type=media, headers={"Content-Disposition": disposition})


@router.put("/{draft_id}/staff/{code}", response_model=DraftOut)
def set_staff(
    draft_id: DraftId,
    code: Annotated[str, PathParam(min_length=1, max_length=30, pattern=r"^[0-9A-Za-z_-]+$")],
    people: Annotated[list[StaffMemberIn], Body(max_length=50)],
    caller: Planner,
    bench: Bench,
    response: Response,
    if_match: IfMatch = None,
) -> DraftOut:
    """The grid head and workers of one of the draft's grids; phones are checked."""
    rows = [p.model_dump() for p in people]
    return _out(bench, bench.set_staff(caller, draft_id, code, rows, _tag(if_match)), response)


@router.post("/{draft_id}/save", status_code=201, response_model=VersionOut)
def save(
    draft_id: DraftId,
    caller: Planner,
    bench: Bench,
    response: Response,
    body: Annotated[SaveIn | None, Body()] = None,
    if_match: IfMatch = None,
) -> VersionOut:
    """Store the draft as a new **draft version** of its plan, validated as uploads are.

    412 when the plan got a newer version since the draft was opened: the answer carries
    `yours` and `theirs`, and the draft is kept (`{"overwrite": true}` saves anyway).
    """
    body = body or SaveIn()
    info = bench.save(
        caller, draft_id, note=body.note, expect=_tag(if_match), overwrite=body.overwrite
    )
    response.headers["Location"] = _location(info)
    response.headers["ETag"] = f'"{info.etag}"'
    return VersionOut.of(info)


@router.get(
    "/{draft_id}/maps/{kind}.pdf",
    responses={200: {"content": {"application/pdf": {}}}},
    response_class=Response,
)
async def print_draft(
    draft_id: DraftId,
    kind: Annotated[str, PathParam(pattern="^(wall|signs|cards)$")],
    caller: Planner,
    bench: Bench,
) -> Response:
    """The draft's wall map (网格示意图, A3), public signs (公示牌) or contact cards (直通卡)."""
    record = await run_in_threadpool(bench.record, caller, draft_id)
    content = await run_in_threadpool(_print, bench, record, kind)
    return Response(content, media_type="application/pdf")


def _print(bench: Workbench, record: DraftRecord, kind: str) -> bytes:
    from geogrid.render import render_cards, render_signs, render_wall_map

    plan = bench.plan(record)
    with tempfile.TemporaryDirectory(prefix="geogrid-draft-map-") as folder:
        path = Path(folder) / f"{kind}.pdf"
        if kind == "wall":
            render_wall_map(plan, path, paper="A3", progress=False)
        elif kind == "signs":
            render_signs(plan, path, progress=False)
        else:  # one card per building unit with households
            homes = plan.units[plan.units["households"].fillna(0) > 0]
            render_cards(plan, homes, path, progress=False)
        return path.read_bytes()
