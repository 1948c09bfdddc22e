"""``/plans`` and ``/grids/{code}/staff``: plans and staff over the API (planner or admin key).

Upload a plan file, validated as ``geogrid validate`` does (errors: 422 with the problem list;
warnings come back with the draft), approve and activate versions, export them as GeoJSON or
GeoPackage, and change a grid's staff in place with history. Writes that name a state use
ETags: ``If-Match`` with a tag that is no longer current gets 412 and changes nothing. Every
change is written to the audit log by the store, in the same transaction.
"""

from __future__ import annotations

import email.parser
import email.policy
import re
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool

from api.auth import CurrentCaller, store_of
from api.schemas import Instant
from api.schemas_plans import (
    GridStaffOut,
    PlanSummaryOut,
    StaffChangeOut,
    StaffIn,
    UploadOut,
    VersionOut,
)
from geogrid import io
from geogrid.access import Caller, Permission, require
from geogrid.county import union_plan
from geogrid.errors import (
    CoordinateError,
    CRSError,
    InvalidPlanError,
    NoActivePlanError,
    NotFoundError,
    PlanFileError,
    PreconditionRequiredError,
)
from geogrid.plan import GridPlan
from geogrid.store import PlanStore, VersionInfo
from geogrid.store.publish import save_checked
from geogrid.validate import Problem

__all__ = ["router"]

router = APIRouter(tags=["plans"])

_UPLOAD_TYPES = {
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "properties": {"file": {"type": "string", "format": "binary"}},
            "required": ["file"],
        }
    },
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
}
_EXPORTED: dict[int | str, dict[str, Any]] = {
    200: {"content": {io.GEOJSON_MEDIA_TYPE: {}, "application/geopackage+sqlite3": {}}}
}
_IF_MATCH = Header(
    alias="If-Match", description='the ETag read before (`"…"`); a stale one gets 412'
)
# declared required, as the service requires it; FastAPI's own check would answer 422, not 428
_IF_MATCH_REQUIRED = {
    "parameters": [
        {
            "name": "If-Match",
            "in": "header",
            "required": True,
            "description": 'the ETag of GET /grids/{code}/staff (`"…"`); 428 without it, '
            "412 when the staff changed since",
            "schema": {"type": "string"},
        }
    ]
}


_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"  # no control characters (PostgreSQL text has no NUL)
PlanName = Annotated[str, PathParam(max_length=200, pattern=_PRINTABLE, examples=["示例街道"])]
GridCode = Annotated[
    str, PathParam(max_length=60, pattern=_PRINTABLE, examples=["110108001001004"])
]
Version = Annotated[int, PathParam(ge=1, le=2**31 - 1, description="version number (1, 2, …)")]


class ExportFormat(StrEnum):
    """File format of an exported plan."""

    GEOJSON = "geojson"
    GPKG = "gpkg"


def _planner(caller: CurrentCaller) -> Caller:
    """A caller who may save plans: planner or admin (the store checks the jurisdiction)."""
    require(caller, Permission.MANAGE_PLANS)
    return caller


def _reviewer(caller: CurrentCaller) -> Caller:
    """A caller who may approve and activate: supervisor or admin (of the jurisdiction)."""
    require(caller, Permission.APPROVE_PLANS)
    return caller


def _reader(caller: CurrentCaller) -> Caller:
    """A caller who may read plan versions: whoever may save or approve them."""
    if not caller.can(Permission.APPROVE_PLANS):
        require(caller, Permission.MANAGE_PLANS)
    return caller


def _staff_planner(caller: CurrentCaller) -> Caller:
    """A caller who may manage staff: planner or admin (the store checks it covers the grid)."""
    require(caller, Permission.MANAGE_PLANS)
    return caller


Planner = Annotated[Caller, Depends(_planner)]
Reviewer = Annotated[Caller, Depends(_reviewer)]
Reader = Annotated[Caller, Depends(_reader)]
StaffPlanner = Annotated[Caller, Depends(_staff_planner)]
Store = Annotated[PlanStore, Depends(store_of)]


# --------------------------------------------------------------------------- versions


@router.post(
    "/plans",
    status_code=201,
    response_model=UploadOut,
    openapi_extra={"requestBody": {"required": True, "content": _UPLOAD_TYPES}},
    responses={422: {"description": "unreadable file, or validation errors (`problems`)"}},
)
async def upload_plan(
    request: Request,
    response: Response,
    caller: Planner,
    store: Store,
    note: Annotated[
        str, Query(max_length=2000, pattern=r"^[^\x00]*$", description="kept with the version")
    ] = "",
    name: Annotated[
        str | None,
        Query(
            max_length=200, pattern=_PRINTABLE, description="plan name when the file carries none"
        ),
    ] = None,
    crs: Annotated[
        str | None,
        Query(
            max_length=100,
            pattern=_PRINTABLE,
            description="what the coordinates really are: gcj02 / bd09 for a layer traced on a "
            "phone map (GeoJSON always claims WGS84), or an EPSG code for a file without one",
            examples=["gcj02"],
        ),
    ] = None,
    force_crs: Annotated[
        bool, Query(description="let `crs` override a different CRS the file declares")
    ] = False,
) -> UploadOut:
    """Store a plan file as a new **draft** version, after validating it.

    The body is the file itself (any content type) or a `multipart/form-data` form with a
    `file` field (`curl -F file=@plan.gpkg`): a GeoPackage, GeoJSON or GeoParquet plan as
    geogrid writes them (`geogrid export`), a foreign grids layer in one of those formats or
    as a zipped Shapefile (`.shp`, `.shx`, `.dbf`, `.prj` in one zip, a folder inside is
    fine), or a drawing: KML/KMZ from a phone map (`crs=gcj02` or `bd09`) or DXF from CAD
    (`crs=EPSG:…` required). The format is told from the content; a zip's unpacked size
    counts against `GEOGRID_MAX_UPLOAD_BYTES`.
    Validation errors answer 422 with `problems` and store nothing; warnings come back with
    the draft.
    """
    filename, data = _upload(await request.body(), request.headers.get("content-type", ""))
    cap = request.app.state.settings.max_upload_bytes
    plan = await run_in_threadpool(_read_upload, data, filename, name, crs, force_crs, cap)
    try:
        info, _ = await run_in_threadpool(
            save_checked, store, plan, by=caller.name, note=note, caller=caller
        )
    except InvalidPlanError as exc:  # the problems as lines of text, as the 422 body shows them
        error = InvalidPlanError(str(exc), [p.line() for p in exc.problems])
        error.details = {"problem_details": [p.to_feature() for p in exc.problems]}  # type: ignore[attr-defined]
        raise error from exc
    response.headers["Location"] = _location(info)
    response.headers["ETag"] = f'"{info.etag}"'
    return UploadOut.model_validate(VersionOut.of(info).model_dump())


@router.get("/plans", response_model=list[PlanSummaryOut])
def list_plans(caller: Reader, store: Store) -> list[PlanSummaryOut]:
    """Every stored plan of the jurisdictions the caller covers: its latest and active version."""
    latest: dict[str, VersionInfo] = {}
    active: dict[str, int] = {}
    for info in _covered(store, caller, store.versions()):
        latest[info.plan] = info
        if info.status.value == "active":
            active[info.plan] = info.version
    return [
        PlanSummaryOut(
            name=name,
            jurisdiction=info.jurisdiction,
            latest_version=info.version,
            latest_status=info.status.value,
            active_version=active.get(name),
        )
        for name, info in latest.items()
    ]


@router.get("/plans/{name}/versions", response_model=list[VersionOut])
def list_versions(name: PlanName, caller: Reader, store: Store) -> list[VersionOut]:
    """Every version of plan `name`, oldest first (404 for an unknown plan, or another's)."""
    versions = _covered(store, caller, store.versions(name))
    if not versions:
        _missing(store, caller, name)
    return [VersionOut.of(info) for info in versions]


@router.get("/plans/{name}/versions/{version}", response_model=VersionOut)
def get_version(
    name: PlanName, version: Version, response: Response, caller: Reader, store: Store
) -> VersionOut:
    """One version, with its `ETag` (send it as `If-Match` to approve or activate it)."""
    return _answer(response, _version(store, name, version, caller))


@router.post("/plans/{name}/versions/{version}/approve", response_model=VersionOut)
def approve_version(
    name: PlanName,
    version: Version,
    response: Response,
    caller: Reviewer,
    store: Store,
    if_match: Annotated[str | None, _IF_MATCH] = None,
) -> VersionOut:
    """Approve a draft (审核): a supervisor or admin of its jurisdiction.

    409 unless it is a draft, 412 if it changed since the ETag.
    """
    _version(store, name, version, caller)  # 404 for a jurisdiction the caller does not cover
    info = store.approve(name, version, by=caller.name, expect=_tags(if_match), caller=caller)
    return _answer(response, info)


@router.post("/plans/{name}/versions/{version}/activate", response_model=VersionOut)
def activate_version(
    name: PlanName,
    version: Version,
    request: Request,
    response: Response,
    caller: Reviewer,
    store: Store,
    if_match: Annotated[str | None, _IF_MATCH] = None,
    valid_from: Annotated[
        Instant | None,
        Query(
            description="when it comes into force (ISO 8601): default now; a past date for a "
            "redraw already in effect, a future one to announce it"
        ),
    ] = None,
) -> VersionOut:
    """Make an approved version its jurisdiction's plan (启用), retiring the one before.

    Other jurisdictions keep theirs. 409 unless it is approved, when it overlaps another
    jurisdiction's plan in force or reuses one of its grid codes, or when `valid_from` lies
    before the start of the version it replaces; 412 if it changed since the ETag.
    `/locate` answers from it at once in this worker, and within
    `GEOGRID_PLAN_CHECK_SECONDS` in every other.
    """
    _version(store, name, version, caller)
    info = store.activate(
        name,
        version,
        by=caller.name,
        expect=_tags(if_match),
        caller=caller,
        valid_from=valid_from,
    )
    request.app.state.plans.expire()
    return _answer(response, info)


@router.get(
    "/plans/{name}/versions/{version}/export",
    response_class=Response,
    responses=_EXPORTED,
)
def export_version(
    name: PlanName,
    version: Version,
    caller: Reader,
    store: Store,
    format: Annotated[ExportFormat, Query(description="geojson or gpkg")] = ExportFormat.GEOJSON,
    at: Annotated[
        Instant | None, Query(description="with the staff in force at this instant")
    ] = None,
) -> Response:
    """The version as a file: RFC 7946 GeoJSON or a GeoPackage, as `geogrid export` writes them.

    The GeoJSON holds grids (with their staff), units and the plan metadata; outer rings are
    counter-clockwise, holes clockwise. Uploaded again (`POST /plans`) it is the same plan.
    """
    _version(store, name, version, caller)
    return _export(store.get(name, version, at=at), format)


@router.get(
    "/plans/active/export",
    response_class=Response,
    responses=_EXPORTED,
)
def export_active(
    caller: Reader,
    store: Store,
    format: Annotated[ExportFormat, Query(description="geojson or gpkg")] = ExportFormat.GEOJSON,
    at: Annotated[
        Instant | None,
        Query(description="the plans (and staff) in force at this instant; default now"),
    ] = None,
) -> Response:
    """The plans in force (now or `at`) of the jurisdictions the caller covers, as one file.

    404 when none is.
    """
    infos = _covered(store, caller, store.in_force(at))
    if not infos:
        raise NoActivePlanError("no plan is active: activate one first (POST …/activate)")
    plans = [store.get(info.plan, info.version, at=at) for info in infos]
    return _export(union_plan(plans), format)


# --------------------------------------------------------------------------- staff


@router.get("/grids/{code}/staff", response_model=GridStaffOut, tags=["staff"])
def get_staff(
    code: GridCode,
    response: Response,
    caller: StaffPlanner,
    store: Store,
    at: Annotated[
        Instant | None,
        Query(description="the staff in force at this instant (UTC; default now)"),
    ] = None,
) -> GridStaffOut:
    """The staff of grid `code` in force now (or `at`), with the period they hold and the `ETag`.

    They are those of the plan version in force then holding the grid (any jurisdiction);
    send the `ETag` as `If-Match` to change them.
    """
    current = store.staff().current(code, at=at, caller=caller)
    response.headers["ETag"] = f'"{current.etag}"'
    return GridStaffOut.of(current)


@router.put(
    "/grids/{code}/staff",
    response_model=GridStaffOut,
    tags=["staff"],
    openapi_extra=_IF_MATCH_REQUIRED,
)
def put_staff(
    code: GridCode,
    body: StaffIn,
    request: Request,
    response: Response,
    caller: StaffPlanner,
    store: Store,
    if_match: Annotated[str | None, Header(alias="If-Match", include_in_schema=False)] = None,
) -> GridStaffOut:
    """Replace the staff of grid `code` from `effective` on (default now), without a new version.

    `effective` may lie in the past (inside the period of the version in force now, not
    before the grid's latest change; else 409 saying which dates work) or the future
    (scheduled). `If-Match` is required (428 without it): the `ETag` of
    `GET /grids/{code}/staff?at=EFFECTIVE`; when the staff changed since, 412 and nothing
    changes. `/locate` shows a change in force now at once.
    """
    if if_match is None:
        raise PreconditionRequiredError(
            "send If-Match with the ETag of GET /grids/{code}/staff, so that a change "
            "made by someone else since is not overwritten"
        )
    staff = [member.model_dump() for member in body.staff]
    current = store.staff().replace(
        code, staff, caller=caller, expect=_tags(if_match), effective=body.effective
    )
    request.app.state.plans.expire()
    response.headers["ETag"] = f'"{current.etag}"'
    return GridStaffOut.of(current)


@router.get("/grids/{code}/staff/history", response_model=list[StaffChangeOut], tags=["staff"])
def staff_history(code: GridCode, caller: StaffPlanner, store: Store) -> list[StaffChangeOut]:
    """Every change of grid `code`'s staff (any version), newest first.

    Each with the lists before and after, who made it, when, and when it took effect.
    """
    return [StaffChangeOut.of(change) for change in store.staff().history(code, caller=caller)]


# --------------------------------------------------------------------------- helpers


def _version(store: PlanStore, name: str, version: int, caller: Caller) -> VersionInfo:
    for info in _covered(store, caller, store.versions(name)):
        if info.version == version:
            return info
    _missing(store, caller, name, version)


def _covered(store: PlanStore, caller: Caller, infos: list[VersionInfo]) -> list[VersionInfo]:
    """The versions of the jurisdictions ``caller`` covers."""
    if caller.grid_code is None:
        return infos
    covered = {j: store.covers(caller, j) for j in {info.jurisdiction for info in infos}}
    return [info for info in infos if covered[info.jurisdiction]]


def _missing(store: PlanStore, caller: Caller, name: str, version: int | None = None) -> NoReturn:
    """404 for a plan or version: unknown, or of a jurisdiction the caller does not cover."""
    if caller.grid_code is not None:  # whether it exists elsewhere is none of its business
        raise NotFoundError(
            f"no plan {name!r} (version {version}) in the jurisdictions your key covers"
            if version is not None
            else f"no plan {name!r} in the jurisdictions your key covers"
        )
    store.get(name, version)  # raises NotFoundError listing the stored plans
    raise AssertionError("unreachable")


def _answer(response: Response, info: VersionInfo) -> VersionOut:
    response.headers["ETag"] = f'"{info.etag}"'
    return VersionOut.of(info)


def _location(info: VersionInfo) -> str:
    return f"/plans/{quote(info.plan, safe='')}/versions/{info.version}"


def _tags(if_match: str | None) -> list[str] | None:
    """The entity tags of an ``If-Match`` header; ``None`` for no header or ``*``."""
    if if_match is None or if_match.strip() == "*":
        return None
    return [tag.strip().strip('"') for tag in if_match.split(",") if tag.strip()]


def _upload(body: bytes, content_type: str) -> tuple[str | None, bytes]:
    """File name and bytes of an upload: the body itself, or a form's ``file`` field."""
    if not content_type.lower().startswith("multipart/form-data"):
        return None, body
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    for part in message.iter_parts() if message.is_multipart() else []:
        if part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            return part.get_filename(), payload if isinstance(payload, bytes) else b""
    raise PlanFileError(
        "no `file` field in the form: send the plan as `curl -F file=@plan.gpkg`, or as the "
        "request body itself"
    )


def _read_upload(
    data: bytes,
    filename: str | None,
    name: str | None,
    crs: str | None,
    force_crs: bool,
    max_bytes: int,
) -> GridPlan:
    """Read uploaded bytes as a plan; CRS and coordinate errors become problems (422).

    The format is told from the bytes (:func:`geogrid.io.sniff_suffix`), never from the
    name; a zip (a zipped Shapefile, a KMZ) is unpacked with its uncompressed size capped by
    ``max_bytes`` (``GEOGRID_MAX_UPLOAD_BYTES``) and unsafe member names refused.
    """
    suffix = io.sniff_suffix(data)
    if suffix is None:
        raise PlanFileError(
            "not a plan file: upload a GeoPackage (.gpkg), GeoJSON, GeoParquet, a zipped "
            "Shapefile (.zip with .shp, .shx, .dbf, .prj), a KML/KMZ or a DXF drawing "
            "(`geogrid export PLAN plan.gpkg` writes one)"
        )
    stem = re.sub(r"[^\w.-]", "_", Path(filename).stem)[:100] if filename else ""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{stem or 'plan'}{suffix}"
        path.write_bytes(data)
        try:
            return io.read_plan(path, name=name, crs=crs, force_crs=force_crs, max_bytes=max_bytes)
        except (CRSError, CoordinateError) as exc:
            problem = Problem.from_error(exc)
            raise InvalidPlanError(f"the plan cannot be used: {exc}", [problem.line()]) from exc


def _export(plan: GridPlan, format: ExportFormat) -> Response:
    stem = f"{plan.name}-v{plan.version}"
    if format is ExportFormat.GEOJSON:
        content = io.plan_to_geojson_bytes(plan)
        media = io.GEOJSON_MEDIA_TYPE
    else:
        with tempfile.TemporaryDirectory() as folder:
            content = io.write_plan(plan, Path(folder) / "plan.gpkg").read_bytes()
        media = "application/geopackage+sqlite3"
    disposition = (
        f'attachment; filename="plan.{format.value}"; '
        f"filename*=UTF-8''{quote(stem)}.{format.value}"
    )
    return Response(content, media_type=media, headers={"Content-Disposition": disposition})
