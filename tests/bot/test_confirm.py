"""Confirmations: expectations settled by later events, timeouts, disconnects, cancellation."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet import task
from twisted.internet.defer import CancelledError, Deferred
from twisted.logger import LogEvent, capturedLogs, formatEvent
from twisted.python.failure import Failure

from rosey import events
from rosey.bot.confirm import Confirmations
from rosey.errors import AckTimeout, ChannelError, ConnectionClosed
from rosey.events import Event


def outcome(d: Deferred[Any]) -> Any:
    """The result (or Failure) ``d`` has already fired with; fails the test if it has not."""
    seen: list[Any] = []
    d.addBoth(seen.append)
    assert seen, "the Deferred has not fired"
    return seen[0]


def uid_of_delete(event: Event) -> int | None:
    data = event.platform_data
    return data["uid"] if event.name == "delete" and isinstance(data, dict) else None


def queue_fail(event: Event) -> Exception | None:
    return ChannelError(event.platform_data["msg"]) if event.name == "queueFail" else None


@pytest.fixture
def clock() -> task.Clock:
    return task.Clock()


@pytest.fixture
def confirm(clock: task.Clock) -> Confirmations:
    return Confirmations(clock)


def test_resolves_with_the_match_value_of_a_later_event(confirm: Confirmations) -> None:
    d = confirm.expect(uid_of_delete, description="delete")
    confirm.feed(Event("setPlaylistMeta", {"count": 1, "rawTime": 8, "time": "00:08"}))
    assert not d.called
    confirm.feed(Event("delete", {"uid": 2}))
    assert outcome(d) == 2
    assert confirm.pending == 0


def test_a_falsy_value_other_than_none_resolves(confirm: Confirmations) -> None:
    d = confirm.expect(lambda e: e.platform_data if e.name == "setPlaylistLocked" else None)
    confirm.feed(Event("setPlaylistLocked", False))
    assert outcome(d) is False


def test_fail_matcher_fails_with_its_exception(confirm: Confirmations) -> None:
    d = confirm.expect(uid_of_delete, fail=queue_fail)
    confirm.feed(Event("queueFail", {"msg": "This item is already on the playlist", "id": "x"}))
    failure = outcome(d)
    assert isinstance(failure, Failure)
    assert failure.check(ChannelError)
    assert str(failure.value) == "This item is already on the playlist"
    assert confirm.pending == 0


def test_times_out_naming_the_description(confirm: Confirmations, clock: task.Clock) -> None:
    d = confirm.expect(uid_of_delete, timeout=10.0, description="delete of uid 2")
    clock.advance(9.9)
    assert not d.called
    clock.advance(0.2)
    failure = outcome(d)
    assert isinstance(failure, Failure)
    assert failure.check(AckTimeout)
    assert "delete of uid 2" in str(failure.value)
    assert "10 s" in str(failure.value)
    assert confirm.pending == 0
    confirm.feed(Event("delete", {"uid": 2}))  # too late: nothing left to settle


def test_confirmation_cancels_the_timer(confirm: Confirmations, clock: task.Clock) -> None:
    d = confirm.expect(uid_of_delete, timeout=5.0)
    confirm.feed(Event("delete", {"uid": 1}))
    assert outcome(d) == 1
    assert clock.getDelayedCalls() == []


def test_no_timer_until_started(confirm: Confirmations, clock: task.Clock) -> None:
    d = confirm.expect(uid_of_delete, timeout=None, description="kick")
    clock.advance(3600)
    assert not d.called
    confirm.start_timer(d, 10.0)
    confirm.start_timer(d, 1.0)  # a second start does not shorten the first
    clock.advance(9)
    assert not d.called
    clock.advance(1)
    assert outcome(d).check(AckTimeout)


def test_start_timer_and_reject_ignore_settled_expectations(
    confirm: Confirmations, clock: task.Clock
) -> None:
    d = confirm.expect(uid_of_delete, timeout=None)
    confirm.feed(Event("delete", {"uid": 7}))
    confirm.start_timer(d, 1.0)
    confirm.reject(d, ChannelError("late"))
    assert clock.getDelayedCalls() == []
    assert outcome(d) == 7


def test_reject_fails_a_pending_expectation(confirm: Confirmations, clock: task.Clock) -> None:
    d = confirm.expect(uid_of_delete, timeout=10.0)
    confirm.reject(d, ChannelError("could not send"))
    assert outcome(d).check(ChannelError)
    assert confirm.pending == 0
    assert clock.getDelayedCalls() == []


@pytest.mark.parametrize(
    ("event", "words"),
    [
        (Event(events.DISCONNECTED, {"reason": "connection lost"}), "connection lost"),
        (Event(events.KICKED, {"reason": "Duplicate login"}), "kicked: Duplicate login"),
    ],
)
def test_session_end_fails_every_pending(
    confirm: Confirmations, clock: task.Clock, event: Event, words: str
) -> None:
    waiting = [confirm.expect(uid_of_delete), confirm.expect(uid_of_delete, timeout=None)]
    confirm.feed(event)
    for d in waiting:
        failure = outcome(d)
        assert failure.check(ConnectionClosed)
        assert words in str(failure.value)
    assert confirm.pending == 0
    assert clock.getDelayedCalls() == []


def test_one_event_settles_every_expectation_it_matches(confirm: Confirmations) -> None:
    first = confirm.expect(uid_of_delete)
    second = confirm.expect(uid_of_delete)
    other = confirm.expect(lambda e: True if e.name == "setTemp" else None)
    confirm.feed(Event("delete", {"uid": 3}))
    assert outcome(first) == 3
    assert outcome(second) == 3
    assert not other.called
    assert confirm.pending == 1


def test_expectation_made_by_a_callback_waits_for_the_next_event(
    confirm: Confirmations,
) -> None:
    later: list[Deferred[Any]] = []
    d = confirm.expect(uid_of_delete)
    d.addCallback(lambda uid: later.append(confirm.expect(uid_of_delete)))
    confirm.feed(Event("delete", {"uid": 1}))
    assert len(later) == 1
    assert not later[0].called
    confirm.feed(Event("delete", {"uid": 2}))
    assert outcome(later[0]) == 2


def test_replayed_chat_never_confirms(confirm: Confirmations) -> None:
    d = confirm.expect(lambda e: True if e.name == events.MESSAGE else None)
    confirm.feed(Event(events.MESSAGE, {}, user="[server]", content="x", replayed=True))
    assert not d.called
    confirm.feed(Event(events.MESSAGE, {}, user="[server]", content="x"))
    assert outcome(d) is True


def test_cancel_forgets_the_expectation(confirm: Confirmations, clock: task.Clock) -> None:
    d = confirm.expect(uid_of_delete, timeout=10.0)
    d.cancel()
    assert outcome(d).check(CancelledError)
    assert confirm.pending == 0
    assert clock.getDelayedCalls() == []
    confirm.feed(Event("delete", {"uid": 2}))


def test_a_broken_matcher_is_logged_and_others_still_settle(confirm: Confirmations) -> None:
    def broken(event: Event) -> int | None:
        return event.platform_data["no such key"]

    bad = confirm.expect(broken, description="broken")
    good = confirm.expect(uid_of_delete)
    with capturedLogs() as logged:
        confirm.feed(Event("delete", {"uid": 4}))
    assert outcome(good) == 4
    assert not bad.called
    failures = [e for e in logged if "log_failure" in e]
    assert len(failures) == 1
    assert _text(failures[0]).startswith("Confirmation matcher for broken failed")


def test_feed_with_nothing_pending_does_nothing(confirm: Confirmations) -> None:
    confirm.feed(Event(events.DISCONNECTED, {"reason": "x"}))
    confirm.feed(Event("delete", {"uid": 1}))
    assert confirm.pending == 0


def _text(event: LogEvent) -> str:
    return formatEvent(event)
