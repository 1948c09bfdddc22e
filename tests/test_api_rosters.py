"""Rosters over the API: an office's Excel roster in, every bad row named, the roster back out."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.service import TOP, activate, issue_key, service_settings, street_plan
from tests.test_rosters import GOOD, office_roster

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
URL = "/plans/示例街道/staff"


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[TestClient, dict]]:
    with service_settings(request.param, tmp_path) as settings:
        activate(settings, street_plan())
        planner = issue_key(settings, "planner")
        with TestClient(create_app(settings)) as service:
            yield service, planner


def _heads(service: TestClient, key: dict, code: str, at: str | None = None) -> list[str]:
    params = {"at": at} if at else {}
    answer = service.get(f"/grids/{code}/staff", params=params, headers=key).json()
    return [m["name"] for m in answer["staff"]]


def test_an_office_roster_is_imported_from_a_date(client, tmp_path: Path) -> None:
    service, planner = client
    path = office_roster(tmp_path / "花名册.xlsx", [row for row in GOOD if row[0]])
    answer = service.post(
        f"{URL}/import",
        params={"effective": "2030-01-01T00:00:00Z"},
        files={"file": ("花名册.xlsx", path.read_bytes(), XLSX)},
        headers=planner,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["grids"], body["staff"], body["staff_revision"]) == ([f"{TOP}001"], 3, 1)
    assert body["effective"].startswith("2030-01-01")
    assert _heads(service, planner, f"{TOP}001") == ["网格长001", "网格员001"]  # not yet
    assert _heads(service, planner, f"{TOP}001", "2030-01-02T00:00:00Z") == ["王芳", "李明", "赵丽"]


def test_bad_rows_are_a_422_naming_them_and_nothing_changes(client, tmp_path: Path) -> None:
    service, planner = client
    rows = [*GOOD[:2], [f"{TOP}099", "", "孙七", "网格长", "", 1380000007, ""]]
    path = office_roster(tmp_path / "花名册.xlsx", rows)
    answer = service.post(
        f"{URL}/import", content=path.read_bytes(), headers=planner | {"Content-Type": XLSX}
    )
    assert answer.status_code == 422, answer.text
    problems = answer.json()["problems"]
    assert problems == [
        "row 6: no grid 110108001001099 in the plan; check the 网格编码",
        "row 6: phone '1380000007' is not a phone number: a mobile number has 11 digits "
        "(13800000001), a landline its area code (010-62781234)",
    ]
    assert _heads(service, planner, f"{TOP}001") == ["网格长001", "网格员001"]


def test_the_exported_roster_is_text_where_it_must_be_and_imports_as_no_change(client) -> None:
    service, planner = client
    answer = service.get(f"{URL}/export", headers=planner)
    assert answer.status_code == 200 and answer.headers["content-type"] == XLSX
    sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).active
    assert [c.value for c in sheet[1]] == [
        "网格编码",
        "网格名称",
        "所属上级",
        "职务",
        "姓名",
        "联系电话",
    ]
    assert [(c.value, c.data_type) for c in sheet[2]] == [
        (f"{TOP}001", "s"),
        ("第1网格", "s"),
        ("西社区", "s"),
        ("网格长", "s"),
        ("网格长001", "s"),
        ("13800000000", "s"),
    ]
    assert sheet.max_row == 1 + 24 * 2
    again = service.post(
        f"{URL}/import", content=answer.content, headers=planner | {"Content-Type": XLSX}
    )
    assert again.status_code == 200 and again.json()["staff"] == 48
    assert _heads(service, planner, f"{TOP}001") == ["网格长001", "网格员001"]
    csv = service.get(f"{URL}/export", params={"format": "csv"}, headers=planner)
    assert csv.content.decode("utf-8-sig").splitlines()[1] == (
        f"{TOP}001,第1网格,西社区,网格长,网格长001,13800000000"
    )


def test_a_csv_roster_in_gbk_and_a_plan_not_in_force(client) -> None:
    service, planner = client
    text = f"网格编码,姓名,职务,联系电话\n{TOP}002,王芳,网格长,13800000001\n".encode("gbk")
    answer = service.post(
        f"{URL}/import", content=text, headers=planner | {"Content-Type": "text/csv"}
    )
    assert answer.status_code == 200, answer.text
    assert _heads(service, planner, f"{TOP}002") == ["王芳"]
    missing = service.post(
        "/plans/无此方案/staff/import", content=text, headers=planner | {"Content-Type": "text/csv"}
    )
    assert missing.status_code == 404
