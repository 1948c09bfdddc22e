"""Open a store's database: check the URL, connect, check PostGIS, run pending migrations.

Every way a database can be missing or wrong ends here as a :class:`~geogrid.errors.StoreError`
whose message says what to do.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL, Engine

from geogrid.errors import (
    ConfigurationError,
    ConflictError,
    GeogridError,
    InvalidInputError,
    StoreError,
    StoreUnavailableError,
)
from geogrid.store.gpkg import register_functions

__all__ = [
    "MIGRATIONS",
    "WRITE",
    "alembic_config",
    "create_engine",
    "describe",
    "translate_errors",
    "upgrade",
    "writing",
]

MIGRATIONS = Path(__file__).parent / "migrations"
"""The Alembic script directory shipped inside the package."""

WRITE = "geogrid_write"
"""Execution option marking a transaction that writes (SQLite takes the write lock at BEGIN)."""

_GPKG_IDS = {0, 0x47504B47, 0x47503130, 0x47503131}  # unset, 'GPKG', 'GP10', 'GP11'
_EXAMPLES = "postgresql+psycopg://user@host:5432/dbname or sqlite:///path/to/plans.gpkg"


def create_engine(url: str) -> Engine:
    """An engine for ``url`` (PostgreSQL or a GeoPackage file), without connecting yet.

    ``postgresql://`` and ``postgres://`` URLs get the psycopg 3 driver. SQLite connections
    get the GeoPackage SQL functions, foreign keys and transactional DDL.
    """
    parsed = _parse(url)
    options: dict[str, Any] = {
        "json_serializer": lambda obj: json.dumps(obj, ensure_ascii=False),
    }
    if parsed.get_backend_name() == "postgresql":
        # pre-ping: a connection dropped by a server restart is replaced, not handed out
        engine = sa.create_engine(
            parsed, connect_args={"connect_timeout": 10}, pool_pre_ping=True, **options
        )
    else:
        _check_sqlite_path(parsed)
        engine = sa.create_engine(parsed, **options)
        _configure_sqlite(engine)
    return engine


def upgrade(engine: Engine) -> None:
    """Check the database and run every pending migration, in one transaction."""
    with translate_errors(engine, "open"), writing(engine) as connection:
        if engine.dialect.name == "postgresql":
            _check_postgis(connection, engine)
            # service workers starting together: one migrates, the others wait, then find head
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('geogrid.store'))")
        else:
            _check_sqlite_file(connection, engine)
        command.upgrade(alembic_config(connection), "head")
    if engine.dialect.name == "sqlite":
        _write_ahead(engine)


@contextmanager
def writing(engine: Engine) -> Iterator[sa.Connection]:
    """A connection in a write transaction: committed on success, rolled back on error."""
    with engine.connect().execution_options(**{WRITE: True}) as connection, connection.begin():
        yield connection


def alembic_config(connection: sa.Connection) -> Config:
    """An Alembic config for the shipped migrations that runs on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    return config


def describe(engine: Engine) -> str:
    """The engine's URL without its password, for messages."""
    return engine.url.render_as_string(hide_password=True)


@contextmanager
def translate_errors(engine: Engine, action: str) -> Iterator[None]:
    """Turn driver errors into geogrid errors with a hint; ``action`` names the step.

    A lost or refused connection is :class:`StoreUnavailableError` (retry), a broken unique
    or foreign key :class:`ConflictError`, a value the database cannot hold (a NUL character
    on PostgreSQL) :class:`InvalidInputError`, anything else :class:`StoreError`.
    """
    try:
        yield
    except GeogridError:
        raise
    except sa.exc.OperationalError as exc:
        raise StoreUnavailableError(_operational_hint(engine, action, exc)) from exc
    except sa.exc.IntegrityError as exc:
        raise ConflictError(_integrity_hint(engine, action, exc)) from exc
    except sa.exc.DataError as exc:
        raise InvalidInputError(
            f"cannot {action}: a value does not fit the store ({_first_line(exc)}); nothing "
            "was written"
        ) from exc
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise StoreUnavailableError(
                f"lost the connection to {describe(engine)} while trying to {action}: "
                f"{_first_line(exc)}; nothing was written, retry"
            ) from exc
        raise StoreError(
            f"cannot {action} in {describe(engine)}: {_first_line(exc)}; nothing was written"
        ) from exc


def _parse(url: str) -> URL:
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigurationError(f"{url!r} is not a database URL: give {_EXAMPLES}") from exc
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        elif parsed.get_driver_name() != "psycopg":
            raise ConfigurationError(
                f"the driver {parsed.get_driver_name()!r} is not supported: use "
                "postgresql+psycopg://... (psycopg 3 is installed with geogrid)"
            )
        return parsed
    if backend == "sqlite":
        return parsed
    raise ConfigurationError(
        f"unsupported database {backend!r} in {parsed.render_as_string(hide_password=True)!r}: "
        f"the store runs on PostgreSQL/PostGIS or a GeoPackage file; give {_EXAMPLES}"
    )


def _check_sqlite_path(url: URL) -> None:
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise ConfigurationError(
            "the embedded store needs a file: give sqlite:///path/to/plans.gpkg "
            "(an in-memory database would vanish with each connection)"
        )
    path = Path(url.database)
    if not path.parent.is_dir():
        raise ConfigurationError(
            f"the directory {str(path.parent)!r} of the store file does not exist: create it "
            "or set GEOGRID_DATA_DIR to a writable directory"
        )
    if path.exists() and path.is_dir():
        raise ConfigurationError(f"{str(path)!r} is a directory: give the path of a .gpkg file")


def _configure_sqlite(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself, below
        register_functions(dbapi_connection)
        dbapi_connection.execute("PRAGMA foreign_keys = ON")
        dbapi_connection.execute("PRAGMA cache_size = -65536")  # 64 MiB: large saves
        mode = dbapi_connection.execute("PRAGMA journal_mode").fetchone()
        if mode is not None and str(mode[0]).lower() == "wal":
            # a commit appends to the WAL without waiting for the disk (a workbench edit's
            # commit: ~30 ms → < 1 ms); a power cut may lose the last commits, never the file
            dbapi_connection.execute("PRAGMA synchronous = NORMAL")

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        writing = connection.get_execution_options().get(WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


def _write_ahead(engine: Engine) -> None:
    """Put a geogrid GeoPackage in write-ahead-log mode (kept in the file), once checked.

    Readers no longer wait for a writer, and with ``synchronous = NORMAL`` (set on each
    connection of a WAL file) a commit does not wait for the disk. The file then has
    ``-wal`` and ``-shm`` companions while it is open (folded back when the last connection
    closes): copy the store with the service stopped, or with ``sqlite3 … ".backup"``. A file
    another process holds stays in its mode; the pooled connections are renewed to take it.
    """
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        if driver is not None:
            driver.execute("PRAGMA journal_mode = WAL")
    except sqlite3.OperationalError:
        pass  # locked by another process: it stays as it is
    finally:
        raw.close()
    engine.dispose()


def _check_sqlite_file(connection: sa.Connection, engine: Engine) -> None:
    application_id = connection.exec_driver_sql("PRAGMA application_id").scalar()
    if application_id not in _GPKG_IDS:
        raise StoreError(
            f"{engine.url.database!r} is an SQLite database of another application "
            f"(application_id {application_id:#x}), not a GeoPackage: give a new .gpkg path"
        )
    tables = set(sa.inspect(connection).get_table_names())
    if "grids" in tables and "alembic_version" not in tables:
        raise StoreError(
            f"{engine.url.database!r} already has a 'grids' layer but was not made by the "
            "geogrid store (an exported plan?): read it with geogrid.io and save it into a "
            "store at another path"
        )


def _check_postgis(connection: sa.Connection, engine: Engine) -> None:
    installed = connection.exec_driver_sql(
        "SELECT extversion FROM pg_extension WHERE extname = 'postgis'"
    ).scalar()
    if installed is not None:
        return
    available = connection.exec_driver_sql(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'"
    ).scalar()
    database = engine.url.database
    if available:
        hint = f'run "CREATE EXTENSION postgis;" in database {database!r} as a superuser'
    else:
        hint = (
            "install PostGIS on the server (Debian/Ubuntu: apt install "
            'postgresql-15-postgis-3), then run "CREATE EXTENSION postgis;" '
            f"in database {database!r}"
        )
    raise ConfigurationError(f"PostGIS is not enabled in {describe(engine)}: {hint}")


def _operational_hint(engine: Engine, action: str, exc: sa.exc.OperationalError) -> str:
    where = describe(engine)
    reason = _first_line(exc)
    if engine.dialect.name == "postgresql":
        if "does not exist" in reason and "database" in reason:
            return (
                f"cannot {action} {where}: {reason}; create it with "
                f"`createdb {engine.url.database}` (then CREATE EXTENSION postgis)"
            )
        if "connect" in reason or "Connection refused" in reason or "timeout" in reason:
            return (
                f"cannot connect to PostgreSQL at {where}: {reason}; start the server "
                "(e.g. pg_ctlcluster 15 main start) or fix GEOGRID_DATABASE_URL"
            )
    if "locked" in reason:
        return f"cannot {action} {where}: the file is locked by another writer; try again"
    return f"cannot {action} {where}: {reason}"


def _integrity_hint(engine: Engine, action: str, exc: sa.exc.IntegrityError) -> str:
    reason = _first_line(exc)
    if "one_active" in reason or "plan_versions.status" in reason:
        advice = "another version was activated at the same moment; check store.active_info()"
    elif "plan_name" in reason and "version" in reason:
        advice = "another save of this plan ran at the same moment; save again"
    else:
        advice = "fix the plan (e.g. duplicate grid codes or unit ids) and save again"
    return f"cannot {action} in {describe(engine)}: {reason}; nothing was written — {advice}"


def _first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    return str(original).strip().splitlines()[0] if str(original).strip() else type(exc).__name__
