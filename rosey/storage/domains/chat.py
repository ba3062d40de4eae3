"""The chat log on SQL."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection
from twisted.internet.defer import Deferred
from zope.interface import implementer

from rosey.storage import ops as o
from rosey.storage.domains import aggregates
from rosey.storage.domains.base import SQLComponent
from rosey.storage.interface import IChatStore
from rosey.storage.rows import ChatMessage, ChatterCount, CountBucket
from rosey.storage.tables import chat_messages

cm = chat_messages.c


@implementer(IChatStore)
class SQLChat(SQLComponent):
    """:class:`IChatStore` on SQL."""

    def save_message(
        self, channel: str, username: str, message: str, timestamp: float | None = None
    ) -> Deferred[None]:
        op = o.ChatLine(self.db.now(timestamp), username, message)
        return self.db.record(channel, [op], "chat.save_message")

    def get_recent_messages(
        self, channel: str, limit: int = 100, offset: int = 0, username: str | None = None
    ) -> Deferred[list[ChatMessage]]:
        return self.db.read(
            "chat.get_recent_messages", channel, [], messages, limit, offset, username
        )

    def get_chat_activity(
        self, channel: str, start_time: float, end_time: float, bucket: float = 3600
    ) -> Deferred[list[CountBucket]]:
        aggregates.bucket_width(start_time, end_time, bucket)  # a bad bucket fails here
        return self.db.read(
            "chat.get_chat_activity",
            channel,
            [],
            aggregates.chat_per_bucket,
            start_time,
            end_time,
            bucket,
        )

    def get_chatters_between(
        self, channel: str, start_time: float, end_time: float, limit: int = 10
    ) -> Deferred[list[ChatterCount]]:
        return self.db.read(
            "chat.get_chatters_between",
            channel,
            [],
            aggregates.chatters_between,
            start_time,
            end_time,
            limit,
        )


def messages(
    conn: Connection, cid: int, channel: str, limit: int, offset: int, username: str | None
) -> list[ChatMessage]:
    """Chat lines, newest first."""
    q = select(chat_messages).where(cm.channel_id == cid)
    if username is not None:
        q = q.where(cm.username == username)
    q = q.order_by(cm.ts.desc(), cm.id.desc()).limit(limit).offset(offset)
    return [ChatMessage(r.id, channel, r.ts, r.username, r.message) for r in conn.execute(q).all()]
