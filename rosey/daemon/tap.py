"""``twistd rosey``: options and the service tree.

``makeService`` runs before the reactor starts: it validates the configuration and migrates the
database (rosey's schema and the enabled plugins', in a child process:
:mod:`rosey.daemon.migration`), and a failure of either exits 1 with a one-line message. It then
builds the service tree (:mod:`rosey.daemon.assemble`).
"""

from __future__ import annotations

import os
import sys
from typing import ClassVar

from twisted.application.service import IService
from twisted.python import usage

from rosey.daemon.config import Config, ConfigError, load
from rosey.daemon.shutdown import install_graceful_stop

# Autobahn's native helpers (NVX) only mask outgoing frames and validate UTF-8, which rosey turns
# off (it checks UTF-8 itself); loading them compiles C declarations with cffi at import time,
# about 1.4 MB of RSS for nothing. Set before the wire modules import Autobahn.
os.environ.setdefault("AUTOBAHN_USE_NVX", "0")


class Options(usage.Options):
    """Command line of ``twistd rosey``."""

    optParameters: ClassVar[list[list[str]]] = [
        ["config", "c", "rosey.toml", "Path to the TOML configuration file."]
    ]

    def opt_version(self) -> None:
        """Print rosey's version and exit."""
        from rosey.cli import version_line

        sys.stdout.write(version_line() + "\n")
        raise SystemExit(0)

    def postOptions(self) -> None:
        try:
            self.loaded: Config = load(self["config"])
        except ConfigError as e:
            fail(f"config error: {e}")


def fail(message: str) -> None:
    """One line on stderr and exit status 1, before the reactor starts."""
    sys.stderr.write(f"rosey: {message}\n")
    raise SystemExit(1)


def migrate_database(config: Config) -> None:
    """Bring rosey's schema and the enabled plugins' up to date; exit 1 on failure."""
    from rosey.daemon.assemble import log_plugin_upgrades, plugin_migration_folders
    from rosey.daemon.migration import MigrationError, migrate_all

    try:
        done = migrate_all(config.database.url.value, plugin_migration_folders(config))
    except MigrationError as e:
        fail(str(e))
    log_plugin_upgrades(done)


def makeService(options: Options) -> IService:
    """Build the whole daemon from validated options."""
    from twisted.internet import reactor

    from rosey.daemon.assemble import build

    config = options.loaded
    migrate_database(config)
    try:
        daemon = build(config, reactor, migrated=True, tune_memory=True)
    except ConfigError as e:
        fail(f"config error: {e}")
    install_graceful_stop(reactor)
    return daemon
