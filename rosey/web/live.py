"""The live feed: a channel's events as server-sent events (``text/event-stream``).

Each :class:`LiveFeed` listens to one bot (after its mirror applied the event) and writes to
every open stream:

- ``chat``: ``{"user", "text", "time"}``; the text is the event's plain ``content``, never the
  server's HTML;
- ``join`` / ``leave``: ``{"user"}``;
- ``media``: ``{"title", "type", "id"}`` when the media changes;
- ``usercount``: ``{"count"}``;
- ``users``: ``{}`` when the user list changed otherwise (ranks, AFK, the leader): the page
  fetches the channel again.

A comment line goes out every :data:`KEEPALIVE` seconds so proxies keep the stream open.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.web.server import NOT_DONE_YET, Request

from rosey import events
from rosey.bot.service import Bot
from rosey.events import Event
from rosey.web.http import error, json_body, log

KEEPALIVE = 20.0
#: Streams one channel serves at once; more are refused with 503.
MAX_STREAMS = 200

_USER_LIST_CHANGES = frozenset(
    {events.USER_LIST, "setUserRank", "setAFK", "setLeader", "setUserMeta", "connected"}
)


def _frame(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode("ascii") + b"\ndata: " + json_body(data) + b"\n\n"


def frame_for(event: Event) -> bytes | None:
    """The stream frame for ``event``, or None if the page does not show it."""
    name = event.name
    if name == events.MESSAGE:
        if event.replayed:
            return None
        return _frame("chat", {"user": event.user, "text": event.content, "time": event.timestamp})
    if name == events.USER_JOIN:
        return _frame("join", {"user": event.user})
    if name == events.USER_LEAVE:
        return _frame("leave", {"user": event.user})
    if name == "changeMedia":
        data = event.platform_data if isinstance(event.platform_data, dict) else {}
        return _frame(
            "media",
            {"title": str(data.get("title", "")), "type": data.get("type"), "id": data.get("id")},
        )
    if name == "usercount":
        count = event.platform_data
        return _frame("usercount", {"count": count if isinstance(count, int) else None})
    if name in _USER_LIST_CHANGES:
        return _frame("users", {})
    return None


class LiveFeed:
    """One channel's open event streams."""

    def __init__(self, bot: Bot, clock: IReactorTime) -> None:
        self._clock = clock
        self._streams: set[Request] = set()
        self._keepalive: IDelayedCall | None = None
        #: Called with the number of open streams whenever one opens (tests wait on it).
        self.on_open: Callable[[int], None] | None = None
        bot.subscribe(self._event)

    @property
    def streams(self) -> int:
        """How many streams are open."""
        return len(self._streams)

    def open(self, request: Request) -> object:
        """Answer ``request`` with an endless event stream (for ``render_GET``)."""
        if len(self._streams) >= MAX_STREAMS:
            return error(request, 503, "too many live streams open")
        request.setHeader(b"content-type", b"text/event-stream; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        request.setHeader(b"x-accel-buffering", b"no")
        request.write(b"retry: 3000\n: connected\n\n")
        self._streams.add(request)
        request.notifyFinish().addBoth(lambda _: self._close(request))
        if self._keepalive is None:
            self._keepalive = self._clock.callLater(KEEPALIVE, self._ping)
        if self.on_open is not None:
            self.on_open(len(self._streams))
        return NOT_DONE_YET

    def close_all(self) -> None:
        """End every stream (the daemon is stopping)."""
        for request in list(self._streams):
            request.finish()
        self._streams.clear()
        self._stop_keepalive()

    def _close(self, request: Request) -> None:
        self._streams.discard(request)
        if not self._streams:
            self._stop_keepalive()

    def _stop_keepalive(self) -> None:
        if self._keepalive is not None and self._keepalive.active():
            self._keepalive.cancel()
        self._keepalive = None

    def _ping(self) -> None:
        self._keepalive = None
        self._send(b": keepalive\n\n")
        if self._streams:
            self._keepalive = self._clock.callLater(KEEPALIVE, self._ping)

    def _event(self, event: Event) -> None:
        if not self._streams:
            return
        try:
            frame = frame_for(event)
        except Exception:
            log.failure("cannot show {name} on the live feed", name=event.name)
            return
        if frame is not None:
            self._send(frame)

    def _send(self, frame: bytes) -> None:
        for request in list(self._streams):
            request.write(frame)
