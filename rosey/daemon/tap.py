"""``twistd rosey``: options and the service tree.

``makeService`` runs before the reactor starts: it validates the configuration and migrates the
database (rosey's schema and the enabled plugins', in a child process:
:mod:`rosey.daemon.schema_child`), and a failure of either exits 1 with a one-line message. It then
builds the service tree (:mod:`rosey.daemon.assemble`).
"""

from __future__ import annotations

import os
import sys
from typing import Any, ClassVar, NoReturn

from twisted.application.service import IService
from twisted.logger import Logger
from twisted.python import usage

import rosey
from rosey.daemon.config import Config, ConfigError, load
from rosey.daemon.exit_status import stop_with_status
from rosey.daemon.hangup import install_reopen_on_hangup
from rosey.daemon.logs import LogFile
from rosey.daemon.shutdown import install_graceful_stop

# Autobahn's native helpers (NVX) only mask outgoing frames and validate UTF-8, which rosey turns
# off (it checks UTF-8 itself); loading them compiles C declarations with cffi at import time,
# memory kept for nothing. Set before the wire modules import Autobahn.
os.environ.setdefault("AUTOBAHN_USE_NVX", "0")


class Options(usage.Options):
    """Command line of ``twistd rosey``."""

    optParameters: ClassVar[list[list[str]]] = [
        ["config", "c", "rosey.toml", "Path to the TOML configuration file."]
    ]

    def opt_version(self) -> None:
        """Print rosey's version and exit."""
        from rosey.version import version_line

        sys.stdout.write(version_line() + "\n")
        raise SystemExit(0)

    def postOptions(self) -> None:
        try:
            self.loaded: Config = load(self["config"])
        except ConfigError as e:
            fail(f"config error: {e}")


def fail(message: str) -> NoReturn:
    """One line on stderr and exit status 1, before the reactor starts."""
    sys.stderr.write(f"rosey: {message}\n")
    raise SystemExit(1)


def migrate_database(config: Config, *, every_plugin: bool = False) -> None:
    """Bring rosey's schema and the enabled plugins' (``every_plugin``: every installed
    plugin's) up to date; exit 1 on failure."""
    from rosey.daemon.assemble import log_plugin_upgrades, plugin_migration_folders
    from rosey.daemon.schema_child import MigrationError, migrate_all

    try:
        folders = plugin_migration_folders(config, every=every_plugin)
        done = migrate_all(config.database.url.value, folders)
    except MigrationError as e:
        fail(str(e))
    log_plugin_upgrades(done)


def log_stream(twistd_options: Any) -> LogFile | None:
    """The file ``twistd --logfile`` names, opened (``twistd.log`` for a daemon without one,
    as ``twistd`` does), or None for stdout (``--nodaemon``, ``--logfile -``)."""
    if twistd_options is None:
        return None
    path = twistd_options.get("logfile") or ""
    if not path and not twistd_options.get("nodaemon"):
        path = "twistd.log"
    if not path or path == "-":
        return None
    try:
        return LogFile(path)
    except OSError as e:
        fail(f"cannot open log file {path!r}: {e.strerror}")


def log_start(config: Config, path: str) -> None:
    """One line: rosey's version, the config file, the database (password masked), the
    channels and the plugins enabled (per channel when they differ)."""
    from rosey.storage.engine import masked_url

    labels = [channel.label for channel in config.channels]
    per_channel = {
        ch.label: ", ".join(config.plugins.for_channel(ch)) or "none" for ch in config.channels
    }
    if len(set(per_channel.values())) == 1:
        plugins = next(iter(per_channel.values()))
    else:
        plugins = "; ".join(f"{label}: {names}" for label, names in per_channel.items())
    Logger(namespace="rosey.daemon").info(
        "rosey {version} starting: config {config}, database {database}, "
        "channels {channels}, plugins {plugins}",
        version=rosey.__version__,
        config=os.path.abspath(path),
        database="the database service (bus)"
        if config.database.service
        else masked_url(config.database.url.value) or "(unparsable URL, hidden)",
        channels=", ".join(labels),
        plugins=plugins,
    )


def makeService(options: Options) -> IService:
    """Build the whole daemon from validated options."""
    from twisted.internet import reactor

    from rosey.daemon.assemble import build

    config = options.loaded
    stream = log_stream(getattr(options, "parent", None))
    log_start(config, options["config"])
    if not config.database.service:  # else the database service migrates
        migrate_database(config)
    try:
        daemon = build(config, reactor, migrated=True, tune_memory=True, log_stream=stream)
    except ConfigError as e:
        fail(f"config error: {e}")
    install_graceful_stop(reactor)
    install_reopen_on_hangup(reactor, daemon.reopen_logs)
    daemon.stop_process = lambda status: stop_with_status(reactor, status)
    return daemon
