"""Work spread over a ``dask.distributed`` cluster: partition by area, batch location by file part.

:func:`client_for` opens a client on a local cluster (``"local:N"``: N worker processes) or
a running scheduler; :func:`partition_on_cluster` draws the grids of many parent areas, one
task per area; :func:`locate_parquet` locates a partitioned GeoParquet of points, one task
per part, the grid index built once per worker; :func:`relocate_incidents` rewrites a store's
incident history to the plans in force. Each gives the single-process answers. The
cluster needs the ``cluster`` extra (``pip install 'geogrid[cluster]'``).
"""

from geogrid.cluster.client import INSTALL_HINT, client_for, parse_scheduler
from geogrid.cluster.locate import LocateSummary, locate_parquet, plans_in_force
from geogrid.cluster.partition import (
    AreaTiming,
    ClusterReport,
    FailedArea,
    partition_on_cluster,
    partition_with_scheduler,
)
from geogrid.cluster.relocate import RelocateSummary, relocate_incidents

__all__ = [
    "INSTALL_HINT",
    "AreaTiming",
    "ClusterReport",
    "FailedArea",
    "LocateSummary",
    "RelocateSummary",
    "client_for",
    "locate_parquet",
    "parse_scheduler",
    "partition_on_cluster",
    "partition_with_scheduler",
    "plans_in_force",
    "relocate_incidents",
]
