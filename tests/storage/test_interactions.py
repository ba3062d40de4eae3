"""Named transactions: every database interaction carries a name, and the pool's observer hears
each one's name and duration (the daemon turns them into a histogram on ``/metrics``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import pytest_twisted
from twisted.logger import ILogObserver, LogEvent, globalLogPublisher
from zope.interface import implementer

from rosey.storage import ops as o
from rosey.storage import schema
from rosey.storage.sql import SQLStorage

CH = "labchan"


class Heard:
    """An observer that notes (name, seconds, thread) of each interaction."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float, threading.Thread]] = []

    def __call__(self, name: str, seconds: float) -> None:
        self.calls.append((name, seconds, threading.current_thread()))

    @property
    def names(self) -> list[str]:
        return [name for name, _, _ in self.calls]


@pytest.fixture
def logged() -> Iterator[list[LogEvent]]:
    events: list[LogEvent] = []

    @implementer(ILogObserver)
    def observe(event: LogEvent) -> None:
        if event.get("log_level") is not None and event["log_level"].name in ("error", "critical"):
            events.append(event)

    globalLogPublisher.addObserver(observe)
    try:
        yield events
    finally:
        globalLogPublisher.removeObserver(observe)


@pytest_twisted.ensureDeferred
async def test_each_interaction_is_heard_by_name_with_its_duration(sqlite_url: str) -> None:
    from twisted.internet import reactor

    schema.upgrade(sqlite_url)
    heard = Heard()
    storage = SQLStorage(sqlite_url, reactor, on_interaction=heard)
    await storage.connect()
    try:
        await storage.save_message(CH, "alice", "hi", timestamp=100)
        await storage.record(CH, [o.ChatLine(101, "bob", "yo"), o.ActionLogged(102, "bob", "pm")])
        assert [m.message for m in await storage.get_recent_messages(CH)] == ["yo", "hi"]
        await storage.kv_set(CH, "fun", "k", "v")
        assert await storage.kv_get(CH, "fun", "k") == "v"
        await storage.enqueue_outbound(CH, "carol", "hello", sender="alice")
        assert await storage.get_user_stats(CH, "alice") is not None
        assert await storage.prune({"chat_messages": 1}, now=200.0) is not None
    finally:
        await storage.close()
    assert heard.names == [
        "check_schema",
        "outbound.load_waiting",
        "chat.save_message",
        "record",
        "chat.get_recent_messages",
        "kv.kv_set",
        "kv.kv_get",
        "outbound.enqueue_outbound",
        "stats.get_user_stats",
        "retention.channel_ids",
        "retention.delete_old",
        "retention.delete_expired",
    ]
    assert all(seconds >= 0 for _, seconds, _ in heard.calls)
    # Heard on the database thread, never on the reactor's.
    assert all(thread is not threading.main_thread() for _, _, thread in heard.calls)


@pytest_twisted.ensureDeferred
async def test_a_failed_interaction_is_heard_too(sqlite_url: str) -> None:
    from twisted.internet import reactor

    from rosey.storage.errors import StorageError

    schema.upgrade(sqlite_url)
    heard = Heard()
    storage = SQLStorage(sqlite_url, reactor, on_interaction=heard)
    await storage.connect()
    try:
        with pytest.raises(StorageError):
            await storage.mark_outbound_failed(CH, 12345, "gone")
    finally:
        await storage.close()
    assert heard.names[-1] == "outbound.mark_outbound_failed"


@pytest_twisted.ensureDeferred
async def test_an_observer_that_raises_is_logged_once_and_the_work_stands(
    sqlite_url: str, logged: list[LogEvent]
) -> None:
    from twisted.internet import reactor

    def broken(name: str, seconds: float) -> Any:
        raise RuntimeError("observer bug")

    schema.upgrade(sqlite_url)
    storage = SQLStorage(sqlite_url, reactor, on_interaction=broken)
    await storage.connect()
    try:
        await storage.save_message(CH, "alice", "kept", timestamp=100)
        await storage.save_message(CH, "alice", "kept too", timestamp=101)
        lines = await storage.get_recent_messages(CH)
    finally:
        await storage.close()
    assert [m.message for m in lines] == ["kept too", "kept"]
    failures = [e for e in logged if "observer" in e.get("log_format", "")]
    assert len(failures) == 1
    assert failures[0]["name"] == "check_schema"
