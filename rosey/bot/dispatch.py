"""Event dispatch: deliver each normalized :class:`~rosey.events.Event` to its handlers, in order.

Handlers are plain callables taking the event. They may return ``None`` (or anything that is not
``True`` and not awaitable), ``True`` to stop propagation, a ``Deferred``, or a coroutine
(``async def`` handlers). The next handler runs only after the previous one's result resolved, so
order holds across async handlers too. A handler that raises (or whose Deferred/coroutine fails) is
logged with the event, and an ``error`` event is dispatched to the ``error`` handlers; the other
handlers still run.

The fast path matters: synchronous handlers cost one call each. :meth:`Dispatcher.run` makes no
Deferred at all unless a handler returned one (or a coroutine); :meth:`Dispatcher.dispatch` wraps
its result in one already-fired Deferred. The handlers for each event name (its own merged with the
wildcard's) are kept as one tuple, rebuilt after :meth:`~Dispatcher.on` / :meth:`~Dispatcher.off`;
a dispatch already running goes on with the tuple it started with.
"""

from __future__ import annotations

from collections.abc import Callable
from inspect import iscoroutine
from typing import Any, overload

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from rosey.events import ERROR, Event

__all__ = ["WILDCARD", "Dispatcher", "Handler"]

Handler = Callable[[Event], Any]

#: Subscribing to this name delivers every event, ``error`` events included.
WILDCARD = "*"

#: Per-event-name tables are emptied when they reach this many names (the server decides the
#: names; a broken or hostile one could send a new one with every event).
MAX_CACHED_NAMES = 1024


def _name(handler: Handler) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)


class Dispatcher:
    """Runs the handlers registered for an event name (and for ``"*"``) in registration order.

    ``error`` events carry the :class:`~twisted.python.failure.Failure` as ``platform_data``, and
    ``extra`` holds ``{"event": <the event being handled>, "handler": <handler name>}``. A failure
    inside an ``error`` handler is only logged, so errors never cascade.
    """

    def __init__(self, log: Logger | None = None) -> None:
        self._log = log if log is not None else Logger()
        self._seq = 0
        # name -> [(registration number, handler)]
        self._registered: dict[str, list[tuple[int, Handler]]] = {}
        # name -> handlers for that name merged with the wildcard's, in registration order
        self._table: dict[str, tuple[Handler, ...]] = {}
        self._watchers: list[Callable[[], None]] = []

    def watch(self, changed: Callable[[], None]) -> None:
        """Call ``changed()`` after every :meth:`on` and :meth:`off` (for callers that keep
        :meth:`handlers` tuples of their own)."""
        self._watchers.append(changed)

    def _changed(self) -> None:
        self._table.clear()
        for changed in self._watchers:
            changed()

    # -- registration ---------------------------------------------------------------------------

    @overload
    def on(self, event: str) -> Callable[[Handler], Handler]: ...

    @overload
    def on(self, event: str, handler: Handler) -> Handler: ...

    def on(
        self, event: str, handler: Handler | None = None
    ) -> Handler | Callable[[Handler], Handler]:
        """Register ``handler`` for ``event`` (``"*"`` for all events) and return it.

        Without ``handler`` this is a decorator: ``@dispatcher.on("message")``. Registering the
        same handler twice makes it run twice.
        """
        if handler is None:
            return lambda h: self.on(event, h)
        self._seq += 1
        self._registered.setdefault(event, []).append((self._seq, handler))
        self._changed()
        return handler

    def off(self, event: str, handler: Handler) -> None:
        """Remove every registration of ``handler`` for ``event``; unknown handlers are ignored."""
        entries = self._registered.get(event)
        if not entries:
            return
        kept = [(seq, h) for seq, h in entries if h != handler]
        if kept:
            self._registered[event] = kept
        else:
            del self._registered[event]
        self._changed()

    def handlers(self, event: str) -> tuple[Handler, ...]:
        """The handlers that :meth:`dispatch` would run for an event named ``event``, in order."""
        table = self._table.get(event)
        if table is None:
            if len(self._table) >= MAX_CACHED_NAMES:  # a server inventing names: stay bounded
                self._table.clear()
            merged = self._registered.get(event, []) + (
                self._registered.get(WILDCARD, []) if event != WILDCARD else []
            )
            merged.sort(key=lambda entry: entry[0])
            table = self._table[event] = tuple(h for _, h in merged)
        return table

    # -- dispatch -------------------------------------------------------------------------------

    def dispatch(self, event: Event) -> Deferred[bool]:
        """Run the handlers for ``event``.

        The Deferred fires once every handler is done, with ``True`` if one stopped propagation and
        ``False`` otherwise. It never fails: handler errors are logged and turned into ``error``
        events.
        """
        result = self.run(event)
        if result is True or result is False:
            return succeed(result)
        return result

    def run(self, event: Event) -> bool | Deferred[bool]:
        """:meth:`dispatch` without the Deferred when every handler was synchronous: ``True`` if
        one stopped propagation, ``False`` otherwise, or a Deferred (that never fails) as soon as
        a handler returned one or a coroutine."""
        handlers = self._table.get(event.name)
        if handlers is None:
            handlers = self.handlers(event.name)
        return self.run_handlers(event, handlers)

    def run_handlers(self, event: Event, handlers: tuple[Handler, ...]) -> bool | Deferred[bool]:
        """:meth:`run` with the handlers given (a tuple from :meth:`handlers`)."""
        remaining = iter(handlers)
        for handler in remaining:
            try:
                result = handler(event)
            except Exception:
                self._failed(event, handler, Failure())
                continue
            if result is None:
                continue
            if result is True:
                return True
            if isinstance(result, Deferred) or iscoroutine(result):
                return self._wait(result, event, tuple(remaining), handler)
        return False

    def _wait(
        self, result: Any, event: Event, rest: tuple[Handler, ...], handler: Handler
    ) -> Deferred[bool]:
        """Run ``rest`` once ``handler``'s Deferred or coroutine ``result`` is done."""
        waiting: Deferred[Any] = (
            result if isinstance(result, Deferred) else Deferred.fromCoroutine(result)
        )
        return waiting.addCallbacks(
            self._resume,
            self._resume_after_failure,
            callbackArgs=(event, rest),
            errbackArgs=(event, rest, handler),
        )

    def _resume(
        self, result: object, event: Event, rest: tuple[Handler, ...]
    ) -> bool | Deferred[bool]:
        if result is True:
            return True
        return self.run_handlers(event, rest)

    def _resume_after_failure(
        self, failure: Failure, event: Event, rest: tuple[Handler, ...], handler: Handler
    ) -> bool | Deferred[bool]:
        self._failed(event, handler, failure)
        return self.run_handlers(event, rest)

    def _failed(self, event: Event, handler: Handler, failure: Failure) -> None:
        self._log.failure(
            "Handler {handler} failed on {event_name!r} event from {user!r}",
            failure,
            handler=_name(handler),
            event_name=event.name,
            user=event.user,
            event=event,
        )
        if event.name == ERROR:
            return  # an error handler failed: logged above, never re-dispatched
        error = Event(ERROR, failure, extra={"event": event, "handler": _name(handler)})
        self.dispatch(error)
