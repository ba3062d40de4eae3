"""Where a channel's socket.io server is: ``GET {site}/socketconfig/{channel}.json``.

CyTube answers ``{"servers": [{"url": "https://host:port", "secure": true}, …]}`` (secure entries
first) or, for an invalid channel name, ``404 {"error": "Channel \\"x\\" does not exist."}``.
Like the web client, rosey takes the first ``secure`` entry, else the first entry, and connects
its websocket straight to ``/socket.io/?EIO=4&transport=websocket`` on that host.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.defer import TimeoutError as DeferredTimeout
from twisted.internet.interfaces import IReactorTime

from rosey.errors import ChannelError, NoSuchChannel, SocketIOError
from rosey.wire.bounded_body import BodyTooBig, read_body

__all__ = [
    "HTTPGetter",
    "SocketServer",
    "choose_server",
    "fetch_socket_url",
    "socketconfig_url",
    "websocket_url",
]

# The answer is a few hundred bytes; anything far bigger is not CyTube. Enforced while reading.
_MAX_BODY = 64 * 1024


class HTTPGetter(Protocol):
    """What rosey needs of treq: ``treq.HTTPClient`` and ``treq.testing.StubTreq`` both fit."""

    def get(self, url: str, **kwargs: Any) -> Any:
        """Start a GET; the Deferred fires with a treq response."""


@dataclass(frozen=True, slots=True)
class SocketServer:
    """One entry of the socketconfig answer."""

    url: str
    secure: bool


def socketconfig_url(site: str, channel: str) -> str:
    """``{site}/socketconfig/{channel}.json``, with the channel name quoted for a URL path."""
    return f"{site.rstrip('/')}/socketconfig/{quote(channel, safe='')}.json"


def choose_server(config: Any) -> SocketServer:
    """The first ``secure: true`` server, else the first one. Raises ``SocketIOError``."""
    servers = config.get("servers") if isinstance(config, dict) else None
    if not isinstance(servers, list):
        raise SocketIOError(f"socketconfig has no server list: {_excerpt(config)}")
    usable = [
        SocketServer(s["url"], s.get("secure") is True)
        for s in servers
        if isinstance(s, dict) and isinstance(s.get("url"), str) and s["url"]
    ]
    if not usable:
        raise SocketIOError(f"socketconfig lists no usable server: {_excerpt(config)}")
    return next((s for s in usable if s.secure), usable[0])


def websocket_url(server: SocketServer, eio: int = 4) -> str:
    """``ws(s)://host:port/socket.io/?EIO=<eio>&transport=websocket`` for a socketconfig entry.

    ``http``/``https`` become ``ws``/``wss``; a URL without a scheme takes it from ``secure``.
    """
    url = server.url
    if "://" not in url:
        url = ("https://" if server.secure else "http://") + url
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme.lower())
    if scheme is None or not parts.hostname:
        raise SocketIOError(f"socketconfig server URL is not usable: {server.url!r}")
    return f"{scheme}://{parts.netloc}/socket.io/?EIO={eio}&transport=websocket"


async def fetch_socket_url(
    http: HTTPGetter,
    site: str,
    channel: str,
    *,
    clock: IReactorTime,
    eio: int = 4,
    timeout: float = 30.0,
) -> str:
    """Fetch the socketconfig and return the websocket URL to connect to.

    Raises ``NoSuchChannel`` (with the server's message) on a 404 ``{"error": …}``, and
    ``SocketIOError`` when the site cannot be reached in ``timeout`` seconds of ``clock`` or
    answers something unusable. Cancelling the caller cancels the request.
    """
    url = socketconfig_url(site, channel)
    try:
        code, body = await Deferred.fromCoroutine(_get(http, url)).addTimeout(timeout, clock)
    except CancelledError:
        raise
    except DeferredTimeout:
        raise SocketIOError(f"cannot fetch {url}: no answer within {timeout:g} s") from None
    except BodyTooBig:
        raise SocketIOError(
            f"{url} answered more than {_MAX_BODY} bytes, not a socketconfig"
        ) from None
    except Exception as e:  # any transport failure: DNS, refused, TLS, reset
        raise SocketIOError(f"cannot fetch {url}: {_describe(e)}") from e
    try:
        config = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        config = None
    if code == 404:
        message = config.get("error") if isinstance(config, dict) else None
        if isinstance(message, str) and message:
            raise NoSuchChannel(message)
        raise NoSuchChannel(f"channel {channel!r} not found ({url} answered 404)")
    if code != 200:
        raise SocketIOError(f"{url} answered HTTP {code}: {_excerpt(body)}")
    if config is None:
        raise SocketIOError(f"{url} did not answer JSON: {_excerpt(body)}")
    if isinstance(config, dict) and isinstance(config.get("error"), str):
        raise ChannelError(f"{url}: {config['error']}")
    return websocket_url(choose_server(config), eio)


async def _get(http: HTTPGetter, url: str) -> tuple[int, bytes]:
    """The status and body (at most ``_MAX_BODY`` bytes, else :class:`BodyTooBig`)."""
    response = await http.get(url)
    return response.code, await read_body(response, _MAX_BODY)


def _describe(e: BaseException) -> str:
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _excerpt(value: Any, limit: int = 120) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else repr(value)
    return text if len(text) <= limit else text[:limit] + "…"
