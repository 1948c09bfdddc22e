"""The geogrid exception family.

Every error a planner can meet derives from :class:`GeogridError`, and every message says
what went wrong *and* what to do about it. The service maps these classes to HTTP status
codes in one table (``api/errors.py``); the CLI prints the message on one line.
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "AuthenticationError",
    "CRSError",
    "CoordinateError",
    "GeogridError",
    "IdempotencyConflictError",
    "InvalidIncidentError",
    "InvalidPlanError",
    "NotFoundError",
    "PlanFileError",
    "PreconditionFailedError",
    "PreconditionRequiredError",
    "StoreError",
    "TransitionError",
    "VersionStateError",
]


class GeogridError(Exception):
    """Base class of every error geogrid raises on purpose."""


class PlanFileError(GeogridError):
    """A file cannot be read as a plan, households or boundaries (wrong format, no geometry...)."""


class CRSError(GeogridError):
    """A coordinate reference system is missing, unknown or does not fit the coordinates."""


class CoordinateError(GeogridError):
    """A coordinate is out of range, not finite, or has latitude and longitude swapped."""


class InvalidPlanError(GeogridError):
    """A plan breaks the model's rules; ``problems`` lists what validation found."""

    def __init__(self, message: str, problems: list | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])


class StoreError(GeogridError):
    """The plan store cannot be opened or written."""


class NotFoundError(StoreError):
    """A plan, version or grid asked for does not exist in the store."""


class VersionStateError(StoreError):
    """A version cannot move to the asked state (e.g. activating a draft that was never approved)."""


class InvalidIncidentError(GeogridError):
    """An incident report or change has a value the model does not accept (HTTP 422)."""


class TransitionError(GeogridError):
    """An incident cannot move from its current status to the asked one (HTTP 409)."""


class IdempotencyConflictError(GeogridError):
    """An idempotency key was used before with a different request body (HTTP 422)."""


class AuthenticationError(GeogridError):
    """An API key is missing, unknown or revoked (HTTP 401)."""


class AccessDeniedError(GeogridError):
    """The caller's role may not do this at all (HTTP 403).

    A caller asking for an incident outside its grid gets :class:`NotFoundError` instead, so
    that it cannot learn the incident exists.
    """


class PreconditionFailedError(GeogridError):
    """A write names a stale state (``If-Match`` ETag no longer current); nothing changed (HTTP 412)."""


class PreconditionRequiredError(GeogridError):
    """A write that must name the state it changes (``If-Match``) did not (HTTP 428)."""
