"""Transactions and clock shared by the incident and access repositories."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geogrid.store.database import translate_errors, writing

__all__ = ["now_ms", "reading", "to_ms", "write_transaction"]


@contextmanager
def write_transaction(engine: Engine, action: str) -> Iterator[sa.Connection]:
    """A write transaction: committed on success, rolled back (nothing written) on error."""
    with translate_errors(engine, action), writing(engine) as connection:
        yield connection


@contextmanager
def reading(engine: Engine, action: str) -> Iterator[sa.Connection]:
    """A read-only connection; driver errors become :class:`~geogrid.errors.StoreError`."""
    with translate_errors(engine, action), engine.connect() as connection:
        yield connection


def to_ms(value: dt.datetime) -> dt.datetime:
    """``value`` in UTC, truncated to milliseconds (the precision of the store)."""
    value = value.astimezone(dt.UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def now_ms() -> dt.datetime:
    """Now, in UTC, to the millisecond."""
    return to_ms(dt.datetime.now(dt.UTC))
