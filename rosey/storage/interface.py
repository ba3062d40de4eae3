"""``IStorage``: everything the bot and its commands may ask of storage, one interface per domain.

It is the original Rosey design's ``StorageAdapter`` with Twisted manners: every method returns a
Deferred and none blocks the reactor; every row is scoped by channel, so several channels share
one database.

As Buildbot's db connector splits its API into components (``master.db.builds``, …), storage is
split by domain: :class:`IChatStore`, :class:`IStatsStore` (presence and statistics),
:class:`IMediaStore`, :class:`IActionLog` (joins, leaves, moderation), :class:`IOutboundStore`
(``!tell``), :class:`IKeyValueStore` (plugins' values) and :class:`IRetention`. :data:`DOMAINS`
names them. :class:`IStorage` extends them all, adding the lifecycle and the recorder's batch
write: callers hold one storage and call its methods directly. An implementation is a composite
of one component per domain, reachable under the domain's name (``storage.chat``,
``storage.outbound``…; see :mod:`rosey.storage.composite`), so another backend (the bus client
of the database service) is written and tested one domain at a time.

Implementations: :class:`rosey.storage.sql.SQLStorage` (SQLite, PostgreSQL) and
:class:`rosey.storage.noop.NoopStorage`.

Failures arrive as :class:`~rosey.storage.errors.StorageError` (``StorageUnavailable`` when a
retry later may work). Timestamps are Unix seconds; ``timestamp=None`` means now.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from twisted.internet.defer import Deferred
from zope.interface import Attribute, Interface
from zope.interface.interface import InterfaceClass

from rosey.storage.ops import WriteOp
from rosey.storage.rows import (
    BotStatus,
    ChannelStats,
    ChatMessage,
    ChatterCount,
    CountBucket,
    MediaPlay,
    MediaPlayCount,
    OutboundMessage,
    UserAction,
    UserCount,
    UserCountBucket,
    UserStats,
)


class IChatStore(Interface):
    """The chat log."""

    def save_message(
        channel: str, username: str, message: str, timestamp: float | None = None
    ) -> Deferred[None]:
        """Add a chat line to the log and count it in the user's stats."""

    def get_recent_messages(
        channel: str, limit: int = 100, offset: int = 0, username: str | None = None
    ) -> Deferred[list[ChatMessage]]:
        """Chat lines, newest first, optionally by one user (the exact name, as
        :meth:`IStatsStore.get_user_stats` spells it)."""

    def get_chat_activity(
        channel: str, start_time: float, end_time: float, bucket: float = 3600
    ) -> Deferred[list[CountBucket]]:
        """Chat lines per ``bucket`` seconds (buckets aligned on the Unix epoch) with
        ``start_time <= timestamp < end_time``, oldest first; empty buckets are left out. The
        bucket is widened so that the period holds at most 2000 of them."""

    def get_chatters_between(
        channel: str, start_time: float, end_time: float, limit: int = 10
    ) -> Deferred[list[ChatterCount]]:
        """Users with the most chat lines with ``start_time <= timestamp < end_time`` first."""


class IStatsStore(Interface):
    """Presence and statistics: users and their sessions, user counts, the channel's
    high-water marks, the bot's own status."""

    def save_user_stats(
        channel: str,
        username: str,
        first_seen: float | None = None,
        last_seen: float | None = None,
        chat_lines: int | None = None,
        time_connected: float | None = None,
        session_start: float | None = None,
    ) -> Deferred[None]:
        """Set a user's stats (None leaves a field unchanged)."""

    def update_channel_stats(
        channel: str,
        max_users: int | None = None,
        max_connected: int | None = None,
        timestamp: float | None = None,
    ) -> Deferred[None]:
        """Raise the high-water marks to these counts if they are higher."""

    def log_user_count(
        channel: str, chat_users: int, connected_users: int, timestamp: float | None = None
    ) -> Deferred[None]:
        """Add a user-count snapshot."""

    def set_status(channel: str, status: BotStatus) -> Deferred[None]:
        """Overwrite the bot's current status."""

    def get_user_stats(channel: str, username: str) -> Deferred[UserStats | None]:
        """One user's stats (the name matches case-insensitively), or None."""

    def get_all_user_stats(
        channel: str, limit: int | None = None, offset: int = 0
    ) -> Deferred[list[UserStats]]:
        """Every user's stats, by name."""

    def get_top_chatters(channel: str, limit: int = 10) -> Deferred[list[UserStats]]:
        """Users with the most chat lines first."""

    def get_channel_stats(channel: str) -> Deferred[ChannelStats]:
        """The high-water marks (zeros when nothing was recorded)."""

    def get_user_count_history(
        channel: str,
        start_time: float | None = None,
        end_time: float | None = None,
        limit: int | None = None,
    ) -> Deferred[list[UserCount]]:
        """Snapshots with ``start_time <= timestamp <= end_time``, oldest first."""

    def get_user_count_series(
        channel: str, start_time: float, end_time: float, bucket: float = 300
    ) -> Deferred[list[UserCountBucket]]:
        """The user-count history downsampled: the highest counts per ``bucket`` seconds with
        ``start_time <= timestamp < end_time``, oldest first (empty buckets left out; the
        bucket is widened so that the period holds at most 2000 of them)."""

    def get_status(channel: str) -> Deferred[BotStatus | None]:
        """The bot's last recorded status, or None."""


class IMediaStore(Interface):
    """What played."""

    def log_media(
        channel: str,
        media_type: str,
        media_id: str,
        title: str,
        duration: int,
        queued_by: str | None = None,
        started_at: float | None = None,
    ) -> Deferred[None]:
        """Add an item to the media history."""

    def get_media_history(
        channel: str, limit: int = 50, offset: int = 0
    ) -> Deferred[list[MediaPlay]]:
        """What played, newest first."""

    def get_most_played(
        channel: str,
        start_time: float | None = None,
        end_time: float | None = None,
        limit: int = 10,
    ) -> Deferred[list[MediaPlayCount]]:
        """The items (type and id) played most often with ``start_time <= started_at <
        end_time`` (None: unbounded), most first."""


class IActionLog(Interface):
    """The log of user actions: joins, leaves, PMs, and plugins' own types (moderation)."""

    def log_user_action(
        channel: str,
        username: str,
        action_type: str,
        details: str | None = None,
        timestamp: float | None = None,
    ) -> Deferred[None]:
        """Log one user action (``join``, ``leave``, ``pm`` or a plugin's own type)."""

    def get_user_actions(
        channel: str,
        username: str | None = None,
        action_type: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Deferred[list[UserAction]]:
        """Logged actions, newest first, optionally for one user (exact name) and/or one type."""


class IOutboundStore(Interface):
    """Messages waiting for their recipient (``!tell``)."""

    def enqueue_outbound(
        channel: str,
        recipient: str | None,
        message: str,
        sender: str | None = None,
        timestamp: float | None = None,
    ) -> Deferred[int]:
        """Queue a message for ``recipient``; fires with its id."""

    def get_unsent_outbound(
        channel: str, recipient: str, limit: int = 10, max_retries: int | None = None
    ) -> Deferred[list[OutboundMessage]]:
        """Unsent messages for ``recipient`` (case-insensitive), oldest first; those that failed
        ``max_retries`` times or more are left out when ``max_retries`` is given."""

    def get_outbound_recipients() -> Deferred[list[tuple[str, str | None]]]:
        """The (channel key, recipient) of every unsent message in every channel, each pair once
        (a message for nobody in particular has recipient None): what a storage loads to answer
        :meth:`may_have_outbound`."""

    def may_have_outbound(channel: str, recipient: str) -> bool:
        """False only when ``recipient`` surely has no unsent message (answered from memory,
        without I/O: for a check on every chat line). True may still find nothing."""

    def mark_outbound_sent(
        channel: str, message_id: int, timestamp: float | None = None
    ) -> Deferred[None]:
        """Mark a message delivered."""

    def mark_outbound_failed(channel: str, message_id: int, error: str) -> Deferred[int]:
        """Record a failed delivery; fires with the new retry count."""


class IKeyValueStore(Interface):
    """Plugins' values, by channel, namespace and key."""

    def kv_get(channel: str, namespace: str, key: str) -> Deferred[str | None]:
        """A plugin's value, or None if absent or expired."""

    def kv_set(
        channel: str, namespace: str, key: str, value: str, ttl: float | None = None
    ) -> Deferred[None]:
        """Store a value; it expires ``ttl`` seconds from now (None = never)."""

    def kv_delete(channel: str, namespace: str, key: str) -> Deferred[bool]:
        """Remove a value; fires with whether it existed."""


class IRetention(Interface):
    """History deleted by age."""

    def prune(
        policy: Mapping[str, float],
        now: float | None = None,
        batch_size: int = 500,
        on_progress: Callable[[str, int], None] | None = None,
    ) -> Deferred[dict[str, int]]:
        """Delete history older than the policy allows, in every channel, and every expired
        plugin value; fires with the rows deleted per table.

        ``policy`` maps a history table (``chat_messages``, ``user_actions``,
        ``user_count_history``, ``media_history``, ``outbound_messages``: delivered ones only)
        to the days to keep; a table left out or given 0 is kept forever; any other name is a
        ``ValueError``. At most ``batch_size`` rows go per transaction, so other work
        interleaves; ``on_progress(table, rows_so_far)`` is called after each batch.
        Cancelling the Deferred stops it between batches."""

    def count_prunable(
        policy: Mapping[str, float], now: float | None = None
    ) -> Deferred[dict[str, int]]:
        """What :meth:`prune` would delete now, per table, deleting nothing."""


#: Each domain's interface by the name its component goes by on a composite storage
#: (``storage.chat`` provides :class:`IChatStore`, …).
DOMAINS: dict[str, InterfaceClass] = {
    "chat": IChatStore,
    "stats": IStatsStore,
    "media": IMediaStore,
    "actions": IActionLog,
    "outbound": IOutboundStore,
    "kv": IKeyValueStore,
    "retention": IRetention,
}


#: One bus event as the database service records it: (event id, channel, received at).
SeenEvent = tuple[str, str, float]
#: Called inside the transaction with the ids not written before: the write operations those
#: events make, per channel, in order.
DeriveOps = Callable[[frozenset[str]], Sequence[tuple[str, Sequence[WriteOp]]]]


class IBusEventStore(Interface):
    """Exactly-once writes for the database service (:mod:`rosey.dbbus`): events from the bus
    and their write operations commit together with the events' ids."""

    def record_events(events: Sequence[SeenEvent], derive: DeriveOps) -> Deferred[int]:
        """In ONE transaction: store the ids of ``events`` not stored before, call
        ``derive(those ids)`` (on a database thread; it may be called again if the transaction
        is retried, so it must derive from its inputs alone) and apply the operations it returns.
        Fires with how many events were new; fails if the transaction did not commit (nothing
        of it is kept: the caller tries the same events again)."""

    def prune_bus_events(before: float, batch_size: int = 500) -> Deferred[int]:
        """Forget the ids of events received before ``before`` (Unix seconds), ``batch_size``
        per transaction; fires with how many went."""


class IStorage(
    IChatStore,
    IStatsStore,
    IMediaStore,
    IActionLog,
    IOutboundStore,
    IKeyValueStore,
    IRetention,
):
    """Persistent storage for one or more channels: every domain, its lifecycle, and the
    recorder's batch write."""

    is_connected = Attribute("True between a successful connect() and close() (bool).")
    persistent = Attribute(
        "True when what is written is kept (a database); False for a storage that keeps "
        "nothing (bool)."
    )

    def connect() -> Deferred[None]:
        """Open the storage; fails with ``SchemaError`` if the schema is not current."""

    def close() -> Deferred[None]:
        """Release every resource. Never fails."""

    def record(channel: str, ops: Sequence[WriteOp]) -> Deferred[None]:
        """Apply write operations in order, all in one transaction (all or nothing). The
        operations may span domains: this is how the recorder writes a batch of events."""
