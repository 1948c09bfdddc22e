"""``/plans/{name}/staff/import`` and ``/export``: staff rosters (花名册) over the API.

A planner uploads the office's Excel roster (or a CSV) and every grid it lists gets its staff
in the plan's version in force, from ``effective`` on, in one transaction
(:func:`geogrid.store.rosters.import_roster`); any bad row is a 422 whose ``problems`` name
the rows as Excel numbers them, and nothing is stored. ``GET …/staff/export`` gives the
roster back as ``.xlsx`` (codes and phones as text) or CSV, as it stood at ``at``.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.routes.plans import PlanName, Reader, StaffPlanner, Store, _upload
from api.schemas import Instant
from geogrid.access import Caller
from geogrid.errors import PlanFileError
from geogrid.io.rosters import write_roster
from geogrid.store import PlanStore
from geogrid.store.rosters import import_roster, plans_in_force

__all__ = ["router"]

router = APIRouter(tags=["staff"])

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_SUFFIXES = {b"PK\x03\x04": ".xlsx", b"\xd0\xcf\x11\xe0": ".xls"}  # a zip; an OLE file
_UPLOAD = {
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "properties": {"file": {"type": "string", "format": "binary"}},
            "required": ["file"],
        }
    },
    XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
    "text/csv": {"schema": {"type": "string"}},
}


class RosterFormat(StrEnum):
    """File format of an exported roster."""

    XLSX = "xlsx"
    CSV = "csv"


class RosterImportOut(BaseModel):
    """What a roster import changed."""

    plan: str = Field(description="the plan whose version in force was changed")
    version: int | None = Field(description="that version (none when the roster lists no one)")
    grids: list[str] = Field(description="the grids whose staff were replaced, in roster order")
    staff: int = Field(description="people on those grids now")
    effective: dt.datetime | None = Field(description="from when the new staff hold (UTC)")
    staff_revision: int | None = Field(description="the version's staff revision after it")


@router.post(
    "/plans/{name}/staff/import",
    response_model=RosterImportOut,
    openapi_extra={"requestBody": {"required": True, "content": _UPLOAD}},
    responses={422: {"description": "an unreadable file, or bad rows (`problems`, by row)"}},
)
async def import_staff(
    name: PlanName,
    request: Request,
    caller: StaffPlanner,
    store: Store,
    effective: Annotated[
        Instant | None,
        Query(description="from when the roster's staff hold (ISO 8601; default now)"),
    ] = None,
    sheet: Annotated[
        str | None,
        Query(max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$", description="sheet to read"),
    ] = None,
) -> RosterImportOut:
    """Replace the staff of every grid a roster lists (花名册 .xlsx/.xls/.csv), all or nothing.

    The body is the file (or a `multipart/form-data` form with a `file` field). Columns in
    Chinese or English (网格编码/网格名称, 姓名, 职务/岗位, 专职/兼职, 联系电话, 身份证号), the
    header found below a title row. A planner or admin covering every grid listed; the
    grids not listed keep their staff. 422 lists every bad row by its row number.
    """
    filename, data = _upload(await request.body(), request.headers.get("content-type", ""))
    found = await run_in_threadpool(_import, store, data, filename, name, caller, effective, sheet)
    request.app.state.plans.expire()
    return found


@router.get(
    "/plans/{name}/staff/export",
    response_class=Response,
    responses={200: {"content": {XLSX_MEDIA_TYPE: {}, "text/csv": {}}}},
)
def export_staff(
    name: PlanName,
    caller: Reader,
    store: Store,
    format: Annotated[RosterFormat, Query(description="xlsx or csv")] = RosterFormat.XLSX,
    at: Annotated[
        Instant | None, Query(description="the staff in force at this instant; default now")
    ] = None,
) -> Response:
    """The roster (花名册) of plan `name`'s version in force (now or `at`) as a file.

    Columns 网格编码, 网格名称, 所属上级, 职务, 姓名, 联系电话; uploaded again
    (`POST …/staff/import`) it changes nothing.
    """
    plan = plans_in_force(store, plan=name, at=at, covered=caller)
    with tempfile.TemporaryDirectory() as folder:
        content = write_roster(plan.staff, plan.grids, Path(folder) / f"r.{format.value}")
        body = content.read_bytes()
    media = XLSX_MEDIA_TYPE if format is RosterFormat.XLSX else "text/csv; charset=utf-8"
    filename = f"{name}-花名册.{format.value}"
    disposition = (
        f"attachment; filename=\"roster.{format.value}\"; filename*=UTF-8''{quote(filename)}"
    )
    return Response(body, media_type=media, headers={"Content-Disposition": disposition})


def _import(
    store: PlanStore,
    data: bytes,
    filename: str | None,
    name: str,
    caller: Caller,
    effective: dt.datetime | None,
    sheet: str | None,
) -> RosterImportOut:
    suffix = next((s for magic, s in _SUFFIXES.items() if data.startswith(magic)), ".csv")
    if not data.strip():
        raise PlanFileError("the body is empty: send the roster file (.xlsx, .xls or .csv)")
    stem = re.sub(r"[^\w.-]", "_", Path(filename).stem)[:100] if filename else "roster"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{stem or 'roster'}{suffix}"
        path.write_bytes(data)
        roster, changed = import_roster(
            store,
            path,
            plan=name,
            caller=caller,
            effective=effective,
            sheet=sheet,
            source=filename or path.name,
        )
    last: Any = changed[-1] if changed else None
    return RosterImportOut(
        plan=name,
        version=last.version if last else None,
        grids=roster.grids,
        staff=len(roster.staff),
        effective=last.valid_from if last else None,
        staff_revision=last.revision if last else None,
    )
