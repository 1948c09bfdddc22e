"""geogrid: community grid governance (网格化治理) — grid plans, partitioning, location, maps.

The curated public API; modules hold the rest (``geogrid.crs``, ``geogrid.codes``, ...).
"""

from geogrid.errors import GeogridError
from geogrid.io import read_households, read_plan, write_plan
from geogrid.plan import GridPlan
from geogrid.samples import load_sample
from geogrid.store import PlanStore, open_store
from geogrid.validate import Problem, ProblemKind, fix_plan, validate_plan

__all__ = [
    "GeogridError",
    "GridPlan",
    "PlanStore",
    "Problem",
    "ProblemKind",
    "fix_plan",
    "load_sample",
    "open_store",
    "read_households",
    "read_plan",
    "validate_plan",
    "write_plan",
]
__version__ = "0.1.0"
