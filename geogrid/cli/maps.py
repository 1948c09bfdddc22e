"""Printed, web and GIS maps: ``geogrid map``, ``signs``, ``cards`` and ``qgis``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from geogrid import io
from geogrid.cli._common import PlanArg, layer_spec, load_plan, out, user_errors
from geogrid.cli.addresses import EstatesOpt, OverridesOpt, RegisterOpt, register_households
from geogrid.errors import InvalidInputError

__all__ = ["cards_cmd", "map_cmd", "qgis_cmd", "signs_cmd"]

ContextOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--context",
        help="Layer for orientation, KIND=FILE[:LAYER], e.g. roads=roads.gpkg (repeatable)",
    ),
]


def _map_layer(spec: str) -> Any:
    """``FILE`` or ``FILE:LAYER`` read as a GeoDataFrame in its own CRS."""
    path, layer = layer_spec(spec)
    return io.read_layer(path, layer=layer)


def _map_context(pairs: list[str] | None) -> dict[str, Any] | None:
    layers = {}
    for pair in pairs or []:
        kind, sep, spec = pair.partition("=")
        if not sep or not kind or not spec:
            raise typer.BadParameter(f"{pair!r}: write KIND=FILE, e.g. roads=roads.gpkg")
        layers[kind.strip()] = _map_layer(spec.strip())
    return layers or None


@user_errors
def map_cmd(
    plan: PlanArg,
    pdf: Annotated[
        Path | None, typer.Option(help="Write the wall map (网格示意图) as a vector PDF")
    ] = None,
    png: Annotated[Path | None, typer.Option(help="Write the wall map as a PNG")] = None,
    html: Annotated[
        Path | None, typer.Option(help="Write the interactive web map (works offline)")
    ] = None,
    paper: Annotated[str, typer.Option(help="A0, A1, A2, A3 or A4")] = "A1",
    landscape: Annotated[bool, typer.Option(help="Landscape sheet")] = False,
    title: Annotated[str | None, typer.Option(help="Map title")] = None,
    level: Annotated[
        int | None, typer.Option(help="Level to colour and list (default: deepest)")
    ] = None,
    context: ContextOpt = None,
    nested_colours: Annotated[
        bool, typer.Option(help="Shade grids within their parent's hue")
    ] = False,
    legend_pages: Annotated[
        bool,
        typer.Option(help="Continue a long legend on extra pages (else: sheet only, with a note)"),
    ] = True,
    dpi: Annotated[int, typer.Option(help="PNG resolution")] = 300,
    tiles: Annotated[
        str | None, typer.Option(help="Base-map tile URL for --html (optional)")
    ] = None,
    tile_attribution: Annotated[str | None, typer.Option(help="Who made the tiles")] = None,
    tiles_crs: Annotated[
        str, typer.Option(help="wgs84, or gcj02 for AMap/Tencent tiles")
    ] = "wgs84",
) -> None:
    """Draw the plan: wall map (PDF/PNG) and/or web map (HTML)."""
    from geogrid.render import render_wall_map, render_web_map

    if not (pdf or png or html):
        raise InvalidInputError(
            "say what to draw: --pdf wall.pdf, --png wall.png and/or --html map.html"
        )
    grid_plan = load_plan(plan)
    layers = _map_context(context)
    for target in (pdf, png):
        if target is not None:
            wall = render_wall_map(
                grid_plan,
                target,
                paper=paper,
                landscape=landscape,
                title=title,
                level=level,
                context=layers,
                nested_colours=nested_colours,
                legend_pages=legend_pages,
                dpi=dpi,
            )
            names = ", ".join(str(f) for f in wall.files)
            out.print(
                f"wrote {names}: {wall.pages} page(s), {len(wall.labels)} grids, "
                f"{len(wall.callouts)} callouts, 1:{wall.scale:,.0f}",
                soft_wrap=True,
            )
    if html is not None:
        web = render_web_map(
            grid_plan,
            html,
            title=title,
            tiles=tiles,
            tile_attribution=tile_attribution,
            tiles_crs=tiles_crs,
        )
        out.print(f"wrote {html}: {web.size / 1e6:.2f} MB, opens with no internet", soft_wrap=True)


@user_errors
def signs_cmd(
    plan: PlanArg,
    pdf: Annotated[Path, typer.Option(help="PDF to write, one 公示牌 page per grid")],
    level: Annotated[int | None, typer.Option(help="Level (default: deepest)")] = None,
    code: Annotated[list[str] | None, typer.Option(help="Only this grid (repeatable)")] = None,
    paper: Annotated[str, typer.Option(help="A4 … A0")] = "A4",
    duties: Annotated[
        Path | None, typer.Option(help="Text file with the duties template ({worker}, {phone}…)")
    ] = None,
    context: ContextOpt = None,
) -> None:
    """Public signs (网格公示牌): map, staff, phones and duties for every grid."""
    from geogrid.render import render_signs
    from geogrid.render.signs import DEFAULT_DUTIES

    template = duties.read_text(encoding="utf-8") if duties else DEFAULT_DUTIES
    signs = render_signs(
        load_plan(plan),
        pdf,
        level=level,
        codes=code,
        paper=paper,
        duties=template,
        context=_map_context(context),
    )
    out.print(f"wrote {pdf}: {signs.pages} signs", soft_wrap=True)


@user_errors
def cards_cmd(
    plan: PlanArg,
    households: Annotated[
        str,
        typer.Option(
            help="Households or buildings, FILE[:LAYER] (the buildings of --households-register)"
        ),
    ],
    pdf: Annotated[Path, typer.Option(help="PDF to write, eight 直通卡 to a sheet")],
    group_by: Annotated[
        str | None, typer.Option(help="Courtyard/building column: one card per group")
    ] = None,
    label: Annotated[
        str | None, typer.Option(help="Column naming each household on its card")
    ] = None,
    level: Annotated[int | None, typer.Option(help="Level whose workers the cards name")] = None,
    households_register: RegisterOpt = None,
    estates: EstatesOpt = None,
    overrides: OverridesOpt = None,
) -> None:
    """Household contact cards (网格员直通卡): grid, worker and phone per household or courtyard.

    With ``--households-register`` every matched household of the register gets a card
    headed with its address (``--group-by building_id`` gives one card a building).
    """
    from geogrid.render import render_cards

    homes = (
        register_households(households_register, households, estates, overrides, per_household=True)
        if households_register is not None
        else _map_layer(households)
    )
    cards = render_cards(load_plan(plan), homes, pdf, group_by=group_by, label=label, level=level)
    lost = int(cards.cards["grid_code"].isna().sum())
    out.print(
        f"wrote {pdf}: {len(cards.cards)} cards on {cards.pages} sheets"
        + (f"; {lost} outside every grid (their cards say so)" if lost else ""),
        soft_wrap=True,
    )


@user_errors
def qgis_cmd(
    plan: PlanArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="QGIS project to write (.qgz)")],
    paper: Annotated[str, typer.Option(help="Print layout paper: A0, A1, A2, A3 or A4")] = "A1",
    landscape: Annotated[bool, typer.Option(help="Landscape layout")] = False,
    title: Annotated[str | None, typer.Option(help="Layout title")] = None,
    level: Annotated[
        int | None, typer.Option(help="Level shown filled and labelled (default: deepest)")
    ] = None,
    nested_colours: Annotated[
        bool, typer.Option(help="Shade grids within their parent's hue")
    ] = False,
) -> None:
    """Write a QGIS project (.qgz) of the plan, its GeoPackage beside it: the wall map in QGIS.

    One layer per level with the wall map's colours and Chinese labels, the boundaries of
    the levels above, and a print layout (网格示意图) on the wall map's paper. QGIS is not
    needed to write it; open it in QGIS 3.22 or later.
    """
    from geogrid.render.qgis import write_qgis_project

    written = write_qgis_project(
        load_plan(plan),
        output,
        level=level,
        paper=paper,
        landscape=landscape,
        title=title,
        nested_colours=nested_colours,
    )
    out.print(
        f"wrote {written.project} and {written.geopackage.name} beside it: layers "
        f"{', '.join(written.layers)}; print layout 网格示意图 ({paper.upper()})",
        soft_wrap=True,
    )
