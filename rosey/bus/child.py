"""The bus's own process: ``python -m rosey.bus.child``, started by the daemon
(:mod:`rosey.bus.process`); the protocol is in :mod:`rosey.bus.pipe`.

It reads the events from stdin and publishes them with :class:`~rosey.bus.nats_bus.NatsPublisher`
on its own asyncio loop, so encoding and nats-py's per-message work never take the daemon's
reactor thread. It ignores SIGTERM and SIGINT: under systemd the whole control group gets the
stop signal, and the child must outlive the daemon's own stop to publish what is left. It stops
at the end of its stdin (the daemon stopping, or dying: a dead daemon closes the pipe too).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from twisted.logger import (
    ILogObserver,
    LogEvent,
    formatEvent,
    globalLogBeginner,
)
from zope.interface import provider

from rosey.bus import pipe
from rosey.bus.nats_bus import NatsPublisher

#: Seconds between two reports of changed counters.
REPORT_EVERY = 0.1
READ_SIZE = 1 << 20


@provider(ILogObserver)
def _to_stderr(event: LogEvent) -> None:
    level = event.get("log_level")
    text = formatEvent(event).replace("\n", " | ")
    failure = event.get("log_failure")
    if failure is not None:
        text = f"{text} | {failure.getTraceback()!r}"
    sys.stderr.write(f"{getattr(level, 'name', 'info')} {text}\n")
    sys.stderr.flush()


class Child:
    """The child's work: settings, then events, from ``read``; reports through ``write``."""

    def __init__(self, write: Any = None) -> None:
        self.write = write or (lambda data: os.write(1, data))
        self.publisher: NatsPublisher | None = None
        self.received = 0
        self._last: pipe.Report | None = None

    def report(self, *, final: bool = False) -> None:
        """Write the counters if they changed (always the final ones)."""
        pub = self.publisher
        now = pipe.Report(
            state=pub.state if pub else "connecting",
            received=self.received,
            published=pub.published if pub else 0,
            dropped=pub.dropped if pub else 0,
            buffered=pub.buffered if pub else 0,
            final=final,
        )
        if final or now != self._last:
            self._last = now
            self.write(now.line())

    def take(self, value: Any) -> None:
        """One frame: the settings first, then batches of events."""
        if self.publisher is None:
            self.publisher = NatsPublisher(pipe.settings_of(value))
            self.publisher.start()
            return
        for it in value:
            event, channel, received_at = pipe.event_of(it)
            self.publisher.publish(event, channel, received_at)
        self.received += len(value)

    async def reporting(self) -> None:
        while True:
            self.report()
            await asyncio.sleep(REPORT_EVERY)

    async def run(self, reader: asyncio.StreamReader) -> None:
        """Until the end of ``reader``: publish, then stop within the bound and report."""
        frames = pipe.FrameReader()
        reporter = asyncio.ensure_future(self.reporting())
        try:
            while data := await reader.read(READ_SIZE):
                for value in frames.feed(data):
                    self.take(value)
            if self.publisher is not None:
                await self.publisher.stop()
        finally:
            reporter.cancel()
            self.report(final=True)


async def _main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=READ_SIZE)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await Child().run(reader)


def main() -> None:
    """The child's entry point."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    globalLogBeginner.beginLoggingTo([_to_stderr], redirectStandardIO=False)
    asyncio.run(_main())


if __name__ == "__main__":
    main()
