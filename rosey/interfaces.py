"""Interfaces between rosey's layers.

The bot depends on these, never on the classes behind them: a connection and a storage can each
be swapped (a fake connection and a no-op storage must work).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from twisted.internet.defer import Deferred
from zope.interface import Attribute, Interface

from rosey.events import Event

EventListener = Callable[[Event], object]

#: The current playlist item as (media type, media id, queued by).
CurrentItem = tuple[str, str, str | None]


def channel_label(site: str, name: str) -> str:
    """``host/channel``: a channel's one identity, as configured (logs and metrics show it;
    the bot and the recorder scope its rows in storage by it, through :func:`channel_key`).
    The site's host keeps two sites' same-named channels apart."""
    return f"{urlsplit(site).netloc}/{name}"


def channel_key(label: str) -> str:
    """The storage key of the channel labelled ``label``: CyTube channel names (and host names)
    are case-insensitive, so ``cytu.be/MyChan`` and ``cytu.be/mychan`` are one channel and share
    one row."""
    return label.lower()


class IChannelState(Interface):
    """One channel's state as the server described it, read-only: the bot's channel mirror, as
    storage reads it (plugins read the same mirror through :class:`rosey.api.IChannelView`).

    Whoever holds a view reads it after the mirror applied the event at hand (the recorder gets
    each event from the bot right after its mirror step), and never changes it.
    """

    name = Attribute("The bot's own name once a login succeeded, else None (str | None).")
    rank = Attribute("The bot's own rank as the server last gave it; -1 until told (float).")
    afk = Attribute("Whether the server has the bot marked AFK (bool).")
    user_count = Attribute("How many users are listed (int).")
    user_names = Attribute("Every listed user's name, in list order (tuple of str).")
    connected_count = Attribute(
        "Sockets in the channel, anonymous viewers included; None before the first count "
        "(int | None)."
    )

    def current_item() -> CurrentItem | None:
        """The playlist's current item as (media type, media id, queued by), or None."""


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

    def emit_with_ack(event: str, data: Any = None, timeout: float = 10.0) -> Deferred[Any]:
        """Send one event with an ack id; fires with the ack payload, or fails with
        ``AckTimeout`` / ``ConnectionClosed``."""

    def send_message(text: str, meta: dict[str, Any] | None = None) -> None:
        """Send a chat line (``chatMsg``). No rate limiting here: that is the bot's queue."""

    def send_pm(to: str, text: str, meta: dict[str, Any] | None = None) -> None:
        """Send a private message (``pm``)."""

    def when_ready() -> Deferred[None]:
        """A fresh Deferred that fires when the connection is (or already is) ready."""

    def disconnect(reason: str = "") -> None:
        """Close the current session; the reconnect policy decides what happens next."""
