"""A set of Deferreds still running, by key, with a way to wait until none are."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from twisted.internet.defer import Deferred


class TaskSet:
    """Tracks running Deferreds by key; :meth:`idle` fires once none is running.

    Used where a plugin or helper starts background work per user or per timer and must not
    start it twice (``key in tasks``), and where tests or ``stopService`` wait for it to finish.
    """

    def __init__(self) -> None:
        self._active: dict[Hashable, Deferred[Any]] = {}
        self._idle_waiters: list[Deferred[None]] = []

    def __contains__(self, key: Hashable) -> bool:
        return key in self._active

    def __len__(self) -> int:
        return len(self._active)

    def track(self, key: Hashable, d: Deferred[Any]) -> None:
        """Remember ``d`` under ``key`` until it fires (nothing to do if it already has)."""
        if d.called:
            return
        self._active[key] = d

        def done(result: object) -> object:
            del self._active[key]
            if not self._active:
                waiters, self._idle_waiters = self._idle_waiters, []
                for waiter in waiters:
                    waiter.callback(None)
            return result

        d.addBoth(done)

    def idle(self) -> Deferred[None]:
        """Fires once nothing tracked is running (at once if nothing is)."""
        d: Deferred[None] = Deferred()
        if self._active:
            self._idle_waiters.append(d)
        else:
            d.callback(None)
        return d
