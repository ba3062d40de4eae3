"""Engine.IO (v4, v3) and Socket.IO (v5, v4) text packets: pure functions, no I/O.

Only text frames on the default namespace are spoken, as CyTube needs. Binary packets (Engine.IO
binary frames and Socket.IO ``BINARY_EVENT``/``BINARY_ACK``) are refused with ``CodecError``.
``CodecError`` is the only exception :func:`decode` raises, whatever the input.
"""

from __future__ import annotations

import json
import json.scanner
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rosey.errors import CodecError
from rosey.records import record

# Engine.IO packet types (text form)
EIO_OPEN, EIO_CLOSE, EIO_PING, EIO_PONG, EIO_MESSAGE, EIO_UPGRADE, EIO_NOOP = "0123456"
# Socket.IO packet types
SIO_CONNECT, SIO_DISCONNECT, SIO_EVENT, SIO_ACK, SIO_CONNECT_ERROR = 0, 1, 2, 3, 4
SIO_BINARY_EVENT, SIO_BINARY_ACK = 5, 6

_DIGITS = frozenset("0123456789")  # ASCII only: str.isdigit() also accepts "²" and "٣"
_decoder = json.JSONDecoder()
_loads = _decoder.decode
# The C scanner under json.loads, called at an offset: no copy of the frame minus its prefix and
# no whitespace regexes. What it does not accept whole goes through _loads for the exact error.
_scan: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(_decoder)  # type: ignore[arg-type]
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(frozen=True, slots=True)
class Open:
    """Engine.IO handshake (``0{...}``)."""

    sid: str
    ping_interval: float  # seconds
    ping_timeout: float  # seconds
    max_payload: int
    upgrades: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Close:
    """Engine.IO close (``1``)."""


@dataclass(frozen=True, slots=True)
class Ping:
    """Engine.IO ping (``2``); ``data`` is the optional probe text."""

    data: str = ""


@dataclass(frozen=True, slots=True)
class Pong:
    """Engine.IO pong (``3``)."""

    data: str = ""


@dataclass(frozen=True, slots=True)
class Noop:
    """Engine.IO noop (``6``) or upgrade (``5``): nothing to do on a direct websocket."""


@dataclass(frozen=True, slots=True)
class Connect:
    """Socket.IO namespace connect (``40`` / ``40{"sid":…}``)."""

    sid: str | None = None
    namespace: str = "/"


@dataclass(frozen=True, slots=True)
class Disconnect:
    """Socket.IO namespace disconnect (``41``)."""

    namespace: str = "/"


@dataclass(frozen=True, slots=True)
class ConnectError:
    """Socket.IO connect refused (``44{"message":…}``)."""

    message: str
    namespace: str = "/"


@record
class EventPacket:
    """Socket.IO event (``42["name",…]``), with ``ack_id`` when the sender wants an ack.

    A :func:`~rosey.records.record`, unlike the other packets: one is built for every frame.
    """

    name: str
    args: tuple[Any, ...]
    ack_id: int | None = None
    namespace: str = "/"

    @property
    def data(self) -> Any:
        """The first argument, as CyTube events carry exactly one (or none: ``None``)."""
        return self.args[0] if self.args else None


@dataclass(frozen=True, slots=True)
class Ack:
    """Socket.IO ack (``43<id>[…]``)."""

    ack_id: int
    args: tuple[Any, ...]
    namespace: str = "/"


Packet = Open | Close | Ping | Pong | Noop | Connect | Disconnect | ConnectError | EventPacket | Ack


def decode(text: str) -> Packet:
    """Decode one text frame into a packet. Raises only :class:`CodecError`.

    Anything but ``str`` (a binary websocket frame arrives as ``bytes``) is refused.
    """
    if type(text) is not str:
        raise CodecError(f"binary frames are not supported ({type(text).__name__})")
    # Fast path: a plain event on the default namespace is nearly all of CyTube's traffic.
    if text.startswith("42["):
        return _event(_json(text, 2, text), None, "/", text)
    if not text:
        raise CodecError("empty frame")
    kind = text[0]
    if kind == EIO_MESSAGE:
        return _decode_socketio(text[1:], text)
    if kind == EIO_PING:
        return Ping(text[1:])
    if kind == EIO_PONG:
        return Pong(text[1:])
    if kind == EIO_OPEN:
        return _decode_open(text)
    if kind == EIO_CLOSE:
        return Close()
    if kind in (EIO_NOOP, EIO_UPGRADE):
        return Noop()
    if kind == "b":
        raise CodecError("binary packets are not supported (base64 frame)")
    raise CodecError(f"unknown Engine.IO packet type {kind!r}")


def _json(source: str, start: int, frame: str) -> Any:
    """The JSON value that fills ``source[start:]``."""
    try:
        value, end = _scan(source, start)
        if end == len(source):
            return value
    except (StopIteration, ValueError, RecursionError):
        pass
    try:  # trailing data, bad JSON, or whitespace around the value (which JSON allows)
        return _loads(source[start:])
    except (ValueError, RecursionError) as e:
        raise CodecError(f"invalid JSON payload: {e}; frame {_excerpt(frame)}") from None


def _decode_open(text: str) -> Open:
    handshake = _json(text, 1, text)
    if not isinstance(handshake, dict):
        raise CodecError(f"open packet is not an object: {_excerpt(text)}")
    try:
        upgrades = handshake.get("upgrades") or ()
        packet = Open(
            sid=str(handshake["sid"]),
            ping_interval=float(handshake["pingInterval"]) / 1000.0,
            ping_timeout=float(handshake["pingTimeout"]) / 1000.0,
            max_payload=int(handshake.get("maxPayload", 1_000_000)),
            upgrades=tuple(str(u) for u in upgrades),
        )
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        raise CodecError(f"open packet lacks {e}: {_excerpt(text)}") from None
    # NaN or a negative time would make the heartbeat deadline fire at once, or never.
    for value in (packet.ping_interval, packet.ping_timeout):
        if not (math.isfinite(value) and value >= 0):
            raise CodecError(f"open packet has a bad ping time: {_excerpt(text)}")
    return packet


def _decode_socketio(body: str, frame: str) -> Packet:
    if not body:
        raise CodecError("empty Socket.IO packet")
    kind = body[0]
    if kind not in _DIGITS:
        raise CodecError(f"unknown Socket.IO packet type {kind!r}")
    ptype = int(kind)
    if ptype in (SIO_BINARY_EVENT, SIO_BINARY_ACK):
        raise CodecError("binary Socket.IO packets are not supported")
    if ptype > SIO_BINARY_ACK:
        raise CodecError(f"unknown Socket.IO packet type {ptype}")
    i = 1
    namespace = "/"
    if i < len(body) and body[i] == "/":
        comma = body.find(",", i)
        end = comma if comma != -1 else len(body)
        namespace = body[i:end]
        i = end + 1 if comma != -1 else end
    j = i
    while j < len(body) and body[j] in _DIGITS:
        j += 1
    ack_id: int | None = None
    if j > i:
        if ptype not in (SIO_EVENT, SIO_ACK) or j - i > 15:
            raise CodecError(f"unexpected ack id: {_excerpt(frame)}")
        ack_id = int(body[i:j])
    payload = _json(body, j, frame) if j < len(body) else None

    if ptype == SIO_EVENT:
        return _event(payload, ack_id, namespace, frame)
    if ptype == SIO_ACK:
        if ack_id is None or not isinstance(payload, list):
            raise CodecError(f"malformed ack: {_excerpt(frame)}")
        return Ack(ack_id, tuple(payload), namespace)
    if ptype == SIO_CONNECT:
        sid = payload.get("sid") if isinstance(payload, dict) else None
        return Connect(sid if isinstance(sid, str) else None, namespace)
    if ptype == SIO_DISCONNECT:
        return Disconnect(namespace)
    # SIO_CONNECT_ERROR: v5 sends {"message": …}; v4 (socket.io 2) sends a bare string
    if isinstance(payload, dict):
        message = payload.get("message")
        return ConnectError(str(message) if message is not None else _dumps(payload), namespace)
    return ConnectError("" if payload is None else str(payload), namespace)


def _event(args: Any, ack_id: int | None, namespace: str, frame: str) -> EventPacket:
    if not isinstance(args, list) or not args or not isinstance(args[0], str):
        raise CodecError(f"event payload is not [name, …]: {_excerpt(frame)}")
    return EventPacket(args[0], tuple(args[1:]), ack_id, namespace)


def _excerpt(frame: str, limit: int = 80) -> str:
    return repr(frame if len(frame) <= limit else frame[:limit] + "…")


# -- encoding ---------------------------------------------------------------------------------


def encode_event(name: str, *args: Any, ack_id: int | None = None) -> str:
    """``42["name",args…]``, or ``42<id>[…]`` with an ack id."""
    body = _dumps([name, *args])
    return f"42{body}" if ack_id is None else f"42{ack_id}{body}"


def encode_ack(ack_id: int, *args: Any) -> str:
    """``43<id>[args…]``: the reply to an event the peer sent with an ack id."""
    return f"43{ack_id}{_dumps(list(args))}"


def encode_connect(auth: dict[str, Any] | None = None) -> str:
    """``40`` (or ``40{auth}``): connect to the default namespace."""
    return "40" if auth is None else "40" + _dumps(auth)


def encode_disconnect() -> str:
    """``41``: leave the default namespace."""
    return "41"


def encode_ping(data: str = "") -> str:
    """``2``: Engine.IO ping (sent by the client only in Engine.IO v3)."""
    return EIO_PING + data


def encode_pong(data: str = "") -> str:
    """``3``: Engine.IO pong (the client's answer to a server ping in Engine.IO v4)."""
    return EIO_PONG + data


def encode_open(
    sid: str,
    ping_interval: float = 25.0,
    ping_timeout: float = 20.0,
    max_payload: int = 1_000_000,
    upgrades: Sequence[str] = (),
) -> str:
    """``0{…}``: the server's handshake (used by tests and benchmarks playing a server)."""
    return "0" + _dumps(
        {
            "sid": sid,
            "upgrades": list(upgrades),
            # round(), not int(): 1.001 * 1000 is 1000.9999999999999
            "pingInterval": round(ping_interval * 1000),
            "pingTimeout": round(ping_timeout * 1000),
            "maxPayload": max_payload,
        }
    )


def encode_packet(packet: Packet) -> str:
    """Encode any packet back to its text frame (the inverse of :func:`decode`)."""
    nsp = getattr(packet, "namespace", "/")
    prefix = "" if nsp == "/" else nsp + ","
    match packet:
        case Open():
            return encode_open(
                packet.sid,
                packet.ping_interval,
                packet.ping_timeout,
                packet.max_payload,
                packet.upgrades,
            )
        case Close():
            return EIO_CLOSE
        case Ping():
            return encode_ping(packet.data)
        case Pong():
            return encode_pong(packet.data)
        case Noop():
            return EIO_NOOP
        case Connect():
            sid = "" if packet.sid is None else _dumps({"sid": packet.sid})
            return f"40{prefix}{sid}"
        case Disconnect():
            return f"41{prefix}"
        case ConnectError():
            return f"44{prefix}{_dumps({'message': packet.message})}"
        case EventPacket():
            ack = "" if packet.ack_id is None else str(packet.ack_id)
            return f"42{prefix}{ack}{_dumps([packet.name, *packet.args])}"
        case Ack():
            return f"43{prefix}{packet.ack_id}{_dumps(list(packet.args))}"
    raise CodecError(f"cannot encode {packet!r}")
