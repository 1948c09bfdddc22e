"""Shared fixtures: plan stores on both backends (embedded GeoPackage and PostGIS).

PostGIS tests use the database ``geogrid_test`` on the server of the one harness,
``tests/_pg.py`` (which says how to point it elsewhere and fails under ``CI=true`` when
PostGIS is missing). Every test gets its own schema, first on the ``search_path``, dropped
afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings

from geogrid.store import PlanStore, open_store
from tests._pg import admin_engine, ensure_database, in_ci

TEST_DATABASE = "geogrid_test"

# Property tests: no per-example deadline (a 2-core CI machine is noisy); under CI the examples
# are derived from the test itself, so a CI failure reproduces exactly.
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "ci", parent=settings.get_profile("dev"), derandomize=True, print_blob=True
)
settings.load_profile("ci" if in_ci() else "dev")


@pytest.fixture(scope="session")
def postgis_database() -> sa.URL:
    """URL of the test database ``geogrid_test`` with PostGIS enabled."""
    return ensure_database(TEST_DATABASE, postgis=True)


@pytest.fixture
def postgis_url(postgis_database: sa.URL) -> Iterator[str]:
    """A store URL on a fresh, empty schema of ``geogrid_test`` (dropped after the test)."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    engine = admin_engine(postgis_database.database)
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
    url = ensure_database(f"{TEST_DATABASE}_plain", postgis=False)
    engine = admin_engine(url.database)
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
