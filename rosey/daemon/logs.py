"""Log output: journald-friendly text or JSON lines, and the chat and media log files.

Daemon logs go through ``twisted.logger``. :func:`make_observer` builds the observer for a
``[logging]`` table; ``twistd --logger rosey.daemon.logs.observer`` installs it (``twistd`` asks
for its observer only after ``makeService`` has called :func:`configure`), and
``--logger rosey.daemon.logs.text_observer`` / ``json_observer`` give a fixed format.

* ``text``: ``<6>namespace: message`` per line, the ``<N>`` being the syslog priority that
  journald turns into the entry's level (debug 7, info 6, warn 4, error 3, critical 2). No
  timestamp: journald stamps each line itself. Every line of a traceback carries the prefix too.
* ``json``: one object per line: ``time`` (Unix seconds), ``level``, ``namespace``, ``text`` and,
  with a failure, ``failure`` (the traceback).

Nothing here filters secrets: rosey never passes one to a log call (``Secret`` values render as
``Secret(<hidden>)`` if one ever slips through as a format field).

:class:`ChatLog` and :class:`MediaLog` write the channel's chat and media history in the
original Rosey's line formats, ``[%H:%M:%S] <user> text`` and ``[%H:%M:%S] title (type:id)``,
in local time.
"""

from __future__ import annotations

import json
import re
import sys
import time
from typing import IO, Any

from twisted.application.service import Service
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import (
    FileLogObserver,
    FilteringLogObserver,
    ILogObserver,
    LogEvent,
    Logger,
    LogLevel,
    LogLevelFilterPredicate,
    formatEvent,
)

from rosey.daemon.config import ConfigError, LoggingConfig
from rosey.events import MESSAGE, Event

__all__ = [
    "ChatLog",
    "MediaLog",
    "configure",
    "format_json",
    "format_text",
    "json_observer",
    "make_observer",
    "observer",
    "text_observer",
]

log = Logger(namespace="rosey.daemon.logs")

#: syslog priorities (sd-daemon(3) prefixes) for twisted.logger's levels.
PRIORITY = {
    LogLevel.debug: 7,
    LogLevel.info: 6,
    LogLevel.warn: 4,
    LogLevel.error: 3,
    LogLevel.critical: 2,
}


def _namespace(event: LogEvent) -> str:
    namespace: str = event.get("log_namespace") or "-"
    if namespace == "log_legacy":  # twisted.python.log.msg: the "system" says more
        namespace = event.get("log_system") or namespace
    return namespace


def _traceback(event: LogEvent) -> str | None:
    failure = event.get("log_failure")
    if failure is None:
        return None
    try:
        text: str = failure.getTraceback()
    except Exception:  # a broken failure must not lose the log line
        return "(unable to format the traceback)"
    return text.rstrip("\n")


def format_text(event: LogEvent) -> str:
    """``<N>namespace: message`` lines for journald (every line prefixed)."""
    priority = PRIORITY.get(event.get("log_level", LogLevel.info), 6)
    text = f"{_namespace(event)}: {formatEvent(event)}"
    traceback = _traceback(event)
    if traceback is not None:
        text = f"{text}\n{traceback}"
    prefix = f"<{priority}>"
    return "".join(prefix + line + "\n" for line in text.splitlines() or [""])


def format_json(event: LogEvent) -> str:
    """One JSON object per line: ``time``, ``level``, ``namespace``, ``text`` [, ``failure``]."""
    record: dict[str, Any] = {
        "time": event.get("log_time"),
        "level": getattr(event.get("log_level"), "name", "info"),
        "namespace": _namespace(event),
        "text": formatEvent(event),
    }
    traceback = _traceback(event)
    if traceback is not None:
        record["failure"] = traceback
    return json.dumps(record) + "\n"


def make_observer(config: LoggingConfig, stream: IO[Any]) -> ILogObserver:
    """The daemon's log observer for a ``[logging]`` table, writing to ``stream``.

    Events below ``config.level`` are dropped; ``config.format`` picks text or JSON lines. The
    stream is flushed after every event (stdout is a pipe under systemd).
    """
    formatter = format_json if config.format == "json" else format_text
    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.levelWithName(config.level))
    return FilteringLogObserver(FileLogObserver(stream, formatter), [predicate])


_configured = LoggingConfig()


def configure(config: LoggingConfig) -> None:
    """Remember ``config`` for :func:`observer` (call it from ``makeService``)."""
    global _configured
    _configured = config


def observer() -> ILogObserver:
    """``twistd --logger rosey.daemon.logs.observer``: stdout, as :func:`configure` said."""
    return make_observer(_configured, sys.stdout)


def text_observer() -> ILogObserver:
    """``twistd --logger rosey.daemon.logs.text_observer``: journald text on stdout, info+."""
    return make_observer(LoggingConfig(format="text"), sys.stdout)


def json_observer() -> ILogObserver:
    """``twistd --logger rosey.daemon.logs.json_observer``: JSON lines on stdout, info+."""
    return make_observer(LoggingConfig(format="json"), sys.stdout)


# -- chat and media logs ----------------------------------------------------------------------

_UNPRINTABLE = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")


_BUFFER_BYTES = 256 * 1024


def _clean(text: object) -> str:
    """One line of text: hostile newlines and control characters become spaces."""
    line = str(text)
    # isprintable() is False for every character the pattern replaces (and for a few more,
    # such as other separators, which then take the regular expression's path).
    return line if line.isprintable() else _UNPRINTABLE.sub(" ", line)


class _LineFile(Service):
    """Appends lines to a file that is opened at construction (so a bad path fails early).

    Lines are written to a buffered file and flushed ``flush_delay`` seconds after the first
    unflushed one, so a busy channel costs one ``write(2)`` per buffer rather than per line and
    the reactor never waits on the disk for long; ``stopService`` flushes and closes.
    """

    key = "logging"

    def __init__(self, path: str, clock: IReactorTime, flush_delay: float = 1.0) -> None:
        self.path = path
        self.clock = clock
        self.flush_delay = flush_delay
        self._pending: IDelayedCall | None = None
        self._minute: int | None = None  # the minute _hh_mm is for (local time)
        self._hh_mm = ""
        self._second: int | None = None  # the second _stamp is for
        self._stamp = ""
        self._file = self._open()

    def _open(self) -> IO[str]:
        try:
            # A large buffer: the file reaches the OS on the timed flush, in one write(2) per
            # second instead of one per 8 KiB (each a chance to lose the GIL to the database).
            return open(self.path, "a", encoding="utf-8", errors="replace", buffering=_BUFFER_BYTES)
        except OSError as e:
            raise ConfigError(f"{self.key}: cannot open {self.path!r}: {e.strerror}") from None

    def write_line(self, when: float, text: str) -> None:
        """Append ``[HH:MM:SS] text`` for Unix time ``when`` (local time)."""
        if self._file.closed:
            return
        # strftime(localtime()) once a minute: zones differ from UTC by whole minutes.
        second = int(when // 1)
        if second != self._second:  # "[HH:MM:SS] " once a second
            self._second = second
            minute, sec = divmod(second, 60)
            if minute != self._minute:
                self._minute = minute
                self._hh_mm = time.strftime("%H:%M", time.localtime(minute * 60))
            self._stamp = f"[{self._hh_mm}:{sec:02d}] "
        self._file.write(f"{self._stamp}{text}\n")
        if self._pending is None:
            self._pending = self.clock.callLater(self.flush_delay, self.flush)

    def flush(self) -> None:
        """Hand buffered lines to the operating system now."""
        if self._pending is not None and self._pending.active():
            self._pending.cancel()
        self._pending = None
        if not self._file.closed:
            self._file.flush()

    def reopen(self) -> None:
        """Close and reopen the file (after logrotate moved it away)."""
        self.flush()
        self._file.close()
        self._file = self._open()

    def stopService(self) -> None:
        self.flush()
        self._file.close()
        super().stopService()


class ChatLog(_LineFile):
    """``[%H:%M:%S] <user> text`` for each chat ``message``, stamped with the server's time.

    Chat the server replays in the join burst is skipped: it was logged when it was said.
    Register with ``bot.on("message", chat_log)``.
    """

    name = "chat-log"
    key = "logging.chat_log"

    def __call__(self, event: Event) -> None:
        if event.name != MESSAGE or event.replayed:
            return
        if event.user is None or event.content is None:
            log.warn("chat log: skipping a message without user or text")
            return
        when = event.timestamp if event.timestamp is not None else self.clock.seconds()
        self.write_line(when, f"<{_clean(event.user)}> {_clean(event.content)}")


class MediaLog(_LineFile):
    """``[%H:%M:%S] title (type:id)`` for each item that starts playing, stamped with the clock.

    CyTube resends ``changeMedia`` for the running item (join burst, shuffle, ``playerReady``);
    an item is logged when it differs from the last one or starts from the beginning
    (``currentTime`` ≤ 0), so a reconnect does not log the same item twice.
    Register with ``bot.on("changeMedia", media_log)``.
    """

    name = "media-log"
    key = "logging.media_log"

    def __init__(self, path: str, clock: IReactorTime, flush_delay: float = 1.0) -> None:
        super().__init__(path, clock, flush_delay)
        self._last: tuple[str, str] | None = None

    def __call__(self, event: Event) -> None:
        if event.name != "changeMedia":
            return
        data = event.platform_data
        if not isinstance(data, dict) or data.get("id") is None or data.get("type") is None:
            log.warn("media log: skipping a changeMedia without type and id")
            return
        item = (str(data["type"]), str(data["id"]))
        elapsed = data.get("currentTime")
        fresh = not isinstance(elapsed, int | float) or elapsed <= 0
        if item == self._last and not fresh:
            return
        self._last = item
        title = _clean(data.get("title") or "")
        self.write_line(self.clock.seconds(), f"{title} ({_clean(item[0])}:{_clean(item[1])})")
