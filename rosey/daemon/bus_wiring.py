"""``[bus]``: the event bus service added to the daemon (imported only when configured, so
nats-py is loaded only then), and with ``commands = true`` each channel's bot behind the bus's
:class:`~rosey.bus.interface.ICommandTarget`."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from rosey.bot.actions import Position
from rosey.bot.errors import TargetNotFound
from rosey.bot.medialink import parse_media_link
from rosey.bot.service import Bot
from rosey.bus.commands import CommandHandler
from rosey.bus.interface import ICommandTarget
from rosey.bus.settings import BusSettings
from rosey.daemon.config import ConfigError
from rosey.daemon.metrics import BusProbe
from rosey.storage.interface import IStorage


def add_bus(daemon: Any, settings: BusSettings) -> None:
    """Add the bus service to ``daemon`` (the ``RoseyDaemon``) and show it in the metrics.
    Raises ``ConfigError`` (one line) without nats-py or on a reactor that is not asyncio's."""
    try:
        from rosey.bus.service import ReactorNotAsyncio, make_bus_service
    except ImportError:
        raise ConfigError("[bus] needs nats-py: pip install 'rosey[bus]'") from None
    try:
        bus = make_bus_service(settings, daemon.reactor)
    except ReactorNotAsyncio as e:
        raise ConfigError(str(e)) from None
    bus.setName("bus")
    bus.setServiceParent(daemon)
    daemon.bus = bus
    if settings.commands:
        logged: set[str] = set()  # malformed requests: each kind of mistake logged once
        bus.commands = lambda: {
            label: CommandHandler(label, BotCommands(bot), daemon.reactor, logged=logged).handle
            for label, bot in daemon.bots.items()
        }
    daemon.metrics.observe_bus(
        BusProbe(
            state=lambda: bus.state,
            buffered=lambda: bus.buffered,
            published=lambda: bus.published,
            dropped=lambda: bus.dropped,
        )
    )


def database_client(settings: BusSettings, timeout: float, clock: IReactorTime) -> IStorage:
    """The bot's storage with ``[database] mode = "service"``: the database service's client
    (:class:`rosey.dbbus.client.BusStorage`; ``clock``: the reactor). Raises ``ConfigError``
    without nats-py."""
    try:
        from rosey.dbbus.client import BusStorage
    except ImportError:
        raise ConfigError(
            "[database] mode = \"service\" needs nats-py: pip install 'rosey[bus]'"
        ) from None
    return BusStorage(settings, clock, timeout=timeout)


def _nothing(_: object) -> None:
    return None


@implementer(ICommandTarget)
class BotCommands:
    """The bus's commands on one channel's bot: its actions, so every command is checked
    against the bot's rank and paced by its send queue."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.actions = bot.actions

    def say(self, text: str) -> Deferred[None]:
        return self.actions.chat(text).addCallback(_nothing)

    def pm(self, to: str, text: str) -> Deferred[None]:
        return self.actions.pm(to, text).addCallback(_nothing)

    def me(self, text: str) -> Deferred[None]:
        return self.actions.me(text).addCallback(_nothing)

    def queue(self, link: str, position: str) -> Deferred[dict[str, Any]]:
        pos: Position = "next" if position == "next" else "end"
        return self.actions.queue(link, pos).addCallback(lambda uid: {"uid": uid})

    def delete(self, uid: int | None, link: str | None) -> Deferred[dict[str, Any]]:
        if uid is None:
            assert link is not None  # the request names one of them (rosey.bus.commands)
            wanted = parse_media_link(link)
            items = self.bot.mirror.playlist.items
            found = [i.uid for i in items if (i.media.type, i.media.id) == (wanted.type, wanted.id)]
            if not found:
                raise TargetNotFound(f"delete refused: {link} is not in the playlist")
            uid = found[0]
        return self.actions.delete(uid).addCallback(lambda _: {"uid": uid})

    def skip(self) -> Deferred[dict[str, Any]]:
        return self.actions.play_next().addCallback(lambda uid: {"uid": uid})

    def voteskip(self) -> Deferred[dict[str, Any]]:
        def counts(vote: Any) -> dict[str, Any]:
            return {} if vote is None else {"count": vote.count, "need": vote.need}

        return self.actions.voteskip().addCallback(counts)

    def kick(self, name: str, reason: str) -> Deferred[None]:
        return self.actions.kick(name, reason).addCallback(_nothing)

    def mute(self, name: str) -> Deferred[None]:
        return self.actions.mute(name).addCallback(_nothing)

    def unmute(self, name: str) -> Deferred[None]:
        return self.actions.unmute(name).addCallback(_nothing)
