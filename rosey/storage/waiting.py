"""Who may have unsent outbound messages (``!tell``), known in memory.

``!tell`` delivery asks on every join and chat line whether the user has messages waiting;
nearly always nobody has. :class:`WaitingRecipients` answers that from a set per channel,
loaded from the database when the storage connects (one query for every channel) and reloaded
every ``refresh`` seconds to catch messages queued by another process; until the first load
is done every answer is "maybe". The storage keeps it current: a message queued through it adds
its recipient at once, and a read that finds nothing for a recipient removes them. The answer
may be a false "yes" (the read then finds nothing), never a false "no" for a message queued
through this process; one queued elsewhere shows up within ``refresh`` seconds.

A storage keeps it current by passing its queueing through :meth:`WaitingRecipients.enqueue` and
its reads through :meth:`WaitingRecipients.read`.

Names are compared with ``str.lower``, as the database query does (``lower(recipient)``);
channels by their storage key (:func:`rosey.interfaces.channel_key`), which is what the
load gives back. The load's pairs may be tuples or two-item lists (a JSON reply's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from rosey.interfaces import channel_key

T = TypeVar("T")
R = TypeVar("R", bound=Sequence[object])


class WaitingRecipients:
    """The recipients that may have unsent messages, per channel (see the module docstring).

    ``load()`` fires with the (channel, recipient) pairs of every unsent message; ``refresh``:
    seconds between reloads; ``retry``: seconds before another try after a failed load.
    """

    log = Logger()

    def __init__(
        self,
        clock: IReactorTime,
        load: Callable[[], Deferred[list[tuple[str, str | None]]]],
        *,
        refresh: float = 300.0,
        retry: float = 60.0,
    ) -> None:
        self._clock = clock
        self._load = load
        self.refresh = refresh
        self.retry = retry
        #: Channel → recipient (lowered) → the generation at which it was last added.
        self._keys: dict[str, dict[str, int]] = {}
        self.loaded = False
        self._loading = False
        self._waiters: list[Deferred[None]] = []
        self._next: IDelayedCall | None = None
        self._stopped = False
        #: Bumped by every :meth:`add`; a read that started at generation g may only remove
        #: recipients not added since.
        self.generation = 0

    def load(self) -> Deferred[None]:
        """(Re)load now unless a load runs; fires when it is done (never fails)."""
        waiter: Deferred[None] = Deferred()
        self._waiters.append(waiter)
        self._stopped = False
        if not self._loading:
            self._start()
        return waiter

    def stop(self) -> None:
        """No more reloads (the storage is closing)."""
        self._stopped = True
        if self._next is not None and self._next.active():
            self._next.cancel()
        self._next = None

    def _start(self) -> None:
        if self._next is not None and self._next.active():
            self._next.cancel()  # an explicit load() before the scheduled one
        self._next = None
        self._loading = True
        d = self._load()
        # An errback after the callback: a reply that does not unpack is a failed load too.
        d.addCallback(self._loaded, self.generation).addErrback(self._load_failed)

    def may_have(self, channel: str, recipient: str) -> bool:
        """False only if ``recipient`` has no unsent message in ``channel`` (no I/O)."""
        if not self.loaded:
            return True
        keys = self._keys.get(channel_key(channel))
        return keys is not None and recipient.lower() in keys

    def add(self, channel: str, recipient: str | None) -> None:
        """A message for ``recipient`` is being queued (call again once it is stored)."""
        if recipient is None:
            return
        self.generation += 1
        self._keys.setdefault(channel_key(channel), {})[recipient.lower()] = self.generation

    def found_none(self, channel: str, recipient: str, since: int) -> None:
        """A read started at generation ``since`` found nothing unsent for ``recipient``."""
        keys = self._keys.get(channel_key(channel))
        if keys is None:
            return
        key = recipient.lower()
        added = keys.get(key)
        if added is not None and added <= since:
            del keys[key]

    def enqueue(
        self, channel: str, recipient: str | None, store: Callable[[], Deferred[T]]
    ) -> Deferred[T]:
        """Queue a message with ``store()``, ``recipient`` added before and again once stored
        (a load that ran meanwhile may not have seen it); ``store()``'s Deferred."""
        self.add(channel, recipient)

        def stored(result: T) -> T:
            self.add(channel, recipient)
            return result

        return store().addCallback(stored)

    def read(self, channel: str, recipient: str, fetch: Callable[[], Deferred[R]]) -> Deferred[R]:
        """Read ``recipient``'s unsent messages with ``fetch()``; if it finds none, the recipient
        is removed unless a message was queued for them since the read began."""
        since = self.generation

        def found(rows: R) -> R:
            if not rows:
                self.found_none(channel, recipient, since)
            return rows

        return fetch().addCallback(found)

    def _loaded(self, pairs: Sequence[tuple[str, str | None]], since: int) -> None:
        fresh: dict[str, dict[str, int]] = {}
        for channel, recipient in pairs:
            if recipient is not None:
                fresh.setdefault(channel_key(channel), {})[recipient.lower()] = since
        for channel, keys in self._keys.items():
            for key, added in keys.items():
                if added > since:  # added while the load ran: the load may have missed it
                    fresh.setdefault(channel, {})[key] = added
        self._keys = fresh
        self.loaded = True
        self._done(self.refresh)

    def _load_failed(self, failure: Failure) -> None:
        self.log.warn(
            "!tell: cannot load who has messages waiting ({error}); asking per user until it loads",
            error=failure.getErrorMessage(),
        )
        self._done(self.retry)

    def _done(self, next_in: float) -> None:
        self._loading = False
        if not self._stopped and self._next is None:
            self._next = self._clock.callLater(next_in, self._start)
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.callback(None)
