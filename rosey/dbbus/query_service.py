"""The database service's query side as a Twisted service: a connection of its own (nats-py's
reconnecting for ever) on which :class:`~rosey.dbbus.responder.StorageResponder` answers the
``rosey.db.*`` requests from the service's storage. Runs on the asyncio reactor."""

from __future__ import annotations

import asyncio
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred

from rosey.bus.nats_client import NatsClient
from rosey.bus.service import require_asyncio_reactor
from rosey.bus.settings import BusSettings
from rosey.dbbus.responder import StorageResponder
from rosey.storage.interface import IStorage


class QueryService(Service):
    """Answers ``rosey.db.*`` from ``storage`` while it runs."""

    def __init__(self, storage: IStorage, bus: BusSettings, reactor: Any) -> None:
        require_asyncio_reactor(reactor)
        self.setName("queries")
        self.client = NatsClient(bus)
        self.client.role = "rosey-db-queries"
        self.responder = StorageResponder(storage)
        self._task: asyncio.Future[None] | None = None

    async def _start(self) -> None:
        nc = await self.client.connect()
        await self.responder.start(nc)

    def startService(self) -> None:
        super().startService()
        # The reactor's loop is asyncio's: the task runs once the reactor does.
        self._task = asyncio.ensure_future(self._start())

    def stopService(self) -> Deferred[None]:
        super().stopService()
        return Deferred.fromFuture(asyncio.ensure_future(self._stop()))

    async def _stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()  # still connecting
        elif self.responder._sub is not None:
            await self.responder.stop(self.client.settings.stop_timeout)
        await self.client.close()
