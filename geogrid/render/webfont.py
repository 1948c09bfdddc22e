"""The CJK font of web pages: a subset web font shipped with the page.

A browser with no CJK system font (an intranet PC, a kiosk, a minimal Linux) draws every
Chinese character as an empty box (□). So a page that shows Chinese ships its own font, as the
wall map embeds its PDF fonts: a subset of the same **Noto Sans CJK SC** (SIL Open Font
License 1.1; :func:`geogrid.render.fonts.cjk_font_source`, never SimHei) holding exactly the
characters of the page, plus ASCII and common punctuation. It stays an OpenType (CFF) font,
which every browser reads, compressed as WOFF2 (WOFF when ``brotli`` is missing).

A subset is named by a digest of its character set (and of the source font), and kept in
memory (the last :data:`MEMORY_FONTS`) and on disk, so the same page's font is made once.
Making one for 400 common hanzi takes 0.55-0.85 s of CPU (77 kB; fontTools running each CFF
charstring, and reading the 65,535-glyph source: 0.3 s of it); a cached one is read in about a
millisecond (``bench/bench_webfont.py``, docs/BENCHMARKS.md).

Two ways to use it:

* **embedded** in a standalone HTML file (the web map):
  ``web_font(texts).font_face()`` is an ``@font-face`` rule with a ``data:`` URI;
* **served** (the workbench): ``web_font(texts).font_face(url=...)`` with the URL of
  ``GET /fonts/{digest}.woff2``, which answers :func:`font_by_digest` (``api/routes/fonts.py``).

Then give text the family stack :data:`FONT_STACK`.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import hashlib
import io
import os
import re
import struct
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from geogrid.render.fonts import _ALWAYS, _rename, _sc_index, cjk_font_source

__all__ = [
    "FONT_FAMILY",
    "FONT_STACK",
    "MEMORY_FONTS",
    "WebFont",
    "font_by_digest",
    "font_for_text",
    "page_characters",
    "web_font",
]

FONT_FAMILY = "Geogrid CJK"
"""CSS family name of the subset font."""
FONT_STACK = f'"{FONT_FAMILY}", "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif'
"""CSS ``font-family`` value: the shipped subset first, system CJK fonts as fallbacks."""
MEMORY_FONTS = 32
"""How many subsets are kept in memory (each some 50-300 kB)."""

_WEB_ALWAYS = _ALWAYS + "“”‘’！？；…【】「」『』〔〕×−℃※"
_RECIPE = "1"  # change when the subsetting below changes: new digests, no stale cached fonts
_DIGEST = re.compile(r"[0-9a-f]{24}")
_memory: collections.OrderedDict[str, WebFont] = collections.OrderedDict()
_lock = threading.Lock()


@dataclasses.dataclass(frozen=True)
class WebFont:
    """A subset web font.

    Attributes
    ----------
    data
        The font file (WOFF2, or WOFF without ``brotli``).
    digest
        24 hex digits naming the character set and the source font; the same set gives the
        same digest on every machine with the same font, so it is a stable cache key (ETag).
    flavor
        ``"woff2"`` or ``"woff"``.
    """

    data: bytes
    digest: str
    flavor: str

    @property
    def media_type(self) -> str:
        """The font's media type (``font/woff2`` or ``font/woff``)."""
        return f"font/{self.flavor}"

    @property
    def filename(self) -> str:
        """``<digest>.<flavor>``: the last segment of its served URL."""
        return f"{self.digest}.{self.flavor}"

    def font_face(self, url: str | None = None, *, family: str = FONT_FAMILY) -> str:
        """The CSS ``@font-face`` rule of this font.

        Parameters
        ----------
        url
            Where the browser fetches the font (e.g. ``/fonts/<digest>.woff2``); ``None``
            embeds it as a base64 ``data:`` URI (a standalone HTML file).
        family
            The CSS family name; use it first in ``font-family`` (:data:`FONT_STACK`).
        """
        if url is None:
            url = f"data:{self.media_type};base64,{base64.b64encode(self.data).decode('ascii')}"
        return (
            f'@font-face{{font-family:"{family}";src:url({url}) format("{self.flavor}");'
            "font-weight:normal;font-style:normal;font-display:block}"
        )


def web_font(texts: Iterable[str], *, folder: str | os.PathLike[str] | None = None) -> WebFont:
    """The subset web font holding every character of ``texts``.

    Parameters
    ----------
    texts
        Every string the page may show; ASCII and common punctuation are always included,
        control characters dropped, characters the font lacks ignored.
    folder
        Disk cache (default: ``geogrid-fonts`` in the temporary directory, shared with the
        PDF subsets of :func:`geogrid.render.fonts.truetype_subset`).

    Returns
    -------
    WebFont
        Made once per character set; then from memory or disk.

    Examples
    --------
    >>> font = web_font(["网格地图"])
    >>> font.flavor, font.data[:4], len(font.digest)
    ('woff2', b'wOF2', 24)
    >>> web_font(["图地格网"]) == font  # a set: order and repeats do not matter
    True
    """
    chars = "".join(sorted(set(_WEB_ALWAYS).union(*map(set, texts))))
    chars = "".join(c for c in chars if c.isprintable() or c == " ")
    source = cjk_font_source()
    flavor = _flavor()
    key = f"{_RECIPE}|{source.name}|{source.stat().st_size}|{flavor}|{chars}"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]
    font = font_by_digest(digest, folder=folder)
    if font is None:
        font = WebFont(_subset(source, chars, flavor, digest), digest, flavor)
        target = _cache_dir(folder) / font.filename
        with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".tmp", delete=False) as out:
            out.write(font.data)
        os.replace(out.name, target)
        _remember(font)
    return font


def font_for_text(text: str) -> bytes:
    """The subset web font (WOFF2; WOFF without ``brotli``) for the characters of ``text``."""
    return web_font([text]).data


def font_by_digest(digest: str, *, folder: str | os.PathLike[str] | None = None) -> WebFont | None:
    """A subset already made by :func:`web_font` (in this process or on this disk), or ``None``.

    Only fonts made before are found: a digest names a character set, it cannot make one.
    """
    if not _DIGEST.fullmatch(digest):
        return None
    with _lock:
        font = _memory.get(digest)
        if font is not None:
            _memory.move_to_end(digest)
            return font
    for flavor in ("woff2", "woff"):
        path = _cache_dir(folder) / f"{digest}.{flavor}"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        font = WebFont(data, digest, flavor)
        _remember(font)
        return font
    return None


def page_characters(document: str) -> set[str]:
    r"""Every character an HTML document may show: its text, entities and ``\uXXXX`` escapes.

    Taking the whole document (scripts and data included) is a superset of what is shown, and
    cannot miss a label added later in a script.

    Examples
    --------
    >>> page = '<b>网&#26684;</b><script>t = "\\u5730"</script>'
    >>> sorted(c for c in page_characters(page) if not c.isascii())
    ['地', '格', '网']
    """
    import html

    escaped = re.findall(r"\\u([0-9a-fA-F]{4})", document)
    return set(document) | set(html.unescape(document)) | {chr(int(h, 16)) for h in escaped}


def _flavor() -> str:
    try:
        import brotli  # noqa: F401
    except ImportError:
        return "woff"
    return "woff2"


def _cache_dir(folder: str | os.PathLike[str] | None) -> Path:
    path = Path(folder) if folder else Path(tempfile.gettempdir()) / "geogrid-fonts"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _remember(font: WebFont) -> None:
    with _lock:
        _memory[font.digest] = font
        _memory.move_to_end(font.digest)
        while len(_memory) > MEMORY_FONTS:
            _memory.popitem(last=False)


def _subset(source: Path, chars: str, flavor: str, digest: str) -> bytes:
    """Subset ``source`` to ``chars``, keeping CFF outlines (browsers read them)."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    options = subset.Options()
    options.layout_features = []  # horizontal text only: no GSUB/GPOS, no vertical metrics
    options.drop_tables += ["BASE", "GDEF", "GPOS", "GSUB", "VORG", "vhea", "vmtx"]
    options.notdef_outline = True  # a character outside the subset shows a box, not nothing
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]  # copyright, names, version, licence
    options.desubroutinize = True  # smaller once compressed, no slower
    options.hinting = False
    # bounding boxes are not recomputed (the full font's hold): that would draw every glyph
    with TTFont(
        source, fontNumber=_sc_index(source), lazy=True, recalcBBoxes=False, recalcTimestamp=False
    ) as font:
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=chars)
        subsetter.subset(font)
        _rename(font, digest)
        font["head"].flags |= 1 << 11  # "losslessly transformed", as WOFF2 encoders set it
        out = io.BytesIO()
        font.save(out)
    if flavor == "woff2":
        return _woff2(out.getvalue())
    with TTFont(io.BytesIO(out.getvalue()), recalcBBoxes=False, recalcTimestamp=False) as sfnt:
        sfnt.flavor = flavor
        out = io.BytesIO()
        sfnt.save(out)
    return out.getvalue()


def _woff2(sfnt: bytes, quality: int = 10) -> bytes:
    """Wrap an OpenType (CFF) font as WOFF2 (W3C WOFF2 sections 3-5, no table transforms).

    fontTools compresses at brotli's quality 11, which takes twice as long as the subsetting
    for 0.6 % fewer bytes than quality 10; a CFF font has no glyf/loca to transform, so the
    container is a header, a table directory and one brotli stream.
    """
    import brotli
    from fontTools.ttLib.woff2 import packBase128, woff2KnownTags

    flavor, count = struct.unpack(">4sH", sfnt[:6])
    records = sorted(struct.unpack(">4sIII", sfnt[12 + 16 * i : 28 + 16 * i]) for i in range(count))
    directory, stream, padded = b"", b"", 12 + 16 * count
    for tag, _checksum, offset, length in records:
        name = tag.decode("latin-1")
        if name in woff2KnownTags:  # transform version 0: the null transform
            directory += bytes([woff2KnownTags.index(name)])
        else:
            directory += bytes([63]) + tag
        directory += packBase128(length)
        stream += sfnt[offset : offset + length]
        padded += (length + 3) & ~3
    compressed = brotli.compress(stream, mode=brotli.MODE_FONT, quality=quality)
    body = directory + compressed
    body += b"\0" * (-len(body) % 4)
    header = struct.pack(
        ">4s4sIHHIIHHIIIII",
        b"wOF2",
        flavor,
        48 + len(body),
        count,
        0,
        padded,
        len(compressed),
        1,
        0,
        0,
        0,
        0,
        0,
        0,
    )
    return header + body
