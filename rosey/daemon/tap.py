"""``twistd rosey``: options and the service tree.

``makeService`` runs before the reactor starts: it validates the configuration and migrates the
database, and a failure of either exits 1 with a one-line message. It then builds the service
tree (:mod:`rosey.daemon.assemble`).
"""

from __future__ import annotations

import sys
from typing import ClassVar

from twisted.application.service import IService
from twisted.python import usage

from rosey.daemon.config import Config, ConfigError, load
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
            fail(f"config error: {e}")


def fail(message: str) -> None:
    """One line on stderr and exit status 1, before the reactor starts."""
    sys.stderr.write(f"rosey: {message}\n")
    raise SystemExit(1)


def migrate_database(url: str) -> None:
    """Bring the schema up to date; exit 1 on failure."""
    from rosey.storage import StorageError, migrate

    try:
        migrate.upgrade(url)
    except StorageError as e:
        fail(f"database: {e}")


def makeService(options: Options) -> IService:
    """Build the whole daemon from validated options."""
    from twisted.internet import reactor

    from rosey.daemon.assemble import build

    config = options.loaded
    migrate_database(config.database.url.value)
    try:
        daemon = build(config, reactor)
    except ConfigError as e:
        fail(f"config error: {e}")
    install_graceful_stop(reactor)
    return daemon
