"""Shared fixtures: plan stores on both backends (embedded GeoPackage and PostGIS).

PostGIS tests use the database ``geogrid_test`` on the server given by
``GEOGRID_TEST_POSTGRES_URL`` (a SQLAlchemy URL of an administrative database, used to create
``geogrid_test`` when missing) or else ``GEOGRID_TEST_PG`` (a libpq DSN, as ``tests/_pg.py``
reads it; default ``host=127.0.0.1 port=5432 user=postgres``). Every test gets its own schema, first
on the ``search_path``, dropped afterwards. Under ``CI=true`` a missing server or PostGIS
fails the tests; elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from psycopg.conninfo import conninfo_to_dict

from geogrid.store import PlanStore, open_store

TEST_DATABASE = "geogrid_test"

# Property tests: no per-example deadline (a 2-core CI machine is noisy); under CI the examples
# are derived from the test itself, so a CI failure reproduces exactly.
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "ci", parent=settings.get_profile("dev"), derandomize=True, print_blob=True
)
settings.load_profile(
    "ci" if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes") else "dev"
)


def _admin_url() -> sa.URL:
    """The server's administrative database, from GEOGRID_TEST_POSTGRES_URL or GEOGRID_TEST_PG."""
    url = os.environ.get("GEOGRID_TEST_POSTGRES_URL")
    if url:
        return sa.engine.make_url(url)
    dsn = os.environ.get("GEOGRID_TEST_PG", "host=127.0.0.1 port=5432 user=postgres")
    parts = conninfo_to_dict(dsn)
    port = parts.get("port")
    return sa.URL.create(
        "postgresql+psycopg",
        username=str(parts.get("user") or "postgres"),
        password=None if parts.get("password") is None else str(parts["password"]),
        host=str(parts.get("host") or "127.0.0.1"),
        port=None if port is None else int(port),
        database="postgres",
    )


ADMIN_URL = _admin_url().render_as_string(hide_password=False)


def in_ci() -> bool:
    """Whether the tests run under CI (``CI=true``), where PostGIS must be present."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def postgis_unavailable(reason: str) -> None:
    """Fail under CI, skip elsewhere, with ``reason``."""
    if in_ci():
        pytest.fail(f"PostGIS tests cannot run (CI=true, so this fails): {reason}", pytrace=False)
    pytest.skip(f"PostGIS unavailable: {reason} (set CI=true to make this a failure)")


def _admin_engine(database: str | None = None) -> sa.Engine:
    url = sa.engine.make_url(ADMIN_URL)
    if database is not None:
        url = url.set(database=database)
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})


def _ensure_database(name: str, *, postgis: bool) -> sa.URL:
    """Create database ``name`` if missing (with PostGIS when asked); return its URL."""
    admin = _admin_engine()
    try:
        with admin.connect() as connection:
            exists = connection.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).scalar()
            if not exists:
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.SQLAlchemyError as exc:
        postgis_unavailable(f"cannot reach PostgreSQL at {ADMIN_URL}: {exc.__cause__ or exc}")
    finally:
        admin.dispose()
    if postgis:
        engine = _admin_engine(name)
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
        except sa.exc.SQLAlchemyError as exc:
            postgis_unavailable(
                f"cannot enable PostGIS in {name!r} ({exc.__cause__ or exc}); install "
                "postgresql-15-postgis-3 (or your server's PostGIS package)"
            )
        finally:
            engine.dispose()
    return sa.engine.make_url(ADMIN_URL).set(database=name)


@pytest.fixture(scope="session")
def postgis_database() -> sa.URL:
    """URL of the test database ``geogrid_test`` with PostGIS enabled."""
    return _ensure_database(TEST_DATABASE, postgis=True)


@pytest.fixture
def postgis_url(postgis_database: sa.URL) -> Iterator[str]:
    """A store URL on a fresh, empty schema of ``geogrid_test`` (dropped after the test)."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    engine = _admin_engine(postgis_database.database)
    with engine.connect() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = postgis_database.update_query_dict({"options": f"-csearch_path={schema},public"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        engine.dispose()


@pytest.fixture
def no_postgis_url() -> str:
    """URL of a database without PostGIS (``geogrid_test_plain``)."""
    url = _ensure_database(f"{TEST_DATABASE}_plain", postgis=False)
    engine = _admin_engine(url.database)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("DROP EXTENSION IF EXISTS postgis CASCADE")
    finally:
        engine.dispose()
    return url.render_as_string(hide_password=False)


@pytest.fixture
def gpkg_path(tmp_path: Path) -> Path:
    """Path of a not-yet-existing embedded store file."""
    return tmp_path / "plans.gpkg"


@pytest.fixture(
    params=[
        pytest.param("geopackage", id="geopackage"),
        pytest.param("postgis", id="postgis", marks=pytest.mark.postgis),
    ]
)
def store_url(request: pytest.FixtureRequest, gpkg_path: Path) -> str:
    """A fresh store URL on each backend."""
    if request.param == "geopackage":
        return f"sqlite:///{gpkg_path}"
    return str(request.getfixturevalue("postgis_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[PlanStore]:
    """An open, empty store on each backend."""
    with open_store(store_url) as opened:
        yield opened
