"""Channel watches and readiness: stopped-for-good channels in STATUS=, and the give-up call."""

from __future__ import annotations

from twisted.internet.task import Clock

from rosey import events
from rosey.daemon.systemd import SystemdNotifier
from rosey.daemon.watch import ChannelWatch, Readiness
from rosey.errors import NoSuchChannel
from rosey.events import Event

ADVICE = 'no channel #two on https://s (Channel "two" does not exist.): check the channel name'


def stopped_event(advice: str = ADVICE) -> Event:
    return Event(events.ERROR, NoSuchChannel("x"), content=advice, extra={"fatal": True})


def test_a_fatal_error_stops_the_watch_for_good_with_the_reason() -> None:
    watch = ChannelWatch("s/two", Clock())
    watch(Event(events.CONNECT_FAILED, {"error": "refused"}))
    assert watch.state == "retrying (refused)"
    assert not watch.stopped
    watch(stopped_event())
    # the session closing after the stop is not a retry
    watch(Event(events.DISCONNECTED, {"reason": "Kicked: banned"}))
    assert watch.stopped
    assert watch.stopped_because == ADVICE
    assert watch.state == f"stopped ({ADVICE})"


def test_status_names_the_stopped_channel_and_why_while_others_run() -> None:
    clock = Clock()
    one, two = ChannelWatch("s/one", clock), ChannelWatch("s/two", clock)
    gave_up: list[list[ChannelWatch]] = []
    readiness = Readiness(
        [one, two], SystemdNotifier(clock, {}), clock, on_all_stopped=gave_up.append
    )
    readiness.start()
    one(Event(events.READY, {"rank": 3}))
    two(stopped_event())
    assert readiness.is_ready
    assert readiness.summary() == (
        f"1/2 channels joined, 1 stopped for good; s/one: joined, s/two: stopped ({ADVICE})"
    )
    assert gave_up == []  # one channel still runs: no exit


def test_give_up_is_called_once_when_every_channel_has_stopped() -> None:
    clock = Clock()
    one, two = ChannelWatch("s/one", clock), ChannelWatch("s/two", clock)
    gave_up: list[list[str]] = []
    readiness = Readiness(
        [one, two],
        SystemdNotifier(clock, {}),
        clock,
        on_all_stopped=lambda ws: gave_up.append([w.label for w in ws]),
    )
    readiness.start()
    one(Event(events.READY, {"rank": 3}))
    one(stopped_event("kicked ('Duplicate login')"))
    assert gave_up == []
    two(stopped_event())
    assert gave_up == [["s/one", "s/two"]]
    two(stopped_event())
    assert gave_up == [["s/one", "s/two"]]


def test_a_ban_kick_leaves_the_watch_stopped_after_the_session_closes() -> None:
    """The connection's own order: KICKED, the fatal ERROR, then DISCONNECTED when the socket
    closes; the watch must end "stopped", not "retrying"."""
    from tests.wire.test_connection import Harness

    h = Harness()
    watch = ChannelWatch("site.example/labchan", h.clock)
    h.conn.subscribe(watch)
    h.join()
    assert watch.state == "joined"
    h.server("kick", {"reason": "You're banned!"})
    h.driver.lost("websocket closed (code 1000)")
    assert h.events[-1].name == events.DISCONNECTED
    assert watch.stopped
    assert not watch.joined
    assert watch.state.startswith("stopped (kicked (\"You're banned!\"): 'labbot' is banned")


def test_readiness_reports_each_join_then_ready_once() -> None:
    clock = Clock()
    one, two = ChannelWatch("a/one", clock), ChannelWatch("a/two", clock)
    joined: list[str] = []
    ready: list[bool] = []
    readiness = Readiness(
        [one, two],
        SystemdNotifier(clock, {}),
        clock,
        on_joined=lambda w: joined.append(w.label),
        on_ready=lambda: ready.append(True),
    )
    readiness.start()
    one(Event(events.READY, {"rank": 3}))
    assert joined == ["a/one"]
    assert ready == []
    two(Event(events.READY, {"rank": 3}))
    assert joined == ["a/one", "a/two"]
    assert ready == [True]
    one(Event(events.DISCONNECTED, {"reason": "gone"}))
    one(Event(events.READY, {"rank": 3}))
    assert joined == ["a/one", "a/two", "a/one"]
    assert ready == [True]
