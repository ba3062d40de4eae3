"""The media history on SQL."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection
from twisted.internet.defer import Deferred
from zope.interface import implementer

from rosey.storage import ops as o
from rosey.storage.domains import aggregates
from rosey.storage.domains.base import SQLComponent
from rosey.storage.interface import IMediaStore
from rosey.storage.rows import MediaPlay, MediaPlayCount
from rosey.storage.tables import media_history


@implementer(IMediaStore)
class SQLMedia(SQLComponent):
    """:class:`IMediaStore` on SQL."""

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
        op = o.MediaChanged(
            self.db.now(started_at), media_type, media_id, title, duration, queued_by
        )
        return self.db.record(channel, [op], "media.log_media")

    def get_media_history(
        self, channel: str, limit: int = 50, offset: int = 0
    ) -> Deferred[list[MediaPlay]]:
        return self.db.read("media.get_media_history", channel, [], media, limit, offset)

    def get_most_played(
        self,
        channel: str,
        start_time: float | None = None,
        end_time: float | None = None,
        limit: int = 10,
    ) -> Deferred[list[MediaPlayCount]]:
        return self.db.read(
            "media.get_most_played",
            channel,
            [],
            aggregates.most_played,
            start_time,
            end_time,
            limit,
        )


def media(conn: Connection, cid: int, channel: str, limit: int, offset: int) -> list[MediaPlay]:
    """What played, newest first."""
    c = media_history.c
    q = (
        select(media_history)
        .where(c.channel_id == cid)
        .order_by(c.started_at.desc(), c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [
        MediaPlay(
            r.id, channel, r.started_at, r.media_type, r.media_id, r.title, r.duration, r.queued_by
        )
        for r in conn.execute(q).all()
    ]
