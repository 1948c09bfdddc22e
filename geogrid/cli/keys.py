"""API keys of the service: ``geogrid keys create / list / revoke``."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer
from rich.table import Table

from geogrid.access import Caller, Role
from geogrid.cli._common import err, out, user_errors, when
from geogrid.errors import InvalidInputError

__all__ = ["keys_create", "keys_list", "keys_revoke"]


@user_errors
def keys_create(
    role: Annotated[Role, typer.Option(help="What the key may do")],
    name: Annotated[str, typer.Option(help="Who or what uses it, e.g. the worker's name")],
    grid: Annotated[
        str | None, typer.Option(help="Bind the key to this grid's subtree (workers: required)")
    ] = None,
) -> None:
    """Create an API key; the key is printed once, only its hash is kept."""
    from geogrid.access import GRID_REQUIRED
    from geogrid.store import open_store

    if role in GRID_REQUIRED and grid is None:
        raise InvalidInputError(f"a {role.value} key must be bound to a grid: add --grid CODE")
    with open_store() as store:
        raw, key = store.access().create_key(
            role, name=name, grid_code=grid, caller=_local_caller()
        )
    scope = f"grid {key.grid_code}" if key.grid_code else "every grid"
    err.print(f"created key {key.id} ({key.prefix}…): {key.name}, {key.role.value}, {scope}")
    sys.stdout.write(raw + "\n")
    err.print(
        "[yellow]warning:[/yellow] the key is shown only this once; the store keeps only its "
        "hash. Copy it now (send it as the X-API-Key header).",
        soft_wrap=True,
    )


@user_errors
def keys_list() -> None:
    """List API keys (prefixes only, never the keys)."""
    from geogrid.store import open_store

    with open_store() as store:
        keys = store.access().list_keys(caller=_local_caller())
    if not keys:
        out.print("no API keys yet: geogrid keys create --role ROLE --name NAME")
        return
    table = Table(title="API keys")
    for column in ("id", "prefix", "name", "role", "grid", "created", "by", "revoked"):
        table.add_column(column, no_wrap=column in ("id", "prefix", "role", "grid"))
    for key in keys:
        revoked = f"{when(key.revoked_at)} by {key.revoked_by}" if key.revoked_at else ""
        table.add_row(
            str(key.id),
            f"{key.prefix}…",
            key.name,
            key.role.value,
            key.grid_code or "all",
            when(key.created_at),
            key.created_by,
            revoked,
        )
    out.print(table)


@user_errors
def keys_revoke(key_id: Annotated[int, typer.Argument(help="Key id (geogrid keys list)")]) -> None:
    """Revoke an API key: it authenticates nobody from now on."""
    from geogrid.store import open_store

    with open_store() as store:
        key = store.access().revoke_key(key_id, caller=_local_caller())
    out.print(f"revoked key {key.id} ({key.prefix}…, {key.name}) at {when(key.revoked_at)}")


def _local_caller() -> Caller:
    return Caller.local(getpass.getuser())
