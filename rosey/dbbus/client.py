"""The bot's storage in bus mode (``[database] mode = "service"``): an ``IStorage`` whose every
served method (:mod:`rosey.dbbus.methods`) is a request on ``rosey.db.*`` to the database
service.

Each call sends ``{"args": {…}}`` and waits at most ``timeout`` seconds for the reply; no
connection, no responder or no answer in time fails the Deferred with
:class:`~rosey.storage.errors.StorageUnavailable`, which every command already turns into "data
unavailable right now". An error reply is raised as its own type (:mod:`rosey.dbbus.errors`).

The client opens its own NATS connection in :meth:`connect` (the storage service's start) and
closes it in :meth:`close` (after the channels stopped): the storage's lifecycle owns it, a
request never waits behind the event publisher's buffer or its stop, and the connection is
there before the bus service starts. It connects in the background: until it is up, every call
fails at once with ``StorageUnavailable``.

Not served: the recorder's ``record`` (in bus mode the events reach the database through the
stream, and the bot runs no recorder) and ``prune`` (the service prunes). ``may_have_outbound``
(``!tell``'s check on every join and chat line) is answered from memory, as the SQL storage
does, by a :class:`~rosey.storage.waiting.WaitingRecipients`: loaded with
``get_outbound_recipients`` once the connection is up, reloaded every 5 minutes (a failed load
a minute later), kept current by ``enqueue_outbound`` and ``get_unsent_outbound``. Until the
first load, and while the connection is down, it answers "maybe".

It runs on Twisted's asyncio reactor: the futures of nats-py are bridged to Deferreds with
``Deferred.fromFuture``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import nats
import nats.errors
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from rosey.bus.nats_client import connect_options, masked
from rosey.bus.settings import BusSettings
from rosey.dbbus import codec
from rosey.dbbus.errors import rebuild
from rosey.dbbus.methods import METHODS, StorageMethod
from rosey.storage.errors import StorageError, StorageUnavailable
from rosey.storage.interface import DOMAINS, IStorage
from rosey.storage.ops import WriteOp
from rosey.storage.rows import OutboundMessage
from rosey.storage.waiting import WaitingRecipients

log = Logger(namespace="rosey.dbbus")

#: Seconds a request waits for its reply: under the 2 s in which a command must answer.
DEFAULT_TIMEOUT = 1.5

Connect = Callable[..., Awaitable[Any]]


# The served methods are added below, one per interface method (mypy-zope cannot see them).
@implementer(IStorage)
class BusStorage:  # type: ignore[misc]
    """:class:`IStorage` through the database service on the bus (see the module docstring).

    ``settings``: the ``[bus]`` table; ``clock``: times the reloads of ``waiting`` (the
    reactor); ``timeout``: seconds per request (``[database] request_timeout``). Its domain
    components (``storage.chat``, ``storage.stats``, …) hold the same methods as the storage
    itself.
    """

    persistent = True

    def __init__(
        self,
        settings: BusSettings,
        clock: IReactorTime,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connect: Connect = nats.connect,
    ) -> None:
        self.settings = settings
        self.timeout = timeout
        self._connect = connect
        self._nc: Any = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Who may have ``!tell`` messages waiting: ``may_have_outbound``'s answer.
        self.waiting = WaitingRecipients(clock, self._load_waiting)
        for domain in DOMAINS:
            names = [m.name for m in METHODS.values() if m.domain == domain]
            setattr(self, domain, SimpleNamespace(**{n: getattr(self, n) for n in names}))

    def __repr__(self) -> str:
        return f"<BusStorage {', '.join(masked(u) for u in self.settings.urls)}>"

    @property
    def is_connected(self) -> bool:
        """True while the connection to the bus is up."""
        return self._nc is not None and bool(self._nc.is_connected)

    # -- lifecycle ------------------------------------------------------------------------------

    def connect(self) -> Deferred[None]:
        """Start connecting in the background (fires at once: the bot must start without the
        bus; calls fail with ``StorageUnavailable`` until the connection is up)."""
        self._loop = asyncio.get_event_loop()
        self._task = self._loop.create_task(self._open())
        return succeed(None)

    async def _open(self) -> None:
        options = {
            **connect_options(self.settings, name="rosey-db-client"),
            # The event publisher reports the same servers' errors: one report is enough.
            "error_cb": _quiet,
            "disconnected_cb": self._disconnected,
            "reconnected_cb": self._reconnected,
        }
        self._nc = await self._connect(**options)
        log.info("database service client: connected to the bus")
        self.waiting.load()

    async def _disconnected(self) -> None:
        log.warn("database service client: bus connection lost; storage calls fail until back")

    async def _reconnected(self) -> None:
        log.info("database service client: bus connection back")

    def close(self) -> Deferred[None]:
        """Stop connecting, or close the connection; no more reloads of ``waiting``. Never
        fails."""
        self.waiting.stop()
        return Deferred.fromCoroutine(self._close())

    async def _close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()
        self._nc = None

    # -- what is not served ---------------------------------------------------------------------

    def record(self, channel: str, ops: Sequence[WriteOp]) -> Deferred[None]:
        """Not in bus mode: the events reach the database through the stream."""
        return fail(StorageError("bus mode: events are written by the database service"))

    def prune(
        self,
        policy: Mapping[str, float],
        now: float | None = None,
        batch_size: int = 500,
        on_progress: Callable[[str, int], None] | None = None,
    ) -> Deferred[dict[str, int]]:
        """Not in bus mode: the database service prunes."""
        return fail(StorageError("bus mode: the database service prunes the history"))

    # -- !tell: who may have messages waiting ---------------------------------------------------

    def may_have_outbound(self, channel: str, recipient: str) -> bool:
        """From memory (``waiting``); "maybe" until loaded and while not connected."""
        # Not connected: asking is what reports the outage, as with the SQL storage closed.
        return not self.is_connected or self.waiting.may_have(channel, recipient)

    def enqueue_outbound(
        self,
        channel: str,
        recipient: str | None,
        message: str,
        sender: str | None = None,
        timestamp: float | None = None,
    ) -> Deferred[int]:
        """``enqueue_outbound`` through the service; ``recipient`` counts as waiting at once."""
        return self.waiting.enqueue(
            channel,
            recipient,
            lambda: self.request(
                "enqueue_outbound", channel, recipient, message, sender, timestamp
            ),
        )

    def get_unsent_outbound(
        self, channel: str, recipient: str, limit: int = 10, max_retries: int | None = None
    ) -> Deferred[list[OutboundMessage]]:
        """``get_unsent_outbound`` through the service; none found: ``recipient`` is dropped
        from ``waiting`` (unless a message for them was queued meanwhile)."""
        return self.waiting.read(
            channel,
            recipient,
            lambda: self.request("get_unsent_outbound", channel, recipient, limit, max_retries),
        )

    def _load_waiting(self) -> Deferred[list[tuple[str, str | None]]]:
        return self.request("get_outbound_recipients")

    # -- requests -------------------------------------------------------------------------------

    def request(self, name: str, *args: Any, **kwargs: Any) -> Deferred[Any]:
        """Ask the service for the served method ``name(*args, **kwargs)``; a wrong call fails
        the Deferred with Python's own TypeError."""
        method = METHODS[name]
        try:
            bound = method.bind(args, kwargs)
        except TypeError as e:
            return fail(e)
        return self.call(method, bound)

    def call(self, method: StorageMethod, args: dict[str, Any]) -> Deferred[Any]:
        """Ask the service for ``method(**args)``; a Deferred of its result."""
        nc = self._nc
        if nc is None or not nc.is_connected:
            return fail(StorageUnavailable("database service: not connected to the bus"))
        try:
            data = codec.dumps({"args": {k: codec.encode(v) for k, v in args.items()}})
        except codec.CodecError as e:
            return fail(TypeError(f"{method.name}(): {e}"))
        loop = self._loop if self._loop is not None else asyncio.get_event_loop()
        return Deferred.fromFuture(loop.create_task(self._ask(nc, method, data)))

    async def _ask(self, nc: Any, method: StorageMethod, data: bytes) -> Any:
        try:
            msg = await nc.request(method.subject, data, timeout=self.timeout)
        except nats.errors.NoRespondersError:
            raise StorageUnavailable("database service: none is running") from None
        except TimeoutError:
            raise StorageUnavailable(
                f"database service: no answer within {self.timeout:g} s"
            ) from None
        except nats.errors.Error as e:
            raise StorageUnavailable(f"database service: {e or type(e).__name__}") from None
        try:
            reply = codec.loads(msg.data)
            if reply.get("ok") is True:
                return codec.decode(reply.get("result"))
            kind, message = str(reply["error"]["type"]), str(reply["error"]["message"])
        except (codec.CodecError, KeyError, TypeError) as e:
            raise StorageError(
                f"database service: unreadable reply to {method.name}: {e}"
            ) from None
        raise rebuild(kind, message)


async def _quiet(error: Exception) -> None:
    return None


def _served(method: StorageMethod) -> Callable[..., Deferred[Any]]:
    name = method.name

    def request(self: BusStorage, *args: Any, **kwargs: Any) -> Deferred[Any]:
        return self.request(name, *args, **kwargs)

    request.__name__ = request.__qualname__ = method.name
    request.__doc__ = f"``{method.name}`` through the database service ({method.subject})."
    return request


for _method in METHODS.values():
    # Those written out in the class also keep ``waiting`` current.
    if _method.name not in vars(BusStorage):
        setattr(BusStorage, _method.name, _served(_method))
