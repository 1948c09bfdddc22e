"""Tables as offices keep them: Excel workbooks and CSV files in, Excel workbooks out.

One reader and one writer for every table that goes in or out of geogrid — household
registers (户籍/实有人口台账), points to locate, staff rosters (网格员花名册), grid lists
(网格台账), reports, change lists and located points:

* :func:`read_table` reads ``.xlsx`` / ``.xlsm`` / ``.xls`` (python-calamine, fast; openpyxl
  when calamine is missing) and ``.csv`` (UTF-8, GBK/GB18030 or Big5, detected with
  charset-normalizer, or as ``encoding`` says). A sheet is chosen with ``FILE:SHEET``
  (:func:`split_sheet`) or ``sheet=``. The header row is found even below a title row
  (merged title cells hold one value, so that row is not a header), and every cell comes
  back as **text** as the planner sees it: a phone typed as a number ``13800000001``, not
  ``1.38e10``. Each row keeps its number in the sheet (:attr:`Table.rows`), so errors name
  the row the planner sees in Excel.
* :func:`write_table` / :func:`write_workbook` write ``.xlsx`` (xlsxwriter) with Chinese
  headers, a frozen header row, an autofilter, column widths fitted to the text and codes,
  phones and ID numbers as **text** (number format ``@``): a 15-digit grid code never
  becomes ``1.10108E+14``. ``.csv`` is written as UTF-8 with a byte-order mark, which Excel
  opens as Chinese text.

Examples
--------
>>> import tempfile
>>> folder = tempfile.TemporaryDirectory()
>>> path = Path(folder.name) / "台账.xlsx"
>>> frame = pd.DataFrame({"code": ["110108001001004"], "phone": ["13800000001"], "hh": [320]})
>>> _ = write_table(frame, path, headers={"code": "网格编码", "phone": "联系电话", "hh": "户数"})
>>> table = read_table(path)
>>> table.frame.to_dict("records"), table.rows
([{'网格编码': '110108001001004', '联系电话': '13800000001', '户数': '320'}], [2])
>>> folder.cleanup()
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io as _io
import itertools
import math
import os
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geogrid.errors import PlanFileError
from geogrid.io.writing import _staging

__all__ = [
    "EXCEL_SUFFIXES",
    "TABLE_SUFFIXES",
    "Table",
    "cell_text",
    "detect_encoding",
    "find_column",
    "read_table",
    "split_sheet",
    "write_table",
    "write_workbook",
]

EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
#: Suffixes :func:`read_table` reads.
TABLE_SUFFIXES = (".csv", *EXCEL_SUFFIXES)
_HEADER_SCAN = 30  # rows searched for the header
_MAX_UNPACKED = 200_000_000  # bytes of XML a workbook may unpack to
_EXACT_DIGITS = 15  # Excel keeps 15 significant digits of a number
_CANDIDATES = ("gb18030", "big5")  # what a Chinese CSV that is not UTF-8 is in
_TEXT_HINTS = (
    "code",
    "phone",
    "tel",
    "mobile",
    "id_number",
    "编码",
    "代码",
    "电话",
    "手机",
    "身份证",
)


@dataclasses.dataclass
class Table:
    """A table read by :func:`read_table`.

    Attributes
    ----------
    frame
        Every column as text (``""`` for an empty cell), headers as written (stripped).
    rows
        The number of each row in the sheet as the planner sees it (Excel's row number; for
        a CSV its line number), for messages: ``table.where(i)``.
    header_row
        The row number of the header.
    name
        The file's name, with ``:SHEET`` when a sheet was chosen.
    sheet
        The sheet read (``None`` for a CSV).
    encoding
        The encoding a CSV was read in (``None`` for a workbook).
    detected
        Whether ``encoding`` was detected (not given, not UTF-8): say so to the planner.
    numbers
        ``(row number, column)`` of the cells stored as numbers too long for Excel to keep
        exactly (more than 15 digits, e.g. an 18-digit ID number typed as a number).
    """

    frame: pd.DataFrame
    rows: list[int]
    header_row: int
    name: str
    sheet: str | None = None
    encoding: str | None = None
    detected: bool = False
    numbers: list[tuple[int, str]] = dataclasses.field(default_factory=list)

    def where(self, i: int) -> str:
        """``"row 7"``: row ``i`` of :attr:`frame` as numbered in the sheet."""
        return f"row {self.rows[i]}"

    def encoding_note(self) -> str | None:
        """For a CSV whose encoding was guessed: what it was read as and its first cells.

        ``None`` when nothing was guessed (a workbook, UTF-8, or ``encoding`` given), so a
        guess is never silent: commands print this line.
        """
        if not self.detected:
            return None
        first = [v for v in (self.frame.iloc[0].tolist() if len(self.frame) else []) if v][:4]
        sample = "、".join([*map(str, self.frame.columns[:4]), *map(str, first)])
        return (
            f"{self.name} is not UTF-8: read as {str(self.encoding).upper()} (detected): "
            f"{sample}; if this looks wrong, pass --encoding gbk, big5 or utf-8"
        )

    def column(self, synonyms: Iterable[str]) -> str | None:
        """The first header matching one of ``synonyms`` (:func:`find_column`)."""
        return find_column(self.frame.columns, synonyms)


def split_sheet(spec: str | os.PathLike[str]) -> tuple[Path, str | None]:
    """``FILE`` or ``FILE:SHEET`` as a path and a sheet name (``None``: the first sheet).

    Examples
    --------
    >>> split_sheet("花名册.xlsx:2026年")
    (PosixPath('花名册.xlsx'), '2026年')
    >>> split_sheet("register.csv")
    (PosixPath('register.csv'), None)
    """
    text = os.fspath(spec)
    path = Path(text)
    if path.exists() or ":" not in text:
        return path, None
    file, _, sheet = text.rpartition(":")
    if Path(file).suffix.lower() in EXCEL_SUFFIXES:
        return Path(file), sheet or None
    return path, None


def read_table(
    path: str | os.PathLike[str],
    *,
    sheet: str | None = None,
    encoding: str | None = None,
    expect: Iterable[str] = (),
) -> Table:
    """Read a table from an Excel workbook or a CSV file, every cell as text.

    Parameters
    ----------
    path
        A ``.xlsx``, ``.xlsm``, ``.xls`` or ``.csv`` file; ``FILE:SHEET`` chooses a sheet.
    sheet
        The sheet to read (default: from ``path``, else the first).
    encoding
        A CSV's encoding (``utf-8``, ``gbk``, ``gb18030``, ``big5`` …); default: detected.
    expect
        Header names the caller looks for (synonyms of its columns): the header is the row
        among the first 30 holding most of them. Without, it is the first row holding text
        in at least half as many cells as the widest row (so a merged title is skipped).

    Returns
    -------
    Table
        The rows below the header, blank rows dropped, with their row numbers.

    Raises
    ------
    PlanFileError
        When the file is missing, not a table, the sheet unknown, or nothing is in it.
    """
    path, named = split_sheet(path)
    sheet = sheet or named
    if not path.exists():
        raise PlanFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise PlanFileError(
            f"{path.name}: not a table; give a {', '.join(TABLE_SUFFIXES)} file (format from "
            "the suffix)"
        )
    if suffix == ".csv":
        text, found_encoding, detected = _csv_text(path, encoding)
        table = _csv_table(text, path.name, list(expect))
        table.encoding, table.detected = found_encoding, detected
        return table
    cells, sheet = _excel_cells(path, sheet)
    table = _table(cells, path.name + (f":{sheet}" if named else ""), list(expect))
    table.sheet = sheet
    return table


def cell_text(value: Any) -> str:
    """A cell as the planner sees it: whole numbers without ``.0``, dates as ISO text.

    Examples
    --------
    >>> cell_text(13800000001.0), cell_text(1.5), cell_text(None), cell_text(" 王芳 ")
    ('13800000001', '1.5', '', '王芳')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ") if value.time() != dt.time() else value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def find_column(columns: Iterable[Any], synonyms: Iterable[str]) -> str | None:
    """The first of ``columns`` named like one of ``synonyms`` (in the synonyms' order).

    Names are compared without case, spaces, ``*`` marks and bracketed notes, so
    ``联系电话（手机）`` and ``* 姓名`` match ``联系电话`` and ``姓名``.

    Examples
    --------
    >>> find_column(["序号", "姓 名", "联系电话（手机）"], ["phone", "联系电话", "电话"])
    '联系电话（手机）'
    """
    keyed = {_key(c): str(c) for c in columns}
    for synonym in synonyms:
        if _key(synonym) in keyed:
            return keyed[_key(synonym)]
    return None


def _key(name: Any) -> str:
    text = unicodedata.normalize("NFKC", str(name)).lower()
    text = re.sub(r"\(.*?\)|\[.*?\]", "", text)
    return re.sub(r"[\s*:_/、.-]", "", text)


def detect_encoding(data: bytes) -> tuple[str, bool]:
    """The encoding of Chinese text: ``("utf-8-sig" | "utf-8", False)`` or a detected one.

    UTF-8 is taken when the bytes decode as UTF-8; otherwise charset-normalizer chooses
    between GB18030 (a superset of GBK and GB2312, what Excel in mainland China saves) and
    Big5 (Taiwan, Hong Kong), and the answer says it was detected (``True``).

    Examples
    --------
    >>> detect_encoding("荷清路社区,清华园街道".encode("gbk"))
    ('gb18030', True)
    >>> detect_encoding("荷清路社区".encode())
    ('utf-8', False)
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig", False
    try:
        data.decode("utf-8")
        return "utf-8", False
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    found = list(from_bytes(data, cp_isolation=list(_CANDIDATES)))
    if not found:
        return _CANDIDATES[0], True
    least = min(match.chaos for match in found)
    tied = {_family(m.encoding): str(m) for m in found if m.chaos <= least + 0.01}
    if len(tied) == 1:
        return next(iter(tied)), True
    # a tie (short texts): the decoding with more everyday mainland characters (GB2312) wins
    return max(_CANDIDATES, key=lambda e: (_gb2312_share(tied[e]), e == "gb18030")), True


def _family(encoding: str) -> str:
    return "big5" if encoding.startswith("big5") else "gb18030"


def _gb2312_share(text: str) -> float:
    """Share of the CJK characters of ``text`` in GB2312 (6,763 everyday simplified ones)."""
    cjk = [ch for ch in text if ord(ch) > 0x2E80]
    if not cjk:
        return 0.0
    inside = 0
    for ch in cjk:
        try:
            ch.encode("gb2312")
            inside += 1
        except UnicodeEncodeError:
            pass
    return inside / len(cjk)


# -- reading -------------------------------------------------------------------------------


def _csv_text(path: Path, encoding: str | None) -> tuple[str, str, bool]:
    data = path.read_bytes()
    detected = False
    if encoding is None:
        encoding, detected = detect_encoding(data)
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        what = "not UTF-8 or GB18030/Big5 text" if detected else f"not {encoding} text ({exc})"
        raise PlanFileError(
            f"{path.name}: {what}; save the CSV as UTF-8, or pass --encoding with its "
            "encoding (utf-8, gb18030, big5)"
        ) from exc
    return text, encoding, detected


def _csv_table(text: str, name: str, expect: list[str]) -> Table:
    """A CSV's table: pandas' parser below the header found (fast), else the csv module.

    Row numbers are line numbers, exact unless a quoted cell spans lines.
    """
    try:
        scan = list(itertools.islice(csv.reader(_io.StringIO(text)), _HEADER_SCAN))
        header = _header_index([[v.strip() for v in row] for row in scan], expect)
        if header is None:
            raise PlanFileError(f"{name}: nothing in it; the table needs a header row and rows")
        try:
            return _parsed_csv(text, header, name)
        except (pd.errors.ParserError, ValueError):  # ragged rows: the careful way
            return _table(list(csv.reader(_io.StringIO(text))), name, expect)
    except csv.Error as exc:
        raise PlanFileError(f"{name}: cannot read the CSV: {exc}") from exc


def _parsed_csv(text: str, header: int, name: str) -> Table:
    raw = pd.read_csv(
        _io.StringIO(text), header=None, skiprows=header, dtype=str, keep_default_na=False,
        skip_blank_lines=False, na_filter=False,
    )  # fmt: skip
    heads = _headers([str(v).strip() for v in raw.iloc[0]]) if len(raw) else []
    body = raw.iloc[1:, : len(heads)].reset_index(drop=True)
    body.columns = pd.Index(heads)
    body = body.apply(lambda column: column.str.strip())
    filled = (body != "").any(axis=1).to_numpy()
    rows = (np.flatnonzero(filled) + header + 2).tolist()
    frame = body if filled.all() else body[filled].reset_index(drop=True)
    keep = [c for c in frame.columns if not (c.startswith("_column") and not frame[c].any())]
    return Table(frame[keep], rows, header + 1, name)


def _excel_cells(path: Path, sheet: str | None) -> tuple[list[list[Any]], str]:
    _check_unpacked(path)
    try:
        from python_calamine import CalamineWorkbook
    except ImportError:  # pragma: no cover - calamine is a dependency; openpyxl reads .xlsx
        return _openpyxl_cells(path, sheet)
    try:
        book = CalamineWorkbook.from_path(str(path))
        chosen = _sheet_name(book.sheet_names, sheet, path)
        return book.get_sheet_by_name(chosen).to_python(skip_empty_area=False), chosen
    except PlanFileError:
        raise
    except Exception as exc:  # calamine raises its own errors for broken files
        raise PlanFileError(
            f"{path.name}: not a readable Excel workbook ({exc}); open it in Excel and save it "
            "again as .xlsx"
        ) from exc


def _check_unpacked(path: Path) -> None:
    """Refuse a workbook whose XML would unpack to more than 200 MB (a zip bomb)."""
    if not zipfile.is_zipfile(path):
        return  # .xls, or not a workbook at all: the reader says so
    with zipfile.ZipFile(path) as archive:
        size = sum(info.file_size for info in archive.infolist())
    if size > _MAX_UNPACKED:
        raise PlanFileError(
            f"{path.name}: the workbook unpacks to {size / 1e6:.0f} MB, more than "
            f"{_MAX_UNPACKED / 1e6:.0f} MB; split it into smaller workbooks"
        )


def _openpyxl_cells(path: Path, sheet: str | None) -> tuple[list[list[Any]], str]:
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    chosen = _sheet_name(book.sheetnames, sheet, path)
    return [list(row) for row in book[chosen].iter_rows(values_only=True)], chosen


def _sheet_name(names: Sequence[str], sheet: str | None, path: Path) -> str:
    if not names:
        raise PlanFileError(f"{path.name}: the workbook has no sheet")
    if sheet is None:
        return names[0]
    if sheet in names:
        return sheet
    raise PlanFileError(
        f"{path.name}: no sheet {sheet!r}; its sheets: {', '.join(names)} (choose one with "
        f"{path.name}:SHEET)"
    )


def _table(cells: list[list[Any]], name: str, expect: list[str]) -> Table:
    texts = [[v.strip() if type(v) is str else cell_text(v) for v in row] for row in cells]
    header = _header_index(texts, expect)
    if header is None:
        raise PlanFileError(f"{name}: nothing in it; the table needs a header row and rows")
    heads = _headers(texts[header])
    width = len(heads)
    rows, numbers, body = [], [], []
    for i in range(header + 1, len(texts)):
        values = (texts[i] + [""] * width)[:width]
        if not any(values):
            continue
        rows.append(i + 1)
        body.append(values)
        for j, value in enumerate(cells[i][:width]):
            if isinstance(value, float) and abs(value) >= 10**_EXACT_DIGITS:
                numbers.append((i + 1, heads[j]))
    frame = (
        pd.DataFrame(body, columns=heads, dtype=object)
        if body
        else pd.DataFrame(columns=heads, dtype=object)
    )
    keep = [c for c in frame.columns if not (c.startswith("_column") and not frame[c].any())]
    return Table(frame[keep], rows, header + 1, name, numbers=numbers)


def _header_index(texts: list[list[str]], expect: list[str]) -> int | None:
    scan = texts[:_HEADER_SCAN]
    filled = [sum(1 for v in row if v and not _numeric(v)) for row in scan]
    if not any(filled):
        return None
    if expect:
        wanted = {_key(e) for e in expect}
        hits = [sum(1 for v in row if v and _key(v) in wanted) for row in scan]
        if max(hits) > 0:
            return hits.index(max(hits))
    widest = max(filled)
    return next(i for i, n in enumerate(filled) if n >= max(1, min(2, widest), widest / 2))


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _headers(row: list[str]) -> list[str]:
    """Header texts, blanks named ``_columnN``, repeats numbered (``姓名``, ``姓名_2``)."""
    while row and not row[-1]:
        row = row[:-1]
    heads: list[str] = []
    for j, text in enumerate(row):
        head = " ".join(text.split()) or f"_column{j + 1}"
        base, n = head, 2
        while head in heads:
            head, n = f"{base}_{n}", n + 1
        heads.append(head)
    return heads


# -- writing -------------------------------------------------------------------------------


def write_table(
    frame: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    headers: Mapping[str, str] | None = None,
    text_columns: Iterable[str] = (),
    sheet: str = "Sheet1",
) -> Path:
    """Write one table as ``.xlsx`` (Excel, codes and phones as text) or ``.csv``.

    Parameters
    ----------
    frame
        The table; a geometry column is left out.
    path
        A ``.xlsx`` or ``.csv`` file; written whole or not at all.
    headers
        Column → header to write (e.g. ``{"code": "网格编码"}``); others keep their names.
    text_columns
        Columns written as text whatever their values (besides text columns and those named
        like codes, phones or ID numbers, which always are).
    sheet
        The sheet's name.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    return write_workbook(path, {sheet: frame}, headers=headers, text_columns=text_columns)


def write_workbook(
    path: str | os.PathLike[str],
    sheets: Mapping[str, pd.DataFrame],
    *,
    headers: Mapping[str, str] | None = None,
    text_columns: Iterable[str] = (),
) -> Path:
    """Write several tables as the sheets of one ``.xlsx`` (a ``.csv`` takes one table).

    As :func:`write_table`, one sheet per item of ``sheets``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise PlanFileError(f"{path.name}: write tables as .xlsx or .csv (format from the suffix)")
    if suffix == ".csv" and len(sheets) != 1:
        raise PlanFileError(f"{path.name}: a CSV holds one table; write .xlsx for several")
    texts = set(text_columns)
    prepared = {name: _prepared(frame, headers or {}, texts) for name, frame in sheets.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    with _staging(path) as staged:
        if suffix == ".csv":
            ((frame, _),) = prepared.values()
            frame.to_csv(staged, index=False, encoding="utf-8-sig")
        else:
            _write_xlsx(staged, prepared)
    return path


def _prepared(
    frame: pd.DataFrame, headers: Mapping[str, str], texts: set[str]
) -> tuple[pd.DataFrame, list[bool]]:
    """The frame to write (headers renamed, no geometry) and which columns are text."""
    frame = pd.DataFrame(frame).drop(columns=["geometry"], errors="ignore")
    as_text = [
        str(c) in texts
        or headers.get(str(c), str(c)) in texts
        or any(h in str(c).lower() for h in _TEXT_HINTS)
        or not pd.api.types.is_numeric_dtype(frame[c])
        or pd.api.types.is_bool_dtype(frame[c])
        for c in frame.columns
    ]
    return frame.rename(columns={c: headers.get(str(c), str(c)) for c in frame.columns}), as_text


def _write_xlsx(path: Path, sheets: Mapping[str, tuple[pd.DataFrame, list[bool]]]) -> None:
    import xlsxwriter

    options = {"strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False}
    with xlsxwriter.Workbook(str(path), options) as book:
        head = book.add_format(
            {"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True}
        )
        text = book.add_format({"num_format": "@"})
        for name, (frame, as_text) in sheets.items():
            sheet = book.add_worksheet(_sheet_title(name))
            for j, column in enumerate(frame.columns):
                values = frame.iloc[:, j].tolist()
                sheet.set_column(j, j, _width(column, values), text if as_text[j] else None)
                sheet.write_string(0, j, str(column), head)
                for i, value in enumerate(values, start=1):
                    _write_cell(sheet, i, j, value, as_text[j], text)
            sheet.freeze_panes(1, 0)
            if len(frame.columns):
                sheet.autofilter(0, 0, max(len(frame), 1), len(frame.columns) - 1)


def _write_cell(sheet: Any, i: int, j: int, value: Any, as_text: bool, text: Any) -> None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return
    if as_text or isinstance(value, str):
        sheet.write_string(i, j, _plain(value), text)
    elif isinstance(value, bool):
        sheet.write_boolean(i, j, value)
    else:
        number = float(value)
        if math.isfinite(number):
            sheet.write_number(i, j, number)


def _plain(value: Any) -> str:
    if isinstance(value, list | tuple):
        return " / ".join(map(str, value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return cell_text(value) if not isinstance(value, str) else value


def _width(column: Any, values: list[Any]) -> float:
    texts = [str(column)] + [_plain(v) for v in values[:2000] if v is not None]
    widest = max(
        sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in t) for t in texts
    )
    return float(min(max(widest + 2, 6), 60))


def _sheet_title(name: str) -> str:
    """A valid sheet name: at most 31 characters, no brackets, colon, ``*``, ``?`` or slashes."""
    return re.sub(r"[\[\]:*?/\\]", "_", name)[:31] or "Sheet1"
