"""Finding the plugins: ``rosey.plugins`` and the configured drop-in directories.

Discovery is ``twisted.plugin.getPlugins(IRoseyPlugin, rosey.plugins)``. Configured drop-in
directories are appended to ``rosey.plugins.__path__`` first, so a third-party plugin is one
``.py`` file in such a directory (it imports as ``rosey.plugins.<file name>``). A module that
fails to import is logged and skipped; two plugins with one name, or a drop-in module whose name
an earlier directory already provides, are errors (:class:`PluginDiscoveryError`).

``getPlugins`` keeps a ``dropin.cache`` pickle in each directory it scans. Where that file
cannot be written (a read-only directory) Twisted logs one line and scans the modules again at
the next start; nothing breaks.

What the daemon does with the plugins found: their settings are checked in
:mod:`rosey.daemon.plugin_config`, each channel runs its own in a
:class:`~rosey.daemon.plugin_host.PluginHost`, and a reload from the manhole is
:mod:`rosey.daemon.reload`.
"""

from __future__ import annotations

import os
import pkgutil
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from twisted.logger import ILogObserver, LogEvent, Logger, globalLogPublisher
from twisted.plugin import getPlugins
from twisted.python.failure import Failure
from zope.interface import provider

import rosey.plugins
from rosey.plugin import IRoseyPlugin

__all__ = [
    "PACKAGE",
    "Discovery",
    "PluginDiscoveryError",
    "add_dirs",
    "discover",
]

log = Logger(namespace="rosey.daemon.plugins")

PACKAGE = rosey.plugins.__name__
#: A plugin's name: its config table is ``[plugins.NAME]`` and its key/value namespace NAME.
PLUGIN_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


class PluginDiscoveryError(ValueError):
    """Plugins cannot be told apart: a duplicate or invalid name, or a shadowed module."""


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
