"""rosey's plugin contract (the Twisted idiom: ``zope.interface`` + ``twisted.plugin``).

A plugin is a module in the ``rosey.plugins`` package (or in a configured drop-in directory,
which joins that package's ``__path__``) holding an object that provides both
:class:`twisted.plugin.IPlugin` and :class:`IRoseyPlugin`. That object is a *factory*: for each
channel where the plugin is enabled, the daemon calls ``create(api)`` with an
:class:`~rosey.api.IPluginAPI` (everything the plugin may use, its parsed settings included) and
starts the returned :class:`IPluginInstance`.

Most plugins subclass :class:`Plugin`, which records every command and handler it registers
and removes them all on ``stop`` (so a reload or a disable leaves nothing behind), and gives it
``self.kv``: a small key/value store with TTL in the channel's storage, namespaced by plugin.
:class:`Settings` reads the plugin's ``[plugins.NAME]`` table with errors naming the key path.

Life of an instance: created and started once, stopped once. A ``create``/``start`` that raises
(or a start Deferred that fails) is logged and the instance is stopped again to undo what it
registered; the bot and the other plugins go on. A reload creates *new* instances (the old ones
are stopped first), so state worth keeping belongs in ``kv``. The author's guide is
``docs/plugins.md``; discovery is in :mod:`rosey.daemon.plugin_discovery`, running a
channel's plugins in :mod:`rosey.daemon.plugin_host` and reload in :mod:`rosey.daemon.reload`.

Example (a complete plugin module)::

    from rosey.api import command
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

from rosey.api import Command
from rosey.events import Event

if TYPE_CHECKING:
    from rosey.api import IKeyValue, IPluginAPI


class PluginConfigError(ValueError):
    """A plugin's ``[plugins.NAME]`` table is invalid; the message names the key."""


class Settings:
    """Typed reads of a plugin's ``[plugins.NAME]`` table for ``parse_config``.

    Every error is a :class:`PluginConfigError` naming the key path, the value and what is
    expected, e.g. ``plugins.fun.eightball_cooldown: 'x' is not a number``::

        def parse(raw):
            s = Settings(raw, "fun")
            s.only("eightball_cooldown")
            return FunConfig(cooldown=s.number("eightball_cooldown", 30.0, min=0))
    """

    def __init__(self, raw: Mapping[str, Any], plugin: str) -> None:
        self.raw = raw
        self.path = f"plugins.{plugin}"

    def key(self, name: str) -> str:
        """The full key path of ``name``."""
        return f"{self.path}.{name}"

    def error(self, name: str, message: str) -> PluginConfigError:
        """A :class:`PluginConfigError` for key ``name`` (for checks of your own)."""
        return PluginConfigError(f"{self.key(name)}: {message}")

    def only(self, *allowed: str) -> None:
        """Refuse keys other than ``allowed`` (a typo should not be silently ignored)."""
        for name in self.raw:
            if name not in allowed:
                expected = ", ".join(allowed) if allowed else "no keys"
                raise self.error(name, f"unknown key (expected {expected})")

    def _get(self, name: str, default: Any, ok: Callable[[Any], bool], what: str) -> Any:
        value = self.raw.get(name, default)
        if name in self.raw and not ok(value):
            raise self.error(name, f"{value!r} is not {what}")
        return value

    def _bounded(self, name: str, value: Any, low: float | None, high: float | None) -> Any:
        if value != value:  # NaN (TOML has it) passes every comparison
            raise self.error(name, "nan is not a number")
        if low is not None and value < low:
            raise self.error(name, f"{value!r} is less than {low:g}")
        if high is not None and value > high:
            raise self.error(name, f"{value!r} is more than {high:g}")
        return value

    def number(
        self, name: str, default: float, *, min: float | None = None, max: float | None = None
    ) -> float:
        """An int or float (not a bool), within ``min``/``max`` when given."""
        value = self._get(name, default, _is_number, "a number")
        return float(self._bounded(name, value, min, max))

    def integer(
        self, name: str, default: int, *, min: int | None = None, max: int | None = None
    ) -> int:
        """An integer (not a bool), within ``min``/``max`` when given."""
        value = self._get(name, default, _is_integer, "an integer")
        return int(self._bounded(name, value, min, max))

    def string(self, name: str, default: str) -> str:
        """A string."""
        value: str = self._get(name, default, lambda v: isinstance(v, str), "a string")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        """``true`` or ``false``."""
        value: bool = self._get(name, default, lambda v: isinstance(v, bool), "true or false")
        return value

    def strings(self, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        """A list of strings, as a tuple."""
        value = self._get(name, default, _is_string_list, "a list of strings")
        return tuple(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_string_list(value: object) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)


class IPluginInstance(Interface):
    """One plugin running for one channel's bot."""

    def start() -> Deferred[None] | None:
        """Register commands and handlers; may return a Deferred (e.g. loading state) or be
        ``async def``. Raising (or failing) makes the host log it and call :meth:`stop`."""

    def stop() -> Deferred[None] | None:
        """Unregister everything and save state; may return a Deferred. Must not raise for an
        instance whose start failed halfway."""


class IRoseyPlugin(Interface):
    """A discoverable plugin factory (also provides ``twisted.plugin.IPlugin``)."""

    name = Attribute("Unique short name; its config table is [plugins.NAME].")
    description = Attribute("One line for `rosey plugins` and !help.")
    default_enabled = Attribute("Enabled when the config does not say (bool).")
    migrations = Attribute("Path of the plugin's own Alembic versions folder, or None.")

    def parse_config(raw: Mapping[str, Any]) -> Any:
        """Validate the plugin's ``[plugins.NAME]`` table (``{}`` when absent) into a frozen
        value; raise :class:`PluginConfigError` naming the key, the value and what is expected."""

    def create(api: IPluginAPI) -> IPluginInstance:
        """A new instance (not started) using ``api``, an :class:`~rosey.api.IPluginAPI` for one
        channel whose ``settings`` are what :meth:`parse_config` returned."""


@implementer(IPluginInstance)
class Plugin:
    """Base class for plugin instances: tracked registrations, ``kv``, ``config``, a logger.

    ``self.api`` is the :class:`~rosey.api.IPluginAPI`; ``self.config`` its ``settings`` and
    ``self.kv`` its key/value store; ``self.log`` is a logger named after the class.
    """

    log = Logger()

    def __init__(self, api: IPluginAPI) -> None:
        self.api = api
        self.config = api.settings
        self.name: str = api.name
        self.kv: IKeyValue = api.kv
        self._commands: list[Command] = []
        self._handlers: list[tuple[str, Callable[[Event], Any]]] = []

    def add_command(self, *commands: Command) -> None:
        """Register commands; they are removed again on :meth:`stop`."""
        self.api.add_command(*commands)
        self._commands.extend(commands)

    def on(self, event: str, handler: Callable[[Event], Any]) -> None:
        """Run ``handler`` for ``event``; unregistered on :meth:`stop`."""
        self.api.on(event, handler)
        self._handlers.append((event, handler))

    def start(self) -> Deferred[None] | None:
        """Override: register commands and handlers."""
        return None

    def stop(self) -> Deferred[None] | None:
        """Remove every registered command and handler (call it from overrides).

        Only this instance's own registrations go: a command of the same name that another
        instance registered since (a reload's replacement) stays."""
        for cmd in self._commands:
            self.api.remove_command(cmd)
        for event, handler in self._handlers:
            self.api.off(event, handler)
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
        instance: Callable[[IPluginAPI], IPluginInstance],
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

    def create(self, api: IPluginAPI) -> IPluginInstance:
        return self._instance(api)

    def __repr__(self) -> str:
        return f"<rosey plugin {self.name}>"
