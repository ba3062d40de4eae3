"""``twistd rosey``: options and the service tree.

``makeService`` validates the configuration before the reactor starts (a broken config exits 1
with a one-line message) and builds, for each configured channel, a connection service and a
bot service under one ``MultiService``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, ClassVar

from twisted.application.service import IService, MultiService
from twisted.python import usage

from rosey.daemon.config import ChannelConfig, Config, ConfigError, load
from rosey.daemon.shutdown import install_graceful_stop

if TYPE_CHECKING:
    from rosey.storage.service import StorageService


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


def migrate_database(url: str) -> None:
    """Bring the schema up to date before the reactor starts; exit 1 on failure."""
    from rosey.storage import StorageError, migrate

    try:
        migrate.upgrade(url)
    except StorageError as e:
        sys.stderr.write(f"rosey: database: {e}\n")
        raise SystemExit(1) from None


def make_channel_services(
    channel: ChannelConfig, config: Config, reactor: Any, storage: StorageService
) -> MultiService:
    """The connection and the bot of one channel, named after the channel; its recorder
    goes under ``storage`` so that storage closes only after every recorder flushed."""
    from rosey.bot.service import Bot
    from rosey.storage.recorder import Recorder
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
    bot = Bot(
        connection, clock=reactor, prefix=config.bot.command_prefix, storage=storage.storage
    )
    connection.setServiceParent(services)
    bot.setServiceParent(services)
    Recorder(storage.storage, connection, clock=reactor).setServiceParent(storage)
    return services


def makeService(options: Options) -> IService:
    """Build the whole daemon from validated options."""
    from twisted.internet import reactor

    from rosey.storage.service import StorageService, open_storage

    config = options.loaded
    url = config.database.url.value
    migrate_database(url)
    install_graceful_stop(reactor)
    top = MultiService()
    # MultiService stops its children in reverse order: storage, added first, stops last —
    # after the connections left and the bots drained, its recorders flush, then it closes.
    storage = StorageService(open_storage(url, reactor))
    storage.setServiceParent(top)
    for channel in config.channels:
        make_channel_services(channel, config, reactor, storage).setServiceParent(top)
    return top
