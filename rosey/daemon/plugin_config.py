"""The ``[plugins]`` table and the channels' ``enable_plugins``/``disable_plugins``, checked
against the plugins that were found (part of :mod:`rosey.daemon.config`).

Every error is a ``ValueError`` whose message starts with the key path (the config turns it into
a ``ConfigError``). A name that is not a plugin is an error, except the name of a module that
failed to import: that plugin is skipped (it is listed in ``failed``), so that one broken file
does not keep the bot and the other plugins from running.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rosey.daemon.plugins import (
    Discovery,
    PluginDiscoveryError,
    PluginSet,
    discover,
    parse_plugin_config,
    start_order,
)

__all__ = ["PluginsConfig", "resolve_plugins"]

_KEYS = ("dirs", "enable", "disable")


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


def _strings(table: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list):
        raise ValueError(f"plugins.{key}: {value!r} is not a list of strings")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise ValueError(f"plugins.{key}[{i}]: {item!r} is not a string")
    return tuple(value)


def resolve_plugins(
    table: Mapping[str, Any], channels: Sequence[ChannelPlugins], found: Discovery | None
) -> PluginsConfig:
    """Check ``table`` (``[plugins]``) and the channels' keys; discover the plugins (with the
    table's drop-in ``dirs``) unless ``found`` is given; parse each needed plugin's settings."""
    dirs = _strings(table, "dirs")
    for i, directory in enumerate(dirs):
        if not Path(directory).is_dir():
            raise ValueError(f"plugins.dirs[{i}]: {directory!r} is not a directory")
    if found is None:
        try:
            found = discover(dirs)
        except PluginDiscoveryError as e:
            raise ValueError(f"plugins: {e}") from None
    known = found.factories
    broken = {m.rpartition(".")[2] for m in found.failed}  # a plugin is usually named so

    def check(names: tuple[str, ...], key: str) -> tuple[str, ...]:
        unknown = [n for n in names if n not in known and n not in broken]
        if unknown:
            listed = ", ".join(map(repr, unknown))
            raise ValueError(
                f"{key}: unknown plugin {listed} (known: {', '.join(known) or 'none'})"
            )
        twice = [n for n in names if names.count(n) > 1]
        if twice:
            raise ValueError(f"{key}: {twice[0]!r} is listed twice")
        return tuple(n for n in names if n in known)

    enable = check(_strings(table, "enable"), "plugins.enable")
    disable = check(_strings(table, "disable"), "plugins.disable")
    if set(enable) & set(disable):
        both = sorted(set(enable) & set(disable))[0]
        raise ValueError(f"plugins: {both!r} is in both enable and disable")
    tables: dict[str, Mapping[str, Any]] = {}
    for key, value in table.items():
        if key in _KEYS:
            continue
        if not isinstance(value, Mapping):
            raise ValueError(
                f"plugins.{key}: unknown key (expected {', '.join(_KEYS)} or a [plugins.NAME] "
                "table)"
            )
        if check((key,), f"plugins.{key}"):
            tables[key] = value
    per_channel: list[tuple[str, ...]] = []
    for i, ch in enumerate(channels):
        on = check(ch.enable_plugins, f"channel[{i}].enable_plugins")
        off = check(ch.disable_plugins, f"channel[{i}].disable_plugins")
        if set(on) & set(off):
            both = sorted(set(on) & set(off))[0]
            raise ValueError(
                f"channel[{i}]: {both!r} is in both enable_plugins and disable_plugins"
            )
        per_channel.append(on)
    default = {n for n, f in known.items() if f.default_enabled}
    enabled = (default | set(enable)) - set(disable)
    # Settings are parsed where the plugin may run, and wherever the operator wrote a table.
    wanted = enabled.union(*per_channel, tables)
    settings = {
        name: parse_plugin_config(known[name], tables.get(name, {})) for name in sorted(wanted)
    }
    return PluginsConfig(
        dirs=dirs,
        enable=start_order(enabled),
        disable=tuple(sorted(set(known) - enabled)),
        failed=tuple(f"{module}: {why}" for module, why in found.failed.items()),
        found=PluginSet(found, settings, tables),
    )
