"""Staff roles (geogrid.roles): the default set, Chinese names on input, a roles file that
changes the order everywhere (plan, web map, legend, signs, the service), clear errors."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box
from test_render import needs_poppler, pdf_text

from api.main import create_app
from geogrid.errors import ConfigurationError, InvalidInputError, InvalidPlanError
from geogrid.plan import GridPlan
from geogrid.render import render_signs
from geogrid.render.legend import legend_rows
from geogrid.render.webmap import render_web_map
from geogrid.report import plan_report
from geogrid.roles import (
    DEFAULT_ROLES,
    Role,
    RoleSet,
    configured_roles,
    current_roles,
    load_roles,
    set_roles,
    use_roles,
)
from geogrid.settings import Settings
from geogrid.store.staff import StaffMember
from tests.service import TOP, activate, centre, issue_key, service_settings, street_plan

CODE = "110108001001"

BUILDING_TOML = """
[[roles]]
key = "head"

[[roles]]
key = "building_head"
name = "楼栋长"
name_en = "building head"
worker = true
aliases = ["楼长"]

[[roles]]
key = "full_time"

[[roles]]
key = "part_time"
"""


def one_grid_plan(roles: list[str]) -> GridPlan:
    """One grid whose staff hold ``roles`` in that table order (names 甲, 乙, 丙 …)."""
    grids = gpd.GeoDataFrame(
        {"code": [CODE], "name": ["一网格"], "level": [1], "households": [300]},
        geometry=[box(116.30, 40.00, 116.31, 40.01)],
        crs=4490,
    )
    names = "甲乙丙丁戊己"
    staff = pd.DataFrame(
        {
            "grid_code": [CODE] * len(roles),
            "role": roles,
            "name": list(names[: len(roles)]),
            "phone": [f"1380000000{i}" for i in range(len(roles))],
        }
    )
    return GridPlan("示例", ["网格"], grids, staff=staff)


@pytest.fixture
def building_file(tmp_path) -> Path:
    path = tmp_path / "roles.toml"
    path.write_text(BUILDING_TOML, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the set


def test_default_roles_in_order_with_names_and_kinds() -> None:
    assert current_roles() is DEFAULT_ROLES
    assert [(r.key, r.name) for r in DEFAULT_ROLES] == [
        ("head", "网格长"),
        ("full_time", "专职网格员"),
        ("part_time", "兼职网格员"),
        ("instructor", "网格指导员"),
        ("micro_head", "微网格长"),
    ]
    assert DEFAULT_ROLES.head_keys == ("head", "micro_head")
    assert DEFAULT_ROLES.worker_keys == ("full_time", "part_time")
    assert all(r.name_en for r in DEFAULT_ROLES)
    assert sorted(["micro_head", "part_time", "x", "head"], key=DEFAULT_ROLES.sort_key) == [
        "head",
        "part_time",
        "micro_head",
        "x",
    ]
    assert DEFAULT_ROLES.label("instructor") == "网格指导员"
    assert DEFAULT_ROLES.label("retired") == "retired"  # unknown: shown as it is


@pytest.mark.parametrize(
    ("given", "key"),
    [
        ("网格长", "head"),
        ("专职网格员", "full_time"),
        ("兼职网格员", "part_time"),
        ("专职", "full_time"),
        ("兼职", "part_time"),
        ("网格指导员", "instructor"),
        ("微网格长", "micro_head"),
        (" head ", "head"),
        ("part_time", "part_time"),
    ],
)
def test_chinese_names_and_aliases_resolve(given: str, key: str) -> None:
    assert DEFAULT_ROLES.parse(given) == key
    assert DEFAULT_ROLES[given].key == key
    assert StaffMember.parse({"role": given, "name": "王五"}).role == key


def test_plan_keeps_the_key_of_a_chinese_role() -> None:
    plan = one_grid_plan(["兼职", "专职网格员", "网格长", "兼职网格员"])
    assert plan.staff["role"].tolist() == ["part_time", "full_time", "head", "part_time"]
    assert [p["role"] for p in plan.staff_by_grid()[CODE]] == [
        "head",
        "full_time",
        "part_time",
        "part_time",
    ]
    assert str(plan.staff["role"].dtype) == "string"


def test_unknown_role_is_refused_with_every_valid_one() -> None:
    with pytest.raises(InvalidPlanError) as caught:
        one_grid_plan(["网格长", "楼长"])
    message = str(caught.value)
    assert message.startswith("staff row 2: unknown staff role '楼长'")
    for role in DEFAULT_ROLES:
        assert f"{role.key} ({role.name})" in message
    assert "GEOGRID_ROLES_FILE" in message
    with pytest.raises(InvalidPlanError, match=r"use one of head \(网格长\), full_time"):
        StaffMember.parse({"role": "boss", "name": "王五"})


def test_a_role_set_refuses_clashes_and_bad_keys() -> None:
    with pytest.raises(InvalidInputError, match="'head' and 'chief' are both called '网格长'"):
        RoleSet([Role("head", "网格长"), Role("chief", "网格长")])
    with pytest.raises(InvalidInputError, match="lower-case letters"):
        Role("Building Head", "楼栋长")
    with pytest.raises(InvalidInputError, match="needs a Chinese name"):
        Role("building_head", " ")
    with pytest.raises(InvalidInputError, match="at least one"):
        RoleSet([])
    with pytest.raises(InvalidInputError, match="unknown field"):
        RoleSet.from_records([{"key": "head", "colour": "red"}])
    with pytest.raises(InvalidInputError, match=r"staff role 1 \('warden'\) needs a Chinese name"):
        RoleSet.from_records([{"key": "warden"}])


def test_workers_are_the_first_worker_role_a_grid_has() -> None:
    people = [
        {"role": "part_time", "name": "丙"},
        {"role": "head", "name": "甲"},
        {"role": "micro_head", "name": "丁"},
    ]
    assert [p["name"] for p in DEFAULT_ROLES.workers(people)] == ["丙"]
    assert [p["name"] for p in DEFAULT_ROLES.heads(people)] == ["甲", "丁"]
    people.append({"role": "full_time", "name": "乙"})
    assert [p["name"] for p in DEFAULT_ROLES.workers(people)] == ["乙"]


# --------------------------------------------------------------------------- configuration


def test_roles_file_toml_and_json_read_alike(building_file, tmp_path) -> None:
    roles = load_roles(building_file)
    assert roles.keys == ("head", "building_head", "full_time", "part_time")
    assert roles["楼长"].name == "楼栋长" and roles["head"] == DEFAULT_ROLES["head"]
    as_json = tmp_path / "roles.json"
    as_json.write_text(json.dumps({"roles": roles.to_records()}, ensure_ascii=False), "utf-8")
    assert load_roles(as_json) == roles
    as_list = tmp_path / "list.json"
    as_list.write_text(json.dumps(roles.to_records()), "utf-8")
    assert load_roles(as_list) == roles
    assert configured_roles(Settings(roles_file=building_file)) == roles
    assert configured_roles(Settings(roles_file=None)) is DEFAULT_ROLES


def test_a_changed_roles_file_is_read_again(building_file) -> None:
    assert "楼栋长" in load_roles(building_file)
    building_file.write_text('[[roles]]\nkey = "head"\n[[roles]]\nkey = "full_time"\n', "utf-8")
    assert load_roles(building_file).keys == ("head", "full_time")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[[roles]]\nkey = 3\n", "lower-case letters"),
        ("roles = 'head'", "must hold a list of roles"),
        ("[[roles]\n", "not a valid role set"),
        (
            '[[roles]]\nkey = "head"\n[[roles]]\nkey = "x"\nname = "网格长"\n',
            "both called '网格长'",
        ),
    ],
)
def test_a_bad_roles_file_is_a_configuration_error(tmp_path, text, match) -> None:
    path = tmp_path / "roles.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=match) as caught:
        load_roles(path)
    assert str(path) in str(caught.value)
    with pytest.raises(ConfigurationError, match="cannot read the staff roles file"):
        load_roles(tmp_path / "missing.toml")


def test_the_setting_names_the_file(building_file, monkeypatch) -> None:
    monkeypatch.setenv("GEOGRID_ROLES_FILE", str(building_file))
    assert Settings().roles_file == building_file
    assert current_roles().keys[1] == "building_head"
    monkeypatch.setenv("GEOGRID_ROLES_FILE", "")
    assert current_roles() is DEFAULT_ROLES


def test_use_roles_beats_set_roles_beats_the_setting(building_file, monkeypatch) -> None:
    monkeypatch.setenv("GEOGRID_ROLES_FILE", str(building_file))
    only_head = RoleSet([Role("head", "网格长", head=True)])
    mine = RoleSet([Role("full_time", "专职网格员", worker=True), Role("head", "网格长")])
    set_roles(only_head)
    try:
        assert current_roles() is only_head
        with use_roles(mine):
            assert current_roles() is mine
            seen: list[RoleSet] = []
            thread = threading.Thread(target=lambda: seen.append(current_roles()))
            thread.start()
            thread.join()
            assert seen == [only_head]  # a new thread starts from the process's roles
        assert current_roles() is only_head
    finally:
        set_roles(None)
    assert current_roles().keys[1] == "building_head"
    with pytest.raises(InvalidInputError, match="takes a RoleSet"):
        set_roles(["head"])  # type: ignore[arg-type]


def test_the_cli_prints_the_chinese_names(tmp_path) -> None:
    from typer.testing import CliRunner

    from geogrid.cli import app
    from geogrid.io import write_plan

    path = write_plan(one_grid_plan(["兼职", "网格长"]), tmp_path / "plan.gpkg")
    result = CliRunner().invoke(app, ["locate", str(path), "--lon", "116.305", "--lat", "40.005"])
    assert result.exit_code == 0, result.output
    assert result.output.index("网格长 乙") < result.output.index("兼职网格员 甲")


def test_the_old_names_still_import_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match="use geogrid.roles.current_roles"):
        from geogrid.plan import STAFF_ORDER
    assert [str(r) for r in STAFF_ORDER] == list(DEFAULT_ROLES.keys)
    with pytest.warns(DeprecationWarning):
        from geogrid.plan import StaffRole
    assert StaffRole.HEAD == "head"


# --------------------------------------------------------------------------- the order everywhere

ROLES_IN_TABLE = ["兼职网格员", "专职网格员", "楼栋长", "网格长"]  # names 甲 乙 丙 丁


def test_a_roles_file_orders_staff_by_grid_and_the_report(building_file, monkeypatch) -> None:
    monkeypatch.setenv("GEOGRID_ROLES_FILE", str(building_file))
    plan = one_grid_plan(ROLES_IN_TABLE)
    assert plan.staff["role"].tolist() == ["part_time", "full_time", "building_head", "head"]
    assert [(p["role"], p["name"]) for p in plan.staff_by_grid()[CODE]] == [
        ("head", "丁"),
        ("building_head", "丙"),
        ("full_time", "乙"),
        ("part_time", "甲"),
    ]
    assert plan.staff_of(CODE)["name"].tolist() == ["丁", "丙", "乙", "甲"]
    assert plan_report(plan).grids[["head", "phone"]].iloc[0].tolist() == ["丁", "13800000003"]


def test_a_roles_file_orders_the_web_map_popup(building_file, monkeypatch) -> None:
    monkeypatch.setenv("GEOGRID_ROLES_FILE", str(building_file))
    html = render_web_map(one_grid_plan(ROLES_IN_TABLE)).html
    popup = "网格长：丁 13800000003；楼栋长：丙 13800000002；专职网格员：乙 13800000001；兼职网格员：甲 13800000000"
    assert popup in html or json.dumps(popup)[1:-1] in html
    monkeypatch.delenv("GEOGRID_ROLES_FILE")
    with pytest.raises(InvalidPlanError, match="unknown staff role '楼栋长'"):
        one_grid_plan(ROLES_IN_TABLE)  # the default roles have no 楼栋长


def test_a_roles_file_changes_the_legend_workers(building_file, monkeypatch) -> None:
    plain = legend_rows(one_grid_plan(["兼职网格员", "专职网格员", "网格长"])).iloc[0]
    assert (plain["head"], plain["workers"], plain["phone"]) == ("丙", "乙", "13800000001")
    monkeypatch.setenv("GEOGRID_ROLES_FILE", str(building_file))
    row = legend_rows(one_grid_plan(ROLES_IN_TABLE)).iloc[0]
    # 楼栋长 is a worker role listed before full-time: residents are pointed to them first
    assert (row["head"], row["workers"], row["phone"]) == ("丁", "丙", "13800000002")


def test_a_role_neither_head_nor_worker_stays_off_the_legend() -> None:
    mine = RoleSet.from_records(
        [{"key": "head"}, {"key": "building_head", "name": "楼栋长"}, {"key": "part_time"}]
    )
    with use_roles(mine):
        plan = one_grid_plan(["兼职", "楼栋长", "网格长"])
        row = legend_rows(plan).iloc[0]
    assert (row["head"], row["workers"], row["phone"]) == ("丙", "甲", "13800000000")


@needs_poppler
def test_a_roles_file_orders_the_sign_rows(building_file, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("GEOGRID_ROLES_FILE", str(building_file))
    signs = render_signs(one_grid_plan(ROLES_IN_TABLE), tmp_path / "signs.pdf")
    text = pdf_text(signs.path)
    where = [text.index(label) for label in ("楼栋长", "专职网格员", "兼职网格员")]
    assert where == sorted(where), text
    assert text.index("丁") < text.index("丙") < text.index("乙") < text.index("甲")


# --------------------------------------------------------------------------- the service


@pytest.fixture
def building_service(tmp_path, building_file):
    with service_settings("gpkg", tmp_path, roles_file=building_file) as settings:
        plan = street_plan()
        plan.staff = pd.concat(
            [plan.staff, pd.DataFrame([{"grid_code": f"{TOP}001", "role": "楼栋长", "name": "楼"}])]
        )
        with use_roles(configured_roles(settings)):
            plan = GridPlan(plan.name, plan.levels, plan.grids, plan.staff)
            activate(settings, plan)
        with TestClient(create_app(settings)) as client:
            yield client, settings


def test_the_service_uses_its_roles_file(building_service) -> None:
    client, settings = building_service
    assert current_roles() is DEFAULT_ROLES  # the app's roles stay inside its requests
    lon, lat = centre(0)
    located = client.get("/locate", params={"lon": lon, "lat": lat})
    assert located.status_code == 200, located.text
    staff = located.json()["levels"][1]["grid"]["staff"]
    assert [s["role"] for s in staff] == ["head", "building_head", "full_time"]
    planner = issue_key(settings, "planner", name="规划员")
    url = f"/grids/{TOP}003/staff"
    body = {"staff": [{"role": "专职", "name": "乙"}, {"role": "楼长", "name": "丙"}]}
    put = client.put(url, json=body, headers=planner | {"If-Match": "*"})
    assert put.status_code == 200, put.text
    assert [s["role"] for s in put.json()["staff"]] == ["full_time", "building_head"]
    bad = client.put(url, json={"staff": [{"role": "微网格长", "name": "丁"}]}, headers=planner)
    assert bad.status_code == 422
    assert "building_head (楼栋长)" in bad.text and "unknown staff role '微网格长'" in bad.text
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert schema["StaffMemberIn"]["properties"]["role"]["enum"] == [
        "head",
        "网格长",
        "building_head",
        "楼栋长",
        "楼长",
        "full_time",
        "专职网格员",
        "专职",
        "part_time",
        "兼职网格员",
        "兼职",
    ]
    assert schema["StaffOut"]["properties"]["role"]["enum"] == [
        "head",
        "building_head",
        "full_time",
        "part_time",
    ]
    assert "building_head 楼栋长" in schema["StaffOut"]["properties"]["role"]["description"]


def test_the_service_lists_its_roles_in_order(building_service) -> None:
    client, _ = building_service
    roles = client.get("/roles").json()  # open, like the signs that print them
    assert [(r["key"], r["name"]) for r in roles][:3] == [
        ("head", "网格长"),
        ("building_head", "楼栋长"),
        ("full_time", "专职网格员"),
    ]
    assert "楼长" in roles[1]["aliases"] and roles[0]["head"] and not roles[2]["head"]
