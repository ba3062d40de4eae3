"""A minimal database service for the daemon tests: SQL storage on a migrated database and a
:class:`~rosey.dbbus.responder.StorageResponder`, on Twisted's asyncio reactor, until SIGTERM.

``python -m tests.dbbus.responder_child DB_URL NATS_URL``; prints ``ready`` once it answers.
It shows how a service process hosts the responder (rosey-db's service does the same).
"""

from __future__ import annotations

import sys

from twisted.internet import asyncioreactor

asyncioreactor.install()

from typing import Any  # noqa: E402

import nats  # noqa: E402
from twisted.internet import reactor as _reactor  # noqa: E402
from twisted.internet.defer import Deferred  # noqa: E402

from rosey.dbbus.responder import StorageResponder  # noqa: E402
from rosey.storage.sql import SQLStorage  # noqa: E402

reactor: Any = _reactor


async def serve(db_url: str, nats_url: str) -> None:
    storage = SQLStorage(db_url, reactor)
    await storage.connect()
    nc = await Deferred.fromFuture(reactor._asyncioEventloop.create_task(nats.connect(nats_url)))
    responder = StorageResponder(storage)
    await Deferred.fromFuture(reactor._asyncioEventloop.create_task(responder.start(nc)))
    await Deferred.fromFuture(reactor._asyncioEventloop.create_task(nc.flush()))

    async def stop() -> None:
        await Deferred.fromFuture(reactor._asyncioEventloop.create_task(responder.stop()))
        await Deferred.fromFuture(reactor._asyncioEventloop.create_task(nc.close()))
        await storage.close()

    reactor.addSystemEventTrigger("before", "shutdown", lambda: Deferred.fromCoroutine(stop()))
    print("ready", flush=True)


def main() -> None:
    db_url, nats_url = sys.argv[1:3]
    d = Deferred.fromCoroutine(serve(db_url, nats_url))
    d.addErrback(lambda f: (print(f.getTraceback(), flush=True), reactor.stop()))
    reactor.run()


if __name__ == "__main__":
    main()
