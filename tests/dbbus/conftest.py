"""Fixtures for the database service's tests: both engines (tests/storage's), a real
nats-server (tests/bus's)."""

import pytest

from rosey.storage import schema
from tests.bus.conftest import logged, nats_server
from tests.storage.conftest import db_url, pg, pg_cluster, sqlite_url

__all__ = ["db_url", "logged", "nats_server", "pg", "pg_cluster", "sqlite_url"]


@pytest.fixture
def migrated_url(db_url: str) -> str:
    """``db_url`` (SQLite or PostgreSQL) migrated to rosey's head: the request/reply tests
    need the tables; the write side's tests want the empty database the service migrates."""
    schema.upgrade(db_url)
    return db_url
