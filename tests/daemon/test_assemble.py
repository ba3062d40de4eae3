"""The daemon's service tree: channels (with their plugins) stop before storage closes."""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred

from rosey.daemon.assemble import RoseyDaemon
from rosey.daemon.config import ChannelConfig, Config, DatabaseConfig, Secret


class Recorded(Service):
    """A service that notes when it is asked to stop; ``finish`` ends a slow stop."""

    def __init__(self, name: str, journal: list[str], slow: bool = False) -> None:
        self.setName(name)
        self.journal = journal
        self.finish: Deferred[None] | None = Deferred() if slow else None

    def stopService(self) -> Deferred[None] | None:
        super().stopService()
        self.journal.append(f"stop {self.name}")
        return self.finish


def test_storage_closes_only_after_the_channels_and_their_plugins_stopped(tmp_path: Any) -> None:
    from twisted.internet import reactor

    config = Config(
        channels=(ChannelConfig("https://cytu.be", "one"),),
        database=DatabaseConfig(Secret(f"sqlite:///{tmp_path / 'r.sqlite'}")),
    )
    daemon = RoseyDaemon(config, reactor)
    journal: list[str] = []
    log_file = Recorded("chat log", journal)
    storage = Recorded("storage", journal)
    channel = Recorded("channel", journal, slow=True)  # a plugin still saving its state
    manhole = Recorded("manhole", journal)
    daemon.storage = storage  # type: ignore[assignment]
    for child in (log_file, storage, channel, manhole):
        child.setServiceParent(daemon)
    daemon.startService()
    stopped = daemon.stopService()
    assert journal == ["stop manhole", "stop channel"]  # as MultiService would, all at once
    assert not stopped.called
    assert channel.finish is not None
    channel.finish.callback(None)
    assert journal == ["stop manhole", "stop channel", "stop storage", "stop chat log"]
    assert stopped.called


def test_every_channels_plugins_get_the_daemons_http_client(tmp_path: Any) -> None:
    from twisted.internet import reactor

    from rosey.daemon.assemble import add_channel
    from rosey.daemon.http_client import TreqHTTPClient

    channel = ChannelConfig("https://cytu.be", "one")
    config = Config(
        channels=(channel,),
        database=DatabaseConfig(Secret(f"sqlite:///{tmp_path / 'r.sqlite'}")),
    )
    daemon = RoseyDaemon(config, reactor)
    assert isinstance(daemon.plugins.http, TreqHTTPClient)
    add_channel(daemon, channel)
    assert [host.http for host in daemon.plugins.hosts] == [daemon.plugins.http]
