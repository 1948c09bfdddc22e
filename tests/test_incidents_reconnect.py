"""A keyed report whose connection dies inside its transaction is retried, stored once.

What a PostgreSQL restart does to an in-flight report (``bench/bench_api.py`` restarts the
server under load); here only this store's own server process is terminated, at a chosen
statement, so the test is quick and leaves the server and other sessions alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from geogrid.access import Caller, Role
from geogrid.errors import StoreError
from geogrid.incidents import IncidentReport, Placement
from geogrid.store import PlanStore, open_store
from geogrid.store import schema as tables

pytestmark = pytest.mark.postgis

APP = Caller("居民上报App", Role.REPORTER, key_id=7)
REPORT = IncidentReport("environment", "楼道堆放杂物", 116.3061, 40.0013, "gcj02")
WHERE = Placement(116.3, 39.9999, ("110108001", "110108001001"))


@contextmanager
def dies_at(store: PlanStore, url: str, statement: str, times: int = 1) -> Iterator[list[int]]:
    """Terminate the store's server process when it is about to run ``statement``."""
    killed: list[int] = []
    killer = sa.create_engine(url)

    def before(conn, cursor, sql, parameters, context, executemany) -> None:
        if len(killed) < times and sql.lstrip().upper().startswith(statement):
            pid = conn.connection.dbapi_connection.info.backend_pid
            with killer.connect() as admin:
                admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            killed.append(pid)

    sa.event.listen(store._engine, "before_cursor_execute", before)
    try:
        yield killed
    finally:
        sa.event.remove(store._engine, "before_cursor_execute", before)
        killer.dispose()


def count(store: PlanStore, table: sa.Table) -> int:
    with store._engine.connect() as connection:
        return int(connection.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


@pytest.mark.parametrize("statement", ["INSERT INTO INCIDENT_EVENTS", "UPDATE IDEMPOTENCY_KEYS"])
def test_connection_lost_mid_report_is_retried_and_stored_once(
    postgis_url: str, statement: str
) -> None:
    with open_store(postgis_url) as store:
        incidents = store.incidents()
        with dies_at(store, postgis_url, statement) as killed:
            created = incidents.create_incident(REPORT, WHERE, caller=APP, idempotency_key="k1")
        assert len(killed) == 1
        assert not created.replayed  # the first attempt was rolled back with its connection
        again = incidents.create_incident(REPORT, WHERE, caller=APP, idempotency_key="k1")
        assert again.replayed and again.incident.id == created.incident.id
        assert count(store, tables.incidents) == 1
        assert count(store, tables.idempotency_keys) == 1


def test_unkeyed_report_is_not_retried_blindly(postgis_url: str) -> None:
    with open_store(postgis_url) as store:
        with dies_at(store, postgis_url, "INSERT INTO INCIDENT_EVENTS"), pytest.raises(StoreError):
            store.incidents().create_incident(REPORT, WHERE, caller=APP)
        assert count(store, tables.incidents) == 0
