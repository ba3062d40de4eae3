"""The ``[plugins]`` table and the channels' ``enable_plugins``/``disable_plugins``, checked
against the plugins that were found (part of :mod:`rosey.daemon.config`).

Every problem found is reported at once: :class:`PluginsError` holds one message per problem, each
starting with its key path (the config adds them to its own list). A name that is not a plugin is
an error (with a "did you mean" for a near miss), except the name of a module that failed to
import: that plugin is skipped (it is listed in ``failed``), so that one broken file does not keep
the bot and the other plugins from running.

Each enabled plugin's ``[plugins.NAME]`` table is parsed by the plugin itself
(:func:`parse_plugin_config`, which puts the key path in front of every error); the result, with
the raw tables a reload parses again, is a :class:`PluginSet`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rosey.daemon.plugin_discovery import Discovery, PluginDiscoveryError, discover
from rosey.daemon.plugin_host import start_order
from rosey.plugin import IRoseyPlugin, PluginConfigError

__all__ = ["PluginSet", "PluginsConfig", "PluginsError", "parse_plugin_config", "resolve_plugins"]


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


_KEYS = ("dirs", "enable", "disable")


class PluginsError(ValueError):
    """The ``[plugins]`` table or a channel's plugin keys are invalid: ``errors``, one message
    per problem, each starting with its key path."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(self.errors))


class ChannelPlugins(Protocol):
    """What a channel's config says about plugins."""

    @property
    def enable_plugins(self) -> tuple[str, ...]: ...

    @property
    def disable_plugins(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class PluginsConfig:
    """The ``[plugins]`` table, resolved against the plugins that were found.

    ``enable`` and ``disable`` are effective: every plugin found is in exactly one of them
    (the ``enable``/``disable`` keys applied to each plugin's ``default_enabled``). A channel's
    ``enable_plugins``/``disable_plugins`` then adjust that set (:meth:`for_channel`).
    """

    dirs: tuple[str, ...] = ()
    enable: tuple[str, ...] = ()
    disable: tuple[str, ...] = ()
    #: Plugin modules that failed to import (skipped): ``"module: why"``.
    failed: tuple[str, ...] = ()
    #: The plugin factories, each one's validated settings and raw table.
    found: PluginSet = field(default_factory=PluginSet)

    def for_channel(self, channel: ChannelPlugins) -> tuple[str, ...]:
        """The plugins to run in ``channel``, in start order."""
        names = (set(self.enable) | set(channel.enable_plugins)) - set(channel.disable_plugins)
        return start_order(n for n in names if n in self.found.discovery.factories)


class _Check:
    """The plugins found, and every error met while checking names against them."""

    def __init__(self, found: Discovery, errors: list[str]) -> None:
        self.known = found.factories
        self.broken = {m.rpartition(".")[2] for m in found.failed}  # a plugin is usually named so
        self.errors = errors

    def strings(self, table: Mapping[str, Any], key: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list):
            self.errors.append(f"plugins.{key}: {value!r} is not a list of strings")
            return ()
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.errors.append(f"plugins.{key}[{i}]: {item!r} is not a string")
        return tuple(v for v in value if isinstance(v, str))

    def names(self, names: tuple[str, ...], key: str) -> tuple[str, ...]:
        """The names that are plugins; each unknown or repeated name is an error."""
        for n in names:
            if n not in self.known and n not in self.broken:
                close = difflib.get_close_matches(n, list(self.known), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                known = ", ".join(self.known) or "none"
                self.errors.append(f"{key}: unknown plugin {n!r}{hint} (known: {known})")
        twice = [n for n in names if names.count(n) > 1]
        if twice:
            self.errors.append(f"{key}: {twice[0]!r} is listed twice")
        return tuple(dict.fromkeys(n for n in names if n in self.known))

    def disjoint(self, on: tuple[str, ...], off: tuple[str, ...], where: str, keys: str) -> None:
        if set(on) & set(off):
            both = sorted(set(on) & set(off))[0]
            self.errors.append(f"{where}: {both!r} is in both {keys}")


def _dirs(table: Mapping[str, Any], errors: list[str]) -> tuple[str, ...]:
    value = table.get("dirs", [])
    if not isinstance(value, list) or not all(isinstance(d, str) for d in value):
        errors.append(f"plugins.dirs: {value!r} is not a list of strings")
        return ()
    for i, directory in enumerate(value):
        if not Path(directory).is_dir():
            errors.append(f"plugins.dirs[{i}]: {directory!r} is not a directory")
    return tuple(value)


def resolve_plugins(
    table: Mapping[str, Any], channels: Sequence[ChannelPlugins], found: Discovery | None
) -> PluginsConfig:
    """Check ``table`` (``[plugins]``) and the channels' keys; discover the plugins (with the
    table's drop-in ``dirs``) unless ``found`` is given; parse each needed plugin's settings.

    Raises :class:`PluginsError` listing every problem."""
    errors: list[str] = []
    dirs = _dirs(table, errors)
    if found is None:
        if errors:  # discovery with a bad drop-in directory would only add noise
            raise PluginsError(errors)
        try:
            found = discover(dirs)
        except PluginDiscoveryError as e:
            raise PluginsError([f"plugins: {e}"]) from None
    check = _Check(found, errors)
    known = check.known
    enable = check.names(check.strings(table, "enable"), "plugins.enable")
    disable = check.names(check.strings(table, "disable"), "plugins.disable")
    check.disjoint(enable, disable, "plugins", "enable and disable")
    tables: dict[str, Mapping[str, Any]] = {}
    for key, value in table.items():
        if key in _KEYS:
            continue
        if not isinstance(value, Mapping):
            close = difflib.get_close_matches(key, _KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            errors.append(
                f"plugins.{key}: unknown key{hint} (expected {', '.join(_KEYS)} or a "
                "[plugins.NAME] table)"
            )
        elif check.names((key,), f"plugins.{key}"):
            tables[key] = value
    per_channel: list[tuple[str, ...]] = []
    for i, ch in enumerate(channels):
        on = check.names(ch.enable_plugins, f"channel[{i}].enable_plugins")
        off = check.names(ch.disable_plugins, f"channel[{i}].disable_plugins")
        check.disjoint(on, off, f"channel[{i}]", "enable_plugins and disable_plugins")
        per_channel.append(on)
    default = {n for n, f in known.items() if f.default_enabled}
    enabled = (default | set(enable)) - set(disable)
    # Settings are parsed where the plugin may run, and wherever the operator wrote a table.
    wanted = enabled.union(*per_channel, tables)
    settings = {}
    for name in sorted(wanted):
        try:
            settings[name] = parse_plugin_config(known[name], tables.get(name, {}))
        except PluginConfigError as e:
            errors.append(str(e))
    if errors:
        raise PluginsError(errors)
    return PluginsConfig(
        dirs=dirs,
        enable=start_order(enabled),
        disable=tuple(sorted(set(known) - enabled)),
        failed=tuple(f"{module}: {why}" for module, why in found.failed.items()),
        found=PluginSet(found, settings, tables),
    )
