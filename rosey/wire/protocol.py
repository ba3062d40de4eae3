"""The Autobahn WebSocket client: a thin adapter between frames and a :class:`SessionDriver`.

The socket.io handshake happens inside the protocol (the session answers the Engine.IO open
with ``40``), never in ``ClientService.prepareConnection`` (twisted-notes §2.4). Frames the
session cannot use never break the connection: a binary frame, a text frame that is not UTF-8,
and a message over the size limit are each logged once and dropped, and the websocket stays up.
Oversized messages are discarded while they stream in, so they never sit in memory.
"""

from __future__ import annotations

from typing import Any, cast

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from autobahn.websocket.protocol import WebSocketProtocol
from twisted.internet.interfaces import IReactorTime

from rosey import __version__
from rosey.wire.driver import SessionDriver, SessionHandler
from rosey.wire.session import Session

__all__ = ["DEFAULT_MAX_MESSAGE", "CyTubeClientFactory", "CyTubeClientProtocol"]

# CyTube's maxPayload is 1 MiB, but that bounds what the server accepts, not what it sends: a
# 4000-item `playlist` frame runs to about 1 MB. So the limit is the server's plus 1 MiB margin.
DEFAULT_MAX_MESSAGE = 2 * 1024 * 1024
USER_AGENT = f"rosey/{__version__}"
CLOSE_HANDSHAKE_TIMEOUT = 3  # seconds; waits between 2 and 3 s for the server's close frame


class CyTubeClientProtocol(WebSocketClientProtocol):
    """One websocket to a CyTube socket.io server. The factory gives it its driver."""

    factory: CyTubeClientFactory
    driver: SessionDriver
    _dropping = 0  # bytes of the current message dropped for being over the limit (0: none)

    # -- the adapter ----------------------------------------------------------------------------

    def onOpen(self) -> None:
        self.driver.open()

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        if isBinary:
            self.driver.refuse(f"binary frame of {len(payload)} bytes (CyTube sends only text)")
            return
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as e:
            self.driver.refuse(f"text frame of {len(payload)} bytes is not UTF-8 ({e.reason})")
            return
        self.driver.receive(text)

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        detail = f"code {code}" if code is not None else "no close code"
        if reason:
            detail += f": {reason}"
        self.driver.lost(f"websocket closed ({detail})")

    def send_text(self, text: str) -> None:
        """Write one text frame."""
        self.sendMessage(text.encode("utf-8"), isBinary=False)

    def close_transport(self, abort: bool) -> None:
        """Close the websocket politely, or drop the TCP connection when ``abort``."""
        if abort or self.state != WebSocketProtocol.STATE_OPEN:
            if self.state != WebSocketProtocol.STATE_CLOSED:
                self.dropConnection(abort=True)
        else:
            self.sendClose(code=1000)

    # -- the lean path: whole, unmasked text frames parsed in one pass ---------------------------

    def processData(self) -> bool:
        """Deliver every complete ``FIN`` text frame at the head of the buffer at once.

        Autobahn's own loop handles one frame per call and re-slices the whole buffer twice per
        frame (``self.data = self.data[i:]``): with a 64 KiB read holding some 400 chat frames
        that is quadratic copying plus ~6 callbacks per frame. CyTube sends unfragmented,
        unmasked text frames, so those are cut out here with one slice at the end; anything
        else (control frames, fragments, a frame over the size limit or not yet complete, a
        message in progress) goes to Autobahn's loop unchanged.
        """
        if (
            self.current_frame is None
            and not self.inside_message
            and self.state == WebSocketProtocol.STATE_OPEN
            and self._perMessageCompress is None
        ):
            data = self.data
            end, pos = len(data), 0
            limit = self.factory.max_message
            on_message = self.onMessage
            while end - pos >= 2 and data[pos] == 0x81:
                length = data[pos + 1]
                if length < 126:
                    start = pos + 2
                elif length == 126 and end - pos >= 4:
                    length = (data[pos + 2] << 8) | data[pos + 3]
                    if length < 126:
                        break  # not minimal: Autobahn reports the violation
                    start = pos + 4
                else:
                    break  # masked (bit 7 set), 64-bit length, or header incomplete
                stop = start + length
                if stop > end or length > limit:
                    break
                pos = stop
                on_message(data[start:stop], False)
                if self.state != WebSocketProtocol.STATE_OPEN:
                    break
            if pos:
                self.data = data[pos:]
                return len(self.data) > 0  # the rest (e.g. a close frame) in the next call
        return bool(super().processData())

    # -- the size limit, applied while a message streams in --------------------------------------

    def onMessageBegin(self, isBinary: bool) -> None:
        self._dropping = 0
        super().onMessageBegin(isBinary)

    def onMessageFrameBegin(self, length: int) -> None:
        if self._dropping or self.message_data_total_length + length > self.factory.max_message:
            self._dropping = (self._dropping or self.message_data_total_length) + length
            self.message_data = []
            self.frame_data = []
            return
        super().onMessageFrameBegin(length)

    def onMessageFrameData(self, payload: bytes) -> None:
        if not self._dropping:
            super().onMessageFrameData(payload)

    def onMessageFrameEnd(self) -> None:
        if self._dropping:
            self.frame_data = []
            return
        super().onMessageFrameEnd()

    def onMessageEnd(self) -> None:
        if self._dropping:
            size, self._dropping = self._dropping, 0
            self.message_data = []
            self.driver.refuse(
                f"message of {size} bytes is over the {self.factory.max_message}-byte limit"
            )
            return
        super().onMessageEnd()


class CyTubeClientFactory(WebSocketClientFactory):
    """Builds :class:`CyTubeClientProtocol` instances that report to ``handler``.

    The URL comes from the socketconfig and may change on every connect: :meth:`set_url`.
    ``clock`` drives the session's heartbeat and ack timeouts (Autobahn's own timers use
    txaio and the global reactor, so rosey does not rely on them for anything it tests).
    """

    protocol = CyTubeClientProtocol  # type: ignore[assignment]
    noisy = False  # no "Starting factory <... at 0x7f...>" line on every (re)connect

    def __init__(
        self,
        handler: SessionHandler,
        *,
        clock: IReactorTime,
        eio: int = 4,
        max_message: int = DEFAULT_MAX_MESSAGE,
        url: str = "ws://localhost/socket.io/?EIO=4&transport=websocket",
        origin: str | None = None,
        reactor: Any = None,
    ) -> None:
        if eio not in (3, 4):
            raise ValueError(f"unsupported Engine.IO revision {eio}")
        super().__init__(url, origin=origin, useragent=USER_AGENT, reactor=reactor)
        self.handler = handler
        self.clock = clock
        self.eio = eio
        self.max_message = max_message
        self.setProtocolOptions(
            utf8validateIncoming=False,  # checked in onMessage: a bad frame must not close
            maxFramePayloadSize=max_message,
            maxMessagePayloadSize=max_message,
            openHandshakeTimeout=30,
            # Autobahn's timers are bucketed to whole seconds (txaio's batched timer truncates
            # the deadline), so its default 1 s close-handshake timeout can fire at once and
            # abort the socket: the RST then discards the `41` and close frame just written.
            closeHandshakeTimeout=CLOSE_HANDSHAKE_TIMEOUT,
        )

    def set_url(self, url: str, origin: str | None = None) -> None:
        """Connect the next websocket to ``url`` (``ws://`` or ``wss://``)."""
        self.setSessionParameters(
            url=url, origin=origin or self.origin, useragent=self.useragent, headers=self.headers
        )

    def buildProtocol(self, addr: Any) -> CyTubeClientProtocol:  # type: ignore[override]
        proto = cast(CyTubeClientProtocol, super().buildProtocol(addr))
        proto.driver = SessionDriver(
            Session(self.eio), self.clock, proto.send_text, proto.close_transport, self.handler
        )
        return proto
