"""The stream's durable pull consumer (nats-py, asyncio): fetch a batch, write it, then ack it.

One batch at a time: :meth:`StreamConsumer.run` fetches up to ``batch`` events, decodes them
(a payload that is not an event is logged and acknowledged: it would never get better), hands
them to ``write`` (which fires once they are committed) and only then acknowledges every
message of the batch. A batch the database refuses is tried again, with backoff up to
``retry_max`` seconds, telling the stream it is still in progress so it is not delivered
elsewhere meanwhile; the consumer never skips it.

The consumer is created with ``max_ack_pending`` = 4 × ``batch``: each service fetches its
next batch only once the previous one was acknowledged, so one service writes in stream order;
several services on the durable share the work without waiting for each other (docs/dbservice.md
says what that means for the order). A crash before the ack
leaves the batch unacknowledged: after ``ack_wait`` seconds the stream delivers it again, and
the writer's de-duplication (the event ids stored with the rows) skips what was committed.
nats-py reconnects by itself; a fetch that finds nothing returns nothing, which is normal.
The batches are pulled by :class:`~rosey.dbbus.pull.BatchPuller`, not nats-py's ``fetch``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from twisted.logger import Logger
from twisted.python.failure import Failure

from rosey.bus import interface
from rosey.bus.nats_client import LoopClient
from rosey.bus.settings import BusSettings
from rosey.bus.subjects import ALL
from rosey.dbbus.decode import BadPayload, Published, decode
from rosey.dbbus.pull import BatchPuller
from rosey.dbbus.settings import DbServiceSettings

log = Logger(namespace="rosey.dbservice")

NATS_ERRORS = (TimeoutError, nats.errors.Error, nats.js.errors.Error)

Write = Callable[[list[Published]], Awaitable[int]]


class StreamConsumer(LoopClient):
    """Pulls the stream's events in batches, writes each batch, then acknowledges it (its
    connection, errors and logs are :class:`~rosey.bus.nats_client.NatsClient`'s)."""

    role = "rosey-db"

    def __init__(self, bus: BusSettings, settings: DbServiceSettings, write: Write) -> None:
        super().__init__(bus)
        self.service = settings
        self.write = write
        #: Batches acknowledged, messages acknowledged, payloads that were not events.
        self.batches = 0
        self.acked = 0
        self.bad = 0
        self._stopping = False
        self._puller: BatchPuller | None = None
        #: True from a fetch's start until its batch is acknowledged (or given up).
        self._working = False

    # -- lifecycle ----------------------------------------------------------------------------

    def crashed(self, error: Exception) -> None:
        """A bug: say so; what was not acknowledged is delivered again to the next start."""
        log.failure("dbservice: the stream consumer stopped", Failure(error))

    async def stop(self, timeout: float) -> None:
        """Write and acknowledge what was delivered (the batch in flight, or what a waiting
        fetch holds: it returns at once), at most ``timeout`` seconds (then it is not
        acknowledged and will be delivered again), send the acks, close the connection."""
        self._stopping = True
        self.state = interface.STOPPED  # a disconnection now is ours, not news
        if self._puller is not None:
            self._puller.interrupt()
        if self._task is not None and self._working:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._nc is not None:
            with contextlib.suppress(*NATS_ERRORS):
                await self._nc.flush(timeout=max(1, int(timeout)))  # the acks reach the server
            with contextlib.suppress(*NATS_ERRORS):
                await self._nc.close()
        log.info(
            "dbservice: consumer stopped after {batches} batches ({acked} events acknowledged)",
            batches=self.batches,
            acked=self.acked,
        )

    # -- the loop -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, bind the durable consumer, then fetch, write and ack until stopped."""
        await self.connect()
        js = self._nc.jetstream(timeout=self.settings.ack_timeout)
        puller = self._puller = await self._bind(js)
        while not self._stopping:
            self._working = True
            try:
                msgs = await puller.fetch(self.service.batch, self.service.fetch_timeout)
                if msgs:
                    await self._batch(msgs)
            except NATS_ERRORS as e:
                self._working = False
                await self.on_error(e)
                await asyncio.sleep(min(1.0, self.settings.reconnect_wait))
            finally:
                self._working = False

    async def _bind(self, js: Any) -> BatchPuller:
        """The durable consumer (created if missing; an existing one is used as it is, as
        nats-py's ``pull_subscribe`` does) and a puller of its batches."""
        s = self.service
        config = ConsumerConfig(
            durable_name=s.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=s.ack_wait,
            max_ack_pending=s.batch * 4,
            filter_subject=ALL,
        )
        stream = self.settings.stream
        while True:
            try:
                try:
                    await js.consumer_info(stream, s.durable)
                except nats.js.errors.NotFoundError:
                    await js.add_consumer(stream, config)
                puller = BatchPuller(self._nc, stream, s.durable)
                await puller.start()
            except NATS_ERRORS as e:
                # Most often the stream is not there yet: the first bot creates it.
                await self.on_error(e)
                await asyncio.sleep(self.settings.reconnect_wait)
                continue
            log.info(
                "dbservice: consuming stream {stream} as {durable}",
                stream=stream,
                durable=s.durable,
            )
            return puller

    async def _batch(self, msgs: list[Any]) -> None:
        events: list[Published] = []
        for msg in msgs:
            try:
                events.append(decode(msg.data))
            except BadPayload as e:
                self.bad += 1
                log.error(
                    "dbservice: message {seq} on {subject} is not an event ({reason}); skipped",
                    seq=getattr(msg.metadata.sequence, "stream", "?"),
                    subject=msg.subject,
                    reason=str(e),
                )
        delay = 0.5
        while True:
            try:
                await self.write(events)
                break
            except Exception as e:
                if self._stopping:
                    log.warn(
                        "dbservice: stopping with a batch of {n} events not written ({error}); "
                        "the stream delivers it again",
                        n=len(events),
                        error=e,
                    )
                    return
                log.warn(
                    "dbservice: a batch of {n} events not written ({error}); "
                    "trying again in {delay:.1f}s",
                    n=len(events),
                    error=e,
                    delay=delay,
                )
                await self._in_progress(msgs)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.service.retry_max)
        for msg in msgs:
            try:
                await msg.ack()
            except NATS_ERRORS as e:  # lost: the batch comes again and is skipped
                await self.on_error(e)
                return
        self.acked += len(msgs)
        self.batches += 1

    async def _in_progress(self, msgs: list[Any]) -> None:
        for msg in msgs:
            with contextlib.suppress(*NATS_ERRORS):
                await msg.in_progress()
