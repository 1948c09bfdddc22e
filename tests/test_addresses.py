"""Address registers → buildings: the parser, matching with known truth, review and overrides."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from shapely.geometry import box
from typer.testing import CliRunner

from geogrid.addresses import (
    REVIEW_ID,
    building_households,
    chinese_number,
    match_register,
    normalise,
    parse_address,
    read_register,
    read_review,
    write_review,
)
from geogrid.addresses.parse import estate_key
from geogrid.addresses.synthetic import _cn, make_register, make_town
from geogrid.cli import app
from geogrid.errors import InvalidInputError
from geogrid.io import read_plan, write_plan
from geogrid.plan import PLAN_CRS, GridPlan

runner = CliRunner()


@pytest.mark.parametrize(
    ("address", "estate", "building", "unit", "room"),
    [
        ("青禾名都小区3栋2单元501", "青禾名都小区", "3", "2", "501"),
        ("青禾名都3号楼2单元501室", "青禾名都", "3", "2", "501"),
        ("青禾名都小区三栋二单元501", "青禾名都小区", "3", "2", "501"),
        ("青禾名都小区３栋２单元５０１", "青禾名都小区", "3", "2", "501"),
        ("青禾名都3幢2-501", "青禾名都", "3", "2", "501"),
        ("青禾名都3-2-501", "青禾名都", "3", "2", "501"),
        ("青禾名都3#楼2单元501", "青禾名都", "3", "2", "501"),
        ("青禾名都 十二 号楼 1 单元 1201", "青禾名都", "12", "1", "1201"),
        ("青禾名都二十一栋1单元101", "青禾名都", "21", "1", "101"),
        ("青禾名都A座1单元101", "青禾名都", "A", "1", "101"),
        ("北京市海淀区青禾名都小区3栋2单元501", "北京市海淀区青禾名都小区", "3", "2", "501"),
        ("青禾名都二期3栋2单元501", "青禾名都2期", "3", "2", "501"),
        ("西王庄小区5号楼3门201", "西王庄小区", "5", "3", "201"),
        ("青禾名都5层501", "青禾名都", None, None, "501"),
        ("青山村3组15号", "青山村3组", "15", None, None),
        ("青山村第三组十五号", "青山村3组", "15", None, None),
        ("成府路12号院3号楼501", "成府路12号院", "3", None, "501"),
        ("三里屯小区2栋", "三里屯小区", "2", None, None),
        ("蓝旗营12号楼", "蓝旗营", "12", None, None),
        ("8公寓301", "公寓", "8", None, "301"),
    ],
)
def test_parser_reads_the_variants(
    address: str, estate: str, building: str | None, unit: str | None, room: str | None
) -> None:
    parts = parse_address(address)
    assert (parts.estate, parts.building, parts.unit, parts.room) == (estate, building, unit, room)


# not 八一: 八一一栋 is 811栋 to anyone who has not seen the estate's sign
_ESTATES = st.sampled_from(["青禾名都", "阳光花园", "锦绣江南", "翠湖苑", "成府路12号院", "三里屯"])


@given(
    estate=_ESTATES,
    suffix=st.sampled_from(["", "小区"]),
    building=st.integers(1, 99),
    mark=st.sampled_from(["栋", "号楼", "幢", "#楼", "号"]),
    unit=st.integers(1, 9),
    room=st.integers(101, 3304),
    chinese=st.booleans(),
    full_width=st.booleans(),
)
def test_parser_recovers_the_parts_of_any_spelling(
    estate: str,
    suffix: str,
    building: int,
    mark: str,
    unit: int,
    room: int,
    chinese: bool,
    full_width: bool,
) -> None:
    def number(n: int) -> str:
        return _cn(n) if chinese and n < 100 else str(n)

    tail = f"{number(building)}{mark}{number(unit)}单元{room}室"
    if full_width:
        tail = tail.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    parts = parse_address(estate + suffix + tail)
    assert parts.estate_key == estate_key(estate)
    assert (parts.building, parts.unit, parts.room) == (str(building), str(unit), str(room))
    assert normalise(parts.text) == parts.text  # normalising twice changes nothing


def test_chinese_numerals() -> None:
    assert [chinese_number(t) for t in ("三", "十", "十五", "二十", "九十九", "一百零一", "五〇一")] == [
        3, 10, 15, 20, 99, 101, 501,
    ]  # fmt: skip
    assert chinese_number("三里") is None


@pytest.fixture(scope="module")
def town():  # type: ignore[no-untyped-def]
    return make_town(30, 4, seed=3)


def _outcome(found, truth: pd.Series) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
    got = found.table["building_id"].astype(object).where(found.table["building_id"].notna(), None)
    assigned = got.notna().to_numpy()
    right = assigned & np.array([g == t for g, t in zip(got, truth, strict=True)])
    return right.mean(), (assigned & ~right).mean(), (~assigned).mean()


def test_noisy_register_meets_the_targets(town) -> None:  # type: ignore[no-untyped-def]
    register, truth = make_register(town, 4000, seed=4)
    found = match_register(register, town.buildings, town.estates)
    right, wrong, review = _outcome(found, truth)
    assert right >= 0.95, found.summary()
    assert wrong <= 0.005, found.summary()
    assert len(found.review) == round(review * len(register))
    shares = found.shares()
    assert shares["fuzzy"] > 0.01 and shares["exact"] > 0.8  # the noise was met, not avoided
    # impossible rows are never put on a building
    assert found.table.loc[truth.isna().to_numpy(), "building_id"].isna().all()
    assert (found.table["score"].between(0, 100)).all() and found.table["reason"].ne("").all()


def test_ambiguous_rows_are_never_assigned(town) -> None:  # type: ignore[no-untyped-def]
    buildings = gpd.GeoDataFrame(
        {
            "building_id": ["a", "b", "c", "d", "e", "f"],
            "estate": ["青禾名都", "青禾名都", "青禾名都", "金色家园", "金色嘉园", "金色家园"],
            "name": ["3号楼", "3号楼", "4号楼", "1号楼", "1号楼", "2号楼"],
        },
        geometry=[box(i, 0, i + 0.5, 0.5) for i in range(6)],
        crs=PLAN_CRS,
    )
    register = pd.DataFrame(
        {
            "住址": [
                "青禾名都3栋1单元101",  # two buildings numbered 3
                "青禾名都4栋1单元101",  # one
                "青禾名都1单元101",  # no number, three buildings
                "金色佳园1号楼101",  # as close to 金色家园 as to 金色嘉园
                "金色2号楼101",  # starts both, but only 金色家园 has a 2号楼
                "青禾名都9栋101",  # no such building: the estate's to choose from
            ]
        }
    )
    found = match_register(register, buildings)
    statuses = ["ambiguous", "exact", "ambiguous", "ambiguous", "fuzzy", "unmatched"]
    assert found.table["status"].tolist() == statuses
    assert found.table["building_id"].isna().tolist() == [True, False, True, True, False, True]
    assert found.table["candidates"].tolist()[5] == "a、b、c"
    assert "has no building 9号 (it has 3、4)" in found.table["reason"].tolist()[5]
    assert found.table["candidates"].tolist()[0] == "a、b"
    assert set(found.table["candidates"].tolist()[3].split("、")) == {"d", "e"}
    assert len(found.review) == 4 and found.households["building_id"].tolist() == ["c", "f"]
    # on the noisy register too: no ambiguous row has a building
    register, _ = make_register(town, 2000, seed=5)
    found = match_register(register, town.buildings, town.estates)
    ambiguous = found.table["status"] == "ambiguous"
    assert ambiguous.any() and found.table.loc[ambiguous, "building_id"].isna().all()


def test_review_sheet_round_trips_and_overrides_apply(town, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    register, truth = make_register(town, 1500, seed=6)
    found = match_register(register, town.buildings, town.estates)
    path = write_review(found, tmp_path / "review.xlsx")
    book = openpyxl.load_workbook(path)
    sheet = book.worksheets[0]
    assert sheet.freeze_panes == "A2"
    header = [c.value for c in sheet[1]]
    assert header[:2] == ["行号", "地址"] and header[-1] == REVIEW_ID
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [r[1] or "" for r in rows] == found.review["地址"].tolist()
    assert [int(r[0]) for r in rows] == found.review["行号"].tolist()
    ids = [c.value for c in book.worksheets[1]["A"][1:]]
    assert ids == found.buildings.ids.tolist()  # every building to choose from, as text
    assert all(c.number_format == "@" for c in book.worksheets[1]["A"][1:])
    # the planner fills in the truth for the rows that have one, and feeds the sheet back
    position = {row: i for i, row in enumerate(found.table["row"].tolist())}
    filled = 0
    for excel_row, values in enumerate(rows, start=2):
        true = truth.iloc[position[values[0]]]
        if true is not None:
            sheet.cell(excel_row, len(header)).value = true
            filled += 1
    book.save(path)
    fixes = read_review(path)
    assert filled and len(fixes) <= filled
    again = match_register(register, town.buildings, town.estates, overrides=fixes)
    override = again.table["status"] == "override"
    assert override.sum() >= filled
    right, wrong, _ = _outcome(again, truth)
    assert wrong <= 0.005 and right == pytest.approx(1 - truth.isna().mean(), abs=0.005)
    assert (
        again.table.loc[override, "building_id"].astype(object) == truth[override.to_numpy()]
    ).all()
    # an id not in the layer is refused with the way to fix it
    with pytest.raises(InvalidInputError, match="not in the buildings layer"):
        match_register(register, town.buildings, town.estates, overrides={"X": "nope"})


def test_register_sheet_with_title_rows_and_merged_cells(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["清华园街道实有人口台账（2026年）"])
    sheet.merge_cells("A1:D1")
    sheet.append(["填报单位：荷清苑社区"])
    sheet.append(["户号", "户主姓名", "家庭住址", "人口数"])
    sheet.append(["110108000000001", "王伟", "青禾名都3栋2单元501", 3])
    sheet.append([None, None, None, None])
    sheet.append(["110108000000002", "李娜", "青禾名都3栋2单元502", 2])
    book.save(tmp_path / "register.xlsx")
    table = read_register(tmp_path / "register.xlsx")
    assert table.columns.tolist() == ["户号", "户主姓名", "家庭住址", "人口数"]
    assert table.index.tolist() == [4, 6]  # the sheet's own row numbers
    assert table["户号"].tolist() == ["110108000000001", "110108000000002"]


def test_persons_of_one_household_count_once() -> None:
    buildings = gpd.GeoDataFrame(
        {"building_id": ["a"], "estate": ["青禾名都"], "addr:housenumber": ["3"]},
        geometry=[box(0, 0, 1, 1)],
        crs=PLAN_CRS,
    )
    register = pd.DataFrame({"户号": ["1", "1", "2"], "住址": ["青禾名都3栋101"] * 3})
    found = match_register(register, buildings)
    assert building_households(found, buildings)["households"].tolist() == [2]


def _plan(town) -> GridPlan:  # type: ignore[no-untyped-def]
    x0, y0, x1, y1 = town.buildings.total_bounds
    mid = (x0 + x1) / 2
    grids = gpd.GeoDataFrame(
        {"code": ["001", "002"], "name": ["西网格", "东网格"], "level": [1, 1]},
        geometry=[
            box(x0 - 0.01, y0 - 0.01, mid, y1 + 0.01),
            box(mid, y0 - 0.01, x1 + 0.01, y1 + 0.01),
        ],
        crs=PLAN_CRS,
    )
    return GridPlan("示例街道", ["网格"], grids)


def _inputs(town, register: pd.DataFrame, folder: Path, name: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The plan, and the options naming the buildings (estates beside them) and the register."""
    path = folder / name
    register.to_excel(path, index=False) if name.endswith(".xlsx") else register.to_csv(
        path, index=False
    )
    town.buildings.to_file(folder / "buildings.gpkg", layer="buildings")
    town.estates.to_file(folder / "buildings.gpkg", layer="estates")
    plan = write_plan(_plan(town), folder / "plan.gpkg")
    return [str(plan), "--households", str(folder / "buildings.gpkg"), "--households-register", str(path)]  # fmt: skip


def test_a_register_drives_report_counts(town, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    quiet = {k: 0.0 for k in ("typo", "drop", "short", "impossible")}
    register, truth = make_register(town, 800, seed=7, noise=quiet)
    given = _inputs(town, register, tmp_path, "register.xlsx")
    result = runner.invoke(app, ["report", *given, "--csv", str(tmp_path / "grids.csv")])
    assert result.exit_code == 0, result.output
    counts = pd.read_csv(tmp_path / "grids.csv", dtype={"code": str}).set_index("code")[
        "households"
    ]
    # the truth: each register row in the grid of its true building, less the review rows
    found = match_register(register, town.buildings, town.estates)
    assigned = found.table["building_id"].notna().to_numpy()
    points = town.buildings.set_index("building_id").geometry.representative_point()
    x = points.loc[truth[assigned].tolist()].x.to_numpy()
    mid = float(_plan(town).grids.geometry.iloc[0].bounds[2])
    expected = {"001": int((x < mid).sum()), "002": int((x >= mid).sum())}
    assert counts.to_dict() == expected
    assert assigned.mean() > 0.97

    # the match command writes the households, the buildings with counts and the review sheet
    result = runner.invoke(
        app,
        [
            "addresses", "match", str(tmp_path / "register.xlsx"),
            "--buildings", str(tmp_path / "buildings.gpkg"),
            "-o", str(tmp_path / "matched.gpkg"), "--review", str(tmp_path / "review.xlsx"),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    homes = gpd.read_file(tmp_path / "matched.gpkg", layer="households")
    counted = gpd.read_file(tmp_path / "matched.gpkg", layer="buildings")
    assert len(homes) == int(assigned.sum()) == int(counted["households"].sum())
    assert np.isin(homes["building_id"], town.buildings["building_id"]).all()
    assert (tmp_path / "review.xlsx").exists()


def test_cards_per_household_from_a_register(town, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    register, _ = make_register(town, 30, seed=8, noise={"impossible": 0.0, "typo": 0.0})
    given = _inputs(town, register, tmp_path, "register.csv")
    result = runner.invoke(app, ["cards", *given, "--pdf", str(tmp_path / "cards.pdf")])
    assert result.exit_code == 0, result.output
    matched = match_register(register, town.buildings, town.estates).households
    assert f": {len(matched)} cards" in result.stdout  # one a household, headed by its address
    assert (tmp_path / "cards.pdf").stat().st_size > 0


def test_register_without_address_column_is_refused_with_the_fix() -> None:
    buildings = gpd.GeoDataFrame({"name": ["1号楼"]}, geometry=[box(0, 0, 1, 1)], crs=PLAN_CRS)
    with pytest.raises(InvalidInputError, match="no address column"):
        match_register(pd.DataFrame({"姓名": ["王伟"]}), buildings)


def test_an_empty_or_unknown_address_is_unmatched_even_among_nameless_buildings() -> None:
    buildings = gpd.GeoDataFrame(
        {"x": [1, 2]}, geometry=[box(0, 0, 1, 1), box(2, 2, 3, 3)], crs=PLAN_CRS
    )
    found = match_register(pd.DataFrame({"住址": ["", "不详", "某某小区1栋101"]}), buildings)
    assert found.table["status"].tolist() == ["unmatched"] * 3
    assert found.households.empty and len(found.review) == 3


def test_partition_and_redraw_count_a_register(tmp_path: Path) -> None:
    town = make_town(8, 1, seed=9)
    register, _ = make_register(town, 1200, seed=10)
    given = _inputs(town, register, tmp_path, "register.xlsx")
    x0, y0, x1, y1 = town.buildings.total_bounds
    area = box(x0 - 0.002, y0 - 0.002, x1 + 0.002, y1 + 0.002)
    gpd.GeoDataFrame(
        {"code": ["001"], "name": ["示例社区"]}, geometry=[area], crs=PLAN_CRS
    ).to_file(tmp_path / "area.geojson")
    homes, register_args = given[1:3], given[3:]
    result = runner.invoke(
        app,
        ["partition", str(tmp_path / "area.geojson"), *homes, *register_args, "--band", "200-400",
         "-o", str(tmp_path / "plan.gpkg")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    matched = int(
        match_register(register, town.buildings, town.estates).households["households"].sum()
    )
    plan = read_plan(tmp_path / "plan.gpkg")
    assert int(plan.grids.loc[plan.grids["level"] == 1, "households"].sum()) == matched
    result = runner.invoke(
        app,
        ["redraw", str(tmp_path / "plan.gpkg"), *homes, *register_args, "--band", "150-450",
         "-o", str(tmp_path / "plan2.gpkg")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "moved 0 households" in result.stdout  # the same households: nothing to move
