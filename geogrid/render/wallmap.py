"""The printed wall map (网格示意图): a vector PDF or a 300-dpi PNG of a whole plan.

One sheet, exactly the paper size, with the title and a subtitle (place, date, plan version,
scale), every grid of one level filled so that neighbours never share a colour
(:mod:`geogrid.render.colouring`), boundaries whose weight grows with the level (the outer
boundary heaviest), the grid names inside the grids, a north arrow, a scale bar in metres, the
data attribution, context layers (roads, rivers, buildings) when given, and a legend table —
number, code, name, grid head, workers, phone, households. A legend too long for the sheet
continues on extra pages (more PDF pages, or ``NAME-legend-2.png`` … beside a PNG).

Labels are placed inside their grid without overlapping, trying the pole of inaccessibility
first and then other points inside the grid, at shrinking sizes; a grid whose name cannot fit
gets its legend number in a small circle (a numbered callout) instead. Every placement is
returned in :class:`WallMap` so callers and tests can check it.

Chinese text uses a TrueType subset of Noto Sans CJK (:mod:`geogrid.render.fonts`), embedded
and searchable; never Type 3. matplotlib draws the sheet; in a PDF the grid labels and the
legend continuation pages are written with reportlab and merged in with pypdf (matplotlib
spends about 1.5 ms of CPU on each label it sets, which is most of an A0 county sheet).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from geogrid.crs import metric_crs
from geogrid.errors import GeogridError
from geogrid.plan import PLAN_CRS, GridPlan, StaffRole
from geogrid.render._draw import ContextLayer, TextMeter, context_geoms, line_paths, polygon_paths
from geogrid.render.colouring import adjacency_graph, colour_grids
from geogrid.render.fonts import truetype_subset

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

__all__ = ["PAPER_MM", "LabelPlacement", "WallMap", "legend_rows", "render_wall_map"]

#: ISO 216 paper sizes, portrait (width, height) in millimetres.
PAPER_MM: dict[str, tuple[int, int]] = {
    "A0": (841, 1189),
    "A1": (594, 841),
    "A2": (420, 594),
    "A3": (297, 420),
    "A4": (210, 297),
}
_MM_PER_PT = 25.4 / 72.0
_RC: dict[Any, Any] = {
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "axes.unicode_minus": False,
    "pdf.compression": 1,
}
"""matplotlib settings while saving: TrueType (Type 42) fonts, never Type 3."""
_MIN_LABEL_PT = 5.0
"""Smallest label size in points (names on a wall map are read from close up)."""
_LEGEND_HEADER = ("序号", "编码", "网格名称", "网格长", "网格员", "联系电话", "户数")
_CONTEXT_STYLE: dict[str, dict[str, Any]] = {
    "building": {"facecolor": "#9a9a9a", "edgecolor": "none", "alpha": 0.35, "lw": 0.0},
    "water": {"facecolor": "#9ecae1", "edgecolor": "#4a90c2", "alpha": 0.8, "lw": 0.5},
    "road": {"facecolor": "none", "edgecolor": "#7a7a7a", "alpha": 0.8, "lw": 0.6},
    "other": {"facecolor": "none", "edgecolor": "#999999", "alpha": 0.8, "lw": 0.4},
}
_Box: TypeAlias = tuple[float, float, float, float]
_Found: TypeAlias = tuple[str, tuple[float, float], float, _Box, int | None]


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
        The label's extent on the map (xmin, ymin, xmax, ymax) in metres of :attr:`WallMap.crs`.
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


@dataclasses.dataclass(frozen=True)
class WallMap:
    """What :func:`render_wall_map` made.

    Attributes
    ----------
    files
        The files written: the map (PDF with every page, or the PNG of the sheet) and, for a
        PNG whose legend continues, the extra legend pages.
    pages
        Number of pages (sheet plus legend continuation pages).
    paper, size_mm
        Paper name and the page size (width, height) in millimetres.
    level
        Plan level shown.
    crs
        The metric CRS the map is drawn in.
    scale
        Map scale denominator (1:scale on paper).
    colours
        Grid code -> fill colour.
    labels
        One :class:`LabelPlacement` per grid shown.
    """

    files: list[Path]
    pages: int
    paper: str
    size_mm: tuple[float, float]
    level: int
    crs: CRS
    scale: float
    colours: dict[str, str]
    labels: list[LabelPlacement]

    @property
    def callouts(self) -> list[LabelPlacement]:
        """The labels that went to numbered callouts."""
        return [label for label in self.labels if label.callout is not None]


@dataclasses.dataclass
class _Layout:
    """Page regions in millimetres from the bottom-left corner: (x, y, width, height)."""

    width: float
    height: float
    k: float  # type scale: 1 on A4, 4 on A0
    title: tuple[float, float, float, float]
    map: tuple[float, float, float, float]
    legend: tuple[float, float, float, float]
    footer: tuple[float, float, float, float]


@dataclasses.dataclass
class _Continuation:
    """Legend rows left for the fast continuation pages, with what drawing them needs."""

    rows: pd.DataFrame
    size: float
    meter: TextMeter
    title: str
    footer: str
    total: int
    spots: list[tuple[str, float, float, float]]
    """Labels to print over the sheet: (text, x mm, y mm, size pt), centred."""


def _page_spots(
    ax: Axes, layout: _Layout, labels: Sequence[LabelPlacement]
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


def render_wall_map(
    plan: GridPlan,
    path: str | os.PathLike[str],
    *,
    paper: str = "A1",
    landscape: bool = False,
    title: str | None = None,
    level: int | None = None,
    context: Mapping[str, ContextLayer] | None = None,
    place: str | None = None,
    date: dt.date | str | None = None,
    nested_colours: bool = False,
    legend_pages: bool = True,
    dpi: int = 300,
    progress: bool | None = None,
) -> WallMap:
    """Render the wall map (网格示意图) of ``plan`` to a PDF or PNG file.

    Parameters
    ----------
    plan
        The plan to draw.
    path
        Output file; ``.pdf`` gives a vector PDF (legend continuation pages appended),
        ``.png`` a raster of the sheet at ``dpi`` (legend pages as ``NAME-legend-N.png``).
    paper
        ``"A0"`` … ``"A4"``; the page is exactly this size.
    landscape
        Turn the paper (legend on the right instead of below the map).
    title
        Title; default ``"<plan name> 网格示意图"``.
    level
        Level whose grids are filled, labelled and listed (1 = top); default the deepest.
        Boundaries of the levels above are drawn heavier.
    context
        Layers for orientation, by kind: keys containing ``road``, ``river``/``water`` or
        ``building`` get those styles, e.g. ``{"roads": "roads.gpkg"}``; values are
        GeoDataFrames or file paths in any CRS.
    place
        Place named in the subtitle; default the names of the top-level grids.
    date
        Date in the subtitle; default today.
    nested_colours
        Shade each grid within its parent's hue instead of colouring the level on its own.
    legend_pages
        Continue a legend too long for the sheet on extra pages (default); ``False`` prints
        only the rows that fit, with a note (print the legend separately).
    dpi
        Resolution of a PNG.
    progress
        Show a progress bar; default when the plan has more than 500 grids to draw.

    Returns
    -------
    WallMap
        The files, pages, scale, colours and label placements.

    Raises
    ------
    GeogridError
        For an unknown paper size or output format, a level the plan lacks, or no grids.
    """
    fmt, paper, level = _check_args(plan, path, paper, level)
    path = Path(path)
    grids = plan.level(level).sort_values("code", kind="stable").reset_index(drop=True)
    grids = grids[~grids.geometry.is_empty].reset_index(drop=True)  # nothing to draw or label
    if grids.empty:
        raise GeogridError(f"plan {plan.name!r} has only empty geometries at level {level}")
    layout = _layout(paper, landscape, len(grids))
    show = len(grids) > 500 if progress is None else progress
    with _progress(show, len(grids) + 6) as step:
        crs = metric_crs(grids.geometry)
        metric = grids.to_crs(crs)
        graph = adjacency_graph(grids, measure=False)
        colours = colour_grids(plan, level, nested=nested_colours, graph=graph)
        step("colours", 1)
        rows = legend_rows(plan, grids)
        texts = _all_texts(plan, grids, rows, title, place, layout)
        texts["date"] = date if isinstance(date, str) else (date or dt.date.today()).isoformat()
        font_file = truetype_subset(texts.values())
        step("font", 1)
        result = _render(
            plan,
            metric,
            colours,
            rows,
            texts,
            font_file,
            layout,
            context,
            step,
            legend_pages,
            fmt == "pdf",
        )
        figures, labels, scale, more = result
        files = _save(figures, path, fmt, dpi, texts["title"])
        if fmt == "pdf":
            _finish_pdf(path, layout, colours, more)
        pages = more.total
        step("saved", 1)
    return WallMap(
        files=files,
        pages=pages,
        paper=paper,
        size_mm=(layout.width, layout.height),
        level=level,
        crs=crs,
        scale=scale,
        colours=colours,
        labels=labels,
    )


def _check_args(plan: GridPlan, path: Any, paper: str, level: int | None) -> tuple[str, str, int]:
    key = str(paper).upper()
    if key not in PAPER_MM:
        raise GeogridError(f"unknown paper {paper!r}; use one of {', '.join(PAPER_MM)}")
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in ("pdf", "png"):
        raise GeogridError(f"{Path(path).name}: a wall map is written as .pdf or .png")
    if plan.grids.empty:
        raise GeogridError(f"plan {plan.name!r} has no grids to draw")
    present = sorted(int(v) for v in plan.grids["level"].unique())
    level = present[-1] if level is None else int(level)
    if level not in present:
        raise GeogridError(f"plan {plan.name!r} has no grids at level {level}; levels: {present}")
    return fmt, key, level


# --------------------------------------------------------------------------- layout


def _layout(paper: str, landscape: bool, n_rows: int) -> _Layout:
    width, height = map(float, PAPER_MM[paper])
    if landscape:
        width, height = height, width
    k = min(width, height) / 210.0
    margin = 10.0 * k
    title_h = 20.0 * k
    footer_h = 7.0 * k
    inner_w, inner_h = width - 2 * margin, height - 2 * margin
    body_h = inner_h - title_h - footer_h
    row_h = _legend_size(k) * 1.25 * _MM_PER_PT
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
    return _Layout(
        width=width,
        height=height,
        k=k,
        title=(margin, height - margin - title_h, inner_w, title_h),
        map=map_box,
        legend=legend,
        footer=(margin, margin, inner_w, footer_h),
    )


def _legend_size(k: float) -> float:
    return 5.5 * k


def _legend_width(k: float) -> float:
    """Width in mm of one legend table column group at type scale ``k``."""
    return sum(_COLUMN_MM) * k


# relative column widths (mm on A4): swatch+number, code, name, head, workers, phone, households
_COLUMN_MM = (9.0, 27.0, 24.0, 11.0, 20.0, 20.0, 9.0)


# --------------------------------------------------------------------------- texts


def legend_rows(plan: GridPlan, grids: gpd.GeoDataFrame | None = None) -> pd.DataFrame:
    """The legend table: one row per grid with number, code, name, head, workers, phone, households.

    ``phone`` is the first full-time worker's (the number residents call), else the head's.

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
    staff = plan.staff
    heads = staff[staff["role"] == StaffRole.HEAD.value].groupby("grid_code")
    workers = staff[staff["role"] == StaffRole.FULL_TIME.value].groupby("grid_code")
    head_name = heads["name"].first()
    head_phone = heads["phone"].first()
    worker_names = (
        staff[(staff["role"] == StaffRole.FULL_TIME.value) & staff["name"].notna()]
        .astype({"name": str})
        .groupby("grid_code")["name"]
        .agg("、".join)
    )
    worker_phone = workers["phone"].first()
    codes = grids["code"].astype(str)
    worker_has = codes.map(worker_phone).notna().to_numpy()
    phone = np.where(worker_has, _or_dash(codes.map(worker_phone)), _or_dash(codes.map(head_phone)))
    return pd.DataFrame(
        {
            "number": np.arange(1, len(grids) + 1),
            "code": codes.to_numpy(),
            "name": grids["name"].astype(str).to_numpy(),
            "head": _or_dash(codes.map(head_name)),
            "workers": _or_dash(codes.map(worker_names)),
            "phone": phone,
            "households": grids["households"]
            .map(lambda v: "—" if pd.isna(v) else str(int(v)))
            .to_numpy(),
        }
    )


def _or_dash(values: pd.Series) -> np.ndarray:
    """Values as text, a dash for the missing ones."""
    return np.array(["—" if pd.isna(v) or v == "" else str(v) for v in values], dtype=object)


def _all_texts(
    plan: GridPlan,
    grids: gpd.GeoDataFrame,
    rows: pd.DataFrame,
    title: str | None,
    place: str | None,
    layout: _Layout,
) -> dict[str, str]:
    """Every string the map prints, by role (the font subset is made from these)."""
    if title is None:
        title = plan.name if "图" in plan.name else f"{plan.name} 网格示意图"
    if place is None:
        tops = plan.level(1)["name"].astype(str).tolist()
        place = "、".join(tops) if 0 < len(tops) <= 3 else f"{len(tops)} 个{plan.levels[0]}"
    version = f"第 {plan.version} 版" if plan.version is not None else "草稿（未入库）"
    level_name = (
        plan.levels[int(grids["level"].iloc[0]) - 1]
        if len(plan.levels) >= int(grids["level"].iloc[0])
        else ""
    )
    attribution = plan.attribution or "网格数据：本单位"
    table = "\n".join("\t".join(map(str, row)) for row in rows.itertuples(index=False))
    return {
        "title": title,
        "subtitle": f"{place} · {level_name} {len(grids)} 个 · {version}",
        "footer": f"数据来源：{attribution} · 制图：geogrid · 坐标系 CGCS2000",
        "table": table
        + "\t".join(_LEGEND_HEADER)
        + "图例（续）第页共比例尺米千北列出行其余见续页–；",
        "digits": "0123456789,:.",
    }


# --------------------------------------------------------------------------- drawing


def _render(
    plan: GridPlan,
    metric: gpd.GeoDataFrame,
    colours: dict[str, str],
    rows: pd.DataFrame,
    texts: dict[str, str],
    font_file: Path,
    layout: _Layout,
    context: Mapping[str, ContextLayer] | None,
    step: Callable[[str, int], None],
    legend_pages: bool = True,
    fast_legend: bool = False,
) -> tuple[list[Figure], list[LabelPlacement], float, _Continuation]:
    from matplotlib.font_manager import FontProperties

    font = FontProperties(fname=str(font_file))
    meter = TextMeter(font_file)
    fig = _figure(layout)
    ax = _map_axes(fig, layout, metric)
    scale = _scale(ax, layout)
    texts["subtitle"] += f" · 比例尺 1:{_round_scale(scale):,}"
    texts["subtitle"] += f" · {texts.pop('date', dt.date.today().isoformat())}"
    _draw_title(fig, layout, texts, font)
    _draw_context(ax, context, metric.crs, ax.get_xlim(), ax.get_ylim())
    outline = _draw_grids(ax, plan, metric, colours, layout, over_context=bool(context))
    labels = _place_labels(
        ax, metric, rows, layout, font, meter, scale, step, draw_text=not fast_legend
    )
    _draw_north_arrow(ax, metric.crs, layout, font, outline)
    _draw_scale_bar(ax, layout, font, scale, outline)
    mode = "note" if not legend_pages else ("rows" if fast_legend else "figures")
    legend, done, size = _draw_legend(fig, layout, rows, colours, font, meter, texts["title"], mode)
    figures = [fig, *legend]
    left = rows.iloc[done:] if mode == "rows" else rows.iloc[:0]
    total = len(figures) + _continuation_pages(layout, left, size, meter)
    _draw_footer(figures, layout, texts["footer"], font, total)
    step("legend", 1)
    spots = _page_spots(ax, layout, labels) if fast_legend else []
    more = _Continuation(left, size, meter, texts["title"], texts["footer"], total, spots)
    return figures, labels, scale, more


def _figure(layout: _Layout) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(layout.width / 25.4, layout.height / 25.4), dpi=72)


def _frac(layout: _Layout, box: _Box) -> _Box:
    x, y, w, h = box
    return (x / layout.width, y / layout.height, w / layout.width, h / layout.height)


def _fit_map(layout: _Layout, metric: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    """Shrink the map region to the data's shape and give the space freed to the legend.

    Returns the data limits (xmin, xmax, ymin, ymax) in metres, matching the map region's
    aspect so one metre is as long across as up.
    """
    xmin, ymin, xmax, ymax = metric.total_bounds
    pad = 0.05 * max(xmax - xmin, ymax - ymin, 1.0)
    xmin, xmax, ymin, ymax = xmin - pad, xmax + pad, ymin - pad, ymax + pad
    x, y, w, h = layout.map
    per_mm = max((xmax - xmin) / w, (ymax - ymin) / h)
    fit_w, fit_h = (xmax - xmin) / per_mm, (ymax - ymin) / per_mm
    lx, ly, lw, lh = layout.legend
    if lx > x + w / 2:  # landscape: legend on the right takes the freed width
        layout.map = (x, y + (h - fit_h) / 2, fit_w, fit_h)
        gap = w - fit_w
        layout.legend = (lx - gap, ly, lw + gap, lh)
    else:  # portrait: the map keeps to the top, the legend takes the freed height
        layout.map = (x + (w - fit_w) / 2, y + h - fit_h, fit_w, fit_h)
        layout.legend = (lx, ly, lw, lh + h - fit_h)
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    return (
        cx - per_mm * fit_w / 2,
        cx + per_mm * fit_w / 2,
        cy - per_mm * fit_h / 2,
        cy + per_mm * fit_h / 2,
    )


def _map_axes(fig: Figure, layout: _Layout, metric: gpd.GeoDataFrame) -> Axes:
    xmin, xmax, ymin, ymax = _fit_map(layout, metric)
    ax = fig.add_axes(_frac(layout, layout.map))
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_linewidth(0.5 * layout.k)
        spine.set_color("#333333")
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    return ax


def _scale(ax: Axes, layout: _Layout) -> float:
    """Scale denominator: metres on the ground per metre on paper."""
    x0, x1 = ax.get_xlim()
    return (x1 - x0) / (layout.map[2] / 1000.0)


def _round_scale(scale: float) -> int:
    digits = max(0, int(math.log10(scale)) - 1)
    return int(round(scale / 10**digits) * 10**digits)


def _draw_title(fig: Figure, layout: _Layout, texts: dict[str, str], font: FontProperties) -> None:
    x, y, w, h = layout.title
    cx = (x + w / 2) / layout.width
    fig.text(
        cx,
        (y + 0.55 * h) / layout.height,
        texts["title"],
        fontproperties=font,
        size=16 * layout.k,
        ha="center",
        va="baseline",
        color="#111111",
    )
    fig.text(
        cx,
        (y + 0.18 * h) / layout.height,
        texts["subtitle"],
        fontproperties=font,
        size=8 * layout.k,
        ha="center",
        va="baseline",
        color="#333333",
    )


def _draw_footer(
    figures: Sequence[Figure], layout: _Layout, text: str, font: FontProperties, total: int
) -> None:
    x, y, _, h = layout.footer
    for i, fig in enumerate(figures, start=1):
        page = f"  ·  第 {i} 页 共 {total} 页" if total > 1 else ""
        fig.text(
            x / layout.width,
            (y + 0.3 * h) / layout.height,
            text + page,
            fontproperties=font,
            size=5 * layout.k,
            ha="left",
            va="baseline",
            color="#444444",
        )


def _draw_grids(
    ax: Axes,
    plan: GridPlan,
    metric: gpd.GeoDataFrame,
    colours: dict[str, str],
    layout: _Layout,
    over_context: bool,
) -> shapely.Geometry:
    """Fill the grids and draw the boundaries, heavier for each level up, the outline heaviest.

    With ``over_context`` the grid boundaries are drawn again above the context layers;
    otherwise each fill carries its own edge (half the path data in the file).
    """
    from matplotlib.collections import PathCollection

    geoms = metric.geometry.to_numpy()
    faces = [colours.get(str(code), "#eeeeee") for code in metric["code"]]
    edge: dict[str, Any] = (
        {"edgecolors": "none", "linewidths": 0}
        if over_context
        else {"edgecolors": "#555555", "linewidths": 0.35 * layout.k}
    )
    ax.add_collection(
        PathCollection(polygon_paths(geoms), facecolors=faces, zorder=1, **edge), autolim=False
    )
    level = int(metric["level"].iloc[0])
    if over_context:
        ax.add_collection(_lines(geoms, 0.35 * layout.k, "#555555", 5), autolim=False)
    for upper in range(level - 1, 0, -1):  # heavier for higher levels
        parents = plan.level(upper).to_crs(metric.crs).geometry.to_numpy()
        ax.add_collection(
            _lines(parents, (0.35 + 0.45 * (level - upper)) * layout.k, "#333333", 6), autolim=False
        )
    outline = _outline(geoms)
    ax.add_collection(
        _lines([outline], (0.9 + 0.45 * level) * layout.k, "#111111", 7), autolim=False
    )
    return outline


def _outline(geoms: np.ndarray) -> shapely.Geometry:
    """The outer boundary of a set of grids (small gaps between them closed)."""
    geoms = shapely.make_valid(geoms)
    try:
        return shapely.coverage_union_all(geoms)
    except shapely.errors.GEOSException:  # not exactly noded (T-junctions): close slop
        merged = shapely.union_all(shapely.buffer(geoms, 0.5, quad_segs=2))
        return shapely.buffer(merged, -0.5, quad_segs=2)


def _lines(geoms: Any, width: float, colour: str, zorder: float) -> Any:
    from matplotlib.collections import PathCollection

    return PathCollection(
        line_paths(geoms),
        facecolors="none",
        edgecolors=colour,
        linewidths=width,
        zorder=zorder,
        capstyle="round",
        joinstyle="round",
    )


def _draw_context(
    ax: Axes,
    context: Mapping[str, ContextLayer] | None,
    crs: CRS,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
) -> None:
    from matplotlib.collections import PathCollection

    frame = shapely.box(xlim[0], ylim[0], xlim[1], ylim[1])
    order = {"building": 2, "water": 3, "road": 4, "other": 4}
    for name, layer in (context or {}).items():
        kind = _context_kind(name)
        geoms = context_geoms(layer, crs)
        geoms = shapely.intersection(geoms[shapely.intersects(geoms, frame)], frame)
        if not len(geoms):
            continue
        style = dict(_CONTEXT_STYLE[kind])
        lw = style.pop("lw")
        polygonal = np.isin(shapely.get_type_id(geoms), (3, 6))
        if style["facecolor"] != "none" and polygonal.any():
            ax.add_collection(
                PathCollection(
                    polygon_paths(geoms[polygonal]), linewidths=lw, zorder=order[kind], **style
                ),
                autolim=False,
            )
            geoms = geoms[~polygonal]
        if len(geoms):
            ax.add_collection(
                PathCollection(
                    line_paths(geoms),
                    facecolors="none",
                    linewidths=lw,
                    edgecolors=style["edgecolor"] if style["edgecolor"] != "none" else "#888888",
                    alpha=style["alpha"],
                    zorder=order[kind],
                ),
                autolim=False,
            )


def _context_kind(name: str) -> str:
    lowered = name.lower()
    for word, kind in (
        ("road", "road"),
        ("street", "road"),
        ("river", "water"),
        ("water", "water"),
        ("building", "building"),
        ("道路", "road"),
        ("水", "water"),
        ("建筑", "building"),
    ):
        if word in lowered:
            return kind
    return "other"


# --------------------------------------------------------------------------- labels


def _place_labels(
    ax: Axes,
    metric: gpd.GeoDataFrame,
    rows: pd.DataFrame,
    layout: _Layout,
    font: FontProperties,
    meter: TextMeter,
    scale: float,
    step: Callable[[str, int], None],
    draw_text: bool = True,
) -> list[LabelPlacement]:
    """Fit a label or a callout into every grid and draw the callout circles.

    The text is drawn too unless ``draw_text`` is off (a PDF gets its labels from
    :func:`_label_overlay`).
    """
    m_per_pt = scale * _MM_PER_PT / 1000.0
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


# --------------------------------------------------------------------------- furniture


def _free_corner(
    ax: Axes, outline: shapely.Geometry, width: float, height: float, order: str, layout: _Layout
) -> tuple[float, float]:
    """Lower-left corner for a ``width`` × ``height`` box in the freest corner of the map.

    Corners are tried in ``order`` ("tr", "tl", "br", "bl"); the first the grids leave free
    wins; when every corner is taken, the least covered gets a white panel behind the box.
    """
    from matplotlib.patches import Rectangle

    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    inset = 3.0 * layout.k * _scale(ax, layout) / 1000.0
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


def _draw_north_arrow(
    ax: Axes, crs: CRS, layout: _Layout, font: FontProperties, outline: shapely.Geometry
) -> None:
    from matplotlib.patches import Polygon

    length = 10.0 * layout.k * _scale(ax, layout) / 1000.0  # 10 mm on paper
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


def _draw_scale_bar(
    ax: Axes, layout: _Layout, font: FontProperties, scale: float, outline: shapely.Geometry
) -> None:
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


# --------------------------------------------------------------------------- legend


def _draw_legend(
    fig: Figure,
    layout: _Layout,
    rows: pd.DataFrame,
    colours: dict[str, str],
    font: FontProperties,
    meter: TextMeter,
    title: str,
    mode: str = "figures",
) -> tuple[list[Figure], int, float]:
    """Draw the legend on the sheet; return continuation figures, rows drawn and type size.

    ``mode`` says what happens to the rows that do not fit: ``"figures"`` draws them on more
    matplotlib pages (for PNG), ``"rows"`` leaves them to :func:`_write_legend_pages` (fast,
    for PDF), ``"note"`` prints a note on the sheet saying how many rows it lists.
    """
    size = next(
        (
            s * layout.k
            for s in (8.0, 7.0, 6.0)
            if _capacity(layout, layout.legend, rows, s * layout.k, meter)[2] >= len(rows)
        ),
        _legend_size(layout.k),
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
        page = _figure(layout)
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


def _continuation_region(layout: _Layout) -> _Box:
    """The table area of a legend continuation page (between footer and title), in mm."""
    return (
        layout.footer[0],
        layout.footer[1] + layout.footer[3],
        layout.footer[2],
        layout.title[1] - layout.footer[1] - layout.footer[3],
    )


def _continuation_pages(layout: _Layout, rows: pd.DataFrame, size: float, meter: TextMeter) -> int:
    """How many continuation pages ``rows`` need."""
    if rows.empty:
        return 0
    per_page = _capacity(layout, _continuation_region(layout), rows, size, meter)
    return math.ceil(len(rows) / max(1, per_page[0] * per_page[1]))


def _write_legend_pages(
    path: Path,
    layout: _Layout,
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
    """
    from geogrid.render._pdf import PdfWriter

    texts = [title + " · 图例（续）", footer + "第页共·", "".join(_LEGEND_HEADER), "—…"]
    texts += ["".join(map(str, row)) for row in rows.itertuples(index=False)]
    writer = PdfWriter(path, (layout.width, layout.height), texts, f"{title} · 图例（续）")
    x0, y0, w, h = _continuation_region(layout)
    per_column, columns, _ = _capacity(layout, (x0, y0, w, h), rows, size, meter)
    widths = _column_widths(rows, size, meter, layout.k)
    table_w = sum(widths) + 3 * layout.k
    row_mm = size * 1.25 * _MM_PER_PT
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
    layout: _Layout,
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
            _LEGEND_HEADER[i],
            *(_clip(str(v), widths[i] - 1.5 * layout.k, size, meter) for v in rows[column]),
        ]
        colour = "#000000" if i else "#333333"
        for value, base in zip(values, baselines, strict=True):
            writer.text(at, base, value, size, colour=colour)
    rule = baselines[0] - 0.3 * row_mm
    writer.line(x0, rule, x0 + sum(widths), rule, colour="#333333", width=0.1 * layout.k)


def _legend_block(
    fig: Figure,
    layout: _Layout,
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
    layout: _Layout,
    region: tuple[float, float, float, float],
    rows: pd.DataFrame,
    size: float,
    meter: TextMeter,
) -> tuple[int, int, int]:
    """Rows per table, tables side by side, and rows that fit in ``region`` at ``size``."""
    _, _, w, h = region
    row_mm = size * 1.25 * _MM_PER_PT
    per_column = max(1, int(h // row_mm) - 2)
    table_w = sum(_column_widths(rows, size, meter, layout.k)) + 3 * layout.k
    columns = max(1, int((w + 3 * layout.k) // table_w))
    return per_column, columns, min(len(rows), per_column * columns)


def _column_widths(rows: pd.DataFrame, size: float, meter: TextMeter, k: float) -> list[float]:
    widths = []
    for i, column in enumerate(rows.columns):
        longest = max([_LEGEND_HEADER[i], *(str(v) for v in rows[column])], key=len)
        natural = meter.width(longest, size) * _MM_PER_PT + 2.0 * k
        widths.append(min(max(natural, 6.0 * k), 2.2 * _COLUMN_MM[i] * k))
    widths[0] += 4.0 * k  # colour swatch before the number
    return widths


def _legend_table(
    fig: Figure,
    layout: _Layout,
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
    row_mm = size * 1.25 * _MM_PER_PT
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
            _LEGEND_HEADER[i],
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
    if meter.width(text, size) * _MM_PER_PT <= width_mm:
        return text
    while len(text) > 1 and meter.width(text + "…", size) * _MM_PER_PT > width_mm:
        text = text[:-1]
    return text + "…"


# --------------------------------------------------------------------------- output


def _save(figures: Sequence[Figure], path: Path, fmt: str, dpi: int, title: str) -> list[Path]:
    import matplotlib as mpl
    from matplotlib.text import Text

    for fig in figures:  # "$…$" in a title or name is text, not mathtext (which may not parse)
        for text in fig.findobj(Text):
            text.set_parse_math(False)
    path.parent.mkdir(parents=True, exist_ok=True)
    with mpl.rc_context(_RC):
        if fmt == "pdf":
            from matplotlib.backends.backend_pdf import PdfPages

            meta = {"Title": title, "Creator": "geogrid", "Subject": "网格示意图"}
            with PdfPages(path, metadata=meta) as pdf:
                for fig in figures:
                    pdf.savefig(fig)
            return [path]
        files = [path]
        figures[0].savefig(path, dpi=dpi, format="png", facecolor="white")
        for i, fig in enumerate(figures[1:], start=2):
            extra = path.with_name(f"{path.stem}-legend-{i}.png")
            fig.savefig(extra, dpi=dpi, format="png", facecolor="white")
            files.append(extra)
        return files


def _finish_pdf(path: Path, layout: _Layout, colours: dict[str, str], more: _Continuation) -> None:
    """Print the labels over the sheet and append the legend continuation pages (pypdf).

    Both are written with reportlab: matplotlib needs about 1.5 ms of CPU for every label it
    sets in a PDF, reportlab a few microseconds.
    """
    import tempfile

    from pypdf import PdfReader
    from pypdf import PdfWriter as Merger

    with tempfile.TemporaryDirectory(prefix=".geogrid-sheet-", dir=path.parent) as folder:
        merger = Merger()
        merger.append(str(path))
        if more.spots:
            overlay = Path(folder) / "labels.pdf"
            _label_overlay(overlay, layout, more.spots)
            sheet = merger.pages[0]
            sheet.merge_page(PdfReader(overlay).pages[0], over=True)
            sheet.compress_content_streams(level=1)  # the merged stream is written plain otherwise
        if len(more.rows):
            legend = Path(folder) / "legend.pdf"
            _write_legend_pages(
                legend,
                layout,
                more.rows,
                colours,
                more.size,
                more.meter,
                more.title,
                more.footer,
                first_page=2,
                total=more.total,
            )
            merger.append(str(legend))
        merger.add_metadata({"/Title": more.title, "/Creator": "geogrid", "/Subject": "网格示意图"})
        merged = Path(folder) / "merged.pdf"
        with merged.open("wb") as out:
            merger.write(out)
        merger.close()
        os.replace(merged, path)


def _label_overlay(
    path: Path, layout: _Layout, spots: Sequence[tuple[str, float, float, float]]
) -> None:
    """One transparent page with the labels centred on their spots (lines 1.2 apart)."""
    from geogrid.render._pdf import PdfWriter

    writer = PdfWriter(path, (layout.width, layout.height), [text for text, *_ in spots], "labels")
    for text, x, y, size in spots:
        lines = text.split("\n")
        height = size * (1.0 + 1.2 * (len(lines) - 1))
        baseline = y + (height / 2 - 0.88 * size) * _MM_PER_PT  # ascender of Noto Sans CJK: 0.88 em
        for line in lines:
            writer.text(x, baseline, line, size, align="centre")
            baseline -= 1.2 * size * _MM_PER_PT
    writer.next_page()
    writer.save()


@contextmanager
def _progress(show: bool, total: int) -> Iterator[Callable[[str, int], None]]:
    if not show:
        yield lambda what, n: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("网格示意图", total=total)

        def step(what: str, n: int) -> None:
            bar.update(task, advance=n, description=f"网格示意图 · {what}")

        yield step
