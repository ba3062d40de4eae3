"""socketconfig: fetched with a treq-like client (StubTreq, and a real treq client against a
real twisted.web server on 127.0.0.1 for the size cap), server choice, URL building."""

from __future__ import annotations

import json
from typing import Any

import pytest
import pytest_twisted
from treq.testing import StringStubbingResource, StubTreq
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IPullProducer
from twisted.internet.task import Clock
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site
from zope.interface import implementer

from rosey.errors import ChannelError, NoSuchChannel, SocketIOError
from rosey.wire.socketconfig import (
    SocketServer,
    choose_server,
    fetch_socket_url,
    socketconfig_url,
    websocket_url,
)

CYTUBE_FULL = {
    "servers": [
        {"url": "https://cytube.example:8443", "secure": True},
        {"url": "http://cytube.example:8080", "secure": False},
        {"url": "https://cytube.example:8443", "secure": True, "ipv6": True},
    ]
}


def stub(code: int, body: Any, seen: list[str] | None = None) -> StubTreq:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()

    def answer(method: bytes, url: str, params: Any, headers: Any, data: Any) -> Any:
        if seen is not None:
            seen.append(url)
        return code, {b"Content-Type": b"application/json"}, raw

    return StubTreq(StringStubbingResource(answer))


async def fetch(http: Any, channel: str = "labchan", eio: int = 4) -> str:
    return await fetch_socket_url(http, "https://site.example", channel, clock=Clock(), eio=eio)


@pytest_twisted.ensureDeferred
async def test_prefers_the_first_secure_server_and_builds_the_websocket_url() -> None:
    seen: list[str] = []
    url = await fetch(stub(200, CYTUBE_FULL, seen))
    assert seen == ["https://site.example/socketconfig/labchan.json"]
    assert url == "wss://cytube.example:8443/socket.io/?EIO=4&transport=websocket"


@pytest_twisted.ensureDeferred
async def test_plain_lab_server_gives_ws_and_eio3_on_request() -> None:
    body = {"servers": [{"url": "http://127.0.0.1:8080", "secure": False}]}
    assert await fetch(stub(200, body), eio=3) == (
        "ws://127.0.0.1:8080/socket.io/?EIO=3&transport=websocket"
    )


@pytest_twisted.ensureDeferred
async def test_404_becomes_no_such_channel_with_the_servers_message() -> None:
    with pytest.raises(NoSuchChannel) as info:
        await fetch(stub(404, {"error": 'Channel "bad name" does not exist.'}), "bad name")
    assert str(info.value) == 'Channel "bad name" does not exist.'


@pytest_twisted.ensureDeferred
async def test_404_without_json_is_still_no_such_channel() -> None:
    with pytest.raises(NoSuchChannel, match="not found"):
        await fetch(stub(404, b"<html>Not Found</html>"))


@pytest.mark.parametrize(
    ("code", "body", "match"),
    [
        (502, b"Bad Gateway", "HTTP 502"),
        (200, b"not json", "did not answer JSON"),
        (200, {"servers": []}, "no usable server"),
        (200, {"nope": 1}, "no server list"),
        (200, b"x" * 70000, "not a socketconfig"),
    ],
)
@pytest_twisted.ensureDeferred
async def test_unusable_answers_are_socketio_errors(code: int, body: Any, match: str) -> None:
    with pytest.raises(SocketIOError, match=match):
        await fetch(stub(code, body))


@pytest_twisted.ensureDeferred
async def test_error_key_in_a_200_is_a_channel_error() -> None:
    with pytest.raises(ChannelError, match="partition"):
        await fetch(stub(200, {"error": "partition moved"}))


class _Hanging:
    """An HTTP client whose answer never comes."""

    def __init__(self) -> None:
        self.cancelled = False

    def get(self, url: str, **kwargs: Any) -> Deferred[Any]:
        def cancel(_: Deferred[Any]) -> None:
            self.cancelled = True

        return Deferred(cancel)


@pytest_twisted.ensureDeferred
async def test_no_answer_times_out_on_the_injected_clock() -> None:
    clock, http = Clock(), _Hanging()
    d = Deferred.fromCoroutine(
        fetch_socket_url(http, "https://site.example", "c", clock=clock, timeout=30)
    )
    clock.advance(29)
    assert not d.called
    clock.advance(1)
    with pytest.raises(SocketIOError, match="no answer within 30 s"):
        await d
    assert http.cancelled


class _Refusing:
    def get(self, url: str, **kwargs: Any) -> Deferred[Any]:
        from twisted.internet.error import ConnectionRefusedError

        d: Deferred[Any] = Deferred()
        d.errback(ConnectionRefusedError("127.0.0.1:1"))
        return d


@pytest_twisted.ensureDeferred
async def test_transport_failure_is_a_clear_socketio_error() -> None:
    with pytest.raises(SocketIOError, match=r"cannot fetch https://site\.example/socketconfig/c"):
        await fetch_socket_url(_Refusing(), "https://site.example", "c", clock=Clock())


def test_choose_server_takes_the_first_entry_when_none_is_secure() -> None:
    config = {"servers": [{"url": "http://a:1", "secure": False}, {"url": "http://b:2"}]}
    assert choose_server(config) == SocketServer("http://a:1", False)


def test_choose_server_skips_broken_entries() -> None:
    good = {"url": "https://ok:1", "secure": True}
    config = {"servers": [None, {"url": 5}, {"secure": True}, good]}
    assert choose_server(config) == SocketServer("https://ok:1", True)


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        (SocketServer("https://h:443", True), "wss://h:443/socket.io/?EIO=4&transport=websocket"),
        (SocketServer("http://h", False), "ws://h/socket.io/?EIO=4&transport=websocket"),
        (SocketServer("h:8443", True), "wss://h:8443/socket.io/?EIO=4&transport=websocket"),
        (SocketServer("h:8080", False), "ws://h:8080/socket.io/?EIO=4&transport=websocket"),
        (
            SocketServer("http://[::1]:80/", False),
            "ws://[::1]:80/socket.io/?EIO=4&transport=websocket",
        ),
    ],
)
def test_websocket_url(server: SocketServer, expected: str) -> None:
    assert websocket_url(server) == expected


def test_websocket_url_refuses_other_schemes() -> None:
    with pytest.raises(SocketIOError, match="not usable"):
        websocket_url(SocketServer("ftp://h:21", False))


def test_socketconfig_url_quotes_the_channel_and_trims_the_site() -> None:
    assert socketconfig_url("https://s.example/", "a b/c") == (
        "https://s.example/socketconfig/a%20b%2Fc.json"
    )


class _Endless(Resource):
    """Streams ``total`` bytes of JSON-looking junk, 16 KiB per write as the socket drains,
    and records how much it wrote and whether the client hung up first."""

    isLeaf = True
    chunk = b" " * 16384

    def __init__(self, total: int) -> None:
        super().__init__()
        self.total = total
        self.written = 0
        self.finished: Deferred[None] | None = None

    def render_GET(self, request: Any) -> Any:
        resource = self
        request.setHeader(b"content-type", b"application/json")
        self.finished = request.notifyFinish()

        @implementer(IPullProducer)
        class Pump:
            def resumeProducing(self) -> None:
                if resource.written >= resource.total:
                    request.unregisterProducer()
                    request.finish()
                    return
                request.write(resource.chunk)
                resource.written += len(resource.chunk)

            def stopProducing(self) -> None:
                pass

        request.registerProducer(Pump(), False)
        return NOT_DONE_YET


@pytest_twisted.ensureDeferred
async def test_a_huge_answer_is_cut_off_while_reading() -> None:
    """A real HTTP server on 127.0.0.1 streaming 256 MiB: rosey stops reading past 64 KiB and
    hangs up, so the server is cut off long before it could write it all."""
    from twisted.internet import reactor as _reactor

    from rosey.wire.endpoints import default_http

    reactor: Any = _reactor
    endless = _Endless(total=256 * 1024 * 1024)
    port = reactor.listenTCP(0, Site(endless), interface="127.0.0.1")
    http, pool = default_http(reactor)
    try:
        site = f"http://127.0.0.1:{port.getHost().port}"
        with pytest.raises(SocketIOError, match="more than 65536 bytes, not a socketconfig"):
            await fetch_socket_url(http, site, "labchan", clock=reactor, timeout=10)
        finished = endless.finished
        assert finished is not None
        with pytest.raises(ConnectionDone):  # the client closed the connection mid-body
            await finished.addTimeout(5, reactor)
        # Only what loopback's socket buffers hold got out before the hang-up.
        assert endless.written < 32 * 1024 * 1024 < endless.total
    finally:
        await pool.closeCachedConnections()
        await port.stopListening()
