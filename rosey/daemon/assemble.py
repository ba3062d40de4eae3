"""The daemon's service tree, built from a validated :class:`~rosey.daemon.config.Config`.

::

    RoseyDaemon (MultiService; sets the log observer on twistd's Application)
    ├── chat / media log files (optional: chatlogs.ChannelLogs)
    ├── event bus (optional, ``[bus]``: rosey.bus.service.BusService; stops after the channels)
    ├── storage (StorageService) ── one Recorder per channel, the retention timer (with
    │   ``[database] mode = "service"``: the database service's bus client, nothing under it)
    ├── per channel: CyTubeConnection + Bot ── PluginHost (the channel's plugins)
    ├── metrics / health endpoint (optional)
    ├── status page (optional, ``[web]``: rosey.web, with /metrics and /health too)
    ├── manhole (optional)
    └── systemd notifier (last child: stopped first, so STOPPING=1 goes out at once)

Children stop in reverse order. Everything after storage (manhole, metrics, the channels: their
plugins, which may still write, and the bots' queues) stops first and is waited for; only then do
the recorders flush and storage close.

Plugins: the configuration found them and validated their settings; their own migrations
(:mod:`rosey.daemon.plugin_schema`) ran before, with rosey's, in a child process
(:mod:`rosey.daemon.schema_child`), or :func:`build` runs them here; it gives each channel's bot a
:class:`~rosey.daemon.plugin_host.PluginHost` with the plugins enabled there. The manhole has
``plugins`` (their status) and ``reload_plugin(name)`` (:mod:`rosey.daemon.reload`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import IO, Any

from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred, DeferredList, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import ILogObserver, Logger

from rosey import events
from rosey.bot.service import Bot
from rosey.daemon import chatlogs, logs, memory
from rosey.daemon.config import ChannelConfig, Config, ConfigError
from rosey.daemon.http_client import TreqHTTPClient
from rosey.daemon.metrics import Metrics
from rosey.daemon.reload import PluginManager, ReloadResult
from rosey.daemon.retention import RetentionService
from rosey.daemon.systemd import SystemdNotifier
from rosey.daemon.watch import ChannelWatch, Readiness
from rosey.events import Event
from rosey.storage.errors import StorageError
from rosey.storage.interface import IStorage
from rosey.storage.recorder import Recorder
from rosey.storage.service import StorageService, open_storage
from rosey.wire.connection import CyTubeConnection

log = Logger(namespace="rosey.daemon")


class RoseyDaemon(MultiService):
    """The top service. Holds what the manhole shows: bots, storage, config, metrics, plugins."""

    def __init__(
        self,
        config: Config,
        reactor: Any,
        *,
        check_schema: bool = True,
        log_stream: IO[Any] | logs.LogFile | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.reactor = reactor
        self.bots: dict[str, Bot] = {}
        self.watches: list[ChannelWatch] = []
        self.recorders: list[Recorder] = []
        self.metrics = Metrics()
        #: Where the daemon's log goes: stdout, or a reopenable :class:`logs.LogFile`.
        self.log_stream: IO[Any] | logs.LogFile = sys.stdout if log_stream is None else log_stream
        self.log_observer: ILogObserver = logs.make_observer(config.logging, self.log_stream)
        self.channel_logs: chatlogs.ChannelLogs | None = None
        #: The event bus with ``[bus]`` (an ``IBus``; every channel's events go to it).
        self.bus: Any = None
        self.storage = StorageService(self._open_storage(check_schema))
        self.notifier = SystemdNotifier(reactor)
        self.readiness: Readiness | None = None
        self.plugins = PluginManager(config.plugins, http=TreqHTTPClient(reactor))
        #: Give the join bursts' memory back to the OS and freeze start-up objects out of the
        #: garbage collector (:mod:`rosey.daemon.memory`); process-wide, so off in tests.
        self.tune_memory = False
        #: Called with exit status 1 once every channel has stopped for good (nothing left to
        #: do): ``twistd rosey`` stops cleanly and exits with it (:mod:`rosey.daemon.exit_status`),
        #: so systemd's ``Restart=`` sees the failure. None (tests) only logs.
        self.stop_process: Callable[[int], None] | None = None

    def _open_storage(self, check_schema: bool) -> IStorage:
        config = self.config
        if config.database.service and config.bus is not None:
            from rosey.daemon.bus_wiring import database_client

            return database_client(config.bus, config.database.request_timeout, self.reactor)
        # check_schema=False: the migration that just ran (in a child) left it at the head, and
        # checking again here would load Alembic into the daemon.
        return open_storage(
            config.database.url.value,
            self.reactor,
            check_schema=check_schema,
            on_interaction=self.metrics.storage_interaction,
        )

    def setServiceParent(self, parent: Any) -> None:
        # twistd asks its Application for a log observer after makeService: give it ours.
        set_component = getattr(parent, "setComponent", None)
        if set_component is not None:
            set_component(ILogObserver, self.log_observer)
        super().setServiceParent(parent)

    def namespace(self) -> dict[str, Any]:
        """The manhole's namespace, rebuilt at each login (secrets in the config are masked)."""
        bots = dict(self.bots)
        return {
            "daemon": self,
            "bots": bots,
            "bot": next(iter(bots.values()), None),
            "storage": self.storage.storage,
            "config": self.config,
            "metrics": self.metrics,
            "reactor": self.reactor,
            "plugins": self.plugins,
            "reload_plugin": self.reload_plugin,
        }

    def reload_plugin(self, name: str) -> Deferred[ReloadResult]:
        """Reload plugin ``name`` in every channel, atomically (the old code keeps running if
        the new one fails anywhere); fires with what happened."""
        return self.plugins.reload(name)

    def reopen_logs(self) -> int:
        """Reopen the chat and media log files and the daemon's log file (SIGHUP, after
        logrotate); how many were reopened."""
        count = self.channel_logs.reopen() if self.channel_logs is not None else 0
        if isinstance(self.log_stream, logs.LogFile):
            try:
                self.log_stream.reopen()
            except OSError as e:
                log.error("cannot reopen {path}: {error}", path=self.log_stream.path, error=e)
            else:
                count += 1
        return count

    def startService(self) -> None:
        super().startService()
        tune = self.tune_memory
        self.readiness = Readiness(
            self.watches,
            self.notifier,
            self.reactor,
            on_joined=self._channel_joined if tune else None,
            on_ready=self._all_settled if tune else None,
            on_all_stopped=self._all_stopped,
        )
        self.reactor.callWhenRunning(self.readiness.start)

    # Both run once the stack that handled the join burst (or READY=1) has unwound.
    def _channel_joined(self, watch: ChannelWatch) -> None:
        self.reactor.callLater(0, memory.release_memory)

    def _all_settled(self) -> None:
        self.reactor.callLater(0, memory.settle)

    def _all_stopped(self, watches: list[ChannelWatch]) -> None:
        why = "; ".join(f"{w.label}: {w.stopped_because}" for w in watches)
        log.error("every channel has stopped for good: {why}; exiting with status 1", why=why)
        if self.stop_process is not None:
            self.stop_process(1)

    def stopService(self) -> Any:
        if self.readiness is not None:
            self.readiness.stop()
        self.notifier.stopping()
        return Deferred.fromCoroutine(self._stop_children())

    async def _stop_children(self) -> None:
        Service.stopService(self)
        children = list(self)
        cut = children.index(self.storage) + 1 if self.storage in children else 0
        # Everything after storage at once (as MultiService would), and wait for it all.
        await DeferredList(
            [_stopped(child) for child in reversed(children[cut:])], consumeErrors=True
        )
        for child in reversed(children[:cut]):
            await _stopped(child)


def _stopped(service: Any) -> Deferred[None]:
    d: Deferred[None] = maybeDeferred(service.stopService)
    d.addErrback(lambda f: log.failure("stopping {service} failed", f, service=service))
    return d


def build(
    config: Config,
    reactor: Any,
    *,
    migrated: bool = False,
    tune_memory: bool = False,
    log_stream: IO[Any] | logs.LogFile | None = None,
) -> RoseyDaemon:
    """Every service of the daemon, not started. Raises ``ConfigError`` for bad files/keys.

    ``migrated``: rosey's and the plugins' migrations already ran (``twistd rosey`` runs them
    in a child process); otherwise the plugins' run here, and storage checks rosey's schema
    when it starts. ``tune_memory``: see :attr:`RoseyDaemon.tune_memory` (``twistd rosey``).
    ``log_stream``: where the daemon's log goes (stdout if None).
    """
    daemon = RoseyDaemon(config, reactor, check_schema=not migrated, log_stream=log_stream)
    daemon.tune_memory = tune_memory
    channel_logs = None
    if config.logging.chat_log or config.logging.media_log:
        channel_logs = chatlogs.ChannelLogs(config.logging, config.channels, reactor)
        channel_logs.setServiceParent(daemon)
        daemon.channel_logs = channel_logs
    if config.bus is not None:
        from rosey.daemon.bus_wiring import add_bus

        add_bus(daemon, config.bus)  # before storage: stopped after the channels
    daemon.storage.setServiceParent(daemon)
    # With the database service (rosey.dbbus), it migrates, records (from the bus's stream) and
    # prunes: the bot runs no migrations, recorders or retention timer.
    local = not config.database.service
    if local and not migrated:
        migrate_plugins(config)
    for channel in config.channels:
        bot = add_channel(daemon, channel, record=local)
        if channel_logs is not None:
            channel_logs.attach(bot, channel)
    if local:
        retention = RetentionService(daemon.storage.storage, config.database.retention, reactor)
        retention.setServiceParent(daemon.storage)  # last: stops before the recorders flush
    _observe_storage(daemon)
    # Twisted web and conch (with cryptography) are imported only for the services enabled.
    if config.metrics.enabled:
        from rosey.daemon.web import make_metrics_service

        make_metrics_service(config, daemon.metrics, reactor).setServiceParent(daemon)
    if config.web.enabled:
        from rosey.daemon.web import make_web_service

        make_web_service(config, daemon, reactor).setServiceParent(daemon)
    if config.manhole.enabled:
        from rosey.daemon.manhole import make_manhole_service

        make_manhole_service(config.manhole, daemon.namespace, reactor).setServiceParent(daemon)
    daemon.notifier.setServiceParent(daemon)
    return daemon


def plugin_migration_folders(config: Config, *, every: bool = False) -> dict[str, str]:
    """Name -> migrations folder of each plugin enabled in some channel (``every``: of each
    plugin installed, for the database service, which serves any bot) that has migrations."""
    factories = config.plugins.found.discovery.factories
    enabled = (
        set(factories)
        if every
        else {name for ch in config.channels for name in config.plugins.for_channel(ch)}
    )
    return {
        name: str(factories[name].migrations)
        for name in sorted(enabled)
        if getattr(factories[name], "migrations", None)
    }


def migrate_plugins(config: Config) -> None:
    """Run the migrations of the plugins enabled in some channel, in this process (blocking:
    before the reactor starts). Raises ``ConfigError`` naming the plugin if one fails."""
    folders = plugin_migration_folders(config)
    if not folders:
        return
    from rosey.daemon.plugin_schema import upgrade_plugins

    try:
        done = upgrade_plugins(config.database.url.value, folders)
    except StorageError as e:
        raise ConfigError(f"database: {e}") from None
    log_plugin_upgrades(done)


def log_plugin_upgrades(done: dict[str, tuple[str | None, str | None]]) -> None:
    """One log line per plugin whose schema changed."""
    for name, (before, after) in done.items():
        if before != after:
            log.info(
                "plugin {plugin}: schema upgraded from {before} to {after}",
                plugin=name,
                before=before or "nothing",
                after=after,
            )


def add_channel(daemon: RoseyDaemon, channel: ChannelConfig, *, record: bool = True) -> Bot:
    """One channel's connection, bot (with its plugins), recorder (unless not ``record``),
    watch and metrics."""
    reactor, config, label = daemon.reactor, daemon.config, channel.label
    services = MultiService()
    services.setName(label)
    connection = CyTubeConnection(
        channel.site,
        channel.name,
        username=channel.username,
        password=channel.password.value if channel.password else None,
        channel_password=channel.channel_password.value if channel.channel_password else None,
        eio=channel.eio,
        reactor=reactor,
    )
    storage = daemon.storage.storage
    bot = Bot(
        connection,
        clock=reactor,
        prefix=config.bot.command_prefix,
        storage=storage,
        storage_key=label,
    )
    daemon.plugins.host_for(bot, channel).setServiceParent(bot)
    connection.setServiceParent(services)
    bot.setServiceParent(services)
    services.setServiceParent(daemon)

    if record:
        # The recorder sees each event after the bot's mirror applied it, and reads the mirror.
        recorder = Recorder(storage, bot, view=bot.mirror, clock=reactor, channel=bot.storage_key)
        recorder.on_batch = daemon.metrics.storage_batch
        recorder.setServiceParent(daemon.storage)
        daemon.recorders.append(recorder)

    watch = ChannelWatch(label, reactor)
    daemon.watches.append(watch)
    daemon.bots[label] = bot
    _observe_channel(daemon.metrics, label, connection, bot, watch, daemon.bus)
    return bot


def _observe_channel(
    metrics: Metrics,
    label: str,
    connection: CyTubeConnection,
    bot: Bot,
    watch: ChannelWatch,
    daemon_bus: Any = None,
) -> None:
    sessions = 0
    event_in = metrics.event_in

    # The watch and the counters as one listener: one call less per event on the hot path.
    def observed(event: Event) -> None:
        nonlocal sessions
        watch(event)
        name = event.name
        event_in(label, name)
        if name == events.CONNECTED:
            sessions += 1
            if sessions > 1:
                metrics.reconnect(label)
        elif name == events.KICKED:
            metrics.kick(label, "kicked")

    connection.subscribe(observed)
    if daemon_bus is not None:
        connection.subscribe(lambda event: daemon_bus.publish(event, label))
    connection.on_emit = lambda name: metrics.event_out(label, name)
    metrics.observe_channel(
        label,
        users=lambda: len(bot.mirror.users),
        queue_depth=lambda: bot.queue.pending,
        joined=lambda: watch.joined,
        last_event_age=watch.last_event_age,
        state=lambda: watch.state,
    )


def _observe_storage(daemon: RoseyDaemon) -> None:
    clock: IReactorTime = daemon.reactor

    def last_write_age() -> float | None:
        if not daemon.recorders:
            return None
        return clock.seconds() - min(r.last_written_at for r in daemon.recorders)

    daemon.metrics.observe_storage(
        last_write_age=last_write_age,
        pending=lambda: sum(r.buffered for r in daemon.recorders),
    )
