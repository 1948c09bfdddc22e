"""``/ogc``: the active plan's grids as OGC API – Features (Part 1 core, GeoJSON; Part 2 CRS).

One collection per level (``level1``, ``level2``, …), so QGIS and GDAL's OAPIF driver list
each level as a layer. Coordinates are CRS84 (lon/lat) by default; ``crs=`` the EPSG:4490
URI answers in EPSG:4490's own axis order, latitude first, with a ``Content-Crs`` header.
``datetime=`` (an instant) answers from the plans in force then.

Paging a county (100,000 grids) page by page must not sort, filter and round the whole level
on every request: each level's grids are made ready once per set of plan versions
(:class:`_Level`: sorted by code, coordinates rounded, properties as JSON values, an STRtree
for ``bbox``), so a page costs only its own features.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
import threading
import urllib.parse
import weakref
from collections import OrderedDict
from typing import Annotated, Any

import numpy as np
import orjson
import pandas as pd
import shapely
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError

from api.auth import locate_caller
from api.errors import OgcParameterError
from api.plans import LoadedCounty, PlanSource
from api.schemas import Instant
from geogrid.errors import NotFoundError

__all__ = ["CRS84", "EPSG4490", "router"]

router = APIRouter(prefix="/ogc", tags=["OGC API Features"], dependencies=[Depends(locate_caller)])

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
_CRS_NAMES = {
    CRS84: CRS84,
    "OGC:CRS84": CRS84,
    "[OGC:CRS84]": CRS84,
    EPSG4490: EPSG4490,
    "EPSG:4490": EPSG4490,
    "[EPSG:4490]": EPSG4490,
}
# the schema lists them; another is 400 (OGC), not FastAPI's 422
_OFFERED: dict[str, Any] = {"enum": list(_CRS_NAMES)}
_NUMBER = r" *[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,2})? *"
# four finite numbers; another bbox is 400 (OGC), not FastAPI's 422
_BBOX: dict[str, Any] = {"pattern": f"^{_NUMBER}(,{_NUMBER}){{3}}$"}
_CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
]
_JSON = "application/json"
_GEOJSON = "application/geo+json"
_MAX_LIMIT = 10_000
_DATETIME = Query(
    description="an instant (RFC 3339, e.g. 2025-06-01T00:00:00Z): the grids of the plans in "
    "force then; intervals are not supported",
    # the schema offers instants; another value is 400 (OGC), not FastAPI's 422
    json_schema_extra={"format": "date-time"},
)
_INSTANT: TypeAdapter[dt.datetime] = TypeAdapter(Instant)
_CACHED_SETS = 4  # sets of plan versions whose levels are kept ready
_PROPERTIES = [
    "code",
    "name",
    "level",
    "parent_code",
    "kind",
    "subtype",
    "priority",
    "households",
    "residents",
    "shops",
    "key_persons",
    "valid_from",
    "valid_to",
]


class GeoJSONResponse(JSONResponse):
    """A GeoJSON answer (its media type in the OpenAPI schema too)."""

    media_type = _GEOJSON


def _loaded(request: Request, at: dt.datetime | None = None) -> LoadedCounty:
    source: PlanSource = request.app.state.plans
    return source.get(at)


def _instant(value: str | None) -> dt.datetime | None:
    """The ``datetime`` parameter as an instant in UTC; an interval or a bad value is 400."""
    if value is None:
        return None
    if "/" in value:
        raise OgcParameterError(
            f"datetime={value!r} is an interval, which is not supported: give one instant "
            "(e.g. 2025-06-01T00:00:00Z) to get the grids in force then"
        )
    try:
        return _INSTANT.validate_python(value.strip())
    except ValidationError:
        raise OgcParameterError(
            f"datetime={value!r} is not an instant: give an RFC 3339 date-time such as "
            "2025-06-01T00:00:00Z (or 2025-06-01T08:00:00+08:00)"
        ) from None


@dataclasses.dataclass(frozen=True)
class _Level:
    """One level's grids ready to page: by code, rounded, properties as JSON values."""

    codes: np.ndarray
    geometries: np.ndarray
    properties: list[dict[str, Any]]
    position: dict[str, int]

    @classmethod
    def of(cls, grids: pd.DataFrame) -> _Level:
        grids = grids.sort_values("code", kind="stable")
        codes = grids["code"].astype(str).to_numpy()
        geometries = shapely.transform(
            np.asarray(grids.geometry.array, dtype=object), lambda c: np.round(c, 7)
        )
        columns = [grids[key].to_numpy(dtype=object) for key in _PROPERTIES]
        properties = [
            {key: _native(value) for key, value in zip(_PROPERTIES, values, strict=True)}
            for values in zip(*columns, strict=True)
        ]
        position = {code: n for n, code in enumerate(codes)}
        return cls(codes, geometries, properties, position)

    @functools.cached_property
    def tree(self) -> shapely.STRtree:
        """Spatial index of the level, for ``bbox`` (built on the first such request)."""
        return shapely.STRtree(self.geometries)

    def features(self, positions: np.ndarray, crs: str) -> list[dict[str, Any]]:
        """The GeoJSON features of grids ``positions``; coordinates as numpy arrays."""
        geometries = _geometries(self.geometries[positions], swap=crs == EPSG4490)
        return [
            {
                "type": "Feature",
                "id": str(self.codes[n]),
                "geometry": geometry,
                "properties": self.properties[n],
            }
            for n, geometry in zip(positions.tolist(), geometries, strict=True)
        ]


def _geometries(geoms: np.ndarray, *, swap: bool) -> list[dict[str, Any]]:
    """GeoJSON MultiPolygons of ``geoms``, each ring an (n, 2) array (``swap``: lat first).

    Vectorised over a page (parts → rings → coordinates in three shapely calls): the same
    JSON as ``shapely.geometry.mapping`` gives once serialised, ~3 times faster.
    """
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    coords, coord_of = shapely.get_coordinates(rings, return_index=True)
    coords = np.ascontiguousarray(coords[:, ::-1] if swap else coords)
    ends = np.cumsum(np.bincount(coord_of, minlength=len(rings)))
    pieces = np.split(coords, ends[:-1]) if len(rings) else []  # split([]) is one piece
    polygons: list[list[np.ndarray]] = [[] for _ in range(len(parts))]
    for ring, p in zip(pieces, ring_of.tolist(), strict=True):
        polygons[p].append(ring)
    out: list[dict[str, Any]] = [{"type": "MultiPolygon", "coordinates": []} for _ in geoms]
    for polygon, g in zip(polygons, part_of.tolist(), strict=True):
        out[g]["coordinates"].append(polygon)
    return out


def _json(body: Any) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


class _Levels:
    """Each level of a set of plan versions' grids, made ready on first use."""

    def __init__(self) -> None:
        self._levels: dict[int, _Level] = {}
        self._lock = threading.Lock()

    def get(self, county: LoadedCounty, level: int) -> _Level:
        """Level ``level`` of ``county`` (which holds these versions), made ready if new."""
        with self._lock:
            if level not in self._levels:
                self._levels[level] = _Level.of(county.plan.level(level))
            return self._levels[level]


_ready: OrderedDict[tuple[int, ...], tuple[tuple[weakref.ref[Any], ...], _Levels]] = OrderedDict()
_ready_lock = threading.Lock()


def _levels(county: LoadedCounty) -> _Levels:
    """The ready levels of ``county``'s grids, shared by every county with the same grids.

    Keyed by the grids tables themselves (held weakly): a county made for ``datetime=`` with
    the versions of the one in force shares its levels, and a new version gets new ones.
    """
    frames = tuple(p.plan.grids for p in county.plans)
    key = tuple(id(f) for f in frames)
    with _ready_lock:
        held = _ready.get(key)
        if held is not None and all(r() is f for r, f in zip(held[0], frames, strict=True)):
            _ready.move_to_end(key)
            return held[1]
        levels = _Levels()  # holds no county: an old one's plans and indexes may go
        _ready[key] = (tuple(weakref.ref(f) for f in frames), levels)
        while len(_ready) > _CACHED_SETS:
            _ready.popitem(last=False)
        return levels


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _link(href: str, rel: str, media: str, title: str | None = None) -> dict[str, str]:
    link = {"href": href, "rel": rel, "type": media}
    if title:
        link["title"] = title
    return link


@router.get("", summary="Landing page")
def landing(request: Request) -> JSONResponse:
    """Landing page: links to the API definition, conformance and the collections."""
    base = _base(request)
    root = str(request.base_url).rstrip("/")
    return JSONResponse(
        {
            "title": "geogrid grids",
            "description": "The grids of the active plan (网格), one collection per level.",
            "links": [
                _link(base, "self", _JSON, "this document"),
                _link(
                    f"{root}/openapi.json",
                    "service-desc",
                    "application/vnd.oai.openapi+json;version=3.0",
                    "the API definition",
                ),
                _link(f"{root}/docs", "service-doc", "text/html", "the API documentation"),
                _link(f"{base}/conformance", "conformance", _JSON, "conformance classes"),
                _link(f"{base}/collections", "data", _JSON, "the grid levels"),
            ],
        }
    )


@router.get("/conformance", summary="Conformance classes")
def conformance() -> JSONResponse:
    """The conformance classes implemented."""
    return JSONResponse({"conformsTo": _CONFORMANCE})


@router.get("/collections", summary="Collections: one per level")
def collections(request: Request) -> JSONResponse:
    """One collection per level of the active plan."""
    loaded = _loaded(request)
    base = _base(request)
    return JSONResponse(
        {
            "links": [_link(f"{base}/collections", "self", _JSON)],
            "collections": [
                _collection(loaded, level, base) for level in range(1, len(loaded.levels) + 1)
            ],
            "crs": [CRS84, EPSG4490],
        }
    )


@router.get("/collections/{collection_id}", summary="One level")
def collection(request: Request, collection_id: str) -> JSONResponse:
    """Description of one level's collection."""
    loaded = _loaded(request)
    return JSONResponse(_collection(loaded, _level_of(loaded, collection_id), _base(request)))


@router.get(
    "/collections/{collection_id}/items",
    summary="Grids of a level (GeoJSON)",
    response_class=GeoJSONResponse,
)
def items(
    request: Request,
    collection_id: str,
    limit: Annotated[int, Query(ge=1, le=_MAX_LIMIT)] = 10,
    offset: Annotated[int, Query(ge=0)] = 0,
    bbox: Annotated[
        str | None,
        Query(description="minx,miny,maxx,maxy in bbox-crs", json_schema_extra=_BBOX),
    ] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs", json_schema_extra=_OFFERED)] = None,
    crs: Annotated[
        str | None,
        Query(description=f"{CRS84} (default) or {EPSG4490}", json_schema_extra=_OFFERED),
    ] = None,
    datetime: Annotated[str | None, _DATETIME] = None,
) -> Response:
    """Grids of one level as a GeoJSON FeatureCollection, paged by ``limit``/``offset``."""
    loaded = _loaded(request, _instant(datetime))
    level = _level_of(loaded, collection_id)
    out_crs = _crs(crs, "crs")
    grids = _levels(loaded).get(loaded, level)
    if bbox is not None:
        box = _bbox(bbox, _crs(bbox_crs, "bbox-crs"))
        matched = np.sort(grids.tree.query(box, predicate="intersects"))
    else:
        matched = np.arange(len(grids.codes))
    page = matched[offset : offset + limit]
    base = f"{_base(request)}/collections/{collection_id}/items"
    links = [_link(str(request.url), "self", _GEOJSON)]
    if offset + limit < len(matched):
        query = dict(request.query_params) | {"offset": str(offset + limit), "limit": str(limit)}
        links.append(_link(f"{base}?{_query(query)}", "next", _GEOJSON))
    body = {
        "type": "FeatureCollection",
        "features": grids.features(page, out_crs),
        "numberMatched": len(matched),
        "numberReturned": len(page),
        "timeStamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "links": links,
    }
    return Response(_json(body), media_type=_GEOJSON, headers={"Content-Crs": f"<{out_crs}>"})


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    summary="One grid (GeoJSON)",
    response_class=GeoJSONResponse,
)
def item(
    request: Request,
    collection_id: str,
    feature_id: str,
    crs: Annotated[str | None, Query(json_schema_extra=_OFFERED)] = None,
    datetime: Annotated[str | None, _DATETIME] = None,
) -> Response:
    """One grid, by code."""
    at = _instant(datetime)
    loaded = _loaded(request, at)
    level = _level_of(loaded, collection_id)
    out_crs = _crs(crs, "crs")
    grids = _levels(loaded).get(loaded, level)
    n = grids.position.get(feature_id)
    if n is None:
        when = "" if at is None else f" in force at {at.isoformat()}"
        raise NotFoundError(f"no grid {feature_id!r} in collection {collection_id!r}{when}")
    (feature,) = grids.features(np.array([n]), out_crs)
    base = f"{_base(request)}/collections/{collection_id}"
    feature["links"] = [
        _link(str(request.url), "self", _GEOJSON),
        _link(base, "collection", _JSON),
    ]
    return Response(_json(feature), media_type=_GEOJSON, headers={"Content-Crs": f"<{out_crs}>"})


def _collection(loaded: LoadedCounty, level: int, base: str) -> dict[str, Any]:
    grids = loaded.plan.level(level)
    minx, miny, maxx, maxy = (float(v) for v in grids.total_bounds)
    cid = f"level{level}"
    return {
        "id": cid,
        "title": f"{loaded.levels[level - 1]} (level {level})",
        "description": f"{len(grids)} grids of level {level} of plan {loaded.name!r}, "
        f"version {loaded.version}",
        "itemType": "feature",
        "extent": {"spatial": {"bbox": [[minx, miny, maxx, maxy]], "crs": CRS84}},
        "crs": [CRS84, EPSG4490],
        "storageCrs": EPSG4490,
        "links": [
            _link(f"{base}/collections/{cid}", "self", _JSON),
            _link(f"{base}/collections/{cid}/items", "items", _GEOJSON),
        ],
    }


def _level_of(loaded: LoadedCounty, collection_id: str) -> int:
    known = [f"level{n}" for n in range(1, len(loaded.levels) + 1)]
    if collection_id not in known:
        raise NotFoundError(
            f"no collection {collection_id!r}; the collections are {', '.join(known)}"
        )
    return int(collection_id.removeprefix("level"))


def _crs(value: str | None, name: str) -> str:
    if value is None:
        return CRS84
    crs = _CRS_NAMES.get(value.strip())
    if crs is None:
        raise OgcParameterError(
            f"{name}={value!r} is not offered; use {CRS84} (lon/lat) or {EPSG4490} (lat/lon)"
        )
    return crs


def _bbox(value: str, crs: str) -> shapely.Geometry:
    try:
        numbers = [float(v) for v in value.split(",")]
    except ValueError:
        numbers = []
    if len(numbers) != 4 or not all(math.isfinite(v) for v in numbers):
        raise OgcParameterError(f"bbox={value!r}: give four numbers minx,miny,maxx,maxy")
    a, b, c, d = numbers
    if crs == EPSG4490:  # lat/lon order
        a, b, c, d = b, a, d, c
    return shapely.box(a, b, c, d)


def _query(params: dict[str, str]) -> str:
    """A query string, its values encoded (a ``+08:00`` offset stays an offset)."""
    return urllib.parse.urlencode(params, safe=",:")


def _native(value: object) -> object:
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value
