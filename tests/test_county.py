"""A county in one store: a plan per jurisdiction, several in force at once, history in time.

Two townships side by side, each its own jurisdiction (its one top-level grid's code), saved,
approved and activated on their own schedules; the service answers from both, re-indexes only
the one that changes, and every read can ask what was in force at an instant.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box

from api.main import create_app
from api.plans import PlanSource
from geogrid.access import Caller, Role
from geogrid.errors import JurisdictionConflictError, VersionStateError
from geogrid.incidents import IncidentReport, Placement
from geogrid.plan import GridPlan
from geogrid.store import PlanStore, open_store
from tests.service import DX, DY, OX, OY, issue_key, service_settings

WEST, EAST = "410326100", "410326101"  # two townships (乡镇) of one county
COUNTY = "410326"
ADMIN = Caller.local("县管理员")
T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
SPRING = dt.datetime(2025, 4, 1, tzinfo=dt.UTC)
REDRAW = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)


def township(
    code: str, x0: int, columns: int = 4, *, head: str = "王芳", split: int = 1
) -> GridPlan:
    """A township at column ``x0`` of ``columns`` 100 m columns; ``split`` grids per column."""
    rows = [(code, f"{code}镇", 1, None, box(OX + x0 * DX, OY, OX + (x0 + columns) * DX, OY + DY))]
    staff = []
    for col in range(columns):
        for part in range(split):
            seq = col * split + part + 1
            grid = f"{code}{seq:03d}"
            x = OX + (x0 + col) * DX
            rows.append(
                (
                    grid,
                    f"第{seq}网格",
                    2,
                    code,
                    box(x + part * DX / split, OY, x + (part + 1) * DX / split, OY + DY),
                )
            )
            staff.append((grid, "head", f"{head}{seq}", f"1380000{seq:04d}"))
    codes, names, levels, parents, geoms = zip(*rows, strict=True)
    grids = gpd.GeoDataFrame(
        {"code": codes, "name": names, "level": levels, "parent_code": parents},
        geometry=list(geoms),
        crs=4490,
    )
    table = pd.DataFrame(staff, columns=["grid_code", "role", "name", "phone"])
    return GridPlan(f"{code}镇网格", ["乡镇", "网格"], grids, staff=table)


def point(col: float) -> tuple[float, float]:
    """A point ``col`` columns east of the strip's west end, half-way up."""
    return OX + col * DX, OY + 0.5 * DY


def publish(store: PlanStore, plan: GridPlan, at: dt.datetime | None = None) -> int:
    info = store.save(plan, by="规划员")
    store.approve(plan.name, info.version, by="审核员")
    store.activate(plan.name, info.version, by="审核员", valid_from=at)
    return info.version


@pytest.fixture(params=["geopackage", pytest.param("postgis", marks=pytest.mark.postgis)])
def store(request, tmp_path):
    if request.param == "geopackage":
        with open_store(f"sqlite:///{tmp_path}/county.gpkg") as opened:
            yield opened
        return
    from tests._pg import scratch_database, url_of

    with scratch_database() as dsn, open_store(url_of(dsn)) as opened:
        yield opened


# -- jurisdictions -------------------------------------------------------------------------


def test_two_jurisdictions_are_in_force_at_once(store: PlanStore) -> None:
    publish(store, township(WEST, 0))
    publish(store, township(EAST, 4))
    infos = store.in_force()
    assert [(i.jurisdiction, i.version, i.status.value) for i in infos] == [
        (WEST, 1, "active"),
        (EAST, 1, "active"),
    ]
    county = store.active()
    assert county is not None and county.name == f"{WEST}镇网格+{EAST}镇网格"
    assert len(county.grids) == 10 and set(county.levels) == {"乡镇", "网格"}
    # replacing the east township leaves the west one's version as it was
    publish(store, township(EAST, 4, split=2))
    after = {i.jurisdiction: i for i in store.in_force()}
    assert (after[WEST].version, after[EAST].version) == (1, 2)
    assert after[WEST].valid_to is None and after[WEST].status.value == "active"
    (first_east,) = [v for v in store.versions(f"{EAST}镇网格") if v.version == 1]
    assert first_east.status.value == "retired" and first_east.valid_to == after[EAST].valid_from


def test_overlapping_jurisdictions_are_refused(store: PlanStore) -> None:
    publish(store, township(WEST, 0))
    overlapping = township(EAST, 3)  # its first column lies over the west township's last
    info = store.save(overlapping, by="规划员")
    store.approve(overlapping.name, info.version, by="审核员")
    with pytest.raises(
        JurisdictionConflictError, match=f"overlaps grid '{WEST}'.*trim the outline"
    ):
        store.activate(overlapping.name, info.version, by="审核员")
    assert [i.jurisdiction for i in store.in_force()] == [WEST]  # nothing changed


def test_codes_are_unique_across_jurisdictions(store: PlanStore) -> None:
    publish(store, township(WEST, 0))
    clash = township(EAST, 4)
    clash.grids.loc[clash.grids["code"] == f"{EAST}001", "code"] = f"{WEST}001"
    clash.staff.loc[clash.staff["grid_code"] == f"{EAST}001", "grid_code"] = f"{WEST}001"
    info = store.save(clash, by="规划员")
    store.approve(clash.name, info.version, by="审核员")
    with pytest.raises(JurisdictionConflictError, match=f"grid code '{WEST}001' is already used"):
        store.activate(clash.name, info.version, by="审核员")


def test_a_plan_name_keeps_its_jurisdiction(store: PlanStore) -> None:
    store.save(township(WEST, 0), by="规划员")
    moved = township(EAST, 4)
    moved.name = f"{WEST}镇网格"
    with pytest.raises(Exception, match=f"governs jurisdiction '{WEST}'"):
        store.save(moved, by="规划员")


# -- time ----------------------------------------------------------------------------------


def test_at_answers_before_and_after_a_back_dated_redraw_and_a_staff_change(
    store: PlanStore,
) -> None:
    publish(store, township(WEST, 0), at=T0)
    publish(store, township(EAST, 4), at=T0)
    # the west township's redraw took effect on 1 June, entered into the system later
    publish(store, township(WEST, 0, split=2, head="李强"), at=REDRAW)
    # a version cannot start before the one it replaces began
    late = township(WEST, 0)
    info = store.save(late, by="规划员")
    store.approve(late.name, info.version, by="审核员")
    with pytest.raises(VersionStateError, match="must start later than that"):
        store.activate(late.name, info.version, by="审核员", valid_from=SPRING)
    spring = store.active(SPRING)
    summer = store.active(REDRAW + dt.timedelta(days=1))
    assert spring is not None and summer is not None
    west_spring = spring.grids[spring.grids["parent_code"] == WEST]
    west_summer = summer.grids[summer.grids["parent_code"] == WEST]
    assert (len(west_spring), len(west_summer)) == (4, 8)
    assert set(spring.staff["name"]) >= {"王芳1"} and "李强1" not in set(spring.staff["name"])
    assert "李强1" in set(summer.staff["name"])
    before = store.in_force(REDRAW - dt.timedelta(seconds=1), jurisdiction=WEST)
    assert [i.version for i in before] == [1]
    # a staff change effective from 1 July, in the version in force now
    july = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
    staff = store.staff()
    code = f"{WEST}001"
    staff.replace(code, [{"role": "head", "name": "赵敏", "phone": "13700000001"}],
                  caller=ADMIN, effective=july)  # fmt: skip
    assert [m.name for m in staff.current(code, at=july - dt.timedelta(days=1)).staff] == ["李强1"]
    assert [m.name for m in staff.current(code, at=july + dt.timedelta(days=1)).staff] == ["赵敏"]
    assert [m.name for m in staff.current(code).staff] == ["赵敏"]


def test_a_future_activation_waits_for_its_date(store: PlanStore) -> None:
    publish(store, township(WEST, 0), at=T0)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    publish(store, township(WEST, 0, split=2), at=later)
    assert [i.version for i in store.in_force()] == [1]  # still the first until then
    assert [i.version for i in store.in_force(later + dt.timedelta(seconds=1))] == [2]


# -- the service ---------------------------------------------------------------------------


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def settings(request, tmp_path):
    with service_settings(request.param, tmp_path) as values:
        yield values


def test_one_jurisdiction_is_replaced_while_the_other_keeps_answering(settings) -> None:
    with open_store(settings.store_url) as store:
        publish(store, township(WEST, 0), at=T0)
        publish(store, township(EAST, 4), at=T0)
        source = PlanSource(store, check_seconds=0)
        before = source.get()
        east_before = before.parts[EAST]
        failures: list[BaseException] = []
        answers: list[str] = []
        stop = threading.Event()

        def keep_locating() -> None:
            x, y = point(5.5)
            while not stop.is_set():
                try:
                    result = source.get().index.locate([x], [y])
                    answers.append(str(result.grid_codes()[0]))
                except BaseException as exc:
                    failures.append(exc)

        worker = threading.Thread(target=keep_locating)
        worker.start()
        try:
            time.sleep(0.05)
            publish(store, township(WEST, 0, split=2))
            deadline = time.monotonic() + 10
            while source.get().parts[WEST].version != 2 and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            stop.set()
            worker.join()
        after = source.get()
        assert not failures and answers and set(answers) == {f"{EAST}002"}
        assert after.parts[WEST].version == 2
        assert after.parts[EAST] is east_before  # the east township was not re-indexed
        x, y = point(0.75)
        assert after.index.locate([x], [y]).grid_codes().tolist() == [f"{WEST}002"]


def test_the_api_answers_from_every_jurisdiction_and_at_a_past_instant(settings) -> None:
    with open_store(settings.store_url) as store:
        publish(store, township(WEST, 0), at=T0)
        publish(store, township(EAST, 4), at=T0)
        publish(store, township(WEST, 0, split=2, head="李强"), at=REDRAW)
    with TestClient(create_app(settings)) as client:
        west = client.get("/locate", params=dict(zip(("lon", "lat"), point(0.75), strict=True)))
        east = client.get("/locate", params=dict(zip(("lon", "lat"), point(5.5), strict=True)))
        assert west.json()["plan"] == {"name": f"{WEST}镇网格", "version": 2, "jurisdiction": WEST}
        assert east.json()["plan"]["jurisdiction"] == EAST
        assert west.json()["grid_code"] == f"{WEST}002"
        assert west.json()["levels"][1]["grid"]["staff"][0]["name"] == "李强2"
        spring = client.get(
            "/locate",
            params=dict(zip(("lon", "lat"), point(0.75), strict=True)) | {"at": SPRING.isoformat()},
        ).json()
        assert (spring["plan"]["version"], spring["grid_code"]) == (1, f"{WEST}001")
        assert spring["levels"][1]["grid"]["staff"][0]["name"] == "王芳1"
        batch = client.post(
            "/locate",
            json={"points": [dict(zip(("lon", "lat"), point(c), strict=True)) for c in (0.75, 5)]},
        ).json()
        assert [r["jurisdiction"] for r in batch["results"]] == [WEST, EAST]
        assert set(batch["plans"]) == {WEST, EAST} and batch["plan"]["version"] is None
        grids = client.get("/ogc/collections/level2/items", params={"limit": 100}).json()
        assert grids["numberMatched"] == 12  # 8 west (redrawn) + 4 east


def test_scopes_follow_the_registry_and_plans_move_by_jurisdiction(settings) -> None:
    with open_store(settings.store_url) as store:
        publish(store, township(WEST, 0))
        publish(store, township(EAST, 4))
        store.register_jurisdiction(COUNTY, "汝阳县", level_name="县")
        for code in (WEST, EAST):
            store.register_jurisdiction(code, f"{code}镇", parent=COUNTY)
    county = issue_key(settings, "supervisor", COUNTY, name="县督办")
    west_planner = issue_key(settings, "planner", WEST, name="西镇规划员")
    west_supervisor = issue_key(settings, "supervisor", WEST, name="西镇督办")
    with TestClient(create_app(settings)) as client:
        names = lambda headers: [p["name"] for p in client.get("/plans", headers=headers).json()]  # noqa: E731
        assert names(county) == [f"{WEST}镇网格", f"{EAST}镇网格"]
        assert names(west_planner) == [f"{WEST}镇网格"]
        east_plan = f"/plans/{EAST}镇网格/versions/1"
        assert client.get(east_plan, headers=west_supervisor).status_code == 404
        # the west planner saves a redraw of its own township, not of the east one
        from geogrid.io import write_plan

        path = settings.data_dir / "west.gpkg"
        write_plan(township(WEST, 0, split=2), path)
        saved = client.post("/plans", content=path.read_bytes(), headers=west_planner)
        assert saved.status_code == 201, saved.text
        assert saved.json()["jurisdiction"] == WEST
        other = settings.data_dir / "east.gpkg"
        write_plan(township(EAST, 4, split=2), other)
        refused = client.post("/plans", content=other.read_bytes(), headers=west_planner)
        assert refused.status_code == 403
        # it may not approve its own work; the township's supervisor may
        version = f"/plans/{WEST}镇网格/versions/2"
        assert client.post(f"{version}/approve", headers=west_planner).status_code == 403
        assert client.post(f"{version}/approve", headers=west_supervisor).status_code == 200
        activated = client.post(
            f"{version}/activate", headers=county, params={"valid_from": "2027-01-01T00:00:00Z"}
        )
        assert activated.status_code == 200, activated.text
        assert activated.json()["valid_from"].startswith("2027-01-01")
        listed = client.get("/jurisdictions", headers=county).json()
        # announced for 1 January: until then the first version stays in force
        assert {j["code"]: j["version"] for j in listed} == {COUNTY: None, WEST: 1, EAST: 1}


def test_stats_group_by_the_grid_as_reported_or_as_now(settings) -> None:
    with open_store(settings.store_url) as store:
        publish(store, township(WEST, 0), at=T0)
        incidents = store.incidents()
        app = Caller("App", Role.REPORTER)
        old = store.get(f"{WEST}镇网格", 1)
        for col in (0.25, 0.75, 1.5):  # two in old grid 001, one in 002
            x, y = point(col)
            codes = [WEST, f"{WEST}{int(col) + 1:03d}"]
            report = IncidentReport(category="environment", description="x", lon=x, lat=y)
            incidents.create_incident(report, Placement.from_plan(old, x, y, codes), caller=app)
        publish(store, township(WEST, 0, split=2))  # 001 → 001 + 002, 002 → 003 + 004
    with TestClient(create_app(settings)) as client:
        headers = issue_key(settings, "supervisor", name="督办")

        def counts(grouped: str) -> dict[str, int]:
            body = client.get(
                "/stats", params={"level": 2, "grouped": grouped}, headers=headers
            ).json()
            assert body["grouped"] == grouped
            return {g["grid_code"]: g["total"] for g in body["grids"]}

        assert counts("reported") == {f"{WEST}001": 2, f"{WEST}002": 1}
        assert counts("current") == {f"{WEST}001": 1, f"{WEST}002": 1, f"{WEST}003": 1}


def test_county_index_agrees_with_one_plan_index() -> None:
    """Over random points, the county's answer equals each township's own index's."""
    from geogrid.locate import CountyIndex, GridIndex

    west, east = township(WEST, 0, split=3), township(EAST, 4, split=2)
    parts = {WEST: GridIndex.from_plan(west), EAST: GridIndex.from_plan(east)}
    county = CountyIndex(parts)
    rng = np.random.default_rng(7)
    x = OX + rng.uniform(-2, 10, 5000) * DX
    y = OY + rng.uniform(-0.5, 1.5, 5000) * DY
    found = county.locate(x, y)
    inside_west = (x < OX + 4 * DX) & (y >= OY) & (y <= OY + DY) & (x >= OX)
    own = parts[WEST].locate(x[inside_west], y[inside_west])
    assert found.grid_codes()[inside_west].tolist() == own.grid_codes().tolist()
    assert set(found.status[~np.isfinite(x)]) <= {"invalid"}
    outside = found.status == "outside"
    assert outside.any() and all(code is not None for code in found.nearest_codes()[outside])


def test_cli_dates_activations_and_registers_jurisdictions(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from geogrid.cli import app
    from geogrid.io import write_plan

    monkeypatch.setenv("GEOGRID_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("GEOGRID_DATABASE_URL", raising=False)
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    for code, x0 in ((WEST, 0), (EAST, 4)):
        write_plan(township(code, x0), tmp_path / f"{code}.gpkg")
        run("store", "save", str(tmp_path / f"{code}.gpkg"), "--by", "张三")
        run("store", "approve", f"{code}镇网格", "1", "--by", "李四")
    dated = run("store", "activate", f"{WEST}镇网格", "1", "--by", "李四", "--from", "2025-06-01")
    assert "in force from 2025-06-01 00:00" in " ".join(dated.split())
    run("store", "activate", f"{EAST}镇网格", "1", "--by", "李四")
    run("store", "jurisdiction", "add", COUNTY, "汝阳县", "--level", "县")
    run("store", "jurisdiction", "add", WEST, "城关镇", "--parent", COUNTY)
    listed = run("store", "jurisdiction", "list")
    assert f"{WEST}  城关镇  乡镇  in {COUNTY}  — {WEST}镇网格 v1" in listed
    assert f"{COUNTY}  汝阳县  县  — no plan in force" in listed
    bad = runner.invoke(app, ["store", "activate", f"{WEST}镇网格", "1", "--from", "昨天"])
    assert bad.exit_code != 0 and "not a date" in bad.output
    with open_store() as store:  # the embedded store in GEOGRID_DATA_DIR
        assert [i.jurisdiction for i in store.in_force()] == [WEST, EAST]


def test_the_service_picks_up_a_scheduled_staff_change_when_it_comes_into_force(
    store: PlanStore,
) -> None:
    publish(store, township(WEST, 0), at=T0)
    source = PlanSource(store, check_seconds=0)
    code = f"{WEST}001"
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.5)
    store.staff().replace(code, [{"role": "head", "name": "赵敏"}], caller=ADMIN, effective=soon)
    assert [p["name"] for p in source.get().staff[code]] == ["王芳1"]
    time.sleep(max(0.0, (soon - dt.datetime.now(dt.UTC)).total_seconds()) + 0.1)
    assert [p["name"] for p in source.get().staff[code]] == ["赵敏"]


def test_the_registry_refuses_unknown_parents_and_cycles(store: PlanStore) -> None:
    from geogrid.errors import NotFoundError

    with pytest.raises(NotFoundError, match="parent '4103' .* is not registered"):
        store.register_jurisdiction(COUNTY, "汝阳县", parent="4103")
    store.register_jurisdiction(COUNTY, "汝阳县", level_name="县")
    store.register_jurisdiction(WEST, "城关镇", parent=COUNTY)
    with pytest.raises(JurisdictionConflictError, match="cannot also be its parent"):
        store.register_jurisdiction(COUNTY, "汝阳县", parent=WEST)
    assert [(j.code, j.parent_code) for j in store.jurisdictions()] == [
        (COUNTY, None),
        (WEST, COUNTY),
    ]
