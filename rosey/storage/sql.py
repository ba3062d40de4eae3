"""The SQL implementation of :class:`IStorage` (SQLAlchemy Core; SQLite or PostgreSQL).

All work runs on a :class:`~rosey.storage.pool.DBPool`. Writes are :mod:`rosey.storage.ops`
applied by :mod:`rosey.storage.writes`; reads live in :mod:`rosey.storage.reads`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy.engine import URL, Connection, Engine
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from rosey.storage import ops as o
from rosey.storage import reads, retention, writes
from rosey.storage.engine import make_engine, safe_url
from rosey.storage.errors import StorageError, StorageUnavailable
from rosey.storage.interface import IStorage
from rosey.storage.pool import DBPool
from rosey.storage.rows import (
    BotStatus,
    ChannelStats,
    ChatMessage,
    MediaPlay,
    OutboundMessage,
    UserAction,
    UserCount,
    UserStats,
)
from rosey.storage.waiting import WaitingRecipients

T = TypeVar("T")


@implementer(IStorage)
class SQLStorage:
    """:class:`IStorage` on a SQL database.

    ``url_or_engine`` is a database URL (``sqlite:///path``, ``postgresql://…``) or an engine
    made by :func:`rosey.storage.engine.make_engine`. ``clock`` stamps writes that carry no
    timestamp and times retries (default: ``reactor``). ``busy_timeout``, ``threads``,
    ``retries`` and ``backoff`` tune the engine and the pool.
    """

    log = Logger()
    persistent = True

    def __init__(
        self,
        url_or_engine: str | URL | Engine,
        reactor: IReactorTime,
        *,
        clock: IReactorTime | None = None,
        busy_timeout: float = 5.0,
        threads: int | None = None,
        retries: int = 3,
        backoff: float = 0.05,
        check_schema: bool = True,
    ) -> None:
        engine = (
            url_or_engine
            if isinstance(url_or_engine, Engine)
            else make_engine(url_or_engine, busy_timeout=busy_timeout)
        )
        self._clock = clock if clock is not None else reactor
        self.pool = DBPool(
            engine, reactor, clock=self._clock, threads=threads, retries=retries, backoff=backoff
        )
        self._check_schema = check_schema
        self._channel_ids: dict[str, int] = {}
        self.is_connected = False
        #: Write operations dropped because the database refused them even after cleaning.
        self.dropped_ops = 0
        self._waiting = WaitingRecipients(self._clock, self._outbound_recipients)

    def __repr__(self) -> str:
        return f"<SQLStorage {safe_url(self.pool.engine.url)}>"

    # -- lifecycle ----------------------------------------------------------------------------

    def connect(self) -> Deferred[None]:
        """Start the pool and check that the schema is at the head revision."""
        return Deferred.fromCoroutine(self._connect())

    async def _connect(self) -> None:
        self.pool.start()
        if self._check_schema:
            from rosey.storage import migrate  # Alembic: only when asked to check

            await self.pool.run_interaction(migrate.check_current)
        await self._waiting.load()  # never fails: until it works, !tell asks per user
        self.is_connected = True

    def close(self) -> Deferred[None]:
        """Dispose of the connections and stop the pool."""
        self.is_connected = False
        self._waiting.stop()
        return self.pool.stop()

    # -- plumbing -----------------------------------------------------------------------------

    def _now(self, timestamp: float | None) -> float:
        return self._clock.seconds() if timestamp is None else timestamp

    def _cid(self, conn: Connection, channel: str, create: bool = False) -> int | None:
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
        return writes.create_channel(conn, channel, self._clock.seconds())

    def _read(self, channel: str, empty: T, fn: Callable[..., T], *args: Any) -> Deferred[T]:
        """Run ``fn(conn, cid, channel, *args)``; ``empty`` if the channel is unknown."""

        def run(conn: Connection) -> T:
            cid = self._cid(conn, channel)
            return empty if cid is None else fn(conn, cid, channel, *args)

        return self.pool.run_interaction(run)

    def _write(self, channel: str, fn: Callable[..., T], *args: Any) -> Deferred[T]:
        """Run ``fn(conn, cid, *args)``, creating the channel if needed."""

        def run(conn: Connection) -> T:
            cid = self._cid(conn, channel, create=True)
            return fn(conn, cid, *args)

        return self.pool.run_interaction(run)

    # -- writes -------------------------------------------------------------------------------

    def record(self, channel: str, ops: Sequence[o.WriteOp]) -> Deferred[None]:
        """Apply ``ops`` in one transaction.

        If the database refuses the batch for a reason that is not transient (a value it cannot
        store), each operation is retried alone, cleaned, in its own savepoint; those that still
        fail are logged and counted in :attr:`dropped_ops`, the rest are kept.
        """
        return Deferred.fromCoroutine(self._record(channel, list(ops)))

    async def _record(self, channel: str, batch: list[o.WriteOp]) -> None:
        if not batch:
            return
        try:
            await self._write(channel, writes.apply_ops, batch)
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
        failed = await self._write(channel, writes.apply_each, batch)
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

    def save_user_stats(
        self,
        channel: str,
        username: str,
        first_seen: float | None = None,
        last_seen: float | None = None,
        chat_lines: int | None = None,
        time_connected: float | None = None,
        session_start: float | None = None,
    ) -> Deferred[None]:
        op = o.UserStatsSet(
            username, first_seen, last_seen, chat_lines, time_connected, session_start
        )
        return self.record(channel, [op])

    def log_user_action(
        self,
        channel: str,
        username: str,
        action_type: str,
        details: str | None = None,
        timestamp: float | None = None,
    ) -> Deferred[None]:
        op = o.ActionLogged(self._now(timestamp), username, action_type, details)
        return self.record(channel, [op])

    def update_channel_stats(
        self,
        channel: str,
        max_users: int | None = None,
        max_connected: int | None = None,
        timestamp: float | None = None,
    ) -> Deferred[None]:
        return self.record(channel, [o.HighWater(self._now(timestamp), max_users, max_connected)])

    def log_user_count(
        self, channel: str, chat_users: int, connected_users: int, timestamp: float | None = None
    ) -> Deferred[None]:
        op = o.UserCountSample(self._now(timestamp), chat_users, connected_users)
        return self.record(channel, [op])

    def save_message(
        self, channel: str, username: str, message: str, timestamp: float | None = None
    ) -> Deferred[None]:
        return self.record(channel, [o.ChatLine(self._now(timestamp), username, message)])

    def log_media(
        self,
        channel: str,
        media_type: str,
        media_id: str,
        title: str,
        duration: int,
        queued_by: str | None = None,
        started_at: float | None = None,
    ) -> Deferred[None]:
        op = o.MediaChanged(self._now(started_at), media_type, media_id, title, duration, queued_by)
        return self.record(channel, [op])

    def set_status(self, channel: str, status: BotStatus) -> Deferred[None]:
        return self.record(channel, [o.StatusChanged(status)])

    # -- reads --------------------------------------------------------------------------------

    def get_user_stats(self, channel: str, username: str) -> Deferred[UserStats | None]:
        return self._read(channel, None, reads.user_stats_one, username)

    def get_all_user_stats(
        self, channel: str, limit: int | None = None, offset: int = 0
    ) -> Deferred[list[UserStats]]:
        return self._read(channel, [], reads.user_stats_all, limit, offset)

    def get_top_chatters(self, channel: str, limit: int = 10) -> Deferred[list[UserStats]]:
        return self._read(channel, [], reads.top_chatters, limit)

    def get_user_actions(
        self,
        channel: str,
        username: str | None = None,
        action_type: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Deferred[list[UserAction]]:
        return self._read(channel, [], reads.actions, username, action_type, limit, offset)

    def get_channel_stats(self, channel: str) -> Deferred[ChannelStats]:
        return self._read(channel, reads.no_channel_stats(channel), reads.high_water)

    def get_user_count_history(
        self,
        channel: str,
        start_time: float | None = None,
        end_time: float | None = None,
        limit: int | None = None,
    ) -> Deferred[list[UserCount]]:
        return self._read(channel, [], reads.user_counts, start_time, end_time, limit)

    def get_recent_messages(
        self, channel: str, limit: int = 100, offset: int = 0, username: str | None = None
    ) -> Deferred[list[ChatMessage]]:
        return self._read(channel, [], reads.messages, limit, offset, username)

    def get_media_history(
        self, channel: str, limit: int = 50, offset: int = 0
    ) -> Deferred[list[MediaPlay]]:
        return self._read(channel, [], reads.media, limit, offset)

    def get_status(self, channel: str) -> Deferred[BotStatus | None]:
        return self._read(channel, None, reads.status)

    # -- outbound messages --------------------------------------------------------------------

    def enqueue_outbound(
        self,
        channel: str,
        recipient: str | None,
        message: str,
        sender: str | None = None,
        timestamp: float | None = None,
    ) -> Deferred[int]:
        now = self._now(timestamp)
        self._waiting.add(channel, recipient)
        d = self._write(channel, reads.outbound_insert, now, recipient, message, sender)

        def stored(message_id: int) -> int:
            # Again: a load of the recipients that ran meanwhile may not have seen it.
            self._waiting.add(channel, recipient)
            return message_id

        return d.addCallback(stored)

    def get_unsent_outbound(
        self, channel: str, recipient: str, limit: int = 10, max_retries: int | None = None
    ) -> Deferred[list[OutboundMessage]]:
        since = self._waiting.generation
        none: list[OutboundMessage] = []
        d = self._read(channel, none, reads.outbound_unsent, recipient, limit, max_retries)

        def found(rows: list[OutboundMessage]) -> list[OutboundMessage]:
            if not rows:
                self._waiting.found_none(channel, recipient, since)
            return rows

        return d.addCallback(found)

    def may_have_outbound(self, channel: str, recipient: str) -> bool:
        # Closed (or not yet open): nothing is known, and asking is what reports the outage.
        return not self.is_connected or self._waiting.may_have(channel, recipient)

    def _outbound_recipients(self) -> Deferred[list[tuple[str, str | None]]]:
        return self.pool.run_interaction(reads.outbound_recipients)

    def mark_outbound_sent(
        self, channel: str, message_id: int, timestamp: float | None = None
    ) -> Deferred[None]:
        return self._read(channel, None, reads.outbound_sent, message_id, self._now(timestamp))

    def mark_outbound_failed(self, channel: str, message_id: int, error: str) -> Deferred[int]:
        def missing() -> int:
            raise StorageError(f"no outbound message {message_id} in {channel}")

        def run(conn: Connection) -> int:
            cid = self._cid(conn, channel)
            if cid is None:
                return missing()
            return reads.outbound_failed(conn, cid, channel, message_id, error)

        return self.pool.run_interaction(run)

    # -- plugin key/value store ---------------------------------------------------------------

    def kv_get(self, channel: str, namespace: str, key: str) -> Deferred[str | None]:
        return self._read(channel, None, reads.kv_value, namespace, key, self._clock.seconds())

    def kv_set(
        self, channel: str, namespace: str, key: str, value: str, ttl: float | None = None
    ) -> Deferred[None]:
        now = self._clock.seconds()
        expires = None if ttl is None else now + ttl
        return self._write(channel, reads.kv_put, namespace, key, value, expires, now)

    def kv_delete(self, channel: str, namespace: str, key: str) -> Deferred[bool]:
        return self._read(channel, False, reads.kv_remove, namespace, key)

    # -- retention ----------------------------------------------------------------------------

    def prune(
        self,
        policy: Mapping[str, float],
        now: float | None = None,
        batch_size: int = 500,
        on_progress: Callable[[str, int], None] | None = None,
    ) -> Deferred[dict[str, int]]:
        return retention.prune(
            self.pool.run_interaction, policy, self._now(now), batch_size, on_progress
        )

    def count_prunable(
        self, policy: Mapping[str, float], now: float | None = None
    ) -> Deferred[dict[str, int]]:
        return retention.count(self.pool.run_interaction, policy, self._now(now))
