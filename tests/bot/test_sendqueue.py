"""SendQueue against a simulated CyTube chat module (exact limiter port, latency, jitter)."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import task
from twisted.internet.defer import Deferred
from twisted.logger import LogEvent, capturedLogs
from twisted.python.failure import Failure

from rosey import events
from rosey.bot.ratelimit import (
    CHAT_FLOOD,
    CytubeRateLimiter,
    FloodModel,
    RateParams,
    chat_params,
    queue_params,
)
from rosey.bot.sendqueue import (
    CommandRejected,
    Muted,
    PMFailed,
    QueueFull,
    SendQueue,
    SpamFiltered,
    split_message,
    utf16_len,
)
from rosey.errors import AckTimeout, ChannelPermissionError, ConnectionClosed
from rosey.events import Event
from rosey.wire.fake import FakeConnection

ME = "rosey"


class LabConnection(FakeConnection):
    """FakeConnection whose emits reach a simulated server after some latency."""

    def __init__(self, lab: Lab) -> None:
        super().__init__(username=ME)
        self.lab = lab

    def emit(self, event: str, data: Any = None) -> None:
        super().emit(event, data)
        self.lab.on_emit(event, data)

    def lose(self, reason: str = "connection lost") -> None:
        self.lab.epoch += 1  # frames still on their way are lost with the connection
        super().lose(reason)


class Lab:
    """The parts of CyTube's chat.js/playlist.js the queue deals with.

    Each emit arrives ``latency`` (+ up to ``jitter``) later, in order; the server answers at once
    and the answer takes ``latency`` back.
    """

    def __init__(
        self,
        *,
        own_rank: float = 3.0,
        antiflood: RateParams | None = None,
        latency: float = 0.005,
        jitter: float = 0.0,
        seed: int = 0,
        clock: task.Clock | None = None,
        **queue_options: Any,
    ) -> None:
        self.clock = clock or task.Clock()
        self.clock.advance(1_700_000_000)  # a realistic epoch: ms floors like Date.now()
        self.rank = own_rank
        self.antiflood = antiflood
        self.latency = latency
        self.jitter = jitter
        self.rng = random.Random(seed)
        self.chat_limiter = CytubeRateLimiter()
        self.queue_limiter = CytubeRateLimiter()
        self.muted = False
        self.absent: set[str] = set()
        self.silent_reply: dict[str, Any] = {}  # command -> ("noflood"|"errorMsg", payload)
        self.deaf = False  # drop everything (no answer at all)
        self.arrivals: list[tuple[float, str, Any]] = []
        self.throttled: list[Any] = []
        self.echoed: list[str] = []
        self.queued: list[Any] = []
        self._last_arrival = -math.inf
        self.epoch = 0
        self.conn = LabConnection(self)
        self.remembered: list[str] = []
        self.queue = SendQueue(
            self.conn,
            self.clock,
            own_rank=lambda: self.rank,
            antiflood=lambda: self.antiflood,
            remember=self.remembered.append,
            **queue_options,
        )

    def start(self, ready: bool = True) -> Lab:
        if ready:
            self.conn.make_ready()
        self.queue.startService()
        return self

    # -- the simulated server ------------------------------------------------------------------

    def on_emit(self, event: str, data: Any) -> None:
        now = self.clock.seconds()
        at = max(self._last_arrival, now + self.latency + self.rng.random() * self.jitter)
        self._last_arrival = at
        self.clock.callLater(at - now, self._arrive, event, data, self.epoch)

    def _answer(self, event: Event) -> None:
        self.clock.callLater(self.latency, self._deliver, event)

    def _deliver(self, event: Event) -> None:
        if self.conn.connected:
            self.conn.feed(event)

    def _arrive(self, event: str, data: Any, epoch: int, at: float | None = None) -> None:
        if epoch != self.epoch:
            return
        at = self.clock.seconds() if at is None else at
        now_ms = math.floor(at * 1000)
        self.arrivals.append((at, event, data))
        if self.deaf:
            return
        if event == "chatMsg":
            self._chat(now_ms, data["msg"])
        elif event == "pm":
            self._pm(now_ms, data["to"], data["msg"])
        elif event == "queue":
            if self.queue_limiter.throttle(now_ms, queue_params(self.rank)):
                self.throttled.append(data)
            else:
                self.queued.append(data)

    def _chat(self, now_ms: int, msg: str) -> None:
        if self.chat_limiter.throttle(now_ms, chat_params(self.rank, self.antiflood)):
            self.throttled.append(msg)
            self._answer(Event("cooldown", 100))
            return
        if msg.startswith("/"):
            cmd = msg[1:].split(" ", 1)[0]
            if cmd == "me":
                msg = msg[4:]
            elif cmd in ("kick", "rank", "afk"):
                reply = self.silent_reply.get(cmd)
                if reply:
                    self._answer(Event(reply[0], reply[1]))
                return
        if self.muted:
            self._answer(Event("noflood", {"action": "chat", "msg": "You have been muted."}))
            return
        self.echoed.append(msg)
        html = msg.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        payload = {"username": ME, "msg": html, "meta": {}, "time": now_ms}
        self._answer(Event(events.MESSAGE, payload, user=ME, content=msg, timestamp=now_ms / 1000))

    def _pm(self, now_ms: int, to: str, msg: str) -> None:
        if self.chat_limiter.throttle(now_ms, CHAT_FLOOD):
            self.throttled.append(msg)
            self._answer(Event("cooldown", 100))
        elif to.lower() in self.absent:
            error = {"msg": f"PM failed: {to.lower()} isn't connected to this channel."}
            self._answer(Event("errorMsg", error))
        else:
            self.echoed.append(msg)
            payload = {"username": ME, "msg": msg, "meta": {}, "time": now_ms, "to": to}
            self._answer(
                Event(
                    events.PM,
                    payload,
                    user=ME,
                    content=msg,
                    timestamp=now_ms / 1000,
                    extra={"to": to},
                )
            )

    # -- driving time --------------------------------------------------------------------------

    def run_until_idle(self, limit: float = 3600.0) -> None:
        """Advance to each scheduled call exactly, until nothing is scheduled."""
        end = self.clock.seconds() + limit
        while self.clock.getDelayedCalls():
            nxt = min(c.getTime() for c in self.clock.getDelayedCalls())
            assert nxt <= end, "the queue did not finish in time"
            self.clock.advance(max(0.0, nxt - self.clock.seconds()))

    def sent(self, event: str = "chatMsg") -> list[Any]:
        return [data for name, data in self.conn.sent if name == event]


class Reactor(task.Clock):
    """A task.Clock whose timed calls run as in Twisted's reactor loop (``runUntilCurrent``):
    a turn runs the calls that were due when it began; calls made meanwhile, a
    ``callLater(0)`` included, wait for the next turn."""

    def run_due(self) -> None:
        now = self.seconds()
        for call in [c for c in self.calls if c.getTime() <= now]:
            if call.cancelled or call.called:  # cancelled by an earlier call of this turn
                continue
            self.calls.remove(call)
            call.called = 1
            call.func(*call.args, **call.kw)


class ReactorLab(Lab):
    """The Lab on a reactor loop that runs late, as a busy bot's does.

    Each turn runs the due timed calls, then an I/O pass: the answers that have arrived are
    read (and ``requests`` due, standing for a read on another socket such as the manhole's),
    the pass stalls for up to ``stall`` seconds with probability ``stall_rate`` (a long
    handler), and only then are the bytes written *before* the pass flushed, as Twisted's
    ``doWrite`` does: what the pass itself wrote leaves in the next one. When idle the loop
    sleeps until the next timed call or answer and wakes up to ``late`` seconds after it.
    The server sees each frame ``latency`` (+ up to ``jitter``) after it left.
    """

    def __init__(self, *, stall: float, stall_rate: float, late: float, **kwargs: Any) -> None:
        self.reactor = Reactor()
        super().__init__(clock=self.reactor, **kwargs)
        self.stall = stall
        self.stall_rate = stall_rate
        self.late = late
        self.written: list[tuple[int | None, str, Any]] = []  # (I/O pass it was written in, …)
        self.inbox: list[tuple[float, Event]] = []  # answers on their way back, in order
        self.requests: list[tuple[float, Any]] = []  # (due, function) run by an I/O pass
        self.io_pass: int | None = None
        self.passes = 0
        self.departures: list[float] = []  # when each chatMsg left the bot's machine
        self._server_now = 0.0

    def on_emit(self, event: str, data: Any) -> None:
        self.written.append((self.io_pass, event, data))

    def _answer(self, event: Event) -> None:
        self.inbox.append((self._server_now + self.latency, event))

    def run(self, limit: float = 7200.0) -> None:
        clock = self.reactor
        end = clock.seconds() + limit
        while clock.calls or self.written or self.inbox or self.requests:
            assert clock.seconds() < end, "the queue did not finish in time"
            clock.run_due()
            now = clock.seconds()
            if not self.written and not self._due(now):
                wake = min(
                    [c.getTime() for c in clock.calls]
                    + [t for t, _ in self.inbox[:1]]
                    + [t for t, _ in self.requests[:1]]
                )
                clock.rightNow = max(now, wake + self.rng.random() * self.late)
            self._io_pass()

    def _due(self, now: float) -> bool:
        return any(c.getTime() <= now for c in self.reactor.calls) or any(
            t <= now for t, _ in self.inbox[:1] + self.requests[:1]
        )

    def _io_pass(self) -> None:
        clock = self.reactor
        self.io_pass = self.passes = self.passes + 1
        now = clock.seconds()
        while self.requests and self.requests[0][0] <= now:
            self.requests.pop(0)[1]()
        while self.inbox and self.inbox[0][0] <= now:
            self._deliver(self.inbox.pop(0)[1])
        if self.rng.random() < self.stall_rate:
            clock.rightNow += self.rng.random() * self.stall
        leaving = [w for w in self.written if w[0] != self.io_pass]
        self.written = [w for w in self.written if w[0] == self.io_pass]
        self.io_pass = None
        for _, event, data in leaving:
            now = clock.seconds()
            if event == "chatMsg":
                self.departures.append(now)
            at = max(self._last_arrival, now + self.latency + self.rng.random() * self.jitter)
            self._last_arrival = self._server_now = at
            self._arrive(event, data, self.epoch, at)


def outcome(d: Deferred[Any]) -> Any:
    """The result of a fired Deferred (a Failure when it failed); consumes failures."""
    box: list[Any] = []
    d.addBoth(box.append)
    assert box, "Deferred has not fired"
    return box[0]


@pytest.fixture
def logged() -> Iterator[Sequence[LogEvent]]:
    with capturedLogs() as seen:
        yield seen


# -- pacing ---------------------------------------------------------------------------------------


def test_thousand_messages_at_once_all_delivered_in_order() -> None:
    lab = Lab(jitter=0.02).start()
    texts = [f"line {i}" for i in range(1000)]
    done = [lab.queue.say(t) for t in texts]
    lab.run_until_idle()
    assert lab.throttled == []
    assert lab.echoed == texts  # in order, none lost, none doubled
    assert [outcome(d) for d in done] == [None] * 1000
    assert lab.queue.pending == 0
    assert lab.queue.in_flight == 0
    # Paced at the model's rate, not slower: 20 at once, then one per 100 ms + margin.
    first, last = lab.arrivals[0][0], lab.arrivals[-1][0]
    assert last - first == pytest.approx(980 * 0.125, abs=0.05)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_thousand_lines_on_a_late_reactor_are_never_throttled(seed: int) -> None:
    """The 1,000-line manhole flood, on a reactor whose turns run late and whose writes leave
    only when a later I/O pass flushes them: CyTube's exact limiter never refuses a line."""
    lab = ReactorLab(stall=0.25, stall_rate=0.2, late=0.03, latency=0.002, jitter=0.024, seed=seed)
    lab.start()
    texts = [f"flood line {i:04d}" for i in range(1000)]
    done: list[Deferred[None]] = []

    def manhole() -> None:  # said from a read, and that pass then stalls before any flush
        done.extend(lab.queue.say(t) for t in texts)
        lab.reactor.rightNow += 0.2

    lab.requests.append((lab.clock.seconds(), manhole))
    lab.run()
    assert lab.throttled == []
    assert lab.echoed == texts
    assert [outcome(d) for d in done] == [None] * 1000
    assert lab.queue.pending == 0
    assert lab.queue.in_flight == 0
    # The reactor really was late: many lines left well after the model first allowed them.
    late_gaps = [b - a for a, b in zip(lab.departures[19:], lab.departures[20:], strict=False)]
    assert max(late_gaps) > 0.3
    assert len(lab.departures) == 1000


def test_the_model_paces_from_departure_not_decision() -> None:
    model = FloodModel(margin=0.025)
    for _ in range(20):
        model.record(100.0, CHAT_FLOOD)
    assert model.leaving
    # Gone or not, the burst is spent: no sustained send until the model hears when it left.
    assert model.delay(100.5, CHAT_FLOOD) > 0
    model.left(100.3)  # the burst left 300 ms after it was written
    assert model.delay(100.3, CHAT_FLOOD) == pytest.approx(0.125, abs=1e-5)
    assert model.delay(100.425 + 1e-5, CHAT_FLOOD) == 0.0
    model.record(100.5, CHAT_FLOOD)
    # While the line is leaving, its silence does not count towards a reset either.
    assert model.delay(110.0, CHAT_FLOOD) > 0
    model.left(110.0)
    assert model.delay(112.03, CHAT_FLOOD) == 0.0  # reset after 2 s + margin of silence


def test_antiflood_params_below_rank_two() -> None:
    lab = Lab(own_rank=1, antiflood=RateParams(4, 1, 4), jitter=0.02).start()
    done = [lab.queue.say(f"m{i}") for i in range(12)]
    lab.run_until_idle()
    assert lab.throttled == []
    assert len(lab.echoed) == 12
    assert all(outcome(d) is None for d in done)
    assert lab.arrivals[-1][0] - lab.arrivals[0][0] >= 8 * 1.0  # 4 at once, then 1/s


def test_pms_share_the_chat_limiter() -> None:
    lab = Lab(jitter=0.01).start()
    done = []
    for i in range(30):
        done.append(lab.queue.say(f"c{i}") if i % 2 else lab.queue.pm("alice", f"p{i}"))
    lab.run_until_idle()
    assert lab.throttled == []
    assert lab.echoed == [f"c{i}" if i % 2 else f"p{i}" for i in range(30)]
    assert all(outcome(d) is None for d in done)


def test_queue_adds_use_the_queue_limiter() -> None:
    lab = Lab(own_rank=1).start()
    done = [lab.queue.queue_add({"id": f"v{i}", "type": "yt", "pos": "end"}) for i in range(8)]
    lab.queue.say("chat is not held up by queue adds")
    lab.run_until_idle()
    assert lab.throttled == []
    assert len(lab.queued) == 8
    assert lab.echoed == ["chat is not held up by queue adds"]
    assert all(outcome(d) is None for d in done)
    times = [t for t, name, _ in lab.arrivals if name == "queue"]
    assert times[7] - times[0] >= 5 * 1.0  # burst 3, then one per second


@settings(max_examples=40, deadline=None)
@given(
    gaps=st.lists(st.floats(0, 3), min_size=1, max_size=60),
    kinds=st.lists(st.sampled_from(["chat", "pm"]), min_size=60, max_size=60),
    seed=st.integers(0, 2**32),
)
def test_random_traffic_is_never_throttled(gaps: list[float], kinds: list[str], seed: int) -> None:
    """Chat under antiflood 4/1/4 and PMs under 20/10 on the one shared limiter, jittered."""
    lab = Lab(own_rank=1, antiflood=RateParams(4, 1, 4), jitter=0.024, seed=seed).start()
    expected = []
    at = lab.clock.seconds()
    for i, gap in enumerate(gaps):
        at += gap
        lab.clock.callLater(at - lab.clock.seconds(), _request, lab, kinds[i], f"x{i}")
        expected.append(f"x{i}")
    lab.run_until_idle()
    assert lab.throttled == []
    assert lab.echoed == expected


def _request(lab: Lab, kind: str, text: str) -> None:
    if kind == "pm":
        lab.queue.pm("bob", text)
    else:
        lab.queue.say(text)


# -- server answers -------------------------------------------------------------------------------


def test_cooldown_resends_the_line(logged: Sequence[LogEvent]) -> None:
    lab = Lab().start()
    lab.chat_limiter.count = 20  # someone else spent the burst on this account a moment ago
    lab.chat_limiter.last_time = math.floor(lab.clock.seconds() * 1000)
    d1, d2 = lab.queue.say("one"), lab.queue.say("two")
    lab.run_until_idle()
    assert lab.throttled == ["one", "two"]  # both were in flight when the first cooldown came
    assert lab.echoed == ["one", "two"]
    assert [m["msg"] for m in lab.sent()] == ["one", "two", "one", "two"]
    assert outcome(d1) is None
    assert outcome(d2) is None
    assert any("re-sending" in (e.get("log_format") or "") for e in logged)


def test_noflood_when_muted_fails_with_muted() -> None:
    lab = Lab().start()
    lab.muted = True
    d = lab.queue.say("hello?")
    lab.run_until_idle()
    failure = outcome(d)
    assert isinstance(failure, Failure)
    assert failure.check(Muted)
    assert "muted" in failure.getErrorMessage()


def test_spam_filtered() -> None:
    lab = Lab().start()
    d = lab.queue.say("hi")
    lab.deaf = True
    lab.clock.advance(0.001)
    lab.queue.handle_event(Event("spamFiltered", {"reason": "NEW_USER_CHAT"}))
    failure = outcome(d)
    assert failure.check(SpamFiltered)
    assert "NEW_USER_CHAT" in failure.getErrorMessage()


def test_no_echo_times_out() -> None:
    lab = Lab(ack_timeout=5.0).start()
    lab.deaf = True
    d = lab.queue.say("anyone?")
    lab.run_until_idle()
    assert outcome(d).check(AckTimeout)
    assert lab.queue.in_flight == 0


def test_echo_matches_by_text_before_fifo() -> None:
    lab = Lab().start()
    lab.deaf = True
    d1, d2 = lab.queue.say("first"), lab.queue.say("second")
    lab.clock.advance(0.001)
    lab.queue.handle_event(Event(events.MESSAGE, None, user="ROSEY", content="second"))
    assert not d1.called
    assert outcome(d2) is None
    lab.queue.handle_event(
        Event(events.MESSAGE, None, user=ME, content="first, as the filters saw it")
    )
    assert outcome(d1) is None


def test_answers_to_nothing_sent_are_logged_once_per_kind_and_session(
    logged: Sequence[LogEvent],
) -> None:
    """Another client on the bot's account draws an echo, cooldown or refusal per line: the
    first of each kind per session is logged, the rest are not (and change nothing)."""
    lab = Lab().start()

    def strays(word: str) -> list[LogEvent]:
        return [e for e in logged if word in (e.get("log_format") or "")]

    for _ in range(3):
        lab.queue.handle_event(Event(events.MESSAGE, None, user=ME, content="from my other tab"))
        lab.queue.handle_event(Event("cooldown", 100))
        lab.queue.handle_event(Event("noflood", {"action": "chat", "msg": "muted"}))
    assert [len(strays(w)) for w in ("did not send", "did not send (cooldown", "refusal")] == [
        2,  # the echo's and the cooldown's lines both say "did not send"
        1,
        1,
    ]
    assert all("not logged" in (e.get("log_format") or "") for e in strays("did not send"))
    assert lab.queue.in_flight == 0
    assert lab.queue.pending == 0
    lab.queue.handle_event(Event(events.READY))  # a new session logs them again
    lab.queue.handle_event(Event(events.MESSAGE, None, user=ME, content="from my other tab"))
    assert len(strays("did not send")) == 3
    # ... and a line of the queue's own is still confirmed after all that
    lab.deaf = True
    d = lab.queue.say("mine")
    lab.clock.advance(5)
    lab.queue.handle_event(Event(events.MESSAGE, None, user=ME, content="mine"))
    assert outcome(d) is None


def test_replayed_shadow_and_foreign_lines_confirm_nothing() -> None:
    lab = Lab().start()
    lab.deaf = True
    d = lab.queue.say("mine")
    lab.clock.advance(0.001)
    lab.queue.handle_event(Event(events.MESSAGE, None, user=ME, content="mine", replayed=True))
    lab.queue.handle_event(
        Event(events.MESSAGE, None, user=ME, content="mine", extra={"shadow": True})
    )
    lab.queue.handle_event(Event(events.MESSAGE, None, user="alice", content="mine"))
    lab.queue.handle_event(Event(events.PM, None, user=ME, content="mine", extra={"to": "alice"}))
    assert not d.called
    lab.queue.handle_event(Event(events.MESSAGE, None, user=ME, content="mine"))
    assert outcome(d) is None


def test_server_commands_go_alone_and_settle() -> None:
    lab = Lab(settle=1.0).start()
    d_chat = lab.queue.say("before")
    d_kick = lab.queue.say("/kick troll bye")
    d_after = lab.queue.say("after")
    lab.clock.advance(0.0)
    assert [m["msg"] for m in lab.sent()] == ["before"]  # the command waits for the echo
    lab.run_until_idle()
    assert [m["msg"] for m in lab.sent()] == ["before", "/kick troll bye", "after"]
    assert outcome(d_chat) is None
    assert outcome(d_kick) is None
    assert outcome(d_after) is None
    kick_sent = next(t for t, _, d in lab.arrivals if d["msg"].startswith("/kick"))
    after_sent = next(t for t, _, d in lab.arrivals if d["msg"] == "after")
    assert after_sent - kick_sent >= 1.0


def test_refused_server_command() -> None:
    lab = Lab().start()
    lab.silent_reply["rank"] = ("noflood", {"action": "/rank", "msg": "Syntax: /rank <user> <n>"})
    lab.silent_reply["kick"] = ("errorMsg", {"msg": "/kick target bob not present"})
    d_rank = lab.queue.say("/rank labuser")
    d_kick = lab.queue.say("/kick bob")
    lab.run_until_idle()
    rank_failure, kick_failure = outcome(d_rank), outcome(d_kick)
    assert rank_failure.check(CommandRejected)
    assert "Syntax" in rank_failure.getErrorMessage()
    assert kick_failure.check(CommandRejected)
    assert "not present" in kick_failure.getErrorMessage()


def test_me_lines_keep_their_prefix_when_split() -> None:
    lab = Lab().start()
    d = lab.queue.say("/me " + "waves " * 100)
    lab.run_until_idle()
    sent = [m["msg"] for m in lab.sent()]
    assert len(sent) == 2
    assert all(m.startswith("/me waves") for m in sent)
    assert all(utf16_len(m) <= 320 for m in sent)
    assert outcome(d) is None


def test_pm_failures() -> None:
    lab = Lab().start()
    lab.absent.add("ghost")
    d = lab.queue.pm("ghost", "hello")
    lab.run_until_idle()
    assert outcome(d).check(PMFailed)
    assert outcome(lab.queue.pm("not a name", "x")).check(PMFailed)
    assert outcome(lab.queue.pm("Rosey", "me?")).check(PMFailed)
    assert lab.sent("pm") == [{"to": "ghost", "msg": "hello", "meta": {}}]


def test_long_text_is_split_and_confirmed_as_a_whole() -> None:
    lab = Lab().start()
    text = " ".join(f"word{i}" for i in range(200))
    d = lab.queue.say(text)
    lab.run_until_idle()
    sent = [m["msg"] for m in lab.sent()]
    assert len(sent) > 1
    assert " ".join(sent) == text
    assert all(utf16_len(m) <= 320 for m in sent)
    assert outcome(d) is None
    assert lab.remembered[: len(sent)] == sent  # remembered when handed over (and when sent)


def test_anonymous_cannot_chat() -> None:
    lab = Lab(own_rank=-1).start()
    assert outcome(lab.queue.say("hi")).check(ChannelPermissionError)
    assert lab.sent() == []


# -- connection state -----------------------------------------------------------------------------


def test_held_while_not_ready_then_sent_on_ready() -> None:
    lab = Lab().start(ready=False)
    d = lab.queue.say("waiting")
    lab.run_until_idle()
    assert lab.sent() == []
    assert not d.called
    lab.conn.make_ready()
    lab.run_until_idle()
    assert outcome(d) is None
    assert lab.echoed == ["waiting"]


def test_disconnect_fails_in_flight_and_holds_pending() -> None:
    lab = Lab().start()
    lab.deaf = True
    in_flight = [lab.queue.say(f"a{i}") for i in range(25)]  # 20 go at once, 5 wait
    lab.clock.advance(0.0)
    assert len(lab.sent()) == 20
    lab.conn.lose("network down")
    assert all(outcome(d).check(ConnectionClosed) for d in in_flight[:20])
    assert not any(d.called for d in in_flight[20:])
    lab.deaf = False
    lab.clock.advance(30)
    assert len(lab.sent()) == 20  # nothing while disconnected
    lab.conn.make_ready()
    lab.run_until_idle()
    assert lab.echoed == [f"a{i}" for i in range(20, 25)]
    assert all(outcome(d) is None for d in in_flight[20:])


def test_resend_unconfirmed_after_reconnect() -> None:
    lab = Lab(resend_unconfirmed=True).start()
    lab.deaf = True
    d = lab.queue.say("again")
    lab.clock.advance(0.0)
    lab.conn.lose()
    lab.deaf = False
    lab.conn.make_ready()
    lab.run_until_idle()
    assert outcome(d) is None
    assert [m["msg"] for m in lab.sent()] == ["again", "again"]


def test_overflow_fails_the_newest_and_logs(logged: Sequence[LogEvent]) -> None:
    lab = Lab(max_pending=5).start(ready=False)
    kept = [lab.queue.say(f"k{i}") for i in range(5)]
    refused = lab.queue.say("one too many")
    assert outcome(refused).check(QueueFull)
    assert "max_pending 5" in outcome(lab.queue.say("x")).getErrorMessage()
    assert any(e.get("log_level") and "send queue full" in str(e.get("error")) for e in logged)
    lab.conn.make_ready()
    lab.run_until_idle()
    assert all(outcome(d) is None for d in kept)


def test_stop_fails_everything() -> None:
    lab = Lab().start(ready=False)
    d = lab.queue.say("never")
    lab.queue.stopService()
    assert outcome(d).check(ConnectionClosed)


def test_blank_text_sends_nothing() -> None:
    lab = Lab().start()
    assert outcome(lab.queue.say(" \n\t ")) is None
    assert lab.sent() == []


# -- splitting ------------------------------------------------------------------------------------


def test_split_exact_limit_and_one_over() -> None:
    assert split_message("x" * 320) == ["x" * 320]
    assert split_message("x" * 321) == ["x" * 320, "x"]
    assert split_message("ab " * 106 + "ab") == ["ab " * 106 + "ab"]  # 320 exactly


def test_split_at_words() -> None:
    words = ["alpha"] * 100
    parts = split_message(" ".join(words), 50)
    assert all(len(p) <= 50 and not p.startswith(" ") and not p.endswith(" ") for p in parts)
    assert " ".join(parts).split() == words
    assert split_message("aaa bbb", 3) == ["aaa", "bbb"]  # a space right at the cut


def test_split_long_word_hard() -> None:
    parts = split_message("short " + "y" * 700 + " tail")
    assert parts == ["short", "y" * 320, "y" * 320, "y" * 60 + " tail"]


def test_split_html_specials_count_raw() -> None:
    # The server's 320 cut applies before escaping: 320 raw "<&>" characters are one line.
    text = "<&>" * 106 + "<&"
    assert split_message(text) == [text]


def test_split_astral_counts_two_units() -> None:
    emoji = "\U0001f600"
    assert split_message(emoji * 160) == [emoji * 160]
    parts = split_message(emoji * 161)
    assert parts == [emoji * 160, emoji]
    assert split_message("a" + emoji * 160) == ["a" + emoji * 159, emoji]


def test_split_keeps_graphemes_whole() -> None:
    accented = "e\u0301" * 200  # e + combining acute
    parts = split_message(accented)
    assert all(not p.startswith("\u0301") for p in parts)
    assert "".join(parts) == accented
    flags = "\U0001f1eb\U0001f1f7" * 100  # French flags: pairs of regional indicators
    parts = split_message(flags, 10)
    assert all(utf16_len(p) <= 10 and len(p) % 2 == 0 for p in parts)
    assert "".join(parts) == flags
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # man ZWJ woman ZWJ girl: 8 units
    parts = split_message(family * 10, 20)
    assert all(p.count("\u200d") == 2 * (len(p) // 5) for p in parts)
    assert "".join(parts) == family * 10


def test_split_lines_and_control_characters() -> None:
    assert split_message("one\n\n  two  \r\nthree\rfour") == ["one", "two", "three", "four"]
    assert split_message("a\tb\x00c") == ["a b c"]
    assert split_message(" \n \x01 ") == []


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=2000), limit=st.integers(2, 400))
def test_split_properties(text: str, limit: int) -> None:
    parts = split_message(text, limit)
    assert all(0 < utf16_len(p) <= limit and p.strip() == p and p for p in parts)

    def visible(s: str) -> str:
        return "".join(c for c in s if not c.isspace() and c >= " ")

    assert visible("".join(parts)) == visible(text)


def test_late_echo_of_a_timed_out_line_confirms_nothing_else() -> None:
    lab = Lab(ack_timeout=2.0).start()
    lab.deaf = True
    late = lab.queue.say("slow one")
    lab.clock.advance(2.0)
    assert outcome(late).check(AckTimeout)
    nxt = lab.queue.say("next one")
    lab.clock.advance(0.01)
    lab.queue.handle_event(Event(events.MESSAGE, None, user=ME, content="slow one"))
    assert not nxt.called
    lab.queue.handle_event(Event(events.MESSAGE, None, user=ME, content="next one"))
    assert outcome(nxt) is None


def test_a_split_never_starts_a_later_part_with_a_slash() -> None:
    """Quoted user text split at the wrong place must not become a server command."""
    from twisted.internet.task import Clock

    from rosey.bot.sendqueue import SendQueue
    from rosey.wire.fake import FakeConnection

    conn = FakeConnection()
    conn.make_ready()
    queue = SendQueue(conn, Clock(), own_rank=lambda: 3.0)
    queue.startService()
    queue.say("a" * 317 + " /kick victim because the split landed here")
    texts = [data["msg"] for name, data in conn.sent if name == "chatMsg"]
    assert texts
    assert texts[0].startswith("a")
    assert len(texts) == 2, texts
    assert texts[1].startswith("» /kick"), texts
