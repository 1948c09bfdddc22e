"""geogrid errors → HTTP responses, in one table.

Every error answer has the same body (:class:`ErrorOut`): ``{"detail": "what went wrong and
what to do", "error": "ClassName"}``; a request that does not match the schema (422 from
FastAPI's validation) has ``detail`` as the list of problems, each naming where
(``loc``) and what (``msg``), with the offending input shortened — an error never echoes a
large input back.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from geogrid.errors import (
    AccessDeniedError,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    GeogridError,
    InvalidInputError,
    InvalidPlanError,
    NotFoundError,
    PayloadTooLargeError,
    PreconditionFailedError,
    PreconditionRequiredError,
    StoreError,
    StoreUnavailableError,
)

__all__ = [
    "ERROR_RESPONSES",
    "STATUS_BY_ERROR",
    "ErrorOut",
    "OgcParameterError",
    "error_responses",
    "install_error_handlers",
    "status_for",
]

_log = logging.getLogger("geogrid.api")
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
_ECHO = 120  # characters of an offending input kept in a validation problem


class OgcParameterError(InvalidInputError):
    """A query parameter of the OGC API has a value the server does not offer (OGC: 400)."""


STATUS_BY_ERROR: dict[type[Exception], int] = {
    OgcParameterError: 400,
    AuthenticationError: 401,
    AccessDeniedError: 403,
    NotFoundError: 404,
    PreconditionFailedError: 412,
    PayloadTooLargeError: 413,
    PreconditionRequiredError: 428,
    InvalidInputError: 422,
    ConflictError: 409,
    StoreUnavailableError: 503,
    StoreError: 500,
    ConfigurationError: 500,
    GeogridError: 500,
}
"""The one table: the first class in this order that the error is an instance of wins."""


class ErrorOut(BaseModel):
    """The body of every error answer."""

    detail: str | list[dict[str, Any]] = Field(
        description="what went wrong and what to do; for a request that does not match the "
        "schema, the list of problems (loc, msg, type)"
    )
    error: str = Field(examples=["CoordinateError"], description="the error's class")
    problems: list[str] | None = Field(
        default=None, description="a plan's validation problems, one line each"
    )
    problem_details: list[dict[str, Any]] | None = Field(
        default=None,
        description="the same problems as GeoJSON features (properties: kind, codes, lon, "
        "lat, area_m2 …; geometry: the gap, overlap or outside part, or its point)",
    )
    yours: dict[str, Any] | None = Field(
        default=None, description="a draft whose save lost to a newer version: the draft"
    )
    theirs: dict[str, Any] | None = Field(
        default=None, description="the newer version it lost to (the draft is kept)"
    )


def _described(what: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": what}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _described("a parameter the OGC API does not offer"),
    401: _described("no, an unknown or a revoked API key"),
    403: _described("the key's role may not do this, or not here"),
    404: _described("no such object, or none the key may see"),
    409: _described("clashes with the current state"),
    412: _described("If-Match names a state that is no longer current"),
    413: _described("body, batch or file over its cap"),
    422: _described("invalid input: the message names the problem"),
    428: _described("If-Match is required"),
    500: _described("a fault of the installation: the message tells the operator"),
    503: _described("the store cannot be reached now: retry"),
}
"""Error answers for OpenAPI, keyed by status (routers pick the ones they can give)."""


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The :data:`ERROR_RESPONSES` of ``statuses``, for a router's or a route's ``responses``."""
    return {status: ERROR_RESPONSES[status] for status in statuses}


def status_for(error: Exception) -> int:
    """HTTP status of a geogrid error (500 for anything not in :data:`STATUS_BY_ERROR`).

    Examples
    --------
    >>> from geogrid.errors import CoordinateError, TransitionError
    >>> status_for(CoordinateError("swapped")), status_for(StoreUnavailableError("down"))
    (422, 503)
    >>> status_for(TransitionError("closed")), status_for(ConfigurationError("no font"))
    (409, 500)
    """
    for cls, status in STATUS_BY_ERROR.items():
        if isinstance(error, cls):
            return status
    return 500


async def _geogrid_error(request: Request, exc: Exception) -> JSONResponse:
    status = status_for(exc)
    if status >= 500:
        _log.error("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    body: dict[str, object] = {"detail": str(exc), "error": type(exc).__name__}
    if isinstance(exc, InvalidPlanError) and exc.problems:
        body["problems"] = [str(p) for p in exc.problems]
    details = getattr(exc, "details", None)  # both sides of a conflict (a draft's save)
    if isinstance(details, dict):
        body.update({k: v for k, v in details.items() if k not in body})
    return JSONResponse(body, status_code=status)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [_short(problem) for problem in exc.errors()[:50]]
    body = {"detail": jsonable_encoder(problems), "error": "RequestValidationError"}
    return JSONResponse(body, status_code=422)


def _short(problem: Any) -> dict[str, Any]:
    """A validation problem without a long input or an unserialisable context."""
    short = {key: problem[key] for key in ("type", "loc", "msg") if key in problem}
    value = problem.get("input")
    if isinstance(value, str | int | float | bool) or value is None:
        text = value if not isinstance(value, str) else value[:_ECHO]
        short["input"] = text
    return short


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own answers (no such path, method not allowed) in the :class:`ErrorOut` shape.

    A 405 lists in ``Allow`` every method of the path, not only those of the route that
    matched first (``GET /incidents`` and ``POST /incidents`` are two routes).
    """
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_methods_of(request))
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=headers)
    name = "".join(HTTPStatus(exc.status_code).phrase.title().split())
    body = {"detail": exc.detail, "error": name}
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


def _methods_of(request: Request) -> list[str]:
    """The methods some route answers on the request's path."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    ]


def install_error_handlers(app: FastAPI) -> None:
    """Answer every :class:`~geogrid.errors.GeogridError` by :data:`STATUS_BY_ERROR`."""
    app.add_exception_handler(GeogridError, _geogrid_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
