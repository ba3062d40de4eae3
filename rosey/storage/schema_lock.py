"""One migration at a time per database, across processes.

Two rosey processes starting on one fresh database would otherwise both create the tables, and
on PostgreSQL one of them fails half-way ("relation already exists"). :func:`migration_lock`
serialises them: PostgreSQL takes the session advisory lock :data:`LOCK_KEY` on a connection of
its own, held for the duration; a SQLite file takes an OS file lock (``flock``) on
``<database file>.migrate.lock`` beside the database (the lock file is left in place: removing
it would race with the next process opening it). An in-memory SQLite database needs none.

A process that finds the lock taken says so once (``notify``), waits until it is free, then
runs: by then the other process has usually migrated the database and this one finds nothing to
do. After ``wait`` seconds it gives up with a :class:`SchemaError`.

The lock is reentrant within a process: rosey's upgrade and the plugins' each take it, and a
caller may hold it around both.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from rosey.storage.engine import make_oneshot_engine, normalize_url, safe_url
from rosey.storage.errors import SchemaError, StorageError

#: The PostgreSQL advisory lock key: the first 8 bytes of sha256("rosey-migrations"), signed.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"rosey-migrations").digest()[:8], "big", signed=True)

#: Seconds to wait for another process's migration before giving up: under systemd's default
#: start timeout (90 s, ``Type=notify``), so rosey says why it stops instead of being killed,
#: and ``Restart=on-failure`` tries again.
DEFAULT_WAIT = 60.0

#: Seconds between two tries of a SQLite file lock (``flock`` has no timeout of its own).
POLL = 0.05

#: Lock identity -> how many times this process holds it.
_held: dict[str, int] = {}


def _say(line: str) -> None:
    sys.stderr.write(f"rosey: {line}\n")
    sys.stderr.flush()


@contextmanager
def migration_lock(
    url: str | URL, *, wait: float = DEFAULT_WAIT, notify: Callable[[str], None] = _say
) -> Iterator[None]:
    """Hold the migration lock of the database at ``url`` (see the module docstring)."""
    parsed = normalize_url(url)
    key = safe_url(parsed)
    if _held.get(key):
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    if parsed.get_backend_name() == "sqlite":
        lock = _sqlite_lock(parsed, wait, notify)
    elif parsed.get_backend_name() == "postgresql":
        lock = _pg_lock(parsed, wait, notify)
    else:
        lock = _no_lock()
    with lock:
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]


def lock_path(url: URL) -> Path | None:
    """The lock file of a SQLite database file, or None (in memory)."""
    database = url.database or ""
    if database in ("", ":memory:") or "mode=memory" in str(url.query):
        return None
    path = Path(database)
    return path.with_name(path.name + ".migrate.lock")


def _waiting(url: URL, wait: float) -> str:
    return f"waiting for another rosey to finish migrating {safe_url(url)} (up to {wait:g} s)"


def _gave_up(url: URL, wait: float) -> SchemaError:
    return SchemaError(
        f"another process has been migrating {safe_url(url)} for over {wait:g} s: "
        "gave up waiting (is a `rosey db upgrade` or another rosey stuck?)"
    )


@contextmanager
def _no_lock() -> Iterator[None]:
    yield


@contextmanager
def _sqlite_lock(url: URL, wait: float, notify: Callable[[str], None]) -> Iterator[None]:
    path = lock_path(url)
    if path is None:
        yield
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as e:
        raise StorageError(f"cannot open the migration lock {path}: {e.strerror}") from None
    try:
        if not _try_flock(fd):
            notify(_waiting(url, wait))
            deadline = time.monotonic() + wait
            while not _try_flock(fd):
                if time.monotonic() >= deadline:
                    raise _gave_up(url, wait)
                time.sleep(POLL)  # a blocking process before the reactor: nothing else to run
        yield
    finally:
        os.close(fd)  # releases the lock


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextmanager
def _pg_lock(url: URL, wait: float, notify: Callable[[str], None]) -> Iterator[None]:
    engine = make_oneshot_engine(url)
    try:
        conn = _pg_acquire(engine, url, wait, notify)
        try:
            yield
        finally:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                conn.close()
            except SQLAlchemyError:
                pass  # the connection is gone, and the lock went with it
    finally:
        engine.dispose()


def _pg_acquire(engine: Engine, url: URL, wait: float, notify: Callable[[str], None]) -> Connection:
    """A connection of its own holding the advisory lock."""
    args = {"k": LOCK_KEY}
    try:
        # Autocommit: the session lock outlives transactions, and this connection must not sit
        # idle in one for the whole migration.
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), args).scalar():
                notify(_waiting(url, wait))
                conn.exec_driver_sql(f"SET lock_timeout = {max(1, int(wait * 1000))}")
                conn.execute(text("SELECT pg_advisory_lock(:k)"), args)
                conn.exec_driver_sql("SET lock_timeout = 0")
        except BaseException:
            conn.close()
            raise
    except SQLAlchemyError as e:
        if getattr(getattr(e, "orig", None), "sqlstate", None) == "55P03":  # lock_not_available
            raise _gave_up(url, wait) from None
        detail = str(getattr(e, "orig", None) or e).strip().splitlines()
        raise StorageError(
            f"database {safe_url(url)}: {detail[0] if detail else type(e).__name__}"
        ) from e
    return conn
