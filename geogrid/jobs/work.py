"""A job's work, by kind, wherever it runs: in a job process or inline (tests, the CLI).

:func:`execute` is what the job process calls; :func:`run_job_inline` runs the same work in
the calling process, without the store's queue. Uploaded files travel with the job as one
zip (:func:`pack_files`), each named by its role and the suffix its bytes show.
"""

from __future__ import annotations

import io as bytes_io
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from geogrid import io
from geogrid.errors import InvalidInputError, PlanFileError
from geogrid.jobs import partition
from geogrid.jobs.model import JobOutput
from geogrid.jobs.partition import Progress

__all__ = ["KINDS", "execute", "pack_files", "run_job_inline", "unpack_files"]

KINDS = (partition.KIND,)
"""The kinds of job there are."""

_GEO_SUFFIXES = (".gpkg", ".parquet", ".geojson", ".zip")


def execute(
    kind: str,
    params: Mapping[str, Any],
    *,
    files: Mapping[str, Path] | None = None,
    store_url: str | None = None,
    progress: Progress | None = None,
) -> JobOutput:
    """Do the work of a job of ``kind``; ``files`` by role, ``store_url`` for a stored plan.

    Raises
    ------
    InvalidInputError
        For an unknown kind, bad parameters or unreadable files (the message says what to fix).
    """
    if kind != partition.KIND:
        raise InvalidInputError(f"unknown job kind {kind!r}: use one of {', '.join(KINDS)}")
    if params.get("plan") is not None:
        if store_url is None:
            raise InvalidInputError("a partition of a stored plan needs the store (store_url)")
        return partition.partition_plan(params, store_url, progress=progress)
    return partition.partition_files(params, files or {}, progress=progress)


def run_job_inline(
    kind: str,
    params: Mapping[str, Any],
    *,
    files: Mapping[str, bytes | str | os.PathLike[str]] | None = None,
    store_url: str | None = None,
    progress: Progress | None = None,
) -> JobOutput:
    """Run a job's work in this process (no queue, no store row): tests and the CLI.

    Parameters
    ----------
    kind
        ``"partition"``.
    params
        As for the job (:func:`geogrid.jobs.partition.check_params`).
    files
        By role (``area``, ``households``, ``barriers``): paths, or the bytes of the files.
    store_url
        The store holding the plan of a ``{"plan": …}`` partition.
    progress
        Called as ``progress(done, total, message)``.

    Returns
    -------
    JobOutput
        The summary (``result``) and the result plan's bytes (``plan``).
    """
    given = dict(files or {})
    with tempfile.TemporaryDirectory(prefix="geogrid-job-") as folder:
        paths: dict[str, Path] = {}
        for role, value in given.items():
            if isinstance(value, bytes | bytearray):
                path = Path(folder) / f"{role}{_suffix(role, bytes(value))}"
                path.write_bytes(bytes(value))
                paths[role] = path
            else:
                paths[role] = Path(value)
        return execute(kind, params, files=paths, store_url=store_url, progress=progress)


def pack_files(files: Mapping[str, bytes]) -> bytes:
    """Uploaded files by role as one zip; :class:`PlanFileError` for one that is no geo file."""
    unknown = sorted(set(files) - set(partition.FILES))
    if unknown:
        raise InvalidInputError(
            f"unknown file(s) {', '.join(unknown)}: give {', '.join(partition.FILES)}"
        )
    buffer = bytes_io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for role, data in files.items():
            archive.writestr(f"{role}{_suffix(role, data)}", data)
    return buffer.getvalue()


def unpack_files(blob: bytes, folder: str | os.PathLike[str]) -> dict[str, Path]:
    """The files of :func:`pack_files` written into ``folder``, by role."""
    paths = {}
    with zipfile.ZipFile(bytes_io.BytesIO(blob)) as archive:
        for member in archive.namelist():
            role = Path(member).stem
            if role not in partition.FILES or Path(member).suffix not in _GEO_SUFFIXES:
                raise PlanFileError(f"unexpected file {member!r} among a job's inputs")
            path = Path(folder) / Path(member).name
            path.write_bytes(archive.read(member))
            paths[role] = path
    return paths


def _suffix(role: str, data: bytes) -> str:
    suffix = io.sniff_suffix(data)
    if suffix not in _GEO_SUFFIXES:
        raise PlanFileError(
            f"the {role} file is not a geo file geogrid reads here: upload a GeoPackage "
            "(.gpkg), GeoJSON, GeoParquet or a zipped Shapefile (.zip with .shp, .shx, .dbf, "
            ".prj)"
        )
    return str(suffix)
