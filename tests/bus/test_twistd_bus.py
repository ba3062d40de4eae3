"""``twistd --reactor=asyncio rosey`` with ``[bus]``: a real daemon, a real socket.io peer and
a real nats-server.

Recorded CyTube events (tests/fixtures/users_coming_and_going.jsonl) are replayed by the peer
to the daemon while the bus is away; they wait in the buffer, and once nats-server comes up the
stream holds exactly the events the bot saw (rosey's own per-event counters), in order, on
their subjects, and a wildcard subscriber gets them.
"""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import nats
import pytest_twisted
from nats.js.api import DeliverPolicy

from rosey.bus.subjects import subject
from tests.bus.aio import stored
from tests.bus.natsserver import NatsServer
from tests.daemon.test_twistd import (
    PASSWORD,
    TWISTD,
    Output,
    environment,
    failed_start,
    free_port,
    peer,
    treq_get_json,
    write_config,
)
from tests.peers.cytube import CyTubePeer
from tests.recorded import server_events

__all__ = ["peer"]  # the fixture, imported for pytest

T = TypeVar("T")


async def polled(
    read: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float = 15.0
) -> T:
    """``await read()`` every 50 ms until ``done`` says yes; AssertionError after ``timeout``."""
    from twisted.internet import reactor
    from twisted.internet.task import deferLater

    deadline = reactor.seconds() + timeout
    while not done(value := await read()):
        if reactor.seconds() > deadline:
            raise AssertionError(f"still {value!r} after {timeout} s")
        await deferLater(reactor, 0.05, lambda: None)
    return value


def bus_config(tmp_path: Path, site: str, nats_url: str, metrics_port: int) -> Path:
    config = write_config(tmp_path, site)
    config.write_text(
        config.read_text()
        + f'\n[metrics]\nenabled = true\nlisten = "tcp:{metrics_port}:interface=127.0.0.1"\n'
        + f'\n[bus]\nurl = "{nats_url}"\n'
    )
    return config


def test_the_bus_refuses_another_reactor_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "rosey.toml"
    config.write_text(
        '[[channel]]\nsite = "http://127.0.0.1:9"\nname = "labchan"\n'
        '[bus]\nurl = "nats://127.0.0.1:9"\n'
    )
    lines = failed_start(config, tmp_path)
    assert lines == [
        "rosey: config error: [bus] needs the asyncio reactor: run 'rosey run' or "
        "'twistd --reactor=asyncio rosey --config …'"
    ]


async def health(port: int) -> dict[str, Any]:
    _code, body = await treq_get_json(f"http://127.0.0.1:{port}/health")
    assert isinstance(body, dict), body
    return body


async def events_in(port: int, label: str) -> collections.Counter[str]:
    """rosey's own per-event counters for ``label``, from /metrics."""
    import treq
    from twisted.internet import reactor
    from twisted.web.client import HTTPConnectionPool

    pool = HTTPConnectionPool(reactor, persistent=False)
    text = await treq.text_content(await treq.get(f"http://127.0.0.1:{port}/metrics", pool=pool))
    counts: collections.Counter[str] = collections.Counter()
    head = f'rosey_events_in_total{{channel="{label}",event="'
    for line in text.splitlines():
        if line.startswith(head):
            name, _, value = line[len(head) :].partition('"} ')
            counts[name] = int(float(value))
    return counts


async def wildcard(url: str, pattern: str, count: int) -> list[str]:
    """The subjects a JetStream subscriber on ``pattern`` gets (every stored one)."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        sub = await js.subscribe(pattern, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
        return [(await sub.next_msg(timeout=5)).subject for _ in range(count)]
    finally:
        await nc.close()


@pytest_twisted.ensureDeferred
async def test_replayed_capture_buffered_while_the_bus_is_away_then_stored_in_order(
    tmp_path: Path, peer: CyTubePeer, nats_server: NatsServer
) -> None:
    from twisted.internet import reactor

    nats_server.kill()  # down at start: the bot must join all the same
    metrics_port = free_port()
    config = bus_config(tmp_path, peer.site, nats_server.url, metrics_port)
    label = f"{peer.site.split('://')[1]}/labchan"
    out = Output()
    argv = [str(TWISTD), "--reactor=asyncio", "--nodaemon", "--pidfile=", "rosey"]
    process = reactor.spawnProcess(
        out,
        str(TWISTD),
        [*argv, "--config", str(config)],
        env=environment(),
        path=str(tmp_path),
    )
    replay = server_events("users_coming_and_going")
    try:
        await peer.when(lambda p: "labbot" in p.users, timeout=20)
        for name, data in replay:
            peer.emit(name, data)
        chats = sum(name == "chatMsg" for name, _ in replay)
        seen = await polled(lambda: events_in(metrics_port, label), lambda c: c["message"] >= chats)
        body = await health(metrics_port)
        assert body["bus"]["state"] == "connecting"
        assert body["bus"]["buffered"] == sum(seen.values())

        nats_server.start()
        body = await polled(
            lambda: health(metrics_port),
            lambda b: b["bus"]["buffered"] == 0 and b["bus"]["state"] == "connected",
        )
        seen = await events_in(metrics_port, label)
        assert body["bus"]["published"] == sum(seen.values())
        assert body["bus"]["dropped"] == 0
        # Read the stream while the daemon runs (this blocks Twisted's reactor for a moment).
        messages = asyncio.run(stored(nats_server.url))
        joined = asyncio.run(
            wildcard(nats_server.url, "rosey.platform.*.*.user.joined", seen["user_join"])
        )
    finally:
        process.signalProcess("TERM")
        status = await out.ended.addTimeout(30, reactor)
    assert status == 0, out.text
    assert PASSWORD not in out.text

    # Exactly the events the bot saw, each on its subject.
    assert collections.Counter(body["name"] for _, body in messages) == seen
    assert all(s == subject(label, body["name"]) for s, body in messages)
    assert all(body["channel"] == label for _, body in messages)
    assert len({body["id"] for _, body in messages}) == len(messages)
    # The replayed events, in the order the peer sent them.
    raws = [(body["raw"]) for _, body in messages]
    first = raws.index(replay[0][1])
    kept = [json.dumps(r, sort_keys=True) for r in raws[first:]]
    wanted = [json.dumps(data, sort_keys=True) for _, data in replay]
    assert [r for r in kept if r in set(wanted)] == wanted
    assert joined == [subject(label, "user_join")] * seen["user_join"]
    print(f"{len(messages)} events stored: {dict(seen)}")
