"""``/fonts``: the subset CJK web fonts that served pages link (the workbench).

A page made by the service knows the characters it shows (the UI strings, a plan's names);
it asks :func:`font_url` for the URL of a font holding them and links it from an
``@font-face`` rule (:func:`font_face`). That makes the font (:func:`geogrid.render.webfont.web_font`,
cached in memory and on disk) and the URL names it by the digest of its character set, so
``GET /fonts/{digest}.woff2`` answers a file that never changes: cached by the browser for a
year (``immutable``), with the digest as its ETag (``If-None-Match`` answers 304).

The route is open, with no key: a browser fetches fonts without the page's headers. It only
answers fonts the service has made, so it cannot be made to subset; a font tells a set of
characters, not the text they came from.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from fastapi import APIRouter, Header, Path
from fastapi.responses import Response

from geogrid.errors import NotFoundError
from geogrid.render.webfont import FONT_STACK, font_by_digest, web_font

__all__ = ["FONT_STACK", "PREFIX", "font_face", "font_url", "router"]

PREFIX = "/fonts"
"""Where the fonts are served."""
_MEDIA = "font/woff2"
_CACHE = "public, max-age=31536000, immutable"

router = APIRouter(prefix=PREFIX, tags=["fonts"])


def font_url(texts: Iterable[str]) -> str:
    """The URL (path) of the web font holding every character of ``texts``; made now if new.

    Parameters
    ----------
    texts
        Every string the page may show; ASCII and common punctuation are always included.

    Returns
    -------
    str
        ``/fonts/<digest>.woff2``: the same characters give the same URL.
    """
    return f"{PREFIX}/{web_font(texts).filename}"


def font_face(texts: Iterable[str]) -> str:
    """The CSS ``@font-face`` rule of family ``"Geogrid CJK"`` linking :func:`font_url`.

    Use the family with ``font-family: FONT_STACK`` (:data:`FONT_STACK`).
    """
    font = web_font(texts)
    return font.font_face(url=f"{PREFIX}/{font.filename}")


@router.get(
    "/{digest}.woff2",
    response_class=Response,
    responses={
        200: {"content": {_MEDIA: {}}, "description": "the font (WOFF2)"},
        304: {"description": "not modified: the browser's copy (If-None-Match) is this font"},
    },
    summary="A subset CJK web font made for a page (Noto Sans CJK SC, OFL)",
)
def font(
    digest: Annotated[
        str,
        Path(
            pattern=r"^[0-9a-f]{24}$",
            description="the digest of its character set, as in the URL from font_url",
            examples=["0123456789abcdef01234567"],
        ),
    ],
    if_none_match: Annotated[
        str | None, Header(max_length=2000, description="an ETag the browser holds")
    ] = None,
) -> Response:
    """A subset of Noto Sans CJK SC the service made for a page (see the module docstring).

    Cached for a year as immutable; ETag the quoted digest. 404 for a digest the service
    has not made a font for (reload the page that links it).
    """
    found = font_by_digest(digest)
    if found is None or found.media_type != _MEDIA:
        raise NotFoundError(
            f"no font {digest}.woff2: fonts are made for the page that links them; reload that page"
        )
    etag = f'"{digest}"'
    headers = {"ETag": etag, "Cache-Control": _CACHE}
    if if_none_match and (
        if_none_match.strip() == "*"
        or etag in [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    ):
        return Response(status_code=304, headers=headers)
    return Response(found.data, media_type=_MEDIA, headers=headers)
