"""Maps of grid plans: colouring, the wall map (网格示意图), signs, cards and the web map.

==========================  ===========================================================
:func:`colour_grids`        neighbours (edge or corner) never share a colour; stable
:func:`render_wall_map`     printed wall map, vector PDF or 300-dpi PNG, A0–A4
:func:`render_signs`        one public sign (网格公示牌) page per grid
:func:`render_cards`        household contact cards (网格员直通卡), eight to an A4 sheet
:func:`render_web_map`      interactive HTML map that works with no internet
:func:`write_qgis_project`  QGIS project (.qgz) with the same colours, labels and layout
==========================  ===========================================================

Heavy dependencies (matplotlib, fontTools, reportlab, folium) are imported when drawing.
"""

from geogrid.render.colouring import PALETTE, adjacency_graph, check_colouring, colour_grids
from geogrid.render.labels import LabelPlacement
from geogrid.render.legend import legend_rows
from geogrid.render.paper import PAPER_MM
from geogrid.render.qgis import QgisProject, write_qgis_project
from geogrid.render.signs import CardSet, SignSet, render_cards, render_signs
from geogrid.render.wallmap import WallMap, render_wall_map
from geogrid.render.webmap import WebMap, render_web_map, simplify_coverage

__all__ = [
    "PALETTE",
    "PAPER_MM",
    "CardSet",
    "LabelPlacement",
    "QgisProject",
    "SignSet",
    "WallMap",
    "WebMap",
    "adjacency_graph",
    "check_colouring",
    "colour_grids",
    "legend_rows",
    "render_cards",
    "render_signs",
    "render_wall_map",
    "render_web_map",
    "simplify_coverage",
    "write_qgis_project",
]
