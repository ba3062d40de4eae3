"""Bounded waits for live tests: poll a condition on the reactor, never sleep blindly."""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.defer import Deferred, TimeoutError


def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> Deferred[None]:
    """Fires once ``predicate()`` is true (checked now, then every 5 ms); fails with
    ``twisted.internet.defer.TimeoutError`` after ``timeout`` seconds."""
    return Deferred.fromCoroutine(_poll(predicate, timeout))


async def _poll(predicate: Callable[[], bool], timeout: float) -> None:
    from twisted.internet import reactor
    from twisted.internet.task import deferLater

    deadline = reactor.seconds() + timeout
    while not predicate():
        if reactor.seconds() >= deadline:
            raise TimeoutError(f"still false after {timeout:g} s")
        await deferLater(reactor, 0.005, lambda: None)
