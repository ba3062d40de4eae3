"""The publisher on the official nats-py client (asyncio); it runs in the bus's own process
(:mod:`rosey.bus.child`), fed by the daemon through a pipe (:mod:`rosey.bus.process`).

:class:`NatsPublisher` is plain asyncio: one ordered pipeline for every channel. ``publish``
appends to a bounded buffer at once (never blocks the caller); one task sends the buffer's head
to JetStream with ``Nats-Msg-Id`` = the event id, keeping up to ``WINDOW`` acks in flight, and
takes an event off the buffer only once the stream acknowledged it. One connection delivers in
order, so the stream holds the events in arrival order. When an ack fails or does not come
(the server went away), every event still unacknowledged is sent again, oldest first, with the
same ids: JetStream's de-duplication stores each once. While the bus is away the events wait in
the buffer; nats-py reconnects by itself (``max_reconnect_attempts=-1``), and the pipeline
resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import nats.errors
import nats.js.errors
from nats.js.api import StreamConfig
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from rosey.bus import interface, payload
from rosey.bus.interface import IBus
from rosey.bus.nats_client import LoopClient
from rosey.bus.overflow import Overflow
from rosey.bus.settings import BusSettings
from rosey.bus.subjects import ALL, subject
from rosey.events import Event

log = Logger(namespace="rosey.bus")

#: JetStream's de-duplication window (seconds): longer than any retry of one event.
DUPLICATE_WINDOW = 120.0
#: Seconds between two looks at the connection while waiting (an ack, or events to send).
LIVENESS_CHECK = 0.25
#: Acks in flight at most: enough to keep the connection busy (bench/README.md, bus parts).
WINDOW = 256
DAY = 86400.0

_FAILED = (TimeoutError, nats.errors.Error, nats.js.errors.Error)


class ConnectionLost(Exception):
    """The connection went away with acks in flight."""


@implementer(IBus)
class NatsPublisher(LoopClient):
    """Publishes events to a JetStream stream in order, buffering while the bus is away."""

    reconnect = False  # a lost connection is replaced (see _forget_connection)

    def __init__(
        self,
        settings: BusSettings,
        *,
        now: Callable[[], float] = time.time,
        window: int = WINDOW,
    ) -> None:
        super().__init__(settings)
        self.now = now
        self.window = max(1, window)
        self.published = 0
        #: Events not yet acknowledged: (subject, id, payload), oldest first; the first
        #: ``len(self._acks)`` of them are on the wire.
        self._queue: deque[tuple[str, str, bytes]] = deque()
        self._acks: deque[asyncio.Future[Any]] = deque()
        self._wake = asyncio.Event()
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()
        self._drained = asyncio.Event()
        self._overflow = Overflow(
            lambda delay, f: asyncio.get_running_loop().call_later(delay, f),
            self._report_overflow,
        )

    @property
    def buffered(self) -> int:
        return len(self._queue)

    def publish(self, event: Event, channel: str, received_at: float | None = None) -> None:
        """Queue ``event``; ``received_at`` is when rosey received it (default: now)."""
        if self.state == interface.STOPPED:
            return
        if len(self._queue) >= self.settings.buffer:
            self._overflow.drop()
            return
        event_id = payload.new_id()
        data = payload.encode(event, channel, event_id, received_at or self.now())
        self._queue.append((subject(channel, event.name, event.platform), event_id, data))
        self._drained.clear()
        self._wake.set()

    @property
    def dropped(self) -> int:
        return self._overflow.dropped

    def _report_overflow(self, new: int) -> None:
        log.warn(
            "bus buffer full ({buffer} events, bus {state}): {new} events dropped "
            "({total} since start)",
            buffer=self.settings.buffer,
            state=self.state,
            new=new,
            total=self.dropped,
        )

    def on_up(self) -> None:
        super().on_up()
        self._lost.clear()
        self._connected.set()

    def on_down(self) -> None:
        self._connected.clear()
        self._lost.set()
        self._give_up_acks(ConnectionLost())
        self._wake.set()
        log.info("bus: {n} events wait in the buffer", n=len(self._queue))

    # -- the pipeline -----------------------------------------------------------------------

    async def run(self) -> None:
        """Connect (retrying for ever), create or check the stream, then publish for ever; a
        lost connection is replaced by a new one."""
        while True:
            js = (
                self._nc.jetstream(
                    timeout=self.settings.ack_timeout, publish_async_max_pending=self.window
                )
                if await self._connect()
                else None
            )
            while js is not None and not await self._ensure_stream(js):
                await self._pause()
                if not self._connected.is_set():
                    js = None
            if js is not None:
                await self._pump(js)
            await self._forget_connection()

    async def _connect(self) -> bool:
        """A new connection; False (after a pause) when the server cannot be reached."""
        try:
            await self.connect()
        except (OSError, *_FAILED) as e:
            await self.on_error(e)
            await asyncio.sleep(self.settings.reconnect_wait)
            return False
        return True

    async def _forget_connection(self) -> None:
        # A connection that was lost is never reused: nats-py would send what it still held
        # after the reconnect, ahead of the older events this publisher sends again.
        self._give_up_acks(ConnectionLost())
        if self._nc is not None and not self._nc.is_closed:
            with contextlib.suppress(*_FAILED):
                await self._nc.close()
        self._nc = None

    async def _pump(self, js: Any) -> None:
        """Publish while the connection lasts."""
        while self._connected.is_set():
            if not self._nc.is_connected:
                self.lost()  # noticed before (or without) nats-py's callback
                return
            if len(self._acks) < min(self.window, len(self._queue)):
                await self._send_next(js)
            elif self._acks:
                await self._take_ack()
            else:  # nothing in flight, nothing waiting: look at the connection now and then
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), LIVENESS_CHECK)

    async def _send_next(self, js: Any) -> None:
        subject_, event_id, data = self._queue[len(self._acks)]
        try:
            ack = await js.publish_async(subject_, data, headers={"Nats-Msg-Id": event_id})
        except _FAILED as e:
            await self._resend_later(e)
            return
        self._acks.append(ack)

    async def _take_ack(self) -> None:
        """Wait for the oldest ack in flight; on success the event leaves the buffer."""
        ack = self._acks[0]
        try:
            await self._ack_or_loss(ack)
        except (ConnectionLost, *_FAILED) as e:
            await self._resend_later(e)
            return
        if not self._acks or self._acks[0] is not ack:
            return  # the connection went away meanwhile: the event goes again (stored once)
        self._acks.popleft()
        self._queue.popleft()
        self.published += 1
        if not self._queue:
            self._drained.set()

    async def _ack_or_loss(self, ack: asyncio.Future[Any]) -> None:
        """Wait for ``ack`` (TimeoutError after ``ack_timeout``), looking at the connection
        every ``LIVENESS_CHECK`` seconds: ConnectionLost once it is gone."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.ack_timeout
        while not ack.done():
            if not self._nc.is_connected:
                self.lost()
                raise ConnectionLost()
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError()
            await asyncio.wait([ack], timeout=min(LIVENESS_CHECK, left))
        ack.result()

    async def _resend_later(self, error: Exception) -> None:
        # Not stored, or stored and the ack lost: every event not acknowledged goes again,
        # oldest first, with its id (stored once).
        self._give_up_acks(error)
        if self._connected.is_set():
            await self.on_error(error)
            await self._pause()

    def _give_up_acks(self, error: Exception) -> None:
        for ack in self._acks:
            if not ack.done():
                ack.set_exception(error)
            if not ack.cancelled():
                ack.exception()  # retrieved: asyncio does not log it as never retrieved
        self._acks.clear()

    async def _pause(self) -> None:
        """Wait a moment before trying again (or until the connection is gone)."""
        lost = asyncio.ensure_future(self._lost.wait())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(lost, min(1.0, self.settings.reconnect_wait))

    async def _ensure_stream(self, js: Any) -> bool:
        s = self.settings
        wanted = StreamConfig(
            name=s.stream,
            subjects=[ALL],
            max_age=s.max_age_days * DAY if s.max_age_days > 0 else None,
            max_bytes=s.max_bytes if s.max_bytes > 0 else None,
            duplicate_window=DUPLICATE_WINDOW,
        )
        try:
            try:
                info = await js.stream_info(s.stream)
            except nats.js.errors.NotFoundError:
                await js.add_stream(wanted)
                log.info(
                    "bus: stream {stream} created for {subjects}", stream=s.stream, subjects=ALL
                )
                return True
            if ALL not in (info.config.subjects or []):
                log.error(
                    "bus: stream {stream} exists with subjects {subjects}, not {wanted}; "
                    "rosey's events would not be stored: fix or delete it",
                    stream=s.stream,
                    subjects=info.config.subjects,
                    wanted=ALL,
                )
                return False
            have = (info.config.max_age or 0, _bytes(info.config.max_bytes))
            if have != (wanted.max_age or 0, _bytes(wanted.max_bytes)):
                limits = {"max_age": wanted.max_age, "max_bytes": wanted.max_bytes}
                await js.update_stream(dataclasses.replace(info.config, **limits))
                log.info("bus: stream {stream} limits updated", stream=s.stream)
            return True
        except _FAILED as e:
            await self.on_error(e)
            return False

    def crashed(self, error: Exception) -> None:
        """A bug: say so; the events wait in the buffer."""
        self.state = interface.STOPPED
        log.failure("bus: the publisher stopped", Failure(error))

    async def stop(self) -> None:
        """Publish what is left within ``stop_timeout`` seconds, log what could not be, and
        close the connection."""
        if self._queue and self._connected.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), self.settings.stop_timeout)
        left = len(self._queue)
        self.state = interface.STOPPED
        if self._task is not None:
            self._task.cancel()
        self._overflow.stop()
        if left:
            log.warn(
                "bus: stopping with {left} events not published ({dropped} dropped earlier)",
                left=left,
                dropped=self.dropped,
            )
        await self.close()


def _bytes(value: int | None) -> int:
    return value if value is not None and value > 0 else -1
