"""The Engine.IO/Socket.IO session as a small state machine (sans-IO).

Feed it text frames with :meth:`Session.receive` and the time with :meth:`Session.tick`; it
returns *actions* for the caller to carry out. It never does I/O and never reads a clock:
``now`` is always passed in, so heartbeat timeouts are tested without waiting.

Heartbeat:
- Engine.IO v4: the server pings, the client answers ``3`` at once. No ping within
  ``pingInterval + pingTimeout`` of the last one (or of the handshake) closes the session.
- Engine.IO v3: the client pings every ``pingInterval``; no pong within ``pingTimeout`` closes.
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass
from typing import Any

from rosey.errors import CodecError
from rosey.records import record
from rosey.wire import codec


class State(enum.Enum):
    """Where the session is."""

    OPENING = "opening"  # websocket open, waiting for the Engine.IO handshake
    OPEN = "open"  # handshake done, namespace not connected yet
    CONNECTED = "connected"  # namespace connected: events flow
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class SendText:
    """Send this text frame to the server."""

    text: str


@dataclass(frozen=True, slots=True)
class Opened:
    """The Engine.IO handshake arrived."""

    handshake: codec.Open


@dataclass(frozen=True, slots=True)
class Connected:
    """The default namespace is connected: events may be sent."""

    sid: str | None


@record
class Deliver:
    """A server event for the application (a :func:`~rosey.records.record`: one per frame)."""

    packet: codec.EventPacket


@dataclass(frozen=True, slots=True)
class AckReceived:
    """The server answered an event we sent with an ack id."""

    ack_id: int
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Violation:
    """A frame that could not be used: log it and go on (the session stays up)."""

    error: CodecError
    frame: str


@dataclass(frozen=True, slots=True)
class CloseConnection:
    """Close the websocket. ``refused`` marks a namespace connect the server refused."""

    reason: str
    refused: bool = False


Action = SendText | Opened | Connected | Deliver | AckReceived | Violation | CloseConnection


class Session:
    """One Engine.IO session on a websocket, from the client's side."""

    def __init__(self, eio: int = 4) -> None:
        if eio not in (3, 4):
            raise ValueError(f"unsupported Engine.IO revision {eio}")
        self.eio = eio
        self.state = State.OPENING
        self.handshake: codec.Open | None = None
        self.close_reason: str | None = None
        self._last_ping = 0.0  # v4: last server ping (or handshake)
        self._last_client_ping = 0.0  # v3: when we last pinged
        self._awaiting_pong = False  # v3
        self._ack_ids = itertools.count()

    # -- input --------------------------------------------------------------------------------

    def receive(self, text: str, now: float) -> list[Action]:
        """Handle one text frame received at ``now`` (seconds, any monotonic origin)."""
        got = self.receive_event(text, now)
        if isinstance(got, codec.EventPacket):
            return [Deliver(got)]
        return got

    def receive_event(self, text: str, now: float) -> codec.EventPacket | list[Action]:
        """:meth:`receive`, but an event frame while connected (nearly every frame) comes back
        as its bare packet, where :meth:`receive` returns ``[Deliver(packet)]``; it changes
        nothing in the session (not even the heartbeat deadline)."""
        if self.state is State.CLOSED:
            return []
        try:
            packet = codec.decode(text)
        except CodecError as e:
            return [Violation(e, text)]
        if type(packet) is codec.EventPacket and self.state is State.CONNECTED:
            return packet
        return self._handle(packet, text, now)

    def _handle(self, packet: codec.Packet, text: str, now: float) -> list[Action]:
        match packet:
            case codec.Ping():
                if self.eio == 3:
                    return [Violation(CodecError("server ping in Engine.IO v3"), text)]
                self._last_ping = now
                return [SendText(codec.encode_pong(packet.data))]
            case codec.Pong():
                self._awaiting_pong = False
                return []
            case codec.Open():
                return self._on_open(packet, now, text)
            case codec.Connect() if self.state is State.OPEN:
                self.state = State.CONNECTED
                return [Connected(packet.sid)]
            case codec.Ack() if self.state is State.CONNECTED:
                return [AckReceived(packet.ack_id, packet.args)]
            case codec.ConnectError():
                return self._close(f"connect refused: {packet.message}", refused=True)
            case codec.Disconnect():
                return self._close("server disconnected the namespace")
            case codec.Close():
                return self._close("server closed the session")
            case codec.Noop():
                return []
        return [Violation(CodecError(f"unexpected in state {self.state.value}"), text)]

    def _on_open(self, packet: codec.Open, now: float, text: str) -> list[Action]:
        if self.state is not State.OPENING:
            return [Violation(CodecError("second open packet"), text)]
        self.handshake = packet
        self.state = State.OPEN
        self._last_ping = self._last_client_ping = now
        actions: list[Action] = [Opened(packet)]
        if self.eio == 4:  # in v3 the server connects the default namespace by itself
            actions.append(SendText(codec.encode_connect()))
        return actions

    # -- time ---------------------------------------------------------------------------------

    def deadline(self) -> float | None:
        """When :meth:`tick` next has work to do, or None."""
        hs = self.handshake
        if hs is None or self.state is State.CLOSED:
            return None
        if self.eio == 4:
            return self._last_ping + hs.ping_interval + hs.ping_timeout
        if self._awaiting_pong:
            return self._last_client_ping + hs.ping_timeout
        return self._last_client_ping + hs.ping_interval

    def tick(self, now: float) -> list[Action]:
        """Heartbeat work due at ``now``: a v3 ping to send, or a timeout to act on."""
        deadline = self.deadline()
        if deadline is None or now < deadline:
            return []
        if self.eio == 4:
            return self._close("heartbeat timeout: no ping from the server")
        if self._awaiting_pong:
            return self._close("heartbeat timeout: no pong from the server")
        self._awaiting_pong = True
        self._last_client_ping = now
        return [SendText(codec.encode_ping())]

    # -- output -------------------------------------------------------------------------------

    def encode_event(
        self, name: str, data: Any = None, *, ack: bool = False
    ) -> tuple[str, int | None]:
        """Frame for an event and its ack id (None without ack). ``data=None`` sends no arg."""
        ack_id = next(self._ack_ids) if ack else None
        args = () if data is None else (data,)
        return codec.encode_event(name, *args, ack_id=ack_id), ack_id

    def close(self, reason: str = "client closed") -> list[Action]:
        """Leave politely: ``41`` (when connected), then close the websocket."""
        if self.state is State.CLOSED:
            return []
        was_connected = self.state is State.CONNECTED
        actions = self._close(reason)
        if was_connected:
            actions.insert(0, SendText(codec.encode_disconnect()))
        return actions

    def _close(self, reason: str, refused: bool = False) -> list[Action]:
        self.state = State.CLOSED
        self.close_reason = reason
        return [CloseConnection(reason, refused)]
