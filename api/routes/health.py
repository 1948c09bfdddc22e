"""``/healthz`` and ``/readyz``: for a load balancer or an orchestrator in front of N servers.

``/healthz`` (liveness) answers 200 while the process serves requests at all. ``/readyz``
(readiness) answers 200 only when this process can answer the API: the store answers a
query, the plans in force are indexed (or there are none yet), and — on PostGIS — the plan
listener holds its connection, so a plan activated elsewhere will reach it. Otherwise 503
with each reason, and the balancer sends the traffic to the other servers. Both are open.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from geogrid.errors import GeogridError

__all__ = ["router"]

router = APIRouter(tags=["health"])


class HealthOut(BaseModel):
    """Liveness or readiness, with what was checked."""

    status: str = Field(examples=["ok"], description="ok, or unavailable")
    checks: dict[str, str] = Field(
        default_factory=dict, examples=[{"store": "ok", "plans": "ok", "listener": "ok"}]
    )


@router.get("/healthz", response_model=HealthOut)
def healthz() -> HealthOut:
    """The process is alive (no store query)."""
    return HealthOut(status="ok")


@router.get(
    "/readyz",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "not ready: the checks say why"}},
)
async def readyz(request: Request) -> Any:
    """Ready to answer: store reachable, plans indexed, plan listener connected (PostGIS)."""
    checks = await run_in_threadpool(_checks, request)
    ready = all(v == "ok" or v.startswith("none") for v in checks.values())
    body = HealthOut(status="ok" if ready else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


def _checks(request: Request) -> dict[str, str]:
    state = request.app.state
    plans = getattr(state, "plans", None)
    if plans is None:
        return {"plans": "starting"}
    checks: dict[str, str] = {}
    store = plans.store
    if store is not None:
        try:
            store.in_force_digest()
            checks["store"] = "ok"
        except GeogridError as exc:
            checks["store"] = f"unavailable: {exc}"
    checks["plans"] = "ok" if plans.cached() is not None or _loaded(plans) else "none in force"
    listener = getattr(state, "plan_listener", None)
    if listener is not None:
        checks["listener"] = "ok" if listener.connected else "not connected (reconnecting)"
    return checks


def _loaded(plans: Any) -> bool:
    try:
        plans.get()
    except GeogridError:
        return False
    return True
