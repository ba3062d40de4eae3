"""Fixtures for the database service's tests: both engines (tests/storage's), a real
nats-server (tests/bus's)."""

from tests.bus.conftest import logged, nats_server
from tests.storage.conftest import db_url, pg, pg_cluster, sqlite_url

__all__ = ["db_url", "logged", "nats_server", "pg", "pg_cluster", "sqlite_url"]
