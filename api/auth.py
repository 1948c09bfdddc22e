"""Who is calling: the API key of a request, as a :class:`~geogrid.access.Caller`.

A client sends its key as ``X-API-Key: ggk_…`` (or ``Authorization: Bearer ggk_…``). Keys are
created with ``geogrid keys create --role ROLE [--grid CODE]`` or ``POST /keys``; the store
keeps only their SHA-256. What each role may do, and where, is decided by
:mod:`geogrid.access` and enforced by the store (:mod:`geogrid.store.incidents`), so every path
to incidents goes through the same checks.

Locating points, the OGC grids and the maps are open by default: grid boundaries and the
names and phones of grid staff are what every community posts on its public signs (公示牌).
Set ``GEOGRID_OPEN_LOCATE=false`` to ask for a key there too.
"""

from __future__ import annotations

import threading
import time
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from geogrid.access import Caller, Permission, require
from geogrid.errors import AuthenticationError, NotFoundError
from geogrid.store import PlanStore

__all__ = [
    "CurrentCaller",
    "LocateCaller",
    "caller_of",
    "key_schemes",
    "locate_caller",
    "new_key_cache",
    "store_of",
]

_KEY_HEADER = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="An API key (`ggk_…`) from `geogrid keys create --role ROLE [--grid CODE]`",
)
_BEARER = HTTPBearer(auto_error=False, description="The API key as a bearer token")


def store_of(request: Request) -> PlanStore:
    """The store behind the service; 404 when it answers from a fixed plan without one."""
    store: PlanStore | None = request.app.state.plans.store
    if store is None:
        raise NotFoundError(
            "this service answers from a fixed plan and has no store: incidents, keys and "
            "plans need one (start it with `geogrid serve`, without a fixed plan)"
        )
    return store


class _KeyCache:
    """Recently authenticated keys, so a busy client costs one store query per few seconds."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Caller]] = {}

    def get(self, raw_key: str) -> Caller | None:
        with self._lock:
            entry = self._entries.get(raw_key)
        if entry is None or time.monotonic() - entry[0] >= self._seconds:
            return None
        return entry[1]

    def put(self, raw_key: str, caller: Caller) -> None:
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[raw_key] = (time.monotonic(), caller)


def caller_of(
    request: Request,
    api_key: Annotated[str | None, Depends(_KEY_HEADER)] = None,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)] = None,
) -> Caller:
    """The caller of ``request``, from its API key; 401 when missing, unknown or revoked."""
    raw = api_key or (bearer.credentials if bearer is not None else None)
    if not raw:
        raise AuthenticationError(
            "this needs an API key: send it as the X-API-Key header (an administrator "
            "creates one with `geogrid keys create --role ROLE`)"
        )
    cache: _KeyCache = request.app.state.key_cache
    caller = cache.get(raw)
    if caller is None:
        caller = store_of(request).access().authenticate(raw)
        cache.put(raw, caller)
    return caller


async def locate_caller(request: Request) -> Caller | None:
    """``None`` while locating is open (the default), else a caller allowed to locate.

    Async, so the open hot path costs no thread hop; a key is checked in a worker thread.
    It reads the key from the headers itself, so that open routes declare no key in the
    OpenAPI schema; :func:`key_schemes` declares it where locating is closed.
    """
    if request.app.state.settings.open_locate:
        return None
    api_key = request.headers.get("x-api-key")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    bearer = None
    if scheme.lower() == "bearer" and token:
        bearer = HTTPAuthorizationCredentials(scheme=scheme, credentials=token)
    caller = await run_in_threadpool(caller_of, request, api_key, bearer)
    require(caller, Permission.LOCATE)
    return caller


def key_schemes(
    api_key: Annotated[str | None, Depends(_KEY_HEADER)] = None,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)] = None,
) -> None:
    """Declares the API key in the schema of routes that read it themselves (closed locate)."""


CurrentCaller = Annotated[Caller, Depends(caller_of)]
"""A route parameter holding the authenticated caller (401 without a valid key)."""

LocateCaller = Annotated[Caller | None, Depends(locate_caller)]
"""A route parameter for open-by-default reads (locate, OGC, maps)."""


def new_key_cache(seconds: float) -> _KeyCache:
    """An empty cache of keys authenticated less than ``seconds`` ago (one per app)."""
    return _KeyCache(seconds)
