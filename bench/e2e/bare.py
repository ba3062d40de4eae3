"""The baseline: a bare Autobahn (Twisted) websocket client that only decodes what it receives.

Run: ``python -m bench.e2e.bare ws://127.0.0.1:PORT/socket.io/?EIO=4&transport=websocket``.
It does the same handshake as rosey (``40`` after the open packet, ``login``, ``joinChannel``
after the login answer, ``3`` for every ping ``2``) and, for every other frame, only what any
client must: UTF-8 decode and ``json.loads`` of the payload after the packet-type digits.
The websocket options are rosey's (:class:`rosey.wire.protocol.CyTubeClientFactory`: no
incoming UTF-8 validation by Autobahn, the same size limits), so the difference to rosey is
rosey's own work, not Autobahn configuration. Stops on SIGTERM or when the peer closes.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import reactor as _reactor

from rosey.wire.protocol import DEFAULT_MAX_MESSAGE

reactor: Any = _reactor
LOGIN = '42["login",{"name":"labbot","pw":"bench"}]'
JOIN = '42["joinChannel",{"name":"%s"}]'


class BareClient(WebSocketClientProtocol):
    """Decodes each frame; answers only the handshake and pings."""

    channel = "labchan"
    frames = 0

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        text = payload.decode("utf-8")
        self.frames += 1
        kind = text[:1]
        if kind == "4" and text[1:2] == "2":
            i = 2
            while i < len(text) and text[i].isdigit():
                i += 1
            name, *_ = json.loads(text[i:])
            if name == "login":
                self.send(JOIN % self.channel)
        elif kind == "2":
            self.send("3")
        elif kind == "0":
            json.loads(text[1:])
            self.send("40")
        elif text.startswith("40"):
            json.loads(text[2:])
            self.send(LOGIN)

    def send(self, text: str) -> None:
        self.sendMessage(text.encode("utf-8"), isBinary=False)

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        if reactor.running:
            reactor.stop()


def main(argv: list[str]) -> int:
    if not argv:
        sys.stderr.write("usage: python -m bench.e2e.bare WS_URL [CHANNEL]\n")
        return 2
    url = argv[0]
    BareClient.channel = argv[1] if len(argv) > 1 else "labchan"
    factory = WebSocketClientFactory(url)
    factory.protocol = BareClient
    factory.setProtocolOptions(
        utf8validateIncoming=False,
        maxFramePayloadSize=DEFAULT_MAX_MESSAGE,
        maxMessagePayloadSize=DEFAULT_MAX_MESSAGE,
        openHandshakeTimeout=30,
    )
    host, port = factory.host, factory.port
    reactor.connectTCP(host, port, factory, timeout=10)
    reactor.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
