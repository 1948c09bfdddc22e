"""Zip archives of plan files — a zipped Shapefile, a KMZ — opened safely.

A zip that arrives over the network is read with three rules, whatever it holds:

* **Size.** The uncompressed size is capped (``max_bytes``): the sizes the archive declares
  are checked before anything is read, and the bytes actually read are counted too, so a
  "zip bomb" (a few kilobytes that unpack to gigabytes) or a lying header is refused after
  at most ``max_bytes`` of work.
* **Names.** A member whose name is absolute, has a drive letter, a ``..`` part or a
  backslash, or a control character, is refused: nothing is ever written outside the folder
  it is unpacked into (no "zip slip").
* **What is inside.** Exactly one plan file is found in it (a ``.shp`` with its ``.dbf``
  and ``.shx``, a ``.kml``, a ``.gpkg``, a ``.geojson``), possibly in a folder inside the
  zip; several are an error naming them. Other members (a ``.qix`` index, a readme, the
  images of a KMZ) are left alone.
"""

from __future__ import annotations

import os
import re
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO

from geogrid.errors import PayloadTooLargeError, PlanFileError

__all__ = [
    "DEFAULT_MAX_UNPACKED",
    "PLAN_MEMBERS",
    "find_plan_member",
    "read_member",
    "unpack_zip",
]

DEFAULT_MAX_UNPACKED = 2_000_000_000
"""Cap of the uncompressed size of a zip read from the command line (2 GB)."""

PLAN_MEMBERS = (".shp", ".kml", ".gpkg", ".geojson", ".json", ".dxf")
"""Suffixes of the plan files looked for inside a zip."""

_SHAPEFILE_PARTS = (".dbf", ".shx")
_CHUNK = 1 << 20
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError)
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]|^[A-Za-z]:")


def unpack_zip(
    source: str | os.PathLike[str],
    folder: str | os.PathLike[str],
    *,
    max_bytes: int = DEFAULT_MAX_UNPACKED,
) -> Path:
    """Unpack the zip ``source`` into ``folder`` safely and return the plan file inside.

    Parameters
    ----------
    source
        The zip (a zipped Shapefile, a KMZ, any zip holding one plan file).
    folder
        An empty folder to unpack into (members keep their folders inside it).
    max_bytes
        Cap of the total uncompressed size.

    Returns
    -------
    pathlib.Path
        The plan file unpacked (for a Shapefile, the ``.shp`` with its parts beside it).

    Raises
    ------
    PayloadTooLargeError
        When the members unpack to more than ``max_bytes``.
    PlanFileError
        When it is not a zip, a member's name is unsafe, or it holds no plan file or several.

    Examples
    --------
    >>> import io, tempfile
    >>> folder = tempfile.TemporaryDirectory()
    >>> bomb = Path(folder.name) / "bomb.zip"
    >>> with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
    ...     z.writestr("grids/doc.kml", b" " * 10_000_000)
    >>> unpack_zip(bomb, Path(folder.name) / "out", max_bytes=1_000_000)
    Traceback (most recent call last):
    ...
    geogrid.errors.PayloadTooLargeError: bomb.zip: unpacks to 10000000 bytes, over the 1000000-byte cap; send the plan file itself, or a smaller one (GEOGRID_MAX_UPLOAD_BYTES raises the service's cap)
    >>> folder.cleanup()
    """
    source, folder = Path(source), Path(folder)
    with _open(source) as archive:
        members = _checked_members(archive, source, max_bytes)
        member = find_plan_member([m.filename for m in members], source.name)
        folder.mkdir(parents=True, exist_ok=True)
        budget = [max_bytes]
        for info in members:
            target = folder.joinpath(*PurePosixPath(info.filename).parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(info) as reader, target.open("wb") as writer:
                    _copy(reader, writer, budget, source, max_bytes)
            except _DAMAGED as exc:
                raise PlanFileError(
                    f"{source.name}: {info.filename} cannot be unpacked ({exc}); zip it again"
                ) from exc
    return folder.joinpath(*PurePosixPath(member).parts)


def read_member(
    source: str | os.PathLike[str],
    suffix: str,
    *,
    max_bytes: int = DEFAULT_MAX_UNPACKED,
) -> bytes:
    """The bytes of the one ``suffix`` file in the zip ``source`` (``doc.kml`` first).

    For a KMZ: its ``doc.kml`` (or its only ``.kml``), read with the same checks as
    :func:`unpack_zip`, in memory.

    Raises
    ------
    PayloadTooLargeError, PlanFileError
        As :func:`unpack_zip`; also when there is no ``suffix`` file, or several and no
        ``doc`` among them.
    """
    source = Path(source)
    with _open(source) as archive:
        members = _checked_members(archive, source, max_bytes)
        found = [m for m in members if not m.is_dir() and m.filename.lower().endswith(suffix)]
        doc = [m for m in found if PurePosixPath(m.filename).stem.lower() == "doc"]
        if len(doc) == 1 or len(found) == 1:
            info = doc[0] if len(doc) == 1 else found[0]
            try:
                with archive.open(info) as reader:
                    data = reader.read(max_bytes + 1)
            except _DAMAGED as exc:
                raise PlanFileError(
                    f"{source.name}: {info.filename} cannot be unpacked ({exc}); zip it again"
                ) from exc
            if len(data) > max_bytes:
                raise _too_large(source, max_bytes, max_bytes, at_least=True)
            return data
    names = ", ".join(m.filename for m in found) or "none"
    raise PlanFileError(
        f"{source.name}: expected one {suffix} file (or a doc{suffix}) inside, found {names}; "
        f"zip the {suffix} file alone"
    )


def find_plan_member(names: list[str], where: str) -> str:
    """The one plan file among the member ``names`` of a zip.

    Examples
    --------
    >>> find_plan_member(["网格/网格.shp", "网格/网格.dbf", "网格/网格.shx", "网格/网格.prj"], "x.zip")
    '网格/网格.shp'
    >>> find_plan_member(["doc.kml", "files/style.kml", "files/icon.png"], "网格.kmz")
    'doc.kml'
    """
    plans = [n for n in names if PurePosixPath(n).suffix.lower() in PLAN_MEMBERS]
    plans = [n for n in plans if not PurePosixPath(n).name.startswith(("._", "."))]
    doc = [n for n in plans if PurePosixPath(n).name.lower() == "doc.kml"]
    if len(plans) > 1 and len(doc) == 1:  # a KMZ: its doc.kml is the document
        plans = doc
    if len(plans) != 1:
        listed = ", ".join(plans[:10]) if plans else "none"
        raise PlanFileError(
            f"{where}: a zip must hold exactly one plan file (.shp with its .dbf and .shx, .kml, "
            f".gpkg or .geojson); found {listed}; zip one layer at a time"
        )
    plan = plans[0]
    if PurePosixPath(plan).suffix.lower() == ".shp":
        stem = plan[: -len(".shp")].lower()
        lower = {n.lower() for n in names}
        missing = [s for s in _SHAPEFILE_PARTS if stem + s not in lower]
        if missing:
            raise PlanFileError(
                f"{where}: the Shapefile {plan} has no {' or '.join(missing)} beside it; a "
                "Shapefile is several files: zip the .shp, .shx, .dbf, .prj (and .cpg) together"
            )
    return plan


def _open(source: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise PlanFileError(f"{source.name}: not a readable zip archive ({exc})") from exc


def _checked_members(
    archive: zipfile.ZipFile, source: Path, max_bytes: int
) -> list[zipfile.ZipInfo]:
    """The members, every name safe and their declared sizes under the cap."""
    members = archive.infolist()
    for info in members:
        _check_name(info.filename, source)
        if info.flag_bits & 0x1:
            raise PlanFileError(
                f"{source.name}: {info.filename} is encrypted; zip it again without a password"
            )
    declared = sum(info.file_size for info in members)
    if declared > max_bytes:
        raise _too_large(source, declared, max_bytes)
    return members


def _check_name(name: str, source: Path) -> None:
    parts = PurePosixPath(name).parts
    if not name or name.startswith("/") or _UNSAFE.search(name) or ".." in parts:
        raise PlanFileError(
            f"{source.name}: refused the member {name[:120]!r}: a name in a zip must be a plain "
            "relative path (no '..', no leading '/', no drive letter or backslash); zip the "
            "files again from their own folder"
        )


def _copy(reader: IO[bytes], writer: IO[bytes], budget: list[int], source: Path, cap: int) -> None:
    """Copy in chunks, counting the bytes really unpacked against what is left of the cap."""
    while chunk := reader.read(_CHUNK):
        budget[0] -= len(chunk)
        if budget[0] < 0:  # the sizes in the archive lied
            raise _too_large(source, cap - budget[0], cap, at_least=True)
        writer.write(chunk)


def _too_large(
    source: Path, size: int, cap: int, *, at_least: bool = False
) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"{source.name}: unpacks to {'more than ' if at_least else ''}{size} bytes, "
        f"over the {cap}-byte cap; send the plan file itself, or a smaller one "
        "(GEOGRID_MAX_UPLOAD_BYTES raises the service's cap)"
    )
