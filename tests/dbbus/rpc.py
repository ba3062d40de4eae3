"""A responder over a real SQLite storage and a client, both on one private asyncio reactor,
through a real nats-server (the parts of tests/dbbus/test_rpc*.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import nats
from twisted.internet.defer import Deferred

from rosey.bus.settings import BusSettings
from rosey.dbbus.client import BusStorage
from rosey.dbbus.responder import StorageResponder
from rosey.storage.interface import IStorage
from rosey.storage.sql import SQLStorage
from tests.bus.aio import until

T = TypeVar("T")


async def aw(d: Deferred[T]) -> T:
    """A Deferred awaited from asyncio."""
    return await d.asFuture(asyncio.get_running_loop())


@dataclass
class Rig:
    storage: SQLStorage
    responder: StorageResponder | None
    client: IStorage  # as the bot sees it
    nc: Any


@asynccontextmanager
async def rig(
    reactor: Any,
    db_url: str,
    nats_url: str,
    *,
    respond: bool = True,
    timeout: float = 1.5,
    clock: Any = None,
) -> AsyncIterator[Rig]:
    """SQL storage on ``db_url``, a responder on it (unless not ``respond``) and a connected
    client (its reloads timed by ``clock``, by default the reactor) that loaded who has messages
    waiting (if answered); all closed at the end."""
    storage = SQLStorage(db_url, reactor)
    await aw(storage.connect())
    nc = await nats.connect(nats_url)
    responder = None
    if respond:
        responder = StorageResponder(storage)
        await responder.start(nc)
        await nc.flush()
    settings = BusSettings(urls=(nats_url,), reconnect_wait=0.2)
    client = BusStorage(settings, reactor if clock is None else clock, timeout=timeout)
    await aw(client.connect())
    await until(lambda: client.is_connected)
    if respond:  # its first request, answered before the test's
        await until(lambda: client.waiting.loaded)
    try:
        yield Rig(storage, responder, client, nc)
    finally:
        await aw(client.close())
        if responder is not None:
            await responder.stop()
        await nc.close()
        await aw(storage.close())
