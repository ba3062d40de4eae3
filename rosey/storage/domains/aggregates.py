"""Aggregate reads for the status page, on a database thread: counts per time bucket, per user
and per media item over a bounded period.

Each query is a range scan of a ``(channel_id, ts)`` index grouped in the database, so its cost
grows with the period asked for, never with the whole history.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Integer, cast, func, literal, select
from sqlalchemy.engine import Connection

from rosey.storage.rows import ChatterCount, CountBucket, MediaPlayCount, UserCountBucket
from rosey.storage.tables import chat_messages, media_history, user_count_history

#: The most buckets one series may have: a caller asking for more gets wider buckets.
MAX_BUCKETS = 2000


def bucket_width(start_time: float, end_time: float, bucket: float) -> float:
    """``bucket`` widened so that ``[start_time, end_time]`` holds at most :data:`MAX_BUCKETS`."""
    if bucket <= 0:
        raise ValueError(f"bucket must be positive, not {bucket}")
    span = max(end_time - start_time, 0.0)
    return max(float(bucket), span / MAX_BUCKETS)


def _bucket_index(conn: Connection, column: Any, width: float) -> ColumnElement[Any]:
    """``floor(column / width)`` as an integer: SQLite's CAST truncates (timestamps are
    positive), PostgreSQL's rounds, hence floor there."""
    if conn.dialect.name == "sqlite":
        return cast(column / width, Integer)
    return cast(func.floor(column / width), Integer)


def chat_per_bucket(
    conn: Connection, cid: int, channel: str, start_time: float, end_time: float, bucket: float
) -> list[CountBucket]:
    """Chat lines per bucket in ``[start_time, end_time)``, oldest first; empty buckets left out."""
    c = chat_messages.c
    width = bucket_width(start_time, end_time, bucket)
    index = _bucket_index(conn, c.ts, width).label("b")
    q = (
        select(index, func.count())
        .where(c.channel_id == cid, c.ts >= start_time, c.ts < end_time)
        .group_by(index)
        .order_by(index)
    )
    return [CountBucket(b * width, n) for b, n in conn.execute(q).all()]


def chatters_between(
    conn: Connection, cid: int, channel: str, start_time: float, end_time: float, limit: int
) -> list[ChatterCount]:
    """Users with the most chat lines in ``[start_time, end_time)`` first."""
    c = chat_messages.c
    lines = func.count().label("lines")
    # Grouped by an expression, not the column: on the column SQLite's planner picks the
    # (channel_id, username, ts) index for the GROUP BY and walks the channel's whole history;
    # the period's range on (channel_id, ts) is what stays bounded.
    name = (c.username + literal("")).label("name")
    q = (
        select(name, lines)
        .where(c.channel_id == cid, c.ts >= start_time, c.ts < end_time)
        .group_by(name)
        .order_by(lines.desc(), name)
        .limit(limit)
    )
    return [ChatterCount(name, n) for name, n in conn.execute(q).all()]


def user_counts_per_bucket(
    conn: Connection, cid: int, channel: str, start_time: float, end_time: float, bucket: float
) -> list[UserCountBucket]:
    """The highest counts per bucket in ``[start_time, end_time)``, oldest first."""
    c = user_count_history.c
    width = bucket_width(start_time, end_time, bucket)
    index = _bucket_index(conn, c.ts, width).label("b")
    q = (
        select(index, func.max(c.chat_users), func.max(c.connected_users))
        .where(c.channel_id == cid, c.ts >= start_time, c.ts < end_time)
        .group_by(index)
        .order_by(index)
    )
    return [UserCountBucket(b * width, chat, conn_) for b, chat, conn_ in conn.execute(q).all()]


def most_played(
    conn: Connection,
    cid: int,
    channel: str,
    start_time: float | None,
    end_time: float | None,
    limit: int,
) -> list[MediaPlayCount]:
    """The items played most often in the period, most first (ties: the latest played first)."""
    c = media_history.c
    plays = func.count().label("plays")
    last = func.max(c.started_at).label("last")
    q = select(c.media_type, c.media_id, plays, last).where(c.channel_id == cid)
    if start_time is not None:
        q = q.where(c.started_at >= start_time)
    if end_time is not None:
        q = q.where(c.started_at < end_time)
    q = q.group_by(c.media_type, c.media_id).order_by(plays.desc(), last.desc()).limit(limit)
    top = conn.execute(q).all()
    result = []
    for media_type, media_id, n, last_played in top:
        # The title and queuer of the last play: one indexed lookup per item (limit is small).
        row = conn.execute(
            select(c.title, c.queued_by)
            .where(
                c.channel_id == cid,
                c.started_at == last_played,
                c.media_type == media_type,
                c.media_id == media_id,
            )
            .limit(1)
        ).first()
        title, queued_by = (row.title, row.queued_by) if row is not None else (media_id, None)
        result.append(MediaPlayCount(media_type, media_id, title, n, last_played, queued_by))
    return result
