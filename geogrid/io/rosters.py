"""Staff rosters (网格员花名册): read from the offices' Excel sheets, checked, written back.

A roster is a table with one row per person and post: the grid (网格编码 and/or 网格名称),
the person (姓名, 联系电话, optional 身份证号) and the post (职务/岗位, often with a 专职/兼职
column). Headers may be Chinese or English (:data:`ROSTER_COLUMNS` lists the synonyms),
sit below a title row, and role names are the configured roles' keys, Chinese names or
aliases (:func:`geogrid.roles.current_roles`): ``网格员`` with ``专职`` in the 专职/兼职
column is ``full_time``.

:func:`read_roster` checks every row against a plan's grids and reports **every** problem
by the row number the planner sees in Excel — a grid that is not in the plan, a name that
several grids share, a person listed twice on a grid, one ID number for two names,
a malformed phone or ID number — and returns nothing when any is found, so a roster is
imported whole or not at all. :func:`apply_roster` puts it into a plan; the store's
:meth:`~geogrid.store.staff.StaffStore.replace_many` into the version in force.
:func:`roster_frame` and :func:`write_roster` write the staff of a plan or store as a
roster that reads back the same (codes and phones as text).

:func:`staff_from_attributes` takes staff from the attribute columns of an imported grids
layer (``WGZ`` → 网格长 …, mapped with ``-c head=WGZ -c head_phone=DH``).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from geogrid.errors import InvalidInputError, InvalidPlanError, PlanFileError
from geogrid.io.tables import Table, read_table, write_table
from geogrid.plan import STAFF_COLUMNS, GridPlan
from geogrid.roles import RoleSet, current_roles

__all__ = [
    "ROSTER_COLUMNS",
    "ROSTER_HEADERS",
    "Roster",
    "apply_roster",
    "check_id_number",
    "normalise_phone",
    "read_roster",
    "roster_frame",
    "staff_from_attributes",
    "write_roster",
]

#: Roster field → header names it is recognised by (compared without case, spaces, marks).
ROSTER_COLUMNS: dict[str, tuple[str, ...]] = {
    "grid_code": ("grid_code", "code", "网格编码", "网格编号", "网格代码", "编码"),
    "grid_name": ("grid_name", "grid", "网格名称", "网格", "所属网格", "网格名"),
    "name": ("name", "姓名", "网格员姓名", "人员姓名", "名字"),
    "role": ("role", "post", "职务", "岗位", "角色", "职位", "人员类别", "类别", "身份"),
    "kind": ("kind", "employment", "专职/兼职", "专兼职", "专/兼职", "是否专职", "性质"),
    "phone": (
        "phone",
        "mobile",
        "tel",
        "联系电话",
        "电话",
        "手机",
        "手机号",
        "手机号码",
        "联系方式",
    ),
    "id_number": ("id_number", "身份证号", "身份证号码", "身份证", "公民身份号码"),
}
#: Column → Chinese header of a written roster.
ROSTER_HEADERS: dict[str, str] = {
    "grid_code": "网格编码",
    "grid_name": "网格名称",
    "parent_name": "所属上级",
    "role": "职务",
    "name": "姓名",
    "phone": "联系电话",
}
_GENERIC = ("网格员", "网格管理员", "worker", "grid worker")
_SPLIT = re.compile(r"[、，,;；/\s]+")  # names in one cell
_SPLIT_PHONES = re.compile(r"[、，,;；/]+")  # phones: "138 0000 0001" is one
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@dataclasses.dataclass
class Roster:
    """A checked roster: whose staff every listed grid has.

    Attributes
    ----------
    staff
        One row per person and post: ``grid_code``, ``role`` (a key), ``name``, ``phone``,
        ``id_number`` (``None`` when not given) and ``row`` (its row in the sheet).
    grids
        The grids the roster lists, in order of first appearance: their staff are replaced.
    name
        The file (and sheet) read.
    encoding_note
        What a CSV roster's guessed encoding was (:meth:`~geogrid.io.tables.Table.encoding_note`).
    """

    staff: pd.DataFrame
    grids: list[str]
    name: str
    encoding_note: str | None = None

    def by_grid(self) -> dict[str, list[dict[str, Any]]]:
        """Grid code → its staff as mappings (``role``, ``name``, ``phone``, ``id_number``)."""
        found: dict[str, list[dict[str, Any]]] = {code: [] for code in self.grids}
        for row in self.staff.astype(object).itertuples(index=False):
            member = {"role": row.role, "name": row.name, "phone": _given(row.phone)}
            found[row.grid_code].append(member | {"id_number": _given(row.id_number)})
        return found


def _given(value: Any) -> Any:
    """``None`` for a missing value (``None``, NaN, ``pd.NA``), else the value."""
    return None if value is None or pd.isna(value) else value


def read_roster(
    path: str | os.PathLike[str],
    grids: pd.DataFrame,
    *,
    sheet: str | None = None,
    encoding: str | None = None,
) -> Roster:
    """Read a roster and check every row against ``grids`` (a plan's grids table).

    Parameters
    ----------
    path
        A ``.xlsx`` / ``.xls`` / ``.csv`` file (``FILE:SHEET`` chooses a sheet).
    grids
        The grids rows may name (``code`` and ``name`` columns).
    sheet, encoding
        As in :func:`geogrid.io.tables.read_table`.

    Raises
    ------
    PlanFileError
        When a needed column is missing (the message lists the file's columns).
    InvalidPlanError
        When any row is wrong; ``problems`` holds one line per problem, each naming the row.
    """
    expect = [name for names in ROSTER_COLUMNS.values() for name in names]
    table = read_table(path, sheet=sheet, encoding=encoding, expect=expect)
    columns = {field: table.column(names) for field, names in ROSTER_COLUMNS.items()}
    _check_columns(table, columns)
    lossy = {row for row, column in table.numbers if column == columns["id_number"]}
    problems: list[str] = []
    records: list[dict[str, Any]] = []
    resolve = _Grids(grids)
    roles = current_roles()
    n = len(table.frame)
    values = {f: table.frame[c].tolist() if c else [""] * n for f, c in columns.items()}
    for i in range(n):
        cells = {f: values[f][i] for f in columns}
        if not cells["name"] and not cells["phone"] and not cells["id_number"]:
            continue  # a grid row with no one on it
        where = table.where(i)
        found = _row(cells, where, resolve, roles, table.rows[i] in lossy, problems)
        if found is not None:
            records.append(found | {"row": table.rows[i]})
    problems += _duplicates(records)
    if problems:
        raise InvalidPlanError(
            f"{table.name}: {len(problems)} problem(s) in the roster; nothing imported — fix "
            "the rows named and import it again",
            problems,
        )
    columns_out = [*STAFF_COLUMNS, "id_number", "row"]
    staff = pd.DataFrame(records, columns=columns_out)
    grids_listed = list(dict.fromkeys(staff["grid_code"]))
    return Roster(staff, grids_listed, table.name, table.encoding_note())


def _check_columns(table: Table, columns: Mapping[str, str | None]) -> None:
    missing = []
    if columns["name"] is None:
        missing.append("姓名 (name)")
    if columns["grid_code"] is None and columns["grid_name"] is None:
        missing.append("网格编码 or 网格名称 (grid_code / grid_name)")
    if columns["role"] is None and columns["kind"] is None:
        missing.append("职务 or 专职/兼职 (role)")
    if missing:
        raise PlanFileError(
            f"{table.name}: no column for {'; '.join(missing)}; the header (row "
            f"{table.header_row}) has {', '.join(map(str, table.frame.columns))}"
        )


def _row(
    cells: Mapping[str, str],
    where: str,
    grids: _Grids,
    roles: RoleSet,
    lossy: bool,
    problems: list[str],
) -> dict[str, Any] | None:
    """One roster row checked; its problems appended, ``None`` when it has any."""
    before = len(problems)
    code = grids.code(cells["grid_code"], cells["grid_name"], where, problems)
    role = _role(cells["role"], cells["kind"], roles, where, problems)
    if not cells["name"]:
        problems.append(f"{where}: no name (姓名)")
    phone = None
    try:
        phone = normalise_phone(cells["phone"])
    except InvalidInputError as exc:
        problems.append(f"{where}: {exc}")
    id_number = cells["id_number"] or None
    if lossy:
        problems.append(
            f"{where}: 身份证号 {id_number} was typed as a number and Excel kept only 15 "
            "digits; format the column as text (文本) and type the numbers again"
        )
    elif id_number is not None:
        try:
            id_number = check_id_number(id_number)
        except InvalidInputError as exc:
            problems.append(f"{where}: {exc}")
    if len(problems) > before:
        return None
    return {"grid_code": code, "role": role, "name": cells["name"], "phone": phone,
            "id_number": id_number}  # fmt: skip


class _Grids:
    """A plan's grids by code and by name, for roster rows."""

    def __init__(self, grids: pd.DataFrame) -> None:
        codes = grids["code"].astype(str).tolist()
        names = grids["name"].astype(str).tolist() if "name" in grids else codes
        self.names = dict(zip(codes, names, strict=True))
        self.by_name: dict[str, list[str]] = {}
        for code, name in zip(codes, names, strict=True):
            self.by_name.setdefault(name.strip(), []).append(code)

    def code(self, code: str, name: str, where: str, problems: list[str]) -> str | None:
        if code:
            if code not in self.names:
                problems.append(f"{where}: no grid {code} in the plan; check the 网格编码")
                return None
            if name and name != self.names[code] and name not in self.by_name:
                problems.append(
                    f"{where}: grid {code} is {self.names[code]!r}, not {name!r}; correct the "
                    "code or the name"
                )
                return None
            return code
        if not name:
            problems.append(f"{where}: no grid: give its 网格编码 or 网格名称")
            return None
        found = self.by_name.get(name, [])
        if not found:
            problems.append(f"{where}: no grid named {name!r} in the plan; check the 网格名称")
            return None
        if len(found) > 1:
            problems.append(
                f"{where}: {len(found)} grids are named {name!r} ({', '.join(found[:5])}); "
                "give the 网格编码"
            )
            return None
        return found[0]


def _role(role: str, kind: str, roles: RoleSet, where: str, problems: list[str]) -> str | None:
    """The role key of a row: its 职务, with 专职/兼职 making a generic 网格员 precise."""
    kind = {"是": "专职", "否": "兼职"}.get(kind, kind)
    tries = [role] if role and role not in _GENERIC else []
    if kind:
        tries += [f"{kind}{role}" if role else kind, kind, f"{kind}网格员"]
    for text in tries:
        found = roles.get(text)
        if found is not None:
            return found.key
    if not role and not kind:
        problems.append(f"{where}: no 职务 (role); {roles.describe()}")
    else:
        shown = " ".join(t for t in (kind, role) if t)
        problems.append(f"{where}: unknown role {shown!r}: {roles.describe()}")
    return None


def _duplicates(records: list[dict[str, Any]]) -> list[str]:
    """Rows listing a person twice on a grid, or one ID number for two names.

    A person is their ID number when given, else their name and phone; one phone for two
    people is allowed (an office's number).
    """
    problems: list[str] = []
    seen: dict[tuple[str, Any], int] = {}
    names_of: dict[str, tuple[str, int]] = {}
    for record in records:
        who = record["id_number"] or (record["name"], record["phone"])
        first = seen.setdefault((record["grid_code"], who), record["row"])
        if first != record["row"]:
            problems.append(
                f"row {record['row']}: {record['name']} is listed twice for grid "
                f"{record['grid_code']} (also row {first}); keep one row per person and grid"
            )
        if record["id_number"]:
            other = names_of.setdefault(record["id_number"], (record["name"], record["row"]))
            if other[0] != record["name"]:
                problems.append(
                    f"row {record['row']}: 身份证号 {record['id_number']} is also {other[0]}'s "
                    f"(row {other[1]}); one ID number is one person: correct one of the rows"
                )
    return problems


def normalise_phone(text: Any) -> str | None:
    """A phone number checked and written one way: ``13800000001`` or ``010-62781234``.

    Spaces and dashes in a mobile number and a ``+86`` prefix are dropped; a landline keeps
    its area code before a dash (and an extension after another).

    Raises
    ------
    InvalidInputError
        When it is neither a mainland mobile number (11 digits, 1[3-9]…) nor a landline with
        its area code.

    Examples
    --------
    >>> normalise_phone("138 0000 0001"), normalise_phone("+86-13800000001")
    ('13800000001', '13800000001')
    >>> normalise_phone("(010)62781234"), normalise_phone(""), normalise_phone("0571-8765432-12")
    ('010-62781234', None, '0571-8765432-12')
    >>> normalise_phone("1380000001")
    Traceback (most recent call last):
    ...
    geogrid.errors.InvalidInputError: phone '1380000001' is not a phone number: a mobile number has 11 digits (13800000001), a landline its area code (010-62781234)
    """
    raw = "" if text is None or (isinstance(text, float) and pd.isna(text)) else str(text).strip()
    if not raw:
        return None
    compact = re.sub(r"[\s\-－—()（）]", "", raw)
    compact = re.sub(r"^(\+86|0086)", "", compact)
    if re.fullmatch(r"1[3-9]\d{9}", compact):
        return compact
    landline = re.fullmatch(
        r"[(（]?(0[12]\d|0[3-9]\d{2})[)）]?[\s\-－—]?(\d{7,8})(?:[\s\-－—转]+(\d{1,6}))?",
        re.sub(r"^(\+86|0086)[\s-]?", "0", raw) if not raw.startswith("0") else raw,
    )
    if landline:
        area, number, extension = landline.groups()
        return f"{area}-{number}" + (f"-{extension}" if extension else "")
    raise InvalidInputError(
        f"phone {raw!r} is not a phone number: a mobile number has 11 digits (13800000001), "
        "a landline its area code (010-62781234)"
    )


def check_id_number(text: str) -> str:
    """An 18-character resident ID number (身份证号) with its check digit (GB 11643).

    Examples
    --------
    >>> check_id_number("11010519491231002x")
    '11010519491231002X'
    """
    value = str(text).strip().upper()
    if not re.fullmatch(r"\d{17}[\dX]", value):
        raise InvalidInputError(
            f"身份证号 {value!r} is not an ID number: 17 digits and a digit or X"
        )
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    if "10X98765432"[total % 11] != value[17]:
        raise InvalidInputError(
            f"身份证号 {value} has a wrong check digit (the last one); a digit was mistyped"
        )
    return value


def apply_roster(plan: GridPlan, roster: Roster) -> GridPlan:
    """``plan`` with the staff of the roster's grids replaced by the roster's (others kept).

    The plan's staff table has no ID numbers: they are kept only by the store's people.
    """
    kept = plan.staff[~plan.staff["grid_code"].isin(roster.grids)]
    staff = pd.concat([kept, roster.staff[list(STAFF_COLUMNS)]], ignore_index=True)
    return dataclasses.replace(plan, staff=staff)


def roster_frame(staff: pd.DataFrame, grids: pd.DataFrame) -> pd.DataFrame:
    """Staff as a roster: grid code and name, parent's name, role's Chinese name, name, phone.

    Rows in grid order (``grids``), then role order, then as given.
    """
    roles = current_roles()
    codes = grids["code"].astype(str).tolist()
    names = dict(zip(codes, grids["name"].astype(str), strict=True))
    parents = dict(
        zip(codes, grids.get("parent_code", pd.Series([None] * len(grids))), strict=True)
    )
    order = {code: i for i, code in enumerate(codes)}
    frame = pd.DataFrame(staff[list(STAFF_COLUMNS)]).astype(object)
    frame = frame.assign(
        _grid=frame["grid_code"].map(lambda c: order.get(str(c), len(order))),
        _role=frame["role"].map(roles.sort_key),
        _given=range(len(frame)),
    ).sort_values(["_grid", "_role", "_given"])
    parent_names = [names.get(str(parents.get(str(c)))) for c in frame["grid_code"]]
    return pd.DataFrame(
        {
            "grid_code": frame["grid_code"].astype(str),
            "grid_name": [names.get(str(c)) for c in frame["grid_code"]],
            "parent_name": parent_names,
            "role": [roles.label(r) for r in frame["role"]],
            "name": frame["name"],
            "phone": [None if pd.isna(p) else str(p) for p in frame["phone"]],
        }
    ).reset_index(drop=True)


def write_roster(staff: pd.DataFrame, grids: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write staff as a roster (花名册), ``.xlsx`` or ``.csv``; :func:`read_roster` reads it back."""
    frame = roster_frame(staff, grids)
    return write_table(
        frame, path, headers=ROSTER_HEADERS, text_columns=list(frame.columns), sheet="花名册"
    )


# -- staff held in a grids layer's attributes ---------------------------------------------


def staff_from_attributes(
    grids: pd.DataFrame, where: str
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Staff held in columns of a grids layer; the layer without those columns.

    A column named like a role (its key, Chinese name or an alias: ``head``, ``网格长``,
    ``专职``) holds the names of that role's people (several split at 、，; /), a column
    ``<role>_phone`` / ``<role>电话`` their phones in the same order — which is what
    ``-c head=WGZ -c head_phone=DH`` makes of a file's ``WGZ`` and ``DH``.

    Returns
    -------
    tuple
        The grids without the staff columns, and the staff table (``None`` when the layer
        has no staff column).

    Raises
    ------
    PlanFileError
        Naming the feature whose phone is malformed or whose phones outnumber its names.
    """
    roles = current_roles()
    found: dict[str, tuple[str, str | None]] = {}
    for column in map(str, grids.columns):
        role = roles.get(column)
        if role is not None and "code" in grids:
            phone = next((p for p in map(str, grids.columns) if p in _phone_columns(column)), None)
            found[column] = (role.key, phone)
    if not found:
        return grids, None
    rows = []
    for i, code in enumerate(grids["code"].astype(str)):
        for column, (key, phone_column) in found.items():
            rows += _people(grids, i, code, column, key, phone_column, where)
    used = [c for column, (_, phone) in found.items() for c in (column, phone) if c]
    return grids.drop(columns=used), pd.DataFrame(rows, columns=list(STAFF_COLUMNS))


def _phone_columns(column: str) -> tuple[str, ...]:
    return tuple(f"{column}{suffix}" for suffix in ("_phone", "电话", "手机", "_电话", "联系电话"))


def _people(
    grids: pd.DataFrame,
    i: int,
    code: str,
    column: str,
    role: str,
    phone_column: str | None,
    where: str,
) -> list[dict[str, Any]]:
    names = _parts(grids[column].iloc[i])
    phones_raw = _parts(grids[phone_column].iloc[i], _SPLIT_PHONES) if phone_column else []
    feature = f"{where}: feature {i + 1} (code {code})"
    if len(phones_raw) > max(len(names), 1) or (phones_raw and not names):
        raise PlanFileError(
            f"{feature}: {len(phones_raw)} phone(s) in {phone_column} for {len(names)} name(s) "
            f"in {column}; give one phone per name, in the same order"
        )
    phones: list[str | None] = []
    for text in phones_raw:
        try:
            phones.append(normalise_phone(text))
        except InvalidInputError as exc:
            raise PlanFileError(f"{feature}: {exc}") from None
    phones += [None] * (len(names) - len(phones))
    return [
        {"grid_code": code, "role": role, "name": name, "phone": phone}
        for name, phone in zip(names, phones, strict=True)
    ]


def _parts(value: Any, split: re.Pattern[str] = _SPLIT) -> list[str]:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return []
    text = str(value)
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    return [part.strip() for part in split.split(text.strip()) if part.strip()]
