"""Engine settings: SQLite pragmas, transactional DDL, one writer thread; error triage."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError, OperationalError

from rosey.storage.engine import is_transient, make_engine, normalize_url, safe_url
from rosey.storage.sql import SQLStorage


def test_sqlite_settings(sqlite_url):
    engine = make_engine(sqlite_url, busy_timeout=2.5)
    with engine.connect() as conn:
        pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("busy_timeout") == 2500
        assert pragma("foreign_keys") == 1
        assert pragma("synchronous") == 1  # NORMAL
    engine.dispose()


def test_sqlite_ddl_is_transactional(sqlite_url):
    engine = make_engine(sqlite_url)
    # The error raised inside the transaction is what rolls it back.
    with pytest.raises(RuntimeError, match="roll back"), engine.begin() as conn:  # noqa: PT012
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        raise RuntimeError("roll back")
    assert "t" not in inspect(engine).get_table_names()
    engine.dispose()


def test_one_writer_thread_for_sqlite_more_for_postgresql(sqlite_url, pg):
    from twisted.internet import reactor

    assert SQLStorage(sqlite_url, reactor).pool.threads == 1
    assert SQLStorage(pg.url(), reactor).pool.threads > 1


def test_in_memory_sqlite_is_refused():
    with pytest.raises(ValueError, match="in-memory"):
        make_engine("sqlite://")


def test_urls():
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert "s3cret" not in safe_url("postgresql://u:s3cret@h/db")


def test_transient_errors():
    locked = OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
    refused = IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed"))
    assert is_transient(locked)
    assert not is_transient(refused)
    assert not is_transient(ValueError("no"))
