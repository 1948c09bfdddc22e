"""``/locate``: which grid, at every level, covers a point, and who is responsible.

The boundary rule (a point on a shared edge or vertex belongs to the grid with the smallest
code among those covering it) and the outside answer are :mod:`geogrid.locate`'s.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.auth import locate_caller
from api.errors import PayloadTooLargeError
from api.plans import LoadedPlan, PlanSource
from api.schemas import (
    BatchLocateIn,
    BatchLocateOut,
    Crs,
    GridOut,
    LevelAnswer,
    LocateOut,
    NearestOut,
    PlanRef,
    StaffOut,
)
from geogrid.crs import check_lonlat
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
    lon: Annotated[float, Query(description="longitude in `crs`", examples=[116.3326])],
    lat: Annotated[float, Query(description="latitude in `crs`", examples=[40.0047])],
    crs: Annotated[Crs, Query(description="coordinate system of lon/lat")] = Crs.WGS84,
    at: Annotated[dt.datetime | None, _AT] = None,
) -> LocateOut:
    """Every level's grid covering the point, with staff; or an explicit outside answer.

    422 for swapped latitude/longitude, out-of-range or non-finite coordinates.
    """
    check_lonlat(lon, lat)
    loaded = await _loaded(request, at)
    result = locate_points(loaded.index, [lon], [lat], crs.value)
    plon, plat = result.lon, result.lat
    levels = [
        LevelAnswer(
            level=level,
            level_name=_level_name(loaded, level),
            grid=_grid(loaded, result.level_codes(level)[0]),
        )
        for level in result.levels
    ]
    nearest = None
    if result.status[0] == "outside":
        code = result.nearest_codes()[0]
        nearest = NearestOut(
            grid=_grid_out(loaded, code), distance_m=round(float(result.distance_m[0]), 2)
        )
    return LocateOut(
        status=result.status[0],
        plan=PlanRef(name=loaded.name, version=loaded.version),
        lon=float(plon[0]),
        lat=float(plat[0]),
        grid_code=result.grid_codes()[0],
        levels=levels,
        nearest=nearest,
    )


@router.post("/locate", response_model=BatchLocateOut)
def locate_batch(
    request: Request, body: BatchLocateIn, at: Annotated[dt.datetime | None, _AT] = None
) -> JSONResponse:
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
    outside = result.status_code == 1
    nearest = result.nearest_codes().tolist()
    distance = np.where(outside, np.round(result.distance_m, 2), np.nan).tolist()
    status = result.status.tolist()
    results = [
        {
            "id": point.id,
            "status": status[i],
            "codes": codes[i],
            "grid_code": codes[i][-1],
            "nearest_code": nearest[i],
            "distance_m": distance[i] if outside[i] else None,
        }
        for i, point in enumerate(body.points)
    ]
    mentioned = {c for row in codes for c in row if c is not None}
    mentioned |= {c for c in nearest if c is not None}
    return JSONResponse(
        {
            "plan": {"name": loaded.name, "version": loaded.version},
            "levels": loaded.levels,
            "results": results,
            "grids": {code: _grid_out(loaded, code).model_dump() for code in sorted(mentioned)},
        }
    )


def _level_name(loaded: LoadedPlan, level: int) -> str:
    return loaded.levels[level - 1] if 1 <= level <= len(loaded.levels) else str(level)


def _grid(loaded: LoadedPlan, code: Any) -> GridOut | None:
    return None if code is None else _grid_out(loaded, str(code))


def _grid_out(loaded: LoadedPlan, code: str) -> GridOut:
    facts = loaded.grids[code]
    return GridOut(
        code=facts["code"],
        name=facts["name"],
        level=facts["level"],
        kind=facts["kind"],
        staff=[StaffOut(**person) for person in loaded.staff.get(code, [])],
    )
