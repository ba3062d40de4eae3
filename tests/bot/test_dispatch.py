"""Dispatcher: order, propagation, sync/Deferred/async handlers, errors, wildcard."""

from __future__ import annotations

from typing import Any, cast

import pytest
import pytest_twisted
from twisted.internet import task
from twisted.internet.defer import Deferred, succeed
from twisted.logger import ILogObserver, LogEvent, Logger

from rosey.bot.dispatch import WILDCARD, Dispatcher
from rosey.events import ERROR, MESSAGE, Event


class Captured:
    """A Logger whose events land in a list."""

    def __init__(self) -> None:
        self.events: list[LogEvent] = []
        self.log = Logger(observer=cast(ILogObserver, self.events.append))


@pytest.fixture
def logs() -> Captured:
    return Captured()


@pytest.fixture
def disp(logs: Captured) -> Dispatcher:
    return Dispatcher(logs.log)


def msg(text: str = "hi") -> Event:
    return Event(MESSAGE, user="alice", content=text)


def test_handlers_run_in_registration_order(disp: Dispatcher) -> None:
    seen: list[str] = []
    disp.on(MESSAGE, lambda e: seen.append("a"))
    disp.on(WILDCARD, lambda e: seen.append("star"))
    disp.on(MESSAGE, lambda e: seen.append("b"))
    disp.on("other", lambda e: seen.append("other"))
    d = disp.dispatch(msg())
    assert seen == ["a", "star", "b"]
    assert d.called
    assert d.result is False


def test_true_stops_propagation(disp: Dispatcher) -> None:
    seen: list[str] = []
    disp.on(MESSAGE, lambda e: seen.append("a"))
    disp.on(MESSAGE, lambda e: True)
    disp.on(MESSAGE, lambda e: seen.append("c"))
    results: list[bool] = []
    disp.dispatch(msg()).addCallback(results.append)
    assert seen == ["a"]
    assert results == [True]


def test_truthy_non_true_does_not_stop(disp: Dispatcher) -> None:
    seen: list[str] = []
    disp.on(MESSAGE, lambda e: 1)
    disp.on(MESSAGE, lambda e: "yes")
    disp.on(MESSAGE, lambda e: seen.append("last"))
    disp.dispatch(msg())
    assert seen == ["last"]


def test_deferred_handler_holds_the_next_one(disp: Dispatcher) -> None:
    seen: list[str] = []
    gate: Deferred[None] = Deferred()
    disp.on(MESSAGE, lambda e: seen.append("a"))
    disp.on(MESSAGE, lambda e: gate)
    disp.on(MESSAGE, lambda e: seen.append("c"))
    d = disp.dispatch(msg())
    assert seen == ["a"]
    assert not d.called
    gate.callback(None)
    assert seen == ["a", "c"]
    assert d.called


def test_deferred_true_stops(disp: Dispatcher) -> None:
    seen: list[str] = []
    disp.on(MESSAGE, lambda e: succeed(True))
    disp.on(MESSAGE, lambda e: seen.append("never"))
    results: list[bool] = []
    disp.dispatch(msg()).addCallback(results.append)
    assert seen == []
    assert results == [True]


@pytest_twisted.ensureDeferred
async def test_async_handlers_keep_order() -> None:
    clock = task.Clock()
    disp = Dispatcher()
    seen: list[str] = []

    async def slow(event: Event) -> None:
        seen.append("slow-start")
        await task.deferLater(clock, 1.0, lambda: None)
        seen.append("slow-end")

    async def stopper(event: Event) -> bool:
        return event.content == "stop"

    disp.on(MESSAGE, slow)
    disp.on(MESSAGE, stopper)
    disp.on(MESSAGE, lambda e: seen.append("sync"))
    first = disp.dispatch(msg("go"))
    assert seen == ["slow-start"]
    clock.advance(1.0)
    assert await first is False
    assert seen == ["slow-start", "slow-end", "sync"]

    seen.clear()
    second = disp.dispatch(msg("stop"))
    clock.advance(1.0)
    assert await second is True
    assert seen == ["slow-start", "slow-end"]


def test_sync_exception_logged_error_event_and_others_run(disp: Dispatcher, logs: Captured) -> None:
    seen: list[str] = []
    errors: list[Event] = []

    def boom(event: Event) -> None:
        raise RuntimeError("kaput")

    disp.on(MESSAGE, boom)
    disp.on(MESSAGE, lambda e: seen.append("after"))
    disp.on(ERROR, errors.append)
    original = msg()
    d = disp.dispatch(original)
    assert d.called
    assert d.result is False
    assert seen == ["after"]
    assert len(errors) == 1
    error = errors[0]
    assert error.platform_data.check(RuntimeError)
    assert error.extra["event"] is original
    assert "boom" in error.extra["handler"]
    failures = [e for e in logs.events if "log_failure" in e]
    assert len(failures) == 1
    assert failures[0]["event_name"] == MESSAGE
    assert failures[0]["event"] is original


@pytest_twisted.ensureDeferred
async def test_async_exception_becomes_error_event(disp: Dispatcher) -> None:
    errors: list[Event] = []
    seen: list[str] = []

    async def broken(event: Event) -> None:
        raise ValueError("async kaput")

    disp.on(MESSAGE, broken)
    disp.on(MESSAGE, lambda e: seen.append("after"))
    disp.on(ERROR, errors.append)
    assert await disp.dispatch(msg()) is False
    assert seen == ["after"]
    assert [e.platform_data.check(ValueError) for e in errors] == [ValueError]


def test_error_in_error_handler_is_only_logged(disp: Dispatcher, logs: Captured) -> None:
    calls: list[str] = []

    def bad_error_handler(event: Event) -> None:
        calls.append(event.name)
        raise RuntimeError("error handler broken")

    disp.on(MESSAGE, lambda e: 1 / 0)
    disp.on(ERROR, bad_error_handler)
    disp.on(WILDCARD, lambda e: None)
    disp.dispatch(msg())
    assert calls == [ERROR]  # called once, not re-dispatched
    assert len([e for e in logs.events if "log_failure" in e]) == 2


def test_wildcard_failing_everywhere_does_not_recurse(disp: Dispatcher, logs: Captured) -> None:
    calls: list[str] = []

    def everything(event: Event) -> None:
        calls.append(event.name)
        raise RuntimeError("no")

    disp.on(WILDCARD, everything)
    disp.dispatch(msg())
    assert calls == [MESSAGE, ERROR]


def test_off_and_decorator(disp: Dispatcher) -> None:
    seen: list[str] = []

    @disp.on(MESSAGE)
    def handler(event: Event) -> None:
        seen.append("h")

    disp.on(WILDCARD, handler)
    disp.dispatch(msg())
    assert seen == ["h", "h"]
    disp.off(MESSAGE, handler)
    disp.off(MESSAGE, handler)  # already gone: no error
    disp.dispatch(msg())
    assert seen == ["h", "h", "h"]
    disp.off(WILDCARD, handler)
    disp.dispatch(msg())
    assert seen == ["h", "h", "h"]
    assert disp.handlers(MESSAGE) == ()


def test_no_handlers_fires_false(disp: Dispatcher) -> None:
    d = disp.dispatch(Event("nobody-listens"))
    assert d.called
    assert d.result is False


def test_handler_added_during_dispatch_waits_for_next_event(disp: Dispatcher) -> None:
    seen: list[str] = []

    def adder(event: Event) -> None:
        seen.append("adder")
        disp.on(MESSAGE, lambda e: seen.append("late"))

    disp.on(MESSAGE, adder)
    disp.dispatch(msg())
    assert seen == ["adder"]
    disp.off(MESSAGE, adder)
    disp.dispatch(msg())
    assert seen == ["adder", "late"]


def test_sync_path_is_cheap(disp: Dispatcher, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten synchronous handlers: no Deferred per handler (one per dispatch)."""
    made: list[int] = []
    original = Deferred.__init__

    def counting(self: Deferred[object], *args: Any, **kwargs: Any) -> None:
        made.append(1)
        original(self, *args, **kwargs)

    for _ in range(10):
        disp.on(MESSAGE, lambda e: None)
    monkeypatch.setattr(Deferred, "__init__", counting)
    disp.dispatch(msg())
    monkeypatch.undo()
    assert len(made) == 1


def test_run_makes_no_deferred_for_synchronous_handlers(
    disp: Dispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``run`` (the Bot's path) answers with a plain bool while every handler is synchronous."""
    made: list[int] = []
    original = Deferred.__init__

    def counting(self: Deferred[object], *args: Any, **kwargs: Any) -> None:
        made.append(1)
        original(self, *args, **kwargs)

    seen: list[str] = []
    disp.on(MESSAGE, lambda e: seen.append("a"))
    disp.on(WILDCARD, lambda e: seen.append("b"))
    monkeypatch.setattr(Deferred, "__init__", counting)
    assert disp.run(msg()) is False
    assert disp.run(Event("nobody-listens")) is False
    disp.on(MESSAGE, lambda e: True)
    disp.on(MESSAGE, lambda e: seen.append("never"))
    assert disp.run(msg()) is True
    monkeypatch.undo()
    assert made == []
    assert seen == ["a", "b", "b", "a", "b"]


def test_run_returns_a_deferred_once_a_handler_does(disp: Dispatcher) -> None:
    gate: Deferred[None] = Deferred()
    seen: list[str] = []
    disp.on(MESSAGE, lambda e: seen.append("first"))
    disp.on(MESSAGE, lambda e: gate)
    disp.on(MESSAGE, lambda e: seen.append("last"))
    result = disp.run(msg())
    assert isinstance(result, Deferred)
    assert not result.called
    assert seen == ["first"]
    gate.callback(None)
    assert seen == ["first", "last"]
    assert result.called
    assert result.result is False


def test_handler_removed_during_dispatch_still_runs_for_that_event(disp: Dispatcher) -> None:
    """A dispatch runs the handlers registered when it began, even across a wait."""
    seen: list[str] = []

    def later(event: Event) -> None:
        seen.append("later")

    def remover(event: Event) -> None:
        seen.append("remover")
        disp.off(MESSAGE, later)

    disp.on(MESSAGE, remover)
    disp.on(MESSAGE, later)
    disp.run(msg())
    assert seen == ["remover", "later"]
    disp.run(msg())
    assert seen == ["remover", "later", "remover"]


def test_registration_during_a_wait_applies_to_the_next_event(disp: Dispatcher) -> None:
    gate: Deferred[None] = Deferred()
    seen: list[str] = []

    def last(event: Event) -> None:
        seen.append("last")

    disp.on(MESSAGE, lambda e: gate if not gate.called else None)
    disp.on(MESSAGE, last)
    pending = disp.run(msg())
    disp.off(MESSAGE, last)
    disp.on(WILDCARD, lambda e: seen.append("new"))
    gate.callback(None)
    assert isinstance(pending, Deferred)
    assert pending.called
    assert seen == ["last"]  # the waiting dispatch went on with the handlers it began with
    assert disp.run(msg()) is False
    assert seen == ["last", "new"]
