"""Everything a plugin may use: :class:`IPluginAPI` (the way Synapse hands modules a
``ModuleApi`` instead of the homeserver).

A plugin never sees the :class:`~rosey.bot.service.Bot`. For each channel where it is enabled,
the daemon builds one :class:`IPluginAPI` (:class:`rosey.api_impl.PluginAPI`) and passes it to
the plugin factory's ``create(api)``. Through it the plugin talks (:meth:`IPluginAPI.say`,
:meth:`IPluginAPI.pm`), listens (:meth:`IPluginAPI.on`), declares commands
(:meth:`IPluginAPI.add_command` with :func:`command`), reads the channel
(:attr:`IPluginAPI.channel`, an :class:`IChannelView`), acts on it (:attr:`IPluginAPI.actions`),
and keeps data (:attr:`IPluginAPI.kv`, :attr:`IPluginAPI.storage`).

This module also re-exports the few value types those calls take and return, so a plugin
imports from ``rosey.api``, ``rosey.plugin`` and ``rosey.events`` only. ``docs/plugins.md``
documents exactly this surface and says what is stable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zope.interface import Attribute, Interface

from rosey.bot.commands import (
    ANYWHERE,
    CHAT,
    PM,
    Arg,
    ArgumentError,
    Choice,
    Command,
    CommandContext,
    Rest,
    UserName,
    Where,
    command,
    rank_name,
)
from rosey.bot.errors import ActionFailed, ActionRefused, TargetNotFound
from rosey.bot.medialink import MediaLinkError, parse_media_link
from rosey.bot.state import NowPlaying, PlaylistItem, User
from rosey.bot.state.models import Malformed, parse_item
from rosey.errors import ChannelPermissionError, NotConnected
from rosey.events import Event
from rosey.storage.errors import StorageError
from rosey.storage.rows import MediaPlay, OutboundMessage, UserStats

if TYPE_CHECKING:
    from collections.abc import Callable

    from twisted.internet.defer import Deferred
    from twisted.internet.interfaces import IReactorTime
    from twisted.logger import Logger

    from rosey.bot.actions import Actions
    from rosey.storage.interface import IStorage

__all__ = [
    "ANYWHERE",
    "CHAT",
    "PM",
    "ActionFailed",
    "ActionRefused",
    "Arg",
    "ArgumentError",
    "ChannelPermissionError",
    "Choice",
    "Command",
    "CommandContext",
    "Event",
    "HTTPFailed",
    "HTTPResponse",
    "IChannelView",
    "IHTTPClient",
    "IKeyValue",
    "IPluginAPI",
    "Malformed",
    "MediaLinkError",
    "MediaPlay",
    "NotConnected",
    "NowPlaying",
    "OutboundMessage",
    "PlaylistItem",
    "Rest",
    "StorageError",
    "TargetNotFound",
    "User",
    "UserName",
    "UserStats",
    "Where",
    "command",
    "parse_item",
    "parse_media_link",
    "rank_name",
]


@dataclass(frozen=True, slots=True)
class HTTPResponse:
    """An HTTP answer, whatever its status: ``status`` (e.g. 200, 429), ``headers`` (names in
    lower case, the last value of each) and the whole ``body``."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


class HTTPFailed(Exception):
    """No HTTP answer: the server could not be reached, the answer did not come in time or was
    too big. The message says which, briefly, and never holds the request's headers."""


class IHTTPClient(Interface):
    """An HTTP client that never blocks the reactor (the daemon's is treq's)."""

    def post_json(
        url: str, body: Any, headers: Mapping[str, str], timeout: float, max_body: int
    ) -> Deferred[HTTPResponse]:
        """POST ``body`` as JSON to ``url`` with ``headers``; fires with the
        :class:`HTTPResponse` (any status), or fails with :class:`HTTPFailed` when there is no
        answer within ``timeout`` seconds or it is longer than ``max_body`` bytes. Cancelling
        the Deferred abandons the request."""


class IUsersView(Interface):
    """The users in the channel, read-only (names compare case-insensitively)."""

    names: tuple[str, ...] = Attribute("The listed names, in list order.")

    def get(name: str) -> User | None:
        """The listed user called ``name``, or None."""

    def __contains__(name: object) -> bool:
        """Whether ``name`` is listed."""

    def __iter__() -> Any:
        """The listed :class:`User` values."""

    def __len__() -> int:
        """How many users are listed."""


class IPlaylistView(Interface):
    """The channel's playlist, read-only."""

    items: tuple[PlaylistItem, ...] = Attribute("The items in play order.")
    current_uid: int | None = Attribute("The uid the server marked current, or None.")
    current: PlaylistItem | None = Attribute("The item the server marked current, or None.")
    now_playing: NowPlaying | None = Attribute("What plays, or None.")
    locked: bool = Attribute("Whether the playlist is locked.")

    def __len__() -> int:
        """How many items there are."""


class IChannelView(Interface):
    """A read-only view of the channel as the server described it, and of the bot in it."""

    name: str = Attribute("The channel's name on its site.")
    users: IUsersView = Attribute("Who is here.")
    playlist: IPlaylistView = Attribute("The playlist and what plays.")
    own_name: str = Attribute("The bot's name: the one it logged in with, or the configured one.")
    own_rank: float = Attribute("The rank the server checks the bot's permissions against.")
    logged_in: bool = Attribute("True once the bot's login succeeded (it can PM).")
    ready: bool = Attribute("True once the join burst is over (the connection's ``ready`` event).")

    def is_me(name: str) -> bool:
        """Whether ``name`` is the bot itself (case-insensitive)."""

    def can(node: str) -> bool:
        """Whether the server would let the bot use permission ``node`` (e.g.
        ``"playlistdelete"``) now."""

    def said_recently(text: str) -> bool:
        """Whether ``text`` is a line the bot sent recently (to ignore its own words when a
        relay or another bot repeats them)."""


class IKeyValue(Interface):
    """The plugin's own key/value store in the channel's storage (kept across reloads and
    restarts when :attr:`IPluginAPI.persistent`)."""

    namespace: str = Attribute("The plugin's namespace (its name).")

    def get(key: str) -> Deferred[str | None]:
        """The value stored under ``key``, or None (absent or expired)."""

    def set(key: str, value: str, ttl: float | None = None) -> Deferred[None]:
        """Store ``value``; it expires ``ttl`` seconds from now when given."""

    def delete(key: str) -> Deferred[bool]:
        """Remove ``key``; True when there was one."""


class IPluginAPI(Interface):
    """Everything one plugin instance may use in one channel.

    Handlers and commands registered here stay until removed; :class:`rosey.plugin.Plugin`
    removes its own on ``stop``.
    """

    name: str = Attribute("The plugin's name (its config table is [plugins.NAME]).")
    settings: Any = Attribute("The plugin's parsed settings: what its ``parse_config`` returned.")
    log: Logger = Attribute("A logger for the plugin.")
    clock: IReactorTime = Attribute("The reactor's clock: ``seconds()``, ``callLater``.")
    started_at: float = Attribute("``clock.seconds()`` when the channel's bot was made.")
    prefix: str = Attribute("The command prefix, e.g. ``!``.")
    max_line_length: int = Attribute("The longest chat line the bot sends, in UTF-16 units.")
    channel: IChannelView = Attribute("The channel, read-only.")
    actions: Actions = Attribute(
        "The typed channel actions (:class:`rosey.bot.actions.Actions`): kick, ban, mute, "
        "queue, delete, play_next, …; each a Deferred that fires on the server's confirmation."
    )
    storage: IStorage = Attribute("The channel's storage.")
    storage_key: str = Attribute("The channel key that storage rows are scoped by.")
    persistent: bool = Attribute("True when storage keeps data (a database), False for none.")
    kv: IKeyValue = Attribute("The plugin's key/value store.")

    def say(text: str, meta: dict[str, Any] | None = None) -> Deferred[None]:
        """Send a chat line through the flood-safe send queue; fires once the server echoed
        it."""

    def pm(to: str, text: str) -> Deferred[None]:
        """Send a private message through the send queue."""

    def post_json(
        url: str,
        body: Any,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        max_body: int = 1 << 20,
    ) -> Deferred[HTTPResponse]:
        """POST ``body`` as JSON to ``url`` (an HTTP API: a language model's server, a web
        hook) without blocking; fires with the :class:`HTTPResponse` whatever its status, or
        fails with :class:`HTTPFailed` (no answer within ``timeout`` seconds, unreachable, an
        answer over ``max_body`` bytes, or no HTTP client in this setup). Header values are
        never logged."""

    def on(event: str, handler: Callable[[Event], Any]) -> None:
        """Run ``handler(event)`` for every event named ``event`` (``rosey.events`` names;
        ``"*"``: every event). A handler may return a Deferred; it must not raise."""

    def off(event: str, handler: Callable[[Event], Any]) -> None:
        """Stop running ``handler`` for ``event``."""

    def add_command(*commands: Command) -> None:
        """Register commands declared with :func:`command` (a later one of the same name
        replaces an earlier one)."""

    def remove_command(command: Command) -> None:
        """Unregister ``command`` if it is still the one registered under its name."""
