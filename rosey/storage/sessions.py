"""The rules of a user's row in ``user_stats``, written once: first and last seen, chat lines,
and sessions (``current_session_start`` and ``total_time_connected``).

- First seen only moves earlier and last seen only later (NULL loses): :func:`least`,
  :func:`greatest`.
- A join opens a session unless one is open (:func:`kept_open`); a leave, a new user list that
  no longer has the user, or the end of the bot's own session closes it, adding its length
  (:func:`session_length`: never negative) to the total (:func:`close_sessions`).

Both write paths use these expressions: the single-write path (:mod:`rosey.storage.writes`)
executes them; the bulk path (:mod:`rosey.storage.bulk`) renders :func:`chatter_upsert` and
:func:`visitor_upsert` to plain SQL once per channel and dialect and hands the driver tuples.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Double, bindparam, case, cast, func, literal_column, update

from rosey.storage.tables import user_stats

us = user_stats.c

#: Zero seconds, written into the statement (a bound parameter would shift the bulk path's
#: positional ones).
ZERO = literal_column("0.0", Double)


def dialect_insert(dialect: str) -> Any:
    """The dialect's ``insert`` with ``on_conflict_do_*`` (PostgreSQL's module is imported only
    for PostgreSQL)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


def greatest(a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
    """``max(a, b)`` where NULL loses, portable across dialects."""
    return case((a.is_(None), b), (b > a, b), else_=a)


def least(a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
    """``min(a, b)`` where NULL loses, portable across dialects."""
    return case((a.is_(None), b), (b < a, b), else_=a)


def session_length(end: ColumnElement[Any], start: ColumnElement[Any]) -> ColumnElement[Any]:
    """Seconds from ``start`` to ``end``; 0 when ``end`` is not later."""
    return case((end > start, end - start), else_=ZERO)


def kept_open(start: ColumnElement[Any]) -> ColumnElement[Any]:
    """The session start after a join at ``start``: the open session's, if one is open."""
    return func.coalesce(us.current_session_start, start)


def _seen(excluded: Any) -> dict[str, Any]:
    """First and last seen, and chat lines, merged with the row ``excluded`` would insert."""
    return {
        "first_seen": least(us.first_seen, excluded.first_seen),
        "last_seen": greatest(us.last_seen, excluded.last_seen),
        "total_chat_lines": us.total_chat_lines + excluded.total_chat_lines,
    }


def close_sessions(end: ColumnElement[Any], *where: ColumnElement[bool]) -> Any:
    """UPDATE closing open sessions at ``end``, adding their length to the total."""
    return (
        update(user_stats)
        .where(us.current_session_start.is_not(None), *where)
        .values(
            total_time_connected=us.total_time_connected
            + session_length(end, us.current_session_start),
            current_session_start=None,
            last_seen=greatest(us.last_seen, end),
        )
    )


def session_upsert(dialect: str) -> Any:
    """Open a session at ``current_session_start`` (first and last seen then too) unless one is
    open: executed with one dict per user."""
    ins = dialect_insert(dialect)(user_stats)
    return ins.on_conflict_do_update(
        index_elements=[us.channel_id, us.username],
        set_={
            "first_seen": least(us.first_seen, ins.excluded.first_seen),
            "last_seen": greatest(us.last_seen, ins.excluded.last_seen),
            "current_session_start": kept_open(ins.excluded.current_session_start),
        },
    )


def chatter_upsert(dialect: str) -> Any:
    """A user who only chatted in a run of the bulk path: ``:u`` (name), ``:f``, ``:l`` (first
    and last line's time), ``:n`` (lines); the channel id is the literal ``{cid}``."""
    ins = dialect_insert(dialect)(user_stats).values(
        channel_id=literal_column("{cid}"),
        username=bindparam("u"),
        first_seen=bindparam("f"),
        last_seen=bindparam("l"),
        total_chat_lines=bindparam("n"),
    )
    return ins.on_conflict_do_update(
        index_elements=[us.channel_id, us.username], set_=_seen(ins.excluded)
    )


def visitor_upsert(dialect: str) -> Any:
    """A user who joined or left in a run of the bulk path (and maybe chatted), with the run
    folded (see :mod:`rosey.storage.bulk`): ``:u``, ``:f``, ``:l``, ``:n`` as for a chatter;
    ``:tot`` and ``:css``, the total and the open session as they would be for a user seen first
    in this run (which is also what an update needs when no session was open before the run);
    ``:l0``, the time of the first leave (None: no leave); ``:d``, seconds connected in the
    sessions opened and closed after it."""
    ins = dialect_insert(dialect)(user_stats).values(
        channel_id=literal_column("{cid}"),
        username=bindparam("u"),
        first_seen=bindparam("f"),
        last_seen=bindparam("l"),
        total_chat_lines=bindparam("n"),
        total_time_connected=bindparam("tot"),
        current_session_start=bindparam("css"),
    )
    new = ins.excluded
    # Typed: PostgreSQL cannot infer a bare parameter's type inside CASE.
    l0, d = cast(bindparam("l0"), Double), cast(bindparam("d"), Double)
    open_before = us.current_session_start
    return ins.on_conflict_do_update(
        index_elements=[us.channel_id, us.username],
        set_={
            **_seen(new),
            # No leave: the run adds nothing yet. No session before the run: the run's own.
            # Else the first leave closes the session open before the run, then the rest.
            "total_time_connected": us.total_time_connected
            + case(
                (l0.is_(None), ZERO),
                (open_before.is_(None), new.total_time_connected),
                else_=session_length(l0, open_before) + d,
            ),
            # No leave: joins keep an open session. Else the run decides.
            "current_session_start": case(
                (l0.is_(None), kept_open(new.current_session_start)),
                else_=new.current_session_start,
            ),
        },
    )
