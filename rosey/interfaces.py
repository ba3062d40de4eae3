"""Interfaces between rosey's layers.

The bot depends on these, never on the classes behind them: a connection and a storage can each
be swapped (a fake connection and a no-op storage must work).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from zope.interface import Attribute, Interface

from rosey.events import Event

EventListener = Callable[[Event], object]


class IConnection(Interface):
    """A live link to one channel (the ConnectionAdapter of the original Rosey design).

    Implementations are also ``IService``: ``startService`` connects (and keeps reconnecting),
    ``stopService`` leaves cleanly and stops reconnecting.
    """

    channel = Attribute("The channel name (str).")
    username = Attribute("The name the bot logs in as, or None when anonymous.")
    connected = Attribute("True while a socket.io session is open (bool).")
    ready = Attribute("True once joined: join burst over and own rank known (bool).")

    def subscribe(listener: EventListener) -> None:
        """Deliver every normalized event to ``listener``, in arrival order."""

    def unsubscribe(listener: EventListener) -> None:
        """Stop delivering events to ``listener``."""

    def emit(event: str, data: Any = None) -> None:
        """Send one CyTube event, fire-and-forget. Raises ``NotConnected`` with no session."""

    def emitWithAck(event: str, data: Any = None, timeout: float = 10.0) -> Deferred[Any]:
        """Send one event with an ack id; fires with the ack payload, or fails with
        ``AckTimeout`` / ``ConnectionClosed``."""

    def sendMessage(text: str, meta: dict[str, Any] | None = None) -> None:
        """Send a chat line (``chatMsg``). No rate limiting here: that is the bot's queue."""

    def sendPM(to: str, text: str, meta: dict[str, Any] | None = None) -> None:
        """Send a private message (``pm``)."""

    def whenReady() -> Deferred[None]:
        """A fresh Deferred that fires when the connection is (or already is) ready."""

    def disconnect(reason: str = "") -> None:
        """Close the current session; the reconnect policy decides what happens next."""
