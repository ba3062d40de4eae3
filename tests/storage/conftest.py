"""Storage test fixtures: a real SQLite file per test, and a real PostgreSQL cluster for the
session (skipped, with the reason, only when no PostgreSQL binaries are installed)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_twisted

from rosey.storage import schema
from rosey.storage.sql import SQLStorage
from tests.storage.pg import PostgresCluster, find_bindir

ENGINES = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster | None]:
    bindir = find_bindir()
    if bindir is None:
        yield None
        return
    cluster = PostgresCluster(bindir)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


def _need_pg(cluster: PostgresCluster | None) -> PostgresCluster:
    if cluster is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) installed")
    return cluster


@pytest.fixture
def pg(pg_cluster: PostgresCluster | None) -> PostgresCluster:
    """The session's PostgreSQL cluster (skips the test without PostgreSQL)."""
    return _need_pg(pg_cluster)


@pytest.fixture(params=ENGINES)
def db_url(request: pytest.FixtureRequest, tmp_path, pg_cluster) -> Iterator[str]:
    """An empty database: a SQLite file in tmp_path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'rosey.sqlite'}"
        return
    cluster = _need_pg(pg_cluster)
    name = cluster.create_database()
    try:
        yield cluster.url(name)
    finally:
        cluster.drop_database(name)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'rosey.sqlite'}"


@pytest_twisted.async_yield_fixture()
async def storage(db_url: str) -> AsyncIterator[SQLStorage]:
    """A connected SQLStorage on a migrated database (both engines)."""
    from twisted.internet import reactor

    schema.upgrade(db_url)
    s = SQLStorage(db_url, reactor)
    await s.connect()
    yield s
    await s.close()
