"""Conditions on a peer, checked on the peer's own thread, reported on the Twisted reactor."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from twisted.internet.base import DelayedCall
from twisted.internet.defer import Deferred

S = TypeVar("S")


@dataclass(eq=False)
class _Waiter:
    predicate: Callable[[Any], bool]
    deferred: Deferred[None]
    timeout_call: DelayedCall | None = None
    done: bool = field(default=False)


class Waiters(Generic[S]):
    """The pending :meth:`when` conditions of one peer.

    ``schedule`` runs a callable on the thread that owns the peer's state (where the
    predicates must be evaluated); ``describe`` gives context for timeout messages.
    """

    def __init__(
        self,
        subject: S,
        schedule: Callable[[Callable[[], None]], None],
        describe: Callable[[], str],
    ) -> None:
        self._subject = subject
        self._schedule = schedule
        self._describe = describe
        self._lock = threading.Lock()
        self._pending: list[_Waiter] = []

    def add(self, predicate: Callable[[S], bool], timeout: float) -> Deferred[None]:
        """Must be called on the reactor thread; see the peers' ``when``."""
        from twisted.internet import reactor as _reactor

        reactor: Any = _reactor

        def cancel(_d: Deferred[None]) -> None:
            self._discard(waiter)

        waiter = _Waiter(predicate, Deferred(cancel))

        def expire() -> None:
            waiter.timeout_call = None
            if self._discard(waiter):
                name = getattr(predicate, "__qualname__", repr(predicate))
                waiter.deferred.errback(
                    TimeoutError(
                        f"peer condition {name} still false after {timeout} s; {self._describe()}"
                    )
                )

        with self._lock:
            self._pending.append(waiter)
        waiter.timeout_call = reactor.callLater(timeout, expire)
        self._schedule(self.check)
        return waiter.deferred

    def _discard(self, waiter: _Waiter) -> bool:
        with self._lock:
            if waiter.done:
                return False
            waiter.done = True
            self._pending.remove(waiter)
        if waiter.timeout_call is not None and waiter.timeout_call.active():
            waiter.timeout_call.cancel()
        return True

    def check(self) -> None:
        """Evaluate every pending predicate (on the peer's thread)."""
        from twisted.internet import reactor as _reactor

        reactor: Any = _reactor

        with self._lock:
            pending = list(self._pending)
        for waiter in pending:
            try:
                ok = waiter.predicate(self._subject)
            except Exception as exc:  # a broken predicate fails its Deferred, not the peer
                reactor.callFromThread(self._fire, waiter, exc)
                continue
            if ok:
                reactor.callFromThread(self._fire, waiter, None)

    def _fire(self, waiter: _Waiter, error: Exception | None) -> None:
        if not self._discard(waiter):
            return
        if error is None:
            waiter.deferred.callback(None)
        else:
            waiter.deferred.errback(error)
