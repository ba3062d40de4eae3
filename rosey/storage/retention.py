"""Retention: history deleted by age, in bounded batches.

A policy maps a history table (:data:`HISTORY`) to the days of it to keep; a table left out, or
given 0, is kept forever. Expired plugin values (``plugin_kv``) always go. Tables that hold state
rather than history (channels, user and channel stats, the bot's status) are never touched.

Each batch deletes at most ``batch_size`` rows of one table in one channel, oldest first, in its
own short transaction on the storage's thread pool: the reactor never waits, and on SQLite (one
database thread) the recorder's writes queue between two batches instead of behind the whole
prune. The rows of a batch are found through the ``(channel_id, <age column>)`` indexes, so a
batch never scans a table. Cancelling :func:`prune` stops it between batches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Select, delete, func, select, true, tuple_
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.schema import Table
from twisted.internet.defer import Deferred, fail, succeed

from rosey.storage.tables import (
    channels,
    chat_messages,
    media_history,
    outbound_messages,
    plugin_kv,
    user_actions,
    user_count_history,
)

DAY = 86400.0

#: Called after each batch with the table and the rows deleted from it so far.
Progress = Callable[[str, int], None]
#: Runs ``fn(conn, *args)`` in a transaction named by its first argument:
#: :meth:`DBPool.run_interaction`, or :func:`blocking` on the command line.
Runner = Callable[..., Deferred[Any]]


@dataclass(frozen=True)
class _History:
    table: Table
    #: The column that dates a row (a Unix time).
    age: Column[float]
    #: Only rows matching this may go (delivered outbound messages; unsent ones still wait).
    only: ColumnElement[bool] | None = None
    #: Oldest first: free where the index already orders by the age column.
    ordered: bool = True


#: History tables a policy may name, by table name.
HISTORY: dict[str, _History] = {
    "chat_messages": _History(chat_messages, chat_messages.c.ts),
    "user_actions": _History(user_actions, user_actions.c.ts),
    "user_count_history": _History(user_count_history, user_count_history.c.ts),
    "media_history": _History(media_history, media_history.c.started_at),
    "outbound_messages": _History(
        outbound_messages,
        outbound_messages.c.sent_at,
        only=outbound_messages.c.sent == true(),
        # Found through (channel_id, sent): delivered rows are few, sorting them is not worth
        # an index of its own.
        ordered=False,
    ),
}
#: The one table whose rows go when they expire, whatever the policy.
EXPIRED = "plugin_kv"
#: Every table :func:`prune` may delete from, in the order it goes through them.
TABLES = (*HISTORY, EXPIRED)


def cutoffs(policy: Mapping[str, float], now: float) -> dict[str, float]:
    """Table -> the time before which its rows go, for the tables the policy limits.

    Raises ``ValueError`` for a table that is not history or a negative number of days."""
    for name, days in policy.items():
        if name not in HISTORY:
            raise ValueError(f"{name!r} is not a history table (one of {', '.join(HISTORY)})")
        if days < 0:
            raise ValueError(f"{name}: {days} days is negative (0 keeps everything)")
    return {name: now - days * DAY for name, days in policy.items() if days > 0}


def old_rows(name: str, cid: int, cutoff: float) -> Select[tuple[int]]:
    """The ids of one channel's rows of ``name`` older than ``cutoff``, oldest first."""
    h = HISTORY[name]
    c = h.table.c
    q = select(c.id).where(c.channel_id == cid, h.age < cutoff)
    if h.only is not None:
        q = q.where(h.only)
    return q.order_by(h.age) if h.ordered else q


def _expired_keys(now: float) -> Select[tuple[int, str, str]]:
    kv = plugin_kv.c
    return (
        select(kv.channel_id, kv.namespace, kv.key)
        .where(kv.expires_at.is_not(None), kv.expires_at <= now)
        .order_by(kv.expires_at)
    )


# -- on a database thread ---------------------------------------------------------------------


def channel_ids(conn: Connection) -> list[int]:
    """Every channel's id."""
    return [int(i) for i in conn.scalars(select(channels.c.id).order_by(channels.c.id))]


def delete_old(conn: Connection, name: str, cid: int, cutoff: float, limit: int) -> int:
    """Delete at most ``limit`` of one channel's rows of ``name`` older than ``cutoff``."""
    table = HISTORY[name].table
    batch = old_rows(name, cid, cutoff).limit(limit)
    return int(conn.execute(delete(table).where(table.c.id.in_(batch))).rowcount)


def delete_expired(conn: Connection, now: float, limit: int) -> int:
    """Delete at most ``limit`` expired plugin values (every channel)."""
    kv = plugin_kv.c
    batch = _expired_keys(now).limit(limit)
    stmt = delete(plugin_kv).where(tuple_(kv.channel_id, kv.namespace, kv.key).in_(batch))
    return int(conn.execute(stmt).rowcount)


def count_old(conn: Connection, cuts: Mapping[str, float], now: float) -> dict[str, int]:
    """What :func:`prune` would delete now, per table of :data:`TABLES` (nothing deleted)."""
    counts = dict.fromkeys(TABLES, 0)
    ids = channel_ids(conn) if cuts else []
    for name, cutoff in cuts.items():
        for cid in ids:
            counts[name] += _count(conn, old_rows(name, cid, cutoff))
    counts[EXPIRED] = _count(conn, _expired_keys(now))
    return counts


def _count(conn: Connection, q: Select[Any]) -> int:
    return int(conn.scalar(select(func.count()).select_from(q.order_by(None).subquery())) or 0)


# -- the batches ---------------------------------------------------------------------------------


def prune(
    run: Runner,
    policy: Mapping[str, float],
    now: float,
    batch_size: int,
    on_progress: Progress | None = None,
) -> Deferred[dict[str, int]]:
    """Delete what ``policy`` no longer keeps (and expired plugin values), ``batch_size`` rows
    per transaction; fires with the rows deleted per table (every table in :data:`TABLES`), or
    fails with ``ValueError`` for a bad policy or batch size.

    Cancelling the Deferred stops it between batches (a running batch still commits)."""
    try:
        if batch_size < 1:
            raise ValueError(f"batch_size {batch_size} is not a positive number of rows")
        cuts = cutoffs(policy, now)
    except ValueError:
        return fail()
    job = _Prune(run, cuts, now, batch_size, on_progress)
    # Cancelling fires this at once with CancelledError; the job notices before its next batch.
    done: Deferred[dict[str, int]] = Deferred(lambda _: job.stop())

    def settle(result: Any) -> None:
        # After a cancel ``done`` has fired already: what the job ends with (its counts, or the
        # failure of the batch that was running) has no one left to tell.
        if not done.called:
            done.callback(result)

    Deferred.fromCoroutine(job.run()).addBoth(settle)
    return done


class _Prune:
    def __init__(
        self,
        run: Runner,
        cuts: dict[str, float],
        now: float,
        batch_size: int,
        on_progress: Progress | None,
    ) -> None:
        self.run_in_transaction, self.cuts, self.now, self.limit = run, cuts, now, batch_size
        self.on_progress = on_progress
        self.counts = dict.fromkeys(TABLES, 0)
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True

    async def run(self) -> dict[str, int]:
        run = self.run_in_transaction
        ids = await run("retention.channel_ids", channel_ids) if self.cuts else []
        for name, cutoff in self.cuts.items():
            for cid in ids:
                await self._batches(name, "retention.delete_old", delete_old, name, cid, cutoff)
        await self._batches(EXPIRED, "retention.delete_expired", delete_expired, self.now)
        return self.counts

    async def _batches(self, name: str, what: str, fn: Callable[..., int], *args: Any) -> None:
        """Run ``fn(conn, *args, limit)`` in one transaction (named ``what``) after another
        until a batch deletes less than the limit (or the job is stopped)."""
        while not self.stopped:
            n = await self.run_in_transaction(what, fn, *args, self.limit)
            self.counts[name] += n
            if n and self.on_progress is not None:
                self.on_progress(name, self.counts[name])
            if n < self.limit:
                return


def count(run: Runner, policy: Mapping[str, float], now: float) -> Deferred[dict[str, int]]:
    """Fires with what :func:`prune` would delete now, per table of :data:`TABLES` (fails with
    ``ValueError`` for a bad policy)."""
    try:
        cuts = cutoffs(policy, now)
    except ValueError:
        return fail()
    return run("retention.count_prunable", count_old, cuts, now)


def blocking(engine: Engine) -> Runner:
    """A :data:`Runner` for the command line: each call one transaction, on this thread, its
    Deferred already fired (so :func:`prune` and :func:`count` finish before they return)."""

    def run(name: str, fn: Callable[..., Any], *args: Any) -> Deferred[Any]:
        try:
            with engine.begin() as conn:
                return succeed(fn(conn, *args))
        except Exception:
            return fail()

    return run
