"""The CJK font of printed maps: a freely licensed font, subset and embedded as TrueType.

Printed maps use **Noto Sans CJK SC** (SIL Open Font License 1.1), found in this order:

1. the file named by the ``GEOGRID_CJK_FONT`` environment variable;
2. the copy shipped in the ``mplfonts`` wheel;
3. a system copy (Debian's ``fonts-noto-cjk``).

Noto Sans CJK is an OpenType font with CFF outlines. matplotlib embeds fonts in PDFs as
TrueType (Type 42) and labels CFF data as TrueType, which poppler rejects with a font-type
warning; its other choice, Type 3, is a bitmap-like font that cannot be searched well.
So for each map a subset holding only the characters on it is made with fontTools and its
cubic CFF outlines converted to quadratic TrueType ones (``cu2qu``). The subset is small
(a few hundred glyphs; under 100 kB) and matplotlib embeds it as a CID TrueType font, subset
again, with a ToUnicode map so the text can be searched and copied. SimHei and other fonts
without a free licence are never used.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from geogrid.errors import ConfigurationError

if TYPE_CHECKING:
    from fontTools.ttLib import TTFont

__all__ = ["FONT_ENV", "cjk_font_source", "truetype_subset"]

FONT_ENV = "GEOGRID_CJK_FONT"
_FONT_FILES = ("NotoSansCJKsc-Regular.otf", "NotoSansCJK-Regular.ttc", "NotoSansCJKsc-Regular.ttf")
_SYSTEM_DIRS = (
    "/usr/share/fonts/opentype/noto",
    "/usr/share/fonts/truetype/noto",
    "/usr/share/fonts",
)
_ALWAYS = "".join(chr(c) for c in range(0x20, 0x7F)) + "·—–（）：，、。《》°²×←↑→↓①②③④⑤⑥⑦⑧⑨⑩"
_NOT_FREE = ("simhei", "simsun", "msyh", "microsoftyahei")


def cjk_font_source() -> Path:
    """The Noto Sans CJK file to subset from (see the module docstring for the search order).

    Raises
    ------
    ConfigurationError
        When no freely licensed CJK font is found, with how to get one (an installation fault).
    """
    named = os.environ.get(FONT_ENV)
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigurationError(f"{FONT_ENV}={named}: no such font file")
        if any(bad in path.name.lower().replace(" ", "") for bad in _NOT_FREE):
            raise ConfigurationError(f"{path.name} is not freely licensed; use Noto Sans CJK (OFL)")
        return path
    for folder in _candidate_dirs():
        for name in _FONT_FILES:
            if (folder / name).is_file():
                return folder / name
    raise ConfigurationError(
        "no CJK font for printed maps: pip install mplfonts (ships Noto Sans CJK, OFL), "
        "apt-get install fonts-noto-cjk, or set GEOGRID_CJK_FONT to an OFL font file"
    )


def _candidate_dirs() -> list[Path]:
    dirs = []
    try:
        import mplfonts

        dirs.append(Path(mplfonts.__file__).parent / "fonts")
    except ImportError:
        pass
    dirs.extend(Path(d) for d in _SYSTEM_DIRS)
    return dirs


def truetype_subset(texts: Iterable[str], *, folder: str | os.PathLike[str] | None = None) -> Path:
    """A TrueType-outline subset of the CJK font holding the characters of ``texts``.

    Subsets are cached by their character set in ``folder`` (default: a ``geogrid-fonts``
    folder in the temporary directory), so rendering the same plan twice converts once.

    Parameters
    ----------
    texts
        Every string the map will show; ASCII and common punctuation are always included.
    folder
        Where to keep the subset files.

    Returns
    -------
    pathlib.Path
        A ``.ttf`` file with ``glyf`` outlines, ready for ``FontProperties(fname=...)``.
    """
    chars = sorted(set(_ALWAYS).union(*map(set, texts)) - {"\n", "\r", "\t"})
    source = cjk_font_source()
    key = hashlib.sha1(("".join(chars) + str(source)).encode()).hexdigest()[:16]
    folder = Path(folder) if folder else Path(tempfile.gettempdir()) / "geogrid-fonts"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"geogrid-cjk-{key}.ttf"
    if not target.exists():
        staged = target.with_suffix(f".{os.getpid()}.tmp")
        _write_subset(source, "".join(chars), staged, key)
        os.replace(staged, target)
    return target


def _write_subset(source: Path, chars: str, target: Path, key: str) -> None:
    from fontTools.ttLib import TTFont

    with TTFont(source, fontNumber=_sc_index(source), lazy=False) as font:
        _subset_into(font, chars, target, key)


def _subset_into(font: TTFont, chars: str, target: Path, key: str) -> None:
    from fontTools import subset

    options = subset.Options()
    options.layout_features = []  # horizontal text only; no GSUB/GPOS needed
    options.notdef_outline = True
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]  # copyright, names, version, licence
    options.desubroutinize = True
    options.hinting = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=chars)
    subsetter.subset(font)
    _cff_to_glyf(font)
    _rename(font, key)
    font.save(target)


def _rename(font: TTFont, key: str) -> None:
    """Give the subset a name of its own.

    The OFL asks modified fonts to be renamed, and PDF writers that cache fonts by name
    must not mix two subsets.
    """
    family = f"Geogrid Noto Sans SC {key[:8]}"
    postscript = f"GeogridNotoSansSC-{key[:8]}"
    table = font["name"]
    for record in list(table.names):
        if record.nameID in (1, 3, 4, 6, 16, 17, 18):
            table.removeNames(nameID=record.nameID)
    for platform, encoding, language in ((3, 1, 0x409), (1, 0, 0)):
        table.setName(family, 1, platform, encoding, language)
        table.setName("Regular", 2, platform, encoding, language)
        table.setName(f"{postscript};geogrid", 3, platform, encoding, language)
        table.setName(family, 4, platform, encoding, language)
        table.setName(postscript, 6, platform, encoding, language)


def _sc_index(source: Path) -> int:
    """Index of the Simplified Chinese face in a collection (0 for a single font)."""
    if source.suffix.lower() != ".ttc":
        return 0
    from fontTools.ttLib import TTCollection

    with TTCollection(source, lazy=True) as collection:
        for i, face in enumerate(collection.fonts):
            if "SC" in str(face["name"].getDebugName(4) or ""):
                return i
    return 0


def _cff_to_glyf(tt: TTFont, max_err: float = 1.0) -> None:
    """Replace CFF outlines by TrueType quadratic ones in place (em units; 1 unit error)."""
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import newTable

    if "CFF " not in tt:
        return
    order = tt.getGlyphOrder()
    glyph_set = tt.getGlyphSet()
    glyphs = {}
    for name in order:
        pen = TTGlyphPen(glyph_set)
        glyph_set[name].draw(Cu2QuPen(pen, max_err, reverse_direction=True))
        glyphs[name] = pen.glyph()
    glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = glyphs
    tt["glyf"] = glyf
    tt["loca"] = newTable("loca")
    for table in ("CFF ", "VORG"):
        if table in tt:
            del tt[table]
    maxp = tt["maxp"]
    maxp.tableVersion = 0x00010000
    for field in (
        "maxZones",
        "maxTwilightPoints",
        "maxStorage",
        "maxFunctionDefs",
        "maxInstructionDefs",
        "maxStackElements",
        "maxSizeOfInstructions",
        "maxComponentElements",
    ):
        setattr(maxp, field, 0)
    maxp.maxZones = 1
    maxp.maxComponentDepth = 0
    post = tt["post"]
    post.formatType = 2.0
    post.extraNames = []
    post.mapping = {}
    post.glyphOrder = order
    tt["head"].indexToLocFormat = 0
    tt["head"].glyphDataFormat = 0
    tt.sfntVersion = "\x00\x01\x00\x00"
