"""What the page and the API show, as JSON-able dicts: the channel now (from the bot's mirror)
and its history (from the storage's read API).

Every string in these dicts is the user's or the server's own text, unescaped: the template
engine escapes it in HTML, ``textContent`` in the browser, JSON encoding in the API.
"""

from __future__ import annotations

from typing import Any

from rosey.bot.state import User
from rosey.bot.state.models import Media, PlaylistItem
from rosey.storage.interface import IStorage
from rosey.web.channels import WebChannel

HOUR = 3600.0
DAY = 86400.0

#: The periods the page offers: name -> (seconds, user-count bucket seconds).
RANGES: dict[str, tuple[float, float]] = {
    "24h": (DAY, 300.0),
    "7d": (7 * DAY, 1800.0),
    "30d": (30 * DAY, 7200.0),
}
#: The top chatters' periods: the three ranges, and ``all`` (the stored totals).
CHATTER_RANGES = (*RANGES, "all")
#: Playlist items shown after the current one.
NEXT_ITEMS = 10
#: Weeks the weekday x hour heat map counts.
HEATMAP_WEEKS = 4

_LINKS = {
    "yt": "https://www.youtube.com/watch?v={}",
    "yp": "https://www.youtube.com/playlist?list={}",
    "vi": "https://vimeo.com/{}",
    "dm": "https://www.dailymotion.com/video/{}",
    "sc": "{}",
    "tw": "https://twitch.tv/{}",
    "fi": "{}",
    "cm": "{}",
    "gd": "https://docs.google.com/file/d/{}",
    "sb": "https://streamable.com/{}",
}


def media_link(media_type: str, media_id: str) -> str | None:
    """A link to the item's page, or None; only ever ``http(s)://`` (never ``javascript:``)."""
    pattern = _LINKS.get(media_type)
    if pattern is None:
        return None
    link = pattern.format(media_id)
    return link if link.startswith(("https://", "http://")) else None


def _media(media: Media) -> dict[str, Any]:
    return {
        "type": media.type,
        "id": media.id,
        "title": media.title,
        "duration": media.seconds,
        "link": media_link(media.type, media.id),
    }


def _item(item: PlaylistItem) -> dict[str, Any]:
    return {**_media(item.media), "uid": item.uid, "queued_by": item.queueby or None}


def _user(user: User, leader: str | None) -> dict[str, Any]:
    return {
        "name": user.name,
        "rank": user.rank,
        "afk": user.afk,
        "leader": leader is not None and user.name.casefold() == leader.casefold(),
    }


def channel_summary(channel: WebChannel) -> dict[str, Any]:
    """The index's line for one channel."""
    mirror = channel.bot.mirror
    playing = mirror.playlist.now_playing
    return {
        "site": channel.site,
        "name": channel.name,
        "path": channel.path,
        "api": f"/api{channel.path}",
        "connected": bool(getattr(channel.bot.connection, "connected", False)),
        "user_count": mirror.user_count,
        "connected_count": mirror.connected_count,
        "now_playing": None if playing is None else playing.media.title,
    }


def channel_now(channel: WebChannel) -> dict[str, Any]:
    """The channel now: who is here, what plays and what comes next."""
    mirror = channel.bot.mirror
    users = mirror.users
    playlist = mirror.playlist
    playing = playlist.now_playing
    now: dict[str, Any] | None = None
    if playing is not None:
        current = playlist.current
        now = {
            **_media(playing.media),
            "queued_by": current.queueby or None if current is not None else None,
            "position": playing.current_time,
            "paused": playing.paused,
        }
    items = playlist.items
    uids = [item.uid for item in items]
    start = uids.index(playlist.current_uid) + 1 if playlist.current_uid in uids else 0
    return {
        **channel_summary(channel),
        "users": [_user(u, users.leader) for u in users],
        "leader": users.leader,
        "now_playing": now,
        "next": [_item(item) for item in items[start : start + NEXT_ITEMS]],
        "playlist_length": len(items),
    }


async def user_history(
    storage: IStorage, channel: WebChannel, period: str, now: float
) -> dict[str, Any]:
    """Users in the channel over ``period`` (a key of :data:`RANGES`), downsampled, with the
    high-water mark."""
    span, bucket = RANGES[period]
    start = now - span
    series = await storage.get_user_count_series(channel.storage_key, start, now, bucket)
    high = await storage.get_channel_stats(channel.storage_key)
    return {
        "range": period,
        "start": start,
        "end": now,
        "points": [[b.start, b.chat_users, b.connected_users] for b in series],
        "max_users": high.max_users,
        "max_users_at": high.max_users_timestamp,
        "max_connected": high.max_connected,
        "max_connected_at": high.max_connected_timestamp,
    }


async def chat_activity(
    storage: IStorage, channel: WebChannel, days: int, now: float
) -> dict[str, Any]:
    """Chat lines per hour over the last ``days`` days, and the weekday x hour heat map (UTC,
    Monday first) over the last :data:`HEATMAP_WEEKS` weeks."""
    end = (now // HOUR + 1) * HOUR
    weeks = max(HEATMAP_WEEKS * 7, days)
    buckets = await storage.get_chat_activity(channel.storage_key, end - weeks * DAY, end, HOUR)
    heat = [[0] * 24 for _ in range(7)]
    for b in buckets:
        if b.start >= end - HEATMAP_WEEKS * 7 * DAY:
            day = int(b.start // DAY)
            heat[(day + 3) % 7][int(b.start % DAY // HOUR)] += b.count  # 1970-01-01: Thursday
    start = end - days * DAY
    return {
        "days": days,
        "start": start,
        "end": end,
        "bucket": HOUR,
        "points": [[b.start, b.count] for b in buckets if b.start >= start],
        "heatmap": {"weeks": HEATMAP_WEEKS, "timezone": "UTC", "counts": heat},
    }


async def top_chatters(
    storage: IStorage, channel: WebChannel, period: str, now: float, limit: int = 10
) -> dict[str, Any]:
    """The users with the most chat lines over ``period`` (a key of :data:`RANGES`, or
    ``all``: the stored totals)."""
    if period == "all":
        stats = await storage.get_top_chatters(channel.storage_key, limit)
        top = [{"name": s.username, "lines": s.total_chat_lines} for s in stats]
    else:
        span = RANGES[period][0]
        counts = await storage.get_chatters_between(channel.storage_key, now - span, now, limit)
        top = [{"name": c.username, "lines": c.lines} for c in counts]
    return {"range": period, "chatters": top}


async def media_history(
    storage: IStorage, channel: WebChannel, now: float, limit: int = 15
) -> dict[str, Any]:
    """What played lately (who queued it) and what played most over the last 30 days."""
    recent = await storage.get_media_history(channel.storage_key, limit)
    most = await storage.get_most_played(channel.storage_key, now - 30 * DAY, None, 10)
    return {
        "recent": [
            {
                "type": p.media_type,
                "id": p.media_id,
                "title": p.title,
                "duration": p.duration,
                "queued_by": p.queued_by,
                "started_at": p.started_at,
                "link": media_link(p.media_type, p.media_id),
            }
            for p in recent
        ],
        "most_played": [
            {
                "type": m.media_type,
                "id": m.media_id,
                "title": m.title,
                "plays": m.plays,
                "last_played": m.last_played,
                "queued_by": m.queued_by,
                "link": media_link(m.media_type, m.media_id),
            }
            for m in most
        ],
    }


async def recent_chat(storage: IStorage, channel: WebChannel, limit: int = 30) -> dict[str, Any]:
    """The last chat lines, oldest first (plain text as stored)."""
    lines = await storage.get_recent_messages(channel.storage_key, limit)
    return {
        "messages": [
            {"user": m.username, "text": m.message, "time": m.timestamp} for m in reversed(lines)
        ]
    }
