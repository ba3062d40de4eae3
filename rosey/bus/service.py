"""The bus as a Twisted service (the daemon's :class:`~rosey.bus.interface.IBus`).

Events go to the bus's own process (:class:`rosey.bus.process.PublisherProcess`, which runs
:class:`rosey.bus.nats_bus.NatsPublisher` in :mod:`rosey.bus.child`). With ``[bus] commands =
true`` a connection of the daemon's own answers the commands
(:class:`rosey.bus.command_server.CommandServer`): nats-py is asyncio, so the daemon runs on
Twisted's asyncio reactor, where the reactor's loop is asyncio's and Deferreds and futures are
bridged with ``Deferred.fromFuture``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from zope.interface import implementer

from rosey.bus.interface import IBus
from rosey.bus.process import PublisherProcess
from rosey.bus.settings import BusSettings
from rosey.events import Event

__all__ = ["BusService", "ReactorNotAsyncio", "make_bus_service", "require_asyncio_reactor"]

#: What answers one channel's commands (:data:`rosey.bus.command_server.CommandHandle`).
CommandHandle = Callable[[str, bytes], Deferred[bytes]]


class ReactorNotAsyncio(Exception):
    """The bus needs Twisted's asyncio reactor (``twistd --reactor=asyncio``)."""


def require_asyncio_reactor(reactor: Any) -> None:
    """Raise :class:`ReactorNotAsyncio` unless ``reactor`` runs on an asyncio loop."""
    from twisted.internet.asyncioreactor import AsyncioSelectorReactor

    if not isinstance(reactor, AsyncioSelectorReactor):
        raise ReactorNotAsyncio(
            "[bus] needs the asyncio reactor: run 'rosey run' or "
            "'twistd --reactor=asyncio rosey --config …'"
        )


@implementer(IBus)
class BusService(Service):
    """The bus process and, with commands on, the command connection."""

    def __init__(self, settings: BusSettings, reactor: Any) -> None:
        require_asyncio_reactor(reactor)
        self.settings = settings
        self.reactor = reactor
        self.process = PublisherProcess(settings, reactor)
        #: With ``[bus] commands = true``: the channels' command handlers, asked for at start
        #: (when every channel's bot exists).
        self.commands: Callable[[], Mapping[str, CommandHandle]] | None = None
        self._command_server: Any = None
        self._command_task: asyncio.Future[None] | None = None

    @property
    def state(self) -> str:
        return self.process.state

    @property
    def buffered(self) -> int:
        return self.process.buffered

    @property
    def published(self) -> int:
        return self.process.published

    @property
    def dropped(self) -> int:
        return self.process.dropped

    def publish(self, event: Event, channel: str) -> None:
        self.process.publish(event, channel)

    def startService(self) -> None:
        super().startService()
        self.process.start()
        if self.commands is not None:
            from rosey.bus.command_server import CommandServer

            server = CommandServer(self.settings)
            for label, handle in self.commands().items():
                server.serve(label, handle)
            self._command_server = server
            # The reactor's loop is asyncio's: a task created now runs once the reactor does.
            self._command_task = asyncio.ensure_future(server.start())

    def stopService(self) -> Deferred[None]:
        super().stopService()
        stopped = self.process.stop()
        if self._command_server is None:
            return stopped
        return stopped.addCallback(lambda _: Deferred.fromFuture(self._stop_commands()))

    def _stop_commands(self) -> asyncio.Future[None]:
        async def stop() -> None:
            if self._command_task is not None and not self._command_task.done():
                self._command_task.cancel()  # still connecting
            await self._command_server.stop()

        return asyncio.ensure_future(stop())


def make_bus_service(settings: BusSettings, reactor: Any) -> BusService:
    """The bus service for ``[bus]``; raises :class:`ReactorNotAsyncio` on another reactor."""
    return BusService(settings, reactor)
