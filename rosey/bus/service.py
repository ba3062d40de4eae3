"""The bus as a Twisted service: :class:`BusService` runs the asyncio publisher
(:class:`rosey.bus.nats_bus.NatsPublisher`) on Twisted's asyncio reactor, where the reactor's
loop is asyncio's, and is the daemon's :class:`~rosey.bus.interface.IBus`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from zope.interface import implementer

from rosey.bus.interface import IBus
from rosey.bus.nats_bus import CommandHandle, NatsPublisher
from rosey.bus.settings import BusSettings
from rosey.events import Event

__all__ = ["BusService", "ReactorNotAsyncio", "make_bus_service", "require_asyncio_reactor"]


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
    """The publisher as a Twisted service on the asyncio reactor (an :class:`IBus`)."""

    def __init__(self, publisher: NatsPublisher, reactor: Any) -> None:
        require_asyncio_reactor(reactor)
        self.publisher = publisher
        self.reactor = reactor
        #: With ``[bus] commands = true``: the channels' command handlers, asked for at start
        #: (when every channel's bot exists).
        self.commands: Callable[[], Mapping[str, CommandHandle]] | None = None

    @property
    def state(self) -> str:
        return self.publisher.state

    @property
    def buffered(self) -> int:
        return self.publisher.buffered

    @property
    def published(self) -> int:
        return self.publisher.published

    @property
    def dropped(self) -> int:
        return self.publisher.dropped

    def publish(self, event: Event, channel: str) -> None:
        self.publisher.publish(event, channel)

    def startService(self) -> None:
        super().startService()
        if self.commands is not None:
            for label, handle in self.commands().items():
                self.publisher.serve(label, handle)
        # The reactor's loop is asyncio's: a task created now runs once the reactor does.
        self.publisher.start()

    def stopService(self) -> Deferred[None]:
        super().stopService()
        return Deferred.fromFuture(asyncio.ensure_future(self.publisher.stop()))


def make_bus_service(settings: BusSettings, reactor: Any) -> BusService:
    """The bus service for ``[bus]``; raises :class:`ReactorNotAsyncio` on another reactor."""
    return BusService(NatsPublisher(settings), reactor)
