"""The asyncio side of :class:`tests.peers.cytube.CyTubePeer`: python-socketio on aiohttp.

``PeerServer`` owns the socket.io server, the aiohttp listener and the :class:`Channel`; it
runs entirely on the peer's event loop. It admits connections (per-IP token bucket, client IP
from ``X-Forwarded-For``), records every received event, dispatches them to the channel, and
can cut connections abruptly (``drop``, ``crash``).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import socketio
from aiohttp import web
from twisted.logger import Logger

from tests.peers import shapes
from tests.peers.channel import NO_ACK, ROOM, Channel, ChannelConfig
from tests.peers.limits import TokenBucket
from tests.peers.state import Member, Received

log = Logger()


@dataclass(frozen=True)
class ServerConfig:
    """Transport-level settings (CyTube's ``io.*`` config)."""

    connect_capacity: float = 5
    connect_refill: float = 0.1
    in_rate_limit: float | None = None
    in_rate_burst: float | None = None
    ping_interval: float = 25.0
    ping_timeout: float = 120.0


# In a str every astral character is one code point, so any surrogate left is a lone one.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class _Json:
    """JSON as socket.io's JavaScript parser writes it: compact and raw UTF-8, except a lone
    surrogate, which JSON.stringify escapes (Node 12+)."""

    @staticmethod
    def dumps(data: Any, **kwargs: Any) -> str:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)

    @staticmethod
    def loads(text: str | bytes, **kwargs: Any) -> Any:
        return json.loads(text)


class _Packet(socketio.packet.Packet):
    json = _Json


class _Server(socketio.AsyncServer):
    """python-socketio with two hooks: after ``40{sid}`` is queued, and the ack flag."""

    after_connect: Callable[[str], Coroutine[Any, Any, None]] | None = None
    ack_requested = False

    async def _handle_connect(self, eio_sid: str, namespace: str | None, data: Any) -> None:
        await super()._handle_connect(eio_sid, namespace, data)
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace or "/")
        connected = sid is not None and self.manager.is_connected(sid, namespace or "/")
        if connected and self.after_connect is not None:
            await self.after_connect(sid)

    async def _handle_event_internal(
        self, server: Any, sid: str, eio_sid: str, data: Any, namespace: str, id: Any
    ) -> None:
        self.ack_requested = id is not None
        await super()._handle_event_internal(server, sid, eio_sid, data, namespace, id)


class _SioTransport:
    """The :class:`tests.peers.channel.Transport` of the channel: python-socketio."""

    def __init__(self, sio: _Server) -> None:
        self.sio = sio

    async def emit(self, event: str, args: tuple[Any, ...], to: str) -> None:
        await self.sio.emit(event, args, to=to)

    async def disconnect(self, sid: str) -> None:
        await self.sio.disconnect(sid)

    async def enter_room(self, sid: str) -> None:
        await self.sio.enter_room(sid, ROOM)

    async def leave_room(self, sid: str) -> None:
        await self.sio.leave_room(sid, ROOM)


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


class PeerServer:
    """One listening CyTube server with one channel; every method runs on the peer's loop.

    ``changed`` is called after anything a ``when()`` predicate could observe changed.
    """

    def __init__(
        self, channel: ChannelConfig, config: ServerConfig, changed: Callable[[], None]
    ) -> None:
        self.config = config
        self.port = 0
        self.received: list[Received] = []
        self._changed = changed
        self._channel_config = channel
        self.channel: Channel | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._sio: _Server | None = None
        self._buckets: dict[str, TokenBucket] = {}
        self._pending: dict[str, Member] = {}
        self._ws_requests: dict[str, web.Request] = {}

    @property
    def site(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def _chan(self) -> Channel:
        assert self.channel is not None
        return self.channel

    async def start(self) -> None:
        interval: float | tuple[float, float] = self.config.ping_interval
        if not float(self.config.ping_interval).is_integer():
            interval = (
                self.config.ping_interval,
                math.ceil(self.config.ping_interval) - self.config.ping_interval,
            )
        sio = _Server(
            async_mode="aiohttp",
            cors_allowed_origins="*",
            async_handlers=False,
            ping_interval=interval,
            ping_timeout=self.config.ping_timeout,
            max_http_buffer_size=1048576,
            serializer=_Packet,
            logger=False,
            engineio_logger=False,
        )
        sio.on("connect", self._on_connect)
        sio.on("disconnect", self._on_disconnect)
        sio.on("*", self._on_event)
        sio.after_connect = self._after_connect
        self._sio = sio
        self.channel = Channel(self._channel_config, _SioTransport(sio))
        app = web.Application(middlewares=[self._track_upgrades])
        sio.attach(app)
        app.router.add_get("/socketconfig/{name}.json", self._socketconfig)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        await self.listen()

    async def listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await self._site.start()
        self.port = self._site.port

    async def crash(self) -> None:
        assert self._runner is not None
        assert self._runner.server is not None
        if self._site is not None:
            await self._site.stop()
            self._site = None
        for handler in list(self._runner.server.connections):
            if handler.transport is not None:
                handler.transport.abort()
        chan = self._chan
        for m in list(chan.sockets.values()):
            chan.sockets.pop(m.sid or "", None)
            if m in chan.users:
                chan.users.remove(m)
        if chan.leader is not None and not chan.leader.virtual:
            chan.leader = None
        self._pending.clear()
        self._buckets.clear()  # in-memory state a restarted CyTube loses
        chan.logins.guest_logins.clear()

    async def stop(self) -> None:
        await self.crash()
        self._chan.close()
        if self._sio is not None:
            await self._sio.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @web.middleware
    async def _track_upgrades(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> Any:
        # An upgraded websocket carries the engine.io sid; drop() needs its TCP transport.
        if request.query.get("transport") == "websocket" and "sid" in request.query:
            self._ws_requests[request.query["sid"]] = request
        return await handler(request)

    async def _socketconfig(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if not shapes.CHANNEL_NAME_RE.match(name):
            body = {"error": f'Channel "{name}" does not exist.'}
            return web.json_response(body, status=404, dumps=_dumps)
        return web.json_response({"servers": [{"url": self.site, "secure": False}]}, dumps=_dumps)

    def _client_ip(self, environ: dict[str, Any]) -> str:
        forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return str(forwarded.split(",")[0].strip())
        request = environ.get("aiohttp.request")
        return str(getattr(request, "remote", None) or "127.0.0.1")

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        ip = self._client_ip(environ)
        bucket = self._buckets.setdefault(
            ip, TokenBucket(self.config.connect_capacity, self.config.connect_refill)
        )
        if bucket.throttle():
            self._chan.stats.refused += 1
            self._changed()
            raise socketio.exceptions.ConnectionRefusedError("Rate limit exceeded")
        m = Member(name=None, rank=-1, sid=sid, ip=ip)
        rate = self.config.in_rate_limit
        if rate is not None:
            m.in_bucket = TokenBucket(self.config.in_rate_burst or rate, rate)
        self._pending[sid] = m

    async def _after_connect(self, sid: str) -> None:
        m = self._pending.pop(sid, None)
        if m is None:
            return
        self._chan.stats.connects += 1
        try:
            await self._chan.connected(m)
        finally:
            self._changed()

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        self._pending.pop(sid, None)
        m = self._chan.sockets.get(sid)
        try:
            if m is not None:
                await self._chan.disconnected(m)
        finally:
            if self._sio is not None:
                eio_sid = self._sio.manager.eio_sid_from_sid(sid, "/")
                self._ws_requests.pop(eio_sid, None)
            self._changed()

    async def _on_event(self, event: str, sid: str, *args: Any) -> Any:
        assert self._sio is not None
        m = self._chan.sockets.get(sid)
        if m is None:
            return self._sio.not_handled
        data = args[0] if len(args) == 1 else (list(args) if args else None)
        ack = self._sio.ack_requested
        self.received.append(Received(sid, m.name, str(event), data, time.monotonic(), ack))
        result: Any = NO_ACK
        try:
            if m.in_bucket is not None and m.in_bucket.throttle():
                await self._chan.kick(m, "Rate limit exceeded")
            else:
                result = await self._chan.handle(m, str(event), data, ack)
        except Exception:
            log.failure("CyTube peer: handling {event!r} from {sid} failed", event=event, sid=sid)
        finally:
            self._changed()
        return self._sio.not_handled if result is NO_ACK else result

    async def drop(self, m: Member) -> None:
        """Abort the TCP connection under that member's socket (no ``41``, no close frame)."""
        assert self._sio is not None
        if m.sid is None:
            raise ValueError(f"{m.name} is a virtual user: it has no connection to drop")
        eio_sid = self._sio.manager.eio_sid_from_sid(m.sid, "/")
        request = self._ws_requests.get(eio_sid) or self._sio.environ.get(eio_sid, {}).get(
            "aiohttp.request"
        )
        transport = getattr(request, "transport", None)
        if transport is not None:
            transport.abort()
            return
        socket = self._sio.eio.sockets.get(eio_sid)  # polling: no TCP to cut, end the session
        if socket is not None:
            await socket.close(wait=False, abort=True)
