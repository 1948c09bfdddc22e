"""``/locate``: which grid, at every level, covers a point, and who is responsible.

The boundary rule (a point on a shared edge or vertex belongs to the grid with the smallest
code among those covering it) and the outside answer are :mod:`geogrid.locate`'s.
"""

from __future__ import annotations

import datetime as dt
import json
import weakref
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import numpy as np
import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.auth import locate_caller
from api.plans import LoadedCounty, LoadedPlan, PlanSource
from api.schemas import (
    LAT_RANGE,
    LON_RANGE,
    BatchLocateIn,
    BatchLocateOut,
    Crs,
    GridOut,
    Instant,
    LocateOut,
    StaffOut,
)
from geogrid.crs import check_lonlat
from geogrid.errors import PayloadTooLargeError
from geogrid.locate import LocateResult, locate_points

__all__ = ["router"]

router = APIRouter(tags=["locate"], dependencies=[Depends(locate_caller)])

_AT = Query(
    description="answer from the plan version active at this instant (ISO 8601; no offset: UTC)"
)


async def _loaded(request: Request, at: dt.datetime | None) -> LoadedCounty:
    """The answering plan: from memory, or from the store in a worker thread."""
    source: PlanSource = request.app.state.plans
    loaded = source.cached(at)
    if loaded is None:
        loaded = await run_in_threadpool(source.get, at)
    return loaded


@router.get("/locate", response_model=LocateOut, response_model_exclude_none=False)
async def locate_one(
    request: Request,
    lon: Annotated[
        float,
        Query(description="longitude in `crs`", examples=[116.3326], json_schema_extra=LON_RANGE),
    ],
    lat: Annotated[
        float,
        Query(description="latitude in `crs`", examples=[40.0047], json_schema_extra=LAT_RANGE),
    ],
    crs: Annotated[Crs, Query(description="coordinate system of lon/lat")] = Crs.WGS84,
    at: Annotated[Instant | None, _AT] = None,
) -> Response:
    """Every level's grid covering the point, with staff; or an explicit outside answer.

    422 for swapped latitude/longitude, out-of-range or non-finite coordinates.
    """
    check_lonlat(lon, lat)
    loaded = await _loaded(request, at)
    result = locate_points(loaded.index, [lon], [lat], crs.value)
    part = loaded.part_of(_part(result, 0))  # the jurisdiction's plan answering the point
    # the answer as plain dicts with cached grids (the shape of LocateOut): models cost more
    # than the lookup itself on this hot path
    grids = _grid_dicts(loaded)
    levels = []
    for level in result.levels[: len(part.levels)]:
        code = result.level_codes(level)[0]
        levels.append(
            {
                "level": int(level),
                "level_name": _level_name(part.levels, level),
                "grid": None if code is None else grids(str(code)),
            }
        )
    status = str(result.status[0])
    nearest = None
    if status == "outside":
        code = result.nearest_codes()[0]
        nearest = {
            "grid": grids(str(code)),
            "distance_m": round(float(result.distance_m[0]), 2),
        }
    grid_code = result.grid_codes()[0]
    answer = {
        "status": status,
        "plan": _plan_ref(part),
        "lon": float(result.lon[0]),
        "lat": float(result.lat[0]),
        "grid_code": None if grid_code is None else str(grid_code),
        "levels": levels,
        "nearest": nearest,
    }
    return _json(answer)


@router.post("/locate", response_model=BatchLocateOut)
def locate_batch(
    request: Request, body: BatchLocateIn, at: Annotated[Instant | None, _AT] = None
) -> Response:
    """Locate up to ``max_batch_points`` points; grids and staff are listed once.

    413 above the cap; 422 (naming the first bad point) for swapped, out-of-range or
    non-finite coordinates.
    """
    cap = request.app.state.settings.max_batch_points
    if len(body.points) > cap:
        raise PayloadTooLargeError(
            f"{len(body.points)} points in one request; send at most {cap} per request"
        )
    x = np.array([p.lon for p in body.points], dtype=float)
    y = np.array([p.lat for p in body.points], dtype=float)
    check_lonlat(x, y)
    loaded = request.app.state.plans.get(at)  # a sync handler runs in a worker thread
    result = locate_points(loaded.index, x, y, body.crs.value)
    # plain dicts (the shape of BatchLocateOut): building 10,000 models would triple the time
    per_level = [result.level_codes(level).tolist() for level in result.levels]
    codes = [list(row) for row in zip(*per_level, strict=True)]
    grid_codes = result.grid_codes().tolist()
    numbers = np.zeros(len(result), dtype=np.int64) if result.part is None else result.part
    answering = [loaded.part_of(n).jurisdiction for n in np.maximum(numbers, 0).tolist()]
    outside = (result.status_code == 1).tolist()
    status = result.status.tolist()
    nearest = result.nearest_codes().tolist()
    distance = np.round(result.distance_m, 2).tolist()
    results = [
        {
            "id": point.id,
            "status": state,
            "codes": row,
            "grid_code": finest,
            "nearest_code": near,
            "distance_m": far if out else None,
            "jurisdiction": where,
        }
        for point, state, row, finest, out, near, far, where in zip(
            body.points, status, codes, grid_codes, outside, nearest, distance, answering,
            strict=True,
        )
    ]
    mentioned = {c for row in codes for c in row if c is not None}
    mentioned |= {c for c in nearest if c is not None}
    grids = _grid_dicts(loaded)
    used = sorted(set(answering))
    return _json(
        {
            "plan": _plan_ref(loaded.single) if loaded.single else _county_ref(loaded),
            "levels": loaded.levels,
            "plans": {j: _plan_ref(loaded.parts[j]) | {"levels": loaded.parts[j].levels} for j in used},
            "results": results,
            "grids": {code: grids(code) for code in sorted(mentioned)},
        }
    )


def _level_name(levels: list[str], level: int) -> str:
    return levels[level - 1] if 1 <= level <= len(levels) else str(level)


def _part(result: LocateResult, point: int) -> int:
    """The part of the county answering ``point`` (0 for an invalid point: never answered)."""
    return 0 if result.part is None else max(int(result.part[point]), 0)


def _plan_ref(plan: LoadedPlan) -> dict[str, Any]:
    return {"name": plan.name, "version": plan.version, "jurisdiction": plan.jurisdiction}


def _county_ref(county: LoadedCounty) -> dict[str, Any]:
    return {"name": county.name, "version": None, "jurisdiction": None}


_GridDicts = Callable[[str], dict[str, Any]]
_grid_cache: dict[int, tuple[weakref.ref[LoadedCounty], _GridDicts]] = {}


def _grid_dicts(loaded: LoadedCounty) -> _GridDicts:
    """``code -> GridOut.model_dump()`` of ``loaded``'s grids, each made once per plan.

    A staff change or a new version comes as another :class:`LoadedPlan`, so never stale.
    """
    entry = _grid_cache.get(id(loaded))
    if entry is not None and entry[0]() is loaded:
        return entry[1]
    facts, staff = loaded.grids, loaded.staff  # not ``loaded``: the cache must not keep it
    made: dict[str, dict[str, Any]] = {}

    def grid(code: str) -> dict[str, Any]:
        found = made.get(code)
        if found is None:
            found = made[code] = _grid_out(facts, staff, code).model_dump()
        return found

    if len(_grid_cache) >= 8:  # versions answering ?at= come and go: forget the oldest
        _grid_cache.pop(next(iter(_grid_cache)))
    _grid_cache[id(loaded)] = (weakref.ref(loaded), grid)
    return grid


def _grid_out(
    grids: Mapping[str, dict[str, Any]], staff: Mapping[str, list[dict[str, Any]]], code: str
) -> GridOut:
    facts = grids[code]
    return GridOut(
        code=facts["code"],
        name=facts["name"],
        level=facts["level"],
        kind=facts["kind"],
        staff=[StaffOut(**person) for person in staff.get(code, [])],
    )


def _json(content: Any) -> Response:
    """``content`` as JSON bytes (orjson: 5-10x the standard library on large answers)."""
    try:
        body = orjson.dumps(content)
    except orjson.JSONEncodeError:  # e.g. an integer point id beyond 64 bits
        body = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, media_type="application/json")
