"""The lean frame path of :class:`~rosey.wire.protocol.CyTubeClientProtocol` on hand-cut buffers.

A real Autobahn client protocol, opened with a real handshake over a ``StringTransport``, is fed
frames cut by hand: headers split across reads, every length form, control frames after data,
fragments, and the frames RFC 6455 makes a client refuse. Each case also runs through
Autobahn's own frame loop (the same protocol with ``processData`` put back), and the two must
deliver, answer and close alike: the lean path is a shortcut, never a different protocol.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from typing import Any

import autobahn
import pytest
from autobahn.websocket.protocol import WebSocketProtocol
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from rosey.wire.protocol import DEFAULT_MAX_MESSAGE, CyTubeClientFactory, CyTubeClientProtocol
from tests.wire.test_protocol import Recorder

RFC6455_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA

# What CyTubeClientProtocol reads or overrides of Autobahn's internals (rosey/wire/protocol.py).
PRIVATE_STATE = ("data", "current_frame", "inside_message", "state", "_perMessageCompress")
MESSAGE_STATE = ("message_data_total_length", "message_data", "frame_data")
OVERRIDDEN = (
    "processData",
    "onMessageBegin",
    "onMessageFrameBegin",
    "onMessageFrameData",
    "onMessageFrameEnd",
    "onMessageEnd",
)


def frame(
    payload: bytes | str,
    opcode: int = TEXT,
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = None,
    form: int | None = None,
) -> bytes:
    """One frame as a server writes it; ``form`` forces the length form (125, 126 or 127)."""
    data = payload.encode() if isinstance(payload, str) else payload
    n = len(data)
    form = form or (n if n < 126 else 126 if n < 65536 else 127)
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    bit = 0x80 if mask else 0
    if form < 126:
        head += bytes([bit | n])
    elif form == 126:
        head += bytes([bit | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([bit | 127]) + n.to_bytes(8, "big")
    if mask:
        head += mask
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    return head + data


def close_payload(code: int, reason: str = "") -> bytes:
    return code.to_bytes(2, "big") + reason.encode()


class Driver:
    """The SessionDriver's side of the adapter, written down."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.on_text: Any = None

    def open(self) -> None:
        self.calls.append(("open",))

    def receive(self, text: str) -> None:
        self.calls.append(("text", text))
        if self.on_text is not None:
            self.on_text(text)

    def refuse(self, why: str) -> None:
        self.calls.append(("refuse", why))

    def lost(self, why: str) -> None:
        self.calls.append(("lost", why))

    def texts(self) -> list[str]:
        return [c[1] for c in self.calls if c[0] == "text"]


class Transport(StringTransport):
    """A real TCP transport lets Autobahn unregister a producer it never registered."""

    def unregisterProducer(self) -> None:
        self.producer = None


class Link:
    """One open websocket: a real CyTubeClientProtocol after a real opening handshake.

    ``lean=False`` puts Autobahn's own ``processData`` back, for comparison.
    """

    def __init__(self, *, lean: bool = True, max_message: int = DEFAULT_MAX_MESSAGE) -> None:
        self.clock = Clock()
        factory = CyTubeClientFactory(
            Recorder(), clock=self.clock, max_message=max_message, reactor=self.clock
        )
        timer = factory._batched_timer  # Autobahn's timers, on the test's clock
        timer._get_seconds = self.clock.seconds
        timer._create_delayed_call = self.clock.callLater
        self.proto: CyTubeClientProtocol = factory.buildProtocol(None)
        self.driver = Driver()
        self.proto.driver = self.driver  # type: ignore[assignment]
        if not lean:
            self.proto.processData = functools.partial(  # type: ignore[method-assign]
                WebSocketProtocol.processData, self.proto
            )
        self.transport = Transport()
        self.proto.makeConnection(self.transport)
        request = self.transport.value()
        self.transport.clear()
        match = re.search(rb"Sec-WebSocket-Key: (\S+)", request)
        assert match is not None
        accept = base64.b64encode(hashlib.sha1(match.group(1) + RFC6455_GUID).digest())
        self.proto.dataReceived(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        assert self.proto.state == WebSocketProtocol.STATE_OPEN
        assert self.driver.calls == [("open",)]

    def feed(self, *chunks: bytes) -> Link:
        for chunk in chunks:
            self.proto.dataReceived(chunk)
        return self

    def sent(self) -> list[tuple[int, bytes]]:
        """The frames the client wrote (opcode, unmasked payload); a client masks them all."""
        out, data = [], self.transport.value()
        while data:
            opcode, second = data[0] & 0x0F, data[1]
            assert second & 0x80, "a client frame must be masked"
            n, pos = second & 0x7F, 2
            if n == 126:
                n, pos = int.from_bytes(data[2:4], "big"), 4
            elif n == 127:
                n, pos = int.from_bytes(data[2:10], "big"), 10
            mask, body = data[pos : pos + 4], data[pos + 4 : pos + 4 + n]
            out.append((opcode, bytes(b ^ mask[i % 4] for i, b in enumerate(body))))
            data = data[pos + 4 + n :]
        return out

    def dropped(self) -> bool:
        return bool(self.transport.disconnecting)

    def lose(self) -> None:
        """The TCP connection ends."""
        self.proto.connectionLost(Failure(ConnectionDone()))

    def outcome(self) -> tuple[Any, ...]:
        return (self.driver.calls, self.sent(), self.proto.state, self.dropped())


def both(*chunks: bytes, **kwargs: Any) -> Link:
    """Feed ``chunks`` to the lean protocol and to Autobahn's loop: they must agree."""
    lean = Link(**kwargs).feed(*chunks)
    plain = Link(lean=False, **kwargs).feed(*chunks)
    assert lean.outcome() == plain.outcome()
    return lean


# -- the guard: what the lean path needs from Autobahn ------------------------------------------


def test_the_private_autobahn_state_the_lean_path_reads_is_there() -> None:
    link = Link()
    link.feed(frame("a", fin=False), frame("b", CONTINUATION))  # a message sets MESSAGE_STATE
    proto = link.proto
    missing = [name for name in (*PRIVATE_STATE, *MESSAGE_STATE) if not hasattr(proto, name)]
    missing += [
        f"WebSocketProtocol.{name}"
        for name in ("STATE_OPEN", "STATE_CLOSED", *OVERRIDDEN)
        if not hasattr(WebSocketProtocol, name)
    ]
    assert not missing, (
        f"Autobahn {autobahn.__version__} no longer has {', '.join(missing)}: "
        "CyTubeClientProtocol.processData and its message size limit (rosey/wire/protocol.py) "
        "read or override them. Adapt them to this Autobahn, or keep autobahn below it in "
        "pyproject.toml."
    )
    # the lean path runs only between messages: that is what these say there
    assert proto.current_frame is None
    assert proto.inside_message is False
    assert proto._perMessageCompress is None
    assert proto.data == b""


def test_whole_text_frames_take_the_lean_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run of whole text frames (7- and 16-bit lengths) never reaches Autobahn's loop; a
    64-bit length does. Without this the comparisons below could pass with the lean path off."""
    calls: list[int] = []
    autobahn_loop = WebSocketProtocol.processData

    def counted(self: WebSocketProtocol) -> bool:
        calls.append(1)
        return autobahn_loop(self)

    monkeypatch.setattr(WebSocketProtocol, "processData", counted)
    link = Link()
    calls.clear()  # the handshake's own call
    sizes = (1, 9, 125, 126, 300, 65535)
    link.feed(b"".join(frame("x" * n) for n in sizes))
    assert [len(t) for t in link.driver.texts()] == list(sizes)
    assert calls == []
    link.feed(frame("x" * 65536))
    assert link.driver.texts()[-1] == "x" * 65536
    assert calls


# -- hand-cut buffers ----------------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_every_length_form_is_delivered_whole(length: int) -> None:
    text = "".join(chr(0x61 + i % 26) for i in range(length))
    link = both(frame(text), frame("after"))
    assert link.driver.texts() == [text, "after"]


BURST = [frame("a" * 5), frame("b" * 200), frame("c" * 65535), frame("d" * 70000)]
# every cut inside each header (2, 4 or 10 bytes) and one just after it
CUTS = sorted(
    {
        start + k
        for start, size in zip(
            [sum(len(f) for f in BURST[:i]) for i in range(len(BURST))],
            [2, 4, 4, 10],
            strict=True,
        )
        for k in range(1, size + 2)
    }
)


@pytest.mark.parametrize("cut", CUTS)
def test_a_header_split_across_reads(cut: int) -> None:
    data = b"".join(BURST)
    link = Link().feed(data[:cut], data[cut:])
    assert link.driver.texts() == ["a" * 5, "b" * 200, "c" * 65535, "d" * 70000]


def test_a_frame_fed_one_byte_at_a_time() -> None:
    data = frame("hello") + frame("x" * 300)
    link = both(*(data[i : i + 1] for i in range(len(data))))
    assert link.driver.texts() == ["hello", "x" * 300]


def test_a_ping_after_data_in_the_same_buffer_is_answered_in_order() -> None:
    link = both(frame("a") + frame(b"hi", PING) + frame("b"))
    assert link.driver.texts() == ["a", "b"]
    assert link.sent() == [(PONG, b"hi")]
    assert link.proto.state == WebSocketProtocol.STATE_OPEN


def test_a_close_after_data_in_the_same_buffer_is_answered_after_the_data() -> None:
    link = both(frame("a") + frame(close_payload(1000, "bye"), CLOSE))
    assert link.driver.texts() == ["a"]
    assert link.sent() == [(CLOSE, close_payload(1000))]  # the client echoes the code
    assert link.proto.state == WebSocketProtocol.STATE_CLOSING
    link.lose()
    assert link.driver.calls[-1] == ("lost", "websocket closed (code 1000: bye)")


def test_data_after_the_servers_close_is_handled_as_autobahn_does() -> None:
    both(frame("a") + frame(close_payload(1000), CLOSE) + frame("late"))


@pytest.mark.parametrize("abort", [False, True])
def test_frames_after_the_session_closed_the_socket_go_to_autobahn(abort: bool) -> None:
    """A frame whose delivery closes the websocket ends the lean run; the rest of the buffer is
    Autobahn's business: while closing politely it still delivers data (the session ignores
    it), after an abort nothing more."""
    outcomes = []
    for lean in (True, False):
        link = Link(lean=lean)

        def close_on_bye(text: str, link: Link = link) -> None:
            if text == "bye":
                link.proto.close_transport(abort)

        link.driver.on_text = close_on_bye
        link.feed(frame("bye") + frame("late") + frame(b"", PING))
        if abort:
            assert link.driver.texts() == ["bye"]
            assert link.dropped()
        else:
            assert link.proto.state == WebSocketProtocol.STATE_CLOSING
            assert link.sent()[0] == (CLOSE, close_payload(1000))
        outcomes.append(link.outcome())
    assert outcomes[0] == outcomes[1]


def test_a_fragmented_message_is_delivered_once_whole() -> None:
    link = both(
        frame("hel", fin=False)
        + frame("l", CONTINUATION, fin=False)
        + frame(b"p", PING)  # a control frame may come between fragments
        + frame("o", CONTINUATION)
        + frame("next")
    )
    assert link.driver.texts() == ["hello", "next"]
    assert link.sent() == [(PONG, b"p")]


def test_fragments_split_across_reads() -> None:
    data = frame("ab", fin=False) + frame("cd", CONTINUATION) + frame("e")
    for cut in range(1, len(data)):
        assert Link().feed(data[:cut], data[cut:]).driver.texts() == ["abcd", "e"], cut


@pytest.mark.parametrize("length", [4, 200, 70000])
def test_a_masked_frame_from_the_server_fails_the_connection(length: int) -> None:
    """RFC 6455 §5.1: a client closes the connection when it sees a masked frame."""
    link = both(frame("ok") + frame("e" * length, mask=b"\x01\x02\x03\x04") + frame("never"))
    assert link.driver.texts() == ["ok"]
    assert link.dropped()
    assert link.proto.state == WebSocketProtocol.STATE_CLOSED
    link.lose()
    assert "masked server-to-client frame" in link.driver.calls[-1][1]


@pytest.mark.parametrize("rsv", [1, 2, 4, 7])
def test_rsv_bits_without_an_extension_fail_the_connection(rsv: int) -> None:
    link = both(frame("ok") + frame("odd", rsv=rsv) + frame("never"))
    assert link.driver.texts() == ["ok"]
    assert link.dropped()
    assert link.proto.state == WebSocketProtocol.STATE_CLOSED
    link.lose()
    assert f"RSV = {rsv} and no extension negotiated" in link.driver.calls[-1][1]


def test_a_length_not_in_its_shortest_form_fails_the_connection() -> None:
    link = both(frame("ok") + frame("hello", form=126))
    assert link.driver.texts() == ["ok"]
    assert link.dropped()


def test_a_frame_over_the_limit_is_dropped_and_the_next_is_delivered() -> None:
    link = both(frame("x" * 1001) + frame("ok"), max_message=1000)
    assert link.driver.calls[1:] == [
        ("refuse", "message of 1001 bytes is over the 1000-byte limit"),
        ("text", "ok"),
    ]
    assert link.proto.state == WebSocketProtocol.STATE_OPEN
    assert not link.dropped()


def test_binary_and_non_utf8_frames_are_refused_and_the_socket_stays_up() -> None:
    link = both(frame(b"\x01\x02", BINARY) + frame(b"\xc3\x28") + frame("ok"))
    assert [c[0] for c in link.driver.calls[1:]] == ["refuse", "refuse", "text"]
    assert link.proto.state == WebSocketProtocol.STATE_OPEN


FRAMES = st.sampled_from(
    [
        frame("a"),
        frame("é" * 70),  # 140 bytes: the 16-bit form
        frame("b" * 125),
        frame(b"", PING),
        frame(b"pp", PONG),
        frame("fr", fin=False) + frame("ag", CONTINUATION),
        frame(b"\xff", BINARY),
        frame("c" * 300, fin=False) + frame(b"z", PING) + frame("d", CONTINUATION),
    ]
)


@given(st.lists(FRAMES, min_size=1, max_size=12), st.lists(st.integers(0, 4000), max_size=6))
def test_any_buffer_cut_anywhere_reads_as_autobahn_reads_it_whole(
    frames: list[bytes], cuts: list[int]
) -> None:
    data = b"".join(frames)
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    lean = Link().feed(*chunks)
    whole = Link(lean=False).feed(data)
    assert lean.outcome() == whole.outcome()
