"""Map furniture on the wall map: the north arrow and the scale bar.

Each goes to the corner of the map frame that the grids leave free, or onto a white panel in
the least covered corner. The north arrow points to true north, turned by the meridian
convergence of the map's CRS; the scale bar shows the longest round length (1, 2 or 5 × 10ⁿ
metres) within a fifth of the map's width, in metres or kilometres.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import shapely
from pyproj import CRS, Transformer

from geogrid.plan import PLAN_CRS
from geogrid.render.paper import Layout

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.font_manager import FontProperties

__all__ = ["draw_north_arrow", "draw_scale_bar", "map_scale"]


def map_scale(ax: Axes, layout: Layout) -> float:
    """Scale denominator: metres on the ground per metre on paper."""
    x0, x1 = ax.get_xlim()
    return (x1 - x0) / (layout.map[2] / 1000.0)


def _free_corner(
    ax: Axes, outline: shapely.Geometry, width: float, height: float, order: str, layout: Layout
) -> tuple[float, float]:
    """Lower-left corner for a ``width`` × ``height`` box in the freest corner of the map.

    Corners are tried in ``order`` ("tr", "tl", "br", "bl"); the first the grids leave free
    wins; when every corner is taken, the least covered gets a white panel behind the box.
    """
    from matplotlib.patches import Rectangle

    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    inset = 3.0 * layout.k * map_scale(ax, layout) / 1000.0
    spots = {
        "tr": (x1 - inset - width, y1 - inset - height),
        "tl": (x0 + inset, y1 - inset - height),
        "br": (x1 - inset - width, y0 + inset),
        "bl": (x0 + inset, y0 + inset),
    }
    names = order.split()
    covered = [
        float(shapely.box(x, y, x + width, y + height).intersection(outline).area)
        for x, y in (spots[n] for n in names)
    ]
    best = names[int(np.argmin(covered))] if min(covered) > 0 else names[covered.index(0.0)]
    x, y = spots[best]
    if min(covered) > 0:
        ax.add_patch(
            Rectangle(
                (x - inset / 3, y - inset / 3),
                width + 2 * inset / 3,
                height + 2 * inset / 3,
                facecolor="white",
                edgecolor="#777777",
                alpha=0.85,
                linewidth=0.3 * layout.k,
                zorder=19,
            )
        )
    return x, y


def draw_north_arrow(
    ax: Axes, crs: CRS, layout: Layout, font: FontProperties, outline: shapely.Geometry
) -> None:
    """Draw a north arrow 10 mm long (times ``k``) with 北 at its tip in a free corner.

    Parameters
    ----------
    ax
        The map axes, its limits set, in metres of ``crs``.
    crs
        The map's CRS; the arrow is turned from grid north to true north.
    layout
        The page layout (type scale and map region).
    font
        Font of the 北.
    outline
        Outer boundary of the grids; the corners it covers least are preferred.
    """
    from matplotlib.patches import Polygon

    length = 10.0 * layout.k * map_scale(ax, layout) / 1000.0  # 10 mm on paper
    x, y = _free_corner(ax, outline, 0.6 * length, 1.6 * length, "tr tl br bl", layout)
    cx, cy = x + 0.3 * length, y + 0.55 * length
    angle = _grid_north_angle(crs, cx, cy)  # true north, radians clockwise from grid north
    shape = np.array([[0, 0.5], [-0.18, -0.5], [0, -0.28], [0.18, -0.5]]) * length
    rot = np.array([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]])
    points = shape @ rot.T + [cx, cy]
    ax.add_patch(
        Polygon(
            points,
            closed=True,
            facecolor="white",
            edgecolor="#111111",
            linewidth=0.5 * layout.k,
            zorder=20,
        )
    )
    ax.add_patch(
        Polygon(
            points[:3],
            closed=True,
            facecolor="#111111",
            edgecolor="#111111",
            linewidth=0.5 * layout.k,
            zorder=21,
        )
    )
    tip = np.array([0, 0.62 * length]) @ rot.T + [cx, cy]
    ax.text(
        tip[0],
        tip[1],
        "北",
        fontproperties=font,
        size=9 * layout.k,
        ha="center",
        va="bottom",
        zorder=21,
        color="#111111",
    )


def _grid_north_angle(crs: CRS, x: float, y: float) -> float:
    """Angle of true north from the map's grid north at (x, y), clockwise, in radians."""
    to_ll = Transformer.from_crs(crs, PLAN_CRS, always_xy=True)
    back = Transformer.from_crs(PLAN_CRS, crs, always_xy=True)
    lon, lat = to_ll.transform(x, y)
    nx_, ny_ = back.transform(lon, lat + 0.01)
    return math.atan2(nx_ - x, ny_ - y)


def draw_scale_bar(
    ax: Axes, layout: Layout, font: FontProperties, scale: float, outline: shapely.Geometry
) -> None:
    """Draw a scale bar of four parts, labelled in metres or kilometres, in a free corner.

    Parameters
    ----------
    ax
        The map axes, its limits set, in metres.
    layout
        The page layout (type scale and map region).
    font
        Font of the labels.
    scale
        Map scale denominator (:func:`map_scale`).
    outline
        Outer boundary of the grids; the corners it covers least are preferred.
    """
    from matplotlib.patches import Rectangle

    (x0, x1) = ax.get_xlim()
    length = _nice_length(0.2 * (x1 - x0))
    parts = 4
    height = 1.2 * layout.k * scale / 1000.0  # 1.2 mm on paper
    left, base = _free_corner(ax, outline, 1.1 * length, 5 * height, "bl br tl tr", layout)
    left += 0.05 * length
    for i in range(parts):
        ax.add_patch(
            Rectangle(
                (left + i * length / parts, base),
                length / parts,
                height,
                facecolor="#111111" if i % 2 == 0 else "white",
                edgecolor="#111111",
                linewidth=0.4 * layout.k,
                zorder=20,
            )
        )
    unit, div = ("千米", 1000.0) if length >= 1000 else ("米", 1.0)
    for value in (0.0, length / 2, length):
        label = f"{value / div:g}" + (f" {unit}" if value == length else "")
        ax.text(
            left + value,
            base + 1.6 * height,
            label,
            fontproperties=font,
            size=5.5 * layout.k,
            ha="center",
            va="bottom",
            zorder=20,
            color="#111111",
        )


def _nice_length(target: float) -> float:
    """The largest 1, 2 or 5 × 10ⁿ metres not above ``target``.

    Examples
    --------
    >>> _nice_length(730.0), _nice_length(2600.0)
    (500.0, 2000.0)
    """
    power = 10 ** math.floor(math.log10(max(target, 1.0)))
    return float(max(m for m in (1, 2, 5) if m * power <= target) * power)
