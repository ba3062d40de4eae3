"""Read queries (and the small read-modify writes of outbound messages and the plugin store).

Each function runs on a database thread inside a transaction, takes the resolved channel id
``cid`` and the channel name (to fill rows), and returns plain rows from :mod:`.rows`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection

from rosey.storage.errors import StorageError
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
from rosey.storage.tables import (
    bot_status,
    channel_stats,
    channels,
    chat_messages,
    media_history,
    outbound_messages,
    plugin_kv,
    user_actions,
    user_count_history,
    user_stats,
)
from rosey.storage.writes import upsert

us, ua, cm, ob, kv = (
    user_stats.c,
    user_actions.c,
    chat_messages.c,
    outbound_messages.c,
    plugin_kv.c,
)


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


def actions(
    conn: Connection,
    cid: int,
    channel: str,
    username: str | None,
    action_type: str | None,
    limit: int,
    offset: int,
) -> list[UserAction]:
    """Logged actions, newest first."""
    q = select(user_actions).where(ua.channel_id == cid)
    if username is not None:
        q = q.where(ua.username == username)
    if action_type is not None:
        q = q.where(ua.action_type == action_type)
    q = q.order_by(ua.ts.desc(), ua.id.desc()).limit(limit).offset(offset)
    return [
        UserAction(r.id, channel, r.ts, r.username, r.action_type, r.details)
        for r in conn.execute(q).all()
    ]


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


def messages(
    conn: Connection, cid: int, channel: str, limit: int, offset: int, username: str | None
) -> list[ChatMessage]:
    """Chat lines, newest first."""
    q = select(chat_messages).where(cm.channel_id == cid)
    if username is not None:
        q = q.where(cm.username == username)
    q = q.order_by(cm.ts.desc(), cm.id.desc()).limit(limit).offset(offset)
    return [ChatMessage(r.id, channel, r.ts, r.username, r.message) for r in conn.execute(q).all()]


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


def outbound_insert(
    conn: Connection,
    cid: int,
    created_at: float,
    recipient: str | None,
    message: str,
    sender: str | None,
) -> int:
    """Queue an outbound message; return its id."""
    result = conn.execute(
        outbound_messages.insert().values(
            channel_id=cid,
            created_at=created_at,
            recipient=recipient,
            sender=sender,
            message=message,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def outbound_unsent(
    conn: Connection,
    cid: int,
    channel: str,
    recipient: str,
    limit: int,
    max_retries: int | None,
) -> list[OutboundMessage]:
    """Unsent messages for a recipient (case-insensitive), oldest first."""
    q = select(outbound_messages).where(
        ob.channel_id == cid,
        ob.sent.is_(False),
        func.lower(ob.recipient) == recipient.lower(),
    )
    if max_retries is not None:
        q = q.where(ob.retry_count < max_retries)
    q = q.order_by(ob.created_at, ob.id).limit(limit)
    return [_outbound(channel, r) for r in conn.execute(q).all()]


def outbound_recipients(conn: Connection) -> list[tuple[str, str | None]]:
    """(channel, recipient) of every unsent message in every channel, each pair once."""
    q = (
        select(channels.c.name, ob.recipient)
        .join(channels, channels.c.id == ob.channel_id)
        .where(ob.sent.is_(False))
        .distinct()
    )
    return [(str(name), recipient) for name, recipient in conn.execute(q).all()]


def outbound_sent(conn: Connection, cid: int, channel: str, message_id: int, now: float) -> None:
    """Mark a message delivered."""
    stmt = update(outbound_messages).where(ob.id == message_id, ob.channel_id == cid)
    conn.execute(stmt.values(sent=True, sent_at=now))


def outbound_failed(conn: Connection, cid: int, channel: str, message_id: int, error: str) -> int:
    """Count a failed delivery; return the new retry count."""
    where = (ob.id == message_id, ob.channel_id == cid)
    stmt = update(outbound_messages).where(*where)
    conn.execute(stmt.values(retry_count=ob.retry_count + 1, last_error=error))
    count = conn.execute(select(ob.retry_count).where(*where)).scalar_one_or_none()
    if count is None:
        raise StorageError(f"no outbound message {message_id} in {channel}")
    return int(count)


def kv_value(
    conn: Connection, cid: int, channel: str, namespace: str, key: str, now: float
) -> str | None:
    """A plugin value unless absent or expired."""
    q = select(kv.value, kv.expires_at).where(
        kv.channel_id == cid, kv.namespace == namespace, kv.key == key
    )
    row = conn.execute(q).first()
    if row is None or (row.expires_at is not None and row.expires_at <= now):
        return None
    return str(row.value)


def kv_remove(conn: Connection, cid: int, channel: str, namespace: str, key: str) -> bool:
    """Delete a plugin value; return whether it existed."""
    stmt = delete(plugin_kv).where(kv.channel_id == cid, kv.namespace == namespace, kv.key == key)
    return bool(conn.execute(stmt).rowcount)


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


def _outbound(channel: str, r: Any) -> OutboundMessage:
    return OutboundMessage(
        id=r.id,
        channel=channel,
        created_at=r.created_at,
        recipient=r.recipient,
        sender=r.sender,
        message=r.message,
        sent=bool(r.sent),
        sent_at=r.sent_at,
        retry_count=r.retry_count,
        last_error=r.last_error,
    )


def kv_put(
    conn: Connection,
    cid: int,
    namespace: str,
    key: str,
    value: str,
    expires_at: float | None,
    now: float,
) -> None:
    """Store a plugin value (insert or overwrite)."""
    ins = upsert(conn, plugin_kv).values(
        channel_id=cid,
        namespace=namespace,
        key=key,
        value=value,
        expires_at=expires_at,
        updated_at=now,
    )
    conn.execute(
        ins.on_conflict_do_update(
            index_elements=[kv.channel_id, kv.namespace, kv.key],
            set_={
                "value": ins.excluded.value,
                "expires_at": ins.excluded.expires_at,
                "updated_at": ins.excluded.updated_at,
            },
        )
    )
