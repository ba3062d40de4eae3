"""A real process for the SIGTERM test: the storage service and a recorder on a real reactor,
fed chat events by a generator at a fixed rate (default 5,000/s).

    python -m tests.storage.sigterm_app DATABASE_URL [RATE]

Prints ``ready``, then ``progress N`` about every 0.2 s (N = events handed to the recorder so
far); on SIGTERM the reactor stops, the generator stops first, the storage service writes out
the buffer and closes, and the process prints ``handed=N dropped=D written=W`` and exits.
"""

from __future__ import annotations

import sys
import time

from twisted.internet.task import LoopingCall

from rosey.bot.mirror import ChannelMirror
from rosey.events import Event
from rosey.storage import schema
from rosey.storage.recorder import Recorder
from rosey.storage.service import StorageService
from rosey.storage.sql import SQLStorage


class State:
    handed = 0
    start = 0.0
    last_print = 0.0


class Source:
    """The smallest event source: what the recorder subscribes to."""

    channel = "labchan"
    username = "labbot"

    def __init__(self) -> None:
        self.listeners: list = []

    def subscribe(self, listener) -> None:
        self.listeners.append(listener)

    def unsubscribe(self, listener) -> None:
        self.listeners.remove(listener)


def main() -> None:
    from twisted.internet import reactor

    url = sys.argv[1]
    rate = float(sys.argv[2]) if len(sys.argv) > 2 else 5000.0
    schema.upgrade(url)  # before the reactor, as the daemon does

    source = Source()
    storage = SQLStorage(url, reactor)
    service = StorageService(storage)
    # The view the recorder reads: chat lines need nothing from it.
    recorder = Recorder(storage, source, view=ChannelMirror(), clock=reactor, channel="labchan")
    recorder.setServiceParent(service)
    state = State()

    def generate() -> None:
        now = time.monotonic()
        due = int((now - state.start) * rate) - state.handed
        for _ in range(max(0, due)):
            i = state.handed
            event = Event(
                "message",
                {"username": f"user{i % 50}", "msg": f"message {i}", "time": i},
                user=f"user{i % 50}",
                content=f"message {i}",
                timestamp=1_800_000_000 + i / 1000,
            )
            for listener in list(source.listeners):
                listener(event)
            state.handed += 1
        if now - state.last_print >= 0.2:
            state.last_print = now
            print(f"progress {state.handed}", flush=True)

    generator = LoopingCall(generate)

    def stop():
        if generator.running:
            generator.stop()  # no event arrives after this point
        return service.stopService()

    def start() -> None:
        service.startService()
        state.start = state.last_print = time.monotonic()
        generator.start(0.005)
        print("ready", flush=True)

    reactor.addSystemEventTrigger("before", "shutdown", stop)
    reactor.callWhenRunning(start)
    reactor.run()
    print(
        f"handed={state.handed} dropped={recorder.dropped} written={recorder.written}",
        flush=True,
    )


if __name__ == "__main__":
    main()
