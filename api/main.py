"""The application factory: ``create_app(settings)``.

Run it with ``uvicorn --factory api.main:create_app`` (settings from ``GEOGRID_*``), or
build it in code with your own :class:`~api.settings.ApiSettings` (tests do).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from api.auth import key_schemes, new_key_cache
from api.errors import error_responses, install_error_handlers
from api.guard import RequestGuard
from api.notify import PlanListener
from api.openapi import install_openapi
from api.plans import PlanSource
from api.roles import RolesMiddleware
from api.routes import (
    drafts,
    fonts,
    health,
    incidents,
    jobs,
    jurisdictions,
    keys,
    locate,
    maps,
    ogc,
    people,
    plans,
    rosters,
    tiles,
    workbench,
)
from api.settings import ApiSettings
from geogrid.errors import GeogridError
from geogrid.plan import GridPlan
from geogrid.roles import configured_roles

__all__ = ["create_app"]


def _check_seconds(settings: ApiSettings, listening: bool) -> float:
    """The periodic plan check: while listening, a slow fallback unless one was set."""
    if listening and "plan_check_seconds" not in settings.model_fields_set:
        return settings.listening_check_seconds
    return settings.plan_check_seconds


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
        from geogrid.jobs import JobRunner
        from geogrid.store import open_store

        store = open_store(settings.store_url)
        runner = JobRunner(settings.store_url, limit=settings.max_jobs)
        try:
            runner.start()  # jobs left running by a server that died fail: "server restarted"
            app.state.jobs = runner
            listening = settings.plan_listen and store.backend == "postgis"
            app.state.plans = PlanSource(
                store,
                check_seconds=_check_seconds(settings, listening),
                cache_size=settings.index_cache_size,
                url=settings.store_url,
            )
            with contextlib.suppress(GeogridError):  # no active plan yet: said per request
                app.state.plans.get()  # index the active plan before the first request
            if listening:  # plans activated by any process reach this one (api/notify.py)
                app.state.plan_listener = PlanListener(settings.store_url, app.state.plans.refresh)
                app.state.plan_listener.start()
            yield
        finally:
            if getattr(app.state, "plan_listener", None) is not None:
                app.state.plan_listener.stop()
            runner.stop()
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
    app.state.roles = configured_roles(settings)
    install_error_handlers(app)
    install_openapi(app, app.state.taxonomy, app.state.roles)
    app.add_middleware(
        RequestGuard, limit=settings.max_body_bytes, upload_limit=settings.max_upload_bytes
    )
    app.add_middleware(RolesMiddleware, roles=app.state.roles)
    open_errors = error_responses(404, 413, 422, 500, 503)
    keyed_errors = error_responses(401, 403, 404, 409, 412, 413, 422, 428, 500, 503)
    closed = [] if settings.open_locate else [Depends(key_schemes)]
    if not settings.open_locate:
        open_errors |= error_responses(401, 403)
    app.include_router(health.router)  # open: load balancers and orchestrators
    app.include_router(locate.router, responses=open_errors, dependencies=closed)
    app.include_router(
        ogc.router, responses=open_errors | error_responses(400), dependencies=closed
    )
    app.include_router(maps.router, responses=open_errors, dependencies=closed)
    app.include_router(tiles.router, responses=open_errors, dependencies=closed)
    # open even with GEOGRID_OPEN_LOCATE=false: browsers fetch fonts without the page's key
    app.include_router(fonts.router, responses=error_responses(404, 413, 422, 500))
    app.include_router(incidents.router, responses=keyed_errors)
    app.include_router(plans.router, responses=keyed_errors)
    app.include_router(jurisdictions.router, responses=keyed_errors)
    app.include_router(people.router, responses=keyed_errors)
    app.include_router(rosters.router, responses=keyed_errors)
    app.include_router(keys.router, responses=keyed_errors)
    app.include_router(jobs.router, responses=keyed_errors)
    app.include_router(drafts.router, responses=keyed_errors)
    app.include_router(workbench.router, responses=error_responses(401, 404, 422, 500, 503))
    return app
