"""The hot path of a batch: chat lines, joins, leaves and logged actions in a few statements.

A run of these operations (up to the next operation of another kind) is written with at most
four ``executemany`` calls whatever its length: the chat lines; the user actions (joins, leaves,
PMs) in their order; and one ``user_stats`` upsert per user with the run's effect on that user
folded into one row (a short one for users who only chatted). The statements are plain SQL
(the ``user_stats`` upserts are the rules of :mod:`rosey.storage.sessions`, compiled to SQL),
rendered once per channel and dialect with the channel id written in and positional parameters
(SQLite numbers them, so a repeated one is bound once); the rows are plain tuples handed to the
driver as they are. SQLAlchemy does no per-row work: building and processing a dict per row
cost several times the insert, on the thread that shares the GIL with the reactor.

Within a run the operations commute, except a user's joins and leaves among themselves: chat
lines and actions go to their own tables, and a user's chat-line count, first and last seen are
sums, minimums and maximums. A user's session (``current_session_start`` and
``total_time_connected``) depends on the order of their joins and leaves, and on whether a
session was open before the run: the fold keeps what the upsert needs to replay that order in
SQL against the stored row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import literal, select
from sqlalchemy.engine import Connection, Dialect

from rosey.storage import ops as o
from rosey.storage import sessions
from rosey.storage.tables import chat_messages

# Statement templates: {cid} is the channel id (an int, written into the statement: one
# parameter less per row), :name a parameter (see _render).
_CHAT = "INSERT INTO chat_messages (channel_id, ts, username, message) VALUES ({cid}, :t, :u, :m)"
_ACTION = (
    "INSERT INTO user_actions (channel_id, ts, username, action_type, details) "
    "VALUES ({cid}, :t, :u, :k, :x)"
)
# The user_stats upserts follow the session rules of rosey.storage.sessions, rendered to SQL
# once per dialect (see _template).
#: The rows as built (see _write): each parameter once, in this order.
_CHATTER_ROW = ("u", "f", "l", "n")
_VISITOR_ROW = ("u", "f", "l", "n", "tot", "css", "l0", "d")

_PARAM = re.compile(r":([a-z0-9]+)\b")

_TEMPLATES: dict[tuple[str, str], str] = {}


def _template(dialect: str, kind: str) -> str:
    """The ``chatter`` or ``visitor`` upsert of :mod:`rosey.storage.sessions` as SQL text for
    ``dialect``, with ``:name`` parameters and the channel id as ``{cid}`` (see _render)."""
    found = _TEMPLATES.get((dialect, kind))
    if found is None:
        named: Dialect
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql.base import PGDialect

            named = PGDialect(paramstyle="named")
        else:
            from sqlalchemy.dialects.sqlite.base import SQLiteDialect

            named = SQLiteDialect(paramstyle="named")
        build = sessions.chatter_upsert if kind == "chatter" else sessions.visitor_upsert
        # for_executemany: no RETURNING, which a single-row INSERT could get.
        compiled = build(dialect).compile(dialect=named, for_executemany=True)
        found = _TEMPLATES[(dialect, kind)] = str(compiled)
    return found


def _render(template: str, cid: int, paramstyle: str, row: Sequence[str]) -> tuple[str, Any]:
    """``template`` for channel ``cid`` in ``paramstyle``, and what turns a row (a tuple of
    the parameters in ``row``'s order) into the driver's: SQLite numbers its parameters
    (``?3``, each bound once however often it appears); ``format`` repeats them, so the row is
    rearranged (None: the row as it is)."""
    sql = template.replace("{cid}", str(int(cid)))
    names = _PARAM.findall(sql)
    if paramstyle == "qmark":
        return _PARAM.sub(lambda m: f"?{row.index(m.group(1)) + 1}", sql), None
    if paramstyle not in ("format", "pyformat"):
        raise NotImplementedError(f"paramstyle {paramstyle!r}")
    order = [row.index(n) for n in names]
    arrange = None if order == list(range(len(row))) else itemgetter(*order)
    return _PARAM.sub("%s", sql), arrange


class _SQL:
    """The statements for one channel in one dialect's parameter style."""

    def __init__(self, cid: int, dialect: str, paramstyle: str) -> None:
        self.chat, _ = _render(_CHAT, cid, paramstyle, ("t", "u", "m"))
        self.action, _ = _render(_ACTION, cid, paramstyle, ("t", "u", "k", "x"))
        chatter, visitor = _template(dialect, "chatter"), _template(dialect, "visitor")
        self.chatter, self.arrange_chatter = _render(chatter, cid, paramstyle, _CHATTER_ROW)
        self.visitor, self.arrange_visitor = _render(visitor, cid, paramstyle, _VISITOR_ROW)


_CACHE: dict[tuple[str, str, int], _SQL] = {}


def _sql(conn: Connection, cid: int) -> _SQL:
    dialect = conn.dialect
    key = (dialect.name, dialect.paramstyle, cid)
    found = _CACHE.get(key)
    if found is None:
        found = _CACHE[key] = _SQL(cid, key[0], key[1])
    return found


# A user's fold is a list, indexed with literals in the loop (cheaper than an object):
# 0, 1: first, last: earliest and latest time of any of the user's operations.
# 2: lines: chat lines.
# 3: j0: time of the first join before the first leave (None if none): the session a leave
#    closes when none was open before the run.
# 4: l0: time of the first leave (None if none). Until it, joins only open a session if none
#    is open; from it on, the session state is known whatever it was before the run.
# 5: d: seconds connected in sessions opened and closed after l0.
# 6: open: the session open after l0 (its start), if any.


def write_runs(
    conn: Connection,
    cid: int,
    batch: Sequence[o.WriteOp],
    other: Callable[[Connection, int, Any], None],
) -> None:
    """Apply ``batch`` in order: runs of chat lines, joins, leaves and logged actions through
    the bulk statements, every other operation through ``other(conn, cid, op)``."""
    chat: list[tuple[Any, ...]] = []
    actions: list[tuple[Any, ...]] = []
    users: dict[str, list[Any]] = {}
    add_chat, add_action, user = chat.append, actions.append, users.get
    # (ts, user, text) of the chat lines not yet written, once a replayed line needs them: a
    # replayed line already stored, or already in the batch, is dropped.
    seen: set[tuple[float, str, str]] | None = None
    ChatLine, UserJoined, UserLeft = o.ChatLine, o.UserJoined, o.UserLeft
    op: Any  # narrowed by the exact type checks below (mypy cannot follow the aliases)
    for op in batch:
        kind = type(op)
        if kind is ChatLine:  # most of them: kept short
            ts, name = op.timestamp, op.username
            if op.replayed:
                if seen is None:
                    seen = set(chat)
                key = (ts, name, op.message)
                if key in seen or _chat_exists(conn, cid, *key):
                    continue
                seen.add(key)
            elif seen is not None:
                seen.add((ts, name, op.message))
            add_chat((ts, name, op.message))
            s = user(name)
            if s is None:
                users[name] = [ts, ts, 1, None, None, 0.0, None]
            else:
                s[2] += 1
                if ts < s[0]:
                    s[0] = ts
                elif ts > s[1]:
                    s[1] = ts
            continue
        if kind is not UserJoined and kind is not UserLeft:
            if kind is o.ActionLogged:
                add_action((op.timestamp, op.username, op.action_type, op.details))
                continue
            if chat or actions or users:
                _write(conn, cid, chat, actions, users)
                chat.clear()
                actions.clear()
                users.clear()
                seen = None  # written: the database answers for them now
            other(conn, cid, op)
            continue
        ts, name = op.timestamp, op.username
        s = user(name)
        if s is None:
            s = users[name] = [ts, ts, 0, None, None, 0.0, None]
        elif ts < s[0]:
            s[0] = ts
        elif ts > s[1]:
            s[1] = ts
        if kind is UserJoined:
            add_action((ts, name, "join", None))
            if s[4] is None:
                if s[3] is None:
                    s[3] = ts
            elif s[6] is None:
                s[6] = ts
        else:
            add_action((ts, name, "leave", None))
            if s[4] is None:
                s[4] = ts
            elif s[6] is not None:
                if ts > s[6]:
                    s[5] += ts - s[6]
                s[6] = None
    if chat or actions or users:
        _write(conn, cid, chat, actions, users)


def _write(
    conn: Connection,
    cid: int,
    chat: list[tuple[Any, ...]],
    actions: list[tuple[Any, ...]],
    users: dict[str, list[Any]],
) -> None:
    sql = _sql(conn, cid)
    if chat:
        conn.exec_driver_sql(sql.chat, chat)
    if actions:
        conn.exec_driver_sql(sql.action, actions)
    if not users:
        return
    chatters: list[tuple[Any, ...]] = []
    visitors: list[tuple[Any, ...]] = []
    for name, (first, last, lines, j0, l0, d, open_) in users.items():
        if l0 is None:
            if j0 is None:
                chatters.append((name, first, last, lines))
            else:
                # No leave: an open session stays open, else the first join opens one.
                visitors.append((name, first, last, lines, 0.0, j0, None, 0.0))
        else:
            # As a new row (no session before the run): the first leave closes the first
            # join's session, if any; then what followed.
            closed = l0 - j0 if j0 is not None and l0 > j0 else 0.0
            visitors.append((name, first, last, lines, closed + d, open_, l0, d))
    if chatters:
        arrange = sql.arrange_chatter
        conn.exec_driver_sql(
            sql.chatter, chatters if arrange is None else list(map(arrange, chatters))
        )
    if visitors:
        arrange = sql.arrange_visitor
        conn.exec_driver_sql(
            sql.visitor, visitors if arrange is None else list(map(arrange, visitors))
        )


def _chat_exists(conn: Connection, cid: int, ts: float, username: str, message: str) -> bool:
    c = chat_messages.c
    query = select(literal(1)).where(
        c.channel_id == cid, c.ts == ts, c.username == username, c.message == message
    )
    return conn.execute(query.limit(1)).first() is not None
