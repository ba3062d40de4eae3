"""Bot benchmark, part (b): ``!ping`` → reply frame while 1,000 chat events/s flow in.

Run through ``python -m bench.bot_bench --only latency`` (see that module and bench/README.md).
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from rosey.api_impl import run_plugin
from rosey.bot.service import Bot
from rosey.plugins.core import core
from rosey.wire.fake import FakeConnection
from rosey.wire.normalize import Normalizer
from rosey.wire.session import Deliver, Session

TARGET_P99_MS = 5.0
ME = "rosey"


def frame(name: str, data: Any) -> str:
    return "42" + json.dumps([name, data], separators=(",", ":"))


def chat_frame(user: str, msg: str, ms: int) -> str:
    return frame("chatMsg", {"username": user, "msg": msg, "meta": {}, "time": ms})


def user_entry(name: str, rank: float) -> dict[str, Any]:
    return {
        "name": name,
        "rank": rank,
        "profile": {"image": "", "text": ""},
        "meta": {"afk": False, "muted": False, "smuted": False, "aliases": [name], "ip": "+a.b"},
    }


class LatencyConnection(FakeConnection):
    """FakeConnection that notes when each ``pong`` leaves and echoes every chat line back."""

    def __init__(self, feed_frame: Callable[[str], None], reactor: Any) -> None:
        super().__init__(channel="labchan", username=ME)
        self.feed_frame = feed_frame
        self.reactor = reactor
        self.pong_at: list[float] = []

    def emit(self, event: str, data: Any = None) -> None:
        if event == "chatMsg" and data["msg"] == "pong":
            self.pong_at.append(time.perf_counter())
        super().emit(event, data)
        if event == "chatMsg":  # the server's echo, a moment later
            ms = int(self.reactor.seconds() * 1000)
            self.reactor.callLater(0, self.feed_frame, chat_frame(ME, data["msg"], ms))


class LatencyRun:
    """Part (b) on the running reactor."""

    def __init__(
        self, reactor: Any, seconds: float, rate: int, interval: float, margin: float | None
    ) -> None:
        self.reactor = reactor
        self.seconds = seconds
        self.rate = rate
        self.interval = interval
        self.session = Session()
        self.normalizer = Normalizer()
        self.conn = LatencyConnection(self.feed_frame, reactor)
        self.bot = (
            Bot(self.conn, clock=reactor)
            if margin is None
            else Bot(self.conn, clock=reactor, queue_margin=margin)
        )
        run_plugin(self.bot, core)
        self.users = [f"chatter{i:02d}" for i in range(50)]
        self.pingers = [f"pinger{i:02d}" for i in range(int(4 / interval) + 1)]
        self.chat_fed = 0
        self.pings = 0
        self.fed_at: list[tuple[float, float]] = []  # (perf_counter when fed, lateness)
        self.latency_fed: list[float] = []
        self.latency_due: list[float] = []
        self.held = 0  # replies not emitted within the feeding call (paced by the queue)
        self.queued_at: list[float] = []  # when the router handed each pong to the queue
        self.latency_queued: list[float] = []
        say = self.bot.queue.say

        def timed_say(text: str, meta: dict[str, Any] | None = None) -> Any:
            if text == "pong":
                self.queued_at.append(time.perf_counter())
            return say(text, meta)

        self.bot.queue.say = timed_say  # type: ignore[method-assign]

    def feed_frame(self, text: str) -> None:
        for action in self.session.receive(text, self.reactor.seconds()):
            if type(action) is Deliver:
                packet = action.packet
                self.conn.feed(self.normalizer.normalize(packet.name, packet.data))

    def join(self) -> None:
        self.bot.startService()
        self.feed_frame('0{"sid":"b","upgrades":[],"pingInterval":25000,"pingTimeout":120000}')
        self.feed_frame('40{"sid":"n"}')
        self.conn.connect()
        self.feed_frame(frame("rank", 1))
        self.feed_frame(frame("login", {"success": True, "name": ME, "guest": False}))
        self.feed_frame(frame("rank", 3))
        everyone = [user_entry(ME, 3)] + [user_entry(n, 1) for n in self.users + self.pingers]
        self.feed_frame(frame("userlist", everyone))
        self.conn.make_ready()

    def chat_tick(self) -> None:
        due = int((self.reactor.seconds() - self.t0) * self.rate)
        ms = int(self.reactor.seconds() * 1000)
        users = self.users
        while self.chat_fed < due:
            i = self.chat_fed
            self.feed_frame(chat_frame(users[i % len(users)], f"chat line number {i}", ms))
            self.chat_fed += 1

    def ping(self) -> None:
        due = self.t0 + self.interval * (self.pings + 1)
        lateness = self.reactor.seconds() - due
        who = self.pingers[self.pings % len(self.pingers)]
        self.pings += 1
        ms = int(self.reactor.seconds() * 1000)
        before = len(self.conn.pong_at)
        fed = time.perf_counter()
        self.fed_at.append((fed, lateness))
        self.feed_frame(chat_frame(who, "!ping", ms))
        if len(self.conn.pong_at) == before:
            self.held += 1

    def collect(self) -> None:
        fed_at = list(self.fed_at)
        for (fed, _), queued in zip(fed_at, self.queued_at, strict=False):
            self.latency_queued.append(queued - fed)
        for (fed, lateness), emitted in zip(fed_at, self.conn.pong_at, strict=False):
            self.latency_fed.append(emitted - fed)
            self.latency_due.append(emitted - fed + max(lateness, 0.0))

    async def run(self) -> None:
        from twisted.internet.task import LoopingCall, deferLater

        self.join()
        self.t0 = self.reactor.seconds()
        chat = LoopingCall(self.chat_tick)
        chat.clock = self.reactor
        pinger = LoopingCall(self.ping)
        pinger.clock = self.reactor
        chat.start(0.001, now=False)
        pinger.start(self.interval, now=False)
        await deferLater(self.reactor, self.seconds, lambda: None)
        pinger.stop()
        await deferLater(self.reactor, 1.0, lambda: None)  # the last replies drain
        chat.stop()
        self.collect()
        self.elapsed = self.reactor.seconds() - self.t0
        self.bot.stopService()


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def latency(seconds: float, rate: int, interval: float, margin: float | None) -> bool:
    """Part (b) on the real reactor; True when the target is met."""
    from twisted.internet import reactor

    run = LatencyRun(reactor, seconds, rate, interval, margin)
    outcome: list[Any] = []

    def go() -> None:
        from twisted.internet.defer import Deferred

        d = Deferred.fromCoroutine(run.run())
        d.addBoth(outcome.append)
        d.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(go)
    reactor.run()
    if outcome and outcome[0] is not None:
        outcome[0].raiseException()

    chat_rate = run.chat_fed / run.elapsed
    print(
        f"(b) command latency: {run.pings} !ping over {seconds:g} s, one per {interval * 1000:g} ms"
    )
    print(
        f"    while {run.chat_fed:,} chat events flowed in ({chat_rate:,.0f}/s target {rate:,}/s);"
        f" send-queue margin {run.bot.queue.margin:g} s"
    )
    answered = len(run.latency_fed)
    print(f"    answered {answered}/{run.pings}; held back by the chat pacing: {run.held}")
    if not answered:
        print("    no replies: FAILED")
        return False
    ok = answered == run.pings
    measured = (
        ("fed → queued", run.latency_queued),
        ("fed → pong", run.latency_fed),
        ("due → pong", run.latency_due),
    )
    for label, values in measured:
        ms = [v * 1000 for v in values]
        p50, p99 = percentile(ms, 50), percentile(ms, 99)
        print(
            f"    {label:12}: p50 {p50:.3f} ms  p99 {p99:.3f} ms  max {max(ms):.3f} ms"
            f"  mean {statistics.fmean(ms):.3f} ms"
        )
    p99 = percentile([v * 1000 for v in run.latency_fed], 99)
    ok = ok and p99 < TARGET_P99_MS
    verdict = "OK" if ok else "OVER TARGET"
    print(f"    target: p99 < {TARGET_P99_MS:g} ms (fed → pong): {p99:.3f} ms {verdict}")
    return ok
