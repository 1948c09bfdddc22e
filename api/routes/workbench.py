"""``/workbench``: the planner's grid editor in the browser (网格编辑工作台).

The page, its scripts, styles, Leaflet and Leaflet.VectorGrid are files of this package
(``api/workbench_static``, ``geogrid/render/assets``), answered from here, so the workbench
works on an office intranet with nothing fetched from the internet (a basemap tile URL is
optional: ``GEOGRID_BASEMAP_URL``). The page is open like ``/maps``: it holds no data; every action is
one of the keyed API calls (``/plans``, ``/drafts``, ``/jobs`` …) made with the key the user
types in. ``GET /workbench/me`` tells the page who the key is, so it shows only the buttons
the role may use (the server checks every call anyway).
"""

from __future__ import annotations

import html
import json
import mimetypes
from functools import cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

import geogrid.render
from api.auth import CurrentCaller
from api.routes.fonts import font_face, font_url
from geogrid.access import Permission
from geogrid.errors import InvalidInputError, NotFoundError
from geogrid.render.webfont import page_characters

__all__ = ["STATIC_DIR", "router"]

router = APIRouter(tags=["workbench"])

STATIC_DIR = Path(__file__).resolve().parents[1] / "workbench_static"
"""The page's own files (HTML, ES modules, CSS, vendored libraries)."""
_ASSETS = Path(geogrid.render.__file__).resolve().parent / "assets"
_LEAFLET_DIR = _ASSETS / "leaflet"
_VECTORGRID_DIR = _ASSETS / "leaflet-vectorgrid"
_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css"}
_NO_CACHE = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
_MAX_FONT_TEXT = 20_000
_MAX_FONT_CHARS = 4_000  # distinct characters of one data font (~ a big county's names)
_FileName = Annotated[str, PathParam(max_length=200, pattern=r"^[\w./-]+$")]


class FontIn(BaseModel):
    """Text the page shows that its own font lacks (names of plans, grids, people)."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=_MAX_FONT_TEXT, examples=["荷清苑第一网格"])


class FontOut(BaseModel):
    """A web font holding the text's characters, and the CSS family name to give it."""

    url: str = Field(examples=["/fonts/0123456789abcdef01234567.woff2"])
    family: str = Field(examples=["Geogrid Data 01234567"])


class SessionOut(BaseModel):
    """Who the key is, and what the workbench may offer it."""

    name: str = Field(examples=["海淀规划员"], description="the key's name (the audit log's)")
    role: str = Field(examples=["planner"])
    grid_code: str | None = Field(
        examples=["110108001"], description="the subtree the key covers; null: everything"
    )
    permissions: list[str] = Field(examples=[["manage plans and staff"]])
    can_edit: bool = Field(description="open, edit and save drafts (planner, admin)")
    can_approve: bool = Field(description="approve and activate versions (supervisor, admin)")
    can_read_personal: bool = Field(description="residents' names and phones in clear")


@cache
def _files(folder: Path) -> dict[str, Path]:
    """Every file under ``folder`` by its relative POSIX path (nothing outside it is served)."""
    return {
        path.relative_to(folder).as_posix(): path for path in folder.rglob("*") if path.is_file()
    }


def _file(folder: Path, name: str) -> FileResponse:
    path = _files(folder).get(name)
    if path is None:
        raise NotFoundError(f"no workbench file {name!r}")
    media = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
    return FileResponse(path, media_type=media or "application/octet-stream", headers=_NO_CACHE)


@cache
def _page_template() -> str:
    return (STATIC_DIR / "index.html").read_text(encoding="utf-8")


@cache
def _page_font() -> str:
    """The ``@font-face`` rule of a font holding every character of the page and its scripts.

    The scripts hold the catalogue of both languages (``i18n.js``), so one font serves both;
    made once per process (and cached on disk across processes by :mod:`geogrid.render.webfont`).
    """
    texts = [path.read_text(encoding="utf-8") for path in sorted(STATIC_DIR.glob("*.[hj][ts]*"))]
    return font_face(page_characters("".join(texts)))


@router.get("/workbench", response_class=HTMLResponse, include_in_schema=False)
def workbench_page(
    request: Request,
    lang: Annotated[str, Query(pattern="^(zh|en)$", description="interface language")] = "zh",
) -> HTMLResponse:
    """The workbench page: Chinese by default, ``?lang=en`` for English."""
    settings = request.app.state.settings
    config = {"lang": lang, "basemap": settings.basemap_url}
    # JSON inside <script>: no "</" can close the element early
    text = json.dumps(config, ensure_ascii=False).replace("<", "\\u003c")
    page = (
        _page_template()
        .replace("{{lang}}", "zh-CN" if lang == "zh" else "en")
        .replace("{{config}}", text)
        .replace("{{fontface}}", _page_font())
        .replace("{{title}}", html.escape("网格编辑工作台" if lang == "zh" else "Grid workbench"))
    )
    return HTMLResponse(page, headers=_NO_CACHE)


@router.get("/workbench/static/{name:path}", include_in_schema=False)
def workbench_file(name: _FileName) -> FileResponse:
    """A script, style or vendored file of the page."""
    return _file(STATIC_DIR, name)


@router.get("/workbench/leaflet/{name:path}", include_in_schema=False)
def workbench_leaflet(name: _FileName) -> FileResponse:
    """Leaflet, as vendored for the web map (``geogrid/render/assets/leaflet``)."""
    return _file(_LEAFLET_DIR, name)


@router.get("/workbench/vectorgrid/{name:path}", include_in_schema=False)
def workbench_vectorgrid(name: _FileName) -> FileResponse:
    """Leaflet.VectorGrid, as vendored for the web map: big reference layers from ``/tiles``."""
    return _file(_VECTORGRID_DIR, name)


@router.get("/workbench/me", response_model=SessionOut)
def workbench_me(caller: CurrentCaller) -> SessionOut:
    """The caller's key: name, role, scope and what the workbench may offer it.

    Any valid key gets its own facts (and nothing else); the page hides buttons the role may
    not use, and every call is still checked by the server.
    """
    return SessionOut(
        name=caller.name,
        role=caller.role.value,
        grid_code=caller.grid_code,
        permissions=sorted(p.value for p in Permission if caller.can(p)),
        can_edit=caller.can(Permission.MANAGE_PLANS),
        can_approve=caller.can(Permission.APPROVE_PLANS),
        can_read_personal=caller.can(Permission.READ_PERSONAL),
    )


@router.post("/workbench/font", response_model=FontOut)
def workbench_font(body: FontIn, caller: CurrentCaller) -> FontOut:
    """A subset web font for text the page got from the service (``GET /fonts/…`` serves it).

    The page's own font holds its interface words; names come with the data, so the page
    asks for a font holding them once it has them (any valid key; at most 4,000 distinct
    characters, else 422).
    """
    chars = {c for c in body.text if c.isprintable()}
    if len(chars) > _MAX_FONT_CHARS:
        raise InvalidInputError(
            f"{len(chars)} distinct characters: ask for at most {_MAX_FONT_CHARS} at once"
        )
    url = font_url(["".join(sorted(chars))])
    return FontOut(url=url, family=f"Geogrid Data {url.rsplit('/', 1)[-1][:8]}")
