"""What every SQL component shares: the pool, the clock, the channel ids and the batch write."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.engine import Connection
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from rosey.storage import ops as o
from rosey.storage import writes
from rosey.storage.errors import StorageError, StorageUnavailable
from rosey.storage.pool import DBPool

T = TypeVar("T")


class SQLDatabase:
    """The pool and what goes with it: channel names resolved to ids (cached once committed),
    the clock that stamps writes without a timestamp, and :meth:`record`, the one write path.
    """

    log = Logger()

    def __init__(self, pool: DBPool, clock: IReactorTime) -> None:
        self.pool = pool
        self.clock = clock
        self._channel_ids: dict[str, int] = {}
        #: Write operations dropped because the database refused them even after cleaning.
        self.dropped_ops = 0

    def now(self, timestamp: float | None = None) -> float:
        """``timestamp``, or the clock's time when it is None."""
        return self.clock.seconds() if timestamp is None else timestamp

    def cid(self, conn: Connection, channel: str, create: bool = False) -> int | None:
        """The channel's id (on a database thread); None if unknown and not ``create``."""
        cid = self._channel_ids.get(channel)
        if cid is not None:
            return cid
        cid = writes.find_channel(conn, channel)
        if cid is not None:
            # Cached only once seen committed: a channel created in a transaction that then
            # rolls back must not stay in the cache.
            self._channel_ids[channel] = cid
            return cid
        if not create:
            return None
        return writes.create_channel(conn, channel, self.clock.seconds())

    def read(
        self, name: str, channel: str, empty: T, fn: Callable[..., T], *args: Any
    ) -> Deferred[T]:
        """Run ``fn(conn, cid, channel, *args)`` as interaction ``name``; ``empty`` if the
        channel is unknown."""

        def run(conn: Connection) -> T:
            cid = self.cid(conn, channel)
            return empty if cid is None else fn(conn, cid, channel, *args)

        return self.pool.run_interaction(name, run)

    def write(self, name: str, channel: str, fn: Callable[..., T], *args: Any) -> Deferred[T]:
        """Run ``fn(conn, cid, *args)`` as interaction ``name``, creating the channel if
        needed."""

        def run(conn: Connection) -> T:
            cid = self.cid(conn, channel, create=True)
            return fn(conn, cid, *args)

        return self.pool.run_interaction(name, run)

    def record(
        self, channel: str, ops: Sequence[o.WriteOp], name: str = "record"
    ) -> Deferred[None]:
        """Apply ``ops`` in one transaction named ``name``.

        If the database refuses the batch for a reason that is not transient (a value it cannot
        store), each operation is retried alone, cleaned, in its own savepoint (``record.salvage``);
        those that still fail are logged and counted in :attr:`dropped_ops`, the rest are kept.
        """
        return Deferred.fromCoroutine(self._record(channel, list(ops), name))

    async def _record(self, channel: str, batch: list[o.WriteOp], name: str) -> None:
        if not batch:
            return
        try:
            await self.write(name, channel, writes.apply_ops, batch)
            return
        except StorageUnavailable:
            raise
        except StorageError as e:
            self.log.warn(
                "a batch of {count} writes for {channel} was refused ({error}); "
                "retrying them one by one",
                count=len(batch),
                channel=channel,
                error=e,
            )
        failed = await self.write("record.salvage", channel, writes.apply_each, batch)
        self.report_dropped(channel, failed)

    def report_dropped(self, channel: str, failed: Sequence[tuple[o.WriteOp, str]]) -> None:
        """Count the writes the database refused one by one, and log the first five."""
        self.dropped_ops += len(failed)
        for op, error in failed[:5]:
            self.log.error(
                "dropped a {kind} write for {channel}: {error}",
                kind=type(op).__name__,
                channel=channel,
                error=error,
            )
        if len(failed) > 5:
            self.log.error(
                "dropped {n} more writes for {channel}", n=len(failed) - 5, channel=channel
            )


class SQLComponent:
    """One domain's component: it holds the shared :class:`SQLDatabase` as ``db``."""

    def __init__(self, db: SQLDatabase) -> None:
        self.db = db
