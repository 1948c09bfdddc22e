"""The application factory: ``create_app(settings)``.

Run it with ``uvicorn --factory api.main:create_app`` (settings from ``GEOGRID_*``), or
build it in code with your own :class:`~api.settings.ApiSettings` (tests do).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import new_key_cache
from api.errors import install_error_handlers
from api.plans import PlanSource
from api.routes import incidents, keys, locate, maps, ogc, plans
from api.settings import ApiSettings
from geogrid.errors import GeogridError
from geogrid.plan import GridPlan

__all__ = ["create_app"]


def create_app(settings: ApiSettings | None = None, *, plan: GridPlan | None = None) -> FastAPI:
    """Build the service.

    Parameters
    ----------
    settings
        Service settings; ``None`` reads ``GEOGRID_*`` from the environment now.
    plan
        Answer from this fixed plan instead of the store's active version (embedding,
        quick demos); the store is then not opened.

    Returns
    -------
    fastapi.FastAPI
        The store is opened, and the active plan indexed, when the app starts (lifespan).
    """
    settings = settings if settings is not None else ApiSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if plan is not None:
            app.state.plans = PlanSource(plan=plan)
            yield
            return
        from geogrid.store import open_store

        store = open_store(settings.store_url)
        try:
            app.state.plans = PlanSource(
                store,
                check_seconds=settings.plan_check_seconds,
                cache_size=settings.index_cache_size,
            )
            with contextlib.suppress(GeogridError):  # no active plan yet: said per request
                app.state.plans.get()  # index the active plan before the first request
            yield
        finally:
            store.close()

    app = FastAPI(
        title="geogrid",
        summary="Community grid governance (网格化治理): locate points in grids, with staff",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.key_cache = new_key_cache(settings.key_cache_seconds)
    app.state.taxonomy = settings.taxonomy()
    app.state.policy = settings.policy()
    install_error_handlers(app)
    app.add_middleware(
        _BodyCap, limit=settings.max_body_bytes, upload_limit=settings.max_upload_bytes
    )
    app.include_router(locate.router)
    app.include_router(ogc.router)
    app.include_router(maps.router)
    app.include_router(incidents.router)
    app.include_router(plans.router)
    app.include_router(keys.router)
    return app


class _BodyCap:
    """Pure ASGI middleware: 413 for a declared body over the cap, before reading it.

    Plan uploads (``POST /plans``) have their own, larger cap.
    """

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            upload = scope["path"] == "/plans"
            limit = self.upload_limit if upload else self.limit
            length = dict(scope["headers"]).get(b"content-length", b"")
            if length.isdigit() and int(length) > limit:
                advice = "GEOGRID_MAX_UPLOAD_BYTES raises it" if upload else "split the batch"
                response = JSONResponse(
                    {
                        "detail": f"request body of {int(length)} bytes is over the "
                        f"{limit}-byte cap; {advice}",
                        "error": "PayloadTooLargeError",
                    },
                    status_code=413,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
