"""The printed page: ISO 216 paper sizes and where the title, map, legend and footer go on it.

Regions are in millimetres from the page's bottom-left corner. Type and line weights grow
with the paper by the type scale ``k`` (1 on A4, 4 on A0), so a sheet reads the same on
every size. The wall map (:mod:`geogrid.render.wallmap`) lays out its sheet and its legend
pages here; the signs take their page sizes from :data:`PAPER_MM`.

Examples
--------
>>> layout = page_layout("A3", landscape=False, n_rows=12)
>>> layout.width, layout.height, layout.k
(297.0, 420.0, 1.4142857142857144)
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "COLUMN_MM",
    "MM_PER_PT",
    "PAPER_MM",
    "Box",
    "Layout",
    "legend_size",
    "mm_to_figure",
    "page_figure",
    "page_layout",
]

#: ISO 216 paper sizes, portrait (width, height) in millimetres.
PAPER_MM: dict[str, tuple[int, int]] = {
    "A0": (841, 1189),
    "A1": (594, 841),
    "A2": (420, 594),
    "A3": (297, 420),
    "A4": (210, 297),
}
MM_PER_PT = 25.4 / 72.0
"""Millimetres per typographic point."""
Box: TypeAlias = tuple[float, float, float, float]
"""A rectangle on the page or the map: (x, y, width, height) or (xmin, ymin, xmax, ymax)."""
COLUMN_MM = (9.0, 27.0, 24.0, 11.0, 20.0, 20.0, 9.0)
"""Legend column widths in mm on A4 (times ``k`` on larger paper): swatch and number, code,
name, head, workers, phone, households."""


@dataclasses.dataclass
class Layout:
    """Page regions in millimetres from the bottom-left corner: (x, y, width, height).

    Attributes
    ----------
    width, height
        Page size in millimetres (turned for landscape).
    k
        Type scale: 1 on A4, about 4 on A0; sizes of type, lines and gaps are multiplied by it.
    title, map, legend, footer
        The regions of the sheet. The wall map shrinks ``map`` to the data's shape and gives
        the space freed to ``legend``.
    """

    width: float
    height: float
    k: float  # type scale: 1 on A4, 4 on A0
    title: Box
    map: Box
    legend: Box
    footer: Box


def page_layout(paper: str, landscape: bool, n_rows: int) -> Layout:
    """The regions of a wall-map sheet: title on top, footer below, map and legend between.

    Parameters
    ----------
    paper
        A key of :data:`PAPER_MM` (upper case).
    landscape
        Turn the paper; the legend then goes right of the map instead of below it.
    n_rows
        Legend rows to make room for (the legend takes at most 30 % of the height below the
        map; what does not fit goes to continuation pages).

    Returns
    -------
    Layout
        The page size, type scale and regions in millimetres.
    """
    width, height = map(float, PAPER_MM[paper])
    if landscape:
        width, height = height, width
    k = min(width, height) / 210.0
    margin = 10.0 * k
    title_h = 20.0 * k
    footer_h = 7.0 * k
    inner_w, inner_h = width - 2 * margin, height - 2 * margin
    body_h = inner_h - title_h - footer_h
    row_h = legend_size(k) * 1.25 * MM_PER_PT
    rows_needed = n_rows + 2
    if landscape:
        legend_w = min(0.34 * inner_w, max(_legend_width(k), 0.22 * inner_w))
        legend = (width - margin - legend_w, margin + footer_h, legend_w, body_h)
        map_box = (margin, margin + footer_h, inner_w - legend_w - 4 * k, body_h)
    else:
        columns = max(1, int(inner_w // _legend_width(k)))
        legend_h = min(0.3 * body_h, row_h * (math.ceil(rows_needed / columns) + 1))
        legend = (margin, margin + footer_h, inner_w, legend_h)
        map_box = (margin, margin + footer_h + legend_h + 3 * k, inner_w, body_h - legend_h - 3 * k)
    return Layout(
        width=width,
        height=height,
        k=k,
        title=(margin, height - margin - title_h, inner_w, title_h),
        map=map_box,
        legend=legend,
        footer=(margin, margin, inner_w, footer_h),
    )


def legend_size(k: float) -> float:
    """The smallest legend type in points at type scale ``k`` (5.5 pt on A4)."""
    return 5.5 * k


def _legend_width(k: float) -> float:
    """Width in mm of one legend table column group at type scale ``k``."""
    return sum(COLUMN_MM) * k


def page_figure(layout: Layout) -> Figure:
    """An empty matplotlib figure exactly the size of the page (72 dpi: 1 unit = 1 point)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(layout.width / 25.4, layout.height / 25.4), dpi=72)


def mm_to_figure(layout: Layout, box: Box) -> Box:
    """A region (x, y, width, height) in mm as fractions of the page, as matplotlib places axes."""
    x, y, w, h = box
    return (x / layout.width, y / layout.height, w / layout.width, h / layout.height)
