"""Waiting for the server to confirm what the bot asked for.

CyTube answers almost nothing with an ack: the proof that an action worked is a broadcast
(``queue``, ``delete``, ``setLeader`` …) or a refusal (``queueFail``, ``errorMsg`` …) among all
the other events. :class:`Confirmations` sees every normalized event and settles the expectations
waiting for one. Register the expectation *before* sending, so that an answer arriving at once is
not missed.

Feed it after the channel mirror has applied the event, so a caller woken by a confirmation sees the
state that event created.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from rosey import events
from rosey.errors import AckTimeout, ConnectionClosed
from rosey.events import Event

__all__ = ["Confirmations", "FailMatcher", "Matcher"]

T = TypeVar("T")

#: ``match(event)``: the value to resolve with, or None when ``event`` is not the confirmation.
Matcher = Callable[[Event], T | None]
#: ``fail(event)``: the exception to fail with, or None when ``event`` is not a refusal.
FailMatcher = Callable[[Event], BaseException | None]

log = Logger()


@dataclass(eq=False, slots=True)
class _Expectation:
    match: Matcher[Any]
    fail: FailMatcher | None
    description: str
    deferred: Deferred[Any]
    timer: IDelayedCall | None = None
    done: bool = False


class Confirmations:
    """The expectations waiting for a server event, settled by :meth:`feed`.

    Every pending expectation fails with :class:`~rosey.errors.ConnectionClosed` on
    ``disconnected`` or ``kicked``. Replayed chat (the join burst) never settles anything.
    """

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._pending: list[_Expectation] = []

    @property
    def pending(self) -> int:
        """How many expectations are waiting."""
        return len(self._pending)

    def expect(
        self,
        match: Matcher[T],
        *,
        fail: FailMatcher | None = None,
        timeout: float | None = 10.0,
        description: str = "server confirmation",
    ) -> Deferred[T]:
        """A Deferred that fires with the first non-None ``match(event)`` of a later event.

        It fails with the first non-None ``fail(event)``, with :class:`~rosey.errors.AckTimeout`
        naming ``description`` after ``timeout`` seconds (None: no timer until
        :meth:`start_timer`), or with ``ConnectionClosed``. Cancelling it forgets the expectation.
        """
        expectation: _Expectation

        def cancel(_: Deferred[Any]) -> None:
            self._settle(expectation)

        d: Deferred[T] = Deferred(cancel)
        expectation = _Expectation(match, fail, description, d)
        self._pending.append(expectation)
        if timeout is not None:
            self._arm(expectation, timeout)
        return d

    def start_timer(self, d: Deferred[Any], timeout: float) -> None:
        """Start the timeout of a pending expectation made with ``timeout=None`` (for requests
        that wait in a send queue: the clock should run from when they went out)."""
        expectation = self._find(d)
        if expectation is not None and expectation.timer is None:
            self._arm(expectation, timeout)

    def reject(self, d: Deferred[Any], error: BaseException) -> None:
        """Fail a pending expectation with ``error`` (its request could not be sent); no-op when
        it is already settled."""
        expectation = self._find(d)
        if expectation is not None:
            self._settle(expectation)
            d.errback(error)

    def fail_all(self, error: BaseException) -> None:
        """Fail every pending expectation with ``error``."""
        pending, self._pending = self._pending, []
        for expectation in pending:
            self._settle(expectation)
            expectation.deferred.errback(error)

    def feed(self, event: Event) -> None:
        """Offer one event to every pending expectation, oldest first. Never raises."""
        if not self._pending:
            return
        name = event.name
        if name == events.DISCONNECTED or name == events.KICKED:
            data = event.platform_data
            reason = data.get("reason") if isinstance(data, dict) else None
            what = "kicked" if name == events.KICKED else "connection lost"
            detail = f"{what}: {reason}" if reason else what
            self.fail_all(ConnectionClosed(f"{detail} before the server confirmed"))
            return
        if event.replayed:
            return
        for expectation in list(self._pending):
            if expectation.done:  # settled by a callback run earlier in this loop
                continue
            self._offer(expectation, event)

    # -- internals ------------------------------------------------------------------------------

    def _offer(self, expectation: _Expectation, event: Event) -> None:
        try:
            value = expectation.match(event)
            error = None
            if value is None and expectation.fail is not None:
                error = expectation.fail(event)
        except Exception:
            log.failure(
                "Confirmation matcher for {what} failed on a {name!r} event",
                what=expectation.description,
                name=event.name,
            )
            return
        if value is not None:
            self._settle(expectation)
            expectation.deferred.callback(value)
        elif error is not None:
            self._settle(expectation)
            expectation.deferred.errback(error)

    def _find(self, d: Deferred[Any]) -> _Expectation | None:
        for expectation in self._pending:
            if expectation.deferred is d:
                return expectation
        return None

    def _arm(self, expectation: _Expectation, timeout: float) -> None:
        expectation.timer = self._clock.callLater(timeout, self._timed_out, expectation, timeout)

    def _timed_out(self, expectation: _Expectation, timeout: float) -> None:
        expectation.timer = None
        if expectation.done:
            return
        self._settle(expectation)
        expectation.deferred.errback(
            AckTimeout(f"no server confirmation of {expectation.description} in {timeout:g} s")
        )

    def _settle(self, expectation: _Expectation) -> None:
        """Take ``expectation`` out of the pending list and stop its timer (idempotent)."""
        if expectation.done:
            return
        expectation.done = True
        if expectation.timer is not None and expectation.timer.active():
            expectation.timer.cancel()
        expectation.timer = None
        with contextlib.suppress(ValueError):  # fail_all already took it out
            self._pending.remove(expectation)
