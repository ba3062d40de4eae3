"""The daemon's log: text lines (journald-style under systemd, timestamped otherwise) or JSON.

Daemon logs go through ``twisted.logger``. :func:`make_observer` builds the observer for a
``[logging]`` table; ``twistd --logger rosey.daemon.logs.observer`` installs it (``twistd`` asks
for its observer only after ``makeService`` has called :func:`configure`), and
``--logger rosey.daemon.logs.text_observer`` / ``json_observer`` give a fixed format.

* ``text`` under systemd (stdout or stderr is the journal: ``JOURNAL_STREAM`` names its device
  and inode, systemd.exec(5)): ``<6>namespace: message`` per line, the ``<N>`` being the syslog
  priority that journald turns into the entry's level (debug 7, info 6, warn 4, error 3,
  critical 2). No timestamp: journald stamps each line itself. Every line of a traceback carries
  the prefix too.
* ``text`` anywhere else (a terminal, a pipe, ``twistd --logfile``):
  ``2024-03-01 18:04:56.123 info  namespace: message``, in local time.
* ``json``: one object per line: ``time`` (Unix seconds), ``level``, ``namespace``, ``text`` and,
  with a failure, ``failure`` (the traceback).

The log goes to stdout, or to the file named by ``twistd --logfile`` (``twistd.log`` when
``twistd`` runs as a daemon without one, as ``twistd`` itself does): :class:`LogFile`, reopened
on SIGHUP so logrotate can move it away. rosey never rotates it itself.

Nothing here filters secrets: rosey never passes one to a log call (``Secret`` values render as
``Secret(<hidden>)`` if one ever slips through as a format field).

The channels' chat and media logs are :mod:`rosey.daemon.chatlogs`.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import IO, Any, cast

from twisted.logger import (
    FileLogObserver,
    FilteringLogObserver,
    ILogObserver,
    LogEvent,
    LogLevel,
    LogLevelFilterPredicate,
    formatEvent,
)

from rosey.daemon.config import LoggingConfig

__all__ = [
    "LogFile",
    "configure",
    "format_journal",
    "format_json",
    "format_text",
    "json_observer",
    "make_observer",
    "observer",
    "text_observer",
    "under_journal",
]

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


def _message(event: LogEvent) -> str:
    text = f"{_namespace(event)}: {formatEvent(event)}"
    traceback = _traceback(event)
    return text if traceback is None else f"{text}\n{traceback}"


def format_journal(event: LogEvent) -> str:
    """``<N>namespace: message`` lines for journald (every line prefixed)."""
    priority = PRIORITY.get(event.get("log_level", LogLevel.info), 6)
    prefix = f"<{priority}>"
    return "".join(prefix + line + "\n" for line in _message(event).splitlines() or [""])


def format_text(event: LogEvent) -> str:
    """``2024-03-01 18:04:56.123 info  namespace: message`` (local time), then any traceback."""
    when = event.get("log_time")
    if not isinstance(when, int | float):
        when = time.time()
    second = int(when)
    millis = int((when - second) * 1000)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
    level = getattr(event.get("log_level"), "name", "info")
    return f"{stamp}.{millis:03d} {level:<5} {_message(event)}\n"


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


def under_journal(stream: IO[Any] | LogFile, environ: Mapping[str, str] | None = None) -> bool:
    """True when ``stream`` is the journal: ``JOURNAL_STREAM`` (``device:inode``, set by
    systemd for a unit whose stdout or stderr goes to journald) names the file it writes to.

    A child of such a unit inherits the variable with other streams (a shell's terminal, a
    pipe), hence the comparison rather than the variable alone.
    """
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    try:
        device, inode = (int(part) for part in value.split(":"))
        status = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError, io.UnsupportedOperation):
        return False
    return (status.st_dev, status.st_ino) == (device, inode)


def make_observer(
    config: LoggingConfig, stream: IO[Any] | LogFile, *, journal: bool | None = None
) -> ILogObserver:
    """The daemon's log observer for a ``[logging]`` table, writing to ``stream``.

    Events below ``config.level`` are dropped; ``config.format`` picks text or JSON lines. Text
    has journald prefixes when ``journal`` is true, timestamps when false; ``None`` asks
    :func:`under_journal`. The stream is flushed after every event (stdout is a pipe under
    systemd).
    """
    formatter: Callable[[LogEvent], str]
    if config.format == "json":
        formatter = format_json
    elif under_journal(stream) if journal is None else journal:
        formatter = format_journal
    else:
        formatter = format_text
    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.levelWithName(config.level))
    return FilteringLogObserver(FileLogObserver(cast(IO[Any], stream), formatter), [predicate])


class LogFile:
    """The daemon's log file (``twistd --logfile``): appended to, reopened by :meth:`reopen`.

    Opened at construction, so a path that cannot be written fails before the reactor starts
    (``OSError``).
    """

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)  # twistd may change directory when it daemonizes
        self._file = self._open()

    def _open(self) -> IO[str]:
        return open(self.path, "a", encoding="utf-8", errors="replace")

    def write(self, text: str) -> None:
        """Append ``text`` (the observer flushes after each event)."""
        self._file.write(text)

    def flush(self) -> None:
        """Hand written text to the operating system."""
        self._file.flush()

    def fileno(self) -> int:
        """The open file's descriptor."""
        return self._file.fileno()

    def reopen(self) -> None:
        """Close and reopen the file (after logrotate moved it away)."""
        self._file.flush()
        fresh = self._open()
        old, self._file = self._file, fresh
        old.close()

    def close(self) -> None:
        """Flush and close the file."""
        self._file.close()


_configured = LoggingConfig()


def configure(config: LoggingConfig) -> None:
    """Remember ``config`` for :func:`observer` (call it from ``makeService``)."""
    global _configured
    _configured = config


def observer() -> ILogObserver:
    """``twistd --logger rosey.daemon.logs.observer``: stdout, as :func:`configure` said."""
    return make_observer(_configured, sys.stdout)


def text_observer() -> ILogObserver:
    """``twistd --logger rosey.daemon.logs.text_observer``: text on stdout, info and up."""
    return make_observer(LoggingConfig(format="text"), sys.stdout)


def json_observer() -> ILogObserver:
    """``twistd --logger rosey.daemon.logs.json_observer``: JSON lines on stdout, info and up."""
    return make_observer(LoggingConfig(format="json"), sys.stdout)
