"""Retention: history older than the policy deleted in bounded batches (real SQLite and
PostgreSQL), expired plugin values always, state never."""

from __future__ import annotations

import gc
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import pytest_twisted
from sqlalchemy import Select, event
from sqlalchemy.dialects import sqlite
from twisted.internet.defer import CancelledError
from twisted.logger import ILogObserver, LogEvent, globalLogPublisher
from zope.interface import implementer

from rosey.storage import retention
from rosey.storage.noop import NoopStorage
from rosey.storage.retention import DAY
from rosey.storage.sql import SQLStorage

CH, OTHER = "labchan", "otherchan"
EVERYTHING = {
    "chat_messages": 365,
    "user_actions": 365,
    "user_count_history": 365,
    "media_history": 365,
    "outbound_messages": 30,
}


def _now() -> float:
    from twisted.internet import reactor

    return float(reactor.seconds())  # the clock kv_set stamps expiry times with


@contextmanager
def deletes(storage: SQLStorage, table: str) -> Iterator[list[str]]:
    """The DELETE statements run on ``table`` meanwhile (each is one batch)."""
    seen: list[str] = []

    def before(conn, cursor, statement: str, *args) -> None:
        if statement.lstrip().upper().startswith(f"DELETE FROM {table.upper()}"):
            seen.append(statement)

    event.listen(storage.pool.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(storage.pool.engine, "before_cursor_execute", before)


async def _fill(storage: SQLStorage, channel: str, now: float) -> None:
    """One row of each history table 400 days old and one 10 days old, plus a delivered tell
    60 days old, an undelivered one 400 days old and two plugin values (one expired)."""
    for age in (400, 10):
        ts = now - age * DAY
        await storage.save_message(channel, "alice", f"said {age}d ago", timestamp=ts)
        await storage.log_user_action(channel, "alice", "join", timestamp=ts)
        await storage.log_user_count(channel, 3, 4, timestamp=ts)
        await storage.log_media(channel, "yt", f"v{age}", "a song", 200, started_at=ts)
    old_tell = await storage.enqueue_outbound(channel, "bob", "hi", timestamp=now - 70 * DAY)
    await storage.mark_outbound_sent(channel, old_tell, timestamp=now - 60 * DAY)
    new_tell = await storage.enqueue_outbound(channel, "bob", "yo", timestamp=now - 20 * DAY)
    await storage.mark_outbound_sent(channel, new_tell, timestamp=now - 10 * DAY)
    await storage.enqueue_outbound(channel, "carol", "waiting", timestamp=now - 400 * DAY)
    await storage.kv_set(channel, "quotes", "stale", "x", ttl=-1)
    await storage.kv_set(channel, "quotes", "kept", "y", ttl=1000)


@pytest_twisted.ensureDeferred
async def test_prune_deletes_only_what_the_policy_no_longer_keeps(storage: SQLStorage):
    now = _now()
    for channel in (CH, OTHER):
        await _fill(storage, channel, now)
    await storage.save_user_stats(CH, "ghost", first_seen=now - 900 * DAY)

    expected = {name: 2 for name in retention.TABLES}  # one row per table in each channel
    assert await storage.count_prunable(EVERYTHING, now) == expected
    assert len(await storage.get_recent_messages(CH)) == 2  # counting deleted nothing

    assert await storage.prune(EVERYTHING, now) == expected
    for channel in (CH, OTHER):
        assert [m.message for m in await storage.get_recent_messages(channel)] == ["said 10d ago"]
        assert len(await storage.get_user_actions(channel)) == 1
        assert len(await storage.get_user_count_history(channel)) == 1
        assert [m.media_id for m in await storage.get_media_history(channel)] == ["v10"]
        assert [m.message for m in await storage.get_unsent_outbound(channel, "carol")] == [
            "waiting"  # never delivered: still waiting for carol, however old
        ]
        assert await storage.kv_get(channel, "quotes", "kept") == "y"
    ghost = await storage.get_user_stats(CH, "ghost")  # state, not history: never pruned
    assert ghost is not None
    assert ghost.first_seen == now - 900 * DAY

    assert await storage.prune(EVERYTHING, now) == dict.fromkeys(retention.TABLES, 0)


@pytest_twisted.ensureDeferred
async def test_zero_days_or_no_entry_keeps_a_table_forever(storage: SQLStorage):
    now = _now()
    await _fill(storage, CH, now)
    counts = await storage.prune({"chat_messages": 0, "media_history": 365}, now)
    assert counts["chat_messages"] == counts["user_actions"] == 0
    assert (counts["media_history"], counts["plugin_kv"]) == (1, 1)
    assert len(await storage.get_recent_messages(CH)) == 2
    assert len(await storage.get_user_actions(CH)) == 2


@pytest_twisted.ensureDeferred
async def test_batches_are_bounded_each_its_own_transaction(storage: SQLStorage):
    now = _now()
    for i in range(35):
        await storage.save_message(CH, "alice", f"old {i}", timestamp=now - 400 * DAY + i)
    await storage.save_message(CH, "alice", "new", timestamp=now - DAY)
    progress: list[tuple[str, int]] = []

    with deletes(storage, "chat_messages") as batches:
        counts = await storage.prune(
            {"chat_messages": 365}, now, batch_size=10, on_progress=lambda *a: progress.append(a)
        )
    assert counts["chat_messages"] == 35
    assert len(batches) == 4  # 10 + 10 + 10 + 5, one transaction each
    assert progress == [("chat_messages", n) for n in (10, 20, 30, 35)]
    assert [m.message for m in await storage.get_recent_messages(CH)] == ["new"]


@pytest.fixture
def logged_failures() -> Iterator[list[LogEvent]]:
    """Failures logged meanwhile (an unhandled error in a Deferred shows up here once the
    Deferred is collected)."""
    failures: list[LogEvent] = []

    @implementer(ILogObserver)
    def observe(event: LogEvent) -> None:
        if event.get("log_failure") is not None:
            failures.append(event)

    globalLogPublisher.addObserver(observe)
    yield failures
    globalLogPublisher.removeObserver(observe)


@pytest_twisted.ensureDeferred
async def test_the_oldest_go_first_and_cancelling_stops_between_batches(
    storage: SQLStorage, logged_failures: list[LogEvent]
):
    now = _now()
    for i in range(5):
        await storage.save_message(CH, "alice", f"old {i}", timestamp=now - 400 * DAY + i)
    d = storage.prune({"chat_messages": 365}, now, batch_size=2, on_progress=lambda *a: d.cancel())
    with pytest.raises(CancelledError):
        await d
    left = [m.message for m in await storage.get_recent_messages(CH)]
    assert left == ["old 4", "old 3", "old 2"]
    gc.collect()  # the job finished after the cancel: its result went nowhere, quietly
    assert logged_failures == []


@pytest_twisted.ensureDeferred
async def test_cancelled_before_its_first_batch_it_deletes_nothing(storage: SQLStorage):
    now = _now()
    for i in range(3):
        await storage.save_message(CH, "alice", f"old {i}", timestamp=now - 400 * DAY + i)
    await storage.kv_set(CH, "quotes", "stale", "x", ttl=-1)

    with deletes(storage, "chat_messages") as batches, deletes(storage, "plugin_kv") as kv:
        d = storage.prune({"chat_messages": 365}, now, batch_size=10)
        d.cancel()
        with pytest.raises(CancelledError):
            await d
        assert len(await storage.get_recent_messages(CH)) == 3  # queued after the job's reads
    assert batches == kv == []


@pytest_twisted.ensureDeferred
async def test_bad_policies_fail_the_deferred(storage: SQLStorage):
    with pytest.raises(ValueError, match="not a history table"):
        await storage.prune({"user_stats": 30})
    with pytest.raises(ValueError, match="negative"):
        await storage.count_prunable({"chat_messages": -1})
    with pytest.raises(ValueError, match="batch_size"):
        await storage.prune({}, batch_size=0)


@pytest_twisted.ensureDeferred
async def test_noop_storage_prunes_nothing():
    noop = NoopStorage()
    assert await noop.prune(EVERYTHING) == {}
    assert await noop.count_prunable(EVERYTHING) == {}


@pytest.mark.parametrize("name", sorted(retention.HISTORY))
def test_a_batch_finds_its_rows_through_an_index(sqlite_url: str, name: str) -> None:
    """No full scan of a history table per batch, however big it grew."""
    from rosey.storage import schema

    schema.upgrade(sqlite_url)
    q = retention.old_rows(name, 1, 1000.0).limit(500)
    plan = _plan(sqlite_url, q)
    assert "USING" in plan, plan
    assert "INDEX" in plan, plan


def test_expired_plugin_values_are_found_through_an_index(sqlite_url: str) -> None:
    from rosey.storage import schema

    schema.upgrade(sqlite_url)
    q = retention._expired_keys(1000.0).limit(500)
    plan = _plan(sqlite_url, q)
    assert "ix_plugin_kv_expires_at" in plan, plan


def _plan(url: str, query: Select[Any]) -> str:
    sql = query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
    plan = " | ".join(str(r[-1]) for r in rows)
    assert "TEMP B-TREE" not in plan, plan  # no sort either: the index gives the order
    return plan
