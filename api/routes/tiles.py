"""``/tiles``: the grids in force as Mapbox Vector Tiles, one tile set per level, with TileJSON.

A PostGIS store makes each tile in one ``ST_AsMVT`` query (:mod:`geogrid.store.tiles`); a
GeoPackage store or a fixed plan has them cut in Python from the plans in memory
(:class:`geogrid.tiles.LevelTiles`). Tiles at zoom ≤ 10 come from each level generalised per
zoom band (:func:`geogrid.tiles.generalise`), kept by either store since activation (made in
memory for a fixed plan). Either way a tile's ETag is a digest of the versions in
force (every jurisdiction's plan and version), the level and ``z/x/y``: activating a version
changes it, and ``If-None-Match`` with the current one is 304. Encoded tiles are kept per app
in a small LRU keyed by that ETag. A tile no grid reaches is 204 (no body).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import threading
import urllib.parse
from collections import OrderedDict
from typing import Annotated, Any

import shapely
from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import WithJsonSchema

from api.auth import locate_caller
from api.plans import LoadedCounty, PlanSource
from api.schemas import Instant
from geogrid.errors import NoActivePlanError, NotFoundError
from geogrid.store.tiles import PostgisTiles, read_generalised
from geogrid.tiles import FIELDS, LAYER, MAX_ZOOM, LevelTiles, check_tile

__all__ = ["MVT", "router"]

router = APIRouter(prefix="/tiles", tags=["vector tiles"], dependencies=[Depends(locate_caller)])

MVT = "application/vnd.mapbox-vector-tile"
_CACHE_CONTROL = "public, max-age=60"  # then revalidated: an activation shows within a minute
_CACHE_BYTES = 64 * 1024 * 1024  # encoded tiles kept per app
_CACHED_LEVELS = 8  # levels of sets of versions kept ready to cut (Python tiles)
_FORMAT = "2"  # bump when a tile's content changes for the same versions (2: zoom bands)

_Level = Annotated[int, Path(ge=1, le=6, description="grid level, 1 = the top")]
# z, x and y are read as text and documented as integers: an address that names no tile
# (not a number, out of range) is 404, as any other missing resource
_Zoom = Annotated[
    str,
    Path(description=f"zoom, 0 to {MAX_ZOOM}"),
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_ZOOM}),
]
_Column = Annotated[
    str,
    Path(description="tile column (x) or row (y) from the north-west, below 2**z"),
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": (1 << MAX_ZOOM) - 1}),
]
_Versions = tuple[tuple[str, str, int | None], ...]  # (jurisdiction, plan, version)
_AT = Query(description="the grids in force at this instant (ISO 8601; no offset: UTC)")


@dataclasses.dataclass(frozen=True)
class _InForce:
    """The versions a request is answered from, and what is needed to cut its tiles."""

    versions: _Versions
    levels: list[str]
    digest: str  # of the versions (and of a fixed plan's grids)
    county: LoadedCounty | None  # None: PostGIS makes the tiles


class _Tiles:
    """One app's tile caches: encoded tiles by ETag, ready levels, version ids."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.encoded: OrderedDict[str, bytes] = OrderedDict()
        self.size = 0
        self.levels: OrderedDict[tuple[str, int], LevelTiles] = OrderedDict()
        self.ids: dict[str, tuple[list[int], list[int]]] = {}  # all, generalised
        self.fixed: dict[int, str] = {}  # id(fixed plan's grids) → digest of its content

    def get(self, etag: str) -> bytes | None:
        with self.lock:
            data = self.encoded.get(etag)
            if data is not None:
                self.encoded.move_to_end(etag)
            return data

    def put(self, etag: str, data: bytes) -> None:
        with self.lock:
            if etag in self.encoded:
                return
            self.encoded[etag] = data
            self.size += len(data)
            while self.size > _CACHE_BYTES and self.encoded:
                self.size -= len(self.encoded.popitem(last=False)[1])


_APPS_LOCK = threading.Lock()


def _tiles_of(app: FastAPI) -> _Tiles:
    with _APPS_LOCK:
        tiles = getattr(app.state, "tiles", None)
        if tiles is None:
            tiles = app.state.tiles = _Tiles()
        return tiles


def _in_force(request: Request, at: dt.datetime | None) -> _InForce:
    source: PlanSource = request.app.state.plans
    store = source.store
    if store is not None and store.backend == "postgis" and at is not None:
        infos = store.in_force(at)  # one small query: no plan read, no index built
        if not infos:
            raise NoActivePlanError(
                f"no plan version was in force at {at.isoformat()}; leave out `at` for the "
                "plans in force now"
            )
        versions: _Versions = tuple(sorted((i.jurisdiction, i.plan, i.version) for i in infos))
        levels = max((i.levels for i in infos), key=len)
        return _InForce(versions, levels, _digest(versions, ""), None)
    county = source.get(at)
    versions = tuple(sorted((p.jurisdiction, p.name, p.version) for p in county.plans))
    extra = _fixed_digest(request, county) if store is None else ""
    maker = None if store is not None and store.backend == "postgis" else county
    return _InForce(versions, county.levels, _digest(versions, extra), maker)


def _digest(*parts: object) -> str:
    return hashlib.sha256(repr((_FORMAT, *parts)).encode()).hexdigest()[:32]


def _fixed_digest(request: Request, county: LoadedCounty) -> str:
    """A digest of a fixed plan's grids (it has no version number to tell it apart)."""
    tiles = _tiles_of(request.app)
    grids = county.plans[0].plan.grids
    with tiles.lock:
        known = tiles.fixed.get(id(grids))
    if known is None:
        digest = hashlib.sha256()
        for column in ("code", "name", "level", "parent_code", "households", "kind"):
            digest.update(repr(grids[column].tolist()).encode())
        for wkb in shapely.to_wkb(grids.geometry.array):
            digest.update(wkb)
        known = digest.hexdigest()[:32]
        with tiles.lock:
            tiles.fixed[id(grids)] = known
    return known


def _check_level(force: _InForce, level: int) -> None:
    if level > len(force.levels):
        names = ", ".join(f"{n} {name}" for n, name in enumerate(force.levels, 1))
        raise NotFoundError(f"no grids at level {level}: the plans in force have levels {names}")


def _level_tiles(request: Request, force: _InForce, level: int) -> LevelTiles:
    tiles = _tiles_of(request.app)
    key = (force.digest, level)
    with tiles.lock:
        ready = tiles.levels.get(key)
        if ready is not None:
            tiles.levels.move_to_end(key)
            return ready
    assert force.county is not None
    store = request.app.state.plans.store
    stored = None
    if store is not None:  # the GeoPackage store keeps the generalised copies too
        pairs = [(n, int(v)) for _, n, v in force.versions if v is not None]
        stored = functools.partial(read_generalised, store, pairs, level)
    parts = [(p.plan, p.jurisdiction) for p in force.county.plans]
    ready = LevelTiles.of(parts, level, stored)
    with tiles.lock:
        tiles.levels[key] = ready
        while len(tiles.levels) > _CACHED_LEVELS:
            tiles.levels.popitem(last=False)
    return ready


def _postgis(request: Request, force: _InForce) -> tuple[PostgisTiles, list[int], list[int]]:
    """The tile maker, the ids of the versions in force and those with generalised levels."""
    source: PlanSource = request.app.state.plans
    assert source.store is not None
    tiles = _tiles_of(request.app)
    with tiles.lock:
        known = tiles.ids.get(force.digest)
    maker = PostgisTiles(source.store)
    if known is None:
        pairs = [(plan, int(version)) for _, plan, version in force.versions if version is not None]
        ids = maker.version_ids(pairs)
        known = ids, maker.generalised_ids(ids)
        with tiles.lock:
            if len(tiles.ids) > 64:
                tiles.ids.clear()
            tiles.ids[force.digest] = known
    return maker, *known


def _address(z: str, x: str, y: str) -> tuple[int, int, int]:
    """Tile ``z/x/y`` as numbers; 404 unless it is a tile."""
    if not all(v.isascii() and v.isdigit() and len(v) <= 8 for v in (z, x, y)):
        raise NotFoundError(
            f"no tile {z}/{x}/{y}: z is a whole number from 0 to {MAX_ZOOM}, x and y whole "
            "numbers below 2**z"
        )
    address = int(z), int(x), int(y)
    check_tile(*address)
    return address


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return etag in tags or "*" in tags


_TILE_DOC: dict[int | str, dict[str, Any]] = {
    200: {"content": {MVT: {}}, "description": f"the tile: one layer, `{LAYER}`"},
    204: {"description": "no grid reaches this tile"},
    304: {"description": "the tile has not changed (If-None-Match holds its ETag)"},
}


@router.get(
    "/{level}/{z}/{x}/{y}.mvt",
    response_class=Response,
    responses=_TILE_DOC,
    summary="Vector tile (MVT) of a level's grids",
)
def tile(
    request: Request,
    level: _Level,
    z: _Zoom,
    x: _Column,
    y: _Column,
    at: Annotated[Instant | None, _AT] = None,
    if_none_match: Annotated[str | None, Header(max_length=2000)] = None,
) -> Response:
    """Tile ``z/x/y`` (XYZ scheme, Web Mercator) of the grids in force at ``level``.

    Features carry code, name, level, parent_code, households, kind, jurisdiction, plan and
    version. 404 for an address that is no tile (``x``/``y`` beyond ``2**z - 1``, ``z`` beyond
    22, not a number) or a level the plans lack; 204 when no
    grid reaches the tile; 304 when ``If-None-Match`` holds the current ETag.
    """
    address = _address(z, x, y)
    force = _in_force(request, at)
    _check_level(force, level)
    etag = f'"{_digest(force.digest, level, *address)}"'
    headers = {"ETag": etag, "Cache-Control": _CACHE_CONTROL}
    if _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    tiles = _tiles_of(request.app)
    data = tiles.get(etag)
    if data is None:
        if force.county is None:
            maker, ids, generalised = _postgis(request, force)
            data = maker.tile(ids, level, *address, generalised=generalised)
        else:
            data = _level_tiles(request, force, level).encode(*address)
        tiles.put(etag, data)
    if not data:
        return Response(status_code=204, headers=headers)
    return Response(data, media_type=MVT, headers=headers)


@router.get("/{level}.json", summary="TileJSON of a level's vector tiles")
def tilejson(
    request: Request, level: _Level, at: Annotated[Instant | None, _AT] = None
) -> JSONResponse:
    """TileJSON 3.0.0 of level ``level``: the tile URL, zooms, bounds and the layer's fields.

    With ``geogrid:grids`` (the level's grids), ``geogrid:tiles_above_grids``
    (``GEOGRID_TILES_ABOVE_GRIDS``) and ``geogrid:use_tiles``: whether a map should draw
    this level from the tiles rather than from one GeoJSON of ``/ogc``.

    404 for a level the plans in force lack.
    """
    force = _in_force(request, at)
    _check_level(force, level)
    if force.county is None:
        maker, ids, _ = _postgis(request, force)
        bounds, count = maker.extent(ids, level)
    else:
        ready = _level_tiles(request, force, level)
        bounds, count = ready.bounds, len(ready)
    above: int = request.app.state.settings.tiles_above_grids
    west, south, east, north = bounds if bounds is not None else (-180.0, -85.0, 180.0, 85.0)
    query = "" if at is None else "?" + urllib.parse.urlencode({"at": at.isoformat()})
    root = str(request.base_url).rstrip("/")
    plans = sorted({plan for _, plan, _ in force.versions})
    return JSONResponse(
        {
            "tilejson": "3.0.0",
            "name": f"{force.levels[level - 1]} (level {level})",
            "description": f"grids at level {level} of {', '.join(plans)}",
            "version": "1.0.0",
            "scheme": "xyz",
            "tiles": [f"{root}/tiles/{level}/{{z}}/{{x}}/{{y}}.mvt{query}"],
            "minzoom": 0,
            "maxzoom": MAX_ZOOM,
            "bounds": [west, south, east, north],
            "center": [(west + east) / 2, (south + north) / 2, 12],
            "vector_layers": [
                {
                    "id": LAYER,
                    "description": f"grids at level {level}",
                    "minzoom": 0,
                    "maxzoom": MAX_ZOOM,
                    "fields": FIELDS,
                }
            ],
            # how many grids the level holds, and GEOGRID_TILES_ABOVE_GRIDS: a map of more
            # grids than that should draw these tiles rather than fetch one GeoJSON
            "geogrid:grids": count,
            "geogrid:tiles_above_grids": above,
            "geogrid:use_tiles": count > above,
        }
    )
