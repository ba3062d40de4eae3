"""The peer's ceiling: a raw socket client that walks the frames without decoding them.

Run: ``python -m bench.e2e.sink PORT``. It upgrades to a websocket by hand, does the
socket.io handshake (``40``, ``login``, ``joinChannel``), answers pings, and otherwise only
splits the byte stream into frames. What the peer reports for it is how fast the peer can push
on this machine, an upper bound no client can beat. Exits when the peer closes the socket.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys

from bench.e2e.frames import CLOSE, TEXT, FrameReader, client_frame

HANDSHAKE = {
    "0": "40",
    "40": '42["login",{"name":"labbot","pw":"bench"}]',
    '42["login"': '42["joinChannel",{"name":"labchan"}]',
}


class Sink(asyncio.Protocol):
    """Counts frames; sends only the handshake and pongs."""

    def __init__(self, done: asyncio.Future[int]) -> None:
        self.done = done
        self.frames = 0
        self.transport: asyncio.Transport | None = None
        self._head = b""
        self._upgraded = False
        self._reader = FrameReader()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: " + key.encode() + b"\r\n\r\n"
        )

    def data_received(self, data: bytes) -> None:
        if not self._upgraded:
            self._head += data
            if b"\r\n\r\n" not in self._head:
                return
            head, _, data = self._head.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 101"):
                raise RuntimeError(f"no upgrade: {head[:80]!r}")
            self._upgraded = True
        for opcode, payload in self._reader.feed(data):
            self.frames += 1
            if opcode == CLOSE:
                assert self.transport is not None
                self.transport.close()
            elif opcode == TEXT and len(payload) < 128:
                self._short(payload.decode("utf-8"))

    def _short(self, text: str) -> None:
        assert self.transport is not None
        if text == "2":
            self.transport.write(client_frame(b"3"))
            return
        for prefix, reply in HANDSHAKE.items():
            if text.startswith(prefix) and (prefix != "0" or text[1:2] == "{"):
                self.transport.write(client_frame(reply.encode()))
                return

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(self.frames)


async def run(port: int) -> int:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()
    await loop.create_connection(lambda: Sink(done), "127.0.0.1", port)
    return await done


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        sys.stderr.write("usage: python -m bench.e2e.sink PORT\n")
        return 2
    try:
        frames = asyncio.run(run(int(argv[0])))
    except KeyboardInterrupt:
        return 0
    sys.stdout.write(f"{frames} frames\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
