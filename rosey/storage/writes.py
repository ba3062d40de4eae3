"""Applying write operations inside a transaction (runs on a database thread).

:func:`apply_ops` is the fast path: runs of chat lines, joins, leaves and logged actions go to
:mod:`rosey.storage.bulk` (a few ``executemany`` per run); the other operations are applied one
by one here. :func:`apply_each` is the salvage path after a non-transient failure:
each operation gets its own savepoint, with text cleaned of what databases refuse (NUL, lone
surrogates), so one hostile operation cannot sink the rest of a batch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import func, literal, select, update
from sqlalchemy.engine import Connection

from rosey.interfaces import channel_key
from rosey.storage import bulk, sessions
from rosey.storage import ops as o
from rosey.storage.sessions import close_sessions, greatest
from rosey.storage.tables import (
    bot_status,
    channel_stats,
    channels,
    media_history,
    user_count_history,
    user_stats,
)

#: Seconds within which the same item seen again counts as the same play.
SAME_PLAY_WINDOW = 15.0

us = user_stats.c


def upsert(conn: Connection, table: Any) -> Any:
    """The dialect's ``INSERT`` with ``on_conflict_do_*`` (SQLite and PostgreSQL share it)."""
    return sessions.dialect_insert(conn.dialect.name)(table)


_SESSION: dict[str, Any] = {}


def session_upsert(conn: Connection) -> Any:
    """:func:`rosey.storage.sessions.session_upsert` for ``conn``'s dialect, built once."""
    name = conn.dialect.name
    found = _SESSION.get(name)
    if found is None:
        found = _SESSION[name] = sessions.session_upsert(name)
    return found


def find_channel(conn: Connection, name: str) -> int | None:
    """The id of channel ``name`` (any case), or None."""
    query = select(channels.c.id).where(channels.c.name == channel_key(name))
    return conn.execute(query).scalar_one_or_none()


def create_channel(conn: Connection, name: str, now: float | None) -> int:
    """The id of channel ``name`` (any case), inserting the channel if it is missing."""
    stmt = upsert(conn, channels).values(name=channel_key(name), created_at=now)
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
    found = find_channel(conn, name)
    assert found is not None
    return found


def apply_ops(conn: Connection, cid: int, batch: Sequence[o.WriteOp]) -> None:
    """Apply ``batch`` in order. Runs of chat lines, joins, leaves and logged actions go
    through :func:`rosey.storage.bulk.write_runs` (a few ``executemany`` per run)."""
    bulk.write_runs(conn, cid, batch, _apply_one)


def _apply_one(conn: Connection, cid: int, op: o.WriteOp) -> None:
    _HANDLERS[type(op)](conn, cid, op)


def apply_each(
    conn: Connection, cid: int, batch: Sequence[o.WriteOp]
) -> list[tuple[o.WriteOp, str]]:
    """Apply ``batch`` one cleaned operation per savepoint; return the ones that still failed."""
    failed: list[tuple[o.WriteOp, str]] = []
    for op in batch:
        clean = clean_op(op)
        try:
            with conn.begin_nested():
                apply_ops(conn, cid, [clean])
        except Exception as e:
            failed.append((op, f"{type(e).__name__}: {e}".splitlines()[0]))
    return failed


def clean_text(s: str) -> str:
    """``s`` without NUL characters and with lone surrogates replaced by U+FFFD."""
    s = s.replace("\x00", "")
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        s = s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return s


def clean_op(op: o.WriteOp) -> o.WriteOp:
    """``op`` with every text field cleaned by :func:`clean_text`."""
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(op):
        value = getattr(op, f.name)
        if isinstance(value, str):
            changes[f.name] = clean_text(value)
        elif isinstance(value, tuple):
            changes[f.name] = tuple(clean_text(v) if isinstance(v, str) else v for v in value)
    return dataclasses.replace(op, **changes)


# -- presence and sessions ----------------------------------------------------------------------


def _present(cid: int, ts: float, username: str) -> dict[str, Any]:
    return {
        "channel_id": cid,
        "username": username,
        "first_seen": ts,
        "last_seen": ts,
        "current_session_start": ts,
    }


def _presence(conn: Connection, cid: int, op: o.Presence) -> None:
    names = list(dict.fromkeys(op.usernames))
    stale = close_sessions(
        func.coalesce(us.last_seen, us.current_session_start),
        us.channel_id == cid,
        us.username.not_in(names),
    )
    conn.execute(stale)
    if names:
        conn.execute(session_upsert(conn), [_present(cid, op.timestamp, n) for n in names])


def _sessions_ended(conn: Connection, cid: int, op: o.SessionsEnded) -> None:
    conn.execute(close_sessions(literal(op.timestamp), us.channel_id == cid))


def _user_stats_set(conn: Connection, cid: int, op: o.UserStatsSet) -> None:
    given = {
        "first_seen": op.first_seen,
        "last_seen": op.last_seen,
        "total_chat_lines": op.total_chat_lines,
        "total_time_connected": op.total_time_connected,
        "current_session_start": op.current_session_start,
    }
    values = {k: v for k, v in given.items() if v is not None}
    ins = upsert(conn, user_stats).values(channel_id=cid, username=op.username, **values)
    if values:
        stmt = ins.on_conflict_do_update(
            index_elements=[us.channel_id, us.username],
            set_={k: getattr(ins.excluded, k) for k in values},
        )
    else:
        stmt = ins.on_conflict_do_nothing(index_elements=[us.channel_id, us.username])
    conn.execute(stmt)


# -- channel-level ------------------------------------------------------------------------------


def _user_count(conn: Connection, cid: int, op: o.UserCountSample) -> None:
    conn.execute(
        user_count_history.insert().values(
            channel_id=cid,
            ts=op.timestamp,
            chat_users=op.chat_users,
            connected_users=op.connected_users,
        )
    )


def _high_water(conn: Connection, cid: int, op: o.HighWater) -> None:
    c = channel_stats.c
    conn.execute(
        upsert(conn, channel_stats)
        .values(channel_id=cid, max_users=0, max_connected=0)
        .on_conflict_do_nothing(index_elements=["channel_id"])
    )
    if op.chat_users is not None:
        conn.execute(
            update(channel_stats)
            .where(c.channel_id == cid, c.max_users < op.chat_users)
            .values(max_users=op.chat_users, max_users_ts=op.timestamp)
        )
    if op.connected_users is not None:
        conn.execute(
            update(channel_stats)
            .where(c.channel_id == cid, c.max_connected < op.connected_users)
            .values(max_connected=op.connected_users, max_connected_ts=op.timestamp)
        )
    conn.execute(
        update(channel_stats)
        .where(c.channel_id == cid)
        .values(last_updated=greatest(c.last_updated, literal(op.timestamp)))
    )


def _media_changed(conn: Connection, cid: int, op: o.MediaChanged) -> None:
    c = media_history.c
    last = conn.execute(
        select(c.id, c.media_type, c.media_id, c.started_at, c.queued_by)
        .where(c.channel_id == cid)
        .order_by(c.started_at.desc(), c.id.desc())
        .limit(1)
    ).first()
    if (
        last is not None
        and (last.media_type, last.media_id) == (op.media_type, op.media_id)
        and abs(last.started_at - op.started_at) < SAME_PLAY_WINDOW
    ):
        if last.queued_by is None and op.queued_by is not None:
            conn.execute(
                update(media_history).where(c.id == last.id).values(queued_by=op.queued_by)
            )
        return
    conn.execute(
        media_history.insert().values(
            channel_id=cid,
            started_at=op.started_at,
            media_type=op.media_type,
            media_id=op.media_id,
            title=op.title,
            duration=op.duration,
            queued_by=op.queued_by,
        )
    )


def _status_changed(conn: Connection, cid: int, op: o.StatusChanged) -> None:
    s = op.status
    values = {
        "bot_name": s.bot_name,
        "bot_rank": s.bot_rank,
        "bot_afk": s.bot_afk,
        "chat_users": s.chat_users,
        "connected_users": s.connected_users,
        "playlist_items": s.playlist_items,
        "media_title": s.media_title,
        "media_duration": s.media_duration,
        "start_time": s.start_time,
        "connected": s.connected,
        "last_updated": s.last_updated,
    }
    ins = upsert(conn, bot_status).values(channel_id=cid, **values)
    conn.execute(
        ins.on_conflict_do_update(
            index_elements=["channel_id"], set_={k: getattr(ins.excluded, k) for k in values}
        )
    )


_HANDLERS: dict[type, Callable[[Connection, int, Any], None]] = {
    o.Presence: _presence,
    o.SessionsEnded: _sessions_ended,
    o.UserCountSample: _user_count,
    o.HighWater: _high_water,
    o.MediaChanged: _media_changed,
    o.StatusChanged: _status_changed,
    o.UserStatsSet: _user_stats_set,
}
