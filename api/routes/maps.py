"""``/maps``: the active plan's wall map (网格示意图), web map and public signs (公示牌).

Each request renders with :mod:`geogrid.render` into a temporary folder and answers the
file's bytes; the folder is gone when the answer is sent. Renders run one at a time per
worker process: the wall map sets matplotlib's (process-wide) settings while it saves, so
two renders at once could embed fonts the wrong way.
"""

from __future__ import annotations

import datetime as dt
import functools
import tempfile
import threading
import urllib.parse
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response

from api.auth import locate_caller
from api.plans import LoadedCounty, PlanSource
from api.schemas import Instant
from geogrid.errors import NotFoundError
from geogrid.render import render_signs, render_wall_map, render_web_map
from geogrid.render.fonts import cjk_font_source

__all__ = ["Paper", "router"]

router = APIRouter(prefix="/maps", tags=["maps"], dependencies=[Depends(locate_caller)])

_PDF = "application/pdf"
_AT = Query(description="draw the plan version active at this instant (ISO 8601; no offset: UTC)")
_RENDER_LOCK = threading.Lock()


class Paper(StrEnum):
    """ISO 216 paper sizes of the wall map (:data:`geogrid.render.PAPER_MM`); any case.

    Examples
    --------
    >>> Paper("a3"), [p.value for p in Paper]
    (<Paper.A3: 'A3'>, ['A0', 'A1', 'A2', 'A3', 'A4'])
    """

    A0 = "A0"
    A1 = "A1"
    A2 = "A2"
    A3 = "A3"
    A4 = "A4"

    @classmethod
    def _missing_(cls, value: object) -> Paper | None:
        return cls.__members__.get(str(value).upper())


def _pdf_doc(what: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {_PDF: {}}, "description": what}}


def _loaded(request: Request, at: dt.datetime | None) -> LoadedCounty:
    source: PlanSource = request.app.state.plans
    return source.get(at)  # sync handlers run in a worker thread: store work is fine here


def _pdf(content: bytes, filename: str) -> Response:
    return Response(
        content,
        media_type=_PDF,
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


@router.get(
    "/wall.pdf",
    response_class=Response,
    responses=_pdf_doc("the wall map, a vector PDF (legend continuation pages appended)"),
    summary="Wall map (网格示意图) as PDF",
)
def wall_map(
    request: Request,
    paper: Annotated[Paper, Query(description="paper size; the page is exactly this")] = Paper.A1,
    landscape: Annotated[bool, Query(description="turn the paper")] = False,
    level: Annotated[
        int | None, Query(ge=1, description="level filled and listed; default the deepest")
    ] = None,
    title: Annotated[
        str | None,
        Query(max_length=200, description='default "<plan name> 网格示意图"'),
    ] = None,
    at: Annotated[Instant | None, _AT] = None,
) -> Response:
    """The printed wall map of the active plan (or the one active at ``at``).

    Chinese text in an embedded TrueType subset of Noto Sans CJK SC, so the title and names
    can be searched and copied. 422 for an unknown paper size, a level the plan lacks or a
    title with characters the font cannot draw; 404 when no plan is active.
    """
    if title:
        _check_title(title)
    loaded = _loaded(request, at)
    _check_level(loaded, level)
    with _RENDER_LOCK, tempfile.TemporaryDirectory(prefix="geogrid-map-") as folder:
        path = Path(folder) / "wall.pdf"
        render_wall_map(
            loaded.plan,
            path,
            paper=paper.value,
            landscape=landscape,
            title=title or None,
            level=level,
            progress=False,
        )
        content = path.read_bytes()
    suffix = "-landscape" if landscape else ""
    return _pdf(content, f"wall-{paper.value}{suffix}.pdf")


@router.get(
    "/web.html",
    response_class=HTMLResponse,
    summary="Interactive web map, works offline",
)
def web_map(
    request: Request,
    title: Annotated[
        str | None, Query(max_length=200, description='default "<plan name> 网格地图"')
    ] = None,
    at: Annotated[Instant | None, _AT] = None,
) -> HTMLResponse:
    """One self-contained HTML page: Leaflet inlined, no tile server, nothing from the internet.

    A layer per level, tooltips, popups with staff and phones, a legend and a search box.
    Above ``GEOGRID_TILES_ABOVE_GRIDS`` grids the levels are drawn from ``/tiles`` instead
    (the page then needs this service). 404 when no plan is active.
    """
    loaded = _loaded(request, at)
    tiles = None
    if len(loaded.grids) > request.app.state.settings.tiles_above_grids:
        # too many grids for one page: drawn from /tiles (GEOGRID_TILES_ABOVE_GRIDS)
        query = "" if at is None else "?" + urllib.parse.urlencode({"at": at.isoformat()})
        root = str(request.base_url).rstrip("/")
        tiles = f"{root}/tiles/{{level}}/{{z}}/{{x}}/{{y}}.mvt{query}"
    with _RENDER_LOCK:
        web = render_web_map(loaded.plan, None, title=title or None, vector_tiles=tiles)
    return HTMLResponse(web.html)


@router.get(
    "/grids/{code}/sign.pdf",
    response_class=Response,
    responses=_pdf_doc("the grid's public sign, one A4 page"),
    summary="Public sign (网格公示牌) of one grid as PDF",
)
def sign(
    request: Request,
    code: str,
    at: Annotated[Instant | None, _AT] = None,
) -> Response:
    """The public sign of grid ``code``: its map, staff with phones, households and duties.

    Any level's grid has one. 404 for a code not in the plan, or when no plan is active.
    """
    loaded = _loaded(request, at)
    facts = loaded.grids.get(code)
    if facts is None:
        version = "" if loaded.version is None else f" version {loaded.version}"
        raise NotFoundError(f"no grid {code!r} in plan {loaded.name!r}{version}")
    with _RENDER_LOCK, tempfile.TemporaryDirectory(prefix="geogrid-map-") as folder:
        path = Path(folder) / "sign.pdf"
        render_signs(loaded.plan, path, level=facts["level"], codes=[code], progress=False)
        content = path.read_bytes()
    return _pdf(content, f"sign-{_ascii(code)}.pdf")


def _check_level(loaded: LoadedCounty, level: int | None) -> None:
    """422 for a level the plan has no grids at."""
    present = sorted({int(f["level"]) for f in loaded.grids.values()})
    if level is not None and level not in present:
        _invalid(
            "level",
            level,
            f"plan {loaded.name!r} has no grids at level {level}; "
            f"levels: {', '.join(map(str, present))}",
        )


def _check_title(title: str) -> None:
    """422 for a title the map font cannot draw (control characters, emoji, rare scripts).

    A missing glyph would be printed as an empty box; one line of text is expected.
    """
    missing = sorted({c for c in title if not c.isprintable() or ord(c) not in _font_chars()})
    if missing:
        shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        _invalid(
            "title",
            title,
            f"the map font ({cjk_font_source().stem}) cannot draw {shown}{more}; "
            "use one line of Chinese, Latin letters, digits and common punctuation",
        )


@functools.cache
def _font_chars() -> frozenset[int]:
    """Code points the CJK map font has glyphs for (read once per process)."""
    from fontTools.ttLib import TTFont

    # every face of a Noto Sans CJK collection maps the same characters: face 0 will do
    with TTFont(cjk_font_source(), fontNumber=0, lazy=True) as font:
        return frozenset(font.getBestCmap())


def _invalid(name: str, value: object, message: str) -> NoReturn:
    """Raise a 422 in FastAPI's own format, for query parameter ``name``."""
    raise RequestValidationError(
        [{"type": "value_error", "loc": ("query", name), "msg": message, "input": value}]
    )


def _ascii(text: str) -> str:
    """``text`` safe inside a quoted header value (grid codes are digits; anything else: _)."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in text)
