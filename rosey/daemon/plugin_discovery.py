"""Plugins in the daemon: discovery, one :class:`PluginHost` per channel, and atomic reload.

Discovery is ``twisted.plugin.getPlugins(IRoseyPlugin, rosey.plugins)``. Configured drop-in
directories are appended to ``rosey.plugins.__path__`` first, so a third-party plugin is one
``.py`` file in such a directory (it imports as ``rosey.plugins.<file name>``). A module that
fails to import is logged and skipped; two plugins with one name, or a drop-in module whose name
an earlier directory already provides, are errors (:class:`PluginDiscoveryError`).

``getPlugins`` keeps a ``dropin.cache`` pickle in each directory it scans. Where that file
cannot be written (a read-only directory) Twisted logs one line and scans the modules again at
the next start; nothing breaks.

Reloading (:meth:`PluginManager.reload`, ``reload_plugin(name)`` in the manhole) lives in
:mod:`rosey.daemon.reload`.
"""

from __future__ import annotations

import os
import pkgutil
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from inspect import iscoroutine
from typing import TYPE_CHECKING, Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, maybeDeferred
from twisted.logger import ILogObserver, LogEvent, Logger, globalLogPublisher
from twisted.plugin import getPlugins
from twisted.python.failure import Failure
from zope.interface import provider

import rosey.plugins
from rosey.api_impl import PluginAPI
from rosey.plugin import IPluginInstance, IRoseyPlugin, PluginConfigError

if TYPE_CHECKING:
    from rosey.bot.service import Bot

__all__ = [
    "PACKAGE",
    "Discovery",
    "PluginDiscoveryError",
    "PluginFailed",
    "PluginHost",
    "PluginSet",
    "add_dirs",
    "discover",
    "parse_plugin_config",
    "start_order",
]

log = Logger(namespace="rosey.daemon.plugins")

PACKAGE = rosey.plugins.__name__
#: A plugin's name: its config table is ``[plugins.NAME]`` and its key/value namespace NAME.
PLUGIN_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


class PluginDiscoveryError(ValueError):
    """Plugins cannot be told apart: a duplicate or invalid name, or a shadowed module."""


class PluginFailed(Exception):
    """A plugin could not be created or started (the message names it; ``__cause__`` says why)."""


@dataclass(frozen=True)
class Discovery:
    """What :func:`discover` found."""

    #: Plugin name -> factory, sorted by name.
    factories: Mapping[str, IRoseyPlugin] = field(default_factory=dict)
    #: Plugin name -> the module that defines it (``rosey.plugins.<module>``).
    modules: Mapping[str, str] = field(default_factory=dict)
    #: Module -> why it failed to import (``"SyntaxError: …"``); its plugins are skipped.
    failed: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        broken = f"; failed to import: {', '.join(self.failed)}" if self.failed else ""
        return f"<plugins {', '.join(self.factories) or '(none)'}{broken}>"


@dataclass(frozen=True)
class PluginSet:
    """The discovered plugins with their validated settings (part of the daemon's config).

    ``tables`` keeps each plugin's raw ``[plugins.NAME]`` table, parsed again by a reload; its
    repr never shows values (a plugin table may hold a token).
    """

    discovery: Discovery = field(default_factory=Discovery)
    settings: Mapping[str, Any] = field(default_factory=dict)
    tables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __repr__(self) -> str:
        return repr(self.discovery)


def start_order(names: Iterable[str]) -> tuple[str, ...]:
    """The order plugins start in: ``core`` first (its commands win a name clash), then by
    name. They stop in the reverse order."""
    return tuple(sorted(set(names), key=lambda n: (n != "core", n)))


_LEADING_KEY = re.compile(r"[A-Za-z_][\w-]*(\[\d+\])*[.:\[]")


def parse_plugin_config(factory: IRoseyPlugin, raw: Mapping[str, Any]) -> Any:
    """``factory.parse_config(raw)``, every error a :class:`PluginConfigError` whose message
    starts with the full key path (``plugins.NAME.key: …``) whatever the plugin wrote."""
    path = f"plugins.{factory.name}"
    try:
        return factory.parse_config(raw)
    except PluginConfigError as e:
        message = str(e)
        if message.startswith(path):
            raise
        if _LEADING_KEY.match(message):
            raise PluginConfigError(f"{path}.{message}") from None
        raise PluginConfigError(f"{path}: {message}") from None
    except Exception as e:
        raise PluginConfigError(
            f"{path}: the plugin could not read its settings ({type(e).__name__}: {e})"
        ) from e


# -- discovery ------------------------------------------------------------------------------------


def _modules_in(path: str) -> list[str]:
    return [m.name for m in pkgutil.iter_modules([path]) if m.name != "__init__"]


def add_dirs(dirs: Iterable[str]) -> None:
    """Append drop-in directories to ``rosey.plugins.__path__`` (once each).

    Raises :class:`PluginDiscoveryError` if a module in one of them has the name of a module in
    a directory earlier on the path: Python would import the earlier one and silently ignore it.
    """
    path: list[str] = rosey.plugins.__path__
    for directory in dirs:
        directory = os.path.abspath(directory)
        if directory in path:
            continue
        taken = {name: where for where in path for name in _modules_in(where)}
        for name in _modules_in(directory):
            if name in taken:
                raise PluginDiscoveryError(
                    f"{os.path.join(directory, name)}.py would be module {PACKAGE}.{name}, "
                    f"which {taken[name]} already provides: rename it"
                )
        path.append(directory)


def discover(dirs: Sequence[str] = ()) -> Discovery:
    """Find every plugin in ``rosey.plugins`` and the drop-in ``dirs``."""
    add_dirs(dirs)
    files = _module_files()
    failures: list[Failure] = []

    @provider(ILogObserver)
    def catch(event: LogEvent) -> None:
        failure = event.get("log_failure", event.get("failure"))  # new-style or legacy log
        if isinstance(failure, Failure):
            failures.append(failure)

    globalLogPublisher.addObserver(catch)  # twisted.plugin reports import errors with log.err
    try:
        found = list(getPlugins(IRoseyPlugin, rosey.plugins))
    finally:
        globalLogPublisher.removeObserver(catch)

    failed: dict[str, str] = {}
    for failure in failures:
        module = _failed_module(failure, files)
        kind = type(failure.value).__name__
        failed.setdefault(module, f"{kind}: {failure.getErrorMessage()}")
    for module, why in failed.items():
        log.error(
            "plugin module {module} failed to import and is skipped (the other plugins load): "
            "{why}",
            module=module,
            why=why,
        )

    factories: dict[str, IRoseyPlugin] = {}
    modules: dict[str, str] = {}
    for factory in found:
        name = getattr(factory, "name", None)
        module = defining_module(factory)
        if not isinstance(name, str) or not PLUGIN_NAME.fullmatch(name):
            raise PluginDiscoveryError(
                f"the plugin {factory!r} in {module} has the name {name!r}: a plugin name is "
                "1-32 of a-z, 0-9 and _, starting with a letter"
            )
        other = factories.get(name)
        if other is factory:
            continue  # the same object seen twice
        if other is not None:
            raise PluginDiscoveryError(
                f"two plugins are named {name!r}: in {modules[name]} and in {module}; "
                "remove or rename one"
            )
        factories[name] = factory
        modules[name] = module
    names = sorted(factories)
    return Discovery({n: factories[n] for n in names}, {n: modules[n] for n in names}, dict(failed))


def _module_files() -> dict[str, str]:
    """Absolute file path -> module name, for every module on the package's path."""
    files: dict[str, str] = {}
    for where in rosey.plugins.__path__:
        for name in _modules_in(where):
            base = os.path.join(os.path.abspath(where), name)
            for candidate in (base + ".py", os.path.join(base, "__init__.py")):
                files.setdefault(candidate, f"{PACKAGE}.{name}")
    return files


def _failed_module(failure: Failure, files: Mapping[str, str]) -> str:
    """The plugin module a failed import came from (a SyntaxError names its file; otherwise
    the innermost traceback frame in a plugin file)."""
    filename = getattr(failure.value, "filename", None)
    if isinstance(filename, str) and os.path.abspath(filename) in files:
        return files[os.path.abspath(filename)]
    for frame in reversed(failure.frames):
        module = files.get(os.path.abspath(frame[1]))
        if module is not None:
            return module
    return f"{PACKAGE}.?"


def defining_module(factory: object) -> str:
    """The ``rosey.plugins.*`` module that holds ``factory`` (the first by name if several)."""
    prefix = PACKAGE + "."
    for name in sorted(sys.modules):
        module = sys.modules[name]
        if not name.startswith(prefix) or name.count(".") != PACKAGE.count(".") + 1:
            continue
        if any(value is factory for value in vars(module).values()):
            return name
    return f"{PACKAGE}.?"


# -- one channel's plugins ------------------------------------------------------------------------


class PluginHost(Service):
    """Creates and starts one channel's plugins after the bot, and stops them before it.

    Make it a child of the :class:`~rosey.bot.service.Bot` (after its queue): it starts once the
    bot listens to the connection and stops, in reverse order, before the queue does. A plugin
    whose ``create`` or ``start`` raises, or whose start Deferred fails, is logged with its name,
    stopped again (so half-made registrations go) and left out; the bot and the other plugins go
    on. ``started`` fires (never fails) once every start settled.
    """

    def __init__(
        self, bot: Bot, label: str, plugins: Sequence[tuple[str, IRoseyPlugin, Any]]
    ) -> None:
        self.bot = bot
        self.label = label
        self.plugins: dict[str, tuple[IRoseyPlugin, Any]] = {
            name: (factory, config) for name, factory, config in plugins
        }
        self.order: tuple[str, ...] = start_order(self.plugins)
        #: Running instances by plugin name.
        self.instances: dict[str, IPluginInstance] = {}
        #: Plugins that failed to start here: name -> why.
        self.failed: dict[str, str] = {}
        self.started: Deferred[None] | None = None
        self.setName("plugins")

    def startService(self) -> None:
        super().startService()
        # Each start runs up to its first wait right away, so registrations happen in order.
        starts = [
            Deferred.fromCoroutine(self._start_logged(name, *self.plugins[name]))
            for name in self.order
        ]
        self.started = DeferredList(starts).addCallback(lambda _: None)

    def stopService(self) -> Deferred[None]:
        super().stopService()
        return Deferred.fromCoroutine(self._stop_all())

    async def _start_logged(self, name: str, factory: IRoseyPlugin, config: Any) -> None:
        try:
            await self.start_plugin(name, factory, config)
        except PluginFailed as e:
            log.failure(
                "{error}; the bot and the other plugins go on",
                Failure(e.__cause__ or e),
                error=str(e),
                plugin=name,
                channel=self.label,
            )

    async def _stop_all(self) -> None:
        for name in reversed(self.order):
            await self.stop_plugin(name)
        for name in list(self.instances):  # not in the order (cannot happen, but never leak)
            await self.stop_plugin(name)

    async def start_plugin(self, name: str, factory: IRoseyPlugin, config: Any) -> None:
        """Create and start ``name``; on failure undo what it did and raise
        :class:`PluginFailed` (chained to the cause)."""
        self.failed.pop(name, None)
        where = f"plugin {name} in {self.label}"
        try:
            instance = IPluginInstance(factory.create(PluginAPI(self.bot, name, config)))
        except Exception as e:
            self.failed[name] = f"create: {type(e).__name__}: {e}"
            raise PluginFailed(f"{where} could not be created: {e}") from e
        try:
            result = instance.start()
            if iscoroutine(result):
                result = Deferred.fromCoroutine(result)
            self.instances[name] = instance
            if isinstance(result, Deferred):
                await result
        except Exception as e:
            self.failed[name] = f"start: {type(e).__name__}: {e}"
            self.instances.pop(name, None)
            await self._stop_instance(name, instance)
            raise PluginFailed(f"{where} failed to start: {e}") from e

    async def stop_plugin(self, name: str) -> None:
        """Stop ``name`` if it runs here (errors are logged, never raised)."""
        instance = self.instances.pop(name, None)
        if instance is not None:
            await self._stop_instance(name, instance)

    async def _stop_instance(self, name: str, instance: IPluginInstance) -> None:
        try:
            await maybeDeferred(instance.stop)
        except Exception:
            log.failure(
                "plugin {plugin} in {channel} failed to stop", plugin=name, channel=self.label
            )

    def replace(self, name: str, factory: IRoseyPlugin, config: Any) -> None:
        """Use ``factory`` and ``config`` for ``name`` from now on (after a reload)."""
        self.plugins[name] = (factory, config)
