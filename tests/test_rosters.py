"""Staff rosters (花名册) as offices make them: Excel with a title row, merged cells, bad rows.

Every roster here is written by the test with openpyxl the way a street office types one:
a merged title row, a "填报单位" line, Chinese headers, phones typed as numbers, codes as
numbers or text, a 专职/兼职 column. Imports into a plan file and into both stores; bad rows
named by their row number in Excel with nothing stored; export → read back equals the store.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from geogrid.access import Caller, Role
from geogrid.cli import app
from geogrid.errors import AccessDeniedError, InvalidPlanError, PlanFileError, VersionStateError
from geogrid.io.rosters import apply_roster, read_roster, staff_from_attributes, write_roster
from geogrid.store import PlanStore, open_store
from geogrid.store.rosters import import_roster, plans_in_force
from tests.service import TOP, street_plan

EAST = "110108001002"
PLANNER = Caller("规划员", Role.PLANNER)
runner = CliRunner()
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def office_roster(path: Path, rows: list[list[object]], *, kind_column: bool = True) -> Path:
    """A roster as an office types it: merged title, a filler line, headers on row 3."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "2026年花名册"
    sheet.merge_cells("A1:G1")
    sheet["A1"] = "示例街道网格员花名册"
    sheet.merge_cells("A2:G2")
    sheet["A2"] = "填报单位：示例街道办事处（盖章）    填报日期：2026年6月"
    headers = ["序号", "网格编码", "网格名称", "姓名", "职务", "联系电话", "身份证号"]
    if kind_column:
        headers.insert(5, "专职/兼职")
    sheet.append(headers)
    for i, row in enumerate(rows, start=1):
        sheet.append([i, *row])
    sheet.append([])  # a blank row and a signature line at the bottom
    book.save(path)
    return path


GOOD = [
    # code as a number (Excel shows it in full up to 15 digits), phone as a number
    [int(f"{TOP}001"), "第1网格", "王芳", "网格长", "", 13800000001, "11010519491231002X"],
    [f"{TOP}001", "", "李明", "网格员", "专职", "138-0000-0002", ""],
    [f"{TOP}001", "", "赵丽", "网格员", "兼职", "", ""],
    ["", "第2网格", "钱进", "网格长", "", "(010)62781234", ""],  # a name shared by 2 grids
]


@pytest.fixture
def in_force(store: PlanStore) -> PlanStore:
    plan = street_plan()
    store.save(plan, by="规划员")
    store.approve(plan.name, 1, by="审核员")
    store.activate(plan.name, 1, by="审核员", valid_from=START)
    return store


def test_an_office_roster_goes_into_a_plan_with_chinese_roles(tmp_path: Path) -> None:
    rows = [row for row in GOOD if row[0]]  # 第2网格 is in both communities
    path = office_roster(tmp_path / "花名册.xlsx", rows)
    plan = street_plan()
    roster = read_roster(path, plan.grids)
    assert roster.grids == [f"{TOP}001"]
    assert roster.staff["row"].tolist() == [4, 5, 6]  # the rows as Excel numbers them
    changed = apply_roster(plan, roster)
    staff = changed.staff_of(f"{TOP}001")
    assert staff[["role", "name", "phone"]].fillna("").values.tolist() == [
        ["head", "王芳", "13800000001"],
        ["full_time", "李明", "13800000002"],
        ["part_time", "赵丽", ""],
    ]
    assert len(changed.staff) == len(plan.staff) - 2 + 3  # other grids keep theirs


def test_bad_rows_are_named_by_row_number(tmp_path: Path) -> None:
    rows = [
        *GOOD,
        [f"{TOP}099", "", "孙七", "网格长", "", 13800000007, ""],  # no such grid
        [f"{TOP}001", "", "王芳", "网格长", "", 13800000001, "11010519491231002X"],  # twice
        [f"{TOP}002", "", "周八", "楼长", "", 1380000008, ""],  # unknown role, short phone
        [f"{TOP}003", "", "吴九", "网格长", "", "", "110105194912310021"],  # check digit
        [f"{TOP}004", "", "郑十", "网格长", "", "", 110105194912310000],  # typed as a number
    ]
    path = office_roster(tmp_path / "花名册.xlsx", rows)
    with pytest.raises(InvalidPlanError, match="7 problem") as caught:
        read_roster(path, street_plan().grids)
    problems = "\n".join(caught.value.problems)
    assert "row 7: 2 grids are named '第2网格'" in problems
    assert "row 8: no grid 110108001001099" in problems
    assert "row 9: 王芳 is listed twice for grid 110108001001001 (also row 4)" in problems
    assert "row 10: unknown role '楼长'" in problems
    assert "row 10: phone '1380000008' is not a phone number" in problems
    assert "row 11: 身份证号 110105194912310021 has a wrong check digit" in problems
    assert "row 12: 身份证号 110105194912310000 was typed as a number" in problems


def test_a_roster_without_a_needed_column_says_which(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.active.append(["网格编码", "电话"])
    book.active.append([f"{TOP}001", "13800000001"])
    book.save(tmp_path / "r.xlsx")
    with pytest.raises(PlanFileError, match=r"no column for 姓名 \(name\); 职务"):
        read_roster(tmp_path / "r.xlsx", street_plan().grids)


def test_a_csv_roster_in_gbk_with_english_headers(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    text = f"grid_code,name,role,phone\n{TOP}001,王芳,网格长,13800000001\n{TOP}002,李明,专职,\n"
    path.write_bytes(text.encode("gbk"))
    roster = read_roster(path, street_plan().grids)
    assert roster.staff[["grid_code", "role", "name"]].values.tolist() == [
        [f"{TOP}001", "head", "王芳"],
        [f"{TOP}002", "full_time", "李明"],
    ]


def test_store_import_is_one_transaction_from_a_date(tmp_path: Path, in_force: PlanStore) -> None:
    path = office_roster(tmp_path / "花名册.xlsx", [row for row in GOOD if row[0]])
    when = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
    roster, changed = import_roster(in_force, path, plan="示例街道", caller=PLANNER, effective=when)
    assert len(roster.staff) == 3
    assert [c.grid_code for c in changed] == [f"{TOP}001"]
    now = in_force.staff().current(f"{TOP}001", at=when)
    assert [(m.role, m.name) for m in now.staff] == [
        ("head", "王芳"),
        ("full_time", "李明"),
        ("part_time", "赵丽"),
    ]
    before = in_force.staff().current(f"{TOP}001", at=when - dt.timedelta(days=1))
    assert [m.name for m in before.staff] == ["网格长001", "网格员001"]
    (wang,) = in_force.staff().people().find("王芳")
    assert wang.person.id_number == "11010519491231002X"  # the ID number links the person
    audit = in_force.access().list_audit(caller=Caller.local("admin"), action="staff.import")
    assert (audit[0].details["source"], audit[0].details["grids"]) == ("花名册.xlsx", [f"{TOP}001"])


def test_an_import_before_a_later_change_changes_nothing(
    tmp_path: Path, in_force: PlanStore
) -> None:
    later = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
    in_force.staff().replace(f"{TOP}002", [], caller=PLANNER, effective=later)
    rows = [
        [f"{TOP}001", "", "王芳", "网格长", "", "", ""],
        [f"{TOP}002", "", "李明", "网格长", "", "", ""],
    ]
    path = office_roster(tmp_path / "花名册.xlsx", rows)
    with pytest.raises(VersionStateError, match=f"grid {TOP}002 .* give 2026-09-01"):
        import_roster(
            in_force, path, plan="示例街道", caller=PLANNER, effective=later - dt.timedelta(1)
        )
    assert [m.name for m in in_force.staff().current(f"{TOP}001").staff] == [
        "网格长001",
        "网格员001",
    ]
    assert in_force.active_info().staff_revision == 1  # type: ignore[union-attr]


def test_bad_rows_store_nothing(tmp_path: Path, in_force: PlanStore) -> None:
    before = in_force.staff().table("示例街道", 1)
    rows = [*GOOD[:3], [f"{TOP}099", "", "孙七", "网格长", "", 13800000007, ""]]
    path = office_roster(tmp_path / "花名册.xlsx", rows)
    with pytest.raises(InvalidPlanError, match="nothing imported"):
        import_roster(in_force, path, plan="示例街道", caller=PLANNER)
    pd.testing.assert_frame_equal(in_force.staff().table("示例街道", 1), before)
    assert in_force.active_info().staff_revision == 0  # type: ignore[union-attr]


def test_a_grid_the_caller_does_not_cover_rolls_back_the_others(
    tmp_path: Path, in_force: PlanStore
) -> None:
    rows = [
        [f"{TOP}001", "", "王芳", "网格长", "", "", ""],
        [f"{EAST}001", "", "李明", "网格长", "", "", ""],  # the east community's
    ]
    path = office_roster(tmp_path / "花名册.xlsx", rows)
    west = Caller("西社区规划员", Role.PLANNER, grid_code=TOP)
    with pytest.raises(AccessDeniedError):
        in_force.staff().replace_many(read_roster(path, street_plan().grids).by_grid(), caller=west)
    assert [m.name for m in in_force.staff().current(f"{TOP}001").staff] == [
        "网格长001",
        "网格员001",
    ]
    assert in_force.active_info().staff_revision == 0  # type: ignore[union-attr]


def test_exported_roster_reads_back_as_the_store_staff_with_text_cells(
    tmp_path: Path, in_force: PlanStore
) -> None:
    plan = plans_in_force(in_force, plan="示例街道")
    path = write_roster(plan.staff, plan.grids, tmp_path / "花名册.xlsx")
    sheet = openpyxl.load_workbook(path).active
    assert sheet.freeze_panes == "A2"
    assert [c.value for c in sheet[1]] == [
        "网格编码",
        "网格名称",
        "所属上级",
        "职务",
        "姓名",
        "联系电话",
    ]
    code, phone = sheet.cell(2, 1), sheet.cell(2, 6)
    assert (code.value, code.data_type, code.number_format) == (f"{TOP}001", "s", "@")
    assert (phone.value, phone.data_type) == ("13800000000", "s")  # never 1.38E+10
    back = read_roster(path, plan.grids).staff[["grid_code", "role", "name", "phone"]]
    stored = in_force.staff().table("示例街道", 1)
    key = ["grid_code", "role", "name"]
    pd.testing.assert_frame_equal(
        back.astype(object).sort_values(key).reset_index(drop=True),
        stored.astype(object).sort_values(key).reset_index(drop=True),
    )


def test_staff_in_a_grids_layer_attributes() -> None:
    grids = pd.DataFrame(
        {
            "code": ["001", "002"],
            "网格长": ["王芳", None],
            "网格长电话": ["13800000001", None],
            "专职": ["李明、赵丽", "钱进"],
        }
    )
    kept, staff = staff_from_attributes(grids, "grids.shp")
    assert list(kept.columns) == ["code"]
    assert staff is not None and staff.fillna("").values.tolist() == [
        ["001", "head", "王芳", "13800000001"],
        ["001", "full_time", "李明", ""],
        ["001", "full_time", "赵丽", ""],
        ["002", "full_time", "钱进", ""],
    ]
    grids.loc[0, "网格长电话"] = "12345"
    with pytest.raises(PlanFileError, match=r"feature 1 \(code 001\): phone '12345'"):
        staff_from_attributes(grids, "grids.shp")


def test_cli_import_into_a_plan_file_and_the_store_and_export(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEOGRID_DATABASE_URL", store_url)
    from geogrid.io import read_plan, write_plan

    write_plan(street_plan(), tmp_path / "plan.gpkg")
    roster = office_roster(tmp_path / "花名册.xlsx", [row for row in GOOD if row[0]])
    result = runner.invoke(
        app, ["staff", "import", str(tmp_path / "plan.gpkg"), f"{roster}:2026年花名册",
              "-o", str(tmp_path / "plan2.gpkg")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "3 staff on 1 grids; the other 25 grids keep theirs" in result.output
    assert "the 身份证号 of 1 people are not kept" in result.output
    plan2 = read_plan(tmp_path / "plan2.gpkg")
    assert plan2.staff_of(f"{TOP}001")["name"].tolist() == ["王芳", "李明", "赵丽"]
    with open_store(store_url) as store:
        store.save(plan2, by="x")
        store.approve(plan2.name, 1, by="y")
        store.activate(plan2.name, 1, by="y", valid_from=START)
    bad = office_roster(
        tmp_path / "bad.xlsx", [GOOD[0], [f"{TOP}001", "", "", "网格长", "", 1, ""]]
    )
    result = runner.invoke(app, ["staff", "import", "--store", "--plan", "示例街道", str(bad)])
    assert result.exit_code == 2
    assert "row 5: no name (姓名)" in result.output and "nothing imported" in result.output
    result = runner.invoke(app, ["staff", "import", "--store", "--from", "2026-07-01", str(roster)])
    assert result.exit_code == 0, result.output
    assert "with effect from 2026-07-01 00:00 UTC" in result.output
    out = tmp_path / "export.xlsx"
    result = runner.invoke(
        app, ["staff", "export", "--store", "--at", "2026-07-02", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    exported = read_roster(out, plan2.grids).staff
    assert exported[exported["grid_code"] == f"{TOP}001"]["name"].tolist() == [
        "王芳",
        "李明",
        "赵丽",
    ]
