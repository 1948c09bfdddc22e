"""``/people``: grid workers as people, with their assignments across versions and redraws.

A staff row says who holds a grid's role in one plan version; the store links every row to a
person (:mod:`geogrid.store.people`), so ``GET /people/{id}`` answers "王芳 was head of grid A
from 2025-01-01 to 2026-03-01, then of grid B". Keys of every role but ``reporter`` read them;
a key bound to a code sees only people with an assignment in its subtree, and only those
assignments; phones are masked (138****0000) unless the key may read personal information.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from api.auth import CurrentCaller, store_of
from api.schemas_people import PersonOut
from geogrid.roles import current_roles
from geogrid.store import PlanStore
from geogrid.store.people import MAX_QUERY

__all__ = ["router"]

router = APIRouter(tags=["people"])

Store = Annotated[PlanStore, Depends(store_of)]


@router.get("/people", response_model=list[PersonOut])
def find_people(
    caller: CurrentCaller,
    store: Store,
    q: Annotated[
        str,
        Query(
            max_length=MAX_QUERY,
            pattern=r"^[^\x00-\x1f\x7f]*$",
            description="a part of the name or phone; empty: everyone",
            examples=["王芳"],
        ),
    ] = "",
    limit: Annotated[int, Query(ge=1, le=500, description="most people to list")] = 50,
) -> list[PersonOut]:
    """People whose name or phone holds `q`, by id, each with their assignments and periods."""
    found = store.staff().people().find(q, caller=caller, limit=limit)
    return [PersonOut.of(record) for record in found]


@router.get("/people/{person_id}", response_model=PersonOut)
def get_person(
    person_id: Annotated[int, PathParam(ge=1, le=2**31 - 1, description="a person's id")],
    caller: CurrentCaller,
    store: Store,
) -> PersonOut:
    """One person with every assignment: grid, role, plan versions, from, to (404 if unknown)."""
    return PersonOut.of(store.staff().people().get(person_id, caller=caller))


class RoleOut(BaseModel):
    """One configured staff role, in the order used everywhere (signs, maps, legends)."""

    key: str = Field(examples=["head"], description="what plans, stores and the API carry")
    name: str = Field(examples=["网格长"], description="what signs, cards and maps print")
    name_en: str = Field(examples=["grid head"])
    head: bool = Field(description="the grid's responsible head")
    worker: bool = Field(description="a grid worker residents contact")
    aliases: list[str] = Field(description="other spellings accepted on input")


@router.get("/roles", response_model=list[RoleOut], tags=["staff"])
def list_roles() -> list[RoleOut]:
    """The staff roles this service is configured with (``GEOGRID_ROLES_FILE``), in order.

    Public, like the signs that print them: an app shows 网格长 for `head` without a table
    of its own.
    """
    return [
        RoleOut(
            key=role.key,
            name=role.name,
            name_en=role.name_en,
            head=role.head,
            worker=role.worker,
            aliases=list(role.aliases),
        )
        for role in current_roles()
    ]
