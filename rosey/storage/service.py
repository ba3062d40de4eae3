"""The storage service: owns an :class:`IStorage` for the daemon's lifetime.

``startService`` connects the storage, then starts the children (the recorders);
``stopService`` stops the children first, one after another and waiting for each (so every
recorder writes out its buffer), and only then closes the storage. Stock ``MultiService`` would
stop them all at once and close the database under a flushing recorder.

Run the blocking schema upgrade (:func:`rosey.storage.schema.upgrade`) before the reactor
starts; :func:`open_storage` builds the storage for a URL.
"""

from __future__ import annotations

from twisted.application.service import IService, MultiService
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from rosey.storage.interface import IStorage
from rosey.storage.pool import InteractionObserver
from rosey.storage.sql import SQLStorage


def open_storage(
    url: str,
    reactor: IReactorTime,
    *,
    clock: IReactorTime | None = None,
    busy_timeout: float = 5.0,
    check_schema: bool = True,
    on_interaction: InteractionObserver | None = None,
) -> IStorage:
    """The SQL storage for ``url`` (not connected yet); ``on_interaction(name, seconds)``
    hears each transaction's duration (on a database thread)."""
    return SQLStorage(
        url,
        reactor,
        clock=clock,
        busy_timeout=busy_timeout,
        check_schema=check_schema,
        on_interaction=on_interaction,
    )


class StorageService(MultiService):
    """Connects ``storage`` on start, closes it on stop after its children stopped."""

    log = Logger()

    def __init__(self, storage: IStorage) -> None:
        super().__init__()
        self.storage = storage
        self.setName("storage")

    def startService(self) -> Deferred[None]:
        d = self.storage.connect()
        d.addErrback(
            lambda f: self.log.failure(
                "storage: cannot connect to {storage}", f, storage=self.storage
            )
        )
        super().startService()
        return d

    def stopService(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        super(MultiService, self).stopService()  # Service.stopService: running = 0
        for child in reversed(list(self)):
            try:
                await maybeDeferred(IService(child).stopService)
            except Exception:
                self.log.failure("storage: stopping {child} failed", child=child)
        await self.storage.close()
