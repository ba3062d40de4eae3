"""rosey's plugin contract (the Twisted idiom: ``zope.interface`` + ``twisted.plugin``).

A plugin is a module in the ``rosey.plugins`` package (or in a configured drop-in directory,
which joins that package's ``__path__``) holding an object that provides both
:class:`twisted.plugin.IPlugin` and :class:`IRoseyPlugin`. That object is a *factory*: for each
channel where the plugin is enabled, the daemon calls ``create(bot, config)`` and starts the
returned :class:`IPluginInstance`.

Most plugins subclass :class:`Plugin`, which records every command and handler it registers
and removes them all on ``stop`` (so a reload or a disable leaves nothing behind), and gives it
``self.kv``: a small key/value store with TTL in the channel's storage, namespaced by plugin.

Example (a complete plugin module)::

    from rosey.bot.commands import command
    from rosey.plugin import Plugin, PluginFactory

    class Hello(Plugin):
        def start(self):
            self.add_command(command("hello", help="Say hello.")(self.hello))

        def hello(self, ctx):
            return f"hello, {ctx.user}!"

    hello = PluginFactory("hello", Hello, description="Says hello.")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.plugin import IPlugin
from zope.interface import Attribute, Interface, implementer

from rosey.bot.commands import Command
from rosey.events import Event

if TYPE_CHECKING:
    from rosey.bot.service import Bot


class PluginConfigError(ValueError):
    """A plugin's ``[plugins.NAME]`` table is invalid; the message names the key."""


class IPluginInstance(Interface):
    """One plugin running for one channel's bot."""

    def start() -> Deferred[None] | None:
        """Register commands and handlers; may return a Deferred (e.g. loading state)."""

    def stop() -> Deferred[None] | None:
        """Unregister everything and save state; may return a Deferred."""


class IRoseyPlugin(Interface):
    """A discoverable plugin factory (also provides ``twisted.plugin.IPlugin``)."""

    name = Attribute("Unique short name; its config table is [plugins.NAME].")
    description = Attribute("One line for `rosey plugins` and !help.")
    default_enabled = Attribute("Enabled when the config does not say (bool).")
    migrations = Attribute("Path of the plugin's own Alembic versions folder, or None.")

    def parse_config(raw: Mapping[str, Any]) -> Any:
        """Validate the plugin's ``[plugins.NAME]`` table (``{}`` when absent) into a frozen
        value; raise :class:`PluginConfigError` naming the key, the value and what is expected."""

    def create(bot: Bot, config: Any) -> IPluginInstance:
        """A new instance for ``bot`` (not started)."""


class KeyValue:
    """The plugin's slice of the shared key/value table (channel + plugin namespace)."""

    def __init__(self, bot: Bot, namespace: str) -> None:
        self._bot = bot
        self.namespace = namespace

    def get(self, key: str) -> Deferred[str | None]:
        return self._bot.storage.kv_get(self._bot.storage_key, self.namespace, key)

    def set(self, key: str, value: str, ttl: float | None = None) -> Deferred[None]:
        """Store ``value``; it expires ``ttl`` seconds from now when given."""
        return self._bot.storage.kv_set(self._bot.storage_key, self.namespace, key, value, ttl)

    def delete(self, key: str) -> Deferred[bool]:
        return self._bot.storage.kv_delete(self._bot.storage_key, self.namespace, key)


@implementer(IPluginInstance)
class Plugin:
    """Base class for plugin instances: tracked registrations, ``kv``, a logger."""

    log = Logger()

    def __init__(self, bot: Bot, config: Any, name: str) -> None:
        self.bot = bot
        self.config = config
        self.name = name
        self.kv = KeyValue(bot, name)
        self._commands: list[Command] = []
        self._handlers: list[tuple[str, Callable[[Event], Any]]] = []

    def add_command(self, *commands: Command) -> None:
        """Register commands; they are removed again on :meth:`stop`."""
        self.bot.add_command(*commands)
        self._commands.extend(commands)

    def on(self, event: str, handler: Callable[[Event], Any]) -> None:
        """Run ``handler`` for ``event``; unregistered on :meth:`stop`."""
        self.bot.on(event, handler)
        self._handlers.append((event, handler))

    def start(self) -> Deferred[None] | None:
        """Override: register commands and handlers."""
        return None

    def stop(self) -> Deferred[None] | None:
        """Remove every registered command and handler (call it from overrides)."""
        for cmd in self._commands:
            self.bot.commands.remove(cmd.name)
        for event, handler in self._handlers:
            self.bot.off(event, handler)
        self._commands.clear()
        self._handlers.clear()
        return None


@implementer(IPlugin, IRoseyPlugin)
class PluginFactory:
    """The usual :class:`IRoseyPlugin`: a name, a :class:`Plugin` subclass and an optional
    config parser (``parse(raw) -> value``, raising :class:`PluginConfigError`)."""

    def __init__(
        self,
        name: str,
        instance: Callable[[Bot, Any, str], IPluginInstance],
        *,
        description: str = "",
        default_enabled: bool = True,
        parse: Callable[[Mapping[str, Any]], Any] | None = None,
        migrations: str | None = None,
    ) -> None:
        self.name = name
        self.description = description
        self.default_enabled = default_enabled
        self.migrations = migrations
        self._instance = instance
        self._parse = parse

    def parse_config(self, raw: Mapping[str, Any]) -> Any:
        if self._parse is None:
            if raw:
                raise PluginConfigError(f"plugins.{self.name}: this plugin takes no settings")
            return None
        return self._parse(raw)

    def create(self, bot: Bot, config: Any) -> IPluginInstance:
        return self._instance(bot, config, self.name)

    def __repr__(self) -> str:
        return f"<rosey plugin {self.name}>"
