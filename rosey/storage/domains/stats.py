"""Presence and statistics on SQL: users and their sessions, user counts, the channel's
high-water marks, the bot's status."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from twisted.internet.defer import Deferred
from zope.interface import implementer

from rosey.storage import ops as o
from rosey.storage.domains import aggregates
from rosey.storage.domains.base import SQLComponent
from rosey.storage.interface import IStatsStore
from rosey.storage.rows import BotStatus, ChannelStats, UserCount, UserCountBucket, UserStats
from rosey.storage.tables import bot_status, channel_stats, user_count_history, user_stats

us = user_stats.c


@implementer(IStatsStore)
class SQLStats(SQLComponent):
    """:class:`IStatsStore` on SQL."""

    # -- writes -------------------------------------------------------------------------------

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
        return self.db.record(channel, [op], "stats.save_user_stats")

    def update_channel_stats(
        self,
        channel: str,
        max_users: int | None = None,
        max_connected: int | None = None,
        timestamp: float | None = None,
    ) -> Deferred[None]:
        op = o.HighWater(self.db.now(timestamp), max_users, max_connected)
        return self.db.record(channel, [op], "stats.update_channel_stats")

    def log_user_count(
        self, channel: str, chat_users: int, connected_users: int, timestamp: float | None = None
    ) -> Deferred[None]:
        op = o.UserCountSample(self.db.now(timestamp), chat_users, connected_users)
        return self.db.record(channel, [op], "stats.log_user_count")

    def set_status(self, channel: str, status: BotStatus) -> Deferred[None]:
        return self.db.record(channel, [o.StatusChanged(status)], "stats.set_status")

    # -- reads --------------------------------------------------------------------------------

    def get_user_stats(self, channel: str, username: str) -> Deferred[UserStats | None]:
        return self.db.read("stats.get_user_stats", channel, None, user_stats_one, username)

    def get_all_user_stats(
        self, channel: str, limit: int | None = None, offset: int = 0
    ) -> Deferred[list[UserStats]]:
        return self.db.read("stats.get_all_user_stats", channel, [], user_stats_all, limit, offset)

    def get_top_chatters(self, channel: str, limit: int = 10) -> Deferred[list[UserStats]]:
        return self.db.read("stats.get_top_chatters", channel, [], top_chatters, limit)

    def get_channel_stats(self, channel: str) -> Deferred[ChannelStats]:
        return self.db.read(
            "stats.get_channel_stats", channel, no_channel_stats(channel), high_water
        )

    def get_user_count_history(
        self,
        channel: str,
        start_time: float | None = None,
        end_time: float | None = None,
        limit: int | None = None,
    ) -> Deferred[list[UserCount]]:
        return self.db.read(
            "stats.get_user_count_history", channel, [], user_counts, start_time, end_time, limit
        )

    def get_user_count_series(
        self, channel: str, start_time: float, end_time: float, bucket: float = 300
    ) -> Deferred[list[UserCountBucket]]:
        aggregates.bucket_width(start_time, end_time, bucket)  # a bad bucket fails here
        return self.db.read(
            "stats.get_user_count_series",
            channel,
            [],
            aggregates.user_counts_per_bucket,
            start_time,
            end_time,
            bucket,
        )

    def get_status(self, channel: str) -> Deferred[BotStatus | None]:
        return self.db.read("stats.get_status", channel, None, status)


# -- on a database thread -----------------------------------------------------------------------


def no_channel_stats(channel: str) -> ChannelStats:
    """High-water marks of a channel with nothing recorded."""
    return ChannelStats(channel, 0, None, 0, None, None)


def user_stats_one(conn: Connection, cid: int, channel: str, username: str) -> UserStats | None:
    """One user's stats; the name matches case-insensitively, an exact match wins."""
    row = conn.execute(
        select(user_stats)
        .where(us.channel_id == cid, func.lower(us.username) == username.lower())
        .order_by((us.username == username).desc())
        .limit(1)
    ).first()
    return None if row is None else _user_stats(channel, row)


def user_stats_all(
    conn: Connection, cid: int, channel: str, limit: int | None, offset: int
) -> list[UserStats]:
    """Every user's stats, by name."""
    q = select(user_stats).where(us.channel_id == cid).order_by(us.username)
    return [_user_stats(channel, r) for r in conn.execute(q.limit(limit).offset(offset)).all()]


def top_chatters(conn: Connection, cid: int, channel: str, limit: int) -> list[UserStats]:
    """Users with the most chat lines first."""
    q = (
        select(user_stats)
        .where(us.channel_id == cid, us.total_chat_lines > 0)
        .order_by(us.total_chat_lines.desc(), us.username)
        .limit(limit)
    )
    return [_user_stats(channel, r) for r in conn.execute(q).all()]


def high_water(conn: Connection, cid: int, channel: str) -> ChannelStats:
    """The channel's high-water marks."""
    r = conn.execute(select(channel_stats).where(channel_stats.c.channel_id == cid)).first()
    if r is None:
        return no_channel_stats(channel)
    return ChannelStats(
        channel, r.max_users, r.max_users_ts, r.max_connected, r.max_connected_ts, r.last_updated
    )


def user_counts(
    conn: Connection,
    cid: int,
    channel: str,
    start_time: float | None,
    end_time: float | None,
    limit: int | None,
) -> list[UserCount]:
    """User-count snapshots in a time range, oldest first."""
    c = user_count_history.c
    q = select(user_count_history).where(c.channel_id == cid)
    if start_time is not None:
        q = q.where(c.ts >= start_time)
    if end_time is not None:
        q = q.where(c.ts <= end_time)
    q = q.order_by(c.ts, c.id).limit(limit)
    return [
        UserCount(r.id, channel, r.ts, r.chat_users, r.connected_users)
        for r in conn.execute(q).all()
    ]


def status(conn: Connection, cid: int, channel: str) -> BotStatus | None:
    """The bot's last recorded status."""
    r = conn.execute(select(bot_status).where(bot_status.c.channel_id == cid)).first()
    if r is None:
        return None
    return BotStatus(
        channel=channel,
        bot_name=r.bot_name,
        bot_rank=r.bot_rank,
        bot_afk=bool(r.bot_afk),
        chat_users=r.chat_users,
        connected_users=r.connected_users,
        playlist_items=r.playlist_items,
        media_title=r.media_title,
        media_duration=r.media_duration,
        start_time=r.start_time,
        connected=bool(r.connected),
        last_updated=r.last_updated,
    )


def _user_stats(channel: str, r: Any) -> UserStats:
    return UserStats(
        channel=channel,
        username=r.username,
        first_seen=r.first_seen,
        last_seen=r.last_seen,
        total_chat_lines=r.total_chat_lines,
        total_time_connected=r.total_time_connected,
        current_session_start=r.current_session_start,
    )
