"""Runs one sans-IO :class:`~rosey.wire.session.Session` with a clock and a websocket.

:class:`SessionDriver` feeds the session text frames and the time, carries out the actions it
returns, keeps the heartbeat timer at ``session.deadline()`` with the injected clock, matches
acks to the Deferreds of :meth:`SessionDriver.emit_with_ack`, and tells a
:class:`SessionHandler` what happened. It knows nothing about Autobahn: the websocket is two
callables (send a text frame, close), so ``task.Clock`` tests drive it frame by frame.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from rosey.errors import AckTimeout, ConnectionClosed, NotConnected, SocketIOError
from rosey.wire import codec
from rosey.wire.session import (
    AckReceived,
    Action,
    CloseConnection,
    Connected,
    Deliver,
    Opened,
    SendText,
    Session,
    State,
    Violation,
)

__all__ = ["SessionDriver", "SessionHandler"]

_log = Logger()

# Bad frames logged per session; a hostile peer could otherwise fill the log. The rest are
# counted and the count is logged when the session ends.
MAX_LOGGED_BAD_FRAMES = 20
_REFUSED_PREFIX = "connect refused: "


class SessionHandler(Protocol):
    """What a :class:`SessionDriver` reports to (the connection)."""

    def session_opened(self, driver: SessionDriver) -> None:
        """The websocket is open; the Engine.IO handshake has not arrived yet."""

    def session_connected(self, driver: SessionDriver, sid: str | None) -> None:
        """The socket.io namespace is connected: events may be sent."""

    def session_event(self, driver: SessionDriver, packet: codec.EventPacket) -> None:
        """A server event arrived."""

    def session_closed(self, driver: SessionDriver, reason: str, refusal: str | None) -> None:
        """The websocket is gone. ``refusal`` is the server's ``44`` message, if it sent one."""


class SessionDriver:
    """One websocket's Engine.IO/Socket.IO session, driven with ``clock``.

    ``send`` writes one text frame; ``close(abort)`` closes the websocket (``abort`` drops the
    TCP connection at once, for a dead peer). The owner calls :meth:`open`, :meth:`receive`,
    :meth:`refuse` and, exactly when the websocket is gone, :meth:`lost`.
    """

    def __init__(
        self,
        session: Session,
        clock: IReactorTime,
        send: Callable[[str], None],
        close: Callable[[bool], None],
        handler: SessionHandler,
    ) -> None:
        self.session = session
        self.sid: str | None = None
        self.refusal: str | None = None
        self.bad_frames = 0
        self.frames_in = 0  # text frames received (bad ones included)
        self.frames_out = 0  # text frames sent (pongs and pings included)
        self._clock = clock
        self._send = send
        self._close = close
        self._handler = handler
        self._timer: IDelayedCall | None = None
        self._acks: dict[int, tuple[Deferred[Any], IDelayedCall, str]] = {}
        self._connect_waiters: list[Deferred[str | None]] = []
        self._close_waiters: list[Deferred[str]] = []
        self._closed_reason: str | None = None

    # -- state ----------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while events may be sent (namespace connected, websocket up)."""
        return self.session.state is State.CONNECTED and self._closed_reason is None

    @property
    def closed(self) -> bool:
        """True once the websocket is gone."""
        return self._closed_reason is not None

    def when_connected(self) -> Deferred[str | None]:
        """A fresh Deferred: fires with the socket.io sid on connect, fails if lost first."""
        if self.connected:
            return succeed(self.sid)
        if self._closed_reason is not None or self.session.state is State.CLOSED:
            return fail(ConnectionClosed(self._closed_reason or "session closed"))
        d: Deferred[str | None] = Deferred()
        self._connect_waiters.append(d)
        return d

    def when_closed(self) -> Deferred[str]:
        """A fresh Deferred that fires with the close reason when the websocket is gone."""
        if self._closed_reason is not None:
            return succeed(self._closed_reason)
        d: Deferred[str] = Deferred()
        self._close_waiters.append(d)
        return d

    # -- input ----------------------------------------------------------------------------------

    def open(self) -> None:
        """The websocket opened."""
        self._call(self._handler.session_opened, self)

    def receive(self, text: str) -> None:
        """One text frame arrived."""
        if self._closed_reason is not None:
            return
        self.frames_in += 1
        got = self.session.receive_event(text, self._clock.seconds())
        if isinstance(got, codec.EventPacket):
            # Nearly every frame: an event to hand over. The session did not change, so neither
            # did the heartbeat deadline (and a handler that closed the session has cancelled
            # the timer itself): no list to walk, no timer to check.
            self._call(self._handler.session_event, self, got)
            return
        self._perform(got)
        self._schedule()

    def refuse(self, what: str) -> None:
        """A frame the websocket layer could not hand over as text (binary, bad UTF-8, huge)."""
        self._bad(what)

    def lost(self, reason: str) -> None:
        """The websocket is gone (called once, by the websocket's owner)."""
        if self._closed_reason is not None:
            return
        if self.session.state is State.CLOSED and self.session.close_reason:
            reason = self.session.close_reason
        else:
            self.session.close(reason)  # only to mark it closed; nothing is left to send
        self._closed_reason = reason
        self._cancel_timer()
        acks, self._acks = self._acks, {}
        for d, timer, _name in acks.values():
            if timer.active():
                timer.cancel()
            d.errback(ConnectionClosed(reason))
        connect_waiters, self._connect_waiters = self._connect_waiters, []
        for cw in connect_waiters:
            cw.errback(ConnectionClosed(reason))
        close_waiters, self._close_waiters = self._close_waiters, []
        for clw in close_waiters:
            clw.callback(reason)
        if self.bad_frames > MAX_LOGGED_BAD_FRAMES:
            _log.warn(
                "{count} bad frames on this session ({hidden} not logged)",
                count=self.bad_frames,
                hidden=self.bad_frames - MAX_LOGGED_BAD_FRAMES,
            )
        self._call(self._handler.session_closed, self, reason, self.refusal)

    # -- output ---------------------------------------------------------------------------------

    def emit(self, name: str, data: Any = None) -> None:
        """Send one event. Raises ``NotConnected`` unless the namespace is connected."""
        self._check_connected(name)
        text, _ = self.session.encode_event(name, data)
        self._send_event(name, text)

    def emit_with_ack(self, name: str, data: Any = None, timeout: float = 10.0) -> Deferred[Any]:
        """Send one event with an ack id.

        The Deferred fires with the ack's payload (its first argument; CyTube sends exactly
        one), or fails with ``AckTimeout`` after ``timeout`` seconds of ``clock``, or with
        ``ConnectionClosed`` when the session ends first. Cancelling it forgets the ack.
        """
        self._check_connected(name)
        text, ack_id = self.session.encode_event(name, data, ack=True)
        assert ack_id is not None
        self._send_event(name, text)

        def forget(_: Deferred[Any]) -> None:
            entry = self._acks.pop(ack_id, None)
            if entry is not None and entry[1].active():
                entry[1].cancel()

        d: Deferred[Any] = Deferred(forget)
        timer = self._clock.callLater(timeout, self._ack_timed_out, ack_id, timeout)
        self._acks[ack_id] = (d, timer, name)
        return d

    def close(self, reason: str = "client closed") -> None:
        """Leave politely: ``41`` if connected, then close the websocket."""
        if self._closed_reason is not None:
            return
        self._perform(self.session.close(reason))
        self._cancel_timer()

    # -- internals ------------------------------------------------------------------------------

    def _check_connected(self, name: str) -> None:
        if not self.connected:
            raise NotConnected(f"no socket.io session; {name} not sent")

    def _send_event(self, name: str, text: str) -> None:
        handshake = self.session.handshake
        limit = handshake.max_payload if handshake is not None else 0
        if limit and len(text) > limit // 4 and len(text.encode("utf-8")) > limit:
            raise SocketIOError(f"{name} is over the server's {limit}-byte frame limit; not sent")
        self._write(text)

    def _write(self, text: str) -> None:
        self.frames_out += 1
        self._send(text)

    def _perform(self, actions: list[Action], *, from_timer: bool = False) -> None:
        for action in actions:  # events while connected skip this: see receive()
            match action:
                case SendText(text=text):
                    self._write(text)
                case Deliver(packet=packet):
                    self._call(self._handler.session_event, self, packet)
                case AckReceived(ack_id=ack_id, args=args):
                    self._ack_received(ack_id, args)
                case Connected(sid=sid):
                    self.sid = sid
                    waiters, self._connect_waiters = self._connect_waiters, []
                    for d in waiters:
                        d.callback(sid)
                    self._call(self._handler.session_connected, self, sid)
                case Violation(error=error):
                    self._bad(str(error))
                case CloseConnection(reason=reason, refused=refused):
                    if refused:
                        self.refusal = reason.removeprefix(_REFUSED_PREFIX)
                    if from_timer:
                        _log.warn("closing the websocket: {reason}", reason=reason)
                    self._cancel_timer()
                    self._close(from_timer)
                case Opened():
                    pass

    def _ack_received(self, ack_id: int, args: tuple[Any, ...]) -> None:
        entry = self._acks.pop(ack_id, None)
        if entry is None:
            self._bad(f"ack {ack_id} answers nothing waiting (late, or never asked)")
            return
        d, timer, _name = entry
        if timer.active():
            timer.cancel()
        d.callback(args[0] if args else None)

    def _ack_timed_out(self, ack_id: int, timeout: float) -> None:
        entry = self._acks.pop(ack_id, None)
        if entry is not None:
            entry[0].errback(AckTimeout(f"no ack for {entry[2]} within {timeout:g} s"))

    def _bad(self, what: str) -> None:
        self.bad_frames += 1
        if self.bad_frames <= MAX_LOGGED_BAD_FRAMES:
            _log.warn("ignored a bad frame: {what}", what=what)
            if self.bad_frames == MAX_LOGGED_BAD_FRAMES:
                _log.warn("further bad frames on this session are counted, not logged")

    def _schedule(self) -> None:
        deadline = self.session.deadline()
        timer = self._timer
        if timer is not None and timer.active():
            if deadline is not None and abs(timer.getTime() - deadline) < 1e-6:
                return
            timer.cancel()
        self._timer = None
        if deadline is not None and self._closed_reason is None:
            delay = max(0.0, deadline - self._clock.seconds())
            self._timer = self._clock.callLater(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._closed_reason is not None:
            return
        self._perform(self.session.tick(self._clock.seconds()), from_timer=True)
        self._schedule()

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    @staticmethod
    def _call(fn: Callable[..., object], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            _log.failure("session handler {fn} failed", fn=getattr(fn, "__name__", fn))
