"""The retention timer: prunes old history a few minutes after start, then once a day.

A child of the storage service, so it stops (cancelling a running prune between two batches)
before the storage closes. One prune at a time: the next day's run waits for the last to end.
Each run logs one line with what went; a failure is logged and the next day tries again.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from rosey.daemon.config import RetentionConfig
from rosey.storage.interface import IStorage

log = Logger(namespace="rosey.retention")

DAY = 86400.0
#: After start: the channels have joined and their bursts are written by then.
FIRST_DELAY = 300.0


class RetentionService(Service):
    """Runs ``storage.prune`` with the configured policy ``first_delay`` seconds after start,
    then every ``interval`` seconds."""

    def __init__(
        self,
        storage: IStorage,
        config: RetentionConfig,
        reactor: IReactorTime,
        *,
        first_delay: float = FIRST_DELAY,
        interval: float = DAY,
    ) -> None:
        self.storage = storage
        self.config = config
        self.reactor = reactor
        self.first_delay = first_delay
        self.interval = interval
        self.setName("retention")
        #: How many runs ended (done or failed), and the counts of the last one that worked.
        self.runs = 0
        self.last_counts: dict[str, int] | None = None
        self._first: IDelayedCall | None = None
        self._loop: LoopingCall | None = None
        self._running: Deferred[dict[str, int]] | None = None

    def startService(self) -> None:
        super().startService()
        self._first = self.reactor.callLater(self.first_delay, self._start_loop)

    def _start_loop(self) -> None:
        self._first = None
        self._loop = LoopingCall(self.run_once)
        self._loop.clock = self.reactor
        # A LoopingCall waits for the Deferred of one run before it schedules the next (and
        # skips the days a run overran): runs never overlap.
        self._loop.start(self.interval, now=True)

    def run_once(self) -> Deferred[None]:
        """Prune now (unless a prune is running); fires when done, never with a failure."""
        if self._running is not None:
            log.info("retention: a prune is still running; not starting another")
            return succeed(None)
        return Deferred.fromCoroutine(self._run())

    async def _run(self) -> None:
        started = self.reactor.seconds()
        d = self.storage.prune(self.config.policy(), batch_size=self.config.batch_size)
        self._running = d
        try:
            counts = await d
        except CancelledError:
            log.info("retention: prune stopped by shutdown")
            return
        except Exception:
            log.failure("retention: prune failed; trying again in a day")
            return
        finally:
            self._running = None
            self.runs += 1
        self.last_counts = counts
        log.info(
            "retention: {summary} in {seconds:.1f}s",
            summary=summarize(counts),
            seconds=self.reactor.seconds() - started,
            counts=counts,
        )

    def stopService(self) -> None:
        super().stopService()
        if self._first is not None and self._first.active():
            self._first.cancel()
        self._first = None
        if self._running is not None:
            self._running.cancel()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None


def summarize(counts: dict[str, Any]) -> str:
    """``deleted 120 chat_messages, 4 plugin_kv`` or ``nothing to delete``."""
    parts = [f"{n} {table}" for table, n in counts.items() if n]
    return "deleted " + ", ".join(parts) if parts else "nothing to delete"
