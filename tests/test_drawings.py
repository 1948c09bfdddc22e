"""Drawings as offices get them: a surveyor's DXF in a Gauss–Krüger zone, a phone map's KML.

Every file is written here from code, the way the office's tools write them, from a truth
known in WGS84; what is read back is compared with it: names and codes exactly, polygons
within 1 m (Hausdorff distance, in metres).
"""

from __future__ import annotations

import contextlib
import zipfile
from pathlib import Path

import ezdxf
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from shapely.geometry import Polygon, box
from typer.testing import CliRunner

from geogrid import io
from geogrid.cli import app
from geogrid.crs import wgs84_to_bd09, wgs84_to_gcj02
from geogrid.errors import CRSError, PayloadTooLargeError, PlanFileError

GK = "EPSG:4546"  # CGCS2000 3-degree Gauss–Krüger, central meridian 111°E, no zone prefix
TO_GK = Transformer.from_crs(4490, GK, always_xy=True)
LON, LAT = 111.02, 30.70  # 宜昌 — inside zone CM 111°E
DLON, DLAT = 0.006, 0.004  # ≈ 575 m × 445 m grids
COMMUNITY = ("420502001001", "青禾社区")
GRIDS = [
    ("420502001001001", "青禾社区第一网格"),
    ("420502001001002", "青禾社区第二网格"),
    ("420502001001003", "青禾社区第三网格"),
    ("420502001001004", "青禾社区第四网格"),
]


def truth() -> gpd.GeoDataFrame:
    """A community of four grids (2 × 2) in WGS84 lon/lat, edges cut every ~50 m."""
    cells = [
        box(LON + i * DLON, LAT + j * DLAT, LON + (i + 1) * DLON, LAT + (j + 1) * DLAT)
        for j in range(2)
        for i in range(2)
    ]
    whole = box(LON, LAT, LON + 2 * DLON, LAT + 2 * DLAT)
    rows = [(*COMMUNITY, 1, None, whole)] + [
        (code, name, 2, COMMUNITY[0], cell) for (code, name), cell in zip(GRIDS, cells, strict=True)
    ]
    codes, names, levels, parents, geoms = zip(*rows, strict=True)
    geoms = shapely.segmentize(np.array(geoms, dtype=object), 0.0005)
    return gpd.GeoDataFrame(
        {"code": codes, "name": names, "level": levels, "parent_code": parents},
        geometry=list(geoms),
        crs=4490,
    )


def hausdorff_m(a: shapely.Geometry, b: shapely.Geometry) -> float:
    """Hausdorff distance of two lon/lat geometries, in metres (Gauss–Krüger)."""
    project = gpd.GeoSeries([a, b], crs=4490).to_crs(GK)
    return float(shapely.hausdorff_distance(project.iloc[0], project.iloc[1], densify=0.05))


def assert_matches_truth(plan, expected: gpd.GeoDataFrame, tolerance_m: float = 1.0) -> None:
    got = plan.grids.set_index("code")
    assert sorted(got.index) == sorted(expected["code"])
    for row in expected.itertuples():
        assert got.loc[row.code, "name"] == row.name
        assert int(got.loc[row.code, "level"]) == row.level
        parent = got.loc[row.code, "parent_code"]
        want = row.parent_code
        assert (None if pd.isna(parent) else parent) == (None if pd.isna(want) else want)
        assert hausdorff_m(got.loc[row.code, "geometry"], row.geometry) < tolerance_m


# --------------------------------------------------------------------------- DXF


def gk_points(geom: Polygon) -> list[tuple[float, float]]:
    x, y = TO_GK.transform(*np.asarray(geom.exterior.coords).T)
    return list(zip(x, y, strict=True))[:-1]


def write_dxf(
    path: Path, *, hatch_twice: bool = True, community_label_inside_grid: bool = True
) -> Path:
    """A surveyor's drawing: outlines on boundary layers, labels on annotation layers."""
    doc = ezdxf.new("R2010")
    doc.header["$INSUNITS"] = 6  # metres
    space = doc.modelspace()
    expected = truth()
    for row in expected.itertuples():
        outline_layer = "社区界线" if row.level == 1 else "网格界线"
        points = gk_points(row.geometry)
        space.add_lwpolyline(points, close=True, dxfattribs={"layer": outline_layer})
        spot = row.geometry.representative_point() if row.level == 2 else None
        if row.level == 1:  # the community's label sits inside its first grid, offset
            spot = shapely.Point(LON + 0.3 * DLON, LAT + 0.3 * DLAT)
            if not community_label_inside_grid:
                continue
        x, y = TO_GK.transform(spot.x, spot.y)
        text_layer = "社区注记" if row.level == 1 else "网格注记"
        if row.code.endswith("002"):  # one label as a two-line MTEXT
            space.add_mtext(
                f"{row.name}\\P{row.code}", dxfattribs={"layer": text_layer, "insert": (x, y)}
            )
        else:
            space.add_text(row.name, dxfattribs={"layer": text_layer, "insert": (x, y + 20)})
            space.add_text(row.code, dxfattribs={"layer": text_layer, "insert": (x, y - 20)})
    if hatch_twice:  # grid 003 also filled with a hatch over the same outline
        row = expected[expected["code"] == GRIDS[2][0]].iloc[0]
        hatch = space.add_hatch(color=3, dxfattribs={"layer": "网格界线"})
        hatch.paths.add_polyline_path(gk_points(row.geometry), is_closed=True)
    # a building outline and a road name on layers that are not grids
    x, y = TO_GK.transform(LON + 0.5 * DLON, LAT + 0.5 * DLAT)
    space.add_lwpolyline(
        [(x, y), (x + 30, y), (x + 30, y + 20), (x, y + 20)],
        close=True,
        dxfattribs={"layer": "房屋"},
    )
    space.add_text("青禾路", dxfattribs={"layer": "道路注记", "insert": (x + 5, y + 5)})
    doc.saveas(path)
    return path


LAYER_LEVELS = {"社区界线": 1, "社区注记": 1, "网格界线": 2, "网格注记": 2}


def test_dxf_in_a_gauss_kruger_zone_reads_as_its_truth(tmp_path) -> None:
    path = write_dxf(tmp_path / "网格划分.dxf")
    plan = io.read_plan(path, crs=GK, layer_levels=LAYER_LEVELS, levels=["社区", "网格"])
    assert_matches_truth(plan, truth())
    assert plan.name == "网格划分"


def test_dxf_without_crs_is_refused_with_the_fix(tmp_path) -> None:
    path = write_dxf(tmp_path / "grids.dxf")
    with pytest.raises(CRSError, match=r"--crs.*EPSG:4546"):
        io.read_plan(path, layer_levels=LAYER_LEVELS)


def test_dxf_labels_that_clash_are_named(tmp_path) -> None:
    """Without layers → levels the community's name lands in its first grid: an error."""
    path = write_dxf(tmp_path / "grids.dxf")
    with pytest.raises(PlanFileError, match=r"holds two names.*--layer-level"):
        io.read_plan(path, crs=GK)


def test_dxf_levels_from_nesting_and_block_attributes(tmp_path) -> None:
    """No mapping: levels and parents come from nesting; codes from block attributes.

    The community's fourth quarter has no grid yet: its label block sits there.
    """
    expected = truth().iloc[:-1]
    doc = ezdxf.new("R2010")
    block = doc.blocks.new("网格标注")
    block.add_attdef("WGBM", (0, 0))
    block.add_attdef("WGMC", (0, -5))
    space = doc.modelspace()
    for row in expected.itertuples():
        space.add_lwpolyline(gk_points(row.geometry), close=True, dxfattribs={"layer": "界线"})
        spot = row.geometry.representative_point()
        if row.level == 1:
            spot = shapely.Point(LON + 1.5 * DLON, LAT + 1.5 * DLAT)
        x, y = TO_GK.transform(spot.x, spot.y)
        insert = space.add_blockref("网格标注", (x, y), dxfattribs={"layer": "标注"})
        insert.add_auto_attribs({"WGBM": row.code, "WGMC": row.name})
    path = tmp_path / "blocks.dxf"
    doc.saveas(path)
    plan = io.read_plan(path, crs=GK, columns={"code": "WGBM", "name": "WGMC"})
    assert_matches_truth(plan, expected)


def test_dxf_hatch_with_a_hole(tmp_path) -> None:
    doc = ezdxf.new("R2010")
    space = doc.modelspace()
    x, y = TO_GK.transform(LON, LAT)
    hatch = space.add_hatch(dxfattribs={"layer": "网格"})
    hatch.paths.add_polyline_path([(x, y), (x + 400, y), (x + 400, y + 300), (x, y + 300)])
    hatch.paths.add_polyline_path(
        [(x + 100, y + 100), (x + 200, y + 100), (x + 200, y + 200), (x + 100, y + 200)]
    )
    space.add_text("A-01", dxfattribs={"layer": "网格", "insert": (x + 50, y + 50)})
    path = tmp_path / "hole.dxf"
    doc.saveas(path)
    plan = io.read_plan(path, crs=GK)
    (geom,) = plan.grids.geometry
    metric = gpd.GeoSeries([geom], crs=4490).to_crs(GK).iloc[0]
    assert metric.area == pytest.approx(400 * 300 - 100 * 100, rel=1e-6)
    assert plan.grids["code"].tolist() == ["A-01"] and plan.grids["name"].tolist() == ["A-01"]


def test_dxf_outline_without_a_label_is_named(tmp_path) -> None:
    doc = ezdxf.new("R2010")
    space = doc.modelspace()
    x, y = TO_GK.transform(LON, LAT)
    space.add_lwpolyline([(x, y), (x + 100, y), (x + 100, y + 100), (x, y + 100)], close=True)
    space.add_lwpolyline(
        [(x + 100, y), (x + 200, y), (x + 200, y + 100), (x + 100, y + 100)], close=True
    )
    space.add_text("001", dxfattribs={"insert": (x + 50, y + 50)})
    path = tmp_path / "unlabelled.dxf"
    doc.saveas(path)
    with pytest.raises(PlanFileError, match=r"1 outline\(s\) with no code.*layer/folder '0'"):
        io.read_plan(path, crs=GK)


def test_not_a_dxf(tmp_path) -> None:
    path = tmp_path / "broken.dxf"
    path.write_text("this is no drawing")
    with pytest.raises(PlanFileError, match="not a readable DXF"):
        io.read_plan(path, crs=GK)


def test_import_and_validate_a_dxf_from_the_command_line(tmp_path) -> None:
    path = write_dxf(tmp_path / "grids.dxf")
    runner = CliRunner()
    layers = [
        a for layer, level in LAYER_LEVELS.items() for a in ("--layer-level", f"{layer}={level}")
    ]
    out = tmp_path / "plan.gpkg"
    result = runner.invoke(
        app, ["import", str(path), "-o", str(out), "--crs", GK, "--levels", "社区,网格", *layers]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 5 grids" in result.output
    assert_matches_truth(io.read_plan(out), truth())
    checked = runner.invoke(app, ["validate", str(path), "--crs", GK, *layers])
    assert checked.exit_code == 0, checked.output
    refused = runner.invoke(app, ["validate", str(path)])
    assert refused.exit_code == 1 and "--crs" in refused.output


# --------------------------------------------------------------------------- KML / KMZ


def kml_document(frame: gpd.GeoDataFrame, convert) -> str:
    """KML as a phone app writes it: folders by level, ExtendedData, coordinates in its map."""
    folders: dict[str, list[str]] = {"社区": [], "网格": []}
    for row in frame.itertuples():
        lon, lat = np.asarray(row.geometry.exterior.coords).T
        x, y = convert(lon, lat)
        coords = " ".join(f"{a:.7f},{b:.7f},0" for a, b in zip(x, y, strict=True))
        parent = row.parent_code if isinstance(row.parent_code, str) else ""
        folders["社区" if row.level == 1 else "网格"].append(
            f"<Placemark><name>{row.name}</name><ExtendedData><SchemaData schemaUrl='#s'>"
            f"<SimpleData name='WGBM'>{row.code}</SimpleData>"
            f"<SimpleData name='SJBM'>{parent}</SimpleData></SchemaData>"
            f"</ExtendedData><Style><PolyStyle><color>7f00ff00</color></PolyStyle></Style>"
            f"<Polygon><outerBoundaryIs><LinearRing><coordinates>{coords}</coordinates>"
            "</LinearRing></outerBoundaryIs></Polygon></Placemark>"
        )
    body = "".join(
        f"<Folder><name>{name}</name>{''.join(marks)}</Folder>" for name, marks in folders.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2" '
        'xmlns:gx="http://www.google.com/kml/ext/2.2"><Document><name>网格</name>'
        f"<Placemark><name>社区服务中心</name><Point><coordinates>{LON},{LAT},0</coordinates>"
        f"</Point></Placemark>{body}</Document></kml>"
    )


@pytest.mark.parametrize(("crs", "convert"), [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_kml_traced_on_a_phone_map_reads_as_its_wgs84_truth(tmp_path, crs, convert) -> None:
    expected = truth()  # every ~50 m a vertex, so the tracing follows the truth
    path = tmp_path / "网格.kml"
    path.write_text(kml_document(expected, convert), encoding="utf-8")
    plan = io.read_plan(
        path,
        crs=crs,
        columns={"code": "WGBM", "parent_code": "SJBM"},
        layer_levels={"社区": 1, "网格": 2},
        levels=["社区", "网格"],
    )
    assert_matches_truth(plan, expected)


def test_kml_without_crs_is_read_as_wgs84_and_lands_hundreds_of_metres_off(tmp_path) -> None:
    path = tmp_path / "网格.kml"
    path.write_text(kml_document(truth(), wgs84_to_gcj02), encoding="utf-8")
    plan = io.read_plan(path, columns={"code": "WGBM"})
    got = plan.grids.set_index("code")
    row = truth().iloc[1]
    assert 100 < hausdorff_m(got.loc[row.code, "geometry"], row.geometry) < 1000


def test_kmz_and_levels_from_nesting(tmp_path) -> None:
    """A KMZ (zip with doc.kml and an icon); no folders mapped: levels and parents from nesting."""
    path = tmp_path / "网格.kmz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as kmz:
        kmz.writestr("doc.kml", kml_document(truth(), wgs84_to_gcj02))
        kmz.writestr("files/icon.png", b"\x89PNG\r\n")
    plan = io.read_plan(path, crs="gcj02", columns={"code": "WGBM"})
    assert_matches_truth(plan, truth())


def test_kml_with_entities_is_refused(tmp_path) -> None:
    path = tmp_path / "bomb.kml"
    path.write_text(
        '<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY a "aaaaaaaaaa">]>'
        "<kml><Document><name>&a;</name></Document></kml>"
    )
    with pytest.raises(PlanFileError, match="DTD or entities"):
        io.read_plan(path)


def test_kml_with_only_points_is_refused(tmp_path) -> None:
    path = tmp_path / "points.kml"
    path.write_text(
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><name>a</name><Point>'
        "<coordinates>111,30</coordinates></Point></Placemark></kml>"
    )
    with pytest.raises(PlanFileError, match="no polygon placemark"):
        io.read_plan(path)


# --------------------------------------------------------------------------- zips


def shapefile_zip(tmp_path: Path, folder: str = "网格数据/") -> Path:
    """A zipped Shapefile as an office sends it: the parts in a folder inside the zip."""
    frame = truth().rename(columns={"code": "WGBM", "name": "WGMC", "parent_code": "SQBM"})
    frame = frame.drop(columns="level")
    shp = tmp_path / "shp" / "网格.shp"
    shp.parent.mkdir()
    frame.to_file(shp, engine="pyogrio", encoding="UTF-8")
    path = tmp_path / "网格.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for part in sorted(shp.parent.iterdir()):
            archive.write(part, f"{folder}{part.name}")
    return path


def test_a_zipped_shapefile_is_read(tmp_path) -> None:
    plan = io.read_plan(
        shapefile_zip(tmp_path), columns={"code": "WGBM", "name": "WGMC", "parent_code": "SQBM"}
    )
    assert_matches_truth(plan, truth(), tolerance_m=0.05)
    assert plan.name == "网格"


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.geojson", b"{" + b" " * 50_000_000)
    assert path.stat().st_size < 100_000
    out = tmp_path / "out"
    with pytest.raises(PayloadTooLargeError, match="over the 1000000-byte cap"):
        io.unpack_zip(path, out, max_bytes=1_000_000)
    assert not out.exists()


def test_a_zip_that_lies_about_its_sizes_is_stopped_at_the_cap(tmp_path) -> None:
    path = tmp_path / "liar.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.geojson", b"{" + b" " * 5_000_000)
    raw = bytearray(path.read_bytes())
    for header in (b"PK\x03\x04", b"PK\x01\x02"):  # declare 10 bytes, uncompressed
        at = raw.find(header)
        offset = 22 if header == b"PK\x03\x04" else 24
        raw[at + offset : at + offset + 4] = (10).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    with pytest.raises((PayloadTooLargeError, PlanFileError)):
        io.unpack_zip(path, tmp_path / "out", max_bytes=1_000_000)
    written = sum(f.stat().st_size for f in (tmp_path / "out").rglob("*") if f.is_file())
    assert written <= 1_000_000


@pytest.mark.parametrize(
    "name", ["../evil.shp", "/etc/evil.kml", "a/../../evil.kml", "C:evil.kml", "a\\..\\evil.kml"]
)
def test_path_traversal_names_are_refused(tmp_path, name) -> None:
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo(name), b"<kml/>")
    with pytest.raises(PlanFileError, match="refused the member"):
        io.unpack_zip(path, tmp_path / "out")
    assert not (tmp_path / "evil.shp").exists() and not (tmp_path / "evil.kml").exists()


def test_a_shapefile_zip_without_its_dbf_says_so(tmp_path) -> None:
    path = tmp_path / "part.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("g.shp", b"x")
        archive.writestr("g.shx", b"x")
    with pytest.raises(PlanFileError, match=r"no \.dbf beside it"):
        io.read_plan(path)


@settings(max_examples=30, deadline=None)
@given(
    names=st.lists(
        st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20),
        min_size=1,
        max_size=4,
        unique=True,
    )
)
def test_nothing_is_ever_written_outside_the_folder(tmp_path_factory, names) -> None:
    """Whatever the member names, a zip unpacks inside its folder or is refused."""
    base = tmp_path_factory.mktemp("zip")
    path = base / "any.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.writestr(zipfile.ZipInfo(name), b"x")
    out = base / "inside" / "out"
    with contextlib.suppress(PlanFileError, OSError):
        io.unpack_zip(path, out)
    outside = [p for p in base.rglob("*") if p.is_file() and out not in p.parents and p != path]
    assert outside == []


# --------------------------------------------------------------------------- properties


@settings(max_examples=20, deadline=None)
@given(
    east=st.floats(-60_000, 60_000),
    north=st.floats(2_500_000, 4_500_000),
    width=st.floats(20, 3_000),
    height=st.floats(20, 3_000),
    old_style=st.booleans(),
)
def test_any_dxf_outline_in_the_zone_comes_back_within_a_centimetre(
    tmp_path_factory, east, north, width, height, old_style
) -> None:
    """A rectangle anywhere in zone CM 111°E, as LWPOLYLINE or old POLYLINE, round trips."""
    x0, y0 = 500_000 + east, north
    corners = [(x0, y0), (x0 + width, y0), (x0 + width, y0 + height), (x0, y0 + height)]
    doc = ezdxf.new("R2010")
    space = doc.modelspace()
    if old_style:
        space.add_polyline2d(corners, close=True)
    else:
        space.add_lwpolyline(corners, close=True)
    space.add_text("G-1", dxfattribs={"insert": (x0 + width / 2, y0 + height / 2)})
    path = tmp_path_factory.mktemp("dxf") / "one.dxf"
    doc.saveas(path)
    (geom,) = io.read_plan(path, crs=GK).grids.geometry
    back = gpd.GeoSeries([geom], crs=4490).to_crs(GK).iloc[0]
    assert back.hausdorff_distance(Polygon(corners)) < 0.01


def test_arcs_of_a_dxf_outline_are_followed_to_within_5_cm_on_the_arc(tmp_path) -> None:
    """A round estate drawn as two bulged segments (a circle of radius 100 m)."""
    x, y = TO_GK.transform(LON, LAT)
    doc = ezdxf.new("R2010")
    space = doc.modelspace()
    space.add_lwpolyline([(x - 100, y, 0, 0, 1), (x + 100, y, 0, 0, 1)], format="xyseb", close=True)
    space.add_text("圆形小区", dxfattribs={"insert": (x, y)})
    path = tmp_path / "round.dxf"
    doc.saveas(path)
    (geom,) = io.read_plan(path, crs=GK).grids.geometry
    back = gpd.GeoSeries([geom], crs=4490).to_crs(GK).iloc[0]
    radii = np.hypot(*(shapely.get_coordinates(back) - (x, y)).T)
    assert radii.max() < 100.01 and radii.min() > 99.95
    assert back.area == pytest.approx(np.pi * 100**2, rel=1e-3)  # chords: ~2/3 sagitta × perimeter


@settings(max_examples=25, deadline=None)
@given(lon=st.floats(75, 134), lat=st.floats(18, 53), system=st.sampled_from(["gcj02", "bd09"]))
def test_a_phone_map_kml_anywhere_in_china_comes_back_to_its_truth(
    tmp_path_factory, lon, lat, system
) -> None:
    truth_box = shapely.segmentize(box(lon, lat, lon + 0.004, lat + 0.003), 0.0005)
    convert = wgs84_to_gcj02 if system == "gcj02" else wgs84_to_bd09
    x, y = convert(*np.asarray(truth_box.exterior.coords).T)
    coords = " ".join(f"{a:.8f},{b:.8f}" for a, b in zip(x, y, strict=True))
    path = tmp_path_factory.mktemp("kml") / "one.kml"
    path.write_text(
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><name>一网格</name><Polygon>'
        f"<outerBoundaryIs><LinearRing><coordinates>{coords}</coordinates></LinearRing>"
        "</outerBoundaryIs></Polygon></Placemark></kml>",
        encoding="utf-8",
    )
    (geom,) = io.read_plan(path, crs=system).grids.geometry
    metric = gpd.GeoSeries([geom, truth_box], crs=4490).to_crs(
        gpd.GeoSeries([truth_box], crs=4490).estimate_utm_crs()
    )
    assert metric.iloc[0].hausdorff_distance(metric.iloc[1]) < 0.05


def test_import_says_when_one_label_is_both_code_and_name(tmp_path) -> None:
    doc = ezdxf.new("R2010")
    x, y = TO_GK.transform(LON, LAT)
    doc.modelspace().add_lwpolyline(
        [(x, y), (x + 90, y), (x + 90, y + 90), (x, y + 90)], close=True
    )
    doc.modelspace().add_text("一网格", dxfattribs={"insert": (x + 40, y + 40)})
    doc.saveas(tmp_path / "one.dxf")
    result = CliRunner().invoke(
        app, ["import", str(tmp_path / "one.dxf"), "--crs", GK, "-o", str(tmp_path / "p.gpkg")]
    )
    assert result.exit_code == 0, result.output
    assert "taken as both its code and its name" in result.output
    assert io.read_plan(tmp_path / "p.gpkg").grids["code"].tolist() == ["一网格"]
