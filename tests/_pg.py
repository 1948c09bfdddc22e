"""The one PostGIS test harness: the server, scratch databases and schemas, CI's rule.

The server is given by ``GEOGRID_TEST_POSTGRES_URL`` (a SQLAlchemy URL of an administrative
database) or else ``GEOGRID_TEST_PG`` (a libpq DSN; default
``host=127.0.0.1 port=5432 user=postgres``). Two kinds of throw-away PostGIS storage:

- :func:`ensure_database` + a schema per test (``tests/conftest.py``'s ``postgis_url``): cheap,
  for the store tests;
- :func:`scratch_database`: a whole database, for services and tools that connect on their own.

Under ``CI=true`` a missing server or PostGIS *fails* the tests (:func:`postgis_unavailable`);
elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from psycopg.conninfo import conninfo_to_dict, make_conninfo

__all__ = [
    "ADMIN_URL",
    "admin_engine",
    "ensure_database",
    "in_ci",
    "postgis_unavailable",
    "scratch_database",
    "url_of",
]


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


def admin_engine(database: str | None = None) -> sa.Engine:
    """An autocommit engine on the server's administrative database (or ``database``)."""
    url = sa.engine.make_url(ADMIN_URL)
    if database is not None:
        url = url.set(database=database)
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})


def _run(database: str | None, statement: str, *, what: str) -> None:
    engine = admin_engine(database)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(statement)
    except sa.exc.SQLAlchemyError as exc:
        postgis_unavailable(f"{what} on {ADMIN_URL}: {exc.__cause__ or exc}")
    finally:
        engine.dispose()


def ensure_database(name: str, *, postgis: bool) -> sa.URL:
    """Create database ``name`` if missing (with PostGIS when asked); return its URL."""
    engine = admin_engine()
    try:
        with engine.connect() as connection:
            exists = connection.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).scalar()
            if not exists:
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.SQLAlchemyError as exc:
        postgis_unavailable(f"cannot reach PostgreSQL at {ADMIN_URL}: {exc.__cause__ or exc}")
    finally:
        engine.dispose()
    if postgis:
        _run(
            name,
            "CREATE EXTENSION IF NOT EXISTS postgis",
            what=f"cannot enable PostGIS in {name!r} (install postgresql-15-postgis-3)",
        )
    return sa.engine.make_url(ADMIN_URL).set(database=name)


def url_of(dsn: str) -> str:
    """SQLAlchemy URL of a scratch database DSN from :func:`scratch_database`."""
    name = conninfo_to_dict(dsn)["dbname"]
    return (
        sa.engine.make_url(ADMIN_URL).set(database=str(name)).render_as_string(hide_password=False)
    )


@contextmanager
def scratch_database() -> Iterator[str]:
    """Create a throw-away database with PostGIS; yield its libpq DSN; drop it afterwards."""
    name = f"geogrid_test_{uuid.uuid4().hex[:12]}"
    url = ensure_database(name, postgis=True)
    dsn = make_conninfo(
        host=url.host or "127.0.0.1",
        port=str(url.port or 5432),
        user=url.username or "postgres",
        dbname=name,
        **({"password": url.password} if url.password else {}),
    )
    try:
        yield dsn
    finally:
        _run(None, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', what=f"cannot drop {name}")
