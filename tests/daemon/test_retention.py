"""Retention in the daemon: ``[database.retention]`` parsed with defaults and clear errors, and
the timer that prunes a few minutes after start, then daily, never twice at once."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.task import Clock
from twisted.logger import ILogObserver, LogEvent, formatEvent, globalLogPublisher
from zope.interface import implementer

from rosey.daemon.config import ConfigError, RetentionConfig, parse
from rosey.daemon.retention import DAY, FIRST_DELAY, RetentionService, summarize
from rosey.storage import retention, schema
from rosey.storage.noop import NoopStorage
from rosey.storage.sql import SQLStorage
from tests.waiting import eventually

MINIMAL = {"channel": [{"site": "https://cytu.be", "name": "mychannel"}]}


def _with(retention_table: dict[str, Any]) -> dict[str, Any]:
    return {**MINIMAL, "database": {"retention": retention_table}}


# -- configuration ------------------------------------------------------------------------------


def test_defaults_keep_a_year_of_history_and_a_month_of_delivered_tells() -> None:
    kept = parse(MINIMAL, {}).database.retention
    assert kept == RetentionConfig()
    assert kept.policy() == {
        "chat_messages": 365,
        "user_actions": 365,
        "user_count_history": 365,
        "media_history": 365,
        "outbound_messages": 30,
    }
    assert kept.batch_size == 500
    assert set(kept.policy()) == set(retention.HISTORY)  # every history table, by its name


def test_each_table_is_set_and_zero_keeps_forever() -> None:
    table = {"chat_days": 0, "actions_days": 90, "outbound_days": 7, "batch_size": 50}
    kept = parse(_with(table), {}).database.retention
    assert kept.policy()["chat_messages"] == 0
    assert kept.policy()["user_actions"] == 90
    assert kept.policy()["media_history"] == 365  # not set: the default
    assert (kept.outbound_days, kept.batch_size) == (7, 50)
    assert parse(_with({}), {}).database.retention == RetentionConfig()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"chat_days": -1}, "database.retention.chat_days: -1 is negative (0 keeps everything)"),
        ({"media_days": "365"}, "database.retention.media_days: '365' is not an integer"),
        ({"actions_days": True}, "database.retention.actions_days: True is not an integer"),
        ({"user_count_days": 1.5}, "database.retention.user_count_days: 1.5 is not an integer"),
        ({"batch_size": 0}, "database.retention.batch_size: 0 is not between 1 and 100000"),
        ({"chat": 30}, "database.retention.chat: unknown key"),
    ],
)
def test_bad_values_are_named_with_their_key(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse(_with(table), {})
    assert str(e.value).startswith(message)


def test_retention_must_be_a_table() -> None:
    with pytest.raises(ConfigError, match=r"database\.retention: expected a table"):
        parse({**MINIMAL, "database": {"retention": 365}}, {})


# -- the timer ----------------------------------------------------------------------------------


class HeldPrunes(NoopStorage):
    """Storage whose prunes end when the test says so."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Deferred[dict[str, int]]] = []
        self.policies: list[Mapping[str, float]] = []

    def prune(self, policy: Mapping[str, float], *args: Any, **kw: Any) -> Deferred[dict[str, int]]:
        self.policies.append(policy)
        d: Deferred[dict[str, int]] = Deferred()
        self.calls.append(d)
        return d


@pytest.fixture
def logged() -> Iterator[list[str]]:
    lines: list[str] = []

    @implementer(ILogObserver)
    def observe(event: LogEvent) -> None:
        if event.get("log_namespace") == "rosey.retention":
            lines.append(formatEvent(event))

    globalLogPublisher.addObserver(observe)
    yield lines
    globalLogPublisher.removeObserver(observe)


def test_prunes_a_few_minutes_after_start_then_daily(logged: list[str]) -> None:
    clock, storage = Clock(), HeldPrunes()
    service = RetentionService(storage, RetentionConfig(chat_days=10), clock)
    service.startService()
    clock.advance(FIRST_DELAY - 1)
    assert storage.calls == []  # not during the join bursts
    clock.advance(1)
    assert len(storage.calls) == 1
    assert storage.policies[0]["chat_messages"] == 10
    clock.advance(60)
    storage.calls[0].callback({"chat_messages": 3, "plugin_kv": 1, "user_actions": 0})
    assert logged == ["retention: deleted 3 chat_messages, 1 plugin_kv in 60.0s"]
    assert service.last_counts == {"chat_messages": 3, "plugin_kv": 1, "user_actions": 0}

    clock.advance(DAY - 61)
    assert len(storage.calls) == 1
    clock.advance(1)
    assert len(storage.calls) == 2  # a day after the first began
    storage.calls[1].callback({})
    clock.advance(DAY)
    assert len(storage.calls) == 3
    service.stopService()


def test_never_overlaps_a_prune_still_running() -> None:
    clock, storage = Clock(), HeldPrunes()
    service = RetentionService(storage, RetentionConfig(), clock, first_delay=0)
    service.startService()
    clock.advance(0)
    assert len(storage.calls) == 1
    for _ in range(3):  # three days pass: the first prune still runs
        clock.advance(DAY)
    assert len(storage.calls) == 1
    d = service.run_once()  # by hand (the manhole) meanwhile: declined
    assert d.called
    assert len(storage.calls) == 1
    storage.calls[0].callback({})
    assert len(storage.calls) == 1  # the missed days are skipped, not caught up at once
    clock.advance(DAY)
    assert len(storage.calls) == 2
    service.stopService()


def test_a_failed_prune_is_logged_and_tried_again_the_next_day(logged: list[str]) -> None:
    clock, storage = Clock(), HeldPrunes()
    service = RetentionService(storage, RetentionConfig(), clock, first_delay=0)
    service.startService()
    clock.advance(0)
    storage.calls[0].errback(RuntimeError("database is locked"))
    assert logged == ["retention: prune failed; trying again in a day"]
    clock.advance(DAY)
    assert len(storage.calls) == 2
    service.stopService()


def test_stopping_cancels_a_running_prune_and_the_timer(logged: list[str]) -> None:
    clock, storage = Clock(), HeldPrunes()
    service = RetentionService(storage, RetentionConfig(), clock, first_delay=0)
    service.startService()
    clock.advance(0)
    running = storage.calls[0]
    service.stopService()
    assert running.called  # cancelled
    running.addErrback(lambda f: f.trap(CancelledError))
    assert logged == ["retention: prune stopped by shutdown"]
    assert clock.getDelayedCalls() == []
    clock.advance(2 * DAY)
    assert len(storage.calls) == 1


def test_stopping_before_the_first_run_cancels_it() -> None:
    clock, storage = Clock(), HeldPrunes()
    service = RetentionService(storage, RetentionConfig(), clock)
    service.startService()
    service.stopService()
    assert clock.getDelayedCalls() == []
    clock.advance(DAY)
    assert storage.calls == []


def test_summary_lists_only_what_went() -> None:
    assert summarize({"chat_messages": 0, "plugin_kv": 0}) == "nothing to delete"
    assert summarize({"chat_messages": 2, "media_history": 0, "plugin_kv": 5}) == (
        "deleted 2 chat_messages, 5 plugin_kv"
    )


@pytest_twisted.ensureDeferred
async def test_the_timer_prunes_a_real_database(tmp_path: Path, logged: list[str]) -> None:
    from twisted.internet import reactor

    url = f"sqlite:///{tmp_path / 'rosey.sqlite'}"
    schema.upgrade(url)
    storage = SQLStorage(url, reactor)
    await storage.connect()
    try:
        now = reactor.seconds()
        await storage.save_message("chan", "alice", "old", timestamp=now - 40 * DAY)
        await storage.save_message("chan", "alice", "new", timestamp=now - 20 * DAY)
        clock = Clock()  # the timer's clock; the database work runs on the real reactor
        service = RetentionService(storage, RetentionConfig(chat_days=30), clock)
        service.startService()
        clock.advance(FIRST_DELAY)
        await eventually(lambda: service.runs == 1)
        assert [m.message for m in await storage.get_recent_messages("chan")] == ["new"]
        assert logged == ["retention: deleted 1 chat_messages in 0.0s"]
        service.stopService()
    finally:
        await storage.close()


def test_the_daemon_runs_the_timer_under_storage(tmp_path: Path) -> None:
    from twisted.internet import reactor

    from rosey.daemon.assemble import build

    raw = {**MINIMAL, "database": {"url": f"sqlite:///{tmp_path / 'r.sqlite'}"}}
    daemon = build(parse(raw, {}), reactor, migrated=True)
    children = list(daemon.storage)
    assert isinstance(children[-1], RetentionService)  # stops first: before recorders flush
    assert children[-1].storage is daemon.storage.storage
