"""Who may do what: roles, API keys, grid scopes and the masking of personal information.

Every request comes from a :class:`Caller`: a role and, optionally, the code its API key is
bound to. A key bound to a grid covers that grid's **subtree**, followed through the plans'
parent links — never by comparing code strings, since two sibling codes may be prefixes of each
other (``110108001001`` and ``1101080010011``). A key may also be bound to a registered
jurisdiction above the plans' top level, e.g. a county (县) over its townships' plans: it
covers every plan registered beneath it by the registry's parent links (:class:`Subtree`).

================ ==================================================================
role             may
================ ==================================================================
``reporter``     locate points and report incidents; never reads incidents
``worker``       the above, and read and change the incidents of its grid subtree
                 (a worker key must be bound to a grid), reporters' contacts in clear
``supervisor``   locate; read incidents and statistics of its subtree (contacts masked);
                 approve and activate the plan versions of the jurisdictions it covers
``planner``      locate; save and read the plans (and change the staff) of the
                 jurisdictions it covers; no approving, no incidents
``admin``        everything, including API keys and the audit log
================ ==================================================================

Reporters' names and phone numbers are personal information under the PIPL
(《个人信息保护法》): roles without :attr:`Permission.READ_PERSONAL` see them masked
(:func:`mask_name`, :func:`mask_phone`).

Examples
--------
>>> worker = Caller("王芳", Role.WORKER, grid_code="110108001001")
>>> worker.covers(("110108001001", "110108001001003")), worker.covers(("1101080010011",))
(True, False)
>>> street = Caller("街道", Role.SUPERVISOR, grid_code="110108", tops=frozenset({"110108001001"}))
>>> street.covers(("110108001001", "110108001001003")), street.covers(None)
(True, False)
>>> require(Caller("app", Role.REPORTER), Permission.READ_INCIDENTS)
Traceback (most recent call last):
...
geogrid.errors.AccessDeniedError: app (reporter) may not read incidents: that needs the role admin, supervisor or worker
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from geogrid.errors import AccessDeniedError, AuthenticationError, InvalidInputError
from geogrid.incidents import Incident
from geogrid.text import text_problem

__all__ = [
    "GRID_REQUIRED",
    "KEY_PREFIX",
    "ROLE_PERMISSIONS",
    "ApiKey",
    "AuditEntry",
    "Caller",
    "Lineage",
    "Permission",
    "Role",
    "Subtree",
    "generate_key",
    "hash_key",
    "key_matches",
    "key_prefix",
    "mask_incident",
    "mask_name",
    "mask_phone",
    "require",
]

KEY_PREFIX = "ggk_"
"""Every raw API key starts with this, so leaked keys are easy to recognise and scan for."""

_KEY_BYTES = 32  # 256 bits of randomness: a fast hash (SHA-256) is then safe to store
_SHOWN = 8  # characters after the prefix kept in the clear, to tell keys apart


class Role(StrEnum):
    """Role of an API key."""

    REPORTER = "reporter"  # 上报人 / the reporting app or hotline
    WORKER = "worker"  # 网格员
    SUPERVISOR = "supervisor"  # 督办 / street or district supervisor
    PLANNER = "planner"  # 网格规划
    ADMIN = "admin"  # 管理员

    @classmethod
    def parse(cls, value: Role | str) -> Role:
        """The role named ``value``, or :class:`InvalidInputError` listing the roles."""
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(r.value for r in cls)
            raise InvalidInputError(f"unknown role {value!r}: use one of {names}") from None


class Permission(StrEnum):
    """Something a role may do."""

    LOCATE = "locate points"
    REPORT = "report incidents"
    READ_INCIDENTS = "read incidents"
    CHANGE_INCIDENTS = "change incidents"
    READ_STATS = "read statistics"
    READ_PERSONAL = "read personal information in clear"
    MANAGE_PLANS = "manage plans and staff"
    APPROVE_PLANS = "approve and activate plan versions"
    MANAGE_KEYS = "manage API keys"
    READ_AUDIT = "read the audit log"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.REPORTER: frozenset({Permission.LOCATE, Permission.REPORT}),
    Role.WORKER: frozenset(
        {
            Permission.LOCATE,
            Permission.REPORT,
            Permission.READ_INCIDENTS,
            Permission.CHANGE_INCIDENTS,
            Permission.READ_PERSONAL,
        }
    ),
    Role.SUPERVISOR: frozenset(
        {
            Permission.LOCATE,
            Permission.READ_INCIDENTS,
            Permission.READ_STATS,
            Permission.APPROVE_PLANS,
        }
    ),
    Role.PLANNER: frozenset({Permission.LOCATE, Permission.MANAGE_PLANS}),
    Role.ADMIN: frozenset(Permission),
}
"""The one table of who may do what."""

GRID_REQUIRED: frozenset[Role] = frozenset({Role.WORKER})
"""Roles whose keys must be bound to a grid."""


Lineage = Sequence[str]
"""Codes of a grid and its ancestors by parent links, from the top level down to the grid."""


@dataclasses.dataclass(frozen=True)
class Subtree:
    """Everything beneath one code: the one rule of who covers what (keys, filters, scopes).

    Attributes
    ----------
    code
        A grid code, or a registered jurisdiction's code (a county, township, street …;
        :mod:`geogrid.store.jurisdictions`).
    tops
        The codes reached from ``code`` down the jurisdiction registry's parent links: the
        jurisdictions beneath it and the top-level grids of their plans. Empty for a code with
        nothing registered beneath it.

    A grid is in the subtree when ``code`` is in its lineage (its ancestors by the plans'
    parent links), or when its lineage starts at one of ``tops``. Codes are never compared as
    strings: ``110108001001`` does not hold ``1101080010011``.

    Examples
    --------
    >>> community = Subtree("110108001001")
    >>> community.contains(("110108001001", "110108001001004")), community.contains(("1101080010011",))
    (True, False)
    >>> county = Subtree("410326", tops=frozenset({"410326100", "410326101"}))
    >>> county.contains(("410326100", "410326100001")), county.contains(("4103261000",))
    (True, False)
    """

    code: str
    tops: frozenset[str] = frozenset()

    def contains(self, lineage: Lineage | None) -> bool:
        """Whether the grid with this ``lineage`` (top level first) is in the subtree."""
        if not lineage:
            return False
        return self.code in lineage or lineage[0] in self.tops


@dataclasses.dataclass(frozen=True)
class Caller:
    """Who makes a request: a name for the audit log, a role and an optional grid scope.

    Attributes
    ----------
    name
        Recorded in histories and the audit log (the key's label, or a user name).
    role
        The :class:`Role`.
    grid_code
        The code whose subtree the caller covers (:class:`Subtree`); ``None``: everything.
    key_id
        Id of the API key used, ``None`` for local callers (CLI, scripts).
    tops
        What ``grid_code`` reaches down the jurisdiction registry (:attr:`Subtree.tops`);
        the store sets it when it authenticates a key.
    """

    name: str
    role: Role
    grid_code: str | None = None
    key_id: int | None = None
    tops: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidInputError("a caller needs a name (recorded in the audit log)")
        problem = text_problem(self.name)
        if problem is not None:
            raise InvalidInputError(f"the name {problem}")
        object.__setattr__(self, "role", Role.parse(self.role))
        if self.grid_code is not None and not str(self.grid_code).strip():
            object.__setattr__(self, "grid_code", None)

    @classmethod
    def local(cls, name: str) -> Caller:
        """An administrator working on the store directly (CLI, scripts), with no key."""
        return cls(name, Role.ADMIN)

    @property
    def identity(self) -> str:
        """A stable identity of the caller: its key id, else its name."""
        return f"key:{self.key_id}" if self.key_id is not None else f"name:{self.name}"

    def can(self, permission: Permission) -> bool:
        """Whether the caller's role has ``permission``."""
        return permission in ROLE_PERMISSIONS[self.role]

    @property
    def subtree(self) -> Subtree | None:
        """The caller's :class:`Subtree`; ``None`` for a caller bound to no grid (everything)."""
        return None if self.grid_code is None else Subtree(self.grid_code, self.tops)

    def covers(self, lineage: Lineage | None) -> bool:
        """Whether the grid with ``lineage`` (its codes from the top level down) is the caller's.

        ``None`` or empty (an incident outside every grid, a key bound to no grid) is covered
        only by callers bound to no grid.
        """
        subtree = self.subtree
        return subtree is None or subtree.contains(lineage)


def require(caller: Caller, permission: Permission) -> None:
    """Raise :class:`AccessDeniedError` unless ``caller``'s role has ``permission``."""
    if caller.can(permission):
        return
    roles = sorted(r.value for r, perms in ROLE_PERMISSIONS.items() if permission in perms)
    raise AccessDeniedError(
        f"{caller.name} ({caller.role.value}) may not {permission.value}: that needs the role "
        f"{_or(roles)}"
    )


@dataclasses.dataclass(frozen=True)
class ApiKey:
    """A stored API key, without its secret (the store keeps only a hash).

    Attributes
    ----------
    id
        Key id (in audit rows as ``key_id``).
    prefix
        The first characters of the raw key (``ggk_`` and 8 more), to recognise it.
    name
        Label given at creation, e.g. the worker's name or the app's.
    role, grid_code
        What the key may do, and where.
    created_by, created_at, revoked_by, revoked_at
        Who made and revoked it, and when; a revoked key authenticates nobody.
    """

    id: int
    prefix: str
    name: str
    role: Role
    grid_code: str | None
    created_by: str
    created_at: dt.datetime
    revoked_by: str | None = None
    revoked_at: dt.datetime | None = None

    @property
    def active(self) -> bool:
        """Whether the key still authenticates."""
        return self.revoked_at is None

    def caller(self, *, tops: frozenset[str] = frozenset()) -> Caller:
        """The :class:`Caller` a request made with this key acts as (``tops``: its reach)."""
        return Caller(self.name, self.role, self.grid_code, self.id, tops)


@dataclasses.dataclass(frozen=True)
class AuditEntry:
    """One row of the audit log: who (name, role, key) did what to which object, when."""

    id: int | None
    at: dt.datetime
    actor: str
    role: str
    key_id: int | None
    action: str
    object_type: str
    object_id: str | None
    details: dict[str, Any]


def generate_key() -> str:
    """A new raw API key (``ggk_`` + 43 URL-safe characters), shown to its owner once.

    Examples
    --------
    >>> key = generate_key()
    >>> key.startswith("ggk_"), len(key), key != generate_key()
    (True, 47, True)
    """
    return KEY_PREFIX + secrets.token_urlsafe(_KEY_BYTES)


def hash_key(raw_key: str) -> str:
    """The SHA-256 (hex) of a raw key: what the store keeps instead of the key.

    A key carries 256 random bits, so unlike a password it needs no slow, salted hash: the
    hash cannot be reversed or guessed, and it lets the store find the key by an index.

    Examples
    --------
    >>> hash_key("ggk_example")[:16]
    'a4783e478b2baa99'
    """
    if not isinstance(raw_key, str) or not raw_key.startswith(KEY_PREFIX):
        raise AuthenticationError(
            f"not a geogrid API key: keys start with {KEY_PREFIX!r}; create one with "
            "`geogrid keys create --role ROLE`"
        )
    return hashlib.sha256(raw_key.encode()).hexdigest()


def key_matches(raw_key: str, key_hash: str) -> bool:
    """Whether ``raw_key`` hashes to ``key_hash`` (compared in constant time)."""
    return hmac.compare_digest(hash_key(raw_key), key_hash)


def key_prefix(raw_key: str) -> str:
    """The part of a raw key kept in the clear: ``ggk_`` and the next 8 characters."""
    return raw_key[: len(KEY_PREFIX) + _SHOWN]


def mask_name(name: str | None) -> str | None:
    """A name with all but its first character masked (张三 → 张*).

    Examples
    --------
    >>> mask_name("张三"), mask_name("欧阳娜娜"), mask_name("Li Lei"), mask_name(None)
    ('张*', '欧***', 'L*****', None)
    """
    if not name:
        return name
    return name[0] + "*" * (len(name) - 1)


def mask_phone(phone: str | None) -> str | None:
    """A phone number with its middle digits masked (13800000001 → 138****0001).

    The four digits before the last four are masked (all digits of a number of four digits
    or fewer); separators and a country code stay as they are.

    Examples
    --------
    >>> mask_phone("13800000001"), mask_phone("+86 138-0000-0001"), mask_phone("010-62781234")
    ('138****0001', '+86 138-****-0001', '010-****1234')
    >>> mask_phone("12345"), mask_phone("110"), mask_phone(None)
    ('*2345', '***', None)
    """
    if not phone:
        return phone
    positions = [i for i, ch in enumerate(phone) if ch.isdigit()]
    tail = 4 if len(positions) > 4 else 0
    end = len(positions) - tail
    hidden = set(positions[max(0, end - 4) : end])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(phone))


def mask_incident(incident: Incident, caller: Caller) -> Incident:
    """``incident`` with the reporter's name and phone masked unless ``caller`` may read them."""
    if caller.can(Permission.READ_PERSONAL):
        return incident
    return dataclasses.replace(
        incident,
        reporter_name=mask_name(incident.reporter_name),
        reporter_phone=mask_phone(incident.reporter_phone),
    )


def _or(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
