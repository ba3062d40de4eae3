"""A storage that stores nothing: every write succeeds, every read finds nothing.

For running the bot without a database (and for bot tests). It implements :class:`IStorage`
fully, one no-op component per domain as :class:`~rosey.storage.sql.SQLStorage` has, so the
recorder, the commands and the plugins work unchanged on top of it. ``persistent`` is False:
a plugin that would only store something can say so instead of pretending.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from rosey.storage import ops as o
from rosey.storage.composite import via
from rosey.storage.interface import (
    IActionLog,
    IChatStore,
    IKeyValueStore,
    IMediaStore,
    IOutboundStore,
    IRetention,
    IStatsStore,
    IStorage,
)
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


def _nothing(self: object, *args: Any, **kwargs: Any) -> Deferred[None]:
    return succeed(None)


@implementer(IChatStore)
class NoopChat:
    """:class:`IChatStore` that keeps nothing."""

    save_message = _nothing

    def get_recent_messages(
        self, channel: str, limit: int = 100, offset: int = 0, username: str | None = None
    ) -> Deferred[list[ChatMessage]]:
        return succeed([])

    def get_chat_activity(
        self, channel: str, start_time: float, end_time: float, bucket: float = 3600
    ) -> Deferred[list[CountBucket]]:
        return succeed([])

    def get_chatters_between(
        self, channel: str, start_time: float, end_time: float, limit: int = 10
    ) -> Deferred[list[ChatterCount]]:
        return succeed([])


@implementer(IStatsStore)
class NoopStats:
    """:class:`IStatsStore` that keeps nothing."""

    save_user_stats = _nothing
    update_channel_stats = _nothing
    log_user_count = _nothing
    set_status = _nothing

    def get_user_stats(self, channel: str, username: str) -> Deferred[UserStats | None]:
        return succeed(None)

    def get_all_user_stats(
        self, channel: str, limit: int | None = None, offset: int = 0
    ) -> Deferred[list[UserStats]]:
        return succeed([])

    def get_top_chatters(self, channel: str, limit: int = 10) -> Deferred[list[UserStats]]:
        return succeed([])

    def get_channel_stats(self, channel: str) -> Deferred[ChannelStats]:
        return succeed(ChannelStats(channel, 0, None, 0, None, None))

    def get_user_count_history(
        self,
        channel: str,
        start_time: float | None = None,
        end_time: float | None = None,
        limit: int | None = None,
    ) -> Deferred[list[UserCount]]:
        return succeed([])

    def get_user_count_series(
        self, channel: str, start_time: float, end_time: float, bucket: float = 300
    ) -> Deferred[list[UserCountBucket]]:
        return succeed([])

    def get_status(self, channel: str) -> Deferred[BotStatus | None]:
        return succeed(None)


@implementer(IMediaStore)
class NoopMedia:
    """:class:`IMediaStore` that keeps nothing."""

    log_media = _nothing

    def get_media_history(
        self, channel: str, limit: int = 50, offset: int = 0
    ) -> Deferred[list[MediaPlay]]:
        return succeed([])

    def get_most_played(
        self,
        channel: str,
        start_time: float | None = None,
        end_time: float | None = None,
        limit: int = 10,
    ) -> Deferred[list[MediaPlayCount]]:
        return succeed([])


@implementer(IActionLog)
class NoopActions:
    """:class:`IActionLog` that keeps nothing."""

    log_user_action = _nothing

    def get_user_actions(
        self,
        channel: str,
        username: str | None = None,
        action_type: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Deferred[list[UserAction]]:
        return succeed([])


@implementer(IOutboundStore)
class NoopOutbound:
    """:class:`IOutboundStore` that keeps nothing (ids still count up)."""

    def __init__(self) -> None:
        self._next_id = 0

    mark_outbound_sent = _nothing

    def enqueue_outbound(
        self,
        channel: str,
        recipient: str | None,
        message: str,
        sender: str | None = None,
        timestamp: float | None = None,
    ) -> Deferred[int]:
        self._next_id += 1
        return succeed(self._next_id)

    def get_unsent_outbound(
        self, channel: str, recipient: str, limit: int = 10, max_retries: int | None = None
    ) -> Deferred[list[OutboundMessage]]:
        return succeed([])

    def get_outbound_recipients(self) -> Deferred[list[tuple[str, str | None]]]:
        return succeed([])

    def may_have_outbound(self, channel: str, recipient: str) -> bool:
        return False

    def mark_outbound_failed(self, channel: str, message_id: int, error: str) -> Deferred[int]:
        return succeed(1)


@implementer(IKeyValueStore)
class NoopKeyValue:
    """:class:`IKeyValueStore` that keeps nothing."""

    kv_set = _nothing

    def kv_get(self, channel: str, namespace: str, key: str) -> Deferred[str | None]:
        return succeed(None)

    def kv_delete(self, channel: str, namespace: str, key: str) -> Deferred[bool]:
        return succeed(False)


@implementer(IRetention)
class NoopRetention:
    """:class:`IRetention` with nothing to delete."""

    def prune(
        self,
        policy: Mapping[str, float],
        now: float | None = None,
        batch_size: int = 500,
        on_progress: Callable[[str, int], None] | None = None,
    ) -> Deferred[dict[str, int]]:
        return succeed({})

    def count_prunable(
        self, policy: Mapping[str, float], now: float | None = None
    ) -> Deferred[dict[str, int]]:
        return succeed({})


@implementer(IStorage)
class NoopStorage:
    """:class:`IStorage` that keeps nothing. ``recorded`` counts the operations it was given."""

    persistent = False

    def __init__(self) -> None:
        self.is_connected = False
        self.recorded = 0
        self.chat = NoopChat()
        self.stats = NoopStats()
        self.media = NoopMedia()
        self.actions = NoopActions()
        self.outbound = NoopOutbound()
        self.kv = NoopKeyValue()
        self.retention = NoopRetention()

    def connect(self) -> Deferred[None]:
        self.is_connected = True
        return succeed(None)

    def close(self) -> Deferred[None]:
        self.is_connected = False
        return succeed(None)

    def record(self, channel: str, ops: Sequence[o.WriteOp]) -> Deferred[None]:
        self.recorded += len(ops)
        return succeed(None)

    save_message = via("chat", NoopChat.save_message)
    get_recent_messages = via("chat", NoopChat.get_recent_messages)
    get_chat_activity = via("chat", NoopChat.get_chat_activity)
    get_chatters_between = via("chat", NoopChat.get_chatters_between)

    save_user_stats = via("stats", NoopStats.save_user_stats)
    update_channel_stats = via("stats", NoopStats.update_channel_stats)
    log_user_count = via("stats", NoopStats.log_user_count)
    set_status = via("stats", NoopStats.set_status)
    get_user_stats = via("stats", NoopStats.get_user_stats)
    get_all_user_stats = via("stats", NoopStats.get_all_user_stats)
    get_top_chatters = via("stats", NoopStats.get_top_chatters)
    get_channel_stats = via("stats", NoopStats.get_channel_stats)
    get_user_count_history = via("stats", NoopStats.get_user_count_history)
    get_user_count_series = via("stats", NoopStats.get_user_count_series)
    get_status = via("stats", NoopStats.get_status)

    log_media = via("media", NoopMedia.log_media)
    get_media_history = via("media", NoopMedia.get_media_history)
    get_most_played = via("media", NoopMedia.get_most_played)

    log_user_action = via("actions", NoopActions.log_user_action)
    get_user_actions = via("actions", NoopActions.get_user_actions)

    enqueue_outbound = via("outbound", NoopOutbound.enqueue_outbound)
    get_unsent_outbound = via("outbound", NoopOutbound.get_unsent_outbound)
    get_outbound_recipients = via("outbound", NoopOutbound.get_outbound_recipients)
    may_have_outbound = via("outbound", NoopOutbound.may_have_outbound)
    mark_outbound_sent = via("outbound", NoopOutbound.mark_outbound_sent)
    mark_outbound_failed = via("outbound", NoopOutbound.mark_outbound_failed)

    kv_get = via("kv", NoopKeyValue.kv_get)
    kv_set = via("kv", NoopKeyValue.kv_set)
    kv_delete = via("kv", NoopKeyValue.kv_delete)

    prune = via("retention", NoopRetention.prune)
    count_prunable = via("retention", NoopRetention.count_prunable)
