"""How the send queue reads the server's answers: :class:`ServerAnswers`, part of
:class:`~rosey.bot.sendqueue.queue.SendQueue`.

The server answers each ``chatMsg`` in order: the echo of the line to its sender, ``cooldown <ms>``
(throttled: the line was dropped), ``noflood {action, msg}`` (muted, or a chat command refused), or
``spamFiltered``; a ``pm`` is answered by its echo (with ``to``), ``cooldown`` or an ``errorMsg``.
In-flight items are matched FIFO against these answers (an echo prefers the oldest in-flight line
with the same text, since channel filters may rewrite it). An answer to nothing the queue sent
(another client on the same account, a line sent around the queue) is logged once per kind and
session.

Every event goes through :meth:`ServerAnswers.handle_event`, so the events the queue has no
business with cost one dict miss.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from rosey import events
from rosey.bot.sendqueue.lines import (
    PM_ERRORS,
    CommandRejected,
    Item,
    Lane,
    Muted,
    PMFailed,
    SpamFiltered,
    norm,
    same_name,
)
from rosey.errors import ConnectionClosed
from rosey.events import Event

__all__ = ["ServerAnswers"]


class ServerAnswers:
    """The answer-matching half of the send queue (a mixin: the state is the queue's own)."""

    log: Logger
    margin: float
    resend_unconfirmed: bool
    _clock: IReactorTime
    _own_name: Callable[[], str | None]
    _chat: Lane
    _queue: Lane
    _in_flight: deque[Item]
    _late: deque[str]
    _ready: bool
    _stray_logged: set[str]
    _answers: dict[str, Callable[[Event], None]]

    def _pump(self, lane: Lane) -> None:
        raise NotImplementedError  # the queue's

    def _pump_all(self) -> None:
        raise NotImplementedError  # the queue's

    def _answer_table(self) -> dict[str, Callable[[Event], None]]:
        """Event name -> its handler, for :meth:`handle_event`."""
        return {
            events.READY: self._on_ready,
            events.DISCONNECTED: self._on_disconnect,
            events.MESSAGE: self._on_message,
            events.PM: self._on_pm,
            "cooldown": self._on_cooldown,
            "noflood": self._on_noflood,
            "spamFiltered": self._on_spam_filtered,
            "errorMsg": self._on_error_msg,
        }

    # -- events from the connection ------------------------------------------------------------

    def answer_for(self, name: str) -> Callable[[Event], None] | None:
        """What :meth:`handle_event` runs for an event named ``name``; None: nothing."""
        return self._answers.get(name)

    def handle_event(self, event: Event) -> None:
        """Feed one event from the connection (done by :meth:`startService`)."""
        handler = self._answers.get(event.name)  # most events are none of the queue's business
        if handler is not None:
            handler(event)

    def _on_ready(self, event: Event) -> None:
        self._ready = True
        self._stray_logged.clear()
        self._pump_all()

    def _on_message(self, event: Event) -> None:
        if event.replayed:
            return
        if not self._in_flight and not self._late and "echo" in self._stray_logged:
            return  # the common case: nothing to confirm, and an own line would only be logged
        # A shadow-muted moderator gets its line twice; the copy marked shadow is extra.
        if self._is_me(event.user) and not event.extra.get("shadow"):
            self._confirm(event, "chat")

    def _on_pm(self, event: Event) -> None:
        if not event.replayed and self._is_me(event.user):
            self._confirm(event, "pm")

    def _on_spam_filtered(self, event: Event) -> None:
        if event.replayed:
            return
        data = event.platform_data
        reason = data.get("reason") if isinstance(data, dict) else None
        self._answer(("chat", "command"), SpamFiltered(f"spam filter: {reason}"))

    def _is_me(self, user: str | None) -> bool:
        name = self._own_name()
        return user is not None and same_name(name, user)

    def _confirm(self, event: Event, kind: str) -> None:
        content = norm(event.content or "")
        to = event.extra.get("to")
        candidates = [
            i
            for i in self._in_flight
            if i.kind == kind and (kind != "pm" or not isinstance(to, str) or same_name(i.to, to))
        ]
        match = next((i for i in candidates if i.expect == content), None)
        if match is None and content in self._late:
            self._late.remove(content)
            self.log.info("Late echo of a timed-out line: {text!r}", text=event.content)
            return
        if match is None:
            match = candidates[0] if candidates else None
        if match is None:
            self._stray(
                "echo",
                self.log.debug,
                "Echo of a line the queue did not send: {text!r}",
                text=event.content,
            )
            return
        self._in_flight.remove(match)
        self._succeed(match)
        self._pump(self._chat)

    def _on_cooldown(self, event: Event) -> None:
        if event.replayed:
            return
        data = event.platform_data
        delay = data / 1000 if isinstance(data, int | float) and not isinstance(data, bool) else 0.1
        delay = min(max(delay, 0.0), 60.0)
        now = self._clock.seconds()
        lane = self._chat
        lane.model.penalize(now)
        lane.paused_until = max(lane.paused_until, now + delay + self.margin)
        if not self._in_flight:
            self._stray(
                "cooldown",
                self.log.warn,
                "Server throttled a line rosey did not send (cooldown {ms})",
                ms=data,
            )
            return
        item = self._in_flight.popleft()
        self._cancel_timer(item)
        lane.retry.append(item)
        self.log.warn(
            "Server throttled a {kind} (cooldown {ms} ms); re-sending it: {text!r}",
            kind=item.kind,
            ms=data,
            text=item.text,
        )
        self._pump(lane)

    def _on_noflood(self, event: Event) -> None:
        if event.replayed:
            return
        data = event.platform_data if isinstance(event.platform_data, dict) else {}
        action, msg = str(data.get("action", "")), str(data.get("msg", ""))
        if action == "chat":
            self._answer(("chat",), Muted(msg or "muted"))
        else:
            self._answer(("command",), CommandRejected(msg or action), command=action.lstrip("/"))

    def _on_error_msg(self, event: Event) -> None:
        if event.replayed:
            return
        data = event.platform_data
        msg = data.get("msg") if isinstance(data, dict) else None
        if not isinstance(msg, str):
            return
        if msg.startswith(PM_ERRORS):
            self._answer(("pm",), PMFailed(msg))
        elif msg.startswith("/"):
            self._answer(("command",), CommandRejected(msg), command=msg[1:].split(" ", 1)[0])

    def _answer(self, kinds: tuple[str, ...], error: Exception, command: str = "") -> None:
        """Fail the oldest in-flight item of one of ``kinds`` (a matching command first)."""
        candidates = [i for i in self._in_flight if i.kind in kinds]
        item = next((i for i in candidates if command and i.cmd == command), None)
        item = item or (candidates[0] if candidates else None)
        if item is None:
            self._stray(
                "refusal",
                self.log.info,
                "Server refusal for nothing in flight: {error}",
                error=error,
            )
            return
        self._in_flight.remove(item)
        self._fail(item, error)
        self._pump(self._chat)

    def _stray(self, kind: str, emit: Callable[..., None], fmt: str, **kwargs: Any) -> None:
        """Log an answer to nothing the queue sent, the first of each ``kind`` per session: when
        something else sends as the bot (another client on the account), every one of its lines
        draws one, and a log line each would cost more than the event itself."""
        if kind not in self._stray_logged:
            self._stray_logged.add(kind)
            emit(fmt + " (further ones this session are not logged)", **kwargs)

    def _on_disconnect(self, event: Event | None = None) -> None:
        self._ready = False
        for lane in (self._chat, self._queue):
            self._cancel(lane)
        self._drop_in_flight(
            ConnectionClosed("connection lost before the server confirmed"),
            resend=self.resend_unconfirmed,
        )

    def _drop_in_flight(self, error: Exception, resend: bool) -> None:
        items = list(self._in_flight)
        self._in_flight.clear()
        for item in items:
            self._cancel_timer(item)
            if resend:
                self._chat.retry.append(item)
            else:
                self._fail(item, error)

    # -- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _cancel(lane: Lane) -> None:
        if lane.timer is not None and lane.timer.active():
            lane.timer.cancel()
        lane.timer = None

    @staticmethod
    def _cancel_timer(item: Item) -> None:
        if item.timer is not None and item.timer.active():
            item.timer.cancel()
        item.timer = None

    def _succeed(self, item: Item) -> None:
        self._cancel_timer(item)
        if not item.done.called:
            item.done.callback(None)

    def _fail(self, item: Item, error: Exception) -> None:
        self._cancel_timer(item)
        if not item.done.called:
            item.done.errback(Failure(error))
