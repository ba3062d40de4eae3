"""The daemon's side of the bus process (:mod:`rosey.bus.child`; protocol in
:mod:`rosey.bus.pipe`).

On the reactor thread an event costs an append to a list: once per reactor turn the list is
marshalled and written to the child's stdin in one frame (about 1 – 2 µs an event, bench/README.md),
and the child does the rest on a core of its own. The daemon bounds what it hands over and the
child has not read yet by ``[bus] buffer`` (more is dropped, counted and logged once a minute);
the child bounds its own buffer the same way. A child that dies is started again (1 s, then
doubling up to 30 s); the events it held are counted as dropped and logged.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure

from rosey.bus import interface, pipe
from rosey.bus.overflow import Overflow
from rosey.bus.settings import BusSettings
from rosey.events import Event

log = Logger(namespace="rosey.bus")

#: Restart delays of a child that died: first, cap.
RESTART_FIRST, RESTART_MAX = 1.0, 30.0
#: A child alive this long has its restart delay reset.
HEALTHY_AFTER = 60.0
#: Seconds the stop waits beyond ``stop_timeout`` for the child to exit before killing it.
EXIT_GRACE = 5.0


class PublisherProcess(ProcessProtocol):
    """Hands events to the bus process and keeps its counters (an ``IBus`` minus the
    service part: :class:`rosey.bus.service.BusService` wraps it)."""

    def __init__(
        self,
        settings: BusSettings,
        reactor: Any,
        *,
        now: Callable[[], float] = time.time,
        argv: tuple[str, ...] = (sys.executable, "-m", "rosey.bus.child"),
    ) -> None:
        self.settings = settings
        self.reactor = reactor
        self.now = now
        self.argv = argv
        self.running = False
        self._stopping = False
        self._batch: list[pipe.Item] = []
        self._handed = 0  # events written to the current child
        self._report = pipe.Report()
        self._lines = b""
        self._errors = b""
        # Counters of the children before this one, and the daemon's own drops.
        self._published_before = 0
        self._dropped_before = 0
        self._overflow = Overflow(reactor.callLater, self._report_overflow)
        self._restart_delay = RESTART_FIRST
        self._started_at = 0.0
        self._ended: Deferred[None] | None = None
        self._exited: list[Deferred[None]] = []

    # -- IBus ---------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        if self._stopping and not self.running:
            return interface.STOPPED
        return self._report.state if self.running else interface.DISCONNECTED

    @property
    def published(self) -> int:
        return self._published_before + self._report.published

    @property
    def dropped(self) -> int:
        return self._dropped_before + self._report.dropped + self._overflow.dropped

    @property
    def buffered(self) -> int:
        child = self._handed - self._report.published - self._report.dropped
        return len(self._batch) + max(0, child)

    def publish(self, event: Event, channel: str) -> None:
        if self._stopping:
            return
        if len(self._batch) + self._handed - self._report.received >= self.settings.buffer:
            self._overflow.drop()
            return
        if not self._batch and self.running:
            self.reactor.callLater(0, self._flush)
        self._batch.append(pipe.item(event, channel, self.now()))

    def _flush(self) -> None:
        if not self._batch or not self.running or self.transport is None:
            return
        batch, self._batch = self._batch, []
        try:
            data = pipe.frame(batch)
        except ValueError:  # a value marshal cannot hold: that batch's odd ones as JSON values
            data = pipe.frame([self._plain(it) for it in batch])
        self.transport.write(data)
        self._handed += len(batch)

    def _plain(self, it: pipe.Item) -> pipe.Item:
        try:
            pipe.frame(it)
        except ValueError:
            log.warn(
                "bus: event {name} of {channel} holds values JSON cannot; published as text",
                name=it[2],
                channel=it[0],
            )
            return pipe.plain(it)
        return it

    def _report_overflow(self, new: int) -> None:
        log.warn(
            "bus process is {behind} events behind (bus {state}): {new} events dropped "
            "({total} since start)",
            behind=self.settings.buffer,
            state=self.state,
            new=new,
            total=self.dropped,
        )

    # -- the child ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the child process."""
        env = dict(os.environ)
        self.reactor.spawnProcess(
            self, self.argv[0], list(self.argv), env=env, childFDs={0: "w", 1: "r", 2: "r"}
        )

    def connectionMade(self) -> None:
        self.running = True
        self._started_at = self.reactor.seconds()
        self._handed = 0
        self._report = pipe.Report()
        assert self.transport is not None
        self.transport.write(pipe.settings_frame(self.settings))
        if self._batch:
            self.reactor.callLater(0, self._flush)

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        if childFD == 1:
            self._lines += data
            *lines, self._lines = self._lines.split(b"\n")
            for line in lines:
                if line:
                    self._report = pipe.Report.parse(line)
        elif childFD == 2:
            self._errors += data
            *lines, self._errors = self._errors.split(b"\n")
            for line in lines:
                self._relay(line.decode("utf-8", "replace"))

    def _relay(self, line: str) -> None:
        name, _, text = line.partition(" ")
        try:
            level = LogLevel.levelWithName(name)
        except Exception:  # not one of the child's lines (a crash's output)
            level, text = LogLevel.error, line
        log.emit(level, "{text}", text=text)

    def processEnded(self, reason: Failure) -> None:
        self.running = False
        lost = max(0, self._handed - self._report.published - self._report.dropped)
        said = self._report.final  # the child said what it left (its last log line)
        self._published_before += self._report.published
        self._dropped_before += self._report.dropped + lost
        self._handed = 0
        self._report = pipe.Report(state=interface.DISCONNECTED)
        exits, self._exited = self._exited, []
        for d in exits:
            d.callback(None)
        if self._stopping:
            if lost and not said:
                log.warn("bus: {lost} events were not published before the stop", lost=lost)
            return
        status = reason.value
        if isinstance(status, ProcessTerminated | ProcessDone):
            how = f"exit status {status.exitCode}, signal {status.signal}"
        else:
            how = str(status)
        if self.reactor.seconds() - self._started_at > HEALTHY_AFTER:
            self._restart_delay = RESTART_FIRST
        log.error(
            "bus process ended ({how}); {lost} events it held are lost; "
            "starting it again in {delay:.0f} s",
            how=how,
            lost=lost,
            delay=self._restart_delay,
        )
        self.reactor.callLater(self._restart_delay, self._restart)
        self._restart_delay = min(RESTART_MAX, self._restart_delay * 2)

    def _restart(self) -> None:
        if not self._stopping:
            self.start()

    def stop(self) -> Deferred[None]:
        """Hand over what is left and close the child's stdin; fires once the child exited
        (it publishes within ``stop_timeout``), killing it if it takes longer."""
        self._flush()
        self._stopping = True
        self._overflow.stop()
        if not self.running or self.transport is None:
            return succeed(None)
        exited: Deferred[None] = Deferred()
        self._exited.append(exited)
        self.transport.closeStdin()
        transport = self.transport
        killer = self.reactor.callLater(
            self.settings.stop_timeout + EXIT_GRACE, self._kill, transport
        )

        def disarm(result: object) -> object:
            if killer.active():
                killer.cancel()
            return result

        return exited.addBoth(disarm)

    def _kill(self, transport: Any) -> None:
        if self.running:
            log.error("bus process did not stop in time: killed")
            transport.signalProcess("KILL")
