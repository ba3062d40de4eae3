"""A storage that stores nothing: every write succeeds, every read finds nothing.

For running the bot without a database (and for bot tests). It implements :class:`IStorage`
fully, so the recorder, the commands and the plugins work unchanged on top of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from rosey.storage import ops as o
from rosey.storage.interface import IStorage
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


@implementer(IStorage)
class NoopStorage:
    """:class:`IStorage` that keeps nothing. ``recorded`` counts the operations it was given."""

    persistent = False

    def __init__(self) -> None:
        self.is_connected = False
        self.recorded = 0
        self._next_id = 0

    def connect(self) -> Deferred[None]:
        self.is_connected = True
        return succeed(None)

    def close(self) -> Deferred[None]:
        self.is_connected = False
        return succeed(None)

    def record(self, channel: str, ops: Sequence[o.WriteOp]) -> Deferred[None]:
        self.recorded += len(ops)
        return succeed(None)

    def _nothing(self, *args: Any, **kwargs: Any) -> Deferred[None]:
        return succeed(None)

    save_user_stats = _nothing
    log_user_action = _nothing
    update_channel_stats = _nothing
    log_user_count = _nothing
    save_message = _nothing
    log_media = _nothing
    set_status = _nothing
    mark_outbound_sent = _nothing
    kv_set = _nothing

    def get_user_stats(self, channel: str, username: str) -> Deferred[UserStats | None]:
        return succeed(None)

    def get_all_user_stats(
        self, channel: str, limit: int | None = None, offset: int = 0
    ) -> Deferred[list[UserStats]]:
        return succeed([])

    def get_top_chatters(self, channel: str, limit: int = 10) -> Deferred[list[UserStats]]:
        return succeed([])

    def get_user_actions(
        self,
        channel: str,
        username: str | None = None,
        action_type: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Deferred[list[UserAction]]:
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

    def get_recent_messages(
        self, channel: str, limit: int = 100, offset: int = 0, username: str | None = None
    ) -> Deferred[list[ChatMessage]]:
        return succeed([])

    def get_media_history(
        self, channel: str, limit: int = 50, offset: int = 0
    ) -> Deferred[list[MediaPlay]]:
        return succeed([])

    def get_status(self, channel: str) -> Deferred[BotStatus | None]:
        return succeed(None)

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

    def may_have_outbound(self, channel: str, recipient: str) -> bool:
        return False

    def mark_outbound_failed(self, channel: str, message_id: int, error: str) -> Deferred[int]:
        return succeed(1)

    def kv_get(self, channel: str, namespace: str, key: str) -> Deferred[str | None]:
        return succeed(None)

    def kv_delete(self, channel: str, namespace: str, key: str) -> Deferred[bool]:
        return succeed(False)

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
