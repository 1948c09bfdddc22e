"""The OpenAPI schema as the service answers: what FastAPI derives, corrected in one place.

FastAPI documents an error answer in the route's own media type (``text/html`` on the web
map, ``application/geo+json`` on OGC items) and adds its ``HTTPValidationError`` 422 to
every route with parameters; the service answers every error as JSON :class:`ErrorOut`.
Incident categories come from the configured taxonomy, and staff roles from the configured
role set, so their enums are known only when the app is built. Schemathesis, with every check, verifies the result (``make schemathesis``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from geogrid.incidents import Taxonomy
from geogrid.roles import RoleSet

__all__ = ["install_openapi"]

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
_FASTAPI_ONLY = ("HTTPValidationError", "ValidationError")


def install_openapi(app: FastAPI, taxonomy: Taxonomy, roles: RoleSet) -> None:
    """Make ``app.openapi()`` build the corrected schema once, on first use."""
    app.openapi = _builder(app, taxonomy, roles)  # type: ignore[method-assign]


def _builder(app: FastAPI, taxonomy: Taxonomy, roles: RoleSet) -> Callable[[], dict[str, Any]]:
    def openapi() -> dict[str, Any]:
        schema = app.openapi_schema
        if schema is None:
            schema = FastAPI.openapi(app)  # FastAPI's own, kept as app.openapi_schema
            _errors_as_sent(schema)
            _categories(schema, taxonomy.codes)
            _roles(schema, roles)
        return schema

    return openapi


def _errors_as_sent(schema: dict[str, Any]) -> None:
    """Every 4xx/5xx answer is JSON :class:`ErrorOut`, whatever the route's media type."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if str(status)[0] in "45":
                    response["content"] = _ERROR
    components = schema.get("components", {}).get("schemas", {})
    for name in _FASTAPI_ONLY:
        components.pop(name, None)


def _categories(schema: dict[str, Any], codes: list[str]) -> None:
    """A report's category is one of the configured taxonomy's codes."""
    components = schema.get("components", {}).get("schemas", {})
    incident = components.get("IncidentIn")
    if incident is not None:
        incident["properties"]["category"]["enum"] = codes


def _roles(schema: dict[str, Any], roles: RoleSet) -> None:
    """A staff member's role is one of the configured roles, listed with their names."""
    components = schema.get("components", {}).get("schemas", {})
    listed = "; the roles, in order: " + ", ".join(
        f"{r.key} {r.name}" + (f" (also {', '.join(r.aliases)})" if r.aliases else "")
        for r in roles
    )
    for name, field in (("StaffMemberIn", "role"), ("StaffOut", "role"), ("StaffRef", "role")):
        model = components.get(name)
        if model is None:
            continue
        prop = model["properties"][field]
        prop["description"] = prop.get("description", "") + listed
        prop["enum"] = list(roles.spellings if name == "StaffMemberIn" else roles.keys)
