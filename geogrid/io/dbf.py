"""The text encoding of a Shapefile's DBF when no ``.cpg`` says it (GBK, UTF-8 or Big5).

Old Shapefiles from Chinese offices are GBK with no ``.cpg`` and often a zero "language
driver" byte, which GDAL then reads as Latin-1: ``荷清路社区`` becomes ``ºÉÇåÂ·ÉçÇø``.
:func:`dbf_encoding` reads the bytes of the DBF's text fields and decides — UTF-8 when they
decode as UTF-8, else GB18030 (a superset of GBK and GB2312) or Big5 as
:func:`geogrid.io.tables.detect_encoding` chooses — and says that it guessed, so the import
shows a sample of the decoded names and the planner can override it with ``--encoding``.
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO

from geogrid.io.tables import detect_encoding

__all__ = [
    "TextEncoding",
    "dbf_encoding",
]

_SAMPLE_BYTES = 256 * 1024  # text read from the DBF to decide


@dataclasses.dataclass(frozen=True)
class TextEncoding:
    """How a file's text is read.

    Attributes
    ----------
    encoding
        The encoding's name for GDAL and Python: ``"UTF-8"``, ``"GB18030"``, ``"BIG5"`` or
        what was given.
    source
        ``"given"`` (``--encoding``), ``"detected"`` (guessed: show a sample) or ``"utf-8"``
        (the text decodes as UTF-8).
    file
        The file whose text it is (the ``.dbf``).
    """

    encoding: str
    source: str
    file: str

    @property
    def guessed(self) -> bool:
        """Whether the encoding was guessed from GBK/Big5 bytes (say so, with a sample)."""
        return self.source == "detected"

    def describe(self) -> str:
        """One line for the planner: which encoding, how it was chosen, how to change it."""
        if self.source == "given":
            return f"{self.file}: text read as {self.encoding} (--encoding)"
        how = "detected" if self.guessed else "it decodes as UTF-8"
        return (
            f"{self.file} has no .cpg: its text read as {self.encoding} ({how}); if the names "
            "below look wrong, import again with --encoding gbk, big5 or utf-8"
        )


def dbf_encoding(path: str | os.PathLike[str], given: str | None = None) -> TextEncoding | None:
    """The encoding to read a Shapefile's attributes in; ``None`` when GDAL knows it.

    Parameters
    ----------
    path
        The ``.shp`` (or its ``.dbf``), or a ``.zip`` holding one Shapefile.
    given
        The encoding the planner gave (``--encoding``): it wins.

    Returns
    -------
    TextEncoding or None
        ``None`` when a ``.cpg`` names the encoding, there is no DBF, or its text is ASCII.

    Examples
    --------
    >>> import tempfile, geopandas as gpd
    >>> from shapely.geometry import box
    >>> folder = Path(tempfile.mkdtemp())
    >>> gpd.GeoDataFrame({"name": ["荷清路社区"]}, geometry=[box(0, 0, 1, 1)], crs=4490).to_file(
    ...     folder / "grids.shp", engine="pyogrio", encoding="GBK")
    >>> (folder / "grids.cpg").unlink()
    >>> dbf_encoding(folder / "grids.shp").encoding
    'GB18030'
    """
    if Path(path).suffix.lower() == ".zip":
        return _zipped(Path(path), given)
    dbf = Path(path).with_suffix(".dbf")
    if given:
        return TextEncoding(given, "given", dbf.name)
    if not dbf.exists() or _cpg(dbf) is not None:
        return None
    with dbf.open("rb") as handle:
        return _decided(_text_bytes(handle), dbf.name)


def _zipped(path: Path, given: str | None) -> TextEncoding | None:
    """:func:`dbf_encoding` of the one Shapefile inside a zip (``None`` when none or many)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            dbfs = [n for n in names if n.lower().endswith(".dbf")]
            if len(dbfs) != 1:
                return None
            name = PurePosixPath(dbfs[0]).name
            if given:
                return TextEncoding(given, "given", name)
            stem = dbfs[0][:-4].lower()
            if any(n.lower() == f"{stem}.cpg" for n in names):
                return None
            with archive.open(dbfs[0]) as handle:
                return _decided(_text_bytes(handle), name)
    except (OSError, zipfile.BadZipFile):
        return None  # the plan reader says what is wrong with the file


def _decided(text: bytes, name: str) -> TextEncoding | None:
    if text.isascii():
        return None
    encoding, detected = detect_encoding(text)
    if not detected:
        return TextEncoding("UTF-8", "utf-8", name)
    return TextEncoding(encoding.upper(), "detected", name)


def _cpg(dbf: Path) -> Path | None:
    for suffix in (".cpg", ".CPG"):
        if dbf.with_suffix(suffix).exists():
            return dbf.with_suffix(suffix)
    return None


def _text_bytes(handle: IO[bytes]) -> bytes:
    """The bytes of the character fields of the first records (up to 256 KiB of text).

    A DBF is a 32-byte header, 32-byte field descriptors ended by ``0x0D``, then records of
    a fixed size, each starting with a deletion flag.
    """
    head = handle.read(32)
    if len(head) < 32:
        return b""
    records = int.from_bytes(head[4:8], "little")
    header = int.from_bytes(head[8:10], "little")
    size = int.from_bytes(head[10:12], "little")
    fields = _text_fields(handle.read(max(header - 32, 0)))
    parts: list[bytes] = []
    total = 0
    for _ in range(records):
        record = handle.read(size)
        if len(record) < size or total > _SAMPLE_BYTES:
            break
        for start, length in fields:
            value = record[start : start + length].strip(b" \x00")
            if value:
                parts.append(value)
                total += len(value)
    return b"\n".join(parts)


def _text_fields(descriptors: bytes) -> list[tuple[int, int]]:
    """(offset in a record, length) of each character or memo field."""
    fields, offset = [], 1  # after the deletion flag
    for start in range(0, len(descriptors) - 31, 32):
        field = descriptors[start : start + 32]
        if field[0] == 0x0D:
            break
        if chr(field[11]) in "CM":
            fields.append((offset, field[16]))
        offset += field[16]
    return fields
