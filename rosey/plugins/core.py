"""The **core** plugin: the commands every rosey has.

``help``, ``about``, ``ping``, ``roll`` and ``flip`` (:mod:`rosey.plugins.core_builtins`), and
on top of storage ``stats``, ``seen``, ``top``, ``peak`` and ``tell`` with the delivery of
``!tell`` messages (:mod:`rosey.plugins.core_stats`, :mod:`rosey.plugins.core_tell`). An
ordinary plugin written against :class:`~rosey.api.IPluginAPI`; enabled by default; it takes no
settings.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred

from rosey import events
from rosey.plugin import Plugin, PluginFactory
from rosey.plugins.core_builtins import builtin_commands
from rosey.plugins.core_stats import stats_commands
from rosey.plugins.core_tell import TellDelivery

__all__ = ["Core", "core"]


class Core(Plugin):
    """The built-in and storage commands for one channel."""

    tells: TellDelivery | None = None

    def start(self) -> Deferred[None] | None:
        api = self.api
        channel = api.channel

        def channel_name() -> str:
            return str(channel.name)

        self.add_command(*builtin_commands(api.clock, channel_name, started=api.started_at))
        self.tells = TellDelivery(api)
        self.add_command(*stats_commands(api, self.tells))
        self.on(events.USER_JOIN, self.tells.on_event)
        self.on(events.MESSAGE, self.tells.on_event)
        return None


core = PluginFactory(
    "core",
    Core,
    description="help, about, ping, roll, flip; stats, seen, top, peak, tell",
)
