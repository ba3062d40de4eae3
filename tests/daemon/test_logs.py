"""Daemon log observers (journald text, JSON lines, level filter) and the chat/media log files."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from twisted.internet.task import Clock
from twisted.logger import ILogObserver, Logger, LogLevel

from rosey.daemon import logs
from rosey.daemon.config import ConfigError, LoggingConfig, Secret
from rosey.daemon.logs import ChatLog, MediaLog, make_observer
from rosey.events import Event


def emit(observer: ILogObserver) -> Logger:
    return Logger(namespace="rosey.test", observer=observer)


def test_text_prefixes_each_level_and_has_no_timestamp() -> None:
    out = io.StringIO()
    log = emit(make_observer(LoggingConfig(level="debug", format="text"), out))
    log.debug("d {n}", n=1)
    log.info("i")
    log.warn("w")
    log.error("e")
    log.critical("c")
    assert out.getvalue().splitlines() == [
        "<7>rosey.test: d 1",
        "<6>rosey.test: i",
        "<4>rosey.test: w",
        "<3>rosey.test: e",
        "<2>rosey.test: c",
    ]


def test_text_prefixes_every_traceback_line() -> None:
    out = io.StringIO()
    log = emit(make_observer(LoggingConfig(format="text"), out))
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        log.failure("handler failed", level=LogLevel.error)
    lines = out.getvalue().splitlines()
    assert lines[0] == "<3>rosey.test: handler failed"
    assert len(lines) > 3
    assert all(line.startswith("<3>") for line in lines)
    assert "<3>builtins.ValueError: boom" in lines
    assert "<3>second line" in lines


def test_json_lines_parse() -> None:
    out = io.StringIO()
    log = emit(make_observer(LoggingConfig(format="json"), out))
    before = time.time()
    log.info("joined {channel} as {user}", channel="cytu.be/x", user="rosey \u2764")
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        log.failure("oops")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["level"] == "info"
    assert first["namespace"] == "rosey.test"
    assert first["text"] == "joined cytu.be/x as rosey \u2764"
    assert before <= first["time"] <= time.time()
    assert "failure" not in first
    assert second["level"] == "critical"
    assert second["text"] == "oops"
    assert "ZeroDivisionError" in second["failure"]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_level_filter(fmt: str) -> None:
    out = io.StringIO()
    log = emit(make_observer(LoggingConfig(level="warn", format=fmt), out))
    log.debug("hidden debug")
    log.info("hidden info")
    log.warn("shown warn")
    log.error("shown error")
    text = out.getvalue()
    assert "hidden" not in text
    assert text.count("shown") == 2


def test_legacy_log_msg_names_its_system() -> None:
    from twisted.python import log as legacy

    out = io.StringIO()
    observer = make_observer(LoggingConfig(format="text"), out)
    from twisted.logger import globalLogPublisher

    globalLogPublisher.addObserver(observer)
    try:
        legacy.msg("legacy hello", system="SSHServerTransport,0,127.0.0.1")
    finally:
        globalLogPublisher.removeObserver(observer)
    assert "<6>SSHServerTransport,0,127.0.0.1: legacy hello\n" in out.getvalue()


def test_secrets_are_not_special_cased() -> None:
    """Nothing filters log fields: the rule is that secrets never reach a log call."""
    out = io.StringIO()
    log = emit(make_observer(LoggingConfig(), out))
    log.info("raw {value}", value="hunter2")  # a plain string is printed as is
    log.info("wrapped {value}", value=Secret("hunter2", "$ROSEY_PASSWORD"))
    first, second = out.getvalue().splitlines()
    assert first == "<6>rosey.test: raw hunter2"
    assert second == "<6>rosey.test: wrapped Secret(<hidden>, from $ROSEY_PASSWORD)"


def test_configured_observer_for_twistd_logger(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setattr(logs, "_configured", logs._configured)
    logs.configure(LoggingConfig(level="error", format="json"))
    log = emit(logs.observer())
    log.warn("filtered")
    log.error("kept")
    emit(logs.text_observer()).info("text")
    assert [json.loads(line)["text"] for line in out.getvalue().splitlines()[:1]] == ["kept"]
    assert out.getvalue().splitlines()[1] == "<6>rosey.test: text"


# -- chat and media log files ------------------------------------------------------------------


@pytest.fixture
def timezone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fixed local time zone, 5:30 ahead of UTC (POSIX TZ syntax: no tzdata needed)."""
    monkeypatch.setenv("TZ", "XST-5:30")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# 2024-03-01 12:34:56 UTC
NOON = 1709296496.0


def chat(user: str, text: str, ts: float | None, replayed: bool = False) -> Event:
    data = {"username": user, "msg": text, "time": None if ts is None else ts * 1000}
    return Event("message", data, user, text, ts, replayed)


def media(title: str, kind: str, ident: str, current: float = -3) -> Event:
    data = {"title": title, "type": kind, "id": ident, "seconds": 212, "currentTime": current}
    return Event("changeMedia", data)


def test_chat_log_uses_the_event_timestamp_in_local_time(tmp_path: Path, timezone: None) -> None:
    clock = Clock()
    clock.advance(NOON + 3600)  # the clock is an hour later: the line must not use it
    path = tmp_path / "chat.log"
    chat_log = ChatLog(str(path), clock)
    chat_log.startService()
    chat_log(chat("alice", "hello there", NOON))
    chat_log(chat("bob", "line one\nline two\x1b[31m", NOON + 61.9))
    chat_log(chat("old", "said before we joined", NOON - 50, replayed=True))
    chat_log(Event("pm", None, "carol", "private", NOON))
    chat_log(chat("nobody", "no time", None))
    assert path.read_text() == ""  # buffered: the reactor does not wait on the disk per line
    clock.advance(1)
    assert path.read_text().splitlines() == [
        "[18:04:56] <alice> hello there",
        "[18:05:57] <bob> line one line two [31m",
        "[19:04:56] <nobody> no time",
    ]
    chat_log(chat("alice", "bye", NOON + 7200))
    chat_log.stopService()
    assert path.read_text().splitlines()[-1] == "[20:04:56] <alice> bye"
    assert clock.getDelayedCalls() == []


def test_chat_log_stamps_each_second_and_minute(tmp_path: Path, timezone: None) -> None:
    path = tmp_path / "chat.log"
    chat_log = ChatLog(str(path), Clock())
    for ts in (NOON, NOON + 0.9, NOON + 1, NOON + 3.5, NOON + 4, NOON + 0.2, NOON + 60):
        chat_log(chat("a", f"at {ts - NOON:g}", ts))
    chat_log.stopService()
    assert path.read_text().splitlines() == [
        "[18:04:56] <a> at 0",
        "[18:04:56] <a> at 0.9",
        "[18:04:57] <a> at 1",
        "[18:04:59] <a> at 3.5",
        "[18:05:00] <a> at 4",
        "[18:04:56] <a> at 0.2",
        "[18:05:56] <a> at 60",
    ]


def test_chat_log_appends(tmp_path: Path, timezone: None) -> None:
    path = tmp_path / "chat.log"
    path.write_text("[00:00:00] <x> from the last run\n")
    chat_log = ChatLog(str(path), Clock())
    chat_log(chat("y", "again", NOON))
    chat_log.stopService()
    assert path.read_text().splitlines() == [
        "[00:00:00] <x> from the last run",
        "[18:04:56] <y> again",
    ]


def test_media_log_uses_the_clock_and_skips_resends(tmp_path: Path, timezone: None) -> None:
    clock = Clock()
    clock.advance(NOON)
    path = tmp_path / "media.log"
    media_log = MediaLog(str(path), clock)
    media_log.startService()
    media_log(media("Running at join", "yt", "abc", current=95.5))  # join burst: log it
    media_log(media("Running at join", "yt", "abc", current=96.0))  # resent: skip
    clock.advance(120)
    media_log(media("Next one", "vm", "42"))
    clock.advance(300)
    media_log(media("Next one", "vm", "42"))  # played again from the start: log it
    media_log(Event("changeMedia", {"title": "no id"}))  # malformed: skipped
    media_log(Event("changeMedia", "garbage"))
    media_log.stopService()
    assert path.read_text().splitlines() == [
        "[18:04:56] Running at join (yt:abc)",
        "[18:06:56] Next one (vm:42)",
        "[18:11:56] Next one (vm:42)",
    ]


def test_log_file_that_cannot_be_opened_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^logging\.media_log: cannot open .*missing"):
        MediaLog(str(tmp_path / "missing" / "media.log"), Clock())


def test_reopen_after_rotation(tmp_path: Path, timezone: None) -> None:
    path = tmp_path / "chat.log"
    chat_log = ChatLog(str(path), Clock())
    chat_log(chat("a", "before", NOON))
    path.rename(tmp_path / "chat.log.1")
    chat_log.reopen()
    chat_log(chat("a", "after", NOON))
    chat_log.stopService()
    assert (tmp_path / "chat.log.1").read_text() == "[18:04:56] <a> before\n"
    assert path.read_text() == "[18:04:56] <a> after\n"
