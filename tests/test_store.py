"""The plan store on both backends: round trip, versions, state machine, atomicity, formats."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from shapely.geometry import MultiPolygon, Polygon, box

from geogrid.errors import (
    ConfigurationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    StoreError,
    StoreUnavailableError,
    VersionStateError,
)
from geogrid.plan import GridPlan
from geogrid.settings import Settings
from geogrid.store import PlanStore, VersionStatus, open_store, sort_plan
from geogrid.store.database import MIGRATIONS, alembic_config, create_engine, upgrade
from geogrid.store.gpkg import register_functions, shape_to_gpkg
from geogrid.testing import assert_plans_equal

TOLERANCE = 1e-7  # degrees

# -- plans -------------------------------------------------------------------------------------


def make_plan(name: str = "清华园街道网格 2026", *, units: bool = True) -> GridPlan:
    """A 2-level plan around 116.3E 40.0N: one community, three grids, staff and units."""
    community = box(116.300000123, 39.990000456, 116.330000789, 40.010000321)
    west = box(116.300000123, 39.990000456, 116.310000001, 40.010000321)
    middle = box(116.310000001, 39.990000456, 116.320000002, 40.010000321)
    east_outer = Polygon(
        [
            (116.320000002, 39.990000456),
            (116.330000789, 39.990000456),
            (116.330000789, 40.010000321),
            (116.320000002, 40.010000321),
        ],
        holes=[[(116.324, 39.999), (116.326, 39.999), (116.326, 40.001), (116.324, 40.001)]],
    )
    east = MultiPolygon([east_outer, box(116.3245, 39.9995, 116.3255, 40.0005)])
    grids = gpd.GeoDataFrame(
        {
            "code": ["110108001", "110108001002", "110108001001", "110108001003"],
            "name": ["清华园社区", "第二网格", "第一网格", "学校专属网格"],
            "level": [1, 2, 2, 2],
            "parent_code": [None, "110108001", "110108001", "110108001"],
            "kind": ["urban", "urban", "urban", "special"],
            "subtype": [None, None, None, "school"],
            "priority": ["normal", "key", "normal", "normal"],
            "households": [900, 323, 410, None],
            "residents": [2500, 871, None, 12],
            "shops": [None, 4, 0, None],
            "key_persons": [3, 1, 2, 0],
            "valid_from": ["2026-01-01", "2026-01-01", None, "2026-03-01"],
            "valid_to": [None, None, None, "2027-12-31"],
        },
        geometry=[community, middle, west, east],
        crs=4490,
    )
    staff = pd.DataFrame(
        {
            "grid_code": ["110108001001", "110108001001", "110108001002", "110108001003"],
            "role": ["head", "part_time", "full_time", "head"],
            "name": ["王芳", "李强", "张伟", "赵敏"],
            "phone": ["13800000001", None, "13800000003", "13800000004"],
        }
    )
    unit_table = None
    if units:
        unit_table = gpd.GeoDataFrame(
            {
                "unit_id": ["B-02", "B-01", "C-01"],
                "name": ["2号楼", "1号楼", None],
                "kind": ["building", "building", "courtyard"],
                "households": [48, None, 13],
                "grid_code": ["110108001001", "110108001001", "110108001002"],
                "locked": [False, True, False],
            },
            geometry=[
                box(116.301, 39.991, 116.302, 39.992),
                box(116.303, 39.993, 116.304, 39.994),
                box(116.311, 39.991, 116.313, 39.993),
            ],
            crs=4490,
        )
    return GridPlan(name, ["社区", "网格"], grids, staff, unit_table, attribution="© 示例测绘")


def assert_same_plan(actual: GridPlan, expected: GridPlan) -> None:
    """Equal as saved (geogrid.testing), and in the store's row order with a RangeIndex."""
    assert_plans_equal(actual, expected, tolerance=TOLERANCE)
    assert actual.grids.crs == expected.grids.crs and actual.units.crs == expected.units.crs
    ordered = sort_plan(actual)
    for table in ("grids", "staff", "units"):
        pd.testing.assert_frame_equal(getattr(actual, table), getattr(ordered, table))


# -- round trip --------------------------------------------------------------------------------


def test_round_trip_keeps_everything(store: PlanStore) -> None:
    plan = make_plan()
    info = store.save(plan, by="张三", note="first draft")
    assert (info.plan, info.version, info.status) == (plan.name, 1, VersionStatus.DRAFT)
    assert info.created_by == "张三" and info.note == "first draft"
    assert info.created_at.tzinfo is not None
    got = store.get(plan.name)
    assert got.version == 1
    assert_same_plan(got, plan)
    assert got.grids["code"].tolist() == [
        "110108001",
        "110108001001",
        "110108001002",
        "110108001003",
    ]
    assert got.grids["residents"].isna().tolist() == [False, True, False, False]


def test_round_trip_without_units(store: PlanStore) -> None:
    plan = make_plan(units=False)
    store.save(plan, by="张三")
    got = store.get(plan.name, 1)
    assert len(got.units) == 0
    assert_same_plan(got, plan)


def test_round_trip_empty_geometry(store: PlanStore) -> None:
    plan = make_plan(units=False)
    plan.grids.loc[3, "geometry"] = MultiPolygon()
    store.save(plan, by="张三")
    got = store.get(plan.name)
    assert got.grids.geometry.is_empty.tolist() == [False, False, False, True]
    assert_same_plan(got, plan)


def test_second_save_keeps_first_version(store: PlanStore) -> None:
    first = make_plan()
    store.save(first, by="张三")
    second = make_plan()
    second.grids.loc[1, "households"] = 999
    info = store.save(second, by="李四")
    assert info.version == 2
    assert [v.version for v in store.versions(first.name)] == [1, 2]
    assert_same_plan(store.get(first.name, 1), first)
    assert_same_plan(store.get(first.name), second)
    store.save(make_plan("另一个街道"), by="张三")
    assert store.plans() == sorted([first.name, "另一个街道"])
    assert len(store.versions()) == 3


def test_get_missing_says_what_exists(store: PlanStore) -> None:
    with pytest.raises(NotFoundError, match="none yet"):
        store.get("nope")
    store.save(make_plan("甲"), by="张三")
    with pytest.raises(NotFoundError, match="has no version 7; it has 1"):
        store.get("甲", 7)
    with pytest.raises(NotFoundError, match="'甲'"):
        store.get("乙")


def test_used_codes_remember_every_code(store: PlanStore) -> None:
    plan = make_plan()
    store.save(plan, by="张三")
    renumbered = make_plan()
    renumbered.grids.loc[3, "code"] = "110108001004"
    renumbered.staff.loc[3, "grid_code"] = "110108001004"
    store.save(renumbered, by="张三")
    assert store.used_codes() == {
        "110108001",
        "110108001001",
        "110108001002",
        "110108001003",
        "110108001004",
    }


# -- the version state machine -----------------------------------------------------------------


def test_activate_needs_approval(store: PlanStore) -> None:
    plan = make_plan()
    store.save(plan, by="张三")
    with pytest.raises(VersionStateError, match="approve it first"):
        store.activate(plan.name, 1, by="李四")
    assert store.active() is None
    info = store.approve(plan.name, 1, by="李四")
    assert (info.status, info.approved_by) == (VersionStatus.APPROVED, "李四")
    with pytest.raises(VersionStateError, match="already approved"):
        store.approve(plan.name, 1, by="李四")
    info = store.activate(plan.name, 1, by="王五")
    assert (info.status, info.activated_by) == (VersionStatus.ACTIVE, "王五")
    assert_same_plan(store.active(), plan)


def test_second_activation_retires_the_first(store: PlanStore) -> None:
    plan = make_plan()
    other = make_plan("另一个街道")
    for p in (plan, other):
        store.save(p, by="张三")
        store.approve(p.name, 1, by="李四")
    first = store.activate(plan.name, 1, by="王五")
    second = store.activate(other.name, 1, by="王五")
    retired = store.versions(plan.name)[0]
    assert retired.status is VersionStatus.RETIRED
    assert retired.deactivated_at == second.activated_at
    assert store.active_info() == second
    assert [v.status for v in store.versions()].count(VersionStatus.ACTIVE) == 1
    with pytest.raises(VersionStateError, match="retired"):
        store.activate(plan.name, 1, by="王五")

    assert first.activated_at is not None and second.activated_at is not None
    before = first.activated_at - dt.timedelta(microseconds=1)
    between = first.activated_at + (second.activated_at - first.activated_at) / 2
    assert store.active(at=before) is None
    assert store.active_info(at=first.activated_at).plan == plan.name  # type: ignore[union-attr]
    assert store.active_info(at=between).plan == plan.name  # type: ignore[union-attr]
    assert store.active_info(at=second.activated_at).plan == other.name  # type: ignore[union-attr]
    assert store.active(at=dt.datetime.now(dt.UTC)).name == other.name  # type: ignore[union-attr]


def test_state_changes_need_a_known_version_and_a_user(store: PlanStore) -> None:
    store.save(make_plan("甲"), by="张三")
    with pytest.raises(NotFoundError):
        store.approve("甲", 2, by="李四")
    with pytest.raises(InvalidInputError, match="by="):
        store.approve("甲", 1, by=" ")


# -- atomicity ---------------------------------------------------------------------------------


def test_failed_save_writes_nothing(store: PlanStore) -> None:
    plan = make_plan()
    plan.units.loc[2, "unit_id"] = "B-01"  # duplicate: fails after grids and staff went in
    with pytest.raises(ConflictError, match="nothing was written"):
        store.save(plan, by="张三")
    assert store.versions() == []
    assert store.plans() == []
    assert store.used_codes() == set()
    store.save(make_plan(), by="张三")
    assert [v.version for v in store.versions()] == [1]


def test_failed_save_leaves_geopackage_index_clean(gpkg_path: Path) -> None:
    with open_store(f"sqlite:///{gpkg_path}") as store:
        plan = make_plan()
        plan.units.loc[2, "unit_id"] = "B-01"
        with pytest.raises(ConflictError):
            store.save(plan, by="张三")
    with sqlite3.connect(gpkg_path) as connection:
        for table in ("grids", "units", "rtree_grids_geom", "rtree_units_geom", "staff"):
            assert connection.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)


# -- formats -----------------------------------------------------------------------------------


def test_embedded_file_is_a_geopackage(gpkg_path: Path) -> None:
    plan = make_plan()
    with open_store(f"sqlite:///{gpkg_path}") as store:
        store.save(plan, by="张三")
    with sqlite3.connect(gpkg_path) as connection:
        assert connection.execute("PRAGMA application_id").fetchone() == (0x47504B47,)
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        contents = dict(connection.execute("SELECT table_name, data_type FROM gpkg_contents"))
        assert contents["grids"] == contents["units"] == "features"
        assert contents["plan_versions"] == "attributes"
        columns = connection.execute(
            "SELECT table_name, column_name, geometry_type_name, srs_id FROM gpkg_geometry_columns"
        ).fetchall()
        assert sorted(columns) == [
            ("grids", "geom", "MULTIPOLYGON", 4490),
            ("units", "geom", "MULTIPOLYGON", 4490),
        ]
        srs = connection.execute(
            "SELECT organization, organization_coordsys_id FROM gpkg_spatial_ref_sys "
            "WHERE srs_id = 4490"
        ).fetchone()
        assert srs == ("EPSG", 4490)
        extensions = connection.execute(
            "SELECT table_name FROM gpkg_extensions WHERE extension_name = 'gpkg_rtree_index'"
        ).fetchall()
        assert sorted(extensions) == [("grids",), ("units",)]
        rtree = connection.execute(
            "SELECT count(*) FROM rtree_grids_geom WHERE minx <= 116.305 AND maxx >= 116.305 "
            "AND miny <= 40.0 AND maxy >= 40.0"
        ).fetchone()
        assert rtree == (2,)  # the community and the west grid
        extent = connection.execute(
            "SELECT min_x, max_y FROM gpkg_contents WHERE table_name = 'grids'"
        ).fetchone()
        assert extent == pytest.approx((116.300000123, 40.010000321))

    layers = {name for name, _ in pyogrio.list_layers(gpkg_path)}
    assert {"grids", "units", "staff", "plan_versions"} <= layers
    read = pyogrio.read_dataframe(gpkg_path, layer="grids")
    assert read.crs.to_epsg() == 4490
    read = read.sort_values(["level", "code"]).reset_index(drop=True)
    expected = sort_plan(plan).grids
    assert read["code"].tolist() == expected["code"].tolist()
    same = shapely.equals_exact(
        read.geometry.to_numpy(), expected.geometry.to_numpy(), tolerance=TOLERANCE
    )
    assert bool(np.all(same))


def test_rtree_triggers_of_a_gdal_file_run_with_registered_functions(tmp_path: Path) -> None:
    path = tmp_path / "gdal.gpkg"
    frame = gpd.GeoDataFrame(
        {"name": ["a"]}, geometry=[MultiPolygon([box(116.3, 40.0, 116.31, 40.01)])], crs=4490
    )
    pyogrio.write_dataframe(frame, path, layer="blocks", driver="GPKG")
    blob = shape_to_gpkg(MultiPolygon([box(116.32, 40.0, 116.33, 40.01)]), 4490)
    with sqlite3.connect(path) as connection:
        geometry_column = connection.execute(
            "SELECT column_name FROM gpkg_geometry_columns WHERE table_name = 'blocks'"
        ).fetchone()[0]
        insert = f"INSERT INTO blocks (name, {geometry_column}) VALUES (?, ?)"
        with pytest.raises(sqlite3.OperationalError, match="ST_"):
            connection.execute(insert, ("b", blob))
        register_functions(connection)
        connection.execute(insert, ("b", blob))
        bounds = connection.execute(
            f"SELECT minx, maxx FROM rtree_blocks_{geometry_column} ORDER BY id"
        ).fetchall()
    assert bounds[1] == pytest.approx((116.32, 116.33), abs=1e-4)  # rtree stores float32
    read = pyogrio.read_dataframe(path, layer="blocks")
    assert read.geometry.iloc[1].equals(MultiPolygon([box(116.32, 40.0, 116.33, 40.01)]))


@pytest.mark.postgis
def test_postgis_columns_are_typed_and_indexed(postgis_url: str) -> None:
    with open_store(postgis_url) as store:
        assert store.backend == "postgis"
    engine = sa.create_engine(postgis_url)
    try:
        with engine.connect() as connection:
            columns = connection.execute(
                sa.text(
                    "SELECT f_table_name, f_geometry_column, type, srid FROM geometry_columns "
                    "WHERE f_table_schema = current_schema() "
                    "ORDER BY f_table_name, f_geometry_column"
                )
            ).all()
            assert [tuple(c) for c in columns] == [
                ("generalised_grids", "geom", "MULTIPOLYGON", 3857),  # per zoom band, for tiles
                ("generalised_grids", "pixels", "MULTIPOLYGON", 0),  # tile pixels (0012)
                ("generalised_grids", "pixels_out", "MULTIPOLYGON", 0),  # one zoom out (0014)
                ("grids", "geom", "MULTIPOLYGON", 4490),
                ("units", "geom", "MULTIPOLYGON", 4490),
            ]
            methods = connection.execute(
                sa.text(
                    "SELECT t.relname, am.amname FROM pg_index ix "
                    "JOIN pg_class i ON i.oid = ix.indexrelid "
                    "JOIN pg_class t ON t.oid = ix.indrelid "
                    "JOIN pg_am am ON am.oid = i.relam "
                    "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(ix.indkey) "
                    "WHERE t.relnamespace = current_schema()::regnamespace AND a.attname = 'geom' "
                    "ORDER BY t.relname"
                )
            ).all()
            bands = [("generalised_grids", "gist")] * 4  # one partial index per zoom band
            assert [tuple(m) for m in methods] == [*bands, ("grids", "gist"), ("units", "gist")]
    finally:
        engine.dispose()


def test_only_one_active_version_in_the_database(store_url: str) -> None:
    with open_store(store_url) as store:
        for name in ("甲", "乙"):
            store.save(make_plan(name), by="张三")
            store.approve(name, 1, by="李四")
        store.activate("甲", 1, by="王五")
    engine = create_engine(store_url)
    try:
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE plan_versions SET status = 'active' WHERE plan_name = '乙'")
            )
    finally:
        engine.dispose()


def test_migrations_are_idempotent(store_url: str) -> None:
    with open_store(store_url) as store:
        store.save(make_plan(), by="张三")
    engine = create_engine(store_url)
    try:
        upgrade(engine)
        upgrade(engine)
        with engine.connect() as connection:
            heads = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
        assert [tuple(h) for h in heads] == [(head,)]
    finally:
        engine.dispose()
    with open_store(store_url) as store:
        assert [v.version for v in store.versions()] == [1]


def test_schema_matches_migrations(store_url: str) -> None:
    with open_store(store_url):
        pass
    engine = create_engine(store_url)
    try:
        with engine.connect() as connection:
            command.check(alembic_config(connection))  # raises when autogenerate finds a diff
    finally:
        engine.dispose()


# -- errors and settings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "not a database URL"),
        ("mysql://u@h/db", "unsupported database 'mysql'"),
        ("postgresql+asyncpg://u@h/db", "postgresql\\+psycopg"),
        ("sqlite://", "needs a file"),
        ("sqlite:////no/such/dir/plans.gpkg", "does not exist"),
    ],
)
def test_bad_urls_say_what_to_give(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        open_store(url)


def test_server_down_says_start_it() -> None:
    with pytest.raises(StoreUnavailableError, match="start the server"):
        open_store("postgresql+psycopg://postgres@127.0.0.1:1/geogrid")


def test_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA application_id = 42")
        connection.execute("CREATE TABLE t (x)")
    connection.close()
    with pytest.raises(StoreError, match="another application"):
        open_store(f"sqlite:///{path}")


def test_exported_geopackage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "export.gpkg"
    make_plan().grids.to_file(path, layer="grids", driver="GPKG")
    with pytest.raises(StoreError, match="not made by the geogrid store"):
        open_store(f"sqlite:///{path}")


@pytest.mark.postgis
def test_missing_postgis_says_create_extension(no_postgis_url: str) -> None:
    with pytest.raises(ConfigurationError, match="CREATE EXTENSION postgis"):
        open_store(no_postgis_url)


def test_settings_default_to_the_embedded_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GEOGRID_DATABASE_URL", raising=False)
    monkeypatch.setenv("GEOGRID_DATA_DIR", str(tmp_path / "data"))
    settings = Settings()
    assert settings.database_url is None
    assert settings.store_url == f"sqlite:///{tmp_path / 'data' / 'geogrid.gpkg'}"
    assert (tmp_path / "data").is_dir()
    with open_store(settings=settings) as store:
        assert store.backend == "geopackage"
    monkeypatch.setenv("GEOGRID_DATABASE_URL", "postgresql+psycopg://u@h/db")
    assert Settings().store_url == "postgresql+psycopg://u@h/db"


def test_open_store_reads_settings_when_called(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GEOGRID_DATABASE_URL", raising=False)
    monkeypatch.setenv("GEOGRID_DATA_DIR", str(tmp_path))
    with open_store() as store:
        store.save(make_plan(), by="张三")
    assert (tmp_path / "geogrid.gpkg").exists()


def test_racing_activations_are_serialised(store: PlanStore) -> None:
    """Two versions activated at once: both succeed in turn, exactly one ends active."""
    for _ in range(2):
        info = store.save(make_plan(), by="张三")
        store.approve(info.plan, info.version, by="李四")
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def activate(version: int) -> None:
        barrier.wait()
        try:
            outcomes.append(store.activate(info.plan, version, by="李四").version)
        except Exception as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=activate, args=(v,)) for v in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes, key=str) == [1, 2], outcomes  # type: ignore[comparison-overlap]
    statuses = sorted(v.status.value for v in store.versions(info.plan))
    assert statuses == ["active", "retired"]
