"""What the daemon sees of the bus: publish an event, and its state for /metrics and /health."""

from __future__ import annotations

from zope.interface import Attribute, Interface

from rosey.events import Event

#: :attr:`IBus.state` values.
CONNECTING = "connecting"
CONNECTED = "connected"
DISCONNECTED = "disconnected"
STOPPED = "stopped"


class IBus(Interface):
    """An event bus. Implementations are also ``IService``: ``startService`` connects (and
    keeps reconnecting), ``stopService`` flushes what it can within a bound."""

    state = Attribute("One of connecting, connected, disconnected, stopped (str).")
    buffered = Attribute("Events accepted and not yet stored by the bus (int).")
    published = Attribute("Events the bus confirmed stored, since start (int).")
    dropped = Attribute("Events lost to a full buffer, since start (int).")

    def publish(event: Event, channel: str) -> None:
        """Queue ``event`` of channel ``channel`` (``site/name``) for publishing, in order.
        Never blocks and never raises for a bus that is away: a full buffer drops the event
        and counts it in :attr:`dropped`."""
