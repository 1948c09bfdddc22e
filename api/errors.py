"""geogrid errors → HTTP responses, in one table.

Every error answer has the same body: ``{"detail": "what went wrong and what to do",
"error": "ClassName"}`` (422 from request validation keeps FastAPI's list of problems).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from geogrid.errors import (
    AccessDeniedError,
    AuthenticationError,
    CoordinateError,
    CRSError,
    GeogridError,
    IdempotencyConflictError,
    InvalidIncidentError,
    InvalidPlanError,
    NotFoundError,
    PlanFileError,
    PreconditionFailedError,
    PreconditionRequiredError,
    StoreError,
    TransitionError,
    VersionStateError,
)

__all__ = [
    "STATUS_BY_ERROR",
    "NoActivePlanError",
    "OgcParameterError",
    "PayloadTooLargeError",
    "install_error_handlers",
    "status_for",
]


class NoActivePlanError(StoreError):
    """The store holds no active plan (or none was active at the time asked about)."""


class OgcParameterError(GeogridError):
    """A query parameter of the OGC API has a value the server does not offer (OGC: 400)."""


class PayloadTooLargeError(GeogridError):
    """A request body or batch is over the service's cap."""


STATUS_BY_ERROR: dict[type[Exception], int] = {
    CoordinateError: 422,
    CRSError: 422,
    PlanFileError: 422,
    InvalidPlanError: 422,
    InvalidIncidentError: 422,
    IdempotencyConflictError: 422,
    AuthenticationError: 401,
    AccessDeniedError: 403,
    TransitionError: 409,
    PreconditionFailedError: 412,
    PreconditionRequiredError: 428,
    PayloadTooLargeError: 413,
    OgcParameterError: 400,
    NoActivePlanError: 404,
    NotFoundError: 404,
    VersionStateError: 409,
    StoreError: 503,
    GeogridError: 400,
}
"""The one table: the first class in this order that the error is an instance of wins."""


def status_for(error: Exception) -> int:
    """HTTP status of a geogrid error (500 for anything not in :data:`STATUS_BY_ERROR`).

    Examples
    --------
    >>> status_for(CoordinateError("swapped")), status_for(StoreError("down"))
    (422, 503)
    """
    for cls, status in STATUS_BY_ERROR.items():
        if isinstance(error, cls):
            return status
    return 500


async def _geogrid_error(request: Request, exc: Exception) -> JSONResponse:
    body: dict[str, object] = {"detail": str(exc), "error": type(exc).__name__}
    if isinstance(exc, InvalidPlanError) and exc.problems:
        body["problems"] = [str(p) for p in exc.problems]
    return JSONResponse(body, status_code=status_for(exc))


def install_error_handlers(app: FastAPI) -> None:
    """Answer every :class:`~geogrid.errors.GeogridError` by :data:`STATUS_BY_ERROR`."""
    app.add_exception_handler(GeogridError, _geogrid_error)
