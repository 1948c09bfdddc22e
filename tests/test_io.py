"""Plan files: round trips through every format, foreign imports, households, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from shapely.geometry import LineString, Point, box

from geogrid import crs as gcrs
from geogrid.errors import CRSError, PlanFileError
from geogrid.io import read_households, read_plan, read_points, write_plan, write_points
from geogrid.plan import GridPlan
from geogrid.testing import assert_plans_equal

X0, Y0, D = 116.30, 39.99, 0.004


def sample_plan() -> GridPlan:
    """A 2-level plan: one community of 2x2 grids with odd coordinates, nulls and Chinese text."""
    cells = [
        box(X0 + i * D, Y0 + j * D, X0 + (i + 1) * D, Y0 + (j + 1) * D)
        for j in (1, 0)
        for i in (0, 1)
    ]
    cells = [shapely.affinity.translate(c, 1.234567e-5, 7.654321e-6) for c in cells]
    parent = shapely.union_all(cells)
    grids = gpd.GeoDataFrame(
        {
            "code": ["110108014001"] + [f"110108014001{i:03d}" for i in range(1, 5)],
            "name": ["清华园社区", "第一网格", "第二网格", "第三网格", "第四网格"],
            "level": [1, 2, 2, 2, 2],
            "parent_code": [None, "110108014001", "110108014001", "110108014001", "110108014001"],
            "kind": ["urban", "urban", "special", "rural", "urban"],
            "subtype": [None, None, "school", None, None],
            "priority": ["normal", "key", "normal", "normal", "normal"],
            "households": [1200, 300, 0, 450, 450],
            "residents": [None, 800, None, 1200, 1100],
            "valid_from": ["2026-01-01"] * 5,
            "valid_to": [None, None, "2027-12-31", None, None],
        },
        geometry=[parent, *cells],
        crs=4490,
    )
    staff = pd.DataFrame(
        {
            "grid_code": ["110108014001", "110108014001001", "110108014001001", "110108014001002"],
            "role": ["head", "head", "part_time", "full_time"],
            "name": ["王芳", "李强", "张伟", "赵敏"],
            "phone": ["13800000001", "13800000002", None, "13800000004"],
        }
    )
    units = gpd.GeoDataFrame(
        {
            "unit_id": ["b1", "b2"],
            "name": ["1号楼", None],
            "kind": ["building", "courtyard"],
            "households": [120, 13],
            "grid_code": ["110108014001001", "110108014001003"],
            "locked": [False, True],
        },
        geometry=[cells[0].centroid.buffer(0.0003), cells[2].centroid.buffer(0.0002)],
        crs=4490,
    )
    return GridPlan("示例街道网格划分", ["社区", "网格"], grids, staff, units, attribution="© test")


@pytest.fixture
def plan() -> GridPlan:
    return sample_plan()


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".parquet", ".shp"])
def test_each_format_round_trips(plan: GridPlan, tmp_path: Path, suffix: str) -> None:
    path = write_plan(plan, tmp_path / f"plan{suffix}")
    assert_plans_equal(read_plan(path), plan)


def test_chain_of_formats_keeps_everything(plan: GridPlan, tmp_path: Path) -> None:
    current = plan
    for suffix in (".gpkg", ".geojson", ".parquet", ".shp", ".gpkg"):
        current = read_plan(write_plan(current, tmp_path / f"step{suffix}"))
    assert_plans_equal(current, plan)


def test_geojson_is_rfc7946_lonlat_with_seven_decimals(plan: GridPlan, tmp_path: Path) -> None:
    data = json.loads(write_plan(plan, tmp_path / "p.geojson").read_text(encoding="utf-8"))
    assert data["type"] == "FeatureCollection" and "crs" not in data
    lon, lat = data["features"][0]["geometry"]["coordinates"][0][0][0]
    assert 116 < lon < 117 and 39 < lat < 41
    assert all(len(repr(v).split(".")[1]) <= 7 for v in (lon, lat))
    assert {f["properties"]["layer"] for f in data["features"]} == {"grids", "units"}


def test_foreign_layer_with_column_mapping(plan: GridPlan, tmp_path: Path) -> None:
    theirs = plan.grids.rename(
        columns={"code": "WGBM", "name": "WGMC", "parent_code": "SJBM", "households": "HS"}
    )
    theirs = theirs[["WGBM", "WGMC", "SJBM", "HS", "geometry"]].to_crs(4547)  # a surveyor's GK zone
    path = tmp_path / "qgis_drawn.shp"
    theirs.to_file(path, engine="pyogrio")
    mapping = {"code": "WGBM", "name": "WGMC", "parent_code": "SJBM", "households": "HS"}
    imported = read_plan(path, columns=mapping, levels=["社区", "网格"])
    assert imported.levels == ["社区", "网格"] and imported.name == "qgis_drawn"
    assert list(imported.grids["level"]) == [1, 2, 2, 2, 2]  # inferred from the parent chain
    assert list(imported.grids["households"]) == list(plan.grids["households"])
    same = shapely.equals_exact(
        shapely.normalize(imported.grids.geometry.to_numpy()),
        shapely.normalize(plan.grids.geometry.to_numpy()),
        1e-7,
    )
    assert same.all()


def test_unknown_mapped_column_is_named(plan: GridPlan, tmp_path: Path) -> None:
    path = tmp_path / "g.gpkg"
    plan.grids.rename(columns={"code": "WGBM"}).to_file(path, layer="grids", engine="pyogrio")
    with pytest.raises(PlanFileError, match="no column.*BM_CODE"):
        read_plan(path, columns={"code": "BM_CODE"})
    with pytest.raises(PlanFileError, match="lacks the column.*code"):
        read_plan(path)


def test_not_a_geo_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.gpkg"
    path.write_text("this is not a GeoPackage", encoding="utf-8")
    with pytest.raises(PlanFileError, match="notes.gpkg: cannot read"):
        read_plan(path)
    bad_json = tmp_path / "broken.geojson"
    bad_json.write_text("{not json", encoding="utf-8")
    with pytest.raises(PlanFileError, match="not GeoJSON"):
        read_plan(bad_json)


def test_no_geometry_column(tmp_path: Path) -> None:
    path = tmp_path / "table.gpkg"
    pyogrio.write_dataframe(
        pd.DataFrame({"code": ["1"], "name": ["a"], "level": [1]}), path, layer="grids"
    )
    with pytest.raises(PlanFileError, match="no geometry column"):
        read_plan(path)


def test_missing_crs_is_an_error_with_a_hint(plan: GridPlan, tmp_path: Path) -> None:
    path = tmp_path / "nocrs.shp"
    layer = plan.grids[["code", "name", "level", "geometry"]].set_crs(None, allow_override=True)
    with pytest.warns(UserWarning, match="crs"):
        layer.to_file(path, engine="pyogrio")
    with pytest.raises(CRSError, match="EPSG:4490"):
        read_plan(path)
    assert read_plan(path, crs="EPSG:4490").grids.crs.to_epsg() == 4490


def test_swapped_lat_lon_layer_is_refused(plan: GridPlan, tmp_path: Path) -> None:
    swapped = plan.grids.set_geometry(
        shapely.transform(plan.grids.geometry.to_numpy(), lambda xy: xy[:, ::-1])
    )
    path = tmp_path / "swapped.gpkg"
    swapped.to_file(path, layer="grids", engine="pyogrio")
    with pytest.raises(CRSError, match="swapped"):
        read_plan(path)


def test_non_polygon_geometries_are_refused(tmp_path: Path) -> None:
    points = gpd.GeoDataFrame(
        {"code": ["1"], "name": ["a"], "level": [1]}, geometry=[Point(116.3, 40.0)], crs=4490
    )
    path = tmp_path / "points.geojson"
    points.to_file(path, engine="pyogrio")
    with pytest.raises(PlanFileError, match="Point.*must be polygons"):
        read_plan(path)


def test_failed_write_leaves_nothing(plan: GridPlan, tmp_path: Path) -> None:
    target = tmp_path / "plan.gpkg"
    target.mkdir()  # a folder in the way: the final move fails
    with pytest.raises(OSError):
        write_plan(plan, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.gpkg"]
    with pytest.raises(PlanFileError, match="unknown plan format"):
        write_plan(plan, tmp_path / "plan.txt")
    with pytest.raises(PlanFileError, match="reads .kml files as plans but does not write them"):
        write_plan(plan, tmp_path / "plan.kml")
    assert not (tmp_path / "plan.kml").exists() and not (tmp_path / "plan.txt").exists()


def test_households_from_gcj02_csv(tmp_path: Path) -> None:
    lon, lat = gcrs.wgs84_to_gcj02(116.3205, 40.0001)
    path = tmp_path / "hh.csv"
    pd.DataFrame({"经度": [lon], "纬度": [lat], "户数": [3]}).to_csv(path, index=False)
    hh = read_households(path, crs="gcj02", count_column="户数")
    assert hh.crs.to_epsg() == 4490 and hh["households"].tolist() == [3]
    assert hh.geometry.iloc[0].distance(Point(116.3205, 40.0001)) < 1e-8


def test_households_from_excel_points_and_buildings(tmp_path: Path) -> None:
    xlsx = tmp_path / "hh.xlsx"
    pd.DataFrame({"lon": [116.31, 116.32], "lat": [40.0, 40.01]}).to_excel(xlsx, index=False)
    assert read_households(xlsx)["households"].tolist() == [1, 1]
    x, y = 500_000, 3_380_000  # EPSG:4547 metres near Wuhan
    buildings = gpd.GeoDataFrame(
        {"hs": [40, 0]},
        geometry=[box(x, y, x + 10, y + 10), box(x + 20, y, x + 30, y + 10)],
        crs=4547,
    )
    path = tmp_path / "b.gpkg"
    buildings.to_file(path, engine="pyogrio")
    with pytest.raises(PlanFileError, match="count column"):
        read_households(path)
    assert read_households(path, count_column="hs")["households"].tolist() == [40, 0]


def test_households_bad_rows_are_named(tmp_path: Path) -> None:
    path = tmp_path / "hh.csv"
    pd.DataFrame({"lon": [116.31, 39.99], "lat": [40.0, 116.31]}).to_csv(path, index=False)
    with pytest.raises(PlanFileError, match="row 3: .*swapped"):  # line 1 is the header
        read_households(path)
    pd.DataFrame({"lon": [116.31], "lat": [40.0], "households": [2.5]}).to_csv(path, index=False)
    with pytest.raises(PlanFileError, match="row 2: household count"):  # line 1: the header
        read_households(path)


def test_points_csv_in_gb18030_is_read_as_written(tmp_path: Path) -> None:
    path = tmp_path / "事件.csv"  # Excel in China saves GBK/GB18030
    path.write_bytes("地址,lon,lat\n海淀区,116.30,039.99\n空,,\n".encode("gb18030"))
    points = read_points(path)
    assert points.to_dict("list") == {
        "地址": ["海淀区", "空"],
        "lon": ["116.30", ""],
        "lat": ["039.99", ""],
    }
    path.write_bytes("地址,lon,lat\n海淀区,116.3,40\n".encode("utf-8-sig"))
    assert read_points(path).columns.tolist() == ["地址", "lon", "lat"]
    path.write_bytes(b"\x80\xff,lon\n")
    with pytest.raises(PlanFileError, match="not UTF-8 or GB18030"):
        read_points(path)
    (tmp_path / "points.txt").write_text("lon,lat\n")
    with pytest.raises(PlanFileError, match="give points as .csv"):
        read_points(tmp_path / "points.txt")
    with pytest.raises(PlanFileError, match="no such file"):
        read_points(tmp_path / "missing.csv")


def test_points_vector_file_without_crs_is_labelled(tmp_path: Path) -> None:
    path = tmp_path / "points.shp"
    with pytest.warns(UserWarning, match="crs"):
        gpd.GeoDataFrame({"id": [1]}, geometry=[Point(116.3, 40.0)]).to_file(path, engine="pyogrio")
    assert read_points(path, crs="gcj02").crs.to_epsg() == 4326  # shifted when located
    assert read_points(path, crs="EPSG:4490").crs.to_epsg() == 4490


def test_write_points_csv_for_excel_and_geometry_only_from_vectors(tmp_path: Path) -> None:
    table = pd.DataFrame({"地址": ["海淀区"], "status": ["inside"]})
    path = write_points(table, tmp_path / "out" / "located.csv")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for UTF-8
    assert read_points(path).to_dict("records") == [{"地址": "海淀区", "status": "inside"}]
    with pytest.raises(PlanFileError, match="no geometry to write"):
        write_points(table, tmp_path / "located.gpkg")
    with pytest.raises(PlanFileError, match="write points as .csv"):
        write_points(table, tmp_path / "located.xls")
    assert read_points(write_points(table, tmp_path / "located.xlsx")).to_dict("records") == [
        {"地址": "海淀区", "status": "inside"}
    ]
    points = gpd.GeoDataFrame(table, geometry=[Point(116.3, 40.0)], crs=4490)
    written = write_points(points, tmp_path / "located.gpkg")
    assert pyogrio.read_dataframe(written)["地址"].tolist() == ["海淀区"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["located.gpkg", "located.xlsx", "out"]


def test_phone_map_buildings_areas_and_roads_are_converted(tmp_path: Path) -> None:
    """Polygons and lines in GCJ-02/BD-09 are converted vertex by vertex (once refused)."""
    from geogrid.io import read_areas, read_layer

    truth = box(116.30, 39.99, 116.31, 40.0)
    amap = shapely.transform(
        shapely.segmentize(truth, 1e-4),
        lambda xy: np.column_stack(gcrs.wgs84_to_gcj02(xy[:, 0], xy[:, 1])),
    )
    path = tmp_path / "buildings.geojson"
    gpd.GeoDataFrame({"code": ["1"], "户数": [12]}, geometry=[amap], crs=4326).to_file(path)
    homes = read_households(path, crs="gcj02", count_column="户数")
    assert homes.crs.to_epsg() == 4490 and homes["households"].tolist() == [12]
    assert shapely.hausdorff_distance(homes.geometry.iloc[0], truth) < 1e-7  # 1 cm
    area = read_areas(path, crs="amap")
    assert shapely.hausdorff_distance(area.geometry.iloc[0], truth) < 1e-7
    road = tmp_path / "road.gpkg"
    gpd.GeoDataFrame(geometry=[LineString(amap.exterior.coords)], crs=4326).to_file(road)
    line = read_layer(road, crs="gcj02").geometry.iloc[0]
    assert line.geom_type == "LineString"
    assert shapely.hausdorff_distance(line, truth.exterior) < 1e-7


def test_stated_crs_against_the_declared_one(tmp_path: Path) -> None:
    from geogrid.io import read_layer

    frame = gpd.GeoDataFrame({"id": [1]}, geometry=[Point(116.3, 40.0)], crs=4490).to_crs(4547)
    gk = tmp_path / "points.gpkg"
    frame.to_file(gk)
    for read in (read_points, read_layer, read_households, read_plan):
        with pytest.raises(CRSError, match="declares EPSG:4547.*gcj02.*--force-crs"):
            read(gk, crs="gcj02")
    assert read_layer(gk, crs=4547).crs.to_epsg() == 4547  # the same: no conflict
    # GeoJSON of metres without a `crs` member: "WGS84" by the format only, so --crs wins
    metres = tmp_path / "metres.geojson"
    metres.write_text(json.dumps(json.loads(frame.to_json(to_wgs84=False)) | {"crs": None}))
    layer = read_layer(metres, crs="EPSG:4547")
    assert layer.crs.to_epsg() == 4547 and layer.geometry.iloc[0].x > 100_000
