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

This module draws the grids and the context layers and writes the files; the page layout is
in :mod:`geogrid.render.paper`, the legend in :mod:`geogrid.render.legend`, the labels in
:mod:`geogrid.render.labels` and the north arrow and scale bar in
:mod:`geogrid.render.furniture`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geogrid.crs import metric_crs
from geogrid.errors import InvalidInputError
from geogrid.plan import GridPlan
from geogrid.render._draw import ContextLayer, TextMeter, context_geoms, line_paths, polygon_paths
from geogrid.render.colouring import adjacency_graph, colour_grids
from geogrid.render.fonts import truetype_subset
from geogrid.render.furniture import draw_north_arrow, draw_scale_bar, map_scale
from geogrid.render.labels import LabelPlacement, page_spots, place_labels, write_label_overlay
from geogrid.render.legend import (
    LEGEND_HEADER,
    continuation_pages,
    draw_legend,
    legend_rows,
    write_legend_pages,
)
from geogrid.render.paper import PAPER_MM, Layout, mm_to_figure, page_figure, page_layout

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

__all__ = ["WallMap", "render_wall_map"]

_RC: dict[Any, Any] = {
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "axes.unicode_minus": False,
    "pdf.compression": 1,
}
"""matplotlib settings while saving: TrueType (Type 42) fonts, never Type 3."""
_CONTEXT_STYLE: dict[str, dict[str, Any]] = {
    "building": {"facecolor": "#9a9a9a", "edgecolor": "none", "alpha": 0.35, "lw": 0.0},
    "water": {"facecolor": "#9ecae1", "edgecolor": "#4a90c2", "alpha": 0.8, "lw": 0.5},
    "road": {"facecolor": "none", "edgecolor": "#7a7a7a", "alpha": 0.8, "lw": 0.6},
    "other": {"facecolor": "none", "edgecolor": "#999999", "alpha": 0.8, "lw": 0.4},
}


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
    InvalidInputError
        For an unknown paper size or output format, a level the plan lacks, or no grids.
    """
    fmt, paper, level = _check_args(plan, path, paper, level)
    path = Path(path)
    grids = plan.level(level).sort_values("code", kind="stable").reset_index(drop=True)
    grids = grids[~grids.geometry.is_empty].reset_index(drop=True)  # nothing to draw or label
    if grids.empty:
        raise InvalidInputError(f"plan {plan.name!r} has only empty geometries at level {level}")
    layout = page_layout(paper, landscape, len(grids))
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
        raise InvalidInputError(f"unknown paper {paper!r}; use one of {', '.join(PAPER_MM)}")
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in ("pdf", "png"):
        raise InvalidInputError(f"{Path(path).name}: a wall map is written as .pdf or .png")
    if plan.grids.empty:
        raise InvalidInputError(f"plan {plan.name!r} has no grids to draw")
    present = sorted(int(v) for v in plan.grids["level"].unique())
    level = present[-1] if level is None else int(level)
    if level not in present:
        raise InvalidInputError(
            f"plan {plan.name!r} has no grids at level {level}; levels: {present}"
        )
    return fmt, key, level


# --------------------------------------------------------------------------- texts


def _all_texts(
    plan: GridPlan,
    grids: gpd.GeoDataFrame,
    rows: pd.DataFrame,
    title: str | None,
    place: str | None,
    layout: Layout,
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
        + "\t".join(LEGEND_HEADER)
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
    layout: Layout,
    context: Mapping[str, ContextLayer] | None,
    step: Callable[[str, int], None],
    legend_pages: bool = True,
    fast_legend: bool = False,
) -> tuple[list[Figure], list[LabelPlacement], float, _Continuation]:
    from matplotlib.font_manager import FontProperties

    font = FontProperties(fname=str(font_file))
    meter = TextMeter(font_file)
    fig = page_figure(layout)
    ax = _map_axes(fig, layout, metric)
    scale = map_scale(ax, layout)
    texts["subtitle"] += f" · 比例尺 1:{_round_scale(scale):,}"
    texts["subtitle"] += f" · {texts.pop('date', dt.date.today().isoformat())}"
    _draw_title(fig, layout, texts, font)
    _draw_context(ax, context, metric.crs, ax.get_xlim(), ax.get_ylim())
    outline = _draw_grids(ax, plan, metric, colours, layout, over_context=bool(context))
    labels = place_labels(
        ax, metric, rows, layout, font, meter, scale, step, draw_text=not fast_legend
    )
    draw_north_arrow(ax, metric.crs, layout, font, outline)
    draw_scale_bar(ax, layout, font, scale, outline)
    mode = "note" if not legend_pages else ("rows" if fast_legend else "figures")
    legend, done, size = draw_legend(fig, layout, rows, colours, font, meter, texts["title"], mode)
    figures = [fig, *legend]
    left = rows.iloc[done:] if mode == "rows" else rows.iloc[:0]
    total = len(figures) + continuation_pages(layout, left, size, meter)
    _draw_footer(figures, layout, texts["footer"], font, total)
    step("legend", 1)
    spots = page_spots(ax, layout, labels) if fast_legend else []
    more = _Continuation(left, size, meter, texts["title"], texts["footer"], total, spots)
    return figures, labels, scale, more


def _fit_map(layout: Layout, metric: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
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


def _map_axes(fig: Figure, layout: Layout, metric: gpd.GeoDataFrame) -> Axes:
    xmin, xmax, ymin, ymax = _fit_map(layout, metric)
    ax = fig.add_axes(mm_to_figure(layout, layout.map))
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_linewidth(0.5 * layout.k)
        spine.set_color("#333333")
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    return ax


def _round_scale(scale: float) -> int:
    digits = max(0, int(math.log10(scale)) - 1)
    return int(round(scale / 10**digits) * 10**digits)


def _draw_title(fig: Figure, layout: Layout, texts: dict[str, str], font: FontProperties) -> None:
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
    figures: Sequence[Figure], layout: Layout, text: str, font: FontProperties, total: int
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
    layout: Layout,
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


def _finish_pdf(path: Path, layout: Layout, colours: dict[str, str], more: _Continuation) -> None:
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
            write_label_overlay(overlay, layout, more.spots)
            sheet = merger.pages[0]
            sheet.merge_page(PdfReader(overlay).pages[0], over=True)
            sheet.compress_content_streams(level=1)  # the merged stream is written plain otherwise
        if len(more.rows):
            legend = Path(folder) / "legend.pdf"
            write_legend_pages(
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
