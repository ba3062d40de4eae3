"""The publisher on the official nats-py client (asyncio); :mod:`rosey.bus.service` runs it.

:class:`NatsPublisher` is plain asyncio: one ordered pipeline for every channel. ``publish``
appends to a bounded buffer at once (never blocks the caller); one task takes the buffer's head,
publishes it to JetStream with ``Nats-Msg-Id`` = the event id and waits for the stream's ack
before it takes the next, so the stream holds the events in arrival order, and a publish retried
after a lost ack is stored once (JetStream's de-duplication). While the bus is away the events
wait in the buffer; nats-py reconnects by itself (``max_reconnect_attempts=-1``), and the
pipeline resumes where it stopped.

:class:`rosey.bus.service.BusService` runs the publisher on Twisted's asyncio reactor
(``twistd --reactor=asyncio``): the reactor's loop is the asyncio loop, and Deferreds and
futures are bridged with ``Deferred.fromFuture``.

Commands in (``[bus] commands = true``): the publisher's connection also subscribes
``rosey.commands.cytube.<channel-token>.*`` for every channel :meth:`NatsPublisher.serve` was
given (queue group ``rosey``); each request runs on Twisted (the same loop) through
:class:`rosey.bus.commands.CommandHandler` and is answered with ``msg.respond`` once the
handler's Deferred fires. A request never blocks the next one: each waits in its own task.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ssl
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import nats
import nats.errors
import nats.js.errors
from nats.js.api import StreamConfig
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from rosey.bus import interface, payload
from rosey.bus.commands import channel_commands
from rosey.bus.interface import IBus
from rosey.bus.settings import BusSettings
from rosey.bus.subjects import ALL, subject
from rosey.events import Event

log = Logger(namespace="rosey.bus")

#: Seconds between two overflow reports (the first drop is reported at once).
OVERFLOW_REPORT_EVERY = 60.0
#: Seconds before the same connection error is logged again.
ERROR_REPORT_EVERY = 60.0
#: JetStream's de-duplication window (seconds): longer than any retry of one event.
DUPLICATE_WINDOW = 120.0
DAY = 86400.0


#: What answers one channel's commands: ``handle(action, body)`` -> a Deferred of the reply
#: (:meth:`rosey.bus.commands.CommandHandler.handle`).
CommandHandle = Callable[[str, bytes], Deferred[bytes]]


def masked(url: str) -> str:
    """``url`` without its password or token (for logs)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


def connection_options(settings: BusSettings, name: str = "rosey") -> dict[str, Any]:
    """``nats.connect``'s keyword arguments for ``[bus]``: the servers, reconnecting for ever
    (also for the first connection), and the credentials (TLS for ``tls://``)."""
    s = settings
    options: dict[str, Any] = {
        "servers": list(s.urls),
        "name": name,
        "allow_reconnect": True,
        "max_reconnect_attempts": -1,  # forever, also for the first connection
        "reconnect_time_wait": s.reconnect_wait,
        "connect_timeout": max(1, int(s.reconnect_wait)),
    }
    if s.token is not None:
        options["token"] = s.token
    if s.user is not None:
        options["user"] = s.user
        options["password"] = s.password
    if s.creds_file is not None:
        options["user_credentials"] = s.creds_file
    if any(url.startswith("tls://") for url in s.urls):
        options["tls"] = ssl.create_default_context()  # verified against the system's CAs
    return options


@implementer(IBus)
class NatsPublisher:
    """Publishes events to a JetStream stream in order, buffering while the bus is away."""

    def __init__(self, settings: BusSettings, *, now: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.now = now
        self.state = interface.CONNECTING
        self.published = 0
        self.dropped = 0
        self._queue: deque[tuple[str, str, bytes]] = deque()
        self._wake = asyncio.Event()
        self._connected = asyncio.Event()
        self._drained = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._nc: Any = None
        self._overflow_reported = 0  # drops already reported
        self._overflow_timer: asyncio.TimerHandle | None = None
        self._errors_logged: dict[str, float] = {}  # error text -> when last logged
        self._commands: dict[str, CommandHandle] = {}  # channel -> its command handler
        self._subscriptions: list[Any] = []
        self._replying: set[asyncio.Task[None]] = set()

    @property
    def buffered(self) -> int:
        return len(self._queue)

    def publish(self, event: Event, channel: str) -> None:
        if self.state == interface.STOPPED:
            return
        if len(self._queue) >= self.settings.buffer:
            self.dropped += 1
            self._overflowed()
            return
        event_id = payload.new_id()
        data = payload.encode(event, channel, event_id, self.now())
        self._queue.append((subject(channel, event.name, event.platform), event_id, data))
        self._drained.clear()
        self._wake.set()

    def _overflowed(self) -> None:
        if self._overflow_timer is None:
            self._report_overflow()

    def _report_overflow(self) -> None:
        self._overflow_timer = None
        new = self.dropped - self._overflow_reported
        if not new:
            return
        self._overflow_reported = self.dropped
        log.warn(
            "bus buffer full ({buffer} events, bus {state}): {new} events dropped "
            "({total} since start)",
            buffer=self.settings.buffer,
            state=self.state,
            new=new,
            total=self.dropped,
        )
        loop = asyncio.get_running_loop()
        self._overflow_timer = loop.call_later(OVERFLOW_REPORT_EVERY, self._report_overflow)

    # -- commands in ----------------------------------------------------------------------------

    def serve(self, label: str, handle: CommandHandle) -> None:
        """Answer the commands of channel ``label`` with ``handle(action, body)`` (a Deferred
        of the reply). Call before :meth:`start`."""
        self._commands[label] = handle

    async def _subscribe_commands(self) -> None:
        for label, handle in self._commands.items():
            subject_ = channel_commands(label)
            sub = await self._nc.subscribe(
                subject_, queue="rosey", cb=partial(self._on_command, handle)
            )
            self._subscriptions.append(sub)
        if self._commands:
            log.info("bus: serving commands of {n} channel(s)", n=len(self._commands))

    async def _on_command(self, handle: CommandHandle, msg: Any) -> None:
        # nats-py awaits this callback before it hands over the subscription's next message:
        # return at once and answer from a task, so 200 requests wait in the bot's send queue,
        # not here one by one.
        action = msg.subject.rpartition(".")[2]
        reply = handle(action, msg.data)
        task = asyncio.ensure_future(self._answer(msg, reply))
        self._replying.add(task)
        task.add_done_callback(self._replying.discard)

    async def _answer(self, msg: Any, reply: Deferred[bytes]) -> None:
        data = await reply.asFuture(asyncio.get_running_loop())
        if not msg.reply:
            return  # a plain publish, not a request: acted on, nobody to answer
        try:
            await msg.respond(data)
        except (TimeoutError, nats.errors.Error) as e:
            await self._on_error(e)  # the requester times out

    # -- the connection ---------------------------------------------------------------------

    def _options(self) -> dict[str, Any]:
        return {
            **connection_options(self.settings),
            "error_cb": self._on_error,
            "disconnected_cb": self._on_disconnected,
            "reconnected_cb": self._on_reconnected,
        }

    async def _on_error(self, error: Exception) -> None:
        # A refused login or a server that is away repeats on every retry (nats-py's reconnect
        # alternates two errors for a refused login): each text at most once a minute.
        text = f"{type(error).__name__}: {error}".strip()
        now = time.monotonic()
        if now - self._errors_logged.get(text, -ERROR_REPORT_EVERY) >= ERROR_REPORT_EVERY:
            self._errors_logged[text] = now
            log.error("bus {urls}: {error}", urls=self._urls(), error=text)

    async def _on_disconnected(self) -> None:
        if self.state != interface.STOPPED:
            self.state = interface.DISCONNECTED
            self._connected.clear()
            log.warn("bus {urls}: disconnected; events wait in the buffer", urls=self._urls())

    async def _on_reconnected(self) -> None:
        self._up()
        log.info("bus {url}: reconnected; {n} events waiting", url=self._url(), n=len(self._queue))

    def _up(self) -> None:
        self.state = interface.CONNECTED
        self._errors_logged.clear()
        self._connected.set()

    def _urls(self) -> str:
        return ", ".join(masked(u) for u in self.settings.urls)

    def _url(self) -> str:
        url = getattr(self._nc, "connected_url", None)
        return masked(url.geturl()) if url is not None else self._urls()

    # -- the pipeline -----------------------------------------------------------------------

    async def run(self) -> None:
        """Connect (retrying for ever), create or check the stream, then publish for ever."""
        self._nc = await nats.connect(**self._options())
        self._up()
        log.info("bus {url}: connected", url=self._url())
        await self._subscribe_commands()
        js = self._nc.jetstream(timeout=self.settings.ack_timeout)
        while not await self._ensure_stream(js):
            await self._pause()
        while True:
            while not self._queue:
                self._wake.clear()
                await self._wake.wait()
            subject_, event_id, data = self._queue[0]
            try:
                await js.publish(
                    subject_,
                    data,
                    timeout=self.settings.ack_timeout,
                    headers={"Nats-Msg-Id": event_id},
                )
            except (TimeoutError, nats.errors.Error, nats.js.errors.Error) as e:
                # Not stored, or stored and the ack lost: the same id goes again (stored once).
                if self._connected.is_set():
                    await self._on_error(e)
                await self._pause()
                continue
            self._queue.popleft()
            self.published += 1
            if not self._queue:
                self._drained.set()

    async def _pause(self) -> None:
        """Wait for the connection to come back, or a moment when it is up."""
        if not self._connected.is_set():
            await self._connected.wait()
        else:
            await asyncio.sleep(min(1.0, self.settings.reconnect_wait))

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
        except (TimeoutError, nats.errors.Error, nats.js.errors.Error) as e:
            await self._on_error(e)
            return False

    def start(self) -> asyncio.Task[None]:
        """Run :meth:`run` as a task of the running (or current) asyncio loop."""
        self._task = asyncio.ensure_future(self._run_logged())
        return self._task

    async def _run_logged(self) -> None:
        try:
            await self.run()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bug: say so, the bot keeps running without the bus
            self.state = interface.STOPPED
            log.failure("bus: the publisher stopped", Failure(e))

    async def stop(self) -> None:
        """Publish what is left within ``stop_timeout`` seconds, log what could not be, and
        close the connection. Commands still running get ``stop_timeout`` seconds to be
        answered (the channels stop first, so the bot's pending actions have failed)."""
        for sub in self._subscriptions:
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()
        if self._queue and self._connected.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), self.settings.stop_timeout)
        if self._replying:
            await asyncio.wait(set(self._replying), timeout=self.settings.stop_timeout)
        left = len(self._queue)
        self.state = interface.STOPPED
        if self._task is not None:
            self._task.cancel()
        if self._overflow_timer is not None:
            self._overflow_timer.cancel()
            self._report_overflow()
            if self._overflow_timer is not None:
                self._overflow_timer.cancel()
        if left:
            log.warn(
                "bus: stopping with {left} events not published ({dropped} dropped earlier)",
                left=left,
                dropped=self.dropped,
            )
        if self._nc is not None:
            await self._nc.close()


def _bytes(value: int | None) -> int:
    return value if value is not None and value > 0 else -1
