"""Tables and encodings as offices make them: Excel with title rows, GBK files without .cpg.

Every file is written by the test from code the way an office's software writes it:
openpyxl workbooks with a merged title and a filler line above the header, a resident
register with one row per person, GBK and Big5 Shapefiles whose ``.cpg`` was lost and whose
DBF language byte is zero (so GDAL alone reads Latin-1 mojibake), CSV files saved by Excel
in China (GBK). Written tables are checked cell by cell with openpyxl.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import openpyxl
import pyogrio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box
from typer.testing import CliRunner

from geogrid.cli import app
from geogrid.errors import PlanFileError
from geogrid.io import read_households, read_plan, write_plan
from geogrid.io.dbf import dbf_encoding
from geogrid.io.tables import detect_encoding, read_table, write_table
from tests.service import TOP, centre, street_plan

runner = CliRunner()
NAMES = ["荷清路社区", "清华园街道第一网格", "东王庄社区"]


def titled_workbook(path: Path, header: list[str], rows: list[list[object]], sheet: str) -> Path:
    """A sheet with a merged title, a filler line, then the header on row 3."""
    book = openpyxl.Workbook()
    first = book.active
    first.title = "说明"
    first["A1"] = "本表由社区填写"
    data = book.create_sheet(sheet)
    data.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
    data["A1"] = "示例街道实有人口台账"
    data.merge_cells(start_row=2, start_column=1, end_row=2, end_column=len(header))
    data["A2"] = "填报单位：示例社区    2026年6月"
    data.append(header)
    for row in rows:
        data.append(row)
    book.save(path)
    return path


def old_shapefile(folder: Path, encoding: str, names: list[str] = NAMES) -> Path:
    """A grids Shapefile in ``encoding`` whose .cpg is lost and whose DBF language byte is 0."""
    path = folder / "grids.shp"
    frame = gpd.GeoDataFrame(
        {
            "WGBM": [f"{TOP}00{i + 1}" for i in range(len(names))],
            "WGMC": names,
            "WGZ": ["王芳", "李明、赵丽", None][: len(names)],
            "DH": ["13800000001", "13800000002/13800000003", None][: len(names)],
        },
        geometry=[box(116.3 + i * 0.01, 40.0, 116.31 + i * 0.01, 40.01) for i in range(len(names))],
        crs=4490,
    )
    frame.to_file(path, engine="pyogrio", encoding=encoding)
    path.with_suffix(".cpg").unlink()
    dbf = bytearray(path.with_suffix(".dbf").read_bytes())
    dbf[29] = 0  # no language driver: GDAL alone would read Latin-1
    path.with_suffix(".dbf").write_bytes(bytes(dbf))
    return path


def test_a_gbk_dbf_without_cpg_imports_with_exact_names_and_says_so(tmp_path: Path) -> None:
    path = old_shapefile(tmp_path, "GBK")
    assert pyogrio.read_dataframe(path)["WGMC"].iloc[0] != NAMES[0]  # GDAL alone: mojibake
    out = tmp_path / "plan.gpkg"
    args = ["import", str(path), "-o", str(out), "-c", "code=WGBM", "-c", "name=WGMC",
            "-c", "head=WGZ", "-c", "head_phone=DH"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "grids.dbf has no .cpg: its text read as GB18030 (detected)" in result.output
    assert "names read: 荷清路社区、清华园街道第一网格、东王庄社区" in result.output
    plan = read_plan(out)
    assert plan.grids["name"].tolist() == NAMES
    assert plan.staff[["grid_code", "role", "name", "phone"]].values.tolist() == [
        [f"{TOP}001", "head", "王芳", "13800000001"],
        [f"{TOP}002", "head", "李明", "13800000002"],
        [f"{TOP}002", "head", "赵丽", "13800000003"],
    ]
    result = runner.invoke(app, [*args[:8], "--encoding", "big5"])  # the planner's override
    assert result.exit_code == 0 and "text read as big5 (--encoding)" in result.output
    assert read_plan(out).grids["name"].tolist() != NAMES


def test_a_zipped_gbk_shapefile_is_detected_too(tmp_path: Path) -> None:
    import zipfile

    old_shapefile(tmp_path, "GBK")
    zipped = tmp_path / "grids.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        for part in tmp_path.glob("grids.*"):
            if part.suffix != ".zip":
                archive.write(part, f"旧数据/{part.name}")
    found = dbf_encoding(zipped)
    assert found is not None and (found.encoding, found.file) == ("GB18030", "grids.dbf")
    out = tmp_path / "plan.gpkg"
    args = ["import", str(zipped), "-o", str(out), "-c", "code=WGBM", "-c", "name=WGMC"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "names read: 荷清路社区、清华园街道第一网格、东王庄社区" in result.output
    assert read_plan(out).grids["name"].tolist() == NAMES


def test_big5_and_utf8_dbfs_without_cpg(tmp_path: Path) -> None:
    traditional = ["臺北市大安區", "第一網格", "網格長辦公室"]
    (tmp_path / "big5").mkdir()
    path = old_shapefile(tmp_path / "big5", "BIG5", traditional)
    assert dbf_encoding(path).encoding == "BIG5"  # type: ignore[union-attr]
    assert read_plan(path, columns={"code": "WGBM", "name": "WGMC"}).grids["name"].tolist() == (
        traditional
    )
    (tmp_path / "utf8").mkdir()
    path = old_shapefile(tmp_path / "utf8", "UTF-8")
    found = dbf_encoding(path)
    assert found is not None and (found.encoding, found.guessed) == ("UTF-8", False)
    assert read_plan(path, columns={"code": "WGBM", "name": "WGMC"}).grids["name"].tolist() == NAMES


def test_a_gbk_shapefile_of_households_is_read_with_its_names(tmp_path: Path) -> None:
    path = tmp_path / "buildings.shp"
    gpd.GeoDataFrame(
        {"name": ["青禾名都3栋", "青禾名都5栋"], "households": [30, 40]},
        geometry=[box(*centre(0), centre(0)[0] + 1e-4, centre(0)[1] + 1e-4)] * 2,
        crs=4490,
    ).to_file(path, engine="pyogrio", encoding="GBK")
    path.with_suffix(".cpg").unlink()
    assert read_households(path)["name"].tolist() == ["青禾名都3栋", "青禾名都5栋"]


def test_a_resident_register_in_excel_counts_households(tmp_path: Path) -> None:
    """实有人口台账: one row per resident, their 户号; 3 households of 6 people in grid 001."""
    (lon1, lat1), (lon2, lat2) = centre(0), centre(1)
    rows = [
        ["0001", "王芳", "户主", lon1, lat1],
        ["0001", "王小明", "子", lon1, lat1],
        ["0001", "李丽", "妻", lon1, lat1],
        ["0002", "赵强", "户主", lon1, lat1],
        ["0003", "钱进", "户主", lon1, lat1],
        ["0003", "钱多", "子", lon1, lat1],
        ["0004", "孙七", "户主", lon2, lat2],
    ]
    header = ["户号", "姓名", "与户主关系", "经度", "纬度"]
    path = titled_workbook(tmp_path / "台账.xlsx", header, rows, "人口")
    homes = read_households(path, layer="人口")
    assert homes["households"].sum() == 4 and homes["residents"].tolist() == [3, 1, 2, 1]
    plan = tmp_path / "plan.gpkg"
    write_plan(street_plan(), plan)
    result = runner.invoke(
        app, ["report", str(plan), "--households", f"{path}:人口", "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    grids = {g["code"]: g["households"] for g in json.loads(result.output)["grids"]}
    assert (grids[f"{TOP}001"], grids[f"{TOP}003"], grids[TOP]) == (3, 1, 4)  # not 6, 1, 7 rows


def test_a_count_column_in_chinese_is_used(tmp_path: Path) -> None:
    lon, lat = centre(0)
    path = titled_workbook(tmp_path / "楼栋.xlsx", ["楼栋", "户数", "经度", "纬度"],
                           [["3栋", 30, lon, lat], ["5栋", 45, lon, lat]], "楼栋")  # fmt: skip
    assert read_households(f"{path}:楼栋")["households"].tolist() == [30, 45]


def test_read_table_finds_the_header_below_the_title(tmp_path: Path) -> None:
    path = titled_workbook(
        tmp_path / "t.xlsx",
        ["网格编码", "姓名", "身份证号"],
        [[110108001001004, "王芳", 110105194912310000], [None, None, None], ["x", "李明", None]],
        "数据",
    )
    table = read_table(f"{path}:数据", expect=["姓名"])
    assert table.header_row == 3 and table.rows == [4, 6] and table.sheet == "数据"
    assert table.frame.iloc[0].tolist() == ["110108001001004", "王芳", "110105194912310000"]
    assert table.numbers == [(4, "身份证号")]  # 18 digits typed as a number: not exact
    assert read_table(path).frame.columns.tolist() == ["本表由社区填写"]  # the first sheet
    with pytest.raises(PlanFileError, match="no sheet '人口'; its sheets: 说明, 数据"):
        read_table(path, sheet="人口")


def test_csv_in_gbk_and_big5_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "points.csv"
    path.write_bytes("地址,经度,纬度\n清华园街道,116.3,40.0\n".encode("gbk"))
    table = read_table(path)
    assert (table.encoding, table.detected) == ("gb18030", True)
    assert table.encoding_note() == (
        "points.csv is not UTF-8: read as GB18030 (detected): 地址、经度、纬度、清华园街道、116.3、"
        "40.0; if this looks wrong, pass --encoding gbk, big5 or utf-8"
    )
    homes = read_households(path)
    assert homes.attrs["encoding_note"].startswith("points.csv is not UTF-8")
    assert table.frame.to_dict("records") == [
        {"地址": "清华园街道", "经度": "116.3", "纬度": "40.0"}
    ]
    path.write_bytes("地址,經度\n臺北市大安區,121.5\n".encode("big5"))
    assert read_table(path).frame.columns.tolist() == ["地址", "經度"]
    assert read_table(path, encoding="big5").encoding_note() is None  # given: nothing guessed
    assert detect_encoding("王芳".encode("gbk")) == ("gb18030", True)


def test_written_tables_keep_codes_and_phones_as_text(tmp_path: Path) -> None:
    frame = gpd.pd.DataFrame(
        {
            "code": ["110108001001004", "110108001001005"],
            "grid_no": [110108001001004, 110108001001005],  # numbers named like codes
            "phone": ["13800000001", None],
            "households": [320, 415],
            "note": ["=1+1", "中文说明很长很长很长"],
        }
    )
    path = write_table(
        frame,
        tmp_path / "t.xlsx",
        headers={"code": "网格编码"},
        text_columns=["grid_no"],
        sheet="网格",
    )
    sheet = openpyxl.load_workbook(path)["网格"]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:E3"
    assert [c.value for c in sheet[1]] == ["网格编码", "grid_no", "phone", "households", "note"]
    row = sheet[2]
    assert [(c.value, c.data_type) for c in row] == [
        ("110108001001004", "s"),
        ("110108001001004", "s"),
        ("13800000001", "s"),
        (320, "n"),
        ("=1+1", "s"),  # text, never a formula
    ]
    assert sheet.cell(3, 3).value is None
    assert sheet.column_dimensions["A"].width >= 15 and sheet.column_dimensions["E"].width >= 20
    assert read_table(path).frame["网格编码"].tolist() == frame["code"].tolist()


def test_locate_reads_and_writes_excel(tmp_path: Path) -> None:
    plan = tmp_path / "plan.gpkg"
    write_plan(street_plan(), plan)
    lon, lat = centre(2)
    points = titled_workbook(tmp_path / "事件.xlsx", ["编号", "经度", "纬度"],
                             [["A1", lon, lat], ["A2", 200, lat]], "事件")  # fmt: skip
    result = runner.invoke(app, ["locate", str(plan), f"{points}:事件", "-o", "x.xlsx"])
    assert result.exit_code == 2 and "row 5: longitude outside -180..180" in result.output
    out = tmp_path / "located.xlsx"
    result = runner.invoke(
        app, ["locate", str(plan), f"{points}:事件", "-o", str(out), "--keep-invalid"]
    )
    assert result.exit_code == 0, result.output
    located = read_table(out).frame
    assert located["level2_code"].tolist()[0] == f"{TOP}005"
    assert located["status"].tolist() == ["inside", "invalid"]


_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=30
).map(str.strip)


@settings(max_examples=25, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.from_regex(r"\A[0-9]{1,20}\Z"), _TEXT, st.from_regex(r"\A1[3-9][0-9]{9}\Z")),
        min_size=1,
        max_size=8,
    ),
    suffix=st.sampled_from([".xlsx", ".csv"]),
)
def test_what_is_written_reads_back_as_the_same_text(rows, suffix, tmp_path_factory) -> None:
    """Codes of up to 20 digits, any text, phones: the same text after a write and a read."""
    frame = gpd.pd.DataFrame(rows, columns=["网格编码", "姓名", "联系电话"])
    path = write_table(frame, tmp_path_factory.mktemp("t") / f"t{suffix}")
    back = read_table(path, expect=["网格编码"]).frame
    assert back.values.tolist() == frame.values.tolist()
