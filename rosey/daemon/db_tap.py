"""``twistd --reactor=asyncio rosey-db --config FILE``: the database service (docs/dbservice.md).

It reads the daemon's TOML (``[database]``, ``[bus]``, optional ``[dbservice]``; no
``[[channel]]`` needed, no chat password read), migrates the database under the migration lock
before the reactor starts (as ``twistd rosey`` does), then runs
:class:`rosey.dbbus.service.DbService`: the storage, the stream's writer, the retention timer.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from twisted.application.service import IService
from twisted.logger import Logger
from twisted.python import usage

import rosey
from rosey.daemon import memory
from rosey.daemon.config import Config, ConfigError, load
from rosey.daemon.shutdown import install_graceful_stop
from rosey.daemon.tap import fail, migrate_database


class Options(usage.Options):
    """Command line of ``twistd rosey-db``."""

    optParameters: ClassVar[list[list[str]]] = [
        ["config", "c", "rosey.toml", "Path to the TOML configuration file."]
    ]

    def postOptions(self) -> None:
        try:
            self.loaded: Config = load(
                self["config"], channel_secrets=False, channels_required=False
            )
        except ConfigError as e:
            fail(f"config error: {e}")
        if self.loaded.bus is None:
            fail("config error: the database service needs a [bus] table (docs/bus.md)")


def build(config: Config, reactor: Any) -> IService:
    """The service tree for ``config`` (migrated already); ``ConfigError`` without nats-py or on
    a reactor that is not asyncio's."""
    from rosey.daemon.retention import RetentionService
    from rosey.storage.service import StorageService, open_storage

    try:
        from rosey.bus.service import ReactorNotAsyncio
        from rosey.dbbus.query_service import QueryService
        from rosey.dbbus.service import DbService, WriterService
    except ImportError:
        raise ConfigError("the database service needs nats-py: pip install 'rosey[bus]'") from None
    assert config.bus is not None
    storage = open_storage(config.database.url.value, reactor)
    retention = config.database.retention
    try:
        writer = WriterService(
            storage,  # type: ignore[arg-type]  # SQL storage: an IBusEventStore too
            config.bus,
            config.dbservice,
            reactor,
            keep_days=retention.bus_events_days,
            prune_batch=retention.batch_size,
        )
    except ReactorNotAsyncio as e:
        raise ConfigError(
            "the database service needs the asyncio reactor: run 'rosey db serve' or "
            "'twistd --reactor=asyncio rosey-db --config …'"
        ) from e
    service = DbService(StorageService(storage), writer)
    RetentionService(storage, retention, reactor).setServiceParent(service.storage_service)
    service.add(QueryService(storage, config.bus, reactor))  # rosey.db.* request/reply
    return service


def makeService(options: Options) -> IService:
    """Build the database service from validated options."""
    from twisted.internet import reactor

    from rosey.storage.engine import masked_url

    config = options.loaded
    Logger(namespace="rosey.dbservice").info(
        "rosey {version} database service starting: config {config}, database {database}",
        version=rosey.__version__,
        config=os.path.abspath(options["config"]),
        database=masked_url(config.database.url.value) or "(unparsable URL, hidden)",
    )
    migrate_database(config, every_plugin=True)  # it serves every bot's plugins
    try:
        service = build(config, reactor)
    except ConfigError as e:
        fail(f"config error: {e}")
    install_graceful_stop(reactor)
    # Out of the garbage collector's reach once running: the modules, SQLAlchemy's metadata
    # and the migrations' leftovers. Else each full collection walks them all while a backlog
    # is written (A/B in bench/README.md: the service's CPU an event -11 %).
    reactor.callWhenRunning(memory.settle)
    return service


__all__ = ["Options", "build", "makeService"]
