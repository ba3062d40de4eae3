"""The **core** plugin: the commands every rosey has.

``help``, ``about``, ``ping``, ``roll`` and ``flip`` (:mod:`rosey.bot.builtins`), and on top of
storage ``stats``, ``seen``, ``top``, ``peak`` and ``tell`` with the delivery of ``!tell``
messages (:mod:`rosey.bot.stats`). Enabled by default; it takes no settings.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred

from rosey import events
from rosey.bot.builtins import builtin_commands
from rosey.bot.stats import stats_commands
from rosey.bot.tell import TellDelivery
from rosey.plugin import Plugin, PluginFactory

__all__ = ["Core", "core"]


class Core(Plugin):
    """The built-in and storage commands for one channel's bot."""

    tells: TellDelivery | None = None

    def start(self) -> Deferred[None] | None:
        bot = self.bot

        def channel() -> str:
            return str(bot.connection.channel)

        self.add_command(*builtin_commands(bot.clock, channel, started=bot.created_at))
        self.tells = TellDelivery(bot)
        self.add_command(*stats_commands(bot, self.tells))
        self.on(events.USER_JOIN, self.tells.on_event)
        self.on(events.MESSAGE, self.tells.on_event)
        return None


core = PluginFactory(
    "core",
    Core,
    description="help, about, ping, roll, flip; stats, seen, top, peak, tell",
)
