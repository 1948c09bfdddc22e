"""``/jobs``: long work on the server — start a partition, watch its progress, cancel it.

A job runs in its own process on the server (:mod:`geogrid.jobs`), so it goes on when the
browser that started it closes; its state, progress and result are read from the store by
any server process. Planners and admins (``MANAGE_PLANS``) start jobs for the areas and
plans of the jurisdictions their key covers; each sees its own jobs (an admin also those of
its jurisdictions; one bound to no code, all), and another caller's job is 404.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import tempfile
import threading
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from api.auth import store_of
from api.routes.drafts import workbench_of
from api.routes.plans import Planner
from api.schemas_jobs import JobOut, PartitionFilesIn, PartitionPlanIn
from geogrid.access import Caller, Role
from geogrid.errors import AccessDeniedError, InvalidInputError, NotFoundError
from geogrid.io.bundle import plan_from_bytes
from geogrid.jobs import Job, JobRunner, JobState, pack_files
from geogrid.jobs.partition import FILES, KIND, read_inputs
from geogrid.jobs.work import unpack_files
from geogrid.store import PlanStore
from geogrid.workbench.service import Workbench

__all__ = ["router"]

router = APIRouter(tags=["jobs"])

# the path's `uuid` convertor keeps `/jobs/partition` from matching `/jobs/{job_id}`
JobId = Annotated[
    uuid.UUID,
    PathParam(description="the job's id (a UUID), from `Location` of POST /jobs/partition"),
]
Store = Annotated[PlanStore, Depends(store_of)]


def _runner(request: Request) -> JobRunner:
    """The service's job runner; 404 when it answers from a fixed plan without a store."""
    runner: JobRunner | None = getattr(request.app.state, "jobs", None)
    if runner is None:
        raise NotFoundError(
            "this service answers from a fixed plan and has no store: jobs need one (start "
            "it with `geogrid serve`, without a fixed plan)"
        )
    return runner


Runner = Annotated[JobRunner, Depends(_runner)]


def _form_schema() -> dict[str, Any]:
    """The multipart form of a partition of files: the files and the fields, not null."""
    fields = PartitionFilesIn.model_json_schema()["properties"]
    for name, field in fields.items():
        options = [o for o in field.pop("anyOf", []) if o.get("type") != "null"]
        if options:
            field.update(options[0])
        field.pop("default", None)
        fields[name] = field
    files = {
        "area": "parent areas (社区/村) with code and name",
        "households": "buildings with a households column, or household points",
        "barriers": "roads and rivers to cut along (optional)",
    }
    properties = {
        name: {"type": "string", "format": "binary", "description": what}
        for name, what in files.items()
    }
    return {
        "type": "object",
        "properties": properties | fields,
        "required": ["area", "households", "band"],
    }


_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": _form_schema()},
            "application/json": {"schema": PartitionPlanIn.model_json_schema()},
        },
    }
}


@router.post(
    "/jobs/partition",
    status_code=202,
    response_model=JobOut,
    openapi_extra=_BODY,
    responses={
        202: {"headers": {"Location": {"description": "/jobs/{id}", "schema": {"type": "string"}}}},
        422: {"description": "a bad band, unreadable files, or a body of neither form"},
    },
)
async def start_partition(
    request: Request, response: Response, caller: Planner, store: Store, runner: Runner
) -> JobOut:
    """Start a partition (网格划分) job; poll `Location` for its progress and result.

    Either a `multipart/form-data` form with the files `area` (parent areas with `code` and
    `name`), `households` (buildings with a `households` column, or household points) and
    optionally `barriers` (roads, rivers) — GeoPackage, GeoJSON, GeoParquet or a zipped
    Shapefile — and the fields `band` (`300-500`), `then_band`, `seed`, `name`, `crs`; or
    JSON `{"plan", "version"?, "grids", "band", "then_band"?}`: those grids' area
    partitioned again over the plan's units. Unreadable files, a bad band or grids of a plan
    the key does not cover are refused at once (422 / 404) and nothing is stored; what only
    the work finds out (e.g. an area without a `name`) fails the job with the reason.
    """
    body = await request.body()
    content_type = request.headers.get("content-type", "")  # the boundary is case-sensitive
    kind = content_type.lower()
    if kind.startswith("multipart/form-data"):
        fields, files = _form(body, content_type)
        params = _validated(PartitionFilesIn, fields)
        job = await run_in_threadpool(_queue_files, runner, store, caller, params, files)
    elif kind.startswith("application/json"):
        params = _validated(PartitionPlanIn, json.loads(body) if body else None)
        job = await run_in_threadpool(_queue_plan, runner, store, caller, params)
    else:
        raise InvalidInputError(
            "send the files as multipart/form-data (`curl -F area=@area.geojson -F "
            "households=@buildings.gpkg -F band=300-500`), or JSON naming a stored plan "
            '({"plan", "grids", "band"})'
        )
    response.headers["Location"] = f"/jobs/{job.id}"
    return JobOut.of(job)


@router.get("/jobs", response_model=list[JobOut])
def list_jobs(caller: Planner, store: Store, runner: Runner) -> list[JobOut]:
    """The caller's jobs, newest first (an admin's: also those of its jurisdictions)."""
    if caller.role is Role.ADMIN:
        jobs = [j for j in runner.store.list_jobs() if _visible(store, caller, j)]
    else:
        jobs = runner.store.list_jobs(owner=caller.identity)
    return [JobOut.of(job) for job in jobs]


@router.get("/jobs/{job_id:uuid}", response_model=JobOut)
def get_job(
    job_id: JobId, caller: Planner, store: Store, runner: Runner, request: Request
) -> JobOut:
    """A job: its state, progress (`done` of `total`, `message`) and, when done, its result.

    A partition of uploaded files that succeeded opens as a workbench draft of its owner's the
    first time its owner reads it: the result's `draft` is the draft's id (`GET /drafts/{id}`).
    """
    job = _job(store, runner, caller, str(job_id))
    if _wants_draft(job, caller):
        job = _with_draft(workbench_of(request), runner, caller, job)
    return JobOut.of(job)


_DRAFTING = threading.Lock()


def _wants_draft(job: Job, caller: Caller) -> bool:
    result = job.result or {}
    return (
        job.state is JobState.SUCCEEDED
        and job.owner == caller.identity
        and bool(result.get("plan_blob"))
        and "draft" not in result
        and "replaces" not in result  # a stored plan's grids: re-partition them in its draft
    )


def _with_draft(bench: Workbench, runner: JobRunner, caller: Caller, job: Job) -> Job:
    """Open the job's result plan as a draft (once, whichever request comes first)."""
    with _DRAFTING:
        job = runner.store.get(job.id)
        if not _wants_draft(job, caller):
            return job
        blob = runner.store.result_plan(job.id)
        if blob is None:
            return job
        bands = job.params.get("band"), job.params.get("then_band")
        record = bench.create(caller, plan_from_bytes(blob), band=bands[0], then_band=bands[1])
        runner.store.annotate(job.id, "draft", record.id)
        return runner.store.get(job.id)


@router.delete("/jobs/{job_id:uuid}", response_model=JobOut)
def cancel_job(job_id: JobId, caller: Planner, store: Store, runner: Runner) -> JobOut:
    """Cancel a queued or running job: its process is stopped; 409 when it is over already."""
    job = _job(store, runner, caller, str(job_id))
    return JobOut.of(runner.cancel(job.id))


# --------------------------------------------------------------------------- helpers


def _job(store: PlanStore, runner: JobRunner, caller: Caller, job_id: str) -> Job:
    """The job, when the caller may see it; 404 alike for none and another's."""
    try:
        job = runner.store.get(job_id)
    except NotFoundError:
        job = None
    if job is None or not _visible(store, caller, job):
        raise NotFoundError(f"no job {job_id} of yours: list yours with GET /jobs")
    return job


def _visible(store: PlanStore, caller: Caller, job: Job) -> bool:
    """Own jobs; an admin's also those of the jurisdictions it covers (all, bound to none)."""
    if job.owner == caller.identity:
        return True
    if caller.role is not Role.ADMIN:
        return False
    if caller.grid_code is None:
        return True
    return job.jurisdiction is not None and store.covers(caller, job.jurisdiction)


def _validated(model: type[BaseModel], data: Any) -> dict[str, Any]:
    """``data`` checked by ``model`` (422 as for any body), without the unset fields."""
    try:
        return model.model_validate(data).model_dump(exclude_none=True)
    except ValidationError as exc:
        errors = [
            {"type": e["type"], "loc": ("body", *e["loc"]), "msg": e["msg"], "input": e["input"]}
            for e in exc.errors(include_url=False)
        ]
        raise RequestValidationError(errors) from None


def _form(body: bytes, content_type: str) -> tuple[dict[str, str], dict[str, bytes]]:
    """The text fields and the files of a multipart form."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for part in message.iter_parts() if message.is_multipart() else []:
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if not isinstance(name, str):
            continue
        if name in FILES:
            files[name] = data
        else:
            try:
                fields[name] = data.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInputError(f"the form field {name!r} is not UTF-8 text") from None
    missing = [name for name in ("area", "households") if not files.get(name)]
    if missing:
        raise InvalidInputError(
            f"the form lacks the file(s) {', '.join(missing)}: send `-F area=@area.geojson "
            "-F households=@buildings.gpkg` (and optionally `-F barriers=@roads.gpkg`)"
        )
    return fields, files


def _queue_files(
    runner: JobRunner,
    store: PlanStore,
    caller: Caller,
    params: dict[str, Any],
    files: dict[str, bytes],
) -> Job:
    """Check that the files read (as the job will read them) and the caller covers the areas."""
    inputs = pack_files(files)
    with tempfile.TemporaryDirectory(prefix="geogrid-upload-") as folder:
        areas, _, _ = read_inputs(unpack_files(inputs, folder), params.get("crs"))
    codes = sorted({str(c) for c in areas["code"]}) if "code" in areas.columns else []
    if caller.grid_code is not None:
        outside = [c for c in codes if not store.covers(caller, c)]
        if not codes or outside:
            raise AccessDeniedError(
                f"{caller.name} is bound to {caller.grid_code!r}: it may partition only areas "
                f"of its jurisdiction, by their codes (not {', '.join(outside) or 'uncoded areas'})"
            )
    jurisdiction = codes[0] if len(codes) == 1 else caller.grid_code
    return runner.submit(KIND, params, caller=caller, inputs=inputs, jurisdiction=jurisdiction)


def _queue_plan(runner: JobRunner, store: PlanStore, caller: Caller, params: dict[str, Any]) -> Job:
    """Check the plan and version exist in the caller's jurisdictions; queue the job."""
    name, version = params["plan"], params.get("version")
    infos = [
        info
        for info in store.versions(name)
        if (version is None or info.version == version)
        and (caller.grid_code is None or store.covers(caller, info.jurisdiction))
    ]
    if not infos:
        which = f"plan {name!r}" + (f" version {version}" if version is not None else "")
        raise NotFoundError(f"no {which} in the jurisdictions your key covers")
    info = infos[-1]
    params = params | {"version": info.version}
    return runner.submit(KIND, params, caller=caller, jurisdiction=info.jurisdiction)
