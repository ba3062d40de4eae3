"""The daemon's plugins across channels, and their atomic reload from the manhole.

``reload_plugin(name)`` (:meth:`PluginManager.reload`):

1. runs the current source of the module that defines the plugin as a *new* module object; only
   if that succeeds does it replace the old one in ``sys.modules``. (``importlib.reload`` would
   run the new code inside the old module's namespace, so a module failing halfway would leave
   the running instances calling a mix of old and new functions.)
2. finds the plugin of that name in the new module and parses its ``[plugins.NAME]`` table
   (as read at startup) with the new code;
3. stops the old instance in every channel where it runs, then creates and starts a new one in
   every channel where the plugin is enabled. Old and new never run side by side, so their
   commands never clash;
4. if every start succeeded, the new code is kept. If anything failed, the new instances that
   did start are stopped, the old module goes back into ``sys.modules``, and the old code runs
   again: fresh instances from the old factory with the old settings, started where the old
   ones ran.

Nothing is touched until step 3, so a module that does not import or a table the new code
refuses leaves the running instances alone. The result (a :class:`ReloadResult`) says what
happened; the manhole prints it.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from rosey.daemon.plugin_config import parse_plugin_config
from rosey.daemon.plugin_host import PluginFailed, PluginHost
from rosey.plugin import IRoseyPlugin

if TYPE_CHECKING:
    from rosey.api import IHTTPClient
    from rosey.bot.service import Bot
    from rosey.daemon.config import ChannelConfig, PluginsConfig

__all__ = ["PluginManager", "ReloadResult", "Text", "import_fresh"]

log = Logger(namespace="rosey.daemon.plugins")


@dataclass(frozen=True)
class ReloadResult:
    """What a reload did; its repr is the message (for the manhole)."""

    ok: bool
    message: str

    def __repr__(self) -> str:
        return self.message


class Text(str):
    """A string the manhole shows as it is (no quotes, real line breaks)."""

    def __repr__(self) -> str:
        return str(self)


def import_fresh(name: str) -> ModuleType:
    """Run module ``name``'s current source as a new module and put it in ``sys.modules``;
    if it raises, the previous module (if any) is put back and the error propagates.

    The source is compiled from the file, not from ``__pycache__``: a file rewritten within the
    same second at the same size would otherwise run its stale bytecode.
    """
    importlib.invalidate_caches()
    parent, _, child = name.rpartition(".")
    search = list(getattr(sys.modules[parent], "__path__", [])) if parent else None
    spec = importlib.machinery.PathFinder.find_spec(name, search)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"{name} is no longer on the plugin path", name=name)
    source = Path(spec.origin).read_bytes()
    code = compile(source, spec.origin, "exec", dont_inherit=True)
    module = importlib.util.module_from_spec(spec)
    old = sys.modules.get(name)
    sys.modules[name] = module  # the module's own code may look itself up while it runs
    try:
        exec(code, module.__dict__)
    except BaseException:
        _put_back(name, old)
        raise
    if parent:
        setattr(sys.modules[parent], child, module)
    return module


def _put_back(name: str, module: ModuleType | None) -> None:
    parent, _, child = name.rpartition(".")
    if module is None:
        sys.modules.pop(name, None)
        return
    sys.modules[name] = module
    if parent in sys.modules:
        setattr(sys.modules[parent], child, module)


class PluginManager:
    """Every channel's :class:`PluginHost`, the plugins' factories and settings, and reload."""

    def __init__(self, config: PluginsConfig, *, http: IHTTPClient | None = None) -> None:
        self.config = config
        #: The HTTP client every channel's plugins get for ``api.post_json``.
        self.http = http
        found = config.found
        self.factories: dict[str, IRoseyPlugin] = dict(found.discovery.factories)
        self.modules: dict[str, str] = dict(found.discovery.modules)
        self.settings: dict[str, Any] = dict(found.settings)
        self.hosts: list[PluginHost] = []
        self._reloading = False

    def host_for(self, bot: Bot, channel: ChannelConfig) -> PluginHost:
        """The (not started) host of the plugins enabled in ``channel``."""
        plugins = [
            (name, self.factories[name], self.settings.get(name))
            for name in self.config.for_channel(channel)
        ]
        host = PluginHost(bot, channel.label, plugins, http=self.http)
        self.hosts.append(host)
        return host

    def __repr__(self) -> str:
        return str(self.status())

    def status(self) -> Text:
        """One line per plugin: where it runs and where it failed."""
        lines = []
        for name in sorted(self.factories):
            running = [h.label for h in self.hosts if name in h.instances]
            failed = [f"{h.label} ({h.failed[name]})" for h in self.hosts if name in h.failed]
            where = ", ".join(running) or "nowhere"
            lines.append(
                f"{name}: running in {where}"
                + (f"; failed in {', '.join(failed)}" if failed else "")
            )
        for module, why in self.config.found.discovery.failed.items():
            lines.append(f"({module} did not import: {why})")
        return Text("\n".join(lines))

    # -- reload -------------------------------------------------------------------------------

    def reload(self, name: str) -> Deferred[ReloadResult]:
        """Reload plugin ``name`` atomically (see the module docs). Never fails: the result
        says whether the new code runs or the old one still does, and why."""
        if self._reloading:
            return Deferred.fromCoroutine(_done(False, "a reload is already running; try again"))
        self._reloading = True
        d = Deferred.fromCoroutine(self._reload(name))

        def finished(result: ReloadResult) -> ReloadResult:
            self._reloading = False
            (log.info if result.ok else log.error)(
                "reload_plugin: {message}", message=result.message
            )
            return result

        return d.addCallback(finished)

    async def _reload(self, name: str) -> ReloadResult:
        old_factory = self.factories.get(name)
        if old_factory is None:
            known = ", ".join(sorted(self.factories)) or "none"
            return ReloadResult(False, f"no plugin named {name!r} (known: {known})")
        module_name = self.modules[name]
        old_module = sys.modules.get(module_name)
        keep = f"plugin {name} was not reloaded; the old code keeps running"
        try:
            module = import_fresh(module_name)
        except BaseException as e:
            return ReloadResult(False, f"{keep}: {module_name} failed to import: {_why(e)}")
        committed = False
        try:
            factory = _find(module, name)
            if isinstance(factory, str):
                return ReloadResult(False, f"{keep}: {factory}")
            try:
                settings = parse_plugin_config(factory, self.config.found.tables.get(name, {}))
            except ValueError as e:
                return ReloadResult(False, f"{keep}: {e}")
            hosts = [h for h in self.hosts if name in h.plugins]
            error = await self._swap(name, hosts, (factory, settings), old_factory)
            if error is not None:
                return ReloadResult(False, f"{keep}: {error}")
            committed = True
        finally:
            if not committed:
                _put_back(module_name, old_module)
        self.factories[name] = factory
        self.settings[name] = settings
        live = sum(1 for h in hosts if name in h.instances)
        return ReloadResult(
            True,
            f"reloaded plugin {name} from {module_name}: running in "
            f"{live} channel{'' if live == 1 else 's'}",
        )

    async def _swap(
        self,
        name: str,
        hosts: Sequence[PluginHost],
        new: tuple[IRoseyPlugin, Any],
        old_factory: IRoseyPlugin,
    ) -> str | None:
        """Stop the old instances, start new ones; on failure put the old code back. Returns
        the error, or None on success (then every host uses the new factory from now on)."""
        old_settings = self.settings.get(name)
        was_running = [h for h in hosts if name in h.instances]
        for host in was_running:
            await host.stop_plugin(name)
        started: list[PluginHost] = []
        try:
            for host in hosts:
                if host.running:
                    await host.start_plugin(name, *new)
                    started.append(host)
        except PluginFailed as e:
            for host in started:
                await host.stop_plugin(name)
            for host in was_running:
                try:
                    await host.start_plugin(name, old_factory, old_settings)
                except PluginFailed as again:
                    log.error("reload_plugin: {error}", error=str(again))
            cause = e.__cause__
            return f"{e} ({type(cause).__name__})" if cause is not None else str(e)
        for host in hosts:
            host.replace(name, *new)
        return None


def _find(module: ModuleType, name: str) -> IRoseyPlugin | str:
    """The plugin ``name`` defined in ``module``, or why there is none."""
    found = {id(v): v for v in vars(module).values() if IRoseyPlugin.providedBy(v)}
    matching = [v for v in found.values() if getattr(v, "name", None) == name]
    if len(matching) != 1:
        how = "no longer defines" if not matching else "defines more than one"
        return f"{module.__name__} {how} a plugin named {name!r}"
    factory: IRoseyPlugin = matching[0]
    return factory


def _why(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


async def _done(ok: bool, message: str) -> ReloadResult:
    return ReloadResult(ok, message)
