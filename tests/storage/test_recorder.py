"""The recorder: events to rows, batching by size and time, the bounded buffer, retries while
the database is locked or PostgreSQL is down, and the final flush on stop."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.logger import capturedLogs

from rosey.bot.service import Bot
from rosey.events import Event
from rosey.storage import schema
from rosey.storage.noop import NoopStorage
from rosey.storage.recorder import Recorder
from rosey.storage.sql import SQLStorage
from rosey.wire.fake import FakeConnection

CH = "labchan"


def chat(i: int, user: str = "alice", replayed: bool = False) -> Event:
    return Event(
        "message",
        {"username": user, "msg": f"line {i}", "time": 1000 * i},
        user=user,
        content=f"line {i}",
        timestamp=1_800_000_000.0 + i,
        replayed=replayed,
    )


def _messages(text: str, events: Any) -> list[str]:
    from twisted.logger import formatEvent

    return [formatEvent(e) for e in events if text in formatEvent(e)]


async def _open(url: str, **kwargs: Any) -> SQLStorage:
    from twisted.internet import reactor

    schema.upgrade(url)
    storage = SQLStorage(url, reactor, **kwargs)
    await storage.connect()
    return storage


@pytest_twisted.async_yield_fixture()
async def sqlite_storage(sqlite_url: str) -> AsyncIterator[SQLStorage]:
    storage = await _open(sqlite_url)
    yield storage
    await storage.close()


def _bot(conn: FakeConnection, clock: Clock) -> Bot:
    """A running bot on ``conn``: the recorder's source, and its mirror the recorder's view."""
    bot = Bot(conn, clock=clock, storage_key=CH)
    bot.startService()
    return bot


def _make(storage: Any, conn: FakeConnection, clock: Clock, **kwargs: Any) -> Recorder:
    bot = _bot(conn, clock)
    return Recorder(storage, bot, view=bot.mirror, clock=clock, channel=CH, **kwargs)


def _recorder(storage: Any, conn: FakeConnection, clock: Clock, **kwargs: Any) -> Recorder:
    kwargs.setdefault("snapshot_interval", 0)
    rec = _make(storage, conn, clock, **kwargs)
    rec.startService()
    return rec


async def _chat_count(storage: SQLStorage) -> int:
    return len(await storage.get_recent_messages(CH, limit=1_000_000))


@pytest_twisted.ensureDeferred
async def test_flush_by_size_one_transaction_per_batch(sqlite_storage: SQLStorage):
    calls: list[int] = []

    class Counting:
        def record(self, channel, ops):
            calls.append(len(ops))
            return sqlite_storage.record(channel, ops)

    clock, conn = Clock(), FakeConnection(CH, "labbot")
    rec = _recorder(Counting(), conn, clock, batch_size=10, max_batch=10)
    for i in range(9):
        conn.feed(chat(i))
    assert rec.buffered == 9
    assert calls == []
    conn.feed(chat(9))  # the tenth fills a batch: written with no time passing
    assert rec.buffered == 0
    assert len(calls) == 1
    await rec.wait_batch()
    assert await _chat_count(sqlite_storage) == 10
    for i in range(10, 35):
        conn.feed(chat(i))
    await rec.flush()
    assert await _chat_count(sqlite_storage) == 35
    assert clock.seconds() == 0
    assert [n for n in calls if n >= 10][:3] == [11, 10, 10]  # the first carries the status
    await rec.stopService()


@pytest_twisted.ensureDeferred
async def test_a_backlog_goes_in_bigger_batches_up_to_max_batch(sqlite_storage: SQLStorage):
    calls: list[int] = []
    gate: list[Deferred[None]] = []

    class Slow:
        """Each write waits until the test lets it through: the database is behind."""

        def record(self, channel, ops):
            calls.append(len(ops))
            d: Deferred[None] = Deferred()
            gate.append(d)
            return d.addCallback(lambda _: sqlite_storage.record(channel, ops))

    clock, conn = Clock(), FakeConnection(CH, "labbot")
    rec = _recorder(Slow(), conn, clock, batch_size=10)
    assert rec.max_batch == 40  # the default: four batches
    for i in range(10):
        conn.feed(chat(i))
    assert calls == [11]  # the first batch (and the status) is in flight
    for i in range(10, 65):
        conn.feed(chat(i))  # 55 wait meanwhile
    gate.pop(0).callback(None)
    await rec.wait_batch()
    assert calls == [11, 40]  # one batch of max_batch, not four of batch_size
    gate.pop(0).callback(None)
    await rec.wait_batch()
    assert calls == [11, 40, 15]  # the rest
    gate.pop(0).callback(None)
    await rec.flush()
    assert await _chat_count(sqlite_storage) == 65
    await rec.stopService()


@pytest_twisted.ensureDeferred
async def test_flush_by_time(sqlite_storage: SQLStorage):
    clock, conn = Clock(), FakeConnection(CH, "labbot")
    rec = _recorder(sqlite_storage, conn, clock, batch_size=1000, flush_interval=0.1)
    for i in range(3):
        conn.feed(chat(i))
    clock.advance(0.099)
    assert rec.buffered == 3
    clock.advance(0.001)
    assert rec.buffered == 0
    await rec.wait_batch()
    assert await _chat_count(sqlite_storage) == 3
    assert rec.written == 4  # three lines and the status
    await rec.stopService()


@pytest_twisted.ensureDeferred
async def test_stop_service_writes_out_the_buffer(sqlite_storage: SQLStorage):
    clock, conn = Clock(), FakeConnection(CH, "labbot")
    rec = _recorder(sqlite_storage, conn, clock, batch_size=7, flush_interval=60)
    for i in range(50):
        conn.feed(chat(i))
    await rec.stopService()  # no clock advance: the stop itself flushes
    assert await _chat_count(sqlite_storage) == 50
    conn.feed(chat(99))  # after stop: no longer subscribed
    assert rec.received == 50
    status = await sqlite_storage.get_status(CH)
    assert status is not None
    assert status.connected is False


@pytest_twisted.ensureDeferred
async def test_events_become_rows(sqlite_storage: SQLStorage):
    clock, conn = Clock(), FakeConnection(CH, "labbot")
    clock.advance(1_800_000_100)
    rec = _recorder(sqlite_storage, conn, clock, snapshot_interval=300)
    item = {"media": {"id": "abc", "type": "yt", "title": "Song"}, "uid": 7, "queueby": "alice"}
    media = {"id": "abc", "type": "yt", "title": "Song", "seconds": 100, "currentTime": -3}
    users = [{"name": n, "rank": 1} for n in ("labbot", "alice", "bob")]
    feed = [
        Event("connected"),
        Event("rank", 3),
        Event("login", {"success": True, "name": "labbot"}),
        Event("playlist", [item]),
        Event("setCurrent", 7),
        Event("changeMedia", media),
        Event("setPlaylistMeta", {"count": 1, "rawTime": 100}),
        chat(1, "bob", replayed=True),
        Event("user_list", users),
        Event("usercount", 5),
        chat(2, "alice"),
        Event("pm", {"username": "alice", "to": "labbot"}, user="alice", content="psst"),
        Event("pm", {"username": "labbot", "to": "alice"}, user="labbot", content="echo"),
        Event("user_join", {"name": "carol", "rank": 0}, user="carol"),
        Event("user_leave", {"name": "bob"}, user="bob"),
        Event("usercount", 7),
        Event("setUserMeta", {"name": "labbot", "meta": {"afk": True}}),
    ]
    for event in feed:
        conn.feed(event)
    clock.advance(45)
    conn.feed(Event("changeMedia", {**media, "currentTime": 42.0}))  # resent after a shuffle
    clock.advance(255)  # the user-count snapshot at 300 s
    await rec.flush()

    assert [m.message for m in await sqlite_storage.get_recent_messages(CH)] == [
        "line 2",
        "line 1",
    ]
    actions = await sqlite_storage.get_user_actions(CH)
    assert [(a.username, a.action_type, a.details) for a in actions] == [
        ("bob", "leave", None),
        ("carol", "join", None),
        ("alice", "pm", "psst"),
    ]
    stats = await sqlite_storage.get_channel_stats(CH)
    assert (stats.max_users, stats.max_connected) == (4, 7)
    plays = await sqlite_storage.get_media_history(CH)
    assert [(p.media_id, p.title, p.duration, p.queued_by) for p in plays] == [
        ("abc", "Song", 100, "alice")
    ]
    history = await sqlite_storage.get_user_count_history(CH)
    assert [(h.chat_users, h.connected_users) for h in history] == [(3, 7)]
    status = await sqlite_storage.get_status(CH)
    assert status is not None
    assert (status.bot_name, status.bot_rank, status.bot_afk, status.connected) == (
        "labbot",
        3,
        True,
        True,
    )
    assert (status.chat_users, status.connected_users, status.playlist_items) == (3, 7, 1)
    assert status.media_title == "Song"
    alice = await sqlite_storage.get_user_stats(CH, "alice")
    assert alice is not None
    assert alice.present
    assert alice.total_chat_lines == 1

    conn.feed(Event("disconnected", {"reason": "lost"}))  # sessions end here, at 300 s
    clock.advance(60)
    await rec.stopService()
    alice = await sqlite_storage.get_user_stats(CH, "alice")
    assert alice is not None
    assert not alice.present
    assert alice.total_time_connected == 300

    # The bot comes back: the join burst replays both lines; neither is counted again.
    rec2 = _recorder(sqlite_storage, conn, clock)
    conn.feed(chat(1, "bob", replayed=True))
    conn.feed(chat(2, "alice", replayed=True))
    conn.feed(chat(3, "alice", replayed=True))  # said while rosey was away: new
    await rec2.stopService()
    assert len(await sqlite_storage.get_recent_messages(CH)) == 3
    alice = await sqlite_storage.get_user_stats(CH, "alice")
    assert alice is not None
    assert alice.total_chat_lines == 2


@pytest_twisted.ensureDeferred
async def test_bad_events_are_logged_and_skipped(sqlite_storage: SQLStorage):
    clock, conn = Clock(), FakeConnection(CH, "labbot")
    rec = _recorder(sqlite_storage, conn, clock)
    with capturedLogs() as logs:
        conn.feed(Event("usercount", "lots"))
        conn.feed(Event("user_list", None))
        conn.feed(Event("changeMedia", ["not", "a", "dict"]))
        conn.feed(chat(1))
    assert len(_messages("cannot record", logs)) == 3
    await rec.stopService()
    assert await _chat_count(sqlite_storage) == 1


@pytest_twisted.ensureDeferred
async def test_noop_storage_works_with_the_recorder():
    clock, conn = Clock(), FakeConnection(CH, "labbot")
    storage = NoopStorage()
    await storage.connect()
    rec = _recorder(storage, conn, clock, batch_size=5)
    for i in range(12):
        conn.feed(chat(i))
    await rec.stopService()
    assert storage.recorded >= 12
    assert rec.dropped == 0
    assert rec.buffered == 0


@pytest_twisted.ensureDeferred
async def test_locked_database_retried_overflow_counted(tmp_path):
    """Another process holds the write lock: batches fail, are kept and retried with backoff;
    events past the bound are dropped, counted and logged; the bot keeps running."""
    path = tmp_path / "locked.sqlite"
    storage = await _open(f"sqlite:///{path}", busy_timeout=0.05, retries=0)
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    clock, conn = Clock(), FakeConnection(CH, "labbot")
    rec = _recorder(storage, conn, clock, batch_size=5, max_buffer=20, retry_initial=1.0)
    with capturedLogs() as logs:
        for i in range(5):
            conn.feed(chat(i))
        await rec.wait_batch()
        # five lines and the status, kept
        assert rec.failures == 1
        assert rec.buffered == 6
        assert _messages("database is locked", logs)
        for i in range(5, 35):
            conn.feed(chat(i))  # never raises: the bot keeps running
        assert rec.buffered == 20
        assert rec.dropped == 16
        assert len(_messages("buffer for labchan full", logs)) == 1
        clock.advance(1.0)  # first retry: still locked
        await rec.wait_batch()
        assert rec.failures == 2
        locker.execute("ROLLBACK")
        clock.advance(2.0)  # backoff doubled
        await rec.flush()
        clock.advance(10)
    assert await _chat_count(storage) == 19
    assert rec.buffered == 0
    assert rec.dropped == 16
    assert _messages("writing for labchan again", logs)
    summary = _messages("dropped 15 events for labchan", logs)
    assert summary
    assert "16 dropped in all" in summary[0]
    await rec.stopService()
    await storage.close()
    locker.close()


@pytest_twisted.ensureDeferred
async def test_stop_gives_up_on_a_dead_database_and_says_so(tmp_path):
    path = tmp_path / "dead.sqlite"
    storage = await _open(f"sqlite:///{path}", busy_timeout=0.02, retries=0)
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    clock, conn = Clock(), FakeConnection(CH, "labbot")
    rec = _recorder(storage, conn, clock, stop_timeout=5.0)
    for i in range(3):
        conn.feed(chat(i))
    with capturedLogs() as logs:
        stopped = rec.stopService()
        await rec.wait_batch()
        clock.advance(5.0)
        await stopped
    assert _messages("writes for labchan not written; they are lost", logs)
    locker.close()
    await storage.close()


@pytest_twisted.ensureDeferred
async def test_postgresql_down_then_back(pg):
    name = pg.create_database()
    try:
        storage = await _open(pg.url(name), retries=0)
        clock, conn = Clock(), FakeConnection(CH, "labbot")
        rec = _recorder(storage, conn, clock, retry_initial=1.0)
        for i in range(5):
            conn.feed(chat(i))
        await rec.flush()
        pg.stop()
        try:
            with capturedLogs() as logs:
                for i in range(5, 10):
                    conn.feed(chat(i))
                clock.advance(0.1)
                await rec.wait_batch()
                assert rec.failures == 1
                assert rec.buffered == 5
                assert _messages("storage unavailable", logs)
                conn.feed(chat(10))  # still running, still buffering
                clock.advance(1.0)
                await rec.wait_batch()
                assert rec.failures == 2
                assert rec.buffered == 6
        finally:
            pg.start()
        clock.advance(2.0)
        await rec.flush()
        assert await _chat_count(storage) == 11
        await rec.stopService()
        await storage.close()
    finally:
        pg.drop_database(name)


def test_recorder_needs_a_channel():
    bot = Bot(FakeConnection(CH), clock=Clock())
    with pytest.raises(ValueError, match="needs a channel name"):
        Recorder(NoopStorage(), bot, view=bot.mirror, clock=Clock(), channel="")


@pytest_twisted.ensureDeferred
async def test_storage_service_stops_recorders_before_closing(sqlite_url: str):
    """Stock MultiService would close the database under a flushing recorder."""
    from twisted.internet import reactor

    from rosey.storage.service import StorageService, open_storage

    schema.upgrade(sqlite_url)
    storage = open_storage(sqlite_url, reactor)
    service = StorageService(storage)
    clock, conn = Clock(), FakeConnection(CH, "labbot")
    rec = _make(storage, conn, clock, flush_interval=60, snapshot_interval=0)
    rec.setServiceParent(service)
    await service.startService()
    assert storage.is_connected
    assert rec.running
    for i in range(500):
        conn.feed(chat(i))
    await service.stopService()
    assert not storage.is_connected
    assert rec.buffered == 0
    assert rec.written == 501

    check = await _open(sqlite_url)
    assert await _chat_count(check) == 500
    await check.close()
