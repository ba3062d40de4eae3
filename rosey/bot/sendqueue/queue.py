"""The send queue: every chat line, PM and playlist ``queue`` the bot sends goes through here.

It never floods: each lane (``chat`` for chat lines and PMs, which share one server limiter, and
``queue`` for playlist adds) paces its sends with a :class:`~rosey.bot.ratelimit.FloodModel` of
the server's limiter, measured from when each send left the machine (the reactor's flush of
the write, which a busy turn can delay), not from when it was written. Long text is split
(:mod:`rosey.bot.sendqueue.split`).

Confirmation (:mod:`rosey.bot.sendqueue.answers`). In-flight lines and PMs are matched FIFO
against the server's answers. A line's Deferred fires when its echo arrives, or fails with
``Muted``, ``SpamFiltered``, ``CommandRejected``, ``PMFailed`` (:mod:`.lines`),
:class:`~rosey.errors.AckTimeout` or :class:`~rosey.errors.ConnectionClosed`. After ``cooldown``
the line is re-sent once the server's pause has passed: nothing is lost.

Server chat commands that produce no echo (``/kick``, ``/afk``, ``/rank`` …) cannot be matched to an
answer, so they go out alone: only with nothing in flight, and nothing follows until they have
settled (``settle`` seconds without a ``cooldown``/``noflood``/error for them).

While the connection is not ready, items are held (at most ``max_pending`` per lane; beyond that
the newest request fails with :class:`QueueFull`, and it is logged) and sent on ``ready``. Lines in
flight when the connection drops fail with ``ConnectionClosed`` (their fate is unknown) unless
``resend_unconfirmed`` is set, in which case they are sent again after reconnecting.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from rosey.bot.ratelimit import RateParams, chat_params, queue_params
from rosey.bot.sendqueue.answers import ServerAnswers
from rosey.bot.sendqueue.lines import (
    USERNAME,
    Item,
    Lane,
    PMFailed,
    QueueFull,
    all_done,
    classify,
    norm,
    same_name,
)
from rosey.bot.sendqueue.split import MAX_LENGTH, split_message
from rosey.errors import (
    AckTimeout,
    ChannelPermissionError,
    ConnectionClosed,
    NotConnected,
)
from rosey.interfaces import IConnection

__all__ = ["CONTINUATION_GUARD", "SendQueue"]

CONTINUATION_GUARD = "» "
# Reactor turns after a write by which its bytes have surely left (see _watch_departure).
DEPARTURE_TURNS = 2


class SendQueue(ServerAnswers, Service):
    """Paced, confirmed sending over an :class:`~rosey.interfaces.IConnection`.

    ``own_rank`` and ``antiflood`` (``chat_antiflood_params`` when ``channelOpts.chat_antiflood`` is
    on, else None) come from the channel mirror; ``own_name`` defaults to the connection's
    ``username``. ``remember`` is called with every text handed to the queue and again when it is
    sent (the command router's memory of the bot's own output). ``margin`` is the network jitter
    (seconds) the pacing tolerates. With ``subscribe=False`` the owner feeds
    :meth:`handle_event` itself (the Bot does, to keep the order mirror → queue → handlers).
    """

    log = Logger()

    def __init__(
        self,
        connection: IConnection,
        clock: IReactorTime,
        *,
        own_rank: Callable[[], float] = lambda: 0.0,
        antiflood: Callable[[], RateParams | None] = lambda: None,
        own_name: Callable[[], str | None] | None = None,
        remember: Callable[[str], None] | None = None,
        max_length: int = MAX_LENGTH,
        margin: float = 0.025,
        ack_timeout: float = 10.0,
        settle: float = 1.0,
        max_pending: int = 5000,
        resend_unconfirmed: bool = False,
        subscribe: bool = True,
    ) -> None:
        self._connection = connection
        self._subscribe = subscribe
        self._clock = clock
        self._own_rank = own_rank
        self._antiflood = antiflood
        self._own_name = own_name or (lambda: connection.username)
        self._remember = remember or (lambda text: None)
        self.max_length = max_length
        self.margin = margin
        self.ack_timeout = ack_timeout
        self.settle = settle
        self.max_pending = max_pending
        self.resend_unconfirmed = resend_unconfirmed
        self._chat = Lane("chat", margin)
        self._queue = Lane("queue", margin)
        self._in_flight: deque[Item] = deque()
        # Texts of lines that timed out: their echo may still come and must not confirm another.
        self._late: deque[str] = deque(maxlen=100)
        self._ready = False
        # Answers for nothing the queue sent are logged once per kind and session (see _stray).
        self._stray_logged: set[str] = set()
        self._answers = self._answer_table()

    # -- public API -----------------------------------------------------------------------------

    def say(self, text: str, meta: dict[str, Any] | None = None) -> Deferred[None]:
        """Send a chat line, split if long. Fires when every part was echoed by the server.

        Each line of ``text`` is sent separately; ``/me`` and ``/sp`` are repeated on every part.
        A server command (``/kick …``) is sent as one line, never split (the server cuts it).
        """
        kind, prefix, cmd = classify(text, self._own_rank())
        if kind == "command":
            chunks = [" ".join(text.split("\n"))]  # never split: a second part would be chat
        else:
            room = self.max_length - len(prefix) - len(CONTINUATION_GUARD)
            parts = split_message(text[len(prefix) :], room)
            # A later part that starts with "/" would be run by the server as a command (with
            # the bot's rank): never let a split turn quoted user text into one.
            chunks = [
                prefix + (CONTINUATION_GUARD + c if i and c.startswith("/") else c)
                for i, c in enumerate(parts)
            ]
        items = [
            Item(kind, text=c, meta=meta, expect=norm(c[len(prefix) :]), cmd=cmd) for c in chunks
        ]
        return self._enqueue(self._chat, items)

    def pm(self, to: str, text: str, meta: dict[str, Any] | None = None) -> Deferred[None]:
        """Send a private message, split if long. Fires when every part was echoed."""
        if not USERNAME.fullmatch(to):
            return fail(PMFailed(f"PM failed: {to!r} isn't a valid username"))
        if same_name(self._own_name(), to):
            return fail(PMFailed("You can't PM yourself"))
        items = [
            Item("pm", text=c, to=to, meta=meta, expect=norm(c))
            for c in split_message(text, self.max_length)
        ]
        return self._enqueue(self._chat, items)

    def queue_add(self, payload: dict[str, Any]) -> Deferred[None]:
        """Emit a playlist ``queue`` under the server's queue limiter. Fires once it is sent;
        the outcome (``queue`` / ``queueFail``) is the playlist layer's to watch."""
        return self._enqueue(self._queue, [Item("emit", event="queue", data=payload)])

    @property
    def pending(self) -> int:
        """Items waiting to be sent, both lanes."""
        return len(self._chat) + len(self._queue)

    @property
    def in_flight(self) -> int:
        """Chat lines and PMs sent and not yet confirmed."""
        return len(self._in_flight)

    def startService(self) -> None:
        super().startService()
        if self._subscribe:
            self._connection.subscribe(self.handle_event)
        self._ready = bool(self._connection.ready)
        self._pump_all()

    def stopService(self) -> None:
        super().stopService()
        if self._subscribe:
            self._connection.unsubscribe(self.handle_event)
        self._ready = False
        for lane in (self._chat, self._queue):
            self._cancel(lane)
            if lane.departure is not None and lane.departure.active():
                lane.departure.cancel()
            lane.departure = None
            lane.model.left(self._clock.seconds())
            items = [*lane.retry, *lane.pending]
            lane.retry.clear()
            lane.pending.clear()
            for item in items:
                self._fail(item, ConnectionClosed("send queue stopped"))
        self._drop_in_flight(ConnectionClosed("send queue stopped"), resend=False)

    # -- sending --------------------------------------------------------------------------------

    def _enqueue(self, lane: Lane, items: list[Item]) -> Deferred[None]:
        if not items:
            return succeed(None)
        if len(lane) + len(items) > self.max_pending:
            error = QueueFull(
                f"send queue full: {len(lane)} {lane.name} items pending (max_pending "
                f"{self.max_pending}); refused {len(items)} more"
            )
            self.log.error("{error}", error=error)
            return fail(error)
        for item in items:
            if item.kind != "emit":
                self._remember(item.text)
        lane.pending.extend(items)
        result = all_done([item.done for item in items])
        self._pump(lane)
        return result

    def _pump_all(self) -> None:
        self._pump(self._chat)
        self._pump(self._queue)

    def _pump(self, lane: Lane) -> None:
        if lane.pumping:
            lane.again = True  # re-entered from a callback: the running pump goes round again
            return
        lane.pumping = True
        try:
            lane.again = True
            while lane.again:
                lane.again = False
                self._pump_lane(lane)
        finally:
            lane.pumping = False

    def _pump_lane(self, lane: Lane) -> None:
        while self._ready and (lane.retry or lane.pending):
            source = lane.retry if lane.retry else lane.pending
            item = source[0]
            if lane is self._chat and (
                any(i.kind == "command" for i in self._in_flight)
                or (item.kind == "command" and self._in_flight)
            ):
                return  # a command goes out alone; its settling pumps again
            now = self._clock.seconds()
            params = self._params(item)
            wait = max(lane.paused_until - now, lane.model.delay(now, params))
            if wait > 0:
                if not lane.model.leaving:  # else _departed pumps once the last send is gone
                    self._schedule(lane, min(wait, 60.0))
                return
            source.popleft()
            if item.done.called:  # cancelled by the caller
                continue
            if item.kind != "emit" and self._own_rank() < 0:
                self._fail(item, ChannelPermissionError("anonymous users cannot chat; log in"))
                continue
            tracked = item.kind != "emit"
            if tracked:  # before emitting: a fake (or very fast) peer may answer at once
                self._in_flight.append(item)
            try:
                self._emit(item)
            except NotConnected:
                if tracked:
                    self._in_flight.remove(item)
                source.appendleft(item)
                self._ready = False
                return
            except Exception as e:  # a bad payload must not stall the queue
                self.log.failure("Could not send {kind}", Failure(), kind=item.kind)
                if tracked:
                    self._in_flight.remove(item)
                self._fail(item, e)
                continue
            lane.model.record(now, params)
            self._watch_departure(lane)
            if not tracked:
                self._succeed(item)
                continue
            self._remember(item.text)
            if item in self._in_flight:
                wait_for = self.settle if item.kind == "command" else self.ack_timeout
                item.timer = self._clock.callLater(wait_for, self._expired, item)

    def _params(self, item: Item) -> RateParams:
        if item.kind == "emit":
            return queue_params(self._own_rank())
        return chat_params(self._own_rank(), self._antiflood(), pm=item.kind == "pm")

    def _emit(self, item: Item) -> None:
        if item.kind == "pm":
            assert item.to is not None
            self._connection.send_pm(item.to, item.text, item.meta)
        elif item.kind == "emit":
            self._connection.emit(item.event, item.data)
        else:
            self._connection.send_message(item.text, item.meta)

    def _watch_departure(self, lane: Lane) -> None:
        """Tell the lane's model when what was just written has left the machine.

        A write only fills the transport's buffer; the reactor flushes it in its next I/O pass,
        which can come late (a long read before it, a busy turn). A reactor calls a
        ``callLater(0)`` made during one turn's timed calls at the next turn, so
        ``DEPARTURE_TURNS`` such hops after the *last* write always end after that write's flush,
        wherever in a turn the write happened.
        """
        lane.departure_turns = DEPARTURE_TURNS
        if lane.departure is None:
            lane.departure = self._clock.callLater(0, self._departing, lane)

    def _departing(self, lane: Lane) -> None:
        lane.departure_turns -= 1
        if lane.departure_turns > 0:
            lane.departure = self._clock.callLater(0, self._departing, lane)
            return
        lane.departure = None
        lane.model.left(self._clock.seconds())
        self._pump(lane)

    def _schedule(self, lane: Lane, delay: float) -> None:
        self._cancel(lane)
        lane.timer = self._clock.callLater(delay, self._wake, lane)

    def _wake(self, lane: Lane) -> None:
        lane.timer = None
        self._pump(lane)

    def _expired(self, item: Item) -> None:
        item.timer = None
        if item not in self._in_flight:
            return
        self._in_flight.remove(item)
        if item.kind == "command":
            self._succeed(item)  # no refusal within the settle time: the server took it
        else:
            self._late.append(item.expect)
            self._fail(item, AckTimeout(f"no echo within {self.ack_timeout:g}s for {item.text!r}"))
        self._pump(self._chat)
