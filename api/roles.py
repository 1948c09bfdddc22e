"""The service's staff roles in force for every request.

:func:`api.main.create_app` reads the role set once (``GEOGRID_ROLES_FILE``, or the settings
given in code) and :class:`RolesMiddleware` runs each request inside
:func:`geogrid.roles.use_roles`, so the plan normalisation, staff order, ``PUT`` staff checks
and answers of that app use its roles even when several apps with different settings share a
process (tests do).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from geogrid.roles import RoleSet, use_roles

__all__ = ["RolesMiddleware"]


class RolesMiddleware:
    """Pure ASGI middleware: the wrapped app runs with ``roles`` as the current role set."""

    def __init__(self, app: ASGIApp, roles: RoleSet) -> None:
        self.app = app
        self.roles = roles

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request (or the lifespan) with the app's roles."""
        with use_roles(self.roles):  # a context variable: seen by the worker threads too
            await self.app(scope, receive, send)
