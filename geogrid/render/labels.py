"""Grid labels on the wall map: the name inside every grid, or a numbered callout.

Each label goes inside its grid clear of the labels already placed: the pole of
inaccessibility first, then a lattice of points inside the grid, at shrinking sizes (down to
5 pt); the name with the code below it when there is room, else the name alone. A grid
whose name cannot fit gets its legend number in a small circle (a numbered callout).
:func:`place_labels` returns every placement as a :class:`LabelPlacement`. In a PDF the
labels are printed over the sheet with reportlab (:func:`write_label_overlay`), since
matplotlib spends about 1.5 ms of CPU on each label it sets.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from geogrid.plan import PLAN_CRS
from geogrid.render._draw import TextMeter
from geogrid.render.paper import MM_PER_PT, Box, Layout

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.font_manager import FontProperties

__all__ = ["LabelPlacement", "page_spots", "place_labels", "write_label_overlay"]

_MIN_LABEL_PT = 5.0
"""Smallest label size in points (names on a wall map are read from close up)."""
_Found: TypeAlias = tuple[str, tuple[float, float], float, Box, int | None]


@dataclasses.dataclass(frozen=True)
class LabelPlacement:
    """Where one grid's label went.

    Attributes
    ----------
    code
        Grid code.
    text
        The label as printed (name, maybe with the code below), or the callout number.
    lon, lat
        Centre of the label (EPSG:4490).
    box
        The label's extent on the map (xmin, ymin, xmax, ymax) in metres of the map's CRS
        (:attr:`~geogrid.render.wallmap.WallMap.crs`).
    size
        Font size in points.
    callout
        The legend number printed in a circle when the name did not fit, else ``None``.
    """

    code: str
    text: str
    lon: float
    lat: float
    box: tuple[float, float, float, float]
    size: float
    callout: int | None = None


def place_labels(
    ax: Axes,
    metric: gpd.GeoDataFrame,
    rows: pd.DataFrame,
    layout: Layout,
    font: FontProperties,
    meter: TextMeter,
    scale: float,
    step: Callable[[str, int], None],
    draw_text: bool = True,
) -> list[LabelPlacement]:
    """Fit a label or a callout into every grid and draw the callout circles.

    The text is drawn too unless ``draw_text`` is off (a PDF gets its labels from
    :func:`write_label_overlay`).

    Parameters
    ----------
    ax
        The map axes, its limits set, in metres of ``metric.crs``.
    metric
        The grids in a metric CRS, in the order of ``rows``.
    rows
        Their legend rows (:func:`~geogrid.render.legend.legend_rows`): name, code, number.
    layout
        The page layout (type scale).
    font, meter
        The map font, to draw with and to measure text.
    scale
        Map scale denominator.
    step
        Progress callback, called once per grid.
    draw_text
        Draw the labels on ``ax`` (the callout circles are drawn either way).

    Returns
    -------
    list of LabelPlacement
        One per grid, in the order of ``rows``.
    """
    m_per_pt = scale * MM_PER_PT / 1000.0
    to_lonlat = Transformer.from_crs(metric.crs, PLAN_CRS, always_xy=True)
    factors = (9.0, 7.0, 5.5, 4.5, 3.5, 2.5, 1.75, 1.25)
    sizes = sorted({max(f * layout.k, _MIN_LABEL_PT) for f in factors}, reverse=True)
    placed = np.zeros((len(metric), 4))
    found_all: list[_Found] = []
    geoms = shapely.make_valid(metric.geometry.to_numpy())
    for i, (geom, row) in enumerate(zip(geoms, rows.itertuples(index=False), strict=True)):
        shapely.prepare(geom)
        found = _fit_label(geom, row, sizes, meter, m_per_pt, placed[:i])
        found = found or _callout(geom, row, sizes, meter, m_per_pt)
        placed[i] = found[3]
        found_all.append(found)
        step("labels", 1)
    xy = np.array([f[1] for f in found_all]).reshape(-1, 2)
    lon, lat = to_lonlat.transform(xy[:, 0], xy[:, 1])
    labels = []
    for (text, (x, y), size, box, callout), code, a, b in zip(
        found_all, rows["code"], lon, lat, strict=True
    ):
        labels.append(LabelPlacement(str(code), text, float(a), float(b), box, size, callout))
        if draw_text:
            _draw_label(ax, text, x, y, size, font, callout)
    _draw_callout_circles(ax, labels, m_per_pt)
    return labels


def _fit_label(
    geom: shapely.Geometry,
    row: Any,
    sizes: Sequence[float],
    meter: TextMeter,
    m_per_pt: float,
    placed: np.ndarray,
) -> _Found | None:
    """The largest label that fits inside the grid clear of the labels already placed.

    A box inside the largest inscribed circle fits without a test; other sizes try every
    candidate point at once.
    """
    found = _candidates(geom)
    if found is None:
        return None
    points, radius = found
    gx0, gy0, gx1, gy1 = geom.bounds
    near = placed
    near = near[(near[:, 0] < gx1) & (near[:, 2] > gx0) & (near[:, 1] < gy1) & (near[:, 3] > gy0)]
    area = float(geom.area)
    for size in sizes:
        for text in (f"{row.name}\n{row.code}", str(row.name)):
            half_w = meter.width(text, size) * m_per_pt / 2 * 1.08
            half_h = meter.height(text, size) * m_per_pt / 2 * 1.08
            if 2 * half_w > gx1 - gx0 or 2 * half_h > gy1 - gy0 or 4 * half_w * half_h > area:
                continue
            boxes = np.column_stack(
                [
                    points[:, 0] - half_w,
                    points[:, 1] - half_h,
                    points[:, 0] + half_w,
                    points[:, 1] + half_h,
                ]
            )
            if math.hypot(half_w, half_h) <= radius:  # inside the inscribed circle at the pole
                ok = np.zeros(len(points), dtype=bool)
                ok[0] = True
            else:
                ok = shapely.contains(geom, shapely.box(*boxes.T))
            ok &= ~_overlaps(near, boxes)
            if ok.any():
                i = int(np.argmax(ok))
                box = (
                    float(boxes[i, 0]),
                    float(boxes[i, 1]),
                    float(boxes[i, 2]),
                    float(boxes[i, 3]),
                )
                return text, (float(points[i, 0]), float(points[i, 1])), size, box, None
    return None


def _candidates(geom: shapely.Geometry, n: int = 7) -> tuple[np.ndarray, float] | None:
    """Points to try for a label, best first, and the radius of the largest inscribed circle.

    The pole of inaccessibility of the largest part comes first, then a lattice of interior
    points, nearest the pole first.
    """
    parts = shapely.get_parts(geom)
    parts = parts[~shapely.is_empty(parts)]
    if not len(parts):
        return None
    largest = parts[int(np.argmax(shapely.area(parts)))]
    size = math.sqrt(max(float(largest.area), 1e-9))
    circle = shapely.maximum_inscribed_circle(largest, size / 40)
    pole = np.array(circle.coords[0])
    radius = float(circle.length)
    xmin, ymin, xmax, ymax = largest.bounds
    xs, ys = np.meshgrid(np.linspace(xmin, xmax, n + 2)[1:-1], np.linspace(ymin, ymax, n + 2)[1:-1])
    lattice = np.column_stack([xs.ravel(), ys.ravel()])
    lattice = lattice[shapely.contains_xy(largest, lattice[:, 0], lattice[:, 1])]
    order = np.argsort(np.hypot(lattice[:, 0] - pole[0], lattice[:, 1] - pole[1]))
    return np.vstack([pole[None, :], lattice[order]]), radius


def _overlaps(placed: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """For each of ``boxes`` (n × 4), whether it overlaps any of ``placed`` (m × 4)."""
    if not len(placed):
        return np.zeros(len(boxes), dtype=bool)
    p, b = placed[None, :, :], boxes[:, None, :]
    hit = (
        (p[..., 0] < b[..., 2])
        & (p[..., 2] > b[..., 0])
        & (p[..., 1] < b[..., 3])
        & (p[..., 3] > b[..., 1])
    )
    return np.asarray(hit.any(axis=1), dtype=bool)


def _callout(
    geom: shapely.Geometry, row: Any, sizes: Sequence[float], meter: TextMeter, m_per_pt: float
) -> _Found:
    """A numbered callout (the grid's legend number in a circle), as large as the grid allows."""
    number = int(row.number)
    x, y = shapely.point_on_surface(geom).coords[0]
    room = math.sqrt(max(float(geom.area), 0.0)) / 2
    for size in (*sizes[-3:], sizes[-1]):  # callouts stay small: a number, not a name
        radius = max(meter.width(str(number), size), size) * m_per_pt * 0.75
        if radius <= room:
            break
    box = (float(x - radius), float(y - radius), float(x + radius), float(y + radius))
    return str(number), (float(x), float(y)), size, box, number


def _draw_label(
    ax: Axes, text: str, x: float, y: float, size: float, font: FontProperties, callout: int | None
) -> None:
    if callout is None:
        lines = text.split("\n")
        ax.text(
            x,
            y,
            lines[0] if len(lines) == 1 else text,
            fontproperties=font,
            size=size,
            ha="center",
            va="center",
            ma="center",
            color="#111111",
            zorder=10,
            linespacing=1.2,
        )
        return
    ax.text(
        x,
        y,
        text,
        fontproperties=font,
        size=size,
        ha="center",
        va="center",
        color="#111111",
        zorder=10,
    )


def _draw_callout_circles(ax: Axes, labels: Sequence[LabelPlacement], m_per_pt: float) -> None:
    """White circles under the callout numbers, all in one collection (fast to write)."""
    rings = [label for label in labels if label.callout is not None]
    if not rings:
        return
    xs = [(label.box[0] + label.box[2]) / 2 for label in rings]
    ys = [(label.box[1] + label.box[3]) / 2 for label in rings]
    diameters = [(label.box[2] - label.box[0]) / m_per_pt for label in rings]  # points
    widths = [label.size * 0.08 for label in rings]
    ax.scatter(
        xs,
        ys,
        s=np.square(diameters),
        facecolors="white",
        edgecolors="#111111",
        linewidths=widths,
        zorder=9,
        marker="o",
    )


def page_spots(
    ax: Axes, layout: Layout, labels: Sequence[LabelPlacement]
) -> list[tuple[str, float, float, float]]:
    """Where each label's centre falls on the page, in mm from the bottom-left corner."""
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    mx, my, mw, mh = layout.map
    spots = []
    for label in labels:
        cx, cy = (label.box[0] + label.box[2]) / 2, (label.box[1] + label.box[3]) / 2
        spots.append(
            (
                label.text,
                mx + (cx - x0) / (x1 - x0) * mw,
                my + (cy - y0) / (y1 - y0) * mh,
                label.size,
            )
        )
    return spots


def write_label_overlay(
    path: Path, layout: Layout, spots: Sequence[tuple[str, float, float, float]]
) -> None:
    """One transparent page with the labels centred on their spots (lines 1.2 apart)."""
    from geogrid.render._pdf import PdfWriter

    writer = PdfWriter(path, (layout.width, layout.height), [text for text, *_ in spots], "labels")
    for text, x, y, size in spots:
        lines = text.split("\n")
        height = size * (1.0 + 1.2 * (len(lines) - 1))
        baseline = y + (height / 2 - 0.88 * size) * MM_PER_PT  # ascender of Noto Sans CJK: 0.88 em
        for line in lines:
            writer.text(x, baseline, line, size, align="centre")
            baseline -= 1.2 * size * MM_PER_PT
    writer.next_page()
    writer.save()
