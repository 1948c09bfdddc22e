"""A scratch PostGIS database for tests (fails instead of skipping under ``CI=true``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PG_DSN = os.environ.get("GEOGRID_TEST_PG", "host=127.0.0.1 port=5432 user=postgres")
PG_URL = os.environ.get("GEOGRID_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")


def url_of(dsn: str) -> str:
    """SQLAlchemy URL of a scratch database DSN from :func:`scratch_database`."""
    return f"{PG_URL}/{dsn.rsplit('dbname=', 1)[1]}"


def _unavailable(reason: str) -> None:
    message = f"PostGIS is not available ({reason}); start PostgreSQL with PostGIS on {PG_DSN}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def scratch_database() -> Iterator[str]:
    """Create a throw-away database with PostGIS; yield its DSN; drop it afterwards."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is a dependency
        _unavailable(str(exc))
        raise
    name = f"geogrid_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(f"{PG_DSN} dbname=postgres", autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        _unavailable(str(exc).strip())
        raise
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        dsn = f"{PG_DSN} dbname={name}"
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                try:
                    conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
                except psycopg.Error as exc:
                    _unavailable(f"CREATE EXTENSION postgis failed: {exc}".strip())
            yield dsn
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
