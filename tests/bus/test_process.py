"""The bus process (rosey.bus.process + rosey.bus.child): a real child process publishing to a
real nats-server, driven from the reactor the suite runs on (the child has its own asyncio
loop; the daemon's side needs no asyncio)."""

from __future__ import annotations

import asyncio
import datetime
import os
import signal
import sys
from typing import Any

import pytest_twisted
from twisted.internet import reactor

from rosey.bus import interface
from rosey.bus.process import PublisherProcess
from rosey.events import Event
from tests.bus.aio import stored
from tests.bus.natsserver import NatsServer
from tests.bus.test_publisher import CHANNEL, chat, contents, fast
from tests.waiting import eventually


class Odd:
    """A value neither marshal nor JSON can hold."""

    def __str__(self) -> str:
        return "odd"


def started(settings: Any, **kwargs: Any) -> PublisherProcess:
    process = PublisherProcess(settings, reactor, **kwargs)
    process.start()
    return process


@pytest_twisted.ensureDeferred
async def test_events_reach_the_stream_in_order_with_their_receive_time(
    nats_server: NatsServer,
) -> None:
    times = iter(range(1000, 2000))
    process = started(fast(nats_server.url), now=lambda: float(next(times)))
    for n in range(500):
        process.publish(chat(n), CHANNEL)
    assert process.buffered == 500
    await eventually(lambda: process.published == 500, timeout=20)
    assert (process.buffered, process.dropped, process.state) == (0, 0, interface.CONNECTED)
    await process.stop()
    assert process.state == interface.STOPPED
    messages = asyncio.run(stored(nats_server.url))
    assert contents(messages) == [str(n) for n in range(500)]
    assert [body["received_at"] for _, body in messages] == [float(t) for t in range(1000, 1500)]


@pytest_twisted.ensureDeferred
async def test_the_child_outlives_a_sigterm_and_stops_at_the_end_of_its_input(
    nats_server: NatsServer,
) -> None:
    # Under systemd the whole control group gets SIGTERM: the child must wait for the
    # daemon's stop to hand it the last events.
    process = started(fast(nats_server.url))
    await eventually(lambda: process.state == interface.CONNECTED, timeout=20)
    assert process.transport is not None
    os.kill(process.transport.pid, signal.SIGTERM)
    for n in range(100):
        process.publish(chat(n), CHANNEL)
    await process.stop()
    assert not process.running
    assert process.published == 100
    assert contents(asyncio.run(stored(nats_server.url))) == [str(n) for n in range(100)]


@pytest_twisted.ensureDeferred
async def test_a_child_that_dies_is_started_again_and_its_loss_is_counted(
    nats_server: NatsServer, logged: list[dict[str, Any]]
) -> None:
    nats_server.kill()  # the events wait in the child
    process = started(fast(nats_server.url))
    for n in range(20):
        process.publish(chat(n), CHANNEL)
    await eventually(lambda: process._report.received == 20, timeout=20)
    assert process.transport is not None
    os.kill(process.transport.pid, signal.SIGKILL)
    await eventually(lambda: not process.running)
    assert process.dropped == 20
    ended = [e for e in logged if "bus process ended" in e.get("log_format", "")]
    assert [e["lost"] for e in ended] == [20]
    nats_server.start()
    for n in range(20, 30):  # handed to the next child once it runs
        process.publish(chat(n), CHANNEL)
    await eventually(lambda: process.published == 10, timeout=20)
    await process.stop()
    assert contents(asyncio.run(stored(nats_server.url))) == [str(n) for n in range(20, 30)]


@pytest_twisted.ensureDeferred
async def test_a_stop_with_the_bus_away_is_bounded_and_says_what_was_left(
    nats_server: NatsServer, logged: list[dict[str, Any]]
) -> None:
    nats_server.kill()
    process = started(fast(nats_server.url, stop_timeout=0.5))
    for n in range(7):
        process.publish(chat(n), CHANNEL)
    start = reactor.seconds()
    await process.stop()
    assert reactor.seconds() - start < 5
    left = [e for e in logged if "not published" in e.get("text", "")]
    # the child's own line, relayed once at its level
    assert [e["text"] for e in left] == [
        "bus: stopping with 7 events not published (0 dropped earlier)"
    ]
    assert (left[0]["log_namespace"], left[0]["log_level"].name) == ("rosey.bus", "warn")


@pytest_twisted.ensureDeferred
async def test_a_child_that_reads_nothing_bounds_what_the_daemon_holds(
    nats_server: NatsServer, logged: list[dict[str, Any]]
) -> None:
    stuck = (sys.executable, "-c", "import time; time.sleep(60)")
    process = started(fast(nats_server.url, buffer=50, stop_timeout=0.1), argv=stuck)
    await eventually(lambda: process.running)
    for n in range(80):
        process.publish(chat(n), CHANNEL)
    assert process.dropped == 30
    reports = [e for e in logged if "events dropped" in e.get("log_format", "")]
    assert [e["new"] for e in reports] == [1]  # the first at once, the rest a minute later
    assert process.transport is not None
    process.transport.signalProcess("KILL")  # it would ignore the end of its input
    await eventually(lambda: not process.running)
    await process.stop()


@pytest_twisted.ensureDeferred
async def test_an_event_holding_odd_values_is_published_with_them_as_text(
    nats_server: NatsServer, logged: list[dict[str, Any]]
) -> None:
    when = datetime.datetime(2026, 12, 7, tzinfo=datetime.UTC)
    odd = Event("queue", {"item": object.__new__(Odd)}, extra={"when": when, "pair": (1, 2)})
    process = started(fast(nats_server.url))
    process.publish(chat(0), CHANNEL)
    process.publish(odd, CHANNEL)
    process.publish(chat(1), CHANNEL)
    await eventually(lambda: process.published == 3, timeout=20)
    await process.stop()
    messages = asyncio.run(stored(nats_server.url))
    assert contents(messages) == ["0", None, "1"]
    body = messages[1][1]
    assert (body["raw"], body["extra"]) == ({"item": "odd"}, {"when": str(when), "pair": [1, 2]})
    warned = [e for e in logged if "JSON cannot" in e.get("log_format", "")]
    assert [e["name"] for e in warned] == ["queue"]
