"""Incident categories: :class:`Taxonomy`, configurable per place, and the default one."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from geogrid.errors import InvalidIncidentError
from geogrid.incidents.urgency import Urgency

__all__ = ["DEFAULT_TAXONOMY", "Category", "Taxonomy"]


@dataclasses.dataclass(frozen=True)
class Category:
    """One incident category of a :class:`Taxonomy`.

    Attributes
    ----------
    code
        Stable identifier stored with each incident, e.g. ``"work_safety"``.
    name
        Chinese name shown to users, e.g. ``"安全生产"``.
    urgency
        Urgency given to a new case of this category unless the report says otherwise.
    focus
        One of the five focus areas of grid work (work safety, environment, emergency,
        petitions/stability, social assistance).
    name_en
        English name.
    """

    code: str
    name: str
    urgency: Urgency = Urgency.BLUE
    focus: bool = False
    name_en: str = ""


class Taxonomy:
    """The categories an incident may have, by code; each place may configure its own.

    Parameters
    ----------
    categories
        The categories; codes must be unique and non-empty.

    Examples
    --------
    >>> DEFAULT_TAXONOMY["work_safety"].name, DEFAULT_TAXONOMY["emergency"].urgency.value
    ('安全生产', 'red')
    >>> [c.code for c in DEFAULT_TAXONOMY if c.focus]
    ['work_safety', 'environment', 'emergency', 'petition', 'social_assistance']
    >>> mine = Taxonomy.from_records([{"code": "hornets", "name": "马蜂窝", "urgency": "red"}])
    >>> mine.resolve("drain")
    Traceback (most recent call last):
    ...
    geogrid.errors.InvalidIncidentError: unknown incident category 'drain': use one of hornets
    """

    def __init__(self, categories: Iterable[Category]) -> None:
        self._by_code: dict[str, Category] = {}
        for category in categories:
            if not category.code or not category.code.strip():
                raise InvalidIncidentError("a category needs a non-empty code")
            if category.code in self._by_code:
                raise InvalidIncidentError(f"category code {category.code!r} is given twice")
            self._by_code[category.code] = dataclasses.replace(
                category, urgency=Urgency(category.urgency)
            )
        if not self._by_code:
            raise InvalidIncidentError("a taxonomy needs at least one category")

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> Taxonomy:
        """Build from plain mappings (e.g. read from a JSON or YAML settings file)."""
        fields = {f.name for f in dataclasses.fields(Category)}
        categories = []
        for record in records:
            extra = set(record) - fields
            if extra:
                raise InvalidIncidentError(
                    f"unknown category field(s) {sorted(extra)}: use {sorted(fields)}"
                )
            try:
                categories.append(Category(**record))
            except TypeError as exc:
                raise InvalidIncidentError(f"category {dict(record)!r}: {exc}") from exc
        return cls(categories)

    def __getitem__(self, code: str) -> Category:
        return self._by_code[code]

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[Category]:
        return iter(self._by_code.values())

    def __len__(self) -> int:
        return len(self._by_code)

    def __repr__(self) -> str:
        return f"Taxonomy({', '.join(self._by_code)})"

    @property
    def codes(self) -> list[str]:
        """Category codes in the order they were given."""
        return list(self._by_code)

    def resolve(self, code: str) -> Category:
        """The category ``code``, or :class:`InvalidIncidentError` listing the valid codes."""
        try:
            return self._by_code[code]
        except (KeyError, TypeError):
            raise InvalidIncidentError(
                f"unknown incident category {code!r}: use one of {', '.join(self._by_code)}"
            ) from None


DEFAULT_TAXONOMY = Taxonomy(
    [
        Category("work_safety", "安全生产", Urgency.YELLOW, True, "work safety"),
        Category("environment", "环境卫生", Urgency.BLUE, True, "environment and sanitation"),
        Category("emergency", "应急管理", Urgency.RED, True, "emergency management"),
        Category("petition", "信访维稳", Urgency.YELLOW, True, "petitions and stability"),
        Category("social_assistance", "社会救助", Urgency.BLUE, True, "social assistance"),
        Category("dispute", "矛盾纠纷", Urgency.BLUE, False, "disputes and mediation"),
        Category("public_order", "社会治安", Urgency.YELLOW, False, "public order"),
        Category("facilities", "市政设施", Urgency.BLUE, False, "public facilities"),
        Category("other", "其他", Urgency.BLUE, False, "other"),
    ]
)
"""The five focus areas of grid work, then disputes, public order, facilities and other."""
