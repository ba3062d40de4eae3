"""Bot benchmark: event throughput through the whole Bot, and command latency under chat load.

Run from the repository root: ``python -m bench.bot_bench`` (see bench/README.md).

(a) Dispatch. The corpus of :mod:`bench.wire_bench` (every recorded server frame of
``tests/fixtures/``, repeated) goes through ``codec.decode`` → ``Normalizer.normalize`` →
``Bot.handle_event`` (channel mirror, send queue, action confirmations, dispatcher with the
core plugin's handlers and commands and 10 more handlers on ``"*"``, so every event runs all
ten). The wire-only loops of the wire benchmark (decode + normalize, session + normalize) run on
the same corpus, interleaved, best of ``--repeat`` in CPU time (the process's own, so that other
work on a shared machine does not count); the verdict is the bot's rate as a share of decode +
normalize (target ≥ 70 %). A second bot with its ten handlers on an event the corpus
lacks shows what the handlers themselves cost, and each part of ``handle_event`` is then timed
alone over the same events (``--profile`` adds a cProfile listing).

(b) Command latency. On the real reactor, a Bot over a :class:`FakeConnection` is fed encoded
frames (session → normalizer → bot, as the connection does): 1,000 ``chatMsg``/s from 50 users
(a ``LoopingCall`` every millisecond feeds every line that is due), and a ``!ping`` every
``--ping-interval`` s from a rotating user (the built-in has a 3 s per-user cooldown). The bot's
replies leave through its send queue; each ``pong`` is echoed back like the server does. The
verdict is on the time from feeding the ``!ping`` to the ``pong`` chatMsg being emitted (target
p99 < 5 ms); also shown: feeding → reply handed to the queue, and the ping's due time → pong
(which adds how late the reactor ran the ping's timer).

(c) Memory (``--only memory``). What a ``ChannelMirror`` keeps after the e2e benchmark's join
burst (1,000 users, 5,000 playlist items), measured with ``tracemalloc``.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet import task

from bench.wire_bench import Corpus, build_corpus, run_rosey, run_session
from rosey import events
from rosey.bot.service import Bot
from rosey.events import Event
from rosey.wire import codec
from rosey.wire.fake import FakeConnection
from rosey.wire.normalize import Normalizer
from rosey.wire.session import Deliver, Session
from tests.recorded import SCENARIOS

TARGET_SHARE = 0.70
TARGET_P99_MS = 5.0
HANDLERS = 10
ME = "rosey"

# -- (a) dispatch throughput ----------------------------------------------------------------------


def bench_bot(on: str = "*") -> Bot:
    """A Bot as the daemon runs it (the core plugin's commands and handlers) on a
    FakeConnection, with ``HANDLERS`` plain handlers on event ``on``."""
    bot = Bot(FakeConnection(channel="labchan", username=ME), clock=task.Clock(), builtins=True)
    seen = [0] * HANDLERS

    def handler(i: int) -> Callable[[Event], None]:
        def on_event(event: Event) -> None:
            seen[i] += 1

        on_event.__qualname__ = f"handler{i}"
        return on_event

    for i in range(HANDLERS):
        bot.on(on, handler(i))
    bot.startService()
    return bot


def run_bot(corpus: Corpus, bot: Bot) -> None:
    """``codec.decode`` + ``Normalizer.normalize`` + ``Bot.handle_event``: the wire loop of
    decode + normalize with the Bot behind it. One normalizer per recorded connection;
    ``connected`` is delivered when the namespace connects, as the connection does, and chat
    until the next ``userlist`` counts as the join burst's replay."""
    handle = bot.handle_event
    decode = codec.decode
    event_packet = codec.EventPacket
    connect = codec.Connect
    connected = events.CONNECTED
    for frames in corpus.connections:
        normalizer = Normalizer()
        normalize = normalizer.normalize
        for frame in frames:
            packet = decode(frame)
            kind = type(packet)
            if kind is event_packet:
                args = packet.args  # type: ignore[union-attr]
                handle(normalize(packet.name, args[0] if args else None))  # type: ignore[union-attr]
            elif kind is connect:
                normalizer.begin_join()
                handle(Event(connected, {"sid": packet.sid}))  # type: ignore[union-attr]


def bot_events(corpus: Corpus) -> list[Event]:
    """The events ``run_bot`` hands the bot, made once (for the split by component)."""
    made: list[Event] = []
    for frames in corpus.connections:
        normalizer = Normalizer()
        for frame in frames:
            packet = codec.decode(frame)
            if type(packet) is codec.EventPacket:
                made.append(
                    normalizer.normalize(packet.name, packet.args[0] if packet.args else None)
                )
            elif type(packet) is codec.Connect:
                normalizer.begin_join()
                made.append(Event(events.CONNECTED, {"sid": packet.sid}))
    return made


def split(bot: Bot, made: list[Event], repeat: int) -> dict[str, float]:
    """Seconds per event spent in each part of ``Bot.handle_event`` (best of ``repeat``)."""
    parts: dict[str, Callable[[Event], Any]] = {
        "mirror": bot.mirror.apply,
        "send queue": bot.queue.handle_event,
        "confirmations": bot.confirmations.feed,
        "dispatcher": bot.dispatcher.run,
    }
    best = dict.fromkeys(parts, float("inf"))
    for _ in range(repeat):
        for label, part in parts.items():

            def run(part: Callable[[Event], Any] = part) -> None:
                for event in made:
                    part(event)

            best[label] = min(best[label], best_time(run))
    return {label: seconds / len(made) for label, seconds in best.items()}


def profile(corpus: Corpus, bot: Bot, lines: int = 25) -> None:
    """cProfile of ``run_bot``, heaviest functions by own time."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.runcall(run_bot, corpus, bot)
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(lines)


def best_time(fn: Callable[[], None]) -> float:
    """CPU seconds of one ``fn()``: on a machine shared with other work, wall time also counts
    the moments the scheduler gave the core to someone else."""
    gc.collect()
    start = time.process_time()
    fn()
    return time.process_time() - start


def dispatch(frames: int, repeat: int, show_profile: bool = False) -> bool:
    """Part (a); True when the target is met."""
    corpus = build_corpus(frames)
    bot = bench_bot()
    quiet = bench_bot(on=events.PM)  # the same ten handlers, on an event the corpus lacks
    made = bot_events(corpus)
    n_events = len(made)
    bot_label = f"bot: {HANDLERS} handlers on '*'"
    loops: dict[str, Callable[[], None]] = {
        "wire: decode+normalize": lambda: run_rosey(corpus),
        "wire: session+normalize": lambda: run_session(corpus),
        bot_label: lambda: run_bot(corpus, bot),
        "bot: handlers never called": lambda: run_bot(corpus, quiet),
    }
    best = dict.fromkeys(loops, float("inf"))
    for _ in range(repeat):  # interleaved, so a noisy moment hurts every loop alike
        for label, fn in loops.items():
            best[label] = min(best[label], best_time(fn))

    print(f"(a) dispatch: {corpus.size:,} server frames ({len(SCENARIOS)} captures, repeated),")
    print(f"    {n_events:,} events to the bot; best of {repeat}")
    wire = best["wire: decode+normalize"]
    for label, seconds in best.items():
        print(
            f"    {label:28} {corpus.size / seconds:10,.0f} frames/s"
            f" {n_events / seconds:10,.0f} events/s  {wire / seconds:6.1%} of decode+normalize"
        )
    per_event = (best[bot_label] - wire) / n_events
    print(f"    the Bot adds {per_event * 1e6:.2f} µs per event; split (each part timed alone):")
    for label, seconds in split(bot, made, repeat).items():
        print(f"      {label:14} {seconds * 1e6:6.2f} µs per event")
    if show_profile:
        profile(corpus, bot)
    share = wire / best[bot_label]
    ok = share >= TARGET_SHARE
    verdict = "OK" if ok else "UNDER TARGET"
    print(f"    target: bot >= {TARGET_SHARE:.0%} of decode+normalize: {share:.1%} {verdict}")
    live_channel(frames, repeat)
    return ok


def live_corpus(events_wanted: int, users: int = 1000) -> Corpus:
    """One connection as a busy channel sees it: the e2e benchmark's join burst (``users``
    users, 100 playlist items), then its live stream (80 % chat, 10 % joins, 10 % leaves)."""
    from bench.e2e.frames import FrameReader
    from bench.e2e.stream import build_stream, join_burst

    stream = build_stream(events_wanted, users)
    live = [payload.decode() for _, payload in FrameReader().feed(stream.data)]
    frames = ['40{"sid":"live"}', *join_burst("labchan", users, 100), *live[:-1]]  # no ping
    return Corpus([frames], frames, [])


def live_channel(frames: int, repeat: int) -> None:
    """(a), on a live channel's traffic instead of the recordings (for information: the
    verdict is on the recordings, the wire benchmark's corpus)."""
    corpus = live_corpus(frames)
    bot = bench_bot()
    loops: dict[str, Callable[[], None]] = {
        "wire: decode+normalize": lambda: run_rosey(corpus),
        f"bot: {HANDLERS} handlers on '*'": lambda: run_bot(corpus, bot),
    }
    best = dict.fromkeys(loops, float("inf"))
    for _ in range(repeat):
        for label, fn in loops.items():
            best[label] = min(best[label], best_time(fn))
    wire = best["wire: decode+normalize"]
    print(f"    on a live channel's stream instead ({corpus.size:,} frames: one join burst, then")
    print("    80 % chat, 10 % joins, 10 % leaves; for information):")
    for label, seconds in best.items():
        print(
            f"    {label:28} {corpus.size / seconds:10,.0f} frames/s"
            f"  {wire / seconds:6.1%} of decode+normalize"
        )


# -- (b) command latency under chat load ---------------------------------------------------------


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
            Bot(self.conn, clock=reactor, builtins=True)
            if margin is None
            else Bot(self.conn, clock=reactor, builtins=True, queue_margin=margin)
        )
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


# -- (c) memory of the channel mirror ------------------------------------------------------------


def mirror_memory(users: int = 1000, items: int = 5000) -> float:
    """Bytes a ChannelMirror keeps after the e2e benchmark's join burst (``users`` users,
    ``items`` playlist items), decoded and normalized as the connection does. Tracing starts
    before decoding, so the strings the JSON decoder made and the mirror kept are counted; a
    first, untraced burst takes the one-time allocations (caches, the interned-string table)."""
    import tracemalloc

    from bench.e2e.stream import join_burst
    from rosey.bot.mirror import ChannelMirror
    from rosey.wire import codec

    frames = join_burst("labchan", users, items)

    def burst() -> ChannelMirror:
        normalizer = Normalizer()
        normalizer.begin_join()
        mirror = ChannelMirror()
        for text in frames:
            packet = codec.decode(text)
            if isinstance(packet, codec.EventPacket):
                mirror.apply(normalizer.normalize(packet.name, packet.data))
        return mirror

    burst()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        mirror = burst()
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    print(f"(c) channel mirror after a join burst of {len(mirror.users):,} users and")
    print(f"    {len(mirror.playlist):,} playlist items: {kept / 1e6:.2f} MB (tracemalloc)")
    return kept


def log_like_the_daemon() -> None:
    """Begin logging as the daemon does (``rosey.daemon.logs``: info and up, formatted, to a
    stream; here /dev/null). Left alone, Twisted would keep every log event in its start-up
    buffer, and the garbage collector would walk them all: a cost no running bot pays."""
    from twisted.logger import (
        FilteringLogObserver,
        LogLevel,
        LogLevelFilterPredicate,
        globalLogBeginner,
        textFileLogObserver,
    )

    sink = open(os.devnull, "w")  # noqa: SIM115 (kept open for the whole run)
    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.info)
    observer = FilteringLogObserver(textFileLogObserver(sink), [predicate])
    globalLogBeginner.beginLoggingTo([observer], discardBuffer=True, redirectStandardIO=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bot_bench", description=__doc__)
    parser.add_argument("--frames", type=int, default=200_000, help="(a) minimum corpus size")
    parser.add_argument("--repeat", type=int, default=5, help="(a) runs per loop; best is kept")
    parser.add_argument("--seconds", type=float, default=20.0, help="(b) how long pings go on")
    parser.add_argument("--rate", type=int, default=1000, help="(b) chat events per second")
    parser.add_argument(
        "--ping-interval",
        type=float,
        default=0.2,
        help="(b) seconds between pings; 0.1 saturates CyTube's 10 lines/s (see README)",
    )
    parser.add_argument(
        "--margin", type=float, default=None, help="(b) send-queue margin (default: the Bot's)"
    )
    parser.add_argument("--only", choices=("dispatch", "latency", "memory"), help="run one part")
    parser.add_argument("--profile", action="store_true", help="(a) also print a cProfile")
    args = parser.parse_args(argv)

    print(f"python {sys.version.split()[0]}")
    log_like_the_daemon()
    ok = True
    if args.only in (None, "dispatch"):
        ok = dispatch(args.frames, args.repeat, args.profile) and ok
    if args.only in (None, "latency"):
        ok = latency(args.seconds, args.rate, args.ping_interval, args.margin) and ok
    if args.only == "memory":
        mirror_memory()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
