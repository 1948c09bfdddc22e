"""``/keys`` and ``/audit``: API keys and the audit log (administrators only).

The store checks the role (:attr:`~geogrid.access.Permission.MANAGE_KEYS`,
:attr:`~geogrid.access.Permission.READ_AUDIT`) and writes the key changes to the audit log.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from api.auth import CurrentCaller, store_of
from api.schemas import MAX_ID, Instant
from geogrid.access import GRID_REQUIRED, ApiKey, AuditEntry
from geogrid.store.access import json_safe

__all__ = ["router"]

router = APIRouter(tags=["keys"])

Role = Annotated[str, Field(pattern="^(reporter|worker|supervisor|planner|admin)$")]


_GRID_ROLES: list[JsonValue] = [r.value for r in sorted(GRID_REQUIRED)]


class KeyIn(BaseModel):
    """A new API key: its role, a label, and the grid subtree it is bound to."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"role": "worker", "name": "王芳", "grid_code": "110108001001001"}],
            # a worker's key is bound to a grid (GRID_REQUIRED): said in the schema too
            "if": {
                "properties": {"role": {"enum": _GRID_ROLES}},
                "required": ["role"],
            },
            "then": {"required": ["grid_code"], "properties": {"grid_code": {"type": "string"}}},
        },
    )

    role: Role
    name: str = Field(min_length=1, max_length=200, description="whose key: in the audit log")
    grid_code: str | None = Field(
        default=None, max_length=64, description="bind to this grid's subtree (workers: required)"
    )


class KeyOut(BaseModel):
    """A stored key, without its secret."""

    id: int
    prefix: str = Field(examples=["ggk_3kT9xQ2b"])
    name: str
    role: str
    grid_code: str | None
    created_by: str
    created_at: str
    revoked_by: str | None
    revoked_at: str | None


class NewKeyOut(KeyOut):
    """A key just created: ``key`` is shown this once and never again."""

    key: str = Field(description="the raw key: give it to its owner now")


class AuditOut(BaseModel):
    """One audit row: who did what to which object, when."""

    id: int
    at: str
    actor: str
    role: str
    key_id: int | None
    action: str
    object_type: str
    object_id: str | None
    details: dict[str, Any]


@router.post("/keys", status_code=201, response_model=NewKeyOut)
def create_key(request: Request, body: KeyIn, caller: CurrentCaller) -> dict[str, Any]:
    """Create an API key (admin); the raw key is in this answer only."""
    access = store_of(request).access()
    raw, key = access.create_key(body.role, name=body.name, caller=caller, grid_code=body.grid_code)
    return _key_out(key) | {"key": raw}


@router.get("/keys", response_model=list[KeyOut])
def list_keys(
    request: Request, caller: CurrentCaller, include_revoked: bool = True
) -> list[dict[str, Any]]:
    """Every API key, oldest first, without secrets (admin)."""
    keys = store_of(request).access().list_keys(caller=caller, include_revoked=include_revoked)
    return [_key_out(k) for k in keys]


@router.delete("/keys/{key_id}", response_model=KeyOut)
def revoke_key(
    request: Request, key_id: Annotated[int, Path(ge=1, le=MAX_ID)], caller: CurrentCaller
) -> dict[str, Any]:
    """Revoke a key: it authenticates nobody from now on (admin)."""
    return _key_out(store_of(request).access().revoke_key(key_id, caller=caller))


@router.get("/audit", response_model=list[AuditOut])
def audit_log(
    request: Request,
    caller: CurrentCaller,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=100, examples=["incident.read"])] = None,
    object_type: Annotated[str | None, Query(max_length=100)] = None,
    object_id: Annotated[str | None, Query(max_length=100)] = None,
    since: Instant | None = None,
    until: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> list[dict[str, Any]]:
    """The audit log, newest first (admin): every read and change of incidents and keys."""
    access = store_of(request).access()
    entries = access.list_audit(
        caller=caller,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        since=since,
        until=until,
        limit=limit,
        before_id=before_id,
    )
    return [_audit_out(e) for e in entries]


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _key_out(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "prefix": key.prefix,
        "name": key.name,
        "role": key.role.value,
        "grid_code": key.grid_code,
        "created_by": key.created_by,
        "created_at": key.created_at.isoformat(),
        "revoked_by": key.revoked_by,
        "revoked_at": _iso(key.revoked_at),
    }


def _audit_out(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "role": entry.role,
        "key_id": entry.key_id,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "details": json_safe(entry.details),
    }
