"""Blocking database work on a Twisted thread pool (adbapi-style, as in Buildbot and Synapse).

One pool per engine. SQLite gets exactly one thread: every read and write goes through the same
connection, so there is a single writer and no lock fights inside the process. PostgreSQL gets a
few threads. Functions run inside a transaction (commit on return, rollback on raise) and must
return plain data, never a live ``Result``.

Every interaction carries a name (as Synapse's ``runInteraction(desc, ...)``): a short constant
such as ``chat.get_recent_messages`` that says what the transaction is for. An optional observer,
``on_interaction(name, seconds)``, hears how long each transaction held the connection; the
daemon turns that into a histogram per name on ``/metrics`` (storage never imports the daemon).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy.engine import Connection, Engine, Result
from sqlalchemy.exc import SQLAlchemyError
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorCore, IReactorFromThreads, IReactorTime
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from rosey.storage.engine import is_transient
from rosey.storage.errors import StorageError, StorageUnavailable

P = ParamSpec("P")
T = TypeVar("T")

#: Hears each transaction's name and its duration in seconds, on the database thread.
InteractionObserver = Callable[[str, float], None]


class DBPool:
    """Runs ``fn(connection, ...)`` in a transaction on a database thread.

    Transient failures (``database is locked``, connection refused or lost) are retried
    ``retries`` times with exponential backoff starting at ``backoff`` seconds, timed by
    ``clock``; then the call fails with :class:`StorageUnavailable`. Any other database error
    fails at once with :class:`StorageError`. Cancelling the returned Deferred never stops a
    transaction that already runs on the thread.

    ``on_interaction(name, seconds)``, when set, is called on the database thread after each
    transaction (committed or not) with its name and how long it ran, from ``BEGIN`` to the
    commit or rollback (not the time it queued): it must be thread-safe and quick (a
    ``prometheus_client`` histogram is both). An observer that raises is logged once, and the
    transaction's outcome stands.
    """

    log = Logger()

    def __init__(
        self,
        engine: Engine,
        reactor: IReactorTime,
        *,
        clock: IReactorTime | None = None,
        threads: int | None = None,
        retries: int = 3,
        backoff: float = 0.05,
        name: str = "rosey-db",
        on_interaction: InteractionObserver | None = None,
    ) -> None:
        self.engine = engine
        self.on_interaction = on_interaction
        self._observer_failed = False
        # The reactor must also deliver results from threads (every real reactor does).
        self._reactor = IReactorFromThreads(reactor)
        self._core = IReactorCore(reactor, None)
        self._clock = clock if clock is not None else reactor
        size = 1 if engine.dialect.name == "sqlite" else (threads or 4)
        self.threads = size
        self.retries = retries
        self.backoff = backoff
        self._pool = ThreadPool(minthreads=1, maxthreads=size, name=name)
        self._stopped = False
        self._trigger: Any = None

    @property
    def started(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return bool(self._pool.started)

    def start(self) -> None:
        """Start the threads. Work submitted earlier waits in the queue until now.

        Like ``adbapi.ConnectionPool``, the pool also stops when the reactor shuts down, so
        its (non-daemon) threads never keep the process alive.
        """
        if not self._pool.started:
            self._pool.start()
            if self._core is not None:
                self._trigger = self._core.addSystemEventTrigger(
                    "during", "shutdown", self._on_shutdown
                )

    def _on_shutdown(self) -> None:
        self._trigger = None
        self._stopped = True
        if self._pool.started:
            self._pool.stop()

    def stop(self) -> Deferred[None]:
        """Dispose of the engine on a pool thread (connections close where they were used),
        then stop the threads."""
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._trigger is not None and self._core is not None:
            self._core.removeSystemEventTrigger(self._trigger)
            self._trigger = None
        if self._pool.started:
            try:
                await deferToThreadPool(self._reactor, self._pool, self.engine.dispose)
            except Exception:
                self.log.failure("disposing of the database engine failed")
            self._pool.stop()
        else:
            self.engine.dispose()

    def run_interaction(
        self,
        name: str,
        fn: Callable[Concatenate[Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> Deferred[T]:
        """Run ``fn(conn, *args, **kwargs)`` in one transaction on a database thread; ``name``
        says what for (in the observer's figures and the retry log)."""
        return Deferred.fromCoroutine(self._run(name, fn, args, kwargs))

    async def _run(
        self, name: str, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> T:
        delay = self.backoff
        attempt = 0
        while True:
            if self._stopped:
                raise StorageError("storage is closed")
            try:
                return await deferToThreadPool(
                    self._reactor, self._pool, self._in_thread, name, fn, args, kwargs
                )
            except StorageUnavailable as e:
                if attempt >= self.retries:
                    raise
                attempt += 1
                self.log.debug(
                    "transient database error in {name} ({error}); retry {attempt} in {delay:.2f}s",
                    name=name,
                    error=e,
                    attempt=attempt,
                    delay=delay,
                )
                await deferLater(self._clock, delay)
                delay *= 2

    def _in_thread(
        self, name: str, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> T:
        observe = self.on_interaction
        started = time.perf_counter() if observe is not None else 0.0
        try:
            with self.engine.begin() as conn:
                result = fn(conn, *args, **kwargs)
        except StorageError:
            raise
        except SQLAlchemyError as e:
            if is_transient(e):
                raise StorageUnavailable(_describe(e)) from e
            raise StorageError(_describe(e)) from e
        except (ValueError, UnicodeError) as e:
            # The driver refused a value (e.g. a lone surrogate it cannot encode).
            raise StorageError(f"{type(e).__name__}: {e}") from e
        finally:
            if observe is not None:
                self._observe(observe, name, time.perf_counter() - started)
        if isinstance(result, Result):
            raise TypeError(f"{fn!r} returned a live Result: materialize rows in the thread")
        return result

    def _observe(self, observe: InteractionObserver, name: str, seconds: float) -> None:
        try:
            observe(name, seconds)
        except Exception:
            if not self._observer_failed:  # once: it would fail again on every transaction
                self._observer_failed = True
                self.log.failure("the interaction observer failed on {name}", name=name)


def _describe(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    return f"{type(orig or exc).__name__}: {orig or exc}".splitlines()[0]
