"""Writing plans: every format, staged so that a failed write leaves nothing behind."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow.parquet as pq
import pyogrio

from geogrid.io.formats import _META_KEY, _SHP_NAMES, plan_format
from geogrid.io.geojson import _records, plan_meta, plan_to_geojson_bytes
from geogrid.plan import PLAN_CRS, GridPlan

__all__ = [
    "write_plan",
]


def write_plan(plan: GridPlan, path: str | os.PathLike[str]) -> Path:
    """Write ``plan`` to ``path`` in the format its suffix names; nothing is left on failure.

    Returns
    -------
    pathlib.Path
        The written file (for a Shapefile, the ``.shp``).
    """
    path = Path(path)
    kind = plan_format(path)
    writer = {
        "gpkg": _write_gpkg,
        "geojson": _write_geojson,
        "parquet": _write_parquet,
        "shapefile": _write_shapefile,
    }[kind]
    path.parent.mkdir(parents=True, exist_ok=True)
    with _staging(path) as staged:
        writer(plan, staged)
    return path


@contextlib.contextmanager
def _staging(path: Path) -> Iterator[Path]:
    """Yield a path in a temporary folder beside ``path``; move every file made there into place."""
    folder = Path(tempfile.mkdtemp(prefix=f".{path.stem}-", dir=path.parent))
    try:
        yield folder / path.name
        for made in sorted(folder.iterdir()):
            os.replace(made, path.parent / made.name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _write_gpkg(plan: GridPlan, path: Path) -> None:
    meta = pd.DataFrame(
        [(k, json.dumps(v, ensure_ascii=False)) for k, v in plan_meta(plan).items()],
        columns=["key", "value"],
    )
    pyogrio.write_dataframe(plan.grids, path, layer="grids", geometry_type="MultiPolygon")
    pyogrio.write_dataframe(plan.units, path, layer="units", geometry_type="MultiPolygon")
    pyogrio.write_dataframe(plan.staff, path, layer="staff")
    pyogrio.write_dataframe(meta, path, layer="plan")


def _write_geojson(plan: GridPlan, path: Path) -> None:
    path.write_bytes(plan_to_geojson_bytes(plan))


def _write_parquet(plan: GridPlan, path: Path) -> None:
    # one table: grid rows and unit rows together (shared columns: name, households), told
    # apart by `layer`
    table = pd.concat(
        [plan.grids.assign(layer="grids"), plan.units.assign(layer="units")],
        ignore_index=True,
        sort=False,
    )
    gpd.GeoDataFrame(table, geometry="geometry", crs=PLAN_CRS).to_parquet(path, index=False)
    # GeoParquet's own `geo` metadata comes from geopandas; add ours beside it
    arrow = pq.read_table(path)
    meta = {**plan_meta(plan), "staff": _records(plan.staff)}
    schema_meta = {
        **(arrow.schema.metadata or {}),
        _META_KEY.encode(): json.dumps(meta, ensure_ascii=False).encode(),
    }
    pq.write_table(arrow.replace_schema_metadata(schema_meta), path)


def _write_shapefile(plan: GridPlan, path: Path) -> None:
    pyogrio.write_dataframe(
        plan.grids.rename(columns=_SHP_NAMES), path, geometry_type="MultiPolygon", encoding="UTF-8"
    )
    if len(plan.units):
        units_path = path.with_name(f"{path.stem}_units.shp")
        pyogrio.write_dataframe(
            plan.units.rename(columns=_SHP_NAMES),
            units_path,
            geometry_type="MultiPolygon",
            encoding="UTF-8",
        )
    plan.staff.to_csv(path.with_name(f"{path.stem}_staff.csv"), index=False)
    path.with_suffix(".geogrid.json").write_text(
        json.dumps(plan_meta(plan), ensure_ascii=False), encoding="utf-8"
    )
