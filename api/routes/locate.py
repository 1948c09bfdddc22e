"""``/locate``: which grid, at every level, covers a point, and who is responsible.

The boundary rule (a point on a shared edge or vertex belongs to the grid with the smallest
code among those covering it) and the outside answer are :mod:`geogrid.locate`'s.
"""

from __future__ import annotations

import datetime as dt
import json
import weakref
from collections.abc import Callable
from typing import Annotated, Any

import numpy as np
import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.auth import locate_caller
from api.plans import LoadedPlan, PlanSource
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
from geogrid.locate import locate_points

__all__ = ["router"]

router = APIRouter(tags=["locate"], dependencies=[Depends(locate_caller)])

_AT = Query(
    description="answer from the plan version active at this instant (ISO 8601; no offset: UTC)"
)


async def _loaded(request: Request, at: dt.datetime | None) -> LoadedPlan:
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
    # the answer as plain dicts with cached grids (the shape of LocateOut): models cost more
    # than the lookup itself on this hot path
    grids = _grid_dicts(loaded)
    levels = []
    for level in result.levels:
        code = result.level_codes(level)[0]
        levels.append(
            {
                "level": int(level),
                "level_name": _level_name(loaded, level),
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
        "plan": {"name": loaded.name, "version": loaded.version},
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
    outside = (result.status_code == 1).tolist()
    status = result.status.tolist()
    nearest = result.nearest_codes().tolist()
    distance = np.round(result.distance_m, 2).tolist()
    results = [
        {
            "id": point.id,
            "status": state,
            "codes": row,
            "grid_code": row[-1],
            "nearest_code": near,
            "distance_m": far if out else None,
        }
        for point, state, row, out, near, far in zip(
            body.points, status, codes, outside, nearest, distance, strict=True
        )
    ]
    mentioned = {c for row in codes for c in row if c is not None}
    mentioned |= {c for c in nearest if c is not None}
    grids = _grid_dicts(loaded)
    return _json(
        {
            "plan": {"name": loaded.name, "version": loaded.version},
            "levels": loaded.levels,
            "results": results,
            "grids": {code: grids(code) for code in sorted(mentioned)},
        }
    )


def _level_name(loaded: LoadedPlan, level: int) -> str:
    return loaded.levels[level - 1] if 1 <= level <= len(loaded.levels) else str(level)


_GridDicts = Callable[[str], dict[str, Any]]
_grid_cache: dict[int, tuple[weakref.ref[LoadedPlan], _GridDicts]] = {}


def _grid_dicts(loaded: LoadedPlan) -> _GridDicts:
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
    grids: dict[str, dict[str, Any]], staff: dict[str, list[dict[str, Any]]], code: str
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
