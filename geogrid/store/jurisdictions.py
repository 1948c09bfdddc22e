"""Jurisdictions (辖区): the areas plans govern, their registry, and the checks between them.

A county's platform holds many plans at once: each street office or township (街道/乡镇) draws
and activates *its own* grids. Each plan version belongs to a **jurisdiction**, named by a code:
the code of the plan's one top-level grid (a street's plan with the street as level 1), or the
plan's name when its top level holds several grids. Versions are approved and activated per
jurisdiction, so many are active at once; the store refuses an activation whose top-level
grids overlap another jurisdiction's plan in force, or which reuses one of its grid codes.

The **registry** (table ``jurisdictions``) names each jurisdiction and the codes above the
plans — the county above its townships, the city above its counties — with parent links. A
key bound to the county covers every plan registered beneath it by those links, never by
comparing code strings (:func:`descendants`, :func:`ancestors`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence

import shapely
import sqlalchemy as sa
from shapely.geometry.base import BaseGeometry

from geogrid.errors import InvalidInputError, JurisdictionConflictError, NotFoundError
from geogrid.plan import GridPlan
from geogrid.store import schema
from geogrid.text import text_problem

__all__ = [
    "Jurisdiction",
    "ancestors",
    "check_neighbours",
    "descendants",
    "ensure_registered",
    "jurisdiction_of",
    "listing",
    "register",
    "registered",
    "require_registered",
    "top_codes",
]

_MAX_DEPTH = 12  # registry levels followed (province → … → community is well under this)
_OVERLAP_SHARE = 1e-6  # an overlap larger than this share of the smaller outline is refused
_IN_FORCE = ("active", "retired")


@dataclasses.dataclass(frozen=True)
class Jurisdiction:
    """One registered jurisdiction or code above the plans.

    Attributes
    ----------
    code
        Its code, e.g. ``410326`` (a county) or ``410326100`` (a township).
    name
        Its name, e.g. 汝阳县.
    parent_code
        The code it lies in (``None`` at the top of the registry).
    level_name
        What it is (县, 乡镇, 街道 …), as the plans' level names say.
    """

    code: str
    name: str
    parent_code: str | None = None
    level_name: str = ""


def jurisdiction_of(plan: GridPlan) -> str:
    """The jurisdiction code of ``plan``: its one top-level grid's code, else its name.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> grids = gpd.GeoDataFrame({"code": ["4103261", "410326101"], "name": ["城关镇", "一"],
    ...     "level": [1, 2], "parent_code": [None, "4103261"]},
    ...     geometry=[box(0, 0, 1, 1), box(0, 0, 1, 1)], crs=4490)
    >>> jurisdiction_of(GridPlan("城关镇", ["镇", "网格"], grids))
    '4103261'
    """
    top = plan.grids.loc[plan.grids["level"] == 1, "code"].dropna().astype(str)
    return str(top.iloc[0]) if len(top) == 1 else str(plan.name)


def register(
    connection: sa.Connection,
    code: str,
    name: str,
    *,
    parent: str | None = None,
    level_name: str = "",
    now: dt.datetime,
) -> Jurisdiction:
    """Add ``code`` to the registry, or update its name and parent; returns the entry.

    Raises :class:`NotFoundError` when the parent is not registered and
    :class:`JurisdictionConflictError` when it lies within ``code`` (a cycle).
    """
    code, name = _checked(code, "code"), _checked(name, "name")
    table = schema.jurisdictions
    if parent is not None:
        parent = _checked(parent, "parent code")
        if registered(connection, parent) is None:
            raise NotFoundError(
                f"the parent {parent!r} of jurisdiction {code!r} is not registered: register it "
                f"first (`geogrid store jurisdiction add {parent} NAME`)"
            )
        if code in ancestors(connection, parent) or code == parent:
            raise JurisdictionConflictError(
                f"{parent!r} lies within {code!r}: it cannot also be its parent"
            )
    found = registered(connection, code)
    values = {"name": name, "parent_code": parent, "level_name": level_name or ""}
    if found is None:
        connection.execute(table.insert().values(code=code, created_at=now, **values))
    else:
        if parent is None:
            values["parent_code"] = found.parent_code
        if not level_name:
            values["level_name"] = found.level_name
        connection.execute(table.update().where(table.c.code == code).values(values))
    entry = registered(connection, code)
    assert entry is not None
    return entry


def ensure_registered(
    connection: sa.Connection, plan: GridPlan, code: str, now: dt.datetime
) -> None:
    """Register ``plan``'s jurisdiction ``code`` if it is new (named after its top grid)."""
    if registered(connection, code) is not None:
        return
    top = plan.grids.loc[plan.grids["code"].astype(str) == code, "name"]
    name = str(top.iloc[0]) if len(top) else str(plan.name)
    level_name = plan.levels[0] if plan.levels else ""
    register(connection, code, name or code, level_name=level_name, now=now)


def registered(connection: sa.Connection, code: str) -> Jurisdiction | None:
    """The registry entry of ``code``, or ``None``."""
    table = schema.jurisdictions
    row = connection.execute(
        sa.select(table.c.code, table.c.name, table.c.parent_code, table.c.level_name).where(
            table.c.code == code
        )
    ).one_or_none()
    return None if row is None else Jurisdiction(*row)


def listing(connection: sa.Connection) -> list[Jurisdiction]:
    """Every registered jurisdiction, by code."""
    table = schema.jurisdictions
    query = sa.select(table.c.code, table.c.name, table.c.parent_code, table.c.level_name)
    return [Jurisdiction(*row) for row in connection.execute(query.order_by(table.c.code))]


def ancestors(connection: sa.Connection, code: str) -> tuple[str, ...]:
    """The registry codes above ``code``, top first (not ``code`` itself)."""
    table = schema.jurisdictions
    chain: list[str] = []
    current = code
    for _ in range(_MAX_DEPTH):
        parent = connection.scalar(sa.select(table.c.parent_code).where(table.c.code == current))
        if not parent or parent in chain or parent == code:
            break
        chain.append(parent)
        current = parent
    return tuple(reversed(chain))


def descendants(connection: sa.Connection, code: str) -> frozenset[str]:
    """``code`` and every registry code beneath it by parent links."""
    table = schema.jurisdictions
    found = {code}
    frontier = {code}
    for _ in range(_MAX_DEPTH):
        children = set(
            connection.scalars(sa.select(table.c.code).where(table.c.parent_code.in_(frontier)))
        )
        frontier = children - found
        if not frontier:
            break
        found |= frontier
    return frozenset(found)


def top_codes(connection: sa.Connection, jurisdictions: Iterable[str]) -> frozenset[str]:
    """The top-level grid codes of every stored version of ``jurisdictions``."""
    wanted = sorted(set(jurisdictions))
    if not wanted:
        return frozenset()
    versions, grids = schema.plan_versions, schema.grids
    query = (
        sa.select(grids.c.code)
        .join(versions, versions.c.id == grids.c.version_id)
        .where(versions.c.jurisdiction.in_(wanted), grids.c.level == 1)
        .distinct()
    )
    return frozenset(connection.scalars(query))


def check_neighbours(
    connection: sa.Connection, plan: GridPlan, jurisdiction: str, valid_from: dt.datetime
) -> None:
    """Refuse ``plan`` if it overlaps, or shares a grid code with, another jurisdiction's plan.

    Compared with every version of another jurisdiction in force at ``valid_from`` or later.
    Raises :class:`JurisdictionConflictError` naming the other plan and the grids.
    """
    others = _neighbour_versions(connection, jurisdiction, valid_from)
    if not others:
        return
    _check_codes(connection, plan, others)
    _check_overlap(connection, plan, others)


def _neighbour_versions(
    connection: sa.Connection, jurisdiction: str, valid_from: dt.datetime
) -> dict[int, tuple[str, int, str]]:
    table = schema.plan_versions
    query = sa.select(table.c.id, table.c.plan_name, table.c.version, table.c.jurisdiction).where(
        table.c.jurisdiction != jurisdiction,
        table.c.status.in_(_IN_FORCE),
        table.c.valid_from.is_not(None),
        sa.or_(table.c.valid_to.is_(None), table.c.valid_to > valid_from),
    )
    return {
        row.id: (row.plan_name, row.version, row.jurisdiction) for row in connection.execute(query)
    }


def _check_codes(
    connection: sa.Connection, plan: GridPlan, others: dict[int, tuple[str, int, str]]
) -> None:
    codes = sorted(set(plan.grids["code"].dropna().astype(str)))
    grids = schema.grids
    for start in range(0, len(codes), 5000):
        chunk = codes[start : start + 5000]
        query = sa.select(grids.c.code, grids.c.version_id).where(
            grids.c.code.in_(chunk), grids.c.version_id.in_(list(others))
        )
        clash = connection.execute(query.limit(1)).first()
        if clash is not None:
            name, version, other = others[clash.version_id]
            raise JurisdictionConflictError(
                f"grid code {clash.code!r} is already used by plan {name!r} version {version} "
                f"(jurisdiction {other!r}), which is in force: codes are unique across the "
                "county; renumber the grid or retire that plan first"
            )


def _check_overlap(
    connection: sa.Connection, plan: GridPlan, others: dict[int, tuple[str, int, str]]
) -> None:
    mine = plan.grids[plan.grids["level"] == 1]
    theirs = _top_geometries(connection, list(others))
    if not len(mine) or not theirs:
        return
    their_geoms = [geom for _, _, geom in theirs]
    tree = shapely.STRtree(their_geoms)
    for code, geom in zip(mine["code"], mine.geometry, strict=True):
        if geom is None or geom.is_empty:
            continue
        for hit in tree.query(geom, predicate="intersects"):
            version_id, other_code, other_geom = theirs[int(hit)]
            shared = shapely.area(shapely.intersection(geom, other_geom))
            if shared > _OVERLAP_SHARE * min(geom.area, other_geom.area):
                name, version, other = others[version_id]
                raise JurisdictionConflictError(
                    f"grid {code!r} overlaps grid {other_code!r} of plan {name!r} version "
                    f"{version} (jurisdiction {other!r}), which is in force "
                    f"({_share(shared, geom.area)} of {code!r}): jurisdictions may not "
                    "overlap; trim the outline along the shared boundary, or retire that plan"
                )


def _top_geometries(
    connection: sa.Connection, version_ids: Sequence[int]
) -> list[tuple[int, str, BaseGeometry]]:
    grids = schema.grids
    query = sa.select(grids.c.version_id, grids.c.code, grids.c.geom).where(
        grids.c.version_id.in_(version_ids), grids.c.level == 1
    )
    return [(r.version_id, r.code, r.geom) for r in connection.execute(query) if r.geom is not None]


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.2g} %" if whole > 0 else "all"


def _checked(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"a jurisdiction needs a {what}")
    problem = text_problem(value)
    if problem is not None:
        raise InvalidInputError(f"the jurisdiction {what} {problem}")
    return value.strip()


def require_registered(connection: sa.Connection, code: str) -> Jurisdiction:
    """The registry entry of ``code``, or :class:`NotFoundError` saying how to add it."""
    found = registered(connection, code)
    if found is None:
        raise NotFoundError(
            f"no jurisdiction {code!r} is registered: add it with "
            f"`geogrid store jurisdiction add {code} NAME [--parent CODE]`"
        )
    return found
