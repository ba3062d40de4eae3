"""What goes between the daemon and its bus process (:mod:`rosey.bus.process`,
:mod:`rosey.bus.child`).

Daemon to child, on the child's stdin: frames of a 4-byte big-endian length and a value in
``marshal``'s format (the cheapest serialisation of JSON-like values here, ~0.7 µs an event;
safe to read, and both ends run the same Python); the first frame is the
:class:`~rosey.bus.settings.BusSettings` as a dict (so secrets never appear on a command line),
every later one a list of :data:`Item`. End of file means "stop": the child publishes what it
can within ``stop_timeout`` and exits.

Child to daemon: on stdout, one JSON object a line with its counters (:class:`Report`); on
stderr, its log lines, ``<level> <text>``, which the daemon logs as its own.
"""

from __future__ import annotations

import dataclasses
import json
import marshal
import struct
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from rosey.bus.payload import jsonable
from rosey.bus.settings import BusSettings
from rosey.events import Event

HEADER = struct.Struct(">I")

#: One event as handed over: (channel, received_at, name, platform, platform_data, user,
#: content, timestamp, replayed, extra or None).
Item = tuple[str, float, str, str, Any, str | None, str | None, float | None, bool, Any]


def item(event: Event, channel: str, received_at: float) -> Item:
    """``event`` of ``channel`` as handed to the child (cheap: no copy of the payload)."""
    extra = dict(event.extra) if event.extra else None
    return (
        channel,
        received_at,
        event.name,
        event.platform,
        event.platform_data,
        event.user,
        event.content,
        event.timestamp,
        event.replayed,
        extra,
    )


def event_of(it: Item) -> tuple[Event, str, float]:
    """The event, channel and receive time an :data:`Item` carries."""
    channel, received_at, name, platform, data, user, content, timestamp, replayed, extra = it
    fields: dict[str, Any] = {
        "user": user,
        "content": content,
        "timestamp": timestamp,
        "replayed": replayed,
        "platform": platform,
    }
    if extra:
        fields["extra"] = extra
    return Event(name, data, **fields), channel, received_at


#: marshal's format version (4: Python 3.4 and later).
VERSION = 4


def frame(value: Any) -> bytes:
    """``value`` (JSON-like values, tuples) marshalled, with its length in front; ValueError
    for a value marshal cannot hold."""
    data = marshal.dumps(value, VERSION)
    return HEADER.pack(len(data)) + data


def plain(it: Item) -> Item:
    """``it`` with its payload and extras made of JSON values (for the rare event that holds
    some other type)."""
    return (*it[:4], jsonable(it[4]), *it[5:9], jsonable(it[9]))


def settings_frame(settings: BusSettings) -> bytes:
    """The first frame: ``settings`` as a dict."""
    return frame(dataclasses.asdict(settings))


def settings_of(value: Any) -> BusSettings:
    """The settings a first frame carried."""
    fields = dict(value)
    fields["urls"] = tuple(fields["urls"])
    return BusSettings(**fields)


class FrameReader:
    """Cuts a byte stream into the values of :func:`frame`."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        """The values completed by ``data``."""
        self._buffer += data
        out = []
        while len(self._buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(self._buffer)
            end = HEADER.size + size
            if len(self._buffer) < end:
                break
            out.append(marshal.loads(self._buffer[HEADER.size : end]))
            del self._buffer[:end]
        return out


@dataclass
class Report:
    """The child's counters since it started (a line of JSON on its stdout)."""

    state: str = "connecting"
    received: int = 0  # events read from the pipe
    published: int = 0  # stored by the stream (acknowledged)
    dropped: int = 0  # lost to the child's full buffer
    buffered: int = 0  # waiting in the child
    final: bool = False  # the last report: the child is about to exit

    def line(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode() + b"\n"

    @classmethod
    def parse(cls, line: bytes) -> Report:
        fields: Mapping[str, Any] = json.loads(line)
        return cls(**{k: fields[k] for k in cls.__dataclass_fields__ if k in fields})
