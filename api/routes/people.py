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

from api.auth import CurrentCaller, store_of
from api.schemas_people import PersonOut
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
