"""What the daemon sees of the bus (publish an event, its state for /metrics and /health), and
what the bus sees of a channel's bot (:class:`ICommandTarget`, for commands in)."""

from __future__ import annotations

from typing import Any

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


class ICommandTarget(Interface):
    """One channel's bot as the bus's commands see it (the daemon implements it over the bot).

    Each method checks the bot's permissions, goes through its flood-safe send queue and
    returns a Deferred that fires once the CyTube server confirmed the action, with a dict
    of extra reply fields (JSON values), or fails with the bot's typed error.
    """

    def say(text: str) -> Any:
        """Say ``text`` in chat."""

    def pm(to: str, text: str) -> Any:
        """Send ``to`` a private message."""

    def me(text: str) -> Any:
        """Say ``text`` as an action (``/me``)."""

    def queue(link: str, position: str) -> Any:
        """Add the media at ``link`` at ``position`` (``end`` or ``next``); fires with
        ``{"uid": …}``."""

    def delete(uid: int | None, link: str | None) -> Any:
        """Remove playlist item ``uid``, or the first item playing ``link``; fires with
        ``{"uid": …}``."""

    def skip() -> Any:
        """Play the next item (``playNext``); fires with ``{"uid": <now playing or None>}``."""

    def voteskip() -> Any:
        """Vote to skip; fires with ``{"count": …, "need": …}`` when the bot may see them."""

    def kick(name: str, reason: str) -> Any:
        """Kick ``name``."""

    def mute(name: str) -> Any:
        """Mute ``name``."""

    def unmute(name: str) -> Any:
        """Unmute ``name``."""
