"""Daemon log observers (journald or timestamped text, JSON lines, level filter), the log file."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import cast

import pytest
from twisted.logger import ILogObserver, LogEvent, Logger, LogLevel

from rosey.daemon import logs
from rosey.daemon.config import LoggingConfig, Secret
from rosey.daemon.logs import LogFile, make_observer, under_journal


def emit(observer: ILogObserver) -> Logger:
    return Logger(namespace="rosey.test", observer=observer)


def test_journal_text_prefixes_each_level_and_has_no_timestamp() -> None:
    out = io.StringIO()
    log = emit(make_observer(LoggingConfig(level="debug", format="text"), out, journal=True))
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
    log = emit(make_observer(LoggingConfig(format="text"), out, journal=True))
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
    observer = make_observer(LoggingConfig(format="text"), out, journal=True)
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
    log = emit(make_observer(LoggingConfig(), out, journal=True))
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
    assert out.getvalue().splitlines()[1].endswith(" info  rosey.test: text")  # not the journal


# -- journal or terminal -----------------------------------------------------------------------


# 2024-03-01 12:34:56.25 UTC
WHEN = 1709296496.25


def stamped_logger(observer: ILogObserver) -> Logger:
    """A logger whose events all happened at ``WHEN``."""

    def at_when(event: LogEvent) -> None:
        observer({**event, "log_time": WHEN})

    return Logger(namespace="rosey.test", observer=cast(ILogObserver, at_when))


def journal_id(path: Path) -> str:
    status = path.stat()
    return f"{status.st_dev}:{status.st_ino}"


def test_without_journal_stream_lines_carry_local_time_and_level(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, timezone: None
) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    path = tmp_path / "out.log"
    with path.open("w") as stream:
        log = stamped_logger(make_observer(LoggingConfig(level="debug"), stream))
        log.info("joined {channel}", channel="cytu.be/x")
        log.warn("slow")
        log.debug("detail")
        try:
            raise ValueError("boom")
        except ValueError:
            log.failure("handler failed")
    lines = path.read_text().splitlines()
    assert lines[:4] == [
        "2024-03-01 18:04:56.250 info  rosey.test: joined cytu.be/x",
        "2024-03-01 18:04:56.250 warn  rosey.test: slow",
        "2024-03-01 18:04:56.250 debug rosey.test: detail",
        "2024-03-01 18:04:56.250 critical rosey.test: handler failed",
    ]
    assert "builtins.ValueError: boom" in lines  # the traceback follows, unprefixed
    assert not any(line.startswith("<") for line in lines)


def test_journal_stream_naming_stdout_gives_journald_prefixes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "journal"
    path.touch()
    monkeypatch.setenv("JOURNAL_STREAM", journal_id(path))
    with path.open("w") as stream:
        assert under_journal(stream)
        log = emit(make_observer(LoggingConfig(), stream))
        log.info("joined")
        log.warn("slow")
    assert path.read_text().splitlines() == ["<6>rosey.test: joined", "<4>rosey.test: slow"]


@pytest.mark.parametrize("value", ["", "garbage", "1:2:3", "0:0"])
def test_journal_stream_of_another_file_or_malformed_is_not_the_journal(
    tmp_path: Path, value: str
) -> None:
    """A shell started from a unit inherits JOURNAL_STREAM with a terminal or a pipe."""
    other = tmp_path / "other"
    other.touch()
    with (tmp_path / "out").open("w") as stream:
        assert not under_journal(stream, {"JOURNAL_STREAM": value})
        assert not under_journal(stream, {"JOURNAL_STREAM": journal_id(other)})
        assert under_journal(stream, {"JOURNAL_STREAM": journal_id(tmp_path / "out")})
    assert not under_journal(io.StringIO(), {"JOURNAL_STREAM": "1:2"})  # no file descriptor


def test_log_file_reopens_after_rotation(tmp_path: Path) -> None:
    path = tmp_path / "rosey.log"
    log_file = LogFile(str(path))
    log = emit(make_observer(LoggingConfig(), log_file))
    log.info("before")
    path.rename(tmp_path / "rosey.log.1")
    log_file.reopen()
    log.info("after")
    log_file.close()
    assert (tmp_path / "rosey.log.1").read_text().endswith(" rosey.test: before\n")
    assert path.read_text().endswith(" rosey.test: after\n")
    assert "before" not in path.read_text()
