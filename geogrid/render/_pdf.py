"""A small PDF page writer on reportlab for the batch documents (公示牌, 直通卡).

Thousands of pages must print in about a minute, faster than matplotlib sets text, so the
signs and cards draw straight onto reportlab canvases: text in the TrueType subset of
Noto Sans CJK (:mod:`geogrid.render.fonts`, embedded, subset, with a ToUnicode map) and
polygons from shapely coordinates. Units are millimetres from the bottom-left corner.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from geogrid.errors import ConfigurationError
from geogrid.render.fonts import truetype_subset

__all__ = ["MM", "PdfWriter", "wrap"]

MM = 72.0 / 25.4
"""PDF points per millimetre."""


class PdfWriter:
    """Pages of one PDF with the map font registered.

    Parameters
    ----------
    path
        The PDF to write.
    size_mm
        Page (width, height) in millimetres.
    texts
        Every string the document shows (the font subset is made from them).
    title
        Document title (PDF metadata).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        size_mm: tuple[float, float],
        texts: Iterable[str],
        title: str,
    ):
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont
        from reportlab.pdfgen.canvas import Canvas

        texts = list(texts)
        font_file = truetype_subset(texts)
        self._chars = set().union(*map(set, texts)) | {chr(c) for c in range(0x20, 0x7F)}
        self.font = "GeogridCJK-" + hashlib.sha1(font_file.name.encode()).hexdigest()[:8]
        if self.font not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(self.font, str(font_file)))
        self.width, self.height = size_mm
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.canvas = Canvas(
            str(self.path),
            pagesize=(self.width * MM, self.height * MM),
            initialFontName=self.font,
            initialFontSize=10,
            pageCompression=1,
        )
        from reportlab import rl_config

        # binary (zlib only) streams: reportlab's pure-Python ASCII85 step took a third of the
        # time of a batch of signs; restored by save()
        self._a85 = rl_config.useA85
        rl_config.useA85 = 0
        self.canvas.setTitle(title)
        self.canvas.setCreator("geogrid")
        self.pages = 0

    def text(
        self,
        x: float,
        y: float,
        text: str,
        size: float,
        *,
        align: str = "left",
        colour: str = "#111111",
    ) -> None:
        """Write ``text`` with its baseline at (x, y) mm, aligned left, centre or right.

        Raises :class:`~geogrid.errors.ConfigurationError` for a character missing from the
        font subset (it would print as an empty box): every string must be among the ``texts``
        the writer was made with, so this is a fault of geogrid, not of the caller's input.
        """
        missing = set(text) - self._chars
        if missing:
            raise ConfigurationError(
                f"characters {''.join(sorted(missing))!r} are not in the map font subset; "
                "this is a fault of geogrid, not of your data: please report it"
            )
        c = self.canvas
        c.setFont(self.font, size)
        c.setFillColor(colour)
        draw = {"left": c.drawString, "centre": c.drawCentredString, "right": c.drawRightString}[
            align
        ]
        draw(x * MM, y * MM, text)

    def width_mm(self, text: str, size: float) -> float:
        """Width of ``text`` at ``size`` points, in millimetres."""
        from reportlab.pdfbase.pdfmetrics import stringWidth

        return float(stringWidth(text, self.font, size)) / MM

    def rect(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        *,
        fill: str | None = None,
        stroke: str | None = "#333333",
        line: float = 0.3,
    ) -> None:
        """A rectangle in mm; ``line`` is the stroke width in mm."""
        c = self.canvas
        if fill:
            c.setFillColor(fill)
        if stroke:
            c.setStrokeColor(stroke)
            c.setLineWidth(line * MM)
        c.rect(
            x * MM,
            y * MM,
            w * MM,
            h * MM,
            stroke=int(stroke is not None),
            fill=int(fill is not None),
        )

    def line(
        self,
        x0: float,
        y0: float,
        x1: float,
        y1: float,
        *,
        colour: str = "#333333",
        width: float = 0.3,
        dash: Sequence[float] | None = None,
    ) -> None:
        """A straight line in mm."""
        c = self.canvas
        c.setStrokeColor(colour)
        c.setLineWidth(width * MM)
        c.setDash(*(([d * MM for d in dash],) if dash else ()))
        c.line(x0 * MM, y0 * MM, x1 * MM, y1 * MM)
        c.setDash()

    def shapes(
        self,
        geoms: Sequence[shapely.Geometry] | np.ndarray,
        to_page: Any,
        *,
        fill: str | None,
        stroke: str | None,
        width: float = 0.3,
    ) -> None:
        """Draw polygons (even-odd, so holes stay open) or lines in one go.

        ``to_page`` maps an n×2 array of map coordinates to page millimetres. The path is
        written as raw PDF operators, thousands of vertices in milliseconds.
        """
        geoms = np.asarray(geoms, dtype=object)
        if not len(geoms):
            return
        c = self.canvas
        if fill:
            c.setFillColor(fill)
        if stroke:
            c.setStrokeColor(stroke)
            c.setLineWidth(width * MM)
        c.setLineJoin(1)
        c.setLineCap(1)
        polygonal = np.isin(shapely.get_type_id(geoms), (3, 6))
        for closed, part in ((True, geoms[polygonal]), (False, geoms[~polygonal])):
            ops = _path_ops(part, to_page, closed)
            if not ops:
                continue
            paint = ("B*" if stroke else "f*") if closed and fill else ("S" if stroke else "n")
            c.addLiteral(f"{ops} {paint}")

    def clip(self, x: float, y: float, w: float, h: float) -> None:
        """Clip what follows to a rectangle until :meth:`unclip`."""
        c = self.canvas
        c.saveState()
        path = c.beginPath()
        path.rect(x * MM, y * MM, w * MM, h * MM)
        c.clipPath(path, stroke=0, fill=0)

    def unclip(self) -> None:
        """End the clip started by :meth:`clip`."""
        self.canvas.restoreState()

    def next_page(self) -> None:
        """Finish the page."""
        self.canvas.showPage()
        self.pages += 1

    def save(self) -> Path:
        """Write the file."""
        from reportlab import rl_config

        try:
            self.canvas.save()
        finally:
            rl_config.useA85 = self._a85
        return self.path


_NO_LINE_START = "，。、；：？！）》」』,.;:?!)"


def _path_ops(geoms: np.ndarray, to_page: Any, closed: bool) -> str:
    """PDF path operators (m, l, h) for the rings or lines of ``geoms``, in points."""
    if not len(geoms):
        return ""
    parts = shapely.get_parts(geoms)
    lines = shapely.get_rings(parts) if closed else shapely.get_parts(parts)
    coords, owner = shapely.get_coordinates(lines, return_index=True)
    if not len(coords):
        return ""
    xy = to_page(coords) * MM
    starts = np.r_[True, owner[1:] != owner[:-1]]
    out = []
    close = " h" if closed else ""
    for (x, y), first, last in zip(xy, starts, np.r_[starts[1:], True], strict=True):
        out.append(f"{x:.2f} {y:.2f} {'m' if first else 'l'}{close if last else ''}")
    return " ".join(out)


def wrap(text: str, width_mm: float, size: float, writer: PdfWriter) -> list[str]:
    """Break ``text`` into lines no wider than ``width_mm`` (CJK breaks anywhere; keeps newlines)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for char in paragraph:
            if writer.width_mm(line + char, size) > width_mm and line:
                if char in _NO_LINE_START and len(line) > 1:  # keep closing punctuation on the line
                    lines.append(line[:-1])
                    line = line[-1] + char
                else:
                    lines.append(line)
                    line = char.lstrip()
            else:
                line += char
        lines.append(line)
    return lines
