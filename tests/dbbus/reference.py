"""The same events through today's in-process path: a mirror and a Recorder on a task.Clock
that shows each event's time (snapshot boundaries stepped through as a running reactor would)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from twisted.internet import task

from rosey.bot.mirror import ChannelMirror
from rosey.dbbus.decode import Published
from rosey.events import Event
from rosey.storage import schema
from rosey.storage.recorder import Recorder
from rosey.storage.sql import SQLStorage


class Source:
    """What the bot is to the recorder: the mirror applies an event, then listeners hear it."""

    def __init__(self, mirror: ChannelMirror) -> None:
        self.mirror = mirror
        self.listeners: list[Callable[[Event], object]] = []

    def subscribe(self, listener: Callable[[Event], object]) -> None:
        self.listeners.append(listener)

    def unsubscribe(self, listener: Callable[[Event], object]) -> None:
        self.listeners.remove(listener)

    def deliver(self, event: Event) -> None:
        self.mirror.apply(event)
        for listener in list(self.listeners):
            listener(event)


async def record_in_process(url: str, events: Sequence[Published], interval: float) -> None:
    """Write ``events`` (one channel) to ``url`` the way the daemon does."""
    from twisted.internet import reactor

    schema.upgrade(url)
    storage = SQLStorage(url, reactor)
    await storage.connect()
    try:
        clock = task.Clock()
        clock.advance(events[0].received_at)
        mirror = ChannelMirror()
        source = Source(mirror)
        # Batches only when flushed, so a status row's write time is the last event's.
        recorder = Recorder(
            storage,
            source,
            view=mirror,
            clock=clock,
            channel=events[0].channel,
            batch_size=1_000_000,
            flush_interval=1e9,
            snapshot_interval=interval,
        )
        recorder.startService()
        boundary = clock.seconds() + interval
        for published in events:
            while boundary <= published.received_at:
                clock.advance(boundary - clock.seconds())
                boundary += interval
            clock.advance(published.received_at - clock.seconds())
            source.deliver(published.event)
        await recorder.flush()
    finally:
        await storage.close()
