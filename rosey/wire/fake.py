"""A fake connection with the same interface as the real one, for bot tests.

Nothing goes over a network: what the bot sends is recorded in :attr:`FakeConnection.sent`, and
tests push normalized events in with :meth:`FakeConnection.feed`.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from rosey import events
from rosey.errors import ConnectionClosed, NotConnected
from rosey.events import Event
from rosey.interfaces import EventListener, IConnection
from rosey.wire.chat_emit import ChatEmitter


@implementer(IConnection)
class FakeConnection(Service, ChatEmitter):
    """An in-memory :class:`~rosey.interfaces.IConnection`.

    ``acks`` holds the Deferreds of :meth:`emit_with_ack` calls as ``(event, data, deferred)``;
    a test fires them to play the server's answer.
    """

    def __init__(self, channel: str = "testchan", username: str | None = "rosey") -> None:
        self.channel = channel
        self.username = username
        self.connected = False
        self.ready = False
        self.sent: list[tuple[str, Any]] = []
        self.acks: list[tuple[str, Any, Deferred[Any]]] = []
        self._listeners: list[EventListener] = []
        self._ready_waiters: list[Deferred[None]] = []

    # -- IConnection --------------------------------------------------------------------------

    def subscribe(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: EventListener) -> None:
        self._listeners.remove(listener)

    def emit(self, event: str, data: Any = None) -> None:
        if not self.connected:
            raise NotConnected(f"not connected; dropped {event}")
        self.sent.append((event, data))

    def emit_with_ack(self, event: str, data: Any = None, timeout: float = 10.0) -> Deferred[Any]:
        self.emit(event, data)
        d: Deferred[Any] = Deferred()
        self.acks.append((event, data, d))
        return d

    def when_ready(self) -> Deferred[None]:
        if self.ready:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._ready_waiters.append(d)
        return d

    def disconnect(self, reason: str = "") -> None:
        self.lose(reason or "client closed")

    # -- test controls ------------------------------------------------------------------------

    def feed(self, event: Event) -> None:
        """Deliver one normalized event to every listener."""
        for listener in list(self._listeners):
            listener(event)

    def connect(self) -> None:
        """Pretend a socket.io session opened (emits ``connected``)."""
        self.connected = True
        self.feed(Event(events.CONNECTED))

    def make_ready(self) -> None:
        """Pretend the join finished (emits ``ready``, fires :meth:`when_ready` waiters)."""
        if not self.connected:
            self.connect()
        self.ready = True
        self.feed(Event(events.READY))
        waiters, self._ready_waiters = self._ready_waiters, []
        for d in waiters:
            d.callback(None)

    def lose(self, reason: str = "connection lost") -> None:
        """Pretend the session dropped: pending acks fail, ``disconnected`` is emitted."""
        self.connected = self.ready = False
        pending, self.acks = self.acks, []
        for _, _, d in pending:
            if not d.called:
                d.errback(ConnectionClosed(reason))
        self.feed(Event(events.DISCONNECTED, {"reason": reason}))

    def startService(self) -> None:
        super().startService()
        self.make_ready()

    def stopService(self) -> Deferred[None] | None:
        if self.connected:
            self.lose("service stopped")
        stopped: Deferred[None] | None = super().stopService()
        return stopped
