"""The wall map's legend table (图例): number, colour, code, name, head, workers, phone, households.

:func:`legend_rows` makes the table from a plan (the web map lists the same rows).
:func:`draw_legend` fills the sheet's legend region with side-by-side tables in the largest
type that fits them all (8, 7 or 6 pt on A4, else 5.5); a cell too long for its column is clipped with an
ellipsis. Rows that do not fit continue on extra pages: matplotlib figures for a PNG, or, for
a PDF, pages written straight with reportlab (:func:`write_legend_pages`) — the same table at
a few milliseconds a page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geogrid.plan import GridPlan
from geogrid.render._draw import TextMeter
from geogrid.render.paper import (
    COLUMN_MM,
    MM_PER_PT,
    Box,
    Layout,
    legend_size,
    page_figure,
)
from geogrid.roles import current_roles

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

__all__ = [
    "LEGEND_HEADER",
    "continuation_pages",
    "draw_legend",
    "legend_rows",
    "write_legend_pages",
]

LEGEND_HEADER = ("序号", "编码", "网格名称", "网格长", "网格员", "联系电话", "户数")
"""The legend's column headings, one per column of :func:`legend_rows`."""


def legend_rows(plan: GridPlan, grids: gpd.GeoDataFrame | None = None) -> pd.DataFrame:
    """The legend table: one row per grid with number, code, name, head, workers, phone, households.

    The roles come from :func:`~geogrid.roles.current_roles`: ``head`` is the grid's first
    head (网格长), ``workers`` the workers of the first worker role the grid has (full-time
    before part-time, :meth:`~geogrid.roles.RoleSet.workers`), and ``phone`` the first
    worker's (the number residents call), else the head's.

    Parameters
    ----------
    plan
        The plan; its staff table gives heads, workers and phones.
    grids
        The grids to list, in legend order; default every grid of the plan.

    Returns
    -------
    pandas.DataFrame
        Columns ``number`` (1, 2, …), ``code``, ``name``, ``head``, ``workers`` (names joined
        with 、), ``phone`` and ``households``, as text with ``—`` where missing (``number``
        is an integer).

    Examples
    --------
    >>> from shapely.geometry import box
    >>> grids = gpd.GeoDataFrame({"code": ["001"], "name": ["一网格"], "level": [1], "households": [320]},
    ...     geometry=[box(116.30, 40.0, 116.31, 40.01)], crs=4490)
    >>> staff = pd.DataFrame({"grid_code": ["001", "001"], "role": ["head", "full_time"],
    ...     "name": ["王芳", "李强"], "phone": ["13800000001", "13800000002"]})
    >>> legend_rows(GridPlan("示例", ["网格"], grids, staff)).iloc[0, 1:].tolist()
    ['001', '一网格', '王芳', '李强', '13800000002', '320']
    """
    grids = plan.grids if grids is None else grids
    codes = grids["code"].astype(str)
    contacts = _contacts(plan)
    head, workers, phone = (
        np.array([contacts.get(c, ("—", "—", "—"))[i] for c in codes], dtype=object)
        for i in range(3)
    )
    return pd.DataFrame(
        {
            "number": np.arange(1, len(grids) + 1),
            "code": codes.to_numpy(),
            "name": grids["name"].astype(str).to_numpy(),
            "head": head,
            "workers": workers,
            "phone": phone,
            "households": grids["households"]
            .map(lambda v: "—" if pd.isna(v) else str(int(v)))
            .to_numpy(),
        }
    )


def _contacts(plan: GridPlan) -> dict[str, tuple[str, str, str]]:
    """Grid code -> (head, workers joined with 、, phone), a dash where missing."""
    roles = current_roles()
    out = {}
    for code, people in plan.staff_by_grid().items():
        heads, workers = roles.heads(people), roles.workers(people)
        phones = [p["phone"] for p in workers + heads if p["phone"]]
        out[code] = (
            heads[0]["name"] or "—" if heads else "—",
            "、".join(str(p["name"]) for p in workers if p["name"]) or "—",
            (phones[0] if phones else None) or "—",
        )
    return out


def draw_legend(
    fig: Figure,
    layout: Layout,
    rows: pd.DataFrame,
    colours: dict[str, str],
    font: FontProperties,
    meter: TextMeter,
    title: str,
    mode: str = "figures",
) -> tuple[list[Figure], int, float]:
    """Draw the legend on the sheet; return continuation figures, rows drawn and type size.

    ``mode`` says what happens to the rows that do not fit: ``"figures"`` draws them on more
    matplotlib pages (for PNG), ``"rows"`` leaves them to :func:`write_legend_pages` (fast,
    for PDF), ``"note"`` prints a note on the sheet saying how many rows it lists.

    Parameters
    ----------
    fig
        The sheet; the legend fills ``layout.legend``.
    layout
        The page layout.
    rows
        The legend rows (:func:`legend_rows`).
    colours
        Grid code -> fill colour of its swatch.
    font, meter
        The map font, to draw with and to measure text (columns fit their longest cell).
    title
        The map title, repeated on continuation pages.
    mode
        ``"figures"``, ``"rows"`` or ``"note"``, as above.

    Returns
    -------
    tuple
        The continuation figures (``"figures"`` mode, else none), how many rows were drawn,
        and the type size in points.
    """
    size = next(
        (
            s * layout.k
            for s in (8.0, 7.0, 6.0)
            if _capacity(layout, layout.legend, rows, s * layout.k, meter)[2] >= len(rows)
        ),
        legend_size(layout.k),
    )
    done = _legend_block(fig, layout, layout.legend, rows, colours, font, meter, size)
    extra: list[Figure] = []
    if mode == "note" and done < len(rows):
        x, y, _, _ = layout.legend
        fig.text(
            x / layout.width,
            (y - 0.5 * layout.k) / layout.height,
            f"图例列出第 1–{done} 行，共 {len(rows)} 行；其余见图例续页",
            fontproperties=font,
            size=size,
            ha="left",
            va="top",
            color="#b3261e",
        )
    if mode != "figures":
        return extra, done, size
    while done < len(rows):
        page = page_figure(layout)
        x, y, w, h = layout.title
        page.text(
            (x + w / 2) / layout.width,
            (y + 0.55 * h) / layout.height,
            f"{title} · 图例（续）",
            fontproperties=font,
            size=12 * layout.k,
            ha="center",
            va="baseline",
        )
        region = _continuation_region(layout)
        done += _legend_block(page, layout, region, rows.iloc[done:], colours, font, meter, size)
        extra.append(page)
    return extra, done, size


def _continuation_region(layout: Layout) -> Box:
    """The table area of a legend continuation page (between footer and title), in mm."""
    return (
        layout.footer[0],
        layout.footer[1] + layout.footer[3],
        layout.footer[2],
        layout.title[1] - layout.footer[1] - layout.footer[3],
    )


def continuation_pages(layout: Layout, rows: pd.DataFrame, size: float, meter: TextMeter) -> int:
    """How many continuation pages ``rows`` need at type ``size`` (none for no rows)."""
    if rows.empty:
        return 0
    per_page = _capacity(layout, _continuation_region(layout), rows, size, meter)
    return math.ceil(len(rows) / max(1, per_page[0] * per_page[1]))


def write_legend_pages(
    path: Path,
    layout: Layout,
    rows: pd.DataFrame,
    colours: dict[str, str],
    size: float,
    meter: TextMeter,
    title: str,
    footer: str,
    first_page: int,
    total: int,
) -> int:
    """Write the legend continuation pages straight to a PDF with reportlab; return pages.

    The same table as on the sheet (same font, sizes, column widths and swatches) at a few
    milliseconds a page, where matplotlib needs about 2 s for a page of 200 rows.

    Parameters
    ----------
    path
        The PDF to write (the wall map appends it to the sheet).
    layout
        The page layout.
    rows
        The legend rows left over from the sheet.
    colours
        Grid code -> swatch colour.
    size
        Type size in points, as on the sheet.
    meter
        Measures text for the column widths and clipping.
    title, footer
        The map's title (with 图例（续）) and footer text, printed on every page.
    first_page, total
        Page number of the first continuation page, and pages in the whole document.
    """
    from geogrid.render._pdf import PdfWriter

    texts = [title + " · 图例（续）", footer + "第页共·", "".join(LEGEND_HEADER), "—…"]
    texts += ["".join(map(str, row)) for row in rows.itertuples(index=False)]
    writer = PdfWriter(path, (layout.width, layout.height), texts, f"{title} · 图例（续）")
    x0, y0, w, h = _continuation_region(layout)
    per_column, columns, _ = _capacity(layout, (x0, y0, w, h), rows, size, meter)
    widths = _column_widths(rows, size, meter, layout.k)
    table_w = sum(widths) + 3 * layout.k
    row_mm = size * 1.25 * MM_PER_PT
    done, page = 0, first_page
    while done < len(rows):
        tx, ty, tw, th = layout.title
        writer.text(
            tx + tw / 2, ty + 0.55 * th, f"{title} · 图例（续）", 12 * layout.k, align="centre"
        )
        for c in range(columns):
            chunk = rows.iloc[done : done + per_column]
            if chunk.empty:
                break
            _legend_table_pdf(
                writer,
                layout,
                (x0 + c * table_w, y0 + h),
                chunk,
                colours,
                widths,
                size,
                meter,
                row_mm,
            )
            done += len(chunk)
        fx, fy, _, fh = layout.footer
        writer.text(
            fx,
            fy + 0.3 * fh,
            f"{footer}  ·  第 {page} 页 共 {total} 页",
            5 * layout.k,
            colour="#444444",
        )
        writer.next_page()
        page += 1
    writer.save()
    return writer.pages


def _legend_table_pdf(
    writer: Any,
    layout: Layout,
    top_left: tuple[float, float],
    rows: pd.DataFrame,
    colours: dict[str, str],
    widths: Sequence[float],
    size: float,
    meter: TextMeter,
    row_mm: float,
) -> None:
    x0, top = top_left
    baselines = [top - (i + 1) * row_mm - 0.25 * row_mm for i in range(len(rows) + 1)]
    swatch = 3.2 * layout.k
    for code, base in zip(rows["code"], baselines[1:], strict=True):
        writer.rect(
            x0,
            base - 0.1 * row_mm,
            swatch,
            0.8 * row_mm,
            fill=colours.get(code, "#eeeeee"),
            stroke="#555555",
            line=0.07 * layout.k,
        )
    for i, column in enumerate(rows.columns):
        at = x0 + 4.0 * layout.k if i == 0 else x0 + sum(widths[:i])
        values = [
            LEGEND_HEADER[i],
            *(_clip(str(v), widths[i] - 1.5 * layout.k, size, meter) for v in rows[column]),
        ]
        colour = "#000000" if i else "#333333"
        for value, base in zip(values, baselines, strict=True):
            writer.text(at, base, value, size, colour=colour)
    rule = baselines[0] - 0.3 * row_mm
    writer.line(x0, rule, x0 + sum(widths), rule, colour="#333333", width=0.1 * layout.k)


def _legend_block(
    fig: Figure,
    layout: Layout,
    region: tuple[float, float, float, float],
    rows: pd.DataFrame,
    colours: dict[str, str],
    font: FontProperties,
    meter: TextMeter,
    size: float,
) -> int:
    """Fill ``region`` with as many legend rows as fit, in side-by-side tables; return how many."""
    x, y, _, h = region
    per_column, columns, count = _capacity(layout, region, rows, size, meter)
    widths = _column_widths(rows, size, meter, layout.k)
    table_w = sum(widths) + 3 * layout.k
    for c in range(columns):
        chunk = rows.iloc[c * per_column : (c + 1) * per_column]
        if chunk.empty:
            break
        _legend_table(
            fig, layout, (x + c * table_w, y + h), chunk, colours, widths, size, font, meter
        )
    return count


def _capacity(
    layout: Layout,
    region: tuple[float, float, float, float],
    rows: pd.DataFrame,
    size: float,
    meter: TextMeter,
) -> tuple[int, int, int]:
    """Rows per table, tables side by side, and rows that fit in ``region`` at ``size``."""
    _, _, w, h = region
    row_mm = size * 1.25 * MM_PER_PT
    per_column = max(1, int(h // row_mm) - 2)
    table_w = sum(_column_widths(rows, size, meter, layout.k)) + 3 * layout.k
    columns = max(1, int((w + 3 * layout.k) // table_w))
    return per_column, columns, min(len(rows), per_column * columns)


def _column_widths(rows: pd.DataFrame, size: float, meter: TextMeter, k: float) -> list[float]:
    widths = []
    for i, column in enumerate(rows.columns):
        longest = max([LEGEND_HEADER[i], *(str(v) for v in rows[column])], key=len)
        natural = meter.width(longest, size) * MM_PER_PT + 2.0 * k
        widths.append(min(max(natural, 6.0 * k), 2.2 * COLUMN_MM[i] * k))
    widths[0] += 4.0 * k  # colour swatch before the number
    return widths


def _legend_table(
    fig: Figure,
    layout: Layout,
    top_left: tuple[float, float],
    rows: pd.DataFrame,
    colours: dict[str, str],
    widths: Sequence[float],
    size: float,
    font: FontProperties,
    meter: TextMeter,
) -> None:
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    x0, top = top_left
    row_mm = size * 1.25 * MM_PER_PT
    swatch = 3.2 * layout.k
    fx, fy = 1.0 / layout.width, 1.0 / layout.height
    baselines = [top - (i + 1) * row_mm - 0.25 * row_mm for i in range(len(rows) + 1)]
    cells = [
        Rectangle((x0 * fx, (b - 0.1 * row_mm) * fy), swatch * fx, 0.8 * row_mm * fy)
        for b in baselines[1:]
    ]
    faces = [colours.get(code, "#eeeeee") for code in rows["code"]]
    fig.add_artist(
        PatchCollection(cells, facecolors=faces, edgecolors="#555555", linewidths=0.2 * layout.k)
    )
    for i, column in enumerate(rows.columns):
        at = (x0 + 4.0 * layout.k if i == 0 else x0 + sum(widths[:i])) * fx
        values = [
            LEGEND_HEADER[i],
            *(_clip(str(v), widths[i] - 1.5 * layout.k, size, meter) for v in rows[column]),
        ]
        colour = "#000000" if i else "#333333"
        for value, baseline in zip(values, baselines, strict=True):
            fig.text(
                at,
                baseline * fy,
                value,
                fontproperties=font,
                size=size,
                ha="left",
                va="baseline",
                color=colour,
            )
    rule = baselines[0] - 0.3 * row_mm
    fig.add_artist(_rule(x0 * fx, (x0 + sum(widths)) * fx, rule * fy, 0.3 * layout.k))


def _rule(x0: float, x1: float, y: float, width: float) -> Any:
    from matplotlib.lines import Line2D

    return Line2D([x0, x1], [y, y], color="#333333", linewidth=width)


def _clip(text: str, width_mm: float, size: float, meter: TextMeter) -> str:
    """Shorten ``text`` with an ellipsis so it fits ``width_mm`` at ``size`` points."""
    if meter.width(text, size) * MM_PER_PT <= width_mm:
        return text
    while len(text) > 1 and meter.width(text + "…", size) * MM_PER_PT > width_mm:
        text = text[:-1]
    return text + "…"
