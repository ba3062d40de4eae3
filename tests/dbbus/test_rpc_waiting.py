"""``may_have_outbound`` in bus mode: the client answers ``!tell``'s check from memory, loaded
through a real nats-server from a real responder on a real SQLite or PostgreSQL storage, and
answers "maybe" whenever it cannot know."""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock

from rosey.dbbus.client import BusStorage
from rosey.dbbus.responder import StorageResponder
from rosey.storage.interface import IStorage
from tests.bus.aio import until
from tests.bus.natsserver import NatsServer
from tests.dbbus.aio import on_asyncio_reactor
from tests.dbbus.rpc import aw, rig

CH = "cytu.be/lab"


def test_may_have_outbound_is_answered_from_what_the_service_loaded(
    nats_server: NatsServer, migrated_url: str
) -> None:
    clock = Clock()  # the client's reloads: advanced by hand

    async def scenario(reactor: Any) -> IStorage:
        # timeout: a load timed out on a busy machine would be a "maybe" not expected here
        url = nats_server.url
        async with rig(reactor, migrated_url, url, respond=False, clock=clock, timeout=10.0) as r:
            client, storage = r.client, r.storage  # the client as the bot sees it
            assert isinstance(r.client, BusStorage)
            waiting = r.client.waiting
            await aw(storage.enqueue_outbound(CH, "Carol", "hello", "alice"))

            # Connected, but no service answers: the first load failed, a retry is due.
            await until(lambda: bool(clock.getDelayedCalls()))
            assert not waiting.loaded
            assert client.may_have_outbound(CH, "nobody")

            responder = StorageResponder(storage)
            await responder.start(r.nc)
            await r.nc.flush()
            try:
                clock.advance(waiting.retry)
                await aw(waiting.load())  # joins the retry: one request
                assert (waiting.loaded, responder.answered) == (True, 1)
                assert not client.may_have_outbound(CH, "nobody")
                assert client.may_have_outbound(CH, "carol")
                assert client.may_have_outbound("CYTU.BE/Lab", "CAROL")

                # Queued through the client: "maybe" before the service answered, and after.
                queued = client.enqueue_outbound(CH, "Dave", "psst", sender="carol")
                assert client.may_have_outbound(CH, "dave")
                await aw(queued)
                assert client.may_have_outbound(CH, "dave")

                # A read that finds some keeps the recipient; one that finds none drops them.
                [row] = await aw(client.get_unsent_outbound(CH, "carol"))
                assert client.may_have_outbound(CH, "carol")
                await aw(client.mark_outbound_sent(CH, row.id))
                assert client.may_have_outbound(CH, "carol")  # not known until read
                assert await aw(client.get_unsent_outbound(CH, "carol")) == []
                assert not client.may_have_outbound(CH, "carol")
                assert client.may_have_outbound(CH, "dave")

                # Queued behind the client's back: seen at the next load.
                await aw(storage.enqueue_outbound(CH, "erin", "direct"))
                assert not client.may_have_outbound(CH, "erin")
                clock.advance(waiting.refresh)
                await aw(waiting.load())  # joins the reload
                assert client.may_have_outbound(CH, "erin")
                assert not client.may_have_outbound(CH, "carol")
                assert responder.answered == 6  # two loads, four calls: nothing else asked
            finally:
                await responder.stop()
        return client

    client = on_asyncio_reactor(scenario)
    # Closed: "maybe" (asking reports the outage), and no reload left behind.
    assert client.may_have_outbound(CH, "nobody")
    assert not clock.getDelayedCalls()
