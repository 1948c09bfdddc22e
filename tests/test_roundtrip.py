"""A plan survives every format and both stores unchanged (the spine's round-trip promise)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box
from test_io import sample_plan
from typer.testing import CliRunner

from geogrid.cli import app
from geogrid.errors import CRSError
from geogrid.io import read_plan, write_plan
from geogrid.samples import load_sample
from geogrid.store import open_store
from geogrid.testing import assert_plans_equal


@pytest.mark.postgis
@pytest.mark.parametrize(
    "make", [sample_plan, lambda: load_sample("haidian")], ids=["crafted", "haidian"]
)
def test_gpkg_postgis_embedded_geojson_parquet_gpkg(make, postgis_url: str, tmp_path: Path) -> None:
    plan = make()
    start = read_plan(write_plan(plan, tmp_path / "start.gpkg"))
    with open_store(postgis_url) as postgis:
        info = postgis.save(start, by="test")
        from_postgis = postgis.get(info.plan, info.version)
    with open_store(f"sqlite:///{tmp_path / 'store.gpkg'}") as embedded:
        info = embedded.save(from_postgis, by="test")
        from_embedded = embedded.get(info.plan, info.version)
    from_geojson = read_plan(write_plan(from_embedded, tmp_path / "p.geojson"))
    from_parquet = read_plan(write_plan(from_geojson, tmp_path / "p.parquet"))
    end = read_plan(write_plan(from_parquet, tmp_path / "end.gpkg"))
    end.version = plan.version
    assert_plans_equal(end, plan, tolerance=1e-7)


def test_unknown_crs_is_one_clear_error(tmp_path: Path) -> None:
    grids = gpd.GeoDataFrame(
        {"code": ["1"], "name": ["a"], "level": [1]},
        geometry=[box(116.3, 40.0, 116.31, 40.01)],
        crs=4490,
    )
    path = tmp_path / "grids.shp"
    grids.to_file(path, engine="pyogrio")
    path.with_suffix(".prj").write_text('GEOGCS["nonsense",DATUM["x"]]', encoding="utf-8")
    with pytest.raises(CRSError, match="unknown coordinate reference system"):
        read_plan(path)
    result = CliRunner().invoke(app, ["import", str(path), "-o", str(tmp_path / "out.gpkg")])
    assert result.exit_code == 2 and "坐标系无法识别" in result.output
    assert not (tmp_path / "out.gpkg").exists()
