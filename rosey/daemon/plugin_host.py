"""One channel's plugins: :class:`PluginHost` creates and starts them after the bot and stops
them before it, each through its own :class:`~rosey.api_impl.PluginAPI`.

The plugins come from :mod:`rosey.daemon.plugin_discovery` with settings checked by
:mod:`rosey.daemon.plugin_config`; :mod:`rosey.daemon.reload` swaps one for new code through
:meth:`PluginHost.replace`, :meth:`PluginHost.stop_plugin` and :meth:`PluginHost.start_plugin`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from inspect import iscoroutine
from typing import TYPE_CHECKING, Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from rosey.api_impl import PluginAPI
from rosey.plugin import IPluginInstance, IRoseyPlugin

if TYPE_CHECKING:
    from rosey.api import IHTTPClient
    from rosey.bot.service import Bot

__all__ = ["PluginFailed", "PluginHost", "start_order"]

log = Logger(namespace="rosey.daemon.plugins")


class PluginFailed(Exception):
    """A plugin could not be created or started (the message names it; ``__cause__`` says why)."""


def start_order(names: Iterable[str]) -> tuple[str, ...]:
    """The order plugins start in: ``core`` first (its commands win a name clash), then by
    name. They stop in the reverse order."""
    return tuple(sorted(set(names), key=lambda n: (n != "core", n)))


class PluginHost(Service):
    """Creates and starts one channel's plugins after the bot, and stops them before it.

    Make it a child of the :class:`~rosey.bot.service.Bot` (after its queue): it starts once the
    bot listens to the connection and stops, in reverse order, before the queue does. A plugin
    whose ``create`` or ``start`` raises, or whose start Deferred fails, is logged with its name,
    stopped again (so half-made registrations go) and left out; the bot and the other plugins go
    on. ``started`` fires (never fails) once every start settled.
    """

    def __init__(
        self,
        bot: Bot,
        label: str,
        plugins: Sequence[tuple[str, IRoseyPlugin, Any]],
        *,
        http: IHTTPClient | None = None,
    ) -> None:
        self.bot = bot
        #: The HTTP client the plugins' ``api.post_json`` uses (None: it fails).
        self.http = http
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
            instance = IPluginInstance(
                factory.create(PluginAPI(self.bot, name, config, http=self.http))
            )
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
