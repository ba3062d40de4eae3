"""The channels' chat and media logs (``[logging] chat_log`` / ``media_log``).

:class:`ChatLog` and :class:`MediaLog` write a channel's chat and media history in the original
Rosey's line formats, ``[%H:%M:%S] <user> text`` and ``[%H:%M:%S] title (type:id)``, in local
time, to a :class:`LineFile`. :class:`ChannelLogs` opens the files a configuration names: a
path pattern with ``{site}`` / ``{channel}`` (:mod:`rosey.daemon.logpaths`) gives each channel
its own file; channels that share a file (a plain path and several channels) get their label
after the time stamp, ``[%H:%M:%S] cytu.be/lobby <user> text``. Each channel keeps its own
"same item as before" state for the media log either way.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections import Counter
from collections.abc import Sequence
from typing import IO, Any

from twisted.application.service import MultiService, Service
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from rosey.daemon import logpaths
from rosey.daemon.config import ChannelConfig, ConfigError, LoggingConfig
from rosey.events import MESSAGE, Event

__all__ = ["ChannelLogs", "ChatLog", "LineFile", "MediaLog"]

log = Logger(namespace="rosey.daemon.logs")

_UNPRINTABLE = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")


_BUFFER_BYTES = 256 * 1024


def _clean(text: object) -> str:
    """One line of text: hostile newlines and control characters become spaces."""
    line = str(text)
    # isprintable() is False for every character the pattern replaces (and for a few more,
    # such as other separators, which then take the regular expression's path).
    return line if line.isprintable() else _UNPRINTABLE.sub(" ", line)


class LineFile(Service):
    """Appends lines to a file that is opened at construction (so a bad path fails early).

    Lines are written to a buffered file and flushed ``flush_delay`` seconds after the first
    unflushed one, so a busy channel costs one ``write(2)`` per buffer rather than per line and
    the reactor never waits on the disk for long; ``stopService`` flushes and closes.
    ``key`` names the setting in errors.
    """

    def __init__(
        self, path: str, clock: IReactorTime, key: str = "logging", flush_delay: float = 1.0
    ) -> None:
        self.path = path
        self.key = key
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
        """Close and reopen the file (after logrotate moved it away). ``ConfigError`` if the
        path cannot be opened any more: the old file is then kept."""
        self.flush()
        fresh = self._open()
        old, self._file = self._file, fresh
        old.close()

    def stopService(self) -> None:
        self.flush()
        self._file.close()
        super().stopService()


class ChatLog:
    """``[%H:%M:%S] <user> text`` for each chat ``message``, stamped with the server's time
    (``[%H:%M:%S] channel <user> text`` when ``channel`` is given).

    Chat the server replays in the join burst is skipped: it was logged when it was said.
    Register with ``bot.on("message", chat_log)``.
    """

    def __init__(self, file: LineFile, channel: str | None = None) -> None:
        self.file = file
        self._prefix = f"{_clean(channel)} " if channel else ""

    def __call__(self, event: Event) -> None:
        if event.name != MESSAGE or event.replayed:
            return
        if event.user is None or event.content is None:
            log.warn("chat log: skipping a message without user or text")
            return
        when = event.timestamp if event.timestamp is not None else self.file.clock.seconds()
        self.file.write_line(when, f"{self._prefix}<{_clean(event.user)}> {_clean(event.content)}")


class MediaLog:
    """``[%H:%M:%S] title (type:id)`` for each item that starts playing, stamped with the clock
    (``[%H:%M:%S] channel title (type:id)`` when ``channel`` is given).

    CyTube resends ``changeMedia`` for the running item (join burst, shuffle, ``playerReady``);
    an item is logged when it differs from this channel's last one or starts from the beginning
    (``currentTime`` ≤ 0), so a reconnect does not log the same item twice.
    Register with ``bot.on("changeMedia", media_log)``.
    """

    def __init__(self, file: LineFile, channel: str | None = None) -> None:
        self.file = file
        self._prefix = f"{_clean(channel)} " if channel else ""
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
        self.file.write_line(
            self.file.clock.seconds(),
            f"{self._prefix}{title} ({_clean(item[0])}:{_clean(item[1])})",
        )


class ChannelLogs(MultiService):
    """The chat and media log files of ``[logging]`` for ``channels``, one :class:`LineFile`
    child per distinct path, and each channel's listeners (:meth:`attach`).

    Opening happens here (before the reactor runs): ``ConfigError`` names the key of a path that
    cannot be opened. Directories that a pattern's placeholders name are created below the
    pattern's fixed part, which must exist.
    """

    def __init__(
        self, config: LoggingConfig, channels: Sequence[ChannelConfig], clock: IReactorTime
    ) -> None:
        super().__init__()
        self.files: dict[str, LineFile] = {}
        self._listeners: dict[str, list[tuple[str, Any]]] = {ch.label: [] for ch in channels}
        kinds = (("chat_log", config.chat_log, MESSAGE), ("media_log", config.media_log, None))
        for key, pattern, event_name in kinds:
            if not pattern:
                continue
            paths = {ch.label: logpaths.render(pattern, ch.site, ch.name) for ch in channels}
            shared = Counter(paths.values())
            for channel in channels:
                path = paths[channel.label]
                file = self._file(path, pattern, clock, f"logging.{key}")
                label = channel.label if shared[path] > 1 else None
                if event_name == MESSAGE:
                    self._listeners[channel.label].append((MESSAGE, ChatLog(file, label)))
                else:
                    self._listeners[channel.label].append(("changeMedia", MediaLog(file, label)))

    def _file(self, path: str, pattern: str, clock: IReactorTime, key: str) -> LineFile:
        file = self.files.get(path)
        if file is None:
            if logpaths.has_placeholders(pattern):
                _make_directories(logpaths.fixed_directory(pattern), os.path.dirname(path))
            file = self.files[path] = LineFile(path, clock, key)
            file.setServiceParent(self)
        return file

    def attach(self, bot: Any, channel: ChannelConfig) -> None:
        """Register ``channel``'s chat and media loggers on its ``bot``."""
        for event_name, listener in self._listeners.get(channel.label, ()):
            bot.on(event_name, listener)

    def reopen(self) -> int:
        """Reopen every file (after logrotate); how many were reopened. A file that cannot be
        reopened is logged and keeps being written where it was."""
        reopened = 0
        for file in self.files.values():
            try:
                file.reopen()
            except ConfigError as e:
                log.error("cannot reopen a log file: {error}", error=str(e))
            else:
                reopened += 1
        return reopened


def _make_directories(base: str, directory: str) -> None:
    """Create ``directory`` if ``base`` (the part the operator named) exists."""
    if directory and os.path.isdir(base or "."):
        with contextlib.suppress(OSError):  # opening the file then says what is wrong
            os.makedirs(directory, exist_ok=True)
