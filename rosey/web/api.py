"""``/api/``: the status page's data as JSON (documented in docs/web.md).

::

    GET  /api/channels                                   every channel, one line each
    GET  /api/channels/<site>/<name>                     users, now playing, next items
    GET  /api/channels/<site>/<name>/users?range=24h     user counts over 24h, 7d or 30d
    GET  /api/channels/<site>/<name>/activity?days=7     chat lines per hour, heat map
    GET  /api/channels/<site>/<name>/chatters?range=7d   top chatters (24h, 7d, 30d, all)
    GET  /api/channels/<site>/<name>/media               recently and most played
    GET  /api/channels/<site>/<name>/chat                the last chat lines
    GET  /api/channels/<site>/<name>/events              the live feed (text/event-stream)
    POST /api/channels/<site>/<name>/say                 say a line (bearer token; optional)
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.web.resource import Resource
from twisted.web.server import Request

from rosey.storage.interface import IStorage
from rosey.web import views
from rosey.web.channels import Channels, WebChannel
from rosey.web.http import HTTPError, answer_later, error, write_json
from rosey.web.live import LiveFeed
from rosey.web.say import SayEndpoint

MAX_ACTIVITY_DAYS = 30


def _arg(request: Request, name: str, default: str) -> str:
    values = (request.args or {}).get(name.encode("ascii"))
    return values[0].decode("utf-8", "replace") if values else default


def _choice(request: Request, name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _arg(request, name, default)
    if value not in choices:
        raise HTTPError(400, f"{name} must be one of {', '.join(choices)}")
    return value


def _days(request: Request) -> int:
    value = _arg(request, "days", "7")
    if not value.isdigit() or not 1 <= int(value) <= MAX_ACTIVITY_DAYS:
        raise HTTPError(400, f"days must be a whole number from 1 to {MAX_ACTIVITY_DAYS}")
    return int(value)


class StatusData:
    """What the API and the pages share: the channels, storage, the clock, the live feeds."""

    def __init__(
        self,
        channels: Channels,
        storage: IStorage,
        clock: IReactorTime,
        say: SayEndpoint | None = None,
    ) -> None:
        self.channels = channels
        self.storage = storage
        self.clock = clock
        self.say = say if say is not None else SayEndpoint(None)
        self.feeds = {c.label: LiveFeed(c.bot, clock) for c in channels.all()}

    def now(self) -> float:
        """The clock's time."""
        return self.clock.seconds()


_Reader = Callable[[StatusData, WebChannel, Request], Coroutine[Any, Any, Any]]


async def _users(data: StatusData, channel: WebChannel, request: Request) -> Any:
    period = _choice(request, "range", "24h", tuple(views.RANGES))
    return await views.user_history(data.storage, channel, period, data.now())


async def _activity(data: StatusData, channel: WebChannel, request: Request) -> Any:
    return await views.chat_activity(data.storage, channel, _days(request), data.now())


async def _chatters(data: StatusData, channel: WebChannel, request: Request) -> Any:
    period = _choice(request, "range", "7d", views.CHATTER_RANGES)
    return await views.top_chatters(data.storage, channel, period, data.now())


async def _media(data: StatusData, channel: WebChannel, request: Request) -> Any:
    return await views.media_history(data.storage, channel, data.now())


async def _chat(data: StatusData, channel: WebChannel, request: Request) -> Any:
    return await views.recent_chat(data.storage, channel)


_READERS: dict[str, _Reader] = {
    "users": _users,
    "activity": _activity,
    "chatters": _chatters,
    "media": _media,
    "chat": _chat,
}


class ApiResource(Resource):
    """``/api/channels…`` (a leaf: it routes the rest of the path itself)."""

    isLeaf = True

    def __init__(self, data: StatusData) -> None:
        super().__init__()
        self._data = data

    def _route(self, request: Request) -> tuple[WebChannel | None, str]:
        path = [p.decode("utf-8", "replace") for p in request.postpath or []]
        if path and path[-1] == "":
            path.pop()  # a trailing slash
        if not path or path[0] != "channels":
            raise HTTPError(404, "not found")
        if len(path) == 1:
            return None, ""
        if len(path) not in (3, 4):
            raise HTTPError(404, "not found")
        channel = self._data.channels.find(path[1], path[2])
        if channel is None:
            raise HTTPError(404, f"no channel {path[1]}/{path[2]} here")
        what = path[3] if len(path) == 4 else ""
        if what not in _READERS and what not in ("", "events", "say"):
            raise HTTPError(404, "not found")
        return channel, what

    def render_GET(self, request: Request) -> object:
        try:
            channel, what = self._route(request)
            if what == "say":
                request.setHeader(b"allow", b"POST")
                raise HTTPError(405, "say takes POST")
            if channel is None:
                return write_json(
                    request, [views.channel_summary(c) for c in self._data.channels.all()]
                )
            if what == "":
                return write_json(request, views.channel_now(channel))
            if what == "events":
                return self._data.feeds[channel.label].open(request)
        except HTTPError as e:
            return error(request, e.status, e.message)
        # An argument error raised in the reader answers with its status (answer_later).
        return answer_later(request, _READERS[what](self._data, channel, request))

    def render_POST(self, request: Request) -> object:
        try:
            channel, what = self._route(request)
            if channel is None or what != "say":
                request.setHeader(b"allow", b"GET")
                raise HTTPError(405, "only say takes POST")
        except HTTPError as e:
            return error(request, e.status, e.message)
        return answer_later(request, self._data.say.say(request, channel))
