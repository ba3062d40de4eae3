"""Engines for SQLite and PostgreSQL, set up the way the storage layer relies on.

SQLite: WAL journal, a busy timeout, foreign keys on, ``synchronous=NORMAL`` (safe with WAL),
and the driver's own transaction handling switched off (``isolation_level = None``) so that a
``begin`` event can emit ``BEGIN IMMEDIATE``: DDL then runs inside transactions, and a writer
takes the write lock up front instead of failing half-way on a lock upgrade.
PostgreSQL: the psycopg 3 driver, ``pool_pre_ping`` so connections killed by a server restart
are replaced.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.engine import create_engine as sa_create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from rosey.storage.errors import StorageError

DEFAULT_URL = "sqlite:///rosey.sqlite"
ENV_URL = "ROSEY_DATABASE_URL"


def normalize_url(url: str | URL) -> URL:
    """Parse ``url``; a bare ``postgresql://`` URL gets the psycopg (v3) driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def is_sqlite(url_or_engine: str | URL | Engine | Connection) -> bool:
    """True for a SQLite URL or engine."""
    if isinstance(url_or_engine, (Engine, Connection)):
        return url_or_engine.dialect.name == "sqlite"
    return normalize_url(url_or_engine).get_backend_name() == "sqlite"


_SECRET_QUERY_WORDS = ("pass", "secret", "token", "key")


def safe_url(url: str | URL) -> str:
    """The URL with any password hidden, for messages and logs."""
    return _hidden(normalize_url(url))


def masked_url(url: str) -> str | None:
    """``url`` as written (no driver added) with its password and any password-like query
    parameter shown as ``***``, or None if it does not parse as a database URL."""
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None
    return _hidden(parsed)


def _hidden(parsed: URL) -> str:
    secret_keys = [k for k in parsed.query if any(w in k.lower() for w in _SECRET_QUERY_WORDS)]
    if secret_keys:
        parsed = parsed.update_query_dict(dict.fromkeys(secret_keys, "***"))
    masked: str = parsed.render_as_string(hide_password=True)
    return masked.replace("%2A%2A%2A", "***")


def make_engine(url: str | URL, *, busy_timeout: float = 5.0, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with rosey's connection settings.

    ``busy_timeout`` (seconds) is how long SQLite waits for another writer's lock before failing
    with "database is locked" (which the pool then retries). Extra ``kwargs`` go to
    :func:`sqlalchemy.create_engine`.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or "mode=memory" in str(parsed.query):
            # One in-memory database per connection would silently lose data across threads.
            raise ValueError("an in-memory SQLite database cannot be shared: use a file")
        engine = sa_create_engine(parsed, **kwargs)
        _setup_sqlite(engine, busy_timeout)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if parsed.get_backend_name() == "postgresql":
        _require_psycopg(parsed)
        kwargs.setdefault("connect_args", {}).setdefault("connect_timeout", 5)
    return sa_create_engine(parsed, **kwargs)


def _require_psycopg(url: URL) -> None:
    """An optional dependency: say which extra installs it, not ``No module named 'psycopg'``."""
    if url.get_driver_name() != "psycopg":
        return
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise StorageError(
            "a postgresql:// database needs the psycopg driver: pip install 'rosey[postgresql]'"
        ) from None


def make_oneshot_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for blocking one-off work (migrations, CLI): no pooled connections kept."""
    return make_engine(url, poolclass=NullPool, **kwargs)


def _setup_sqlite(engine: Engine, busy_timeout: float) -> None:
    ms = max(0, int(busy_timeout * 1000))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        # Leave transaction control to the "begin" listener below.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {ms}")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.execute("PRAGMA foreign_keys = ON")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def is_transient(exc: BaseException) -> bool:
    """True if ``exc`` is a failure that retrying later may cure.

    That is every driver ``OperationalError``/``InterfaceError`` (a locked or full SQLite
    database, a missing table an operator can migrate, a PostgreSQL server that is down or
    restarting) and every connection SQLAlchemy found invalidated. Data errors (a value the
    database refuses) are not transient: retrying the same data cannot help.
    """
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig if exc.orig is not None else exc
    return any(cls.__name__ in ("OperationalError", "InterfaceError") for cls in type(exc).__mro__)
