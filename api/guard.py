r"""The request guard: every request's size, encoding and JSON shape checked before any route.

One pure ASGI middleware, so that no route can forget a check:

- **size** — a body over the cap is refused with 413 whether it declares its length or comes
  chunked: the body is counted as it is read, never read past the cap (file uploads,
  ``POST /plans`` and ``POST /jobs/partition``, have their own, larger cap);
- **text** — a NUL character or bytes that are not UTF-8 in the path or the query string, and
  in a JSON body a NUL, a lone surrogate (a ``\ud800`` escape), invalid UTF-8 or nesting deeper than
  1,024 levels, are refused with 422 naming the problem — no store is asked to hold text it
  cannot, and no answer fails to encode;
- errors never echo the input: a 50 MB string is not sent back.

A GET without a body costs one header scan.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geogrid.text import text_problem

__all__ = ["RequestGuard", "json_problem"]

_JSON_TYPES = (b"application/json", b"+json")
_UPLOADS = ("/plans", "/jobs/partition")  # paths whose bodies are files: GEOGRID_MAX_UPLOAD_BYTES


class RequestGuard:
    """Pure ASGI middleware: caps, text and JSON checks on every HTTP request.

    Parameters
    ----------
    app
        The application behind the guard.
    limit, upload_limit
        Body caps in bytes: every route, and the uploads of files (:data:`_UPLOADS`).
    """

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check one request, then pass it on with its body, or answer 413/422 alone."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = _url_problem(scope)
        if problem is not None:
            await _refuse(422, "InvalidRequestError", problem, scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is None and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body
            return
        upload = scope["path"] in _UPLOADS
        limit = self.upload_limit if upload else self.limit
        declared = int(length) if length is not None and length.isdigit() else None
        if declared is not None and declared > limit:
            await _too_large(declared, limit, upload, scope, receive, send)
            return
        body, more, disconnected = await _read(receive, limit)
        if more:
            await _too_large(None, limit, upload, scope, receive, send)
            return
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if body and content_type.endswith(_JSON_TYPES):
            problem = json_problem(body)
            if problem is not None:
                await _refuse(422, "InvalidRequestError", problem, scope, receive, send)
                return
        await self.app(scope, _replay(body, receive, disconnected), send)


def json_problem(body: bytes) -> str | None:
    r"""What is wrong with a JSON request body, or ``None``.

    Examples
    --------
    >>> json_problem(b'{"id": "a"}') is None
    True
    >>> json_problem(b'{"id": "\\ud800"}')
    'the JSON body is not valid: no low surrogate in string: line 1 column 9 (char 8)'
    >>> json_problem(b'{"note": "a\\u0000b"}')
    'a text in the JSON body holds a NUL character (\\u0000): remove it'
    >>> json_problem(b'[' * 2000 + b']' * 2000)[:45]
    'the JSON body is not valid: depth limit excee'
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return f"the JSON body is not valid: {exc}"
    if b"\\u0000" not in body:  # JSON can write a NUL only as this escape: nothing to walk
        return None
    for text in _texts(document):
        problem = text_problem(text)
        if problem is not None:
            return f"a text in the JSON body {problem}"
    return None


def _texts(document: Any) -> Iterator[str]:
    """Every string (keys included) in a parsed JSON document, without recursion."""
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            yield from item.keys()
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _url_problem(scope: Scope) -> str | None:
    if "\x00" in scope["path"]:
        return "the path holds a NUL character: remove it"
    query: bytes = scope.get("query_string", b"")
    if not query:
        return None
    decoded = unquote_to_bytes(query.replace(b"+", b" "))
    if b"\x00" in decoded:
        return "the query string holds a NUL character (%00): remove it"
    try:
        decoded.decode("utf-8")
    except UnicodeDecodeError:
        return "the query string is not UTF-8 once percent-decoded: encode parameters as UTF-8"
    return None


async def _read(receive: Receive, limit: int) -> tuple[bytes, bool, bool]:
    """The body, up to ``limit`` bytes; whether more was sent; whether the client left."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), False, True
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", True, False
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False, False


def _replay(body: bytes, receive: Receive, disconnected: bool) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if disconnected:
            return {"type": "http.disconnect"}
        return await receive()

    return replay


async def _too_large(
    size: int | None, limit: int, upload: bool, scope: Scope, receive: Receive, send: Send
) -> None:
    advice = "GEOGRID_MAX_UPLOAD_BYTES raises it" if upload else "split the batch"
    what = f"request body of {size} bytes" if size is not None else "request body"
    detail = f"{what} is over the {limit}-byte cap; {advice}"
    await _refuse(413, "PayloadTooLargeError", detail, scope, receive, send)


async def _refuse(
    status: int, error: str, detail: str, scope: Scope, receive: Receive, send: Send
) -> None:
    response = JSONResponse({"detail": detail, "error": error}, status_code=status)
    await response(scope, receive, send)
