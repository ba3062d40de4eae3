"""``twistd rosey``: options and the service tree.

``makeService`` validates the configuration before the reactor starts (a broken config exits 1
with a one-line message) and builds, for each configured channel, a connection service and a
bot service under one ``MultiService``.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar

from twisted.application.service import IService, MultiService
from twisted.python import usage

from rosey.daemon.config import ChannelConfig, Config, ConfigError, load
from rosey.daemon.shutdown import install_graceful_stop


class Options(usage.Options):
    """Command line of ``twistd rosey``."""

    optParameters: ClassVar[list[list[str]]] = [
        ["config", "c", "rosey.toml", "Path to the TOML configuration file."]
    ]

    def postOptions(self) -> None:
        try:
            self.loaded: Config = load(self["config"])
        except ConfigError as e:
            # One line on stderr and status 1, before the reactor starts.
            sys.stderr.write(f"rosey: config error: {e}\n")
            raise SystemExit(1) from None


def make_channel_services(channel: ChannelConfig, config: Config, reactor: Any) -> MultiService:
    """The connection and the bot of one channel, named after the channel."""
    from rosey.bot.service import Bot
    from rosey.wire.connection import CyTubeConnection

    services = MultiService()
    services.setName(channel.label)
    connection = CyTubeConnection(
        channel.site,
        channel.name,
        username=channel.username,
        password=channel.password.value if channel.password else None,
        channel_password=channel.channel_password.value if channel.channel_password else None,
        eio=channel.eio,
        reactor=reactor,
    )
    bot = Bot(connection, clock=reactor, prefix=config.bot.command_prefix)
    connection.setServiceParent(services)
    bot.setServiceParent(services)
    return services


def makeService(options: Options) -> IService:
    """Build the whole daemon from validated options."""
    from twisted.internet import reactor

    config = options.loaded
    install_graceful_stop(reactor)
    top = MultiService()
    for channel in config.channels:
        make_channel_services(channel, config, reactor).setServiceParent(top)
    return top
