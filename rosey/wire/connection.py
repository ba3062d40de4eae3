"""The live link to one CyTube channel: :class:`CyTubeConnection` (``IConnection``, ``IService``).

Per session: fetch the socketconfig, open the websocket (TLS verified for ``wss://``), connect
socket.io inside the protocol, log in, join, and report ``ready`` after the join burst.
``ClientService`` reconnects with :class:`~rosey.wire.retry.Reconnector` as its policy; fatal
failures (wrong credentials or channel password, bans, duplicate login, no such channel) stop
it with one log line saying what the operator can do. CyTube does not close the socket after a
kick, a ``41`` or a ``44``: rosey closes it. ClientService's own "Scheduling retry … in
4.73829271 seconds" line is silenced: rosey logs its own ("reconnecting to site/channel in
4.7 s"), and none when it is about to stop.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from twisted.application.service import MultiService
from twisted.internet.defer import Deferred, ensureDeferred, fail, succeed
from twisted.internet.interfaces import (
    IDelayedCall,
)
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from rosey import events
from rosey.errors import (
    ChannelError,
    ConnectRefused,
    CytubeError,
    JoinTimeout,
    Kicked,
    NotConnected,
)
from rosey.events import Event
from rosey.interfaces import EventListener, IConnection, channel_label
from rosey.wire import codec
from rosey.wire.chat_emit import ChatEmitter
from rosey.wire.dialer import QuietClientService, SocketConfigEndpoint, was_refused
from rosey.wire.driver import SessionDriver
from rosey.wire.endpoints import default_http
from rosey.wire.join import BeginJoin, Fail, JoinFlow, Note, Ready, Send, SendLater, stop_advice
from rosey.wire.known import SERVER_EVENTS
from rosey.wire.normalize import Normalizer
from rosey.wire.protocol import DEFAULT_MAX_MESSAGE, CyTubeClientFactory
from rosey.wire.retry import KickPolicy, Reconnector, ReconnectPolicy
from rosey.wire.socketconfig import HTTPGetter

__all__ = ["CyTubeConnection"]

_log = Logger()
_RATE_LIMITED = "Rate limit exceeded"
_MAX_LOGGED_NAMES = 256  # distinct unknown or malformed event names worth a warning each


@implementer(IConnection)
class CyTubeConnection(MultiService, ChatEmitter):
    """A connection to ``channel`` on ``site`` (e.g. ``https://cytu.be``) that stays joined.

    ``username`` with ``password`` logs in a registered account, ``username`` alone a guest,
    neither stays anonymous. ``reactor`` provides time and TCP (a ``MemoryReactorClock`` in
    unit tests); ``http`` is a treq-like client for the socketconfig (``StubTreq`` in tests).
    """

    def __init__(
        self,
        site: str,
        channel: str,
        *,
        username: str | None = None,
        password: str | None = None,
        channel_password: str | None = None,
        eio: int = 4,
        reactor: Any,
        http: HTTPGetter | None = None,
        reconnect: ReconnectPolicy | None = None,
        kicks: KickPolicy | None = None,
        ack_timeout: float = 10.0,
        join_timeout: float = 60.0,
        guest_retry_limit: int = 3,
        max_message: int = DEFAULT_MAX_MESSAGE,
        trust_root: Any = None,
        random_source: Callable[[], float] = random.random,
    ) -> None:
        super().__init__()
        self.site = site.rstrip("/")
        self.channel = channel
        self.username = username
        self.connected = False
        self.ready = False
        self.rank: float | None = None
        self.ack_timeout = ack_timeout
        #: Seconds the server may stay silent while the bot logs in and joins (after each
        #: step of the join, plus any wait the server asked for) before the session is left.
        self.join_timeout = join_timeout
        self._join_timer: IDelayedCall | None = None
        self.stopped_for: CytubeError | None = None  # the failure that stopped reconnecting
        self._giving_up = False  # a fatal failure is being handled: no retry to announce
        self._connect_error: str | None = None  # why the last attempt failed, for the retry line
        #: ``host/channel``, as logs and metrics name the channel.
        self.label = channel_label(self.site, channel)
        self._password = password
        self._channel_password = channel_password
        self._reactor = reactor
        self._kicks = kicks if kicks is not None else KickPolicy()
        self._guest_retry_limit = guest_retry_limit
        self._pool: Any = None
        if http is None:
            http, self._pool = default_http(reactor)
        self.reconnector = Reconnector(reactor, reconnect, random_source)
        self._factory = CyTubeClientFactory(
            self, clock=reactor, eio=eio, max_message=max_message, reactor=reactor
        )
        endpoint = SocketConfigEndpoint(
            http,
            self.site,
            channel,
            clock=reactor,
            eio=eio,
            trust_root=trust_root,
            reconnector=self.reconnector,
            on_failure=self._connect_failed,
        )
        self._client = QuietClientService(endpoint, self._factory, self._retry_delay, clock=reactor)
        self._client.setServiceParent(self)
        self._listeners: list[EventListener] = []
        # What _publish walks: rebuilt on (un)subscribe, never mutated, so a listener that
        # subscribes or unsubscribes during an event changes only the next events.
        self._fanout: tuple[EventListener, ...] = ()
        self._ready_waiters: list[Deferred[None]] = []
        self._driver: SessionDriver | None = None
        self._flow: JoinFlow | None = None
        self._normalizer = Normalizer()
        self._later: list[IDelayedCall] = []
        self._logged_names: set[str] = set()
        #: Called with the event name of everything sent (the daemon's metrics).
        self.on_emit: Callable[[str], None] | None = None

    # -- IConnection ----------------------------------------------------------------------------

    def subscribe(self, listener: EventListener) -> None:
        self._listeners.append(listener)
        self._fanout = tuple(self._listeners)

    def unsubscribe(self, listener: EventListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)
            self._fanout = tuple(self._listeners)

    def emit(self, event: str, data: Any = None) -> None:
        self._live(event).emit(event, data)
        if self.on_emit is not None:
            self.on_emit(event)

    def emit_with_ack(
        self, event: str, data: Any = None, timeout: float | None = None
    ) -> Deferred[Any]:
        wait = self.ack_timeout if timeout is None else timeout
        d = self._live(event).emit_with_ack(event, data, wait)
        if self.on_emit is not None:
            self.on_emit(event)
        return d

    def when_ready(self) -> Deferred[None]:
        if self.ready:
            return succeed(None)
        if self.stopped_for is not None:
            return fail(self.stopped_for)
        d: Deferred[None] = Deferred()
        self._ready_waiters.append(d)
        return d

    def disconnect(self, reason: str = "") -> None:
        if self._driver is not None:
            self._driver.close(reason or "client closed")

    @property
    def session(self) -> SessionDriver | None:
        """The current websocket's session driver (for diagnostics), or None."""
        return self._driver

    # -- IService -------------------------------------------------------------------------------

    def startService(self) -> None:
        self.stopped_for = None
        self._giving_up = False
        super().startService()

    def stopService(self) -> Deferred[None]:
        if not self.running:
            return succeed(None)
        return ensureDeferred(self._stop())

    async def _stop(self) -> None:
        if self._driver is not None:
            self._driver.close("service stopped")
        await super().stopService()
        self._cancel_later()
        if self._pool is not None:
            await self._pool.closeCachedConnections()
        # ClientService fires its stop Deferred from inside a state-machine transition; a
        # caller that restarts (or stops again) straight away would re-enter the machine.
        await deferLater(self._reactor, 0, lambda: None)

    # -- SessionHandler (called by the driver) --------------------------------------------------

    def session_opened(self, driver: SessionDriver) -> None:
        self._driver = driver
        _log.info("websocket open to {url}", url=self._factory.url)

    def session_connected(self, driver: SessionDriver, sid: str | None) -> None:
        if driver is not self._driver:
            return
        self.connected = True
        self.rank = None
        self._normalizer = Normalizer()
        self._flow = JoinFlow(
            self.channel,
            username=self.username,
            password=self._password,
            channel_password=self._channel_password,
            kicks=self._kicks,
            guest_retry_limit=self._guest_retry_limit,
        )
        self._publish(Event(events.CONNECTED, {"sid": sid, "url": self._factory.url}))
        self._arm_join_timer(driver)
        self._perform(driver, self._flow.start())

    def session_event(self, driver: SessionDriver, packet: codec.EventPacket) -> None:
        flow = self._flow
        if driver is not self._driver or flow is None:
            return
        args = packet.args  # packet.data without the property call (every event comes here)
        name, data = packet.name, args[0] if args else None
        if name not in SERVER_EVENTS:
            self._log_once(name, "unknown event {name!r} (delivered as is)")
        event = self._normalizer.normalize(name, data)
        malformed = event.extra.get("malformed")
        if malformed:
            self._log_once(name, "malformed {name!r} event (delivered as is): {why}", why=malformed)
        self._publish(event)
        steps = flow.handle(name, data)
        if steps:
            if not self.ready:
                self._arm_join_timer(driver)  # the server answered: the join moves on
            self._perform(driver, steps)
        if flow.rank is not None:
            self.rank = flow.rank

    def session_closed(self, driver: SessionDriver, reason: str, refusal: str | None) -> None:
        if driver is self._driver:
            self._driver = None
        was_connected = self.connected and self._flow is not None
        self.connected = self.ready = False
        self._flow = None
        self._cancel_later()
        self._cancel_join_timer()
        self.reconnector.session_ended()
        if refusal is not None:
            self._refused(refusal)
        if was_connected:
            self._publish(Event(events.DISCONNECTED, {"reason": reason}))
        _log.info("session ended: {reason}", reason=reason)

    # -- internals ------------------------------------------------------------------------------

    def _retry_delay(self, attempt: int) -> float:
        """ClientService's retry policy: the reconnector's delay, announced in one line that
        also says why the attempt before failed (one line per attempt, not two)."""
        refused = self.reconnector.last_refused
        error, self._connect_error = self._connect_error, None
        delay = self.reconnector(attempt)
        if self._giving_up or self.stopped_for is not None:
            return delay
        if refused:
            why = " (connection refused)"
        elif error is not None:
            why = f" (cannot connect: {error})"
        else:
            why = ""
        emit = _log.info if error is None or refused else _log.warn
        emit(
            "reconnecting to {label} in {delay} s{why}",
            label=self.label,
            delay=f"{delay:.1f}",
            why=why,
        )
        return delay

    def _live(self, event: str) -> SessionDriver:
        driver = self._driver
        if driver is None or not driver.connected:
            raise NotConnected(f"not connected to #{self.channel}; {event} not sent")
        return driver

    def _perform(self, driver: SessionDriver, steps: list[Any]) -> None:
        for step in steps:
            match step:
                case Send(event=event, data=data):
                    driver.emit(event, data)
                case BeginJoin():
                    self._normalizer.begin_join()
                case SendLater(delay=delay, event=event, data=data):
                    self._later.append(
                        self._reactor.callLater(delay, self._send_later, driver, event, data)
                    )
                    self._arm_join_timer(driver, delay)
                case Ready():
                    self._became_ready(step)
                case Note(text=text):
                    _log.warn("{text}", text=text)
                case Fail(error=error, fatal=fatal, hold=hold):
                    self._failed(driver, error, fatal, hold)

    def _send_later(self, driver: SessionDriver, event: str, data: Any) -> None:
        if driver is self._driver and driver.connected:
            driver.emit(event, data)

    def _arm_join_timer(self, driver: SessionDriver, wait: float = 0.0) -> None:
        self._cancel_join_timer()
        self._join_timer = self._reactor.callLater(
            self.join_timeout + wait, self._join_timed_out, driver
        )

    def _cancel_join_timer(self) -> None:
        timer, self._join_timer = self._join_timer, None
        if timer is not None and timer.active():
            timer.cancel()

    def _join_timed_out(self, driver: SessionDriver) -> None:
        self._join_timer = None
        if driver is not self._driver or self.ready or not driver.connected:
            return
        error = JoinTimeout(
            f"the server did not answer the login/join of #{self.channel} "
            f"in {self.join_timeout:g} s"
        )
        self._failed(driver, error, fatal=False, hold=0.0)

    def _became_ready(self, step: Ready) -> None:
        self._cancel_join_timer()
        self.ready = True
        self.rank = step.rank
        self.reconnector.session_ready()
        who = step.name or "anonymous"
        _log.info("joined #{c} as {who} (rank {r})", c=self.channel, who=who, r=step.rank)
        ready = {"rank": step.rank, "name": step.name, "guest": step.guest}
        self._publish(Event(events.READY, ready))
        waiters, self._ready_waiters = self._ready_waiters, []
        for d in waiters:
            d.callback(None)

    def _failed(self, driver: SessionDriver, error: CytubeError, fatal: bool, hold: float) -> None:
        if isinstance(error, Kicked):
            self._publish(Event(events.KICKED, {"reason": error.reason}, content=error.reason))
        if fatal:
            self._stop_reconnecting(error)
        else:
            _log.warn("leaving the session: {error!r}; reconnecting", error=error)
            self._publish(Event(events.ERROR, error, content=str(error), extra={"fatal": False}))
            self.reconnector.hold(hold)
        driver.close(f"{type(error).__name__}: {error}")

    def _refused(self, message: str) -> None:
        error = ConnectRefused(message)
        if message == _RATE_LIMITED:
            self.reconnector.rate_limited()
        if self._kicks.stops(message):
            self._stop_reconnecting(error)
            return
        _log.warn("socket.io connect refused: {message!r}; reconnecting", message=message)
        self._publish(Event(events.ERROR, error, content=message, extra={"fatal": False}))

    def _stop_reconnecting(self, error: CytubeError) -> None:
        if self.stopped_for is not None or not self.running:
            return
        self._giving_up = False
        self.stopped_for = error
        advice = stop_advice(error, username=self.username, channel=self.channel, site=self.site)
        _log.error("{advice}; not reconnecting", advice=advice)
        self._publish(Event(events.ERROR, error, content=advice, extra={"fatal": True}))
        waiters, self._ready_waiters = self._ready_waiters, []
        for d in waiters:
            d.errback(error)
        self._client.stopService()

    def _connect_failed(self, error: BaseException) -> None:
        if isinstance(error, ChannelError):
            # ClientService is scheduling its retry right now; stop it once that is done
            self._giving_up = True
            self._reactor.callLater(0, self._stop_reconnecting, error)
        else:
            if was_refused(error):
                self.reconnector.connect_refused()
            self._connect_error = str(error)  # said in the retry line that follows
            self._publish(Event(events.CONNECT_FAILED, {"error": str(error)}))

    def _cancel_later(self) -> None:
        later, self._later = self._later, []
        for call in later:
            if call.active():
                call.cancel()

    def _log_once(self, name: str, fmt: str, **kwargs: Any) -> None:
        key = f"{fmt}\0{name}"
        if key in self._logged_names:
            return
        if len(self._logged_names) >= _MAX_LOGGED_NAMES:  # a server inventing event names
            if len(self._logged_names) == _MAX_LOGGED_NAMES:
                self._logged_names.add("")  # the marker: this is said once
                _log.warn("{n} odd event names logged: no more are", n=_MAX_LOGGED_NAMES)
            return
        self._logged_names.add(key)
        _log.warn(fmt, name=name, **kwargs)

    def _publish(self, event: Event) -> None:
        # The hot path: every event, every listener.
        for listener in self._fanout:
            try:
                result = listener(event)
            except Exception:
                _log.failure("listener {l!r} failed on {name}", l=listener, name=event.name)
                continue
            # Most listeners return None or a bool (the Bot): test those before isinstance,
            # which goes through ABCMeta for Deferred (an Awaitable): slow, on every event.
            if result is None or result is False or result is True:
                continue
            if isinstance(result, Deferred):
                result.addErrback(_log_listener_failure, event.name)


def _log_listener_failure(failure: Failure, name: str) -> None:
    _log.failure("listener failed on {name}", failure, name=name)
