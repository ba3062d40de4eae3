"""The publisher against a real nats-server with JetStream, in plain asyncio (no Twisted).

Each test runs its own asyncio loop: :class:`~rosey.bus.nats_bus.NatsPublisher` is asyncio
code; the Twisted service around it is tested through a real ``twistd --reactor=asyncio``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from rosey import events
from rosey.bus import interface
from rosey.bus.nats_bus import NatsPublisher
from rosey.bus.settings import BusSettings
from rosey.events import Event
from tests.bus.aio import stored, until
from tests.bus.natsserver import NatsServer

CHANNEL = "cytu.be/mychannel"


def fast(url: str, **changes: Any) -> BusSettings:
    """Settings for a test: quick reconnects and acks."""
    return dataclasses.replace(
        BusSettings(urls=(url,), reconnect_wait=0.1, ack_timeout=1.0), **changes
    )


def chat(n: int) -> Event:
    return Event(events.MESSAGE, {"msg": str(n)}, user="alice", content=str(n))


def contents(messages: list[tuple[str, dict[str, Any]]]) -> list[str | None]:
    return [body["content"] for _, body in messages]


def test_events_are_stored_in_order_on_their_subjects(nats_server: NatsServer) -> None:
    async def scenario() -> list[tuple[str, dict[str, Any]]]:
        bus = NatsPublisher(fast(nats_server.url))
        bus.start()
        bus.publish(Event(events.USER_JOIN, {"name": "bob"}, user="bob"), CHANNEL)
        for n in range(100):
            bus.publish(chat(n), CHANNEL)
        bus.publish(Event("changeMedia", {"id": "x"}), "other.site/chan")
        await until(lambda: bus.published == 102)
        assert bus.state == interface.CONNECTED
        await bus.stop()
        return await stored(nats_server.url)

    messages = asyncio.run(scenario())
    assert [s for s, _ in messages] == [
        "rosey.platform.cytube.cytu_2ebe_2fmychannel.user.joined",
        *["rosey.platform.cytube.cytu_2ebe_2fmychannel.chat.message"] * 100,
        "rosey.platform.cytube.other_2esite_2fchan.media.changed",
    ]
    assert contents(messages)[1:101] == [str(n) for n in range(100)]
    assert len({body["id"] for _, body in messages}) == 102


def test_a_killed_and_restarted_server_gets_every_event_exactly_once(
    nats_server: NatsServer,
) -> None:
    async def scenario() -> NatsPublisher:
        bus = NatsPublisher(fast(nats_server.url))
        bus.start()
        for n in range(300):
            bus.publish(chat(n), CHANNEL)
        await until(lambda: bus.published >= 50)
        nats_server.kill()  # mid-stream: some publishes in flight, the rest buffered
        await until(lambda: bus.state == interface.DISCONNECTED)
        for n in range(300, 600):
            bus.publish(chat(n), CHANNEL)
        nats_server.start()
        await until(lambda: bus.buffered == 0, timeout=20)
        await bus.stop()
        return bus

    bus = asyncio.run(scenario())
    assert bus.dropped == 0
    messages = asyncio.run(stored(nats_server.url))
    assert contents(messages) == [str(n) for n in range(600)]
    assert len({body["id"] for _, body in messages}) == 600


def test_a_server_down_at_start_gets_the_buffer_once_it_comes_up(
    nats_server: NatsServer,
) -> None:
    nats_server.kill()

    async def scenario() -> None:
        bus = NatsPublisher(fast(nats_server.url))
        bus.start()
        for n in range(50):
            bus.publish(chat(n), CHANNEL)
        await asyncio.sleep(0)  # the publisher tries, and fails to connect
        assert bus.state == interface.CONNECTING
        assert bus.buffered == 50
        nats_server.start()
        await until(lambda: bus.published == 50)
        await bus.stop()

    asyncio.run(scenario())
    assert contents(asyncio.run(stored(nats_server.url))) == [str(n) for n in range(50)]


def test_an_overflow_is_counted_and_reported(
    nats_server: NatsServer, logged: list[dict[str, Any]]
) -> None:
    nats_server.kill()

    async def scenario() -> NatsPublisher:
        bus = NatsPublisher(fast(nats_server.url, buffer=10))
        bus.start()
        for n in range(25):
            bus.publish(chat(n), CHANNEL)
        assert bus.buffered == 10
        assert bus.dropped == 15
        nats_server.start()
        await until(lambda: bus.published == 10)
        await bus.stop()
        return bus

    bus = asyncio.run(scenario())
    reports = [e for e in logged if "buffer full" in e.get("log_format", "")]
    # At the first drop, then not once per drop: the other 14 at the next report (here the
    # stop, which never leaves a drop unreported).
    assert [(e["new"], e["total"]) for e in reports] == [(1, 1), (14, 15)]
    assert contents(asyncio.run(stored(nats_server.url))) == [str(n) for n in range(10)]
    assert bus.dropped == 15


def test_a_stop_with_the_bus_away_says_what_it_could_not_publish(
    nats_server: NatsServer, logged: list[dict[str, Any]]
) -> None:
    nats_server.kill()

    async def scenario() -> None:
        bus = NatsPublisher(fast(nats_server.url))
        bus.start()
        for n in range(7):
            bus.publish(chat(n), CHANNEL)
        await bus.stop()
        assert bus.state == interface.STOPPED

    asyncio.run(scenario())
    left = [e for e in logged if "not published" in e.get("log_format", "")]
    assert [e["left"] for e in left] == [7]


def test_wrong_credentials_are_logged_once_and_retried_without_the_secret(
    nats_server: NatsServer, logged: list[dict[str, Any]]
) -> None:
    nats_server.kill()
    secured = NatsServer(
        nats_server.binary,
        nats_server.store,
        nats_server.port,
        args=("--user", "rosey", "--pass", "right-pw"),
    )
    secured.start()
    try:

        async def scenario() -> NatsPublisher:
            bus = NatsPublisher(fast(secured.url, user="rosey", password="wrong-pw"))
            bus.start()
            bus.publish(chat(0), CHANNEL)
            await until(lambda: any("Authorization" in str(e.get("error")) for e in logged))
            await until(lambda: secured.log.count(b"authentication error") >= 3)
            assert bus.state == interface.CONNECTING
            await bus.stop()
            return bus

        bus = asyncio.run(scenario())
    finally:
        secured.kill()
    errors = [e for e in logged if "Authorization" in str(e.get("error"))]
    assert len(errors) == 1  # one line for three refused attempts
    assert "wrong-pw" not in repr(errors)
    assert bus.buffered == 1
