"""A raw websocket CyTube stand-in that pushes a pre-encoded event stream as fast as TCP drains.

Run: ``python -m bench.e2e.peer --port 0 --events 300000`` (only 127.0.0.1). It speaks just
enough HTTP, RFC 6455, Engine.IO v4 and Socket.IO to admit a bot:

- ``GET /socketconfig/<chan>.json`` → ``{"servers":[{"url":"http://127.0.0.1:PORT",…}]}``;
- ``GET /socket.io/?EIO=4&transport=websocket`` upgrades; the peer sends the open packet
  ``0{…}``, answers ``40`` with ``40{"sid":…}``, ``login`` with ``rank 3`` + ``login`` success,
  ``joinChannel`` with the join burst (:func:`bench.e2e.stream.join_burst`) and a ping ``2``.
  The pong to that ping means the client has handled the burst: the connection is *ready*.
- On ``go ID`` (a line on stdin, or at once with ``--auto``) it writes the stream
  (:func:`bench.e2e.stream.build_stream`) to that connection, as fast as the socket drains;
  the stream ends with a ping whose pong means the client has handled every event: *done*.

It reports on stdout, one JSON object per line: ``listening`` (port, stream size), ``ready``,
``started``, ``done`` (monotonic start/end times, events) and ``closed``. ``time.monotonic`` is
system-wide on Linux, so the orchestrator can compare these times with its own.
Other stdin commands: ``close ID`` (close that websocket) and ``quit``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from bench.e2e.frames import CLOSE, PING, PONG, TEXT, FrameReader, accept_key, server_frame
from bench.e2e.stream import Stream, build_stream, join_burst, server_text

CHUNK = 256 * 1024
HIGH_WATER = 1 << 20
OPEN = {"upgrades": [], "pingInterval": 25000, "pingTimeout": 120000, "maxPayload": 1048576}


def report(kind: str, **fields: Any) -> None:
    """One JSON line on stdout for the orchestrator."""
    sys.stdout.write(json.dumps({"event": kind, **fields}) + "\n")
    sys.stdout.flush()


class Peer:
    """The listening side: the stream, the burst's size and the live connections."""

    def __init__(self, stream: Stream, users: int, items: int, auto: bool) -> None:
        self.stream = stream
        self.users = users
        self.items = items
        self.auto = auto
        self.port = 0
        self.conns: dict[int, Connection] = {}
        self._ids = itertools.count(1)
        self._bursts: dict[str, bytes] = {}
        self.stopped = asyncio.Event()

    def new_id(self) -> int:
        return next(self._ids)

    def burst(self, channel: str) -> bytes:
        """The join burst for ``channel`` plus the ping that ends it, encoded once."""
        if channel not in self._bursts:
            frames = join_burst(channel, self.users, self.items)
            self._bursts[channel] = b"".join(server_text(f) for f in [*frames, "2"])
        return self._bursts[channel]

    def command(self, line: str) -> None:
        words = line.split()
        if not words:
            return
        if words[0] == "quit":
            self.stopped.set()
            return
        conn = self.conns.get(int(words[1])) if len(words) > 1 and words[1].isdigit() else None
        if conn is None:
            report("error", message=f"bad command {line.strip()!r}")
        elif words[0] == "go":
            conn.go()
        elif words[0] == "close":
            conn.close()


class Connection(asyncio.Protocol):
    """One client: an HTTP request, or a websocket carrying one socket.io session."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.id = peer.new_id()
        self.transport: asyncio.Transport | None = None
        self.websocket = False
        self.channel: str | None = None
        self.state = "opening"  # opening, burst, ready, streaming, done
        self.received: Counter[str] = Counter()
        self._http = b""
        self._reader = FrameReader()
        self._drained = asyncio.Event()
        self._drained.set()
        self._started = 0.0

    # -- asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=HIGH_WATER)

    def data_received(self, data: bytes) -> None:
        if self.websocket:
            self._frames(data)
            return
        self._http += data
        if b"\r\n\r\n" in self._http:
            head, _, rest = self._http.partition(b"\r\n\r\n")
            self._request(head.decode("latin-1"), rest)

    def pause_writing(self) -> None:
        self._drained.clear()

    def resume_writing(self) -> None:
        self._drained.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self._drained.set()
        if self.peer.conns.pop(self.id, None) is not None:
            report("closed", conn=self.id, state=self.state, received=dict(self.received))

    # -- HTTP -----------------------------------------------------------------------------------

    def _request(self, head: str, rest: bytes) -> None:
        assert self.transport is not None
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        path = parts[1] if len(parts) > 1 else "/"
        headers = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        if path.startswith("/socketconfig/"):
            url = f"http://127.0.0.1:{self.peer.port}"
            self._respond("200 OK", json.dumps({"servers": [{"url": url, "secure": False}]}))
        elif path.startswith("/socket.io/") and headers.get("upgrade", "").lower() == "websocket":
            key = accept_key(headers.get("sec-websocket-key", ""))
            self.transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + key.encode() + b"\r\n\r\n"
            )
            self.websocket = True
            self.peer.conns[self.id] = self
            sid = {"sid": f"peer-{self.id}"}
            self._send("0" + json.dumps({**sid, **OPEN}, separators=(",", ":")))
            if rest:
                self._frames(rest)
        else:
            self._respond("404 Not Found", json.dumps({"error": f"no route for {path}"}))

    def _respond(self, status: str, body: str) -> None:
        assert self.transport is not None
        data = body.encode()
        self.transport.write(
            f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
            + data
        )
        self.transport.close()

    # -- websocket / Engine.IO / Socket.IO ------------------------------------------------------

    def _send(self, text: str) -> None:
        assert self.transport is not None
        self.transport.write(server_text(text))

    def _frames(self, data: bytes) -> None:
        assert self.transport is not None
        for opcode, payload in self._reader.feed(data):
            if opcode == TEXT:
                self._text(payload.decode("utf-8"))
            elif opcode == PING:
                self.transport.write(server_frame(payload, PONG))
            elif opcode == CLOSE:
                self.transport.write(server_frame(payload[:2], CLOSE))
                self.transport.close()

    def _text(self, text: str) -> None:
        if text == "3":
            self._pong()
        elif text.startswith("40"):
            self._send(f'40{{"sid":"ns-{self.id}"}}')
        elif text.startswith("42"):
            i = 2
            while i < len(text) and text[i].isdigit():
                i += 1
            name, *args = json.loads(text[i:])
            self.received[name] += 1
            if name == "login":
                user = args[0].get("name") if args and isinstance(args[0], dict) else None
                self._send('42["rank",3]')
                self._send("42" + json.dumps(["login", {"success": True, "name": user}]))
            elif name == "joinChannel" and self.state == "opening":
                self.channel = args[0].get("name") if args and isinstance(args[0], dict) else None
                self.state = "burst"
                assert self.transport is not None
                self.transport.write(self.peer.burst(self.channel or "labchan"))

    def _pong(self) -> None:
        if self.state == "burst":
            self.state = "ready"
            report("ready", conn=self.id, channel=self.channel, t=time.monotonic())
            if self.peer.auto:
                self.go()
        elif self.state == "streaming":
            end = time.monotonic()
            self.state = "done"
            stream = self.peer.stream
            report(
                "done",
                conn=self.id,
                start=self._started,
                end=end,
                events=stream.events,
                chat=stream.chat,
                joins=stream.joins,
                leaves=stream.leaves,
                rate=stream.events / (end - self._started),
            )

    def go(self) -> None:
        """Start streaming (once, and only when ready)."""
        if self.state != "ready":
            report("error", message=f"conn {self.id} is {self.state}, not ready")
            return
        self.state = "streaming"
        asyncio.get_running_loop().create_task(self._stream())

    async def _stream(self) -> None:
        transport = self.transport
        assert transport is not None
        data = memoryview(self.peer.stream.data)
        self._started = time.monotonic()
        report("started", conn=self.id, t=self._started, bytes=len(data))
        for offset in range(0, len(data), CHUNK):
            if transport.is_closing():
                return
            transport.write(data[offset : offset + CHUNK])
            await self._drained.wait()

    def close(self) -> None:
        """Close the websocket (close frame, then TCP)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(server_frame((1000).to_bytes(2, "big"), CLOSE))
            self.transport.close()


async def serve(args: argparse.Namespace) -> None:
    started = time.monotonic()
    stream = build_stream(args.events, args.users, seed=args.seed)
    peer = Peer(stream, args.users, args.playlist, args.auto)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(peer), "127.0.0.1", args.port)
    peer.port = server.sockets[0].getsockname()[1]

    def on_stdin() -> None:
        line = sys.stdin.readline()
        if not line:  # the orchestrator went away: so do we
            loop.remove_reader(sys.stdin.fileno())
            peer.stopped.set()
            return
        peer.command(line)

    if not args.auto:
        loop.add_reader(sys.stdin.fileno(), on_stdin)
    report(
        "listening",
        port=peer.port,
        events=stream.events,
        chat=stream.chat,
        joins=stream.joins,
        leaves=stream.leaves,
        bytes=len(stream.data),
        build_s=round(time.monotonic() - started, 2),
    )
    async with server:
        await peer.stopped.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e.peer", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any)")
    parser.add_argument("--events", type=int, default=300_000, help="events in the stream")
    parser.add_argument("--users", type=int, default=1000, help="users in the burst (bot incl.)")
    parser.add_argument("--playlist", type=int, default=5000, help="playlist items in the burst")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--auto", action="store_true", help="stream as soon as a client is ready")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
