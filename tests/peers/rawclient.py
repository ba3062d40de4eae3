"""A bare socket.io client on one aiohttp websocket, for tests that check frames byte by byte.

It keeps every text frame the server sends, answers server pings (EIO 4) unless told not to,
and never closes the connection by itself. Every wait is bounded (``timeout`` seconds).
"""

from __future__ import annotations

import asyncio
import json
import re
from types import TracebackType
from typing import Any

import aiohttp

_EVENT_RE = re.compile(r"^4([23])(\d*)(.*)$", re.S)
_NOARG = object()


def parse_event(frame: str) -> tuple[str, Any] | None:
    """``42["name",data]`` → ``("name", data)`` (data None if absent); None for other frames."""
    m = _EVENT_RE.match(frame)
    if m is None or m.group(1) != "2":
        return None
    payload = json.loads(m.group(3))
    return payload[0], (payload[1] if len(payload) > 1 else None)


class RawClient:
    """One websocket to ``ws://…/socket.io/?EIO=<eio>&transport=websocket``.

    Use ``async with await RawClient.open(...)``. ``frames`` holds every text frame received
    (pings included); :meth:`frame` consumes them in order. ``closed`` becomes true when the
    TCP connection or websocket ends; ``close_code`` is None if no close frame came.
    """

    def __init__(
        self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse, pong: bool
    ) -> None:
        self._session = session
        self._ws = ws
        self._pong = pong
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.frames: list[str] = []
        self.closed = False
        self.close_code: int | None = None
        self._task = asyncio.ensure_future(self._read())

    @classmethod
    async def open(
        cls,
        port: int,
        *,
        eio: int = 4,
        xff: str | None = None,
        pong: bool = True,
        timeout: float = 5.0,
    ) -> RawClient:
        """Connect the websocket (no polling handshake), like the recorded clients."""
        session = aiohttp.ClientSession()
        headers = {"X-Forwarded-For": xff} if xff else {}
        url = f"ws://127.0.0.1:{port}/socket.io/?EIO={eio}&transport=websocket"
        try:
            ws = await asyncio.wait_for(
                session.ws_connect(url, headers=headers, autoping=True), timeout
            )
        except BaseException:
            await session.close()
            raise
        return cls(session, ws, pong and eio == 4)

    async def connect_namespace(self, timeout: float = 5.0) -> str:
        """EIO 4: read the open packet, send ``40``, return the ``40{sid}`` (or ``44…``)."""
        await self.frame(timeout)
        await self.send("40")
        return await self.frame(timeout)

    async def _read(self) -> None:
        try:
            async for msg in self._ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                frame = str(msg.data)
                self.frames.append(frame)
                if frame == "2" and self._pong:
                    await self._ws.send_str("3")
                await self._queue.put(frame)
        finally:
            self.closed = True
            self.close_code = self._ws.close_code
            await self._queue.put(None)

    async def send(self, frame: str) -> None:
        await self._ws.send_str(frame)

    async def emit(self, event: str, data: Any = _NOARG, ack: int | None = None) -> None:
        """Send ``42[event, data]`` (``42<ack>[…]`` with an ack id)."""
        payload = [event] if data is _NOARG else [event, data]
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        await self.send(f"42{'' if ack is None else ack}{body}")

    async def frame(self, timeout: float = 5.0) -> str:
        """The next frame; ConnectionError once the connection has ended."""
        item = await asyncio.wait_for(self._queue.get(), timeout)
        if item is None:
            await self._queue.put(None)
            raise ConnectionError(f"connection ended (close code {self.close_code})")
        return item

    async def until(self, event: str, timeout: float = 5.0) -> list[str]:
        """Frames up to and including the first ``event`` frame (pings included)."""
        out: list[str] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            out.append(await self.frame(max(0.0, deadline - loop.time())))
            parsed = parse_event(out[-1])
            if parsed is not None and parsed[0] == event:
                return out

    async def event(self, event: str, timeout: float = 5.0) -> Any:
        """The data of the next ``event`` frame (earlier frames are skipped)."""
        parsed = parse_event((await self.until(event, timeout))[-1])
        assert parsed is not None
        return parsed[1]

    async def wait_closed(self, timeout: float = 5.0) -> None:
        await asyncio.wait_for(asyncio.shield(self._task), timeout)

    async def close(self) -> None:
        if not self._ws.closed:
            await self._ws.close()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self._session.close()

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
