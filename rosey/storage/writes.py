"""Applying write operations inside a transaction (runs on a database thread).

:func:`apply_ops` is the fast path: consecutive chat lines become one ``executemany`` plus one
upsert per distinct user. :func:`apply_each` is the salvage path after a non-transient failure:
each operation gets its own savepoint, with text cleaned of what databases refuse (NUL, lone
surrogates), so one hostile operation cannot sink the rest of a batch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, bindparam, case, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.types import Double

from rosey.storage import ops as o
from rosey.storage.tables import (
    bot_status,
    channel_stats,
    channels,
    chat_messages,
    media_history,
    user_actions,
    user_count_history,
    user_stats,
)

#: Seconds within which the same item seen again counts as the same play.
SAME_PLAY_WINDOW = 15.0

us = user_stats.c


def upsert(conn: Connection, table: Any) -> Any:
    """The dialect's ``INSERT`` with ``on_conflict_do_*`` (SQLite and PostgreSQL share it)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def greatest(a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
    """``max(a, b)`` where NULL loses, portable across dialects."""
    return case((a.is_(None), b), (b > a, b), else_=a)


def least(a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
    """``min(a, b)`` where NULL loses, portable across dialects."""
    return case((a.is_(None), b), (b < a, b), else_=a)


class _Statements:
    """The hot path's statements, built once per dialect: building and cache-keying a Core
    statement costs far more than executing it (about 100 µs against 10 µs on SQLite)."""

    def __init__(self, dialect: str) -> None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        keys = [us.channel_id, us.username]
        ins = insert(user_stats)
        self.chat_stats = ins.on_conflict_do_update(
            index_elements=keys,
            set_={
                "total_chat_lines": us.total_chat_lines + ins.excluded.total_chat_lines,
                "first_seen": least(us.first_seen, ins.excluded.first_seen),
                "last_seen": greatest(us.last_seen, ins.excluded.last_seen),
            },
        )
        ins = insert(user_stats)
        self.session = ins.on_conflict_do_update(
            index_elements=keys,
            set_={
                "first_seen": least(us.first_seen, ins.excluded.first_seen),
                "last_seen": greatest(us.last_seen, ins.excluded.last_seen),
                "current_session_start": func.coalesce(
                    us.current_session_start, ins.excluded.current_session_start
                ),
            },
        )
        ins = insert(user_stats)
        self.seen = ins.on_conflict_do_update(
            index_elements=keys,
            set_={
                "first_seen": least(us.first_seen, ins.excluded.first_seen),
                "last_seen": greatest(us.last_seen, ins.excluded.last_seen),
            },
        )
        end = bindparam("b_end", type_=Double)
        self.close = _close_sessions(
            end, us.channel_id == bindparam("b_cid"), us.username == bindparam("b_user")
        )
        self.action = user_actions.insert()


_STATEMENTS: dict[str, _Statements] = {}


def statements(conn: Connection) -> _Statements:
    """The prebuilt statements for ``conn``'s dialect."""
    name = conn.dialect.name
    found = _STATEMENTS.get(name)
    if found is None:
        found = _STATEMENTS[name] = _Statements(name)
    return found


def find_channel(conn: Connection, name: str) -> int | None:
    """The id of channel ``name``, or None."""
    query = select(channels.c.id).where(channels.c.name == name)
    return conn.execute(query).scalar_one_or_none()


def create_channel(conn: Connection, name: str, now: float | None) -> int:
    """The id of channel ``name``, inserting the channel if it is missing."""
    stmt = upsert(conn, channels).values(name=name, created_at=now)
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
    found = find_channel(conn, name)
    assert found is not None
    return found


_SEGMENT = frozenset({o.ChatLine, o.UserJoined, o.UserLeft})


def apply_ops(conn: Connection, cid: int, batch: Sequence[o.WriteOp]) -> None:
    """Apply ``batch`` in order, except that within a run of chat lines, joins and leaves the
    chat lines go first, in one ``executemany``, and joins and leaves are grouped (see
    :func:`_presence`): these operations commute (different tables, or ``user_stats``
    columns updated with sums, ``least`` and ``greatest``)."""
    i, n = 0, len(batch)
    while i < n:
        op = batch[i]
        if type(op) in _SEGMENT:
            j = i + 1
            while j < n and type(batch[j]) in _SEGMENT:
                j += 1
            segment = batch[i:j]
            chat = [op for op in segment if type(op) is o.ChatLine]
            if chat:
                _chat_lines(conn, cid, chat)
            if len(chat) < len(segment):
                _presence_changes(conn, cid, [op for op in segment if type(op) is not o.ChatLine])
            i = j
        else:
            _HANDLERS[type(op)](conn, cid, op)
            i += 1


def _presence_changes(conn: Connection, cid: int, ops: list[Any]) -> None:
    """Joins and leaves in rounds: round k holds each user's k-th operation, so a round has
    each user at most once and its joins and leaves commute; rounds keep each user's order."""
    rounds: list[tuple[list[o.UserJoined], list[o.UserLeft]]] = []
    seen: dict[str, int] = {}
    for op in ops:
        k = seen.get(op.username, 0)
        seen[op.username] = k + 1
        if k == len(rounds):
            rounds.append(([], []))
        if type(op) is o.UserJoined:
            rounds[k][0].append(op)
        else:
            rounds[k][1].append(op)
    for joins, leaves in rounds:
        if joins:
            _users_joined(conn, cid, joins)
        if leaves:
            _users_left(conn, cid, leaves)


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


# -- chat ---------------------------------------------------------------------------------------


def _chat_exists(conn: Connection, cid: int, ts: float, username: str, message: str) -> bool:
    c = chat_messages.c
    query = select(literal(1)).where(
        c.channel_id == cid, c.ts == ts, c.username == username, c.message == message
    )
    return conn.execute(query.limit(1)).first() is not None


def _chat_lines(conn: Connection, cid: int, lines: Sequence[o.ChatLine]) -> None:
    if any(line.replayed for line in lines):
        lines = _drop_replayed_duplicates(conn, cid, lines)
    if not lines:
        return
    rows = [
        {
            "channel_id": cid,
            "ts": line.timestamp,
            "username": line.username,
            "message": line.message,
        }
        for line in lines
    ]
    stats: dict[str, list[Any]] = {}
    for line in lines:
        s = stats.get(line.username)
        if s is None:
            stats[line.username] = [1, line.timestamp, line.timestamp]
        else:
            s[0] += 1
            if line.timestamp < s[1]:
                s[1] = line.timestamp
            elif line.timestamp > s[2]:
                s[2] = line.timestamp
    conn.execute(chat_messages.insert(), rows)
    conn.execute(
        statements(conn).chat_stats,
        [
            {
                "channel_id": cid,
                "username": user,
                "total_chat_lines": n,
                "first_seen": first,
                "last_seen": last,
            }
            for user, (n, first, last) in stats.items()
        ],
    )


def _drop_replayed_duplicates(
    conn: Connection, cid: int, lines: Sequence[o.ChatLine]
) -> list[o.ChatLine]:
    kept: list[o.ChatLine] = []
    seen: set[tuple[float, str, str]] = set()
    for line in lines:
        key = (line.timestamp, line.username, line.message)
        if line.replayed and (key in seen or _chat_exists(conn, cid, *key)):
            continue
        seen.add(key)
        kept.append(line)
    return kept


# -- presence and sessions ----------------------------------------------------------------------


def _present(cid: int, ts: float, username: str) -> dict[str, Any]:
    return {
        "channel_id": cid,
        "username": username,
        "first_seen": ts,
        "last_seen": ts,
        "current_session_start": ts,
    }


def _close_sessions(end: ColumnElement[Any], *where: ColumnElement[bool]) -> Any:
    """UPDATE closing open sessions at ``end``, adding their length to the total."""
    length = case((end > us.current_session_start, end - us.current_session_start), else_=0.0)
    return (
        update(user_stats)
        .where(us.current_session_start.is_not(None), *where)
        .values(
            total_time_connected=us.total_time_connected + length,
            current_session_start=None,
            last_seen=greatest(us.last_seen, end),
        )
    )


def _action(
    conn: Connection, cid: int, ts: float, user: str, kind: str, details: str | None
) -> None:
    conn.execute(
        user_actions.insert().values(
            channel_id=cid, ts=ts, username=user, action_type=kind, details=details
        )
    )


def _user_joined(conn: Connection, cid: int, op: o.UserJoined) -> None:
    _users_joined(conn, cid, [op])


def _actions(
    cid: int, ops: Sequence[o.UserJoined | o.UserLeft], kind: str
) -> list[dict[str, Any]]:
    return [
        {"channel_id": cid, "ts": op.timestamp, "username": op.username, "action_type": kind,
         "details": None}
        for op in ops
    ]


def _users_joined(conn: Connection, cid: int, ops: Sequence[o.UserJoined]) -> None:
    s = statements(conn)
    conn.execute(s.action, _actions(cid, ops, "join"))
    conn.execute(s.session, [_present(cid, op.timestamp, op.username) for op in ops])


def _users_left(conn: Connection, cid: int, ops: Sequence[o.UserLeft]) -> None:
    s = statements(conn)
    conn.execute(s.action, _actions(cid, ops, "leave"))
    conn.execute(
        s.close, [{"b_cid": cid, "b_user": op.username, "b_end": op.timestamp} for op in ops]
    )
    conn.execute(
        s.seen,
        [
            {"channel_id": cid, "username": op.username, "first_seen": op.timestamp,
             "last_seen": op.timestamp}
            for op in ops
        ],
    )


def _user_left(conn: Connection, cid: int, op: o.UserLeft) -> None:
    _users_left(conn, cid, [op])


def _presence(conn: Connection, cid: int, op: o.Presence) -> None:
    names = list(dict.fromkeys(op.usernames))
    stale = _close_sessions(
        func.coalesce(us.last_seen, us.current_session_start),
        us.channel_id == cid,
        us.username.not_in(names),
    )
    conn.execute(stale)
    if names:
        conn.execute(statements(conn).session, [_present(cid, op.timestamp, n) for n in names])


def _sessions_ended(conn: Connection, cid: int, op: o.SessionsEnded) -> None:
    conn.execute(_close_sessions(literal(op.timestamp), us.channel_id == cid))


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


def _action_logged(conn: Connection, cid: int, op: o.ActionLogged) -> None:
    _action(conn, cid, op.timestamp, op.username, op.action_type, op.details)


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


def _chat_line_alone(conn: Connection, cid: int, op: o.ChatLine) -> None:
    _chat_lines(conn, cid, [op])


_HANDLERS: dict[type, Callable[[Connection, int, Any], None]] = {
    o.ChatLine: _chat_line_alone,
    o.ActionLogged: _action_logged,
    o.UserJoined: _user_joined,
    o.UserLeft: _user_left,
    o.Presence: _presence,
    o.SessionsEnded: _sessions_ended,
    o.UserCountSample: _user_count,
    o.HighWater: _high_water,
    o.MediaChanged: _media_changed,
    o.StatusChanged: _status_changed,
    o.UserStatsSet: _user_stats_set,
}
