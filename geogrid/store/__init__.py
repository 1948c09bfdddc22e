"""Where grid plans are kept: versioned, approved and activated, in PostGIS or a GeoPackage.

>>> import tempfile
>>> from shapely.geometry import box
>>> import geopandas as gpd
>>> from geogrid.plan import GridPlan
>>> grids = gpd.GeoDataFrame({"code": ["110108001"], "name": ["示例社区"], "level": [1]},
...                          geometry=[box(116.30, 39.99, 116.31, 40.00)], crs=4490)
>>> folder = tempfile.TemporaryDirectory()
>>> with open_store(f"sqlite:///{folder.name}/plans.gpkg") as store:
...     info = store.save(GridPlan("示例", ["社区"], grids), by="张三")
...     _ = store.approve("示例", 1, by="李四")
...     _ = store.activate("示例", 1, by="李四")
...     store.active().name, store.active_info().status.value, store.used_codes()
('示例', 'active', {'110108001'})
>>> folder.cleanup()

Only this package talks to a database; the rest of geogrid sees :class:`GridPlan` objects.
"""

from geogrid.store.publish import publish_if_new, require_valid
from geogrid.store.repository import PlanStore, open_store, sort_plan
from geogrid.store.versions import VersionInfo, VersionStatus

__all__ = [
    "PlanStore",
    "VersionInfo",
    "VersionStatus",
    "open_store",
    "publish_if_new",
    "require_valid",
    "sort_plan",
]
