"""Hostile input over a real websocket: each bad frame is logged once and the session stays up.

The socket.io peer cannot send broken frames, so :class:`RawCyTube` is a raw Autobahn server on
127.0.0.1 that speaks just enough CyTube (open, ``40``, login, a join burst) and lets the test
write any bytes it likes. A twisted.web site beside it serves the socketconfig, so rosey's whole
path is real: treq, socketconfig, endpoint, Autobahn, session, normalizer, listeners.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
import pytest_twisted
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from twisted.internet.defer import Deferred
from twisted.logger import ILogObserver, LogEvent, formatEvent, globalLogPublisher
from twisted.web.resource import Resource
from twisted.web.server import Site

from rosey.errors import JoinTimeout
from rosey.events import Event
from rosey.wire.connection import CyTubeConnection
from rosey.wire.retry import ReconnectPolicy
from tests.waiting import eventually

OPEN = '0{"sid":"raw","upgrades":[],"pingInterval":25000,"pingTimeout":120000,"maxPayload":1048576}'


def chat(user: str, msg: str, time: int = 1_800_000_000_000) -> str:
    return "42" + json.dumps(["chatMsg", {"username": user, "msg": msg, "meta": {}, "time": time}])


class RawCyTubeProtocol(WebSocketServerProtocol):
    """One client of :class:`RawCyTube`."""

    factory: RawCyTube

    def onOpen(self) -> None:
        self.factory.conns.append(self)
        if self.factory.auto:
            self.send(OPEN)
        self.factory.changed()

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        text = payload.decode("utf-8", "replace")
        self.factory.received.append(text)
        if self.factory.auto:
            self.factory.respond(self, text)
        self.factory.changed()

    def onClose(self, wasClean: bool, code: Any, reason: Any) -> None:
        self.factory.closed.append(self)
        self.factory.changed()

    def send(self, frame: str | bytes, *, binary: bool = False, fragment: int = 0) -> None:
        """Write one frame exactly as given (bytes are not checked for UTF-8)."""
        payload = frame.encode("utf-8") if isinstance(frame, str) else frame
        self.sendMessage(payload, isBinary=binary, fragmentSize=fragment or None)


class RawCyTube(WebSocketServerFactory):
    """A scriptable fake CyTube: ``auto`` answers the handshake, login and join."""

    protocol = RawCyTubeProtocol  # type: ignore[assignment]

    def __init__(self, *, rank: int = 3, auto: bool = True) -> None:
        super().__init__()
        self.setProtocolOptions(utf8validateIncoming=False)
        self.rank = rank
        self.auto = auto
        self.conns: list[RawCyTubeProtocol] = []
        self.closed: list[RawCyTubeProtocol] = []
        self.received: list[str] = []

    def respond(self, conn: RawCyTubeProtocol, text: str) -> None:
        if text == "40":
            conn.send('40{"sid":"nsp"}')
            conn.send('42["rank",-1]')
        elif text.startswith('42["login"'):
            name = json.loads(text[2:])[1]["name"]
            conn.send('42["rank",1]')
            conn.send("42" + json.dumps(["login", {"success": True, "name": name}]))
        elif text.startswith('42["joinChannel"'):
            conn.send(f'42["rank",{self.rank}]')
            conn.send(chat("someone", "said before we joined"))
            conn.send('42["userlist",[{"name":"someone","rank":1,"profile":{},"meta":{}}]]')

    def when(self, predicate: Callable[[], bool], timeout: float = 5.0) -> Deferred[None]:
        """Fires once ``predicate()`` holds (checked on every server event and every 5 ms)."""
        return eventually(predicate, timeout)

    def changed(self) -> None:
        pass


class _SocketConfig(Resource):
    isLeaf = True

    def __init__(self, ws_port: int) -> None:
        super().__init__()
        self.ws_port = ws_port
        self.hits = 0

    def render_GET(self, request: Any) -> bytes:
        self.hits += 1
        request.setHeader(b"content-type", b"application/json")
        url = f"http://127.0.0.1:{self.ws_port}"
        return json.dumps({"servers": [{"url": url, "secure": False}]}).encode()


class RawSite:
    """The raw websocket server plus a socketconfig site, both on 127.0.0.1."""

    def __init__(self, server: RawCyTube) -> None:
        self.server = server
        self.ports: list[Any] = []
        self.site = ""
        self.config: _SocketConfig | None = None

    async def start(self) -> RawSite:
        from twisted.internet import reactor as _reactor

        reactor: Any = _reactor
        ws = reactor.listenTCP(0, self.server, interface="127.0.0.1")
        self.config = _SocketConfig(ws.getHost().port)
        root = Resource()
        root.putChild(b"socketconfig", self.config)
        http = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
        self.ports = [ws, http]
        self.site = f"http://127.0.0.1:{http.getHost().port}"
        return self

    async def stop(self) -> None:
        for conn in list(self.server.conns):
            if conn not in self.server.closed:
                conn.dropConnection(abort=True)
        for port in self.ports:
            await port.stopListening()


@pytest.fixture
def rosey_log() -> Iterator[list[str]]:
    """Every log line rosey's wire modules write during the test, formatted."""
    lines: list[str] = []

    def observe(event: LogEvent) -> None:
        if str(event.get("log_namespace", "")).startswith("rosey."):
            text = formatEvent(event)
            if event.get("log_failure") is not None:
                text += " " + event["log_failure"].getTraceback()
            lines.append(text)

    observer = cast(ILogObserver, observe)
    globalLogPublisher.addObserver(observer)
    yield lines
    globalLogPublisher.removeObserver(observer)


async def joined_connection(site: RawSite, **kwargs: Any) -> tuple[CyTubeConnection, list[Event]]:
    from twisted.internet import reactor

    conn = CyTubeConnection(
        site.site,
        "labchan",
        username="labbot",
        password="secret",
        reactor=reactor,
        reconnect=ReconnectPolicy(initial_delay=0.1, max_delay=0.2, budget_interval=0),
        **kwargs,
    )
    events: list[Event] = []
    conn.subscribe(events.append)
    conn.startService()
    await conn.when_ready().addTimeout(5, reactor)
    return conn, events


def _delivered(events: list[Event], content: str) -> Callable[[], bool]:
    return lambda: any(e.content == content for e in events)


BAD_FRAMES: list[tuple[str, str | bytes, dict[str, Any], str]] = [
    # (label, frame, send options, what the single log line says)
    ("malformed event", '42["chatMsg",', {}, "invalid JSON payload"),
    ("event not a list", '42{"a":1}', {}, "event payload is not [name"),
    ("unknown engine.io type", "9hello", {}, "unknown Engine.IO packet type"),
    ("unknown socket.io type", "47[]", {}, "unknown Socket.IO packet type"),
    ("socket.io binary", '451-["x",{"_placeholder":true,"num":0}]', {}, "binary Socket.IO"),
    ("non-JSON payload", "42not json at all", {}, "invalid JSON payload"),
    ("empty frame", "", {}, "empty frame"),
    ("unknown event", '42["fooBarBaz",{"x":1}]', {}, "unknown event 'fooBarBaz'"),
    ("malformed chat", '42["chatMsg",{"username":5}]', {}, "malformed 'chatMsg'"),
    ("invalid UTF-8", b'42["chatMsg","\xff\xfe"]', {}, "is not UTF-8"),
    ("binary frame", b"\x00\x01\x02", {"binary": True}, "binary frame of 3 bytes"),
    ("huge frame", "42" + "x" * (3 * 1024 * 1024), {}, "over the 2097152-byte limit"),
    ("huge fragmented", "42" + "y" * (3 * 1024 * 1024), {"fragment": 65536}, "over the"),
    ("unknown ack id", "4399[{}]", {}, "ack 99 answers nothing waiting"),
]


@pytest_twisted.ensureDeferred
async def test_each_bad_frame_is_logged_once_and_the_session_stays_up(
    rosey_log: list[str],
) -> None:
    site = await RawSite(RawCyTube()).start()
    conn, events = await joined_connection(site)
    server = site.server
    try:
        (ws,) = server.conns
        for index, (label, frame, options, expected) in enumerate(BAD_FRAMES):
            rosey_log.clear()
            ws.send(frame, **options)
            marker = f"still here {index}"
            ws.send(chat("someone", marker))
            await server.when(_delivered(events, marker))
            hits = [line for line in rosey_log if expected in line]
            assert len(hits) == 1, (label, rosey_log)
            warnings = [line for line in rosey_log if "bad frame" in line or "event" in line]
            assert len(warnings) == 1, (label, rosey_log)
        assert conn.connected
        assert conn.ready
        # never reconnected
        assert len(server.conns) == 1
        assert not server.closed
        assert site.config is not None
        assert site.config.hits == 1
        # the same unknown event again is not logged a second time
        rosey_log.clear()
        ws.send('42["fooBarBaz",{"x":2}]')
        ws.send(chat("someone", "final"))
        await server.when(lambda: any(e.content == "final" for e in events))
        assert not [line for line in rosey_log if "fooBarBaz" in line]
        assert [e.platform_data for e in events if e.name == "fooBarBaz"] == [{"x": 1}, {"x": 2}]
    finally:
        await conn.stopService()
        await site.stop()


@pytest_twisted.ensureDeferred
async def test_a_flood_of_bad_frames_is_logged_with_a_cap(rosey_log: list[str]) -> None:
    site = await RawSite(RawCyTube()).start()
    conn, events = await joined_connection(site)
    try:
        (ws,) = site.server.conns
        rosey_log.clear()
        for _ in range(100):
            ws.send("42[broken")
        ws.send(chat("someone", "after the flood"))
        await site.server.when(lambda: any(e.content == "after the flood" for e in events))
        assert len([line for line in rosey_log if "ignored a bad frame" in line]) == 20
        assert conn.ready
    finally:
        await conn.stopService()
        await site.stop()
    assert any("100 bad frames on this session (80 not logged)" in line for line in rosey_log)


class HangsOnFirstJoin(RawCyTube):
    """Logs the bot in but never answers the first connection's ``joinChannel``."""

    def respond(self, conn: RawCyTubeProtocol, text: str) -> None:
        if text.startswith('42["joinChannel"') and len(self.conns) == 1:
            return
        super().respond(conn, text)


@pytest_twisted.ensureDeferred
async def test_a_join_the_server_never_answers_times_out_and_the_bot_reconnects(
    rosey_log: list[str],
) -> None:
    site = await RawSite(HangsOnFirstJoin()).start()
    conn: CyTubeConnection | None = None
    try:
        conn, events = await joined_connection(site, join_timeout=0.5)
        assert len(site.server.conns) == 2
        assert conn.ready
        errors = [e for e in events if e.name == "error"]
        assert [type(e.platform_data) for e in errors] == [JoinTimeout]
        assert errors[0].content == (
            "the server did not answer the login/join of #labchan in 0.5 s"
        )
        assert [line for line in rosey_log if "did not answer the login/join" in line]
    finally:
        if conn is not None:
            await conn.stopService()
        await site.stop()
