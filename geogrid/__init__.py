"""geogrid: community grid governance (网格化治理) — grid plans, partitioning, location, maps."""

from geogrid.errors import GeogridError
from geogrid.plan import GridPlan

__all__ = ["GeogridError", "GridPlan"]
__version__ = "0.1.0"
