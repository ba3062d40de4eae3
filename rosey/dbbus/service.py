"""The database service's Twisted side: the stream consumer on the asyncio reactor, writing
through the storage, and the daily prune of the event ids it keeps.

The tree ``twistd rosey-db`` runs (:func:`rosey.daemon.db_tap.makeService`)::

    DbService (MultiService, "rosey-db")
    └── storage (StorageService): connects the storage first, closes it after its children
        ├── writer (WriterService): the stream consumer and the event-id prune
        ├── retention (RetentionService): [database.retention], as the daemon's
        └── (the query responder: rosey.db.* request/reply, added by :meth:`DbService.add`)

The storage service stops its children one after another, last added first, and waits for
each: the query responder stops answering, then the writer finishes its batch in flight and
acknowledges it, and only then is the database closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from twisted.application.service import IService, MultiService, Service
from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from rosey.bus.service import require_asyncio_reactor
from rosey.bus.settings import BusSettings
from rosey.dbbus.consumer import StreamConsumer
from rosey.dbbus.decode import Published
from rosey.dbbus.settings import DbServiceSettings
from rosey.dbbus.writer import BatchWriter
from rosey.storage.interface import IBusEventStore
from rosey.storage.service import StorageService

log = Logger(namespace="rosey.dbservice")

DAY = 86400.0
#: Seconds after start before the first prune of old event ids.
PRUNE_FIRST_DELAY = 300.0


class WriterService(Service):
    """Consumes the stream into ``storage`` (an :class:`IBusEventStore`) on the asyncio
    reactor; forgets event ids older than ``keep_days`` (0: never) once a day."""

    def __init__(
        self,
        storage: IBusEventStore,
        bus: BusSettings,
        settings: DbServiceSettings,
        reactor: Any,
        *,
        keep_days: float = 31.0,
        prune_batch: int = 500,
    ) -> None:
        require_asyncio_reactor(reactor)
        self.setName("writer")
        self.reactor = reactor
        self.bus = bus
        self.writer = BatchWriter(storage, settings.snapshot_interval)
        self.consumer = StreamConsumer(bus, settings, self._write)
        self.keep_days = keep_days
        self.prune_batch = prune_batch
        self._prune = LoopingCall(self.prune_once)
        self._prune.clock = reactor
        self._first_prune: Any = None

    async def _write(self, batch: Sequence[Published]) -> int:
        d = self.writer.write(batch)
        return await d.asFuture(asyncio.get_event_loop())

    def startService(self) -> None:
        super().startService()
        # The reactor's loop is asyncio's: the task runs once the reactor does.
        self.consumer.start()
        if self.keep_days > 0:
            self._first_prune = self.reactor.callLater(
                PRUNE_FIRST_DELAY, lambda: self._prune.start(DAY, now=True)
            )

    def prune_once(self) -> Deferred[None]:
        """Forget the ids of events received more than ``keep_days`` ago (never fails)."""
        return Deferred.fromCoroutine(self._prune_once())

    async def _prune_once(self) -> None:
        before = self.reactor.seconds() - self.keep_days * DAY
        try:
            n = await self.writer.storage.prune_bus_events(before, self.prune_batch)
        except Exception:
            log.failure("dbservice: pruning old event ids failed; trying again in a day")
            return
        log.info("dbservice: forgot {n} event ids older than {days} days", n=n, days=self.keep_days)

    def stopService(self) -> Deferred[None]:
        super().stopService()
        if self._first_prune is not None and self._first_prune.active():
            self._first_prune.cancel()
        if self._prune.running:
            self._prune.stop()
        stopped = self.consumer.stop(self.bus.stop_timeout)
        return Deferred.fromFuture(asyncio.ensure_future(stopped))


class DbService(MultiService):
    """The whole database service: the storage service and what runs on it."""

    def __init__(self, storage_service: StorageService, writer: WriterService) -> None:
        super().__init__()
        self.setName("rosey-db")
        self.storage_service = storage_service
        self.writer = writer
        storage_service.setServiceParent(self)
        writer.setServiceParent(storage_service)

    def add(self, child: IService) -> None:
        """Run ``child`` on the storage (started after it connected, stopped before it
        closes): the query responder goes here."""
        child.setServiceParent(self.storage_service)
