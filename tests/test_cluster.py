"""geogrid.cluster on a real LocalCluster of two worker processes: the single-process answers."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import dask_geopandas
import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from shapely.geometry import Point, box
from typer.testing import CliRunner

from geogrid import io
from geogrid.cli import app
from geogrid.cluster import client_for, locate_parquet, partition_on_cluster
from geogrid.cluster.locate import _files
from geogrid.cluster.parts import Texts, _wkb_points, located_table
from geogrid.cluster.synthetic import synthetic_areas
from geogrid.errors import InvalidInputError
from geogrid.locate import CountyIndex, GridIndex, locate_frame
from geogrid.locate.build import joined_state, level_state
from geogrid.locate.index import plan_arrays
from geogrid.partition import partition_areas
from geogrid.plan import GridPlan, plan_digest
from geogrid.samples import load_sample
from geogrid.store import open_store

HAIDIAN = Path(__file__).resolve().parents[1] / "data" / "boundaries" / "haidian"


@pytest.fixture(scope="module")
def client():
    with client_for("local:2", memory_limit="2GiB") as opened:
        opened.wait_for_workers(2, timeout=60)
        yield opened


@pytest.fixture(scope="module")
def haidian() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    areas = gpd.read_file(HAIDIAN / "area.geojson")
    homes = gpd.read_file(HAIDIAN / "households.gpkg", layer="buildings")
    roads = gpd.read_file(HAIDIAN / "roads.gpkg", layer="roads")
    return areas, homes, roads


def test_partition_on_two_workers_is_the_single_process_plan(client, haidian) -> None:
    areas, homes, roads = haidian
    options = {"band": (300, 500), "barriers": roads, "then_band": (20, 50), "seed": 3}
    alone, alone_report = partition_areas(areas, homes, **options)
    steps: list[tuple[int, int, str]] = []
    plan, report = partition_on_cluster(
        areas, homes, client=client, on_progress=lambda *a: steps.append(a), **options
    )
    assert plan_digest(plan) == plan_digest(alone)
    assert [a.code for a in report.areas] == list(areas["code"])
    assert [str(e) for e in report.exceptions] == [str(e) for e in alone_report.exceptions]
    assert report.failed == [] and len(report.timings) == 4
    assert steps[0][:2] == (0, 5) and steps[-1] == (5, 5, "完成")
    assert sorted(m for _, _, m in steps[1:5]) == sorted(f"{n}：完成" for n in areas["name"])


def test_a_failed_area_is_reported_and_the_others_kept(client, haidian) -> None:
    areas, homes, roads = haidian
    tiny = box(116.40, 40.05, 116.401, 40.051)  # two households: no 5 grids there
    areas_plus = pd.concat(
        [
            areas,
            gpd.GeoDataFrame(
                {"code": ["110108900009"], "name": ["小社区"]}, geometry=[tiny], crs=areas.crs
            ),
        ],
        ignore_index=True,
    )
    two = gpd.GeoDataFrame(
        {"households": [3, 4]},
        geometry=[Point(116.4002, 40.0502), Point(116.4007, 40.0507)],
        crs=4490,
    )
    homes_plus = pd.concat([homes, two.to_crs(homes.crs)], ignore_index=True)
    plan, report = partition_on_cluster(
        areas_plus, homes_plus, client=client, grids=5, barriers=roads, seed=1
    )
    [failed] = report.failed
    assert (failed.code, failed.name) == ("110108900009", "小社区")
    assert "cannot make 5 grids from 2 units" in failed.reason
    alone, _ = partition_areas(areas, homes, grids=5, barriers=roads, seed=1)
    assert plan_digest(plan) == plan_digest(alone)


def test_a_worker_killed_mid_run_loses_and_doubles_nothing(client) -> None:
    areas, homes, roads = synthetic_areas(6, 1200, np.random.default_rng(7))
    options = {"band": (300, 500), "barriers": roads, "then_band": (30, 60), "seed": 2}
    killed: list[str] = []

    def kill_a_busy_worker(done: int, total: int, message: str) -> None:
        busy = [w for w, tasks in client.processing().items() if tasks]
        if done >= 1 and not killed and busy:  # an area done: kill a worker busy with another
            pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
            killed.append(busy[0])
            os.kill(pid, signal.SIGKILL)  # the worker process dies at once, mid-task

    plan, report = partition_on_cluster(
        areas, homes, client=client, on_progress=kill_a_busy_worker, **options
    )
    assert killed and report.failed == []
    assert [a.code for a in report.areas] == list(areas["code"])
    alone, _ = partition_areas(areas, homes, **options)
    assert plan_digest(plan) == plan_digest(alone)
    assert plan.grids["code"].is_unique and len(plan.units) == len(alone.units)
    client.wait_for_workers(2, timeout=60)  # the nanny brings the worker back


def _points(plan, n: int, seed: int) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = plan.grids.total_bounds
    x = rng.uniform(x0 - 0.003, x1 + 0.003, n)
    y = rng.uniform(y0 - 0.003, y1 + 0.003, n)
    geometry = list(gpd.points_from_xy(x, y))
    geometry[5] = None  # no point: status invalid
    return gpd.GeoDataFrame({"id": np.arange(n)}, geometry=geometry, crs=4490)


def test_locate_parquet_is_the_in_process_locate(client, tmp_path) -> None:
    plan = load_sample("haidian")
    points = _points(plan, 40_000, 1)
    dask_geopandas.from_geopandas(points, npartitions=4).to_parquet(tmp_path / "points")
    summary = locate_parquet(plan, tmp_path / "points", tmp_path / "out", client)
    assert (summary.points, summary.parts, summary.invalid) == (40_000, 4, 1)
    got = gpd.read_parquet(tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir())[0] == "part.00000.parquet"
    want = locate_frame(GridIndex.from_plan(plan), points)
    columns = [c for c in want.columns if c != "geometry"]
    pd.testing.assert_frame_equal(
        got[columns].reset_index(drop=True), want[columns].reset_index(drop=True)
    )
    assert got.geometry.equals(want.geometry)
    assert (summary.inside, summary.outside) == tuple(
        int((want["status"] == s).sum()) for s in ("inside", "outside")
    )
    inside = got[got["status"] == "inside"]
    staff = plan.staff_by_grid()
    first = inside.iloc[0]
    assert json.loads(first["staff"]) == staff.get(first["grid_code"], [])
    assert got.loc[got["status"] != "inside", "staff"].isna().all()


def test_locate_parquet_with_a_worker_killed_mid_run(client, tmp_path) -> None:
    """The restarted worker gets the plans again (plugin) and the rerun part replaces its file."""
    plan = load_sample("haidian")
    points = _points(plan, 80_000, 3)
    dask_geopandas.from_geopandas(points, npartitions=8).to_parquet(tmp_path / "points")
    killed: list[str] = []

    def kill_a_busy_worker(done: int, total: int, message: str) -> None:
        busy = [w for w, tasks in client.processing().items() if tasks]
        if done >= 1 and not killed and busy:
            pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
            killed.append(busy[0])
            os.kill(pid, signal.SIGKILL)

    summary = locate_parquet(
        plan, tmp_path / "points", tmp_path / "out", client, on_progress=kill_a_busy_worker
    )
    assert killed and (summary.points, summary.parts) == (80_000, 8)
    assert len(list((tmp_path / "out").glob("part.*.parquet"))) == 8
    got = gpd.read_parquet(tmp_path / "out")
    want = locate_frame(GridIndex.from_plan(plan), points)
    assert got["id"].tolist() == list(range(80_000))
    assert got["grid_code"].reset_index(drop=True).equals(want["grid_code"].reset_index(drop=True))
    client.wait_for_workers(2, timeout=60)


def test_cli_on_a_running_scheduler_and_the_store(client, haidian, tmp_path) -> None:
    """``--scheduler ADDRESS`` (the test cluster's) for partition, ``--store`` for locate."""
    address = client.scheduler.address
    runner = CliRunner()
    area, homes = str(HAIDIAN / "area.geojson"), f"{HAIDIAN / 'households.gpkg'}:buildings"
    args = ["partition", area, "--households", homes, "--band", "300-500", "--seed", "4"]
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "p.gpkg"), "--scheduler", address])
    assert result.exit_code == 0, result.output
    alone, _ = partition_areas(haidian[0], haidian[1], band=(300, 500), seed=4, name="p")
    assert plan_digest(io.read_plan(tmp_path / "p.gpkg")) == plan_digest(alone)

    url = f"sqlite:///{tmp_path / 'store.gpkg'}"
    plan = load_sample("haidian")
    with open_store(url) as store:
        store.save(plan, by="张三")
        store.approve(plan.name, 1, by="李四")
        store.activate(plan.name, 1, by="王五")
    points = _points(plan, 5_000, 2).iloc[6:]  # no invalid row: the table has lon/lat
    table = pd.DataFrame({"id": points["id"], "lon": points.geometry.x, "lat": points.geometry.y})
    table.to_parquet(tmp_path / "table.parquet")
    out = tmp_path / "located.parquet"
    args = ["locate", "--store", url, str(tmp_path / "table.parquet"), "-o", str(out)]
    result = runner.invoke(app, [*args, "--scheduler", address])
    assert result.exit_code == 0, result.output
    got = pd.read_parquet(out)
    want = locate_frame(GridIndex.from_plan(plan), table)
    pd.testing.assert_series_equal(
        got["grid_code"].reset_index(drop=True), want["grid_code"].reset_index(drop=True)
    )
    result = runner.invoke(
        app,
        [
            "partition",
            area,
            "--households",
            homes,
            "--grids-total",
            "9",
            "-o",
            str(tmp_path / "q.gpkg"),
            "--scheduler",
            address,
        ],
    )
    assert result.exit_code != 0 and "drop --scheduler" in result.output


def test_scheduler_spelling_is_checked() -> None:
    with pytest.raises(InvalidInputError, match="local:N"):
        client_for("nowhere")


def test_relocate_rewrites_the_history_to_todays_grids(client, haidian, store_url) -> None:
    """After a redraw, relocated statistics as reported equal those grouped by today's grids.

    On PostGIS the figures as reported are grouped by PostgreSQL from the rewritten columns.
    """
    import datetime as dt

    from geogrid.access import Caller
    from geogrid.cluster.relocate import relocate_incidents
    from geogrid.incidents.simulate import simulate_year

    areas, homes, roads = haidian
    url = store_url
    first = load_sample("haidian")
    redrawn, _ = partition_areas(areas, homes, band=(200, 350), barriers=roads, seed=9)
    redrawn.name = first.name
    admin = Caller.local("县管理员")
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with open_store(url) as store:
        store.save(first, by="张三")
        store.approve(first.name, 1, by="李四")
        store.activate(first.name, 1, by="王五")
        simulate_year(store, incidents=300, closed_share=0.9, start=now, seed=1, days=60)
        store.save(redrawn, by="张三")
        store.approve(first.name, 2, by="李四")
        store.activate(first.name, 2, by="王五")
        incidents = store.incidents()
        index = GridIndex.from_plan(store.get(first.name, 2))

        def current(lon: np.ndarray, lat: np.ndarray) -> list[tuple[str, ...]]:
            return index.locate(lon, lat, nearest=False).lineages()

        later = now + dt.timedelta(days=120)
        today = incidents.stats(caller=admin, now=later, relocate=current)
        assert incidents.stats(caller=admin, now=later) != today  # reported to the old grids
        summary = relocate_incidents(store, client, batch=100)
        assert (summary.incidents, summary.batches) == (300, 3)
        assert 0 < summary.changed <= 300
        assert incidents.stats(caller=admin, now=later) == today
    args = ["incidents", "relocate", "--store", url, "--scheduler", client.scheduler.address]
    result = CliRunner().invoke(app, args)  # nothing left to move
    assert result.exit_code == 0, result.output
    assert "300 incidents re-located in 1 batches: 0 moved" in result.output


def test_a_partition_job_runs_on_the_operators_cluster(client, haidian, monkeypatch) -> None:
    from geogrid.errors import InvalidInputError
    from geogrid.io import plan_from_bytes
    from geogrid.jobs import run_job_inline

    files = {name: HAIDIAN / f for name, f in
             (("area", "area.geojson"), ("households", "households.gpkg"),
              ("barriers", "roads.gpkg"))}  # fmt: skip
    params = {"band": "300-500", "seed": 3, "cluster": True}
    monkeypatch.delenv("GEOGRID_DASK_SCHEDULER", raising=False)
    with pytest.raises(InvalidInputError, match="GEOGRID_DASK_SCHEDULER"):
        run_job_inline("partition", params, files=files)
    monkeypatch.setenv("GEOGRID_DASK_SCHEDULER", client.scheduler.address)
    steps: list[tuple[int, int, str]] = []
    output = run_job_inline("partition", params, files=files, progress=lambda *a: steps.append(a))
    areas, homes, roads = haidian
    alone, _ = partition_areas(areas, homes, band=(300, 500), barriers=roads, seed=3)
    assert plan_digest(plan_from_bytes(output.plan)) == plan_digest(alone)
    assert output.result["grids"] == 23 and output.result["households"] == 9395
    assert steps[-1][0] == steps[-1][1] and any("完成" in m for _, _, m in steps)


def test_locate_at_report_times_answers_with_the_plans_and_staff_then(
    client, haidian, store_url, tmp_path
) -> None:
    """Each point in the versions and staff in force at its own time: ``/locate?at=`` per point."""
    import datetime as dt

    from geogrid.access import Caller
    from geogrid.cluster.history import locator_for

    areas, homes, roads = haidian
    first = load_sample("haidian")
    redrawn, _ = partition_areas(areas, homes, band=(200, 350), barriers=roads, seed=9)
    redrawn.name = first.name
    utc = dt.UTC
    start, changed, redrawn_from = (
        dt.datetime(2025, 1, 1, tzinfo=utc),
        dt.datetime(2025, 3, 1, tzinfo=utc),
        dt.datetime(2025, 6, 1, tzinfo=utc),
    )
    head = {"role": "head", "name": "新网格长", "phone": "13800138000"}
    code = str(first.grids.loc[first.grids["level"] == first.grids["level"].max(), "code"].iloc[0])
    points = _points(first, 4_000, 5).iloc[6:].reset_index(drop=True)
    points.loc[:5, "geometry"] = gpd.GeoSeries(  # six points in the grid whose head changes
        [first.grids.loc[first.grids["code"] == code].representative_point().iloc[0]] * 6,
        crs=4490,
    ).to_numpy()
    times = np.array(
        [
            "2024-12-01T00:00:00Z",
            "2025-02-01T08:00:00Z",
            changed.isoformat(),
            "2025-04-01T08:00:00+08:00",
            "2025-07-01T08:00:00Z",
            "not a time",
        ],
        dtype=object,
    )
    points["reported_at"] = times[np.arange(len(points)) % len(times)]
    dask_geopandas.from_geopandas(points, npartitions=3).to_parquet(tmp_path / "points")
    with open_store(store_url) as store:
        store.save(first, by="张三")
        store.approve(first.name, 1, by="李四")
        store.activate(first.name, 1, by="王五", valid_from=start)
        store.staff().replace(code, [head], caller=Caller.local("王五"), effective=changed)
        store.save(redrawn, by="张三")
        store.approve(first.name, 2, by="李四")
        store.activate(first.name, 2, by="王五", valid_from=redrawn_from)
        summary = locate_parquet(
            store, tmp_path / "points", tmp_path / "out", client, at="reported_at"
        )
        got = gpd.read_parquet(tmp_path / "out").set_index("id")
        assert summary.points == len(points)

        for when, group in points.groupby("reported_at"):
            mine = got.loc[group["id"]]
            instant = pd.to_datetime(when, utc=True, errors="coerce")
            if pd.isna(instant) or not store.in_force(instant.to_pydatetime()):
                assert (mine["status"] == "invalid").all() and mine["grid_code"].isna().all()
                reason = "no valid report time" if pd.isna(instant) else "no plan version"
                assert mine["reason"].str.startswith(reason).all()
                continue
            infos = store.in_force(instant.to_pydatetime())
            plans = {
                i.jurisdiction: store.get(i.plan, i.version, at=instant.to_pydatetime())
                for i in infos
            }
            want = locate_frame(locator_for(plans), group).set_index("id")
            for column in ("level1_code", "grid_code", "status", "nearest_code"):
                assert mine[column].astype(object).equals(want[column].astype(object)), column
            staff = {c: s for p in plans.values() for c, s in p.staff_by_grid().items()}
            expected = [
                json.dumps(staff[c], ensure_ascii=False) if isinstance(c, str) else None
                for c in want["grid_code"].astype(object)
            ]
            assert [None if pd.isna(s) else s for s in mine["staff"]] == expected
            assert mine["reason"].isna().all()

    runner, out = CliRunner(), tmp_path / "cli"
    args = ["locate", "--store", store_url, str(tmp_path / "points"), "-o", str(out)]
    result = runner.invoke(app, [*args, "--scheduler", client.scheduler.address])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app, [*args, "--scheduler", client.scheduler.address, "--at-column", "reported_at"]
    )
    assert result.exit_code == 0, result.output
    cli = gpd.read_parquet(out).set_index("id")
    assert cli["grid_code"].astype(object).equals(got["grid_code"].astype(object))
    result = runner.invoke(app, ["locate", "haidian", str(tmp_path / "points"), "--at-column", "t"])
    assert result.exit_code != 0 and "--at-column needs --store" in result.output

    changed_grid = got.loc[got["grid_code"] == code]
    heads = {
        str(t)[:10]: json.loads(s)[0]["name"] if json.loads(s) else None
        for t, s in zip(changed_grid["reported_at"], changed_grid["staff"], strict=True)
    }
    assert heads["2025-03-01"] == heads["2025-04-01"] == "新网格长"  # from the change on
    assert heads["2025-02-01"] != "新网格长"  # before it


# ---------------------------------------------- batch location in Arrow, index by level


@pytest.fixture(scope="module")
def plan():
    return load_sample("haidian")


@pytest.fixture(scope="module")
def index(plan):
    return GridIndex.from_plan(plan)


def _odd_points(plan, n: int, seed: int) -> gpd.GeoDataFrame:
    """:func:`_points` plus an empty point and a text column with nulls."""
    frame = _points(plan, n, seed)
    frame.loc[4, "geometry"] = Point()  # an empty point: invalid
    frame["name"] = [f"事件{i}" if i % 3 else None for i in range(n)]
    return frame


def _write_parts(points: gpd.GeoDataFrame, folder, parts: int) -> None:
    """``parts`` GeoParquet files named as dask names them: part.0 … part.N."""
    folder.mkdir()
    bounds = np.linspace(0, len(points), parts + 1).astype(int)
    for n in range(parts):
        points.iloc[bounds[n] : bounds[n + 1]].to_parquet(folder / f"part.{n}.parquet")


def _with_staff(located: pd.DataFrame, plan) -> pd.DataFrame:
    """``locate_frame`` plus the staff column as the cluster path adds it."""
    staff = {c: json.dumps(p, ensure_ascii=False) for c, p in plan.staff_by_grid().items()}
    codes = located["grid_code"].astype(object)
    people = codes.map(staff)
    people = people.where(people.notna() | codes.isna(), "[]")
    located["staff"] = pd.array(people.where(codes.notna(), None), dtype="string")
    return located


def test_a_part_located_in_arrow_reads_back_as_locate_frame(plan, index, tmp_path) -> None:
    points = _odd_points(plan, 3_000, 1)
    points.to_parquet(tmp_path / "in.parquet")
    table = pq.read_table(tmp_path / "in.parquet")
    staff = {c: json.dumps(p, ensure_ascii=False) for c, p in plan.staff_by_grid().items()}
    found = located_table(
        table,
        index,
        Texts.of(index, staff),
        crs=None,
        lon="lon",
        lat="lat",
        staff=True,
        chunk_size=1_000,
    )
    assert found is not None
    pq.write_table(found[0], tmp_path / "out.parquet")
    got = gpd.read_parquet(tmp_path / "out.parquet")
    want = _with_staff(locate_frame(index, points, chunk_size=1_000), plan)
    pd.testing.assert_frame_equal(got, want)
    assert (got["status"].iloc[4], got["status"].iloc[5]) == ("invalid", "invalid")
    assert (got["status"] == "outside").any() and got["distance_m"].notna().any()


def test_wkb_points_read_from_the_bytes_and_refuse_the_rest() -> None:
    wkb = shapely.to_wkb(
        np.array([Point(1.5, 2.5), None, Point(), Point(-3.25, 4.0)], dtype=object)
    )
    column = pa.chunked_array([pa.array(list(wkb), type=pa.binary())])
    x, y = _wkb_points(column)
    np.testing.assert_array_equal(x, [1.5, np.nan, np.nan, -3.25])
    np.testing.assert_array_equal(y, [2.5, np.nan, np.nan, 4.0])
    sliced = pa.chunked_array([pa.array(list(wkb), type=pa.large_binary()).slice(1)])
    np.testing.assert_array_equal(_wkb_points(sliced)[0], [np.nan, np.nan, -3.25])
    for other in (
        shapely.to_wkb(np.array([Point(1, 2, 3)], dtype=object)),  # 3-d
        shapely.to_wkb(np.array([Point(1, 2)], dtype=object), byte_order=0),  # big-endian
        shapely.to_wkb(np.array([shapely.box(0, 0, 1, 1)], dtype=object)),  # a polygon
    ):
        assert _wkb_points(pa.chunked_array([pa.array(list(other))])) is None


def test_parts_arrow_does_not_cover_are_located_through_pandas(
    client, plan, index, tmp_path
) -> None:
    """Text coordinates and a column named like an output go through pandas, same answers."""
    rng = np.random.default_rng(4)
    x0, y0, x1, y1 = plan.grids.total_bounds
    lon, lat = rng.uniform(x0, x1, 500), rng.uniform(y0, y1, 500)
    numeric = pd.DataFrame({"id": np.arange(500), "lon": lon, "lat": lat})
    text = numeric.assign(lon=numeric["lon"].map(repr), lat=numeric["lat"].map(repr))
    text.loc[7, "lon"] = "不详"  # not a number: invalid
    clash = numeric.assign(status="已受理")
    for name, table, arrow in (("numeric", numeric, 1), ("text", text, 0), ("clash", clash, 0)):
        table.to_parquet(tmp_path / f"{name}.parquet")
        summary = locate_parquet(
            plan, tmp_path / f"{name}.parquet", tmp_path / name, client, staff=False
        )
        assert (summary.parts, summary.arrow_parts) == (1, arrow), name
        got = pd.read_parquet(tmp_path / name / "part.00000.parquet")
        if name != "clash":
            pd.testing.assert_frame_equal(got, locate_frame(index, table))
        else:  # pandas overwrote the input's status column in place, as locate_frame does
            want = locate_frame(index, table)
            pd.testing.assert_series_equal(got["grid_code"], want["grid_code"])
    assert pd.read_parquet(tmp_path / "text" / "part.00000.parquet")["status"][7] == "invalid"


def test_parts_are_taken_in_natural_order(client, plan, tmp_path) -> None:
    points = _odd_points(plan, 1_200, 5)
    _write_parts(points, tmp_path / "points", 12)
    files = _files(tmp_path / "points")
    assert files is not None and [f.name for f in files][9:12] == [
        "part.9.parquet",
        "part.10.parquet",
        "part.11.parquet",
    ]
    summary = locate_parquet(plan, tmp_path / "points", tmp_path / "out", client)
    assert (summary.parts, summary.arrow_parts, summary.points) == (12, 12, 1_200)
    got = gpd.read_parquet(tmp_path / "out")
    assert got["id"].tolist() == list(range(1_200))
    assert summary.phases["build"] > 0 and summary.task_seconds > 0


@pytest.mark.parametrize("cells", [6_000_000, 20_000])
def test_an_index_joined_from_its_levels_is_the_index(plan, index, cells) -> None:
    """Each level built alone (in any process), joined: the same state, the same answers."""
    arrays = plan_arrays(plan)
    rows = [
        level_state(GridIndex._linked(*arrays), row, max_cells=cells)  # each on its own
        for row in range(len(index.levels))
    ]
    codes, levels, geometries, parents = arrays
    joined = GridIndex.from_state(codes, levels, geometries, joined_state(rows))
    built = GridIndex(codes, levels, geometries, parents=parents, max_cells=cells)
    for mine, theirs in zip(joined._levels, built._levels, strict=True):
        assert len(mine.tiers) == len(theirs.tiers)
        for a, b in zip(mine.tiers, theirs.tiers, strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(mine.leaf_polys, theirs.leaf_polys)
    assert joined._up.keys() == built._up.keys()
    rng = np.random.default_rng(2)
    x0, y0, x1, y1 = plan.grids.total_bounds
    x, y = rng.uniform(x0 - 0.01, x1 + 0.01, 20_000), rng.uniform(y0 - 0.01, y1 + 0.01, 20_000)
    a, b, c = joined.locate(x, y), built.locate(x, y), index.locate(x, y)
    np.testing.assert_array_equal(a.grid, b.grid)
    np.testing.assert_array_equal(a.grid, c.grid)  # any raster: the same answers
    np.testing.assert_array_equal(a.nearest, c.nearest)


def test_a_county_of_plans_is_located_in_arrow(client, plan, tmp_path) -> None:
    """Several jurisdictions: each plan's levels built as tasks, joined into a CountyIndex."""
    grids = plan.grids
    tops = sorted(grids.loc[grids["level"] == 1, "code"])
    first = grids["code"].str.startswith(tops[0])
    plans = {
        "甲": GridPlan(plan.name, plan.levels, grids[first].copy()),
        "乙": GridPlan(plan.name + "乙", plan.levels, grids[~first].copy()),
    }
    points = _odd_points(plan, 4_000, 6)
    _write_parts(points, tmp_path / "points", 3)
    summary = locate_parquet(plans, tmp_path / "points", tmp_path / "out", client, staff=False)
    assert summary.arrow_parts == 3
    county = CountyIndex({j: GridIndex.from_plan(p, lazy_nearest=True) for j, p in plans.items()})
    got = gpd.read_parquet(tmp_path / "out").reset_index(drop=True)
    want = locate_frame(county, points)
    columns = [c for c in want.columns if c != "geometry"]
    pd.testing.assert_frame_equal(got[columns], want[columns].reset_index(drop=True))


def test_hive_partitions_are_read_by_dask(client, plan, index, tmp_path) -> None:
    """A folder of key=value sub-folders is left to dask, which adds the key as a column."""
    points = _points(plan, 2_000, 8).iloc[6:].reset_index(drop=True)
    for year, rows in (("2024", slice(0, 900)), ("2025", slice(900, None))):
        (tmp_path / "points" / f"year={year}").mkdir(parents=True)
        points.iloc[rows].to_parquet(tmp_path / "points" / f"year={year}" / "part.0.parquet")
    assert _files(tmp_path / "points") is None
    summary = locate_parquet(plan, tmp_path / "points", tmp_path / "out", client, staff=False)
    assert (summary.points, summary.arrow_parts) == (len(points), 0)
    got = gpd.read_parquet(tmp_path / "out").sort_values("id").reset_index(drop=True)
    want = locate_frame(index, points)
    pd.testing.assert_series_equal(got["grid_code"], want["grid_code"])
    assert sorted(got["year"].astype(str).unique()) == ["2024", "2025"]
