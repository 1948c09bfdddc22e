"""``geogrid serve``: the web service, answering from the store's active plan."""

from __future__ import annotations

from typing import Annotated

import typer

from geogrid.cli._common import load_plan, out, user_errors

__all__ = ["serve_cmd"]

_SERVER = "geogrid serve"


@user_errors
def serve_cmd(
    plan: Annotated[
        str | None,
        typer.Option(
            help="Plan file to serve: stored, approved and activated unless stored already"
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Run the web service (/locate, /incidents, /ogc, /maps; docs at /docs).

    The store is the embedded GeoPackage ($GEOGRID_DATA_DIR), or PostGIS when
    GEOGRID_DATABASE_URL is set.
    """
    import uvicorn

    from geogrid.store import open_store, publish_if_new

    with open_store() as store:
        if plan is not None:
            info, stored_before = publish_if_new(store, load_plan(plan), by=_SERVER, source=plan)
            done = "stored already as" if stored_before else "stored as"
            out.print(f"{info.plan!r} {done} version {info.version} ({info.status})")
        in_force = store.in_force()
        where = store.url
    if not in_force:
        out.print(
            "no active plan: /locate answers 404 until one is activated "
            "(geogrid store activate NAME VERSION, or geogrid serve --plan FILE)",
            soft_wrap=True,
        )
    else:
        plans = ", ".join(f"{i.plan!r} version {i.version}" for i in in_force)
        out.print(f"answering from {plans} in {where}", soft_wrap=True)
    out.print(f"serving on http://{host}:{port} (API docs at /docs)")
    # an import string: the geogrid package never imports the api package itself
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )
