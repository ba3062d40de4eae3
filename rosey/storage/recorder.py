"""The recorder: the bot's events, written to storage in batches.

It subscribes to a ``source`` that delivers each :class:`rosey.events.Event` after the channel
``view`` (an :class:`~rosey.interfaces.IChannelState`) has applied it: in the daemon the bot,
which hands each event on right after its mirror step, and the bot's mirror. The view is the
channel's one model: who is here, the connection count, who queued what plays and the bot's own
login, rank and AFK flag come from it (:mod:`rosey.storage.tracker`). It keeps the full chat
log, joins and leaves with session time, PMs to the bot, high-water marks, a user-count snapshot
every ``snapshot_interval`` seconds, every media change and the bot's status.

Writes are buffered and sent as one :meth:`IStorage.record` transaction per batch: when
``batch_size`` operations wait, or ``flush_interval`` seconds after the first one arrived,
whichever comes first; one batch is in flight at a time. A batch takes everything waiting, up
to ``max_batch`` operations (default ``4 * batch_size``): when the database falls behind, fewer
and bigger transactions catch up faster (a batch costs one thread hop, one commit and one stats
row per user, however many lines the user wrote). The buffer holds at most ``max_buffer``
operations: past that, new ones are dropped, counted in :attr:`Recorder.dropped` and logged
(never silently). A failed batch goes back to the front of the buffer and is retried with
exponential backoff while the bot keeps running. ``stopService`` writes out what is buffered
(waiting at most ``stop_timeout`` seconds for a database that is down).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from rosey.events import Event
from rosey.interfaces import IChannelState
from rosey.storage import ops as o
from rosey.storage.errors import StorageUnavailable
from rosey.storage.interface import IStorage
from rosey.storage.tracker import ChannelTracker


class EventSource(Protocol):
    """Delivers events to subscribed listeners, each after the recorder's view applied it (the
    bot does: :meth:`rosey.bot.service.Bot.subscribe`)."""

    def subscribe(self, listener: Callable[[Event], object]) -> None: ...

    def unsubscribe(self, listener: Callable[[Event], object]) -> None: ...


class Recorder(Service):
    """Records one channel's events into an :class:`IStorage` (see the module docstring)."""

    log = Logger()

    def __init__(
        self,
        storage: IStorage,
        source: EventSource,
        *,
        view: IChannelState,
        clock: IReactorTime,
        channel: str,
        batch_size: int = 2000,
        max_batch: int | None = None,
        flush_interval: float = 0.1,
        max_buffer: int = 100_000,
        snapshot_interval: float = 300.0,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        stop_timeout: float = 10.0,
        report_interval: float = 10.0,
    ) -> None:
        if not channel:
            raise ValueError("the recorder needs a channel name")
        #: The key rows are scoped by (the bot's ``storage_key``).
        self.channel: str = channel
        self._storage = storage
        self._source = source
        self._clock = clock
        self.batch_size = batch_size
        self.max_batch = max(batch_size, max_batch if max_batch is not None else 4 * batch_size)
        #: Called with (rows, seconds) after each batch is written (the daemon's metrics).
        self.on_batch: Callable[[int, float], None] | None = None
        #: Clock time of the last successful batch (or of the start).
        self.last_written_at: float = clock.seconds()
        self._batch_started = 0.0
        self.flush_interval = flush_interval
        self.max_buffer = max_buffer
        self.snapshot_interval = snapshot_interval
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.stop_timeout = stop_timeout
        self.report_interval = report_interval

        self._buffer: deque[o.WriteOp] = deque()
        self._in_flight: Deferred[None] | None = None
        self._in_flight_batch: list[o.WriteOp] = []
        self._closed = False
        self._timer: IDelayedCall | None = None
        self._retrying = False
        self._due = False
        self._backoff = retry_initial
        self._waiters: list[Deferred[None]] = []
        self._draining = 0
        self._snapshots = LoopingCall(self._snapshot)
        self._snapshots.clock = clock
        self._report: IDelayedCall | None = None
        self._unreported_drops = 0
        self.tracker = ChannelTracker(clock, view, self._push)

        #: Events handed to the recorder.
        self.received = 0
        #: Write operations committed.
        self.written = 0
        #: Write operations dropped because the buffer was full.
        self.dropped = 0
        #: Batches that failed (and were retried).
        self.failures = 0

    # -- service ------------------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        self.last_written_at = self._clock.seconds()
        self.tracker.started(self._clock.seconds())
        self._source.subscribe(self.on_event)
        if self.snapshot_interval > 0:
            self._snapshots.start(self.snapshot_interval, now=False)

    def stopService(self) -> Deferred[None]:
        super().stopService()
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        self._source.unsubscribe(self.on_event)
        if self._snapshots.running:
            self._snapshots.stop()
        self.tracker.stopped(self._clock.seconds())
        await self._drain(self._clock.seconds() + self.stop_timeout)
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._report is not None and self._report.active():
            self._report.cancel()
        self._report_drops(again=False)
        unwritten = len(self._buffer) + len(self._in_flight_batch)
        if unwritten:
            self.log.error(
                "storage: gave up after {timeout}s with {n} writes for {channel} not written; "
                "they are lost",
                timeout=self.stop_timeout,
                n=unwritten,
                channel=self.channel,
            )
        self.log.info(
            "recorder for {channel} stopped: {received} events, {written} writes, "
            "{dropped} dropped",
            channel=self.channel,
            received=self.received,
            written=self.written,
            dropped=self.dropped,
        )

    # -- events -------------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Turn one event into write operations (never raises)."""
        self.received += 1
        try:
            self.tracker.handle(event)
        except Exception:
            self.log.failure(
                "recorder: cannot record {name} event; skipped", name=getattr(event, "name", "?")
            )

    def _snapshot(self) -> None:
        sample = self.tracker.sample(self._clock.seconds())
        if sample is not None:
            self._push(sample)

    # -- buffer -------------------------------------------------------------------------------

    @property
    def buffered(self) -> int:
        """Write operations waiting in the buffer (not counting a batch in flight)."""
        return len(self._buffer)

    def _push(self, op: o.WriteOp) -> None:
        if len(self._buffer) >= self.max_buffer:
            self._drop()
            return
        self._buffer.append(op)
        if len(self._buffer) >= self.batch_size:
            self._flush()
        elif self._timer is None:
            self._timer = self._clock.callLater(self.flush_interval, self._on_timer)

    def _drop(self) -> None:
        self.dropped += 1
        self._unreported_drops += 1
        if self._report is None:
            self.log.warn(
                "storage: write buffer for {channel} full ({max} waiting): dropping events "
                "until the database catches up",
                channel=self.channel,
                max=self.max_buffer,
            )
            self._unreported_drops = 0
            self._report = self._clock.callLater(self.report_interval, self._report_drops)

    def _report_drops(self, again: bool = True) -> None:
        self._report = None
        if self._unreported_drops:
            self.log.warn(
                "storage: dropped {n} events for {channel} in the last {interval}s "
                "(buffer full; {total} dropped in all)",
                n=self._unreported_drops,
                channel=self.channel,
                interval=self.report_interval,
                total=self.dropped,
            )
            self._unreported_drops = 0
            if again:
                self._report = self._clock.callLater(self.report_interval, self._report_drops)

    def _on_timer(self) -> None:
        self._timer = None
        self._due = True
        self._flush()

    def _take(self) -> list[o.WriteOp]:
        buf = self._buffer
        if len(buf) <= self.max_batch:
            batch = list(buf)
            buf.clear()
        else:
            batch = [buf.popleft() for _ in range(self.max_batch)]
        batch.extend(self.tracker.pending(self._clock.seconds()))
        return batch

    def _flush(self) -> None:
        if self._in_flight is not None or self._retrying:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._due = False
        batch = self._take()
        if not batch:
            return
        self._in_flight_batch = batch
        self._batch_started = self._clock.seconds()
        d = self._in_flight = self._storage.record(self.channel, batch)
        d.addCallbacks(self._written, self._failed, callbackArgs=(batch,), errbackArgs=(batch,))

    def _written(self, _: None, batch: list[o.WriteOp]) -> None:
        self._in_flight = None
        self._in_flight_batch = []
        if self._closed:
            self.log.info("storage: a last batch of {n} writes got through", n=len(batch))
            return
        self.written += len(batch)
        self.last_written_at = now = self._clock.seconds()
        if self.on_batch is not None:
            self.on_batch(len(batch), now - self._batch_started)
        if self._backoff != self.retry_initial:
            self.log.info(
                "storage: writing for {channel} again after {failures} failed batches",
                channel=self.channel,
                failures=self.failures,
            )
            self._backoff = self.retry_initial
        self._next()

    def _failed(self, failure: Failure, batch: list[o.WriteOp]) -> None:
        self._in_flight = None
        self._in_flight_batch = []
        self.failures += 1
        if self._closed:
            return  # stopped and already reported as lost
        self._buffer.extendleft(reversed(batch))
        delay = self._backoff
        self._backoff = min(self._backoff * 2, self.retry_max)
        if failure.check(StorageUnavailable):
            self.log.warn(
                "storage unavailable ({error}); {n} writes for {channel} kept, retry in "
                "{delay:.1f}s",
                error=failure.value,
                n=len(self._buffer),
                channel=self.channel,
                delay=delay,
            )
        else:
            self.log.failure(
                "storage: batch for {channel} failed; retry in {delay:.1f}s",
                failure,
                channel=self.channel,
                delay=delay,
            )
        self._retrying = True
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._clock.callLater(delay, self._retry)
        self._notify()

    def _retry(self) -> None:
        self._timer = None
        self._retrying = False
        self._flush()

    def _next(self) -> None:
        if self._buffer and (self._due or len(self._buffer) >= self.batch_size or self._draining):
            self._flush()
        elif self._buffer and self._timer is None:
            self._timer = self._clock.callLater(self.flush_interval, self._on_timer)
        self._notify()

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            if not d.called:  # a drain waiter may have timed out already
                d.callback(None)

    def _busy(self) -> bool:
        return bool(self._buffer) or self._in_flight is not None or self.tracker.has_pending()

    def wait_batch(self) -> Deferred[None]:
        """Fires when the batch in flight has finished, written or failed (now if none)."""
        d: Deferred[None] = Deferred()
        if self._in_flight is None:
            d.callback(None)
        else:
            self._waiters.append(d)
        return d

    def flush(self) -> Deferred[None]:
        """Write out everything buffered now; fires once nothing is left (retries included)."""
        return Deferred.fromCoroutine(self._drain(None))

    async def _drain(self, deadline: float | None) -> None:
        self._draining += 1
        try:
            while self._busy():
                if self._in_flight is None and not self._retrying:
                    self._flush()
                if not self._busy():
                    break
                waiter: Deferred[None] = Deferred()
                self._waiters.append(waiter)
                if deadline is not None:
                    remaining = deadline - self._clock.seconds()
                    if remaining <= 0:
                        self._waiters.remove(waiter)
                        return
                    waiter.addTimeout(remaining, self._clock)
                try:
                    await waiter
                except Exception:  # timed out
                    return
        finally:
            self._draining -= 1
