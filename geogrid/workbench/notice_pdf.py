"""The change list (调整公示) as a printable A4 PDF, for the notice board before a redraw."""

from __future__ import annotations

import datetime as dt
import os

import pandas as pd

from geogrid.partition.notice import notice
from geogrid.render._pdf import PdfWriter

__all__ = ["write_notice_pdf"]

_PAGE = (297.0, 210.0)  # A4 landscape, mm
_MARGIN, _ROW, _SIZE = 12.0, 6.5, 8.5


def write_notice_pdf(changes: pd.DataFrame, path: str | os.PathLike[str], *, title: str) -> None:
    """Write ``changes`` (:data:`~geogrid.partition.notice.CHANGE_COLUMNS`) as a table.

    Bilingual headers as the spreadsheet has them; as many pages as the rows need, each with
    the title, the date and its page number; an empty list says that nothing moves.
    """
    table = notice(changes).astype(object)
    table = table.where(pd.notna(table), "")
    cells = [[str(v) for v in row] for row in table.itertuples(index=False)]
    headers = [str(h) for h in table.columns]
    today = dt.date.today().isoformat()
    footer = f"共 {len(cells)} 栋 · {int(changes['households'].sum())} 户 · {today}"
    texts = [
        title,
        footer,
        "没有楼栋调整 no building moves",
        *headers,
        *(v for row in cells for v in row),
    ]
    texts += [f"第 {n} 页" for n in range(1, len(cells) // 20 + 3)]
    writer = PdfWriter(path, _PAGE, texts, title)
    width = (_PAGE[0] - 2 * _MARGIN) / max(len(headers), 1)
    per_page = int((_PAGE[1] - 2 * _MARGIN - 20) // _ROW)
    pages = [cells[i : i + per_page] for i in range(0, len(cells), per_page)] or [[]]
    for number, rows in enumerate(pages, start=1):
        top = _PAGE[1] - _MARGIN
        writer.text(_MARGIN, top - 6, title, 14)
        writer.text(_PAGE[0] - _MARGIN, top - 6, footer, 9, align="right")
        y = top - 16
        for column, header in enumerate(headers):
            writer.rect(_MARGIN + column * width, y - 1.8, width, _ROW, fill="#e8e8e8", line=0.2)
            writer.text(_MARGIN + column * width + 1.5, y, _fit(writer, header, width), _SIZE)
        for row in rows:
            y -= _ROW
            for column, value in enumerate(row):
                writer.rect(_MARGIN + column * width, y - 1.8, width, _ROW, line=0.2)
                writer.text(_MARGIN + column * width + 1.5, y, _fit(writer, value, width), _SIZE)
        if not cells:
            writer.text(_MARGIN, y - 10, "没有楼栋调整 no building moves", 11)
        writer.text(_PAGE[0] / 2, _MARGIN / 2, f"第 {number} 页", 8, align="centre")
        writer.next_page()
    writer.save()


def _fit(writer: PdfWriter, text: str, width_mm: float) -> str:
    """``text`` cut to fit a column (its characters stay in the font subset)."""
    while text and writer.width_mm(text, _SIZE) > width_mm - 3:
        text = text[:-1]
    return text
