"""Per-table importers of the Rosey-Robot v1 database (see :mod:`rosey.storage.legacy`).

Each takes a connection in a transaction, the channel id, the legacy rows in chunks (dicts with
every known column, missing ones None) and the table's report to fill. Rows already present are
recognised by their content; stats and high-water marks merge by min/max.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from rosey.storage import writes
from rosey.storage.tables import (
    bot_status,
    channel_stats,
    chat_messages,
    outbound_messages,
    user_actions,
    user_count_history,
    user_stats,
)


@dataclass
class TableReport:
    """What happened to one legacy table."""

    name: str
    read: int = 0
    imported: int = 0
    merged: int = 0
    present: int = 0
    invalid: int = 0
    skipped_columns: list[str] = field(default_factory=list)


def _keys(result: Any) -> set[tuple[Any, ...]]:
    return {tuple(row) for row in result}


def _f(v: Any) -> float | None:
    return None if v is None else float(v)


def _insert_new(
    conn: Connection,
    target: Any,
    keys: set[tuple[Any, ...]],
    chunks: Iterator[list[dict[str, Any]]],
    to_row: Callable[[dict[str, Any]], dict[str, Any] | None],
    key_of: Callable[[dict[str, Any]], tuple[Any, ...]],
    table: TableReport,
) -> None:
    for chunk in chunks:
        new = []
        for legacy_row in chunk:
            row = to_row(legacy_row)
            if row is None:
                table.invalid += 1
                continue
            key = key_of(row)
            if key in keys:
                table.present += 1
                continue
            keys.add(key)
            new.append(row)
        if new:
            conn.execute(target.insert(), new)
            table.imported += len(new)


def _user_actions(conn: Connection, cid: int, chunks: Any, table: TableReport) -> None:
    c = user_actions.c
    keys = _keys(
        conn.execute(select(c.ts, c.username, c.action_type, c.details).where(c.channel_id == cid))
    )

    def to_row(r: dict[str, Any]) -> dict[str, Any] | None:
        if r["timestamp"] is None or not r["username"] or not r["action_type"]:
            return None
        return {
            "channel_id": cid,
            "ts": float(r["timestamp"]),
            "username": r["username"],
            "action_type": r["action_type"],
            "details": r["details"],
        }

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["ts"], r["username"], r["action_type"], r["details"])

    _insert_new(conn, user_actions, keys, chunks, to_row, key, table)


def _user_count_history(conn: Connection, cid: int, chunks: Any, table: TableReport) -> None:
    c = user_count_history.c
    keys = _keys(
        conn.execute(select(c.ts, c.chat_users, c.connected_users).where(c.channel_id == cid))
    )

    def to_row(r: dict[str, Any]) -> dict[str, Any] | None:
        if r["timestamp"] is None or r["chat_users"] is None or r["connected_users"] is None:
            return None
        return {
            "channel_id": cid,
            "ts": float(r["timestamp"]),
            "chat_users": int(r["chat_users"]),
            "connected_users": int(r["connected_users"]),
        }

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["ts"], r["chat_users"], r["connected_users"])

    _insert_new(conn, user_count_history, keys, chunks, to_row, key, table)


def _recent_chat(conn: Connection, cid: int, chunks: Any, table: TableReport) -> None:
    c = chat_messages.c
    keys = _keys(conn.execute(select(c.ts, c.username, c.message).where(c.channel_id == cid)))

    def to_row(r: dict[str, Any]) -> dict[str, Any] | None:
        if r["timestamp"] is None or not r["username"] or r["message"] is None:
            return None
        return {
            "channel_id": cid,
            "ts": float(r["timestamp"]),
            "username": r["username"],
            "message": r["message"],
        }

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["ts"], r["username"], r["message"])

    _insert_new(conn, chat_messages, keys, chunks, to_row, key, table)


def _outbound_messages(conn: Connection, cid: int, chunks: Any, table: TableReport) -> None:
    c = outbound_messages.c
    keys = _keys(
        conn.execute(
            select(c.created_at, c.message).where(c.channel_id == cid, c.recipient.is_(None))
        )
    )

    def to_row(r: dict[str, Any]) -> dict[str, Any] | None:
        if r["timestamp"] is None or r["message"] is None:
            return None
        return {
            "channel_id": cid,
            "created_at": float(r["timestamp"]),
            "recipient": None,
            "sender": None,
            "message": r["message"],
            "sent": bool(r["sent"]),
            "sent_at": _f(r["sent_timestamp"]),
            "retry_count": int(r["retry_count"] or 0),
            "last_error": r["last_error"],
        }

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["created_at"], r["message"])

    _insert_new(conn, outbound_messages, keys, chunks, to_row, key, table)


def _user_stats(conn: Connection, cid: int, chunks: Any, table: TableReport) -> None:
    c = user_stats.c
    fields = ("first_seen", "last_seen", "total_chat_lines", "total_time_connected")
    existing = {
        r.username: r
        for r in conn.execute(
            select(c.username, *[c[f] for f in fields]).where(c.channel_id == cid)
        )
    }
    for chunk in chunks:
        for r in chunk:
            if not r["username"]:
                table.invalid += 1
                continue
            new = {
                "first_seen": _f(r["first_seen"]),
                "last_seen": _f(r["last_seen"]),
                "total_chat_lines": int(r["total_chat_lines"] or 0),
                "total_time_connected": float(r["total_time_connected"] or 0),
            }
            old = existing.get(r["username"])
            if old is None:
                conn.execute(
                    user_stats.insert().values(channel_id=cid, username=r["username"], **new)
                )
                table.imported += 1
                continue
            merged = {
                "first_seen": _pick(min, old.first_seen, new["first_seen"]),
                "last_seen": _pick(max, old.last_seen, new["last_seen"]),
                "total_chat_lines": max(old.total_chat_lines, new["total_chat_lines"]),
                "total_time_connected": max(old.total_time_connected, new["total_time_connected"]),
            }
            if all(merged[f] == getattr(old, f) for f in fields):
                table.present += 1
                continue
            where = (c.channel_id == cid, c.username == r["username"])
            conn.execute(update(user_stats).where(*where).values(**merged))
            table.merged += 1


def _pick(fn: Callable[[float, float], float], a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return a if b is None else b
    return fn(a, b)


def _channel_stats(conn: Connection, cid: int, chunks: Any, table: TableReport) -> None:
    c = channel_stats.c
    conn.execute(
        writes.upsert(conn, channel_stats)
        .values(channel_id=cid, max_users=0, max_connected=0)
        .on_conflict_do_nothing(index_elements=["channel_id"])
    )
    for chunk in chunks:
        for r in chunk:
            old = conn.execute(select(channel_stats).where(c.channel_id == cid)).one()
            changes: dict[str, Any] = {}
            if (r["max_users"] or 0) > old.max_users:
                changes.update(
                    max_users=int(r["max_users"]), max_users_ts=_f(r["max_users_timestamp"])
                )
            if (r["max_connected"] or 0) > old.max_connected:
                changes.update(
                    max_connected=int(r["max_connected"]),
                    max_connected_ts=_f(r["max_connected_timestamp"]),
                )
            if changes:
                changes["last_updated"] = _pick(max, old.last_updated, _f(r["last_updated"]))
                conn.execute(update(channel_stats).where(c.channel_id == cid).values(**changes))
                table.merged += 1
            else:
                table.present += 1


def _current_status(conn: Connection, cid: int, chunks: Any, table: TableReport) -> None:
    for chunk in chunks:
        for r in chunk:
            exists = conn.execute(
                select(bot_status.c.channel_id).where(bot_status.c.channel_id == cid)
            ).first()
            if exists is not None:
                table.present += 1
                continue
            conn.execute(
                bot_status.insert().values(
                    channel_id=cid,
                    bot_name=r["bot_name"],
                    bot_rank=_f(r["bot_rank"]),
                    bot_afk=bool(r["bot_afk"]),
                    chat_users=int(r["current_chat_users"] or 0),
                    connected_users=int(r["current_connected_users"] or 0),
                    playlist_items=int(r["playlist_items"] or 0),
                    media_title=r["current_media_title"],
                    media_duration=r["current_media_duration"],
                    start_time=_f(r["bot_start_time"]),
                    connected=False,
                    last_updated=_f(r["last_updated"]),
                )
            )
            table.imported += 1


IMPORTERS: dict[str, Callable[[Connection, int, Any, TableReport], None]] = {
    "user_stats": _user_stats,
    "user_actions": _user_actions,
    "channel_stats": _channel_stats,
    "user_count_history": _user_count_history,
    "recent_chat": _recent_chat,
    "current_status": _current_status,
    "outbound_messages": _outbound_messages,
}
