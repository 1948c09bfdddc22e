"""``/jurisdictions``: the areas plans govern (县, 乡镇, 街道 …) and the codes above them.

Saving a plan registers its jurisdiction; an administrator registers the codes above the
plans — the county over its townships — with parent links, so that a key bound to the county
covers every township's plan (:mod:`geogrid.store.jurisdictions`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from api.auth import CurrentCaller, store_of
from api.routes.plans import Reader
from api.schemas_plans import JurisdictionIn, JurisdictionOut
from geogrid.access import Caller, Permission, require
from geogrid.errors import AccessDeniedError
from geogrid.store import PlanStore

__all__ = ["router"]

router = APIRouter(tags=["plans"])
Store = Annotated[PlanStore, Depends(store_of)]


def _admin(caller: CurrentCaller) -> Caller:
    require(caller, Permission.MANAGE_KEYS)
    return caller


@router.get("/jurisdictions", response_model=list[JurisdictionOut])
def list_jurisdictions(
    caller: Reader, store: Store
) -> list[JurisdictionOut]:
    """The registered jurisdictions the caller covers, each with its plan in force now."""
    in_force = {info.jurisdiction: info for info in store.in_force()}
    out = []
    for entry in store.jurisdictions(caller=caller):
        info = in_force.get(entry.code)
        out.append(
            JurisdictionOut(
                code=entry.code,
                name=entry.name,
                parent_code=entry.parent_code,
                level_name=entry.level_name,
                plan=None if info is None else info.plan,
                version=None if info is None else info.version,
            )
        )
    return out


@router.post("/jurisdictions", response_model=JurisdictionOut, status_code=201)
def register_jurisdiction(
    body: JurisdictionIn, caller: Annotated[Caller, Depends(_admin)], store: Store
) -> JurisdictionOut:
    """Register (or rename, or re-parent) a jurisdiction: an administrator of the area above.

    A scoped administrator registers only beneath its own code.
    """
    if caller.grid_code is not None and (
        body.parent_code is None or not store.covers(caller, body.parent_code)
    ):
        raise AccessDeniedError(
            f"{caller.name} is bound to {caller.grid_code!r}: register jurisdictions beneath "
            "it (give a parent_code it covers)"
        )
    entry = store.register_jurisdiction(
        body.code,
        body.name,
        parent=body.parent_code,
        level_name=body.level_name,
        caller=caller,
    )
    return JurisdictionOut(
        code=entry.code,
        name=entry.name,
        parent_code=entry.parent_code,
        level_name=entry.level_name,
    )
