"""Staff and people in the store: ``geogrid store staff show / set / history``, ``store people``.

``geogrid store staff set CODE 网格长:王芳:13800000009 --from 2026-06-01`` changes a grid's
staff with effect from a date (past or future; default now); ``show CODE --at DATE`` prints
the staff in force then; ``history CODE`` every period and every change. ``geogrid store
people [QUERY]`` lists people with their assignments, ``geogrid store people show ID`` one.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from geogrid.cli._common import ByOpt, out, print_line, user, user_errors, when
from geogrid.errors import InvalidInputError

__all__ = ["people_cmd", "staff_history", "staff_set", "staff_show"]

_DATE_HELP = "a date or date and time, ISO 8601 (2026-06-01, 2026-06-01T08:00); UTC unless it says"
AtOpt = Annotated[str | None, typer.Option("--at", help=f"Staff in force then: {_DATE_HELP}")]
FromOpt = Annotated[
    str | None,
    typer.Option("--from", help=f"When the change takes effect (default now): {_DATE_HELP}"),
]


def parse_instant(text: str | None) -> dt.datetime | None:
    """``--at`` / ``--from`` text as an aware datetime (UTC when it gives no offset).

    Examples
    --------
    >>> parse_instant("2026-06-01")
    datetime.datetime(2026, 6, 1, 0, 0, tzinfo=datetime.timezone.utc)
    """
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(f"not a date: {text!r}; give {_DATE_HELP}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


@user_errors
def staff_show(code: str, at: AtOpt = None) -> None:
    """Print a grid's staff in force now (or --at a date), and the period they hold."""
    from geogrid.store import open_store

    with open_store() as store:
        current = store.staff().current(code, at=parse_instant(at))
    print_line(
        f"grid {code} in {current.plan!r} version {current.version}, "
        f"from {when(current.valid_from)} to {when(current.valid_to)}:"
    )
    for member in current.staff:
        print_line(f"  {_member(member.role, member.name, member.phone)}")
    if not current.staff:
        print_line("  no staff")


@user_errors
def staff_set(
    code: str,
    members: Annotated[
        list[str] | None,
        typer.Argument(help="ROLE:NAME[:PHONE] each (网格长:王芳:13800000009); none: no staff"),
    ] = None,
    effective: FromOpt = None,
    by: ByOpt = None,
) -> None:
    """Replace a grid's staff with effect from --from (past, now or future)."""
    from geogrid.access import Caller
    from geogrid.store import open_store

    staff = [_parse_member(text) for text in members or []]
    with open_store() as store:
        new = store.staff().replace(
            code, staff, caller=Caller.local(user(by)), effective=parse_instant(effective)
        )
    print_line(
        f"grid {code}: {len(new.staff)} staff from {when(new.valid_from)} "
        f"({new.plan!r} version {new.version}, staff revision {new.revision})"
    )


@user_errors
def staff_history(code: str) -> None:
    """Print every period of a grid's staff across versions, then every change."""
    from geogrid.store import open_store

    with open_store() as store:
        periods = store.staff().timeline(code)
        changes = store.staff().history(code)
    if not periods:
        print_line(f"grid {code} was in no version in force")
    for period in periods:
        names = "; ".join(_member(m.role, m.name, m.phone) for m in period.staff) or "no staff"
        print_line(
            f"{when(period.valid_from)} → {when(period.valid_to)}  "
            f"{period.plan} v{period.version}  {names}"
        )
    for change in changes:
        print_line(
            f"changed {when(change.changed_at)} by {change.changed_by}, in effect from "
            f"{when(change.effective)}: {len(change.before)} → {len(change.after)} staff "
            f"({change.plan} v{change.version}, revision {change.revision})"
        )


@user_errors
def people_cmd(
    query: Annotated[
        str | None, typer.Argument(help="A part of a name or phone; or `show` and a person's id")
    ] = None,
    person: Annotated[str | None, typer.Argument(help="With `show`: the person's id")] = None,
    limit: Annotated[int, typer.Option(help="Most people to list")] = 50,
) -> None:
    """List people (grid workers) with their assignments; `people show ID` prints one."""
    from geogrid.store import open_store

    with open_store() as store:
        if query == "show" and person is not None:
            records = [store.staff().people().get(_person_id(person))]
        elif person is not None:
            raise InvalidInputError("give one search text, or `show` and a person's id")
        else:
            records = store.staff().people().find(query or "", limit=limit)
    if not records:
        out.print("nobody found")
    for record in records:
        who = record.person
        print_line(
            f"{who.id}  {who.name}  {who.phone or '-'}"
            + (f"  {who.id_number}" if who.id_number else "")
        )
        for item in record.assignments:
            print_line(
                f"    {when(item.valid_from)} → {when(item.valid_to)}  {item.role} of "
                f"{item.grid_code} {item.grid_name or ''}  ({item.plan} v"
                f"{', v'.join(map(str, item.versions))})"
            )


def _member(role: str, name: str, phone: str | None) -> str:
    return " ".join(value for value in (role, name, phone) if value)


def _parse_member(text: str) -> dict[str, str | None]:
    parts = [part.strip() for part in text.split(":")]
    if len(parts) not in (2, 3) or not all(parts[:2]):
        raise InvalidInputError(
            f"staff member {text!r}: write ROLE:NAME or ROLE:NAME:PHONE, e.g. 网格长:王芳:13800000009"
        )
    return {"role": parts[0], "name": parts[1], "phone": parts[2] if len(parts) == 3 else None}


def _person_id(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise InvalidInputError(
            f"a person's id is a number, not {text!r}: `geogrid store people NAME` lists them"
        )
    return int(text)
