"""BatchPuller against a real nats-server: batches in stream order, an empty stream, a batch
filled while it waits, interrupt, messages delivered late, an error status."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import nats
import nats.js.errors
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from rosey.dbbus.pull import BatchPuller
from tests.bus.natsserver import NatsServer

T = TypeVar("T")

STREAM, DURABLE, SUBJECT = "PULLTEST", "puller", "pulltest.events"


def run(scenario: Callable[[], Awaitable[T]], bound: float = 30.0) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(bound):
            return await scenario()

    return asyncio.run(bounded())


@asynccontextmanager
async def stream(server: NatsServer) -> AsyncIterator[tuple[Any, Any, BatchPuller]]:
    """A connection, its JetStream context, a stream with a durable consumer and a puller."""
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=STREAM, subjects=[SUBJECT]))
    await js.add_consumer(
        STREAM, ConsumerConfig(durable_name=DURABLE, ack_policy=AckPolicy.EXPLICIT, ack_wait=30)
    )
    puller = BatchPuller(nc, STREAM, DURABLE)
    await puller.start()
    try:
        yield nc, js, puller
    finally:
        await puller.stop()
        await nc.close()


async def publish(js: Any, first: int, count: int) -> None:
    for i in range(first, first + count):
        await js.publish(SUBJECT, str(i).encode())


async def until(js: Any, done: Callable[[Any], bool]) -> None:
    """Until ``done(consumer info)`` (bounded by the scenario's bound)."""
    while not done(await js.consumer_info(STREAM, DURABLE)):
        await asyncio.sleep(0.01)


def numbers(msgs: list[Any]) -> list[int]:
    return [int(m.data) for m in msgs]


def test_batches_come_in_stream_order_and_acks_work(nats_server: NatsServer) -> None:
    async def scenario() -> None:
        async with stream(nats_server) as (_, js, puller):
            await publish(js, 0, 25)
            first = await puller.fetch(10, 2.0)
            second = await puller.fetch(10, 2.0)
            third = await puller.fetch(10, 2.0)  # the 5 left
            assert numbers(first + second + third) == list(range(25))
            for msg in first + second + third:
                await msg.ack()
            # Acknowledged: the server handles acks asynchronously, so until (bounded) it says so.
            await until(js, lambda info: info.ack_floor.stream_seq == 25)
            assert (await js.consumer_info(STREAM, DURABLE)).num_ack_pending == 0

    run(scenario)


def test_an_empty_stream_gives_nothing_after_the_timeout(nats_server: NatsServer) -> None:
    async def scenario() -> float:
        async with stream(nats_server) as (_, _js, puller):
            began = time.monotonic()
            assert await puller.fetch(10, 0.3) == []
            return time.monotonic() - began

    waited = run(scenario)
    assert 0.25 <= waited < 1.5


def test_a_waiting_fetch_returns_with_the_first_messages(nats_server: NatsServer) -> None:
    """On a quiet stream an event is handed over when it comes, not when the request expires;
    what the still open request delivers later is kept for the next fetch."""

    async def scenario() -> tuple[list[int], float, list[int]]:
        async with stream(nats_server) as (_, js, puller):
            began = time.monotonic()
            fetching = asyncio.ensure_future(puller.fetch(10, 10.0))
            await until(js, lambda info: info.num_waiting == 1)  # the waiting request is in
            await publish(js, 0, 1)
            first = numbers(await fetching)
            waited = time.monotonic() - began
            await publish(js, 1, 2)  # delivered to the same request, still open
            await until(js, lambda info: info.num_ack_pending == 3)
            rest = numbers(await puller.fetch(10, 10.0))
            return first, waited, rest

    first, waited, rest = run(scenario)
    assert first == [0]
    assert waited < 5.0  # not the request's 10 s
    assert rest == [1, 2]


def test_after_interrupt_only_what_was_delivered(nats_server: NatsServer) -> None:
    """An interrupted fetch returns at once. Its request is still open on the server, so what
    is published next is delivered to this puller: the next fetch returns it without asking
    for more (the consumer's stop writes it rather than leave it to a redelivery)."""

    async def scenario() -> tuple[list[int], list[int], float]:
        async with stream(nats_server) as (_, js, puller):
            fetching = asyncio.ensure_future(puller.fetch(5, 10.0))
            await until(js, lambda info: info.num_waiting == 1)
            began = time.monotonic()
            puller.interrupt()
            interrupted = numbers(await fetching)
            waited = time.monotonic() - began
            await publish(js, 0, 3)  # into the old request, still open on the server
            await until(js, lambda info: info.num_ack_pending == 3)  # delivered
            began = time.monotonic()
            delivered = numbers(await puller.fetch(5, 10.0))
            waited = max(waited, time.monotonic() - began)
            return interrupted, delivered, waited

    interrupted, delivered, waited = run(scenario)
    assert interrupted == []
    assert waited < 1.0
    assert delivered == [0, 1, 2]


def test_an_error_status_is_raised(nats_server: NatsServer) -> None:
    async def scenario() -> None:
        async with stream(nats_server) as (nc, _js, _puller):
            missing = BatchPuller(nc, STREAM, "no-such-consumer")
            await missing.start()
            try:
                with pytest.raises(nats.js.errors.APIError):
                    await missing.fetch(5, 2.0)
            finally:
                await missing.stop()

    run(scenario)
