"""Staff roles (人员角色): who a grid's people are, their Chinese names, and one order.

A grid's staff table names each person's role by a stable **key** (``head``, ``full_time`` …).
What the keys mean, what they are called on signs and maps, and the order people are listed
in everywhere (``/locate``, ``geogrid locate``, the web map, the wall-map legend, 公示牌 and
直通卡, reports) is one :class:`RoleSet`; every module asks :func:`current_roles` for it, so a
place that has 楼栋长 or calls its heads differently configures that once:

* a file named by ``GEOGRID_ROLES_FILE`` (:class:`~geogrid.settings.Settings`), TOML or JSON,
  read by :func:`load_roles`;
* in code, :func:`use_roles` (a ``with`` block, per thread or task) or :func:`set_roles`
  (the whole process).

These are the roles of **grid staff**; what an API key may do is :class:`geogrid.access.Role`.

Examples
--------
>>> roles = current_roles()
>>> roles.keys
('head', 'full_time', 'part_time', 'instructor', 'micro_head')
>>> roles.parse("专职"), roles.parse("网格长"), roles.label("part_time")
('full_time', 'head', '兼职网格员')
>>> sorted(["part_time", "head", "full_time"], key=roles.sort_key)
['head', 'full_time', 'part_time']
>>> roles.parse("楼长")
Traceback (most recent call last):
...
geogrid.errors.InvalidPlanError: unknown staff role '楼长': use one of head (网格长), full_time (专职网格员), part_time (兼职网格员), instructor (网格指导员), micro_head (微网格长) — a key, its Chinese name or an alias (专职, 兼职, 指导员); add roles with a roles file (GEOGRID_ROLES_FILE)
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import json
import os
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from geogrid.errors import ConfigurationError, InvalidInputError, InvalidPlanError
from geogrid.settings import Settings

__all__ = [
    "DEFAULT_ROLES",
    "Role",
    "RoleSet",
    "configured_roles",
    "current_roles",
    "load_roles",
    "set_roles",
    "use_roles",
]

_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
_FIELDS = ("key", "name", "name_en", "head", "worker", "aliases")
_P = TypeVar("_P")


@dataclasses.dataclass(frozen=True)
class Role:
    """One staff role of a :class:`RoleSet`.

    Attributes
    ----------
    key
        Stable identifier kept in plans and stores: lower-case letters, digits and ``_``,
        starting with a letter, e.g. ``"head"``.
    name
        Chinese name printed on signs, cards and maps, e.g. ``"网格长"``.
    name_en
        English name, e.g. ``"grid head"``.
    head
        Whether a person of this role is the grid's responsible head (the legend's and the
        cards' 网格长).
    worker
        Whether a person of this role is the grid worker residents contact (the legend's
        网格员 column, the number on a card); the first such role of the set a grid has
        wins (full-time before part-time).
    aliases
        Other spellings accepted on input, e.g. ``("专职",)``.
    """

    key: str
    name: str
    name_en: str = ""
    head: bool = False
    worker: bool = False
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_key(self.key)
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidInputError(
                f'staff role {self.key!r} needs a Chinese name (name), e.g. "楼栋长"'
            )
        aliases = (self.aliases,) if isinstance(self.aliases, str) else tuple(self.aliases)
        if not all(isinstance(a, str) and a.strip() for a in aliases):
            raise InvalidInputError(
                f"staff role {self.key!r}: aliases must be a list of non-empty names"
            )
        object.__setattr__(self, "name", self.name.strip())
        object.__setattr__(self, "aliases", tuple(a.strip() for a in aliases))
        for flag in ("head", "worker"):
            if not isinstance(getattr(self, flag), bool):
                raise InvalidInputError(f"staff role {self.key!r}: {flag} must be true or false")

    @property
    def spellings(self) -> tuple[str, ...]:
        """Every text that names this role on input: key, Chinese name, aliases."""
        return (self.key, self.name, *self.aliases)


class RoleSet:
    """The staff roles of a place, in the order people are listed everywhere.

    Parameters
    ----------
    roles
        The roles, first listed first; keys, names and aliases must not repeat.

    Raises
    ------
    InvalidInputError
        When the set is empty or two roles share a key, name or alias.

    Examples
    --------
    >>> mine = RoleSet([Role("head", "网格长", head=True), Role("building_head", "楼栋长"),
    ...                 Role("full_time", "专职网格员", worker=True)])
    >>> mine.keys, mine.head_keys, mine.worker_keys
    (('head', 'building_head', 'full_time'), ('head',), ('full_time',))
    >>> mine["楼栋长"].key, mine.label("building_head")
    ('building_head', '楼栋长')
    """

    def __init__(self, roles: Iterable[Role]) -> None:
        self._roles = tuple(roles)
        if not self._roles:
            raise InvalidInputError("a role set needs at least one staff role, e.g. head 网格长")
        if not all(isinstance(r, Role) for r in self._roles):
            raise InvalidInputError("a role set is made of Role objects")
        self._by_spelling: dict[str, Role] = {}
        for role in self._roles:
            for spelling in dict.fromkeys(role.spellings):
                other = self._by_spelling.setdefault(spelling, role)
                if other is not role:
                    raise InvalidInputError(
                        f"staff roles {other.key!r} and {role.key!r} are both called "
                        f"{spelling!r}: give every role its own key, name and aliases"
                    )
        self._rank = {role.key: i for i, role in enumerate(self._roles)}

    def __iter__(self) -> Iterator[Role]:
        return iter(self._roles)

    def __len__(self) -> int:
        return len(self._roles)

    def __contains__(self, value: object) -> bool:
        return self.get(value) is not None

    def __getitem__(self, value: object) -> Role:
        """The role ``value`` names (key, Chinese name or alias); :meth:`parse` says why not."""
        return self._roles[self._rank[self.parse(value)]]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RoleSet) and self._roles == other._roles

    def __hash__(self) -> int:
        return hash(self._roles)

    def __repr__(self) -> str:
        return f"RoleSet({', '.join(f'{r.key}={r.name}' for r in self._roles)})"

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys, in order."""
        return tuple(self._rank)

    @property
    def spellings(self) -> tuple[str, ...]:
        """Every text :meth:`parse` accepts (keys, Chinese names, aliases), in role order."""
        return tuple(self._by_spelling)

    @property
    def head_keys(self) -> tuple[str, ...]:
        """Keys of the roles whose holder is the grid's responsible head, in order."""
        return tuple(r.key for r in self._roles if r.head)

    @property
    def worker_keys(self) -> tuple[str, ...]:
        """Keys of the roles residents contact (legend, cards), in order."""
        return tuple(r.key for r in self._roles if r.worker)

    def get(self, value: object) -> Role | None:
        """The role ``value`` names (key, Chinese name or alias; spaces around ignored)."""
        if not isinstance(value, str):
            return None
        return self._by_spelling.get(value.strip())

    def parse(self, value: object) -> str:
        """The key of the role ``value`` names.

        Raises
        ------
        InvalidPlanError
            When no role is called ``value``; the message lists every key with its Chinese
            name, and the aliases.
        """
        role = self.get(value)
        if role is None:
            raise InvalidPlanError(f"unknown staff role {_shown(value)}: {self.describe()}")
        return role.key

    def describe(self) -> str:
        """What a valid role is, for messages and API documentation."""
        listed = ", ".join(f"{r.key} ({r.name})" for r in self._roles)
        aliases = [a for r in self._roles for a in r.aliases]
        also = f" ({', '.join(aliases)})" if aliases else ""
        return (
            f"use one of {listed} — a key, its Chinese name or an alias{also}; "
            "add roles with a roles file (GEOGRID_ROLES_FILE)"
        )

    def label(self, key: object) -> str:
        """The Chinese name of role ``key`` (a key, name or alias); unknown: the text itself."""
        role = self.get(key)
        return role.name if role is not None else str(key)

    def sort_key(self, value: object) -> int:
        """Position of role ``value`` in the set (unknown roles after every known one)."""
        role = self.get(value)
        return self._rank[role.key] if role is not None else len(self._roles)

    def heads(self, people: Sequence[_P]) -> list[_P]:
        """The people whose role is a head role, in role order (then in their own order).

        A person is a mapping with a ``role`` key or an object with a ``role`` attribute
        (e.g. :class:`~geogrid.store.staff.StaffMember`); so for :meth:`workers`.
        """
        return sorted((p for p in people if self._is(p, self.head_keys)), key=self._person)

    def workers(self, people: Sequence[_P]) -> list[_P]:
        """The people of the first worker role (in set order) any of ``people`` holds.

        The grid worker residents contact: full-time workers when the grid has any, else
        part-time ones, with the default roles.

        Examples
        --------
        >>> staff = [{"role": "part_time", "name": "赵"}, {"role": "head", "name": "王"}]
        >>> [p["name"] for p in DEFAULT_ROLES.workers(staff)]
        ['赵']
        """
        for key in self.worker_keys:
            found = [p for p in people if self._is(p, (key,))]
            if found:
                return found
        return []

    @staticmethod
    def _is(person: object, keys: tuple[str, ...]) -> bool:
        return _role_of(person) in keys

    def _person(self, person: object) -> int:
        return self.sort_key(_role_of(person))

    def to_records(self) -> list[dict[str, Any]]:
        """The roles as plain records, the format :meth:`from_records` and role files use."""
        return [dataclasses.asdict(r) | {"aliases": list(r.aliases)} for r in self._roles]

    @classmethod
    def from_records(
        cls, records: Iterable[Mapping[str, Any]], base: RoleSet | None = None
    ) -> RoleSet:
        """A role set from records, in order.

        Fields: ``key``, ``name``, ``name_en``, ``head``, ``worker``, ``aliases``. A record whose ``key`` is a role of ``base`` (default :data:`DEFAULT_ROLES`) takes
        the fields it leaves out from that role, so ``{"key": "head"}`` is the default head.

        Examples
        --------
        >>> RoleSet.from_records([{"key": "head"}, {"key": "building_head", "name": "楼栋长"},
        ...                       {"key": "full_time"}]).keys
        ('head', 'building_head', 'full_time')
        """
        base = DEFAULT_ROLES if base is None else base
        return cls(_role(record, base, i) for i, record in enumerate(records, start=1))


def _role(record: Mapping[str, Any], base: RoleSet, number: int) -> Role:
    if not isinstance(record, Mapping):
        raise InvalidInputError(f"staff role {number} must be a table/object with key and name")
    unknown = sorted(set(record) - set(_FIELDS))
    if unknown:
        raise InvalidInputError(
            f"staff role {number} has unknown field(s) {', '.join(unknown)}; "
            f"use {', '.join(_FIELDS)}"
        )
    key = record.get("key")
    _check_key(key)
    known = base.get(key) if isinstance(key, str) and key in base.keys else None
    values = dataclasses.asdict(known) if known is not None else {}
    values |= dict(record)
    if "name" not in values:
        raise InvalidInputError(
            f'staff role {number} ({key!r}) needs a Chinese name (name), e.g. "楼栋长"'
        )
    return Role(**values)


def _role_of(person: object) -> object:
    return person.get("role") if isinstance(person, Mapping) else getattr(person, "role", None)


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise InvalidInputError(
            f"staff role key {key!r} must be lower-case letters, digits and _, "
            'starting with a letter (at most 40), e.g. "building_head"'
        )


def _shown(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


DEFAULT_ROLES = RoleSet(
    [
        Role("head", "网格长", "grid head", head=True),
        Role("full_time", "专职网格员", "full-time grid worker", worker=True, aliases=("专职",)),
        Role("part_time", "兼职网格员", "part-time grid worker", worker=True, aliases=("兼职",)),
        Role("instructor", "网格指导员", "grid instructor", aliases=("指导员",)),
        Role("micro_head", "微网格长", "micro-grid head", head=True),
    ]
)
"""The roles used when nothing is configured, in their listing order: 网格长, 专职网格员,
兼职网格员, 网格指导员 (a cadre guiding the grid), 微网格长 (head of a micro-grid, e.g. the
1,352 of Jinyuan street)."""


# --------------------------------------------------------------------------- configuration

_scoped: contextvars.ContextVar[RoleSet | None] = contextvars.ContextVar(
    "geogrid_roles", default=None
)
_process: list[RoleSet | None] = [None]


def current_roles() -> RoleSet:
    """The staff roles in force, which every module uses.

    :func:`use_roles` in this thread or task, else :func:`set_roles`, else the file
    ``GEOGRID_ROLES_FILE`` names, else :data:`DEFAULT_ROLES`.
    """
    scoped = _scoped.get()
    if scoped is not None:
        return scoped
    if _process[0] is not None:
        return _process[0]
    if not any(k.upper() == "GEOGRID_ROLES_FILE" and v.strip() for k, v in os.environ.items()):
        return DEFAULT_ROLES
    return configured_roles(Settings())


@contextmanager
def use_roles(roles: RoleSet) -> Iterator[RoleSet]:
    """Use ``roles`` inside the ``with`` block (this thread or task, and what it starts).

    Examples
    --------
    >>> mine = RoleSet([Role("head", "网格长", head=True), Role("building_head", "楼栋长")])
    >>> with use_roles(mine):
    ...     current_roles().parse("楼栋长")
    'building_head'
    >>> current_roles() is DEFAULT_ROLES
    True
    """
    if not isinstance(roles, RoleSet):
        raise InvalidInputError(f"use_roles takes a RoleSet, not {type(roles).__name__}")
    token = _scoped.set(roles)
    try:
        yield roles
    finally:
        _scoped.reset(token)


def set_roles(roles: RoleSet | None) -> None:
    """Use ``roles`` in the whole process from now on (``None``: back to the configuration)."""
    if roles is not None and not isinstance(roles, RoleSet):
        raise InvalidInputError(f"set_roles takes a RoleSet or None, not {type(roles).__name__}")
    _process[0] = roles


def configured_roles(settings: Settings) -> RoleSet:
    """The roles ``settings`` name: its ``roles_file``, else :data:`DEFAULT_ROLES`."""
    if settings.roles_file is None:
        return DEFAULT_ROLES
    return load_roles(settings.roles_file)


def load_roles(path: str | os.PathLike[str]) -> RoleSet:
    """Read a role set from a TOML or JSON file (read again only when the file changes).

    TOML: a ``[[roles]]`` table per role; JSON: a list of role objects, or ``{"roles": [...]}``.
    Fields as :meth:`RoleSet.from_records` takes them::

        [[roles]]
        key = "head"                # the default 网格长, as is
        [[roles]]
        key = "building_head"
        name = "楼栋长"
        name_en = "building head"
        aliases = ["楼长"]
        [[roles]]
        key = "full_time"
        [[roles]]
        key = "part_time"

    Raises
    ------
    ConfigurationError
        When the file cannot be read or holds no valid role set; the message names the file.
    """
    file = Path(path).expanduser()
    try:
        stat = file.stat()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the staff roles file {file} (GEOGRID_ROLES_FILE): {exc.strerror}; "
            "fix the path or unset the setting to use the default roles"
        ) from exc
    return _load(str(file), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _load(path: str, mtime_ns: int, size: int) -> RoleSet:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
        data: Any = tomllib.loads(text) if file.suffix.lower() == ".toml" else json.loads(text)
        records = data.get("roles") if isinstance(data, dict) else data
        if not isinstance(records, list):
            raise InvalidInputError(
                'it must hold a list of roles: [[roles]] tables in TOML, or {"roles": [...]} '
                "or a list in JSON"
            )
        return RoleSet.from_records(records)
    except (OSError, ValueError, InvalidInputError) as exc:
        raise ConfigurationError(
            f"the staff roles file {file} (GEOGRID_ROLES_FILE) is not a valid role set: {exc}"
        ) from exc
