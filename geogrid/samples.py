"""Sample data shipped with geogrid in ``data/boundaries/``, loaded by name.

Examples
--------
>>> "haidian" in sample_names()
True
"""

from __future__ import annotations

from pathlib import Path

from geogrid.errors import PlanFileError
from geogrid.plan import GridPlan

__all__ = ["SAMPLES_DIR", "load_sample", "sample_names", "sample_path"]

SAMPLES_DIR = Path(__file__).resolve().parents[1] / "data" / "boundaries"
"""Where the samples live: the repository's ``data/boundaries`` (geogrid installs editable)."""


def sample_names() -> list[str]:
    """Names of the shipped samples (folders of ``data/boundaries`` holding a ``plan.gpkg``)."""
    if not SAMPLES_DIR.is_dir():
        return []
    return sorted(p.parent.name for p in SAMPLES_DIR.glob("*/plan.gpkg"))


def sample_path(name: str, file: str = "plan.gpkg") -> Path:
    """Path of ``file`` in sample ``name``, e.g. ``sample_path("haidian", "households.gpkg")``."""
    path = SAMPLES_DIR / name / file
    if name not in sample_names() or not path.exists():
        known = ", ".join(sample_names()) or "none found"
        raise PlanFileError(f"no sample {name!r} with {file}; samples: {known} (in {SAMPLES_DIR})")
    return path


def load_sample(name: str = "haidian") -> GridPlan:
    """The sample grid plan ``name``."""
    from geogrid.io import read_plan

    return read_plan(sample_path(name))
