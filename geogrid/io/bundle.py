"""A whole plan as one blob of bytes, for a database row (a job's result, a draft's base plan).

The bytes are a GeoParquet plan file exactly as :func:`geogrid.io.write_plan` writes a
``.parquet`` (grids and units in one table told apart by ``layer``; staff and the plan's
metadata in the file's key/value metadata): one format owner, lossless (geometries as WKB),
compact, and a blob saved to disk opens in QGIS or with :func:`geogrid.io.read_plan`.

Examples
--------
>>> from geogrid.plan import plan_digest
>>> from geogrid.samples import load_sample
>>> plan = load_sample("haidian")
>>> blob = plan_to_bytes(plan)
>>> blob[:4], plan_digest(plan_from_bytes(blob)) == plan_digest(plan)
(b'PAR1', True)
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from geogrid.errors import PlanFileError
from geogrid.io.plans import read_plan
from geogrid.io.writing import write_plan
from geogrid.plan import GridPlan

__all__ = ["plan_from_bytes", "plan_to_bytes"]

_MAGIC = b"PAR1"  # a Parquet file starts and ends with it


def plan_to_bytes(plan: GridPlan) -> bytes:
    """``plan`` as the bytes of a GeoParquet plan file (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="geogrid-bundle-") as folder:
        return write_plan(plan, Path(folder) / "plan.parquet").read_bytes()


def plan_from_bytes(data: bytes) -> GridPlan:
    """The plan of bytes made by :func:`plan_to_bytes`.

    Raises
    ------
    PlanFileError
        When ``data`` is not a GeoParquet plan file.
    """
    if not isinstance(data, bytes | bytearray | memoryview) or bytes(data[:4]) != _MAGIC:
        raise PlanFileError(
            "not a stored plan (a GeoParquet plan file made by plan_to_bytes): the blob is "
            "damaged or of another kind"
        )
    with tempfile.TemporaryDirectory(prefix="geogrid-bundle-") as folder:
        path = Path(folder) / "plan.parquet"
        path.write_bytes(bytes(data))
        return read_plan(path)
