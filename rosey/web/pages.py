"""The HTML pages, from the templates in ``templates/`` (twisted.web.template: every slot is
escaped). The page shows the same data as the API; its script (``static/app.js``) draws the
charts from the API and keeps the page live."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from twisted.internet.defer import Deferred
from twisted.python.filepath import FilePath
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request
from twisted.web.template import Element, Tag, XMLFile, flattenString, renderer

from rosey.web import views
from rosey.web.api import StatusData
from rosey.web.channels import WebChannel
from rosey.web.http import log

_TEMPLATES = FilePath(str(files("rosey.web") / "templates"))


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    s = max(int(seconds), 0)
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def _rank(rank: float) -> str:
    return f"{rank:g}"


def _each(tag: Tag, rows: list[dict[str, Any]]) -> list[Tag]:
    return [tag.clone().fillSlots(**row) for row in rows]


class IndexPage(Element):
    """``/``: every channel."""

    loader = XMLFile(_TEMPLATES.child("index.xml"))

    def __init__(self, channels: list[WebChannel]) -> None:
        super().__init__()
        self._channels = channels

    @renderer
    def channels(self, request: Request, tag: Tag) -> list[Tag]:
        rows = []
        for channel in self._channels:
            s = views.channel_summary(channel)
            rows.append(
                {
                    "path": s["path"],
                    "label": channel.label,
                    "users": str(s["user_count"]),
                    "playing": s["now_playing"] or "",
                }
            )
        return _each(tag, rows)

    @renderer
    def no_channels(self, request: Request, tag: Tag) -> Tag | str:
        return "" if self._channels else tag


class ChannelPage(Element):
    """``/channels/<site>/<name>``: the channel, filled from :mod:`rosey.web.views`."""

    loader = XMLFile(_TEMPLATES.child("channel.xml"))

    def __init__(self, channel: WebChannel, data: dict[str, Any]) -> None:
        super().__init__()
        self._channel = channel
        self._data = data

    @renderer
    def page(self, request: Request, tag: Tag) -> Tag:
        """The page-wide slots, filled on the root element."""
        now = self._data["now"]
        count = now["connected_count"]
        slots = {
            "label": self._channel.label,
            "api": now["api"],
            "user_count": str(now["user_count"]),
            "connected_count": "?" if count is None else str(count),
            "state": "connected" if now["connected"] else "not connected",
            "max_users": str(self._data["high_water"]),
        }
        return tag.fillSlots(**slots)

    @renderer
    def now_playing(self, request: Request, tag: Tag) -> Tag:
        now = self._data["now"]["now_playing"]
        if now is None:
            return tag.clear()("Nothing is playing.")
        duration = now["duration"] or 0
        position = max(now["position"], 0)
        percent = min(100.0, 100.0 * position / duration) if duration else 0.0
        return tag.fillSlots(
            title=now["title"],
            link=now["link"] or "#",
            queued_by=now["queued_by"] or "?",
            position=_clock(position),
            duration=_clock(duration) if duration else "live",
            percent=f"{percent:.1f}",
        )

    @renderer
    def next(self, request: Request, tag: Tag) -> list[Tag]:
        rows = self._data["now"]["next"]
        return _each(tag, [{"title": r["title"], "queued_by": r["queued_by"] or "?"} for r in rows])

    @renderer
    def users(self, request: Request, tag: Tag) -> list[Tag]:
        rows = []
        for u in self._data["now"]["users"]:
            classes = " ".join(c for c, on in (("afk", u["afk"]), ("leader", u["leader"])) if on)
            rows.append({"name": u["name"], "rank": _rank(u["rank"]), "classes": classes})
        return _each(tag, rows)

    @renderer
    def chat(self, request: Request, tag: Tag) -> list[Tag]:
        return _each(
            tag, [{"user": m["user"], "text": m["text"]} for m in self._data["chat"]["messages"]]
        )

    @renderer
    def chatters(self, request: Request, tag: Tag) -> list[Tag]:
        rows = self._data["chatters"]["chatters"]
        return _each(tag, [{"name": r["name"], "lines": str(r["lines"])} for r in rows])

    @renderer
    def recent_media(self, request: Request, tag: Tag) -> list[Tag]:
        rows = self._data["media"]["recent"]
        return _each(
            tag,
            [
                {"title": r["title"], "link": r["link"] or "#", "queued_by": r["queued_by"] or "?"}
                for r in rows
            ],
        )

    @renderer
    def most_played(self, request: Request, tag: Tag) -> list[Tag]:
        rows = self._data["media"]["most_played"]
        return _each(
            tag,
            [
                {"title": r["title"], "link": r["link"] or "#", "plays": str(r["plays"])}
                for r in rows
            ],
        )


async def channel_page_data(data: StatusData, channel: WebChannel) -> dict[str, Any]:
    """Everything :class:`ChannelPage` shows at first (the charts load from the API)."""
    now = data.now()
    storage = data.storage
    high = await storage.get_channel_stats(channel.storage_key)
    return {
        "now": views.channel_now(channel),
        "chat": await views.recent_chat(storage, channel),
        "chatters": await views.top_chatters(storage, channel, "7d", now),
        "media": await views.media_history(storage, channel, now),
        "high_water": high.max_users,
    }


def _write_html(request: Request, element: Element, status: int = 200) -> object:
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"text/html; charset=utf-8")
    request.setHeader(b"x-content-type-options", b"nosniff")
    request.setHeader(
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        b"object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    )
    d = flattenString(None, element)

    def written(html: bytes) -> None:
        request.write(b"<!DOCTYPE html>\n" + html)
        request.finish()

    def failed(failure: Any) -> None:
        log.failure("rendering {uri} failed", failure, uri=request.uri)
        request.setResponseCode(503)
        request.write(b"the page could not be rendered; try again later\n")
        request.finish()

    d.addCallbacks(written, failed)
    return NOT_DONE_YET


class IndexResource(Resource):
    """``/``."""

    isLeaf = True

    def __init__(self, data: StatusData) -> None:
        super().__init__()
        self._data = data

    def render_GET(self, request: Request) -> object:
        return _write_html(request, IndexPage(self._data.channels.all()))


class ChannelResource(Resource):
    """``/channels/<site>/<name>``."""

    isLeaf = True

    def __init__(self, data: StatusData) -> None:
        super().__init__()
        self._data = data

    def render_GET(self, request: Request) -> object:
        path = [p.decode("utf-8", "replace") for p in request.postpath or []]
        if path and path[-1] == "":
            path.pop()
        channel = self._data.channels.find(*path) if len(path) == 2 else None
        if channel is None:
            request.setResponseCode(404)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return b"no such channel here\n"
        d = Deferred.fromCoroutine(channel_page_data(self._data, channel))
        d.addCallback(lambda data: _write_html(request, ChannelPage(channel, data)))

        def failed(failure: Any) -> None:
            log.failure("reading {uri} failed", failure, uri=request.uri)
            request.setResponseCode(503)
            request.write(b"storage is unavailable; try again later\n")
            request.finish()

        d.addErrback(failed)
        return NOT_DONE_YET
