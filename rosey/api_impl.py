""":class:`PluginAPI`: the one implementation of :class:`rosey.api.IPluginAPI`, over a
:class:`~rosey.bot.service.Bot`.

The daemon's plugin host (:class:`rosey.daemon.plugin_host.PluginHost`) makes one per plugin and
channel; tests make them the same way:
``factory.create(PluginAPI(bot, factory.name, settings))``. Plugins never import this module:
they get the object and use what :class:`~rosey.api.IPluginAPI` declares.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from rosey.api import (
    HTTPFailed,
    HTTPResponse,
    IChannelView,
    IHTTPClient,
    IKeyValue,
    IPlaylistView,
    IPluginAPI,
    IUsersView,
)
from rosey.bot.actions import Actions
from rosey.bot.commands import Command
from rosey.bot.permissions import can
from rosey.bot.service import Bot
from rosey.bot.state import NowPlaying, PlaylistItem, User
from rosey.events import Event
from rosey.plugin import IPluginInstance, IRoseyPlugin
from rosey.storage.interface import IStorage

__all__ = ["ChannelView", "KeyValue", "PluginAPI", "run_plugin"]


@implementer(IUsersView)
class UsersView:
    """:class:`~rosey.api.IUsersView` over the mirror's user list."""

    __slots__ = ("_users",)

    def __init__(self, bot: Bot) -> None:
        self._users = bot.mirror.users

    @property
    def names(self) -> tuple[str, ...]:
        return self._users.names

    def get(self, name: str) -> User | None:
        return self._users.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._users

    def __iter__(self) -> Iterator[User]:
        return iter(self._users)

    def __len__(self) -> int:
        return len(self._users)


@implementer(IPlaylistView)
class PlaylistView:
    """:class:`~rosey.api.IPlaylistView` over the mirror's playlist."""

    __slots__ = ("_playlist",)

    def __init__(self, bot: Bot) -> None:
        self._playlist = bot.mirror.playlist

    @property
    def items(self) -> tuple[PlaylistItem, ...]:
        return self._playlist.items

    @property
    def current_uid(self) -> int | None:
        return self._playlist.current_uid

    @property
    def current(self) -> PlaylistItem | None:
        return self._playlist.current

    @property
    def now_playing(self) -> NowPlaying | None:
        return self._playlist.now_playing

    @property
    def locked(self) -> bool:
        return self._playlist.locked

    def __len__(self) -> int:
        return len(self._playlist)


@implementer(IChannelView)
class ChannelView:
    """:class:`~rosey.api.IChannelView` over a bot's mirror and connection (read-only)."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot
        self.users = UsersView(bot)
        self.playlist = PlaylistView(bot)

    @property
    def name(self) -> str:
        return str(self._bot.connection.channel)

    @property
    def own_name(self) -> str:
        return self._bot.mirror.name or self._bot.connection.username or ""

    @property
    def own_rank(self) -> float:
        return self._bot.mirror.effective_rank

    @property
    def logged_in(self) -> bool:
        return self._bot.mirror.logged_in

    @property
    def ready(self) -> bool:
        return bool(self._bot.connection.ready)

    def is_me(self, name: str) -> bool:
        own = self.own_name
        return bool(own) and own.casefold() == name.casefold()

    def can(self, node: str) -> bool:
        return can(self._bot.mirror, node)

    def said_recently(self, text: str) -> bool:
        return text in self._bot.memory


@implementer(IKeyValue)
class KeyValue:
    """The plugin's slice of the shared key/value table (channel + plugin namespace)."""

    def __init__(self, storage: IStorage, channel: Callable[[], str], namespace: str) -> None:
        self._storage = storage
        self._channel = channel
        self.namespace = namespace

    def get(self, key: str) -> Deferred[str | None]:
        return self._storage.kv_get(self._channel(), self.namespace, key)

    def set(self, key: str, value: str, ttl: float | None = None) -> Deferred[None]:
        return self._storage.kv_set(self._channel(), self.namespace, key, value, ttl)

    def delete(self, key: str) -> Deferred[bool]:
        return self._storage.kv_delete(self._channel(), self.namespace, key)


@implementer(IPluginAPI)
class PluginAPI:
    """What plugin ``name`` may use on ``bot``'s channel, with its parsed ``settings``.

    ``http`` makes :meth:`post_json` work (the daemon passes its treq client,
    :class:`rosey.daemon.http_client.TreqHTTPClient`); without it every POST fails with
    :class:`~rosey.api.HTTPFailed`."""

    def __init__(
        self, bot: Bot, name: str, settings: Any = None, *, http: IHTTPClient | None = None
    ) -> None:
        self._bot = bot
        self._http = http
        self.name = name
        self.settings = settings
        self.log = Logger(namespace=f"rosey.plugins.{name}")
        self.channel = ChannelView(bot)
        self.kv = KeyValue(bot.storage, lambda: self._bot.storage_key, name)

    @property
    def clock(self) -> IReactorTime:
        return self._bot.clock

    @property
    def started_at(self) -> float:
        return self._bot.created_at

    @property
    def prefix(self) -> str:
        return self._bot.router.prefix

    @property
    def max_line_length(self) -> int:
        return self._bot.queue.max_length

    @property
    def actions(self) -> Actions:
        return self._bot.actions

    @property
    def storage(self) -> IStorage:
        return self._bot.storage

    @property
    def storage_key(self) -> str:
        return self._bot.storage_key

    @property
    def persistent(self) -> bool:
        return bool(self._bot.storage.persistent)

    def say(self, text: str, meta: dict[str, Any] | None = None) -> Deferred[None]:
        return self._bot.say(text, meta)

    def pm(self, to: str, text: str) -> Deferred[None]:
        return self._bot.pm(to, text)

    def post_json(
        self,
        url: str,
        body: Any,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        max_body: int = 1 << 20,
    ) -> Deferred[HTTPResponse]:
        if self._http is None:
            return fail(HTTPFailed("no HTTP client in this setup"))
        return self._http.post_json(url, body, dict(headers or {}), timeout, max_body)

    def on(self, event: str, handler: Callable[[Event], Any]) -> None:
        self._bot.on(event, handler)

    def off(self, event: str, handler: Callable[[Event], Any]) -> None:
        self._bot.off(event, handler)

    def add_command(self, *commands: Command) -> None:
        self._bot.add_command(*commands)

    def remove_command(self, command: Command) -> None:
        registry = self._bot.commands
        if registry.get(command.name) is command:
            registry.remove(command.name)

    def __repr__(self) -> str:
        return f"<PluginAPI {self.name} on {self._bot.storage_key}>"


def run_plugin(
    bot: Bot, factory: IRoseyPlugin, raw: Mapping[str, Any] | None = None
) -> IPluginInstance:
    """Create ``factory``'s plugin for ``bot`` with settings ``raw`` (parsed by the factory) and
    start it: a plugin outside the daemon's plugin host (a bot used on its own, tests,
    benchmarks). A start that returns a Deferred is not waited for."""
    api = PluginAPI(bot, factory.name, factory.parse_config(raw or {}))
    instance = IPluginInstance(factory.create(api))
    instance.start()
    return instance
