"""The geogrid exception family, in one taxonomy.

Every error a planner can meet derives from :class:`GeogridError`, and every message says
what went wrong *and* what to do about it. The family has five branches, each with one HTTP
status in the service's table (``api/errors.py``); the CLI prints the message on one line:

=============================== ======= ================================================
branch                          HTTP    meaning
=============================== ======= ================================================
:class:`InvalidInputError`      4xx     the caller's input is wrong (422 unless a subclass
                                        says 400/401/403/404/412/413/428)
:class:`ConflictError`          409     the input is fine but clashes with the current state
:class:`StoreUnavailableError`  503     the store cannot be reached now (connection lost):
                                        retry later; nothing was written
:class:`ConfigurationError`     500     the installation or the server is at fault (no CJK
                                        font, a store URL that cannot work, a corrupt store
                                        file); the message tells the operator what to fix
:class:`StoreError`             500     a store fault that is none of the above
=============================== ======= ================================================

Examples
--------
>>> issubclass(CoordinateError, InvalidInputError), issubclass(TransitionError, ConflictError)
(True, True)
>>> issubclass(StoreUnavailableError, StoreError), issubclass(NotFoundError, StoreError)
(True, False)
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "AuthenticationError",
    "CRSError",
    "ConfigurationError",
    "ConflictError",
    "CoordinateError",
    "GeogridError",
    "IdempotencyConflictError",
    "InvalidIncidentError",
    "InvalidInputError",
    "InvalidPlanError",
    "JurisdictionConflictError",
    "NoActivePlanError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PlanFileError",
    "PreconditionFailedError",
    "PreconditionRequiredError",
    "StoreError",
    "StoreUnavailableError",
    "TransitionError",
    "VersionStateError",
]


class GeogridError(Exception):
    """Base class of every error geogrid raises on purpose."""


# -- the caller's input (4xx) -------------------------------------------------------------------


class InvalidInputError(GeogridError):
    """The caller's input is wrong: a value, an option, a file (HTTP 422)."""


class PlanFileError(InvalidInputError):
    """A file cannot be read as a plan, households or boundaries (wrong format, no geometry...)."""


class CRSError(InvalidInputError):
    """A coordinate reference system is missing, unknown or does not fit the coordinates."""


class CoordinateError(InvalidInputError):
    """A coordinate is out of range, not finite, or has latitude and longitude swapped."""


class InvalidPlanError(InvalidInputError):
    """A plan breaks the model's rules; ``problems`` lists what validation found."""

    def __init__(self, message: str, problems: list | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])


class InvalidIncidentError(InvalidInputError):
    """An incident report or change has a value the model does not accept (HTTP 422)."""


class IdempotencyConflictError(InvalidInputError):
    """An idempotency key was used before with a different request body (HTTP 422)."""


class NotFoundError(InvalidInputError):
    """A plan, version, grid, incident or key asked for does not exist (HTTP 404)."""


class NoActivePlanError(NotFoundError):
    """No plan is active (or none was active at the time asked about) (HTTP 404)."""


class AuthenticationError(InvalidInputError):
    """An API key is missing, unknown or revoked (HTTP 401)."""


class AccessDeniedError(InvalidInputError):
    """The caller's role may not do this at all (HTTP 403).

    A caller asking for an incident outside its grid gets :class:`NotFoundError` instead, so
    that it cannot learn the incident exists.
    """


class PreconditionFailedError(InvalidInputError):
    """A write names a stale state (``If-Match`` ETag no longer current); nothing changed (HTTP 412)."""


class PreconditionRequiredError(InvalidInputError):
    """A write that must name the state it changes (``If-Match``) did not (HTTP 428)."""


class PayloadTooLargeError(InvalidInputError):
    """A request body, batch or file is over its cap (HTTP 413)."""


# -- the current state (409) --------------------------------------------------------------------


class ConflictError(GeogridError):
    """The request is well formed but clashes with what is stored now (HTTP 409)."""


class TransitionError(ConflictError):
    """An incident cannot move from its current status to the asked one (HTTP 409)."""


class VersionStateError(ConflictError):
    """A version cannot move to the asked state (e.g. activating a draft never approved)."""


class JurisdictionConflictError(ConflictError):
    """A plan would overlap, or share grid codes with, another jurisdiction's plan in force."""


# -- the store and the installation (5xx) -------------------------------------------------------


class StoreError(GeogridError):
    """The plan store failed in a way the caller cannot fix (HTTP 500)."""


class StoreUnavailableError(StoreError):
    """The store cannot be reached now (connection refused or lost, file locked): retry (503)."""


class ConfigurationError(GeogridError):
    """The installation is at fault — a missing font, an unusable store URL (HTTP 500)."""
