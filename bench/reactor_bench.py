"""Reactor-thread cost per event of the real daemon, in CPU time, in one process.

Run from the repository root: ``python -m bench.reactor_bench`` (see bench/README.md). A
diagnostic for the end-to-end benchmark (:mod:`bench.e2e_bench`), whose wall-clock figures move
too much between runs to guide small changes; it has no target of its own.

The daemon is the real one (:func:`rosey.daemon.assemble.build`, as ``twistd rosey`` builds it):
SQLite in a temporary directory (migrated first), chat and media log files, the core plugin;
metrics' counters and the channel watch listen to every event (the ``/metrics`` listener and the
manhole are off: they cost nothing per event). Its services start, but each channel's
``ClientService`` is stopped so it never dials out; one session is then driven by hand through
the calls the Autobahn protocol makes (``SessionDriver.receive`` of each frame's UTF-8 decoded
payload): the handshake, the answers to ``login`` and ``joinChannel`` and the e2e benchmark's
join burst, then its event stream (:func:`bench.e2e.stream.build_stream`), ``--chunk`` frames
per reactor turn so the recorder's timers and batches run as they do in the daemon.

Timed with ``time.thread_time()`` on the reactor thread, so the database thread's own work is
not counted (it is shown apart, from ``/proc``): from the first chunk to the last, then until
the recorder has written everything. The baseline, in the same process, is what the e2e
benchmark's bare client does per frame: UTF-8 decode and ``json.loads`` after the packet-type
digits.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred, ensureDeferred

from bench.e2e.frames import TEXT, FrameReader
from bench.e2e.stream import BOT, Stream, build_stream, join_burst
from rosey.wire import codec

CHANNEL = "labchan"
SITE = "http://127.0.0.1:9"  # never dialled: the ClientService is stopped at once
PASSWORD = "reactor-bench-pw"
OPEN = codec.encode_open("bench", ping_interval=25, ping_timeout=120, max_payload=1_048_576)


def config_text(tmp: Path) -> str:
    """One channel, SQLite in ``tmp``, chat and media logs; no listeners."""
    return (
        f'[[channel]]\nsite = "{SITE}"\nname = "{CHANNEL}"\nusername = "{BOT}"\n'
        'password_env = "ROSEY_PASSWORD"\n\n'
        f'[database]\nurl = "sqlite:///{tmp}/rosey.sqlite"\n\n'
        '[bot]\ncommand_prefix = "!"\n\n'
        "[manhole]\nenabled = false\n\n"
        "[metrics]\nenabled = false\n\n"
        f'[logging]\nlevel = "info"\nformat = "text"\nchat_log = "{tmp}/chat.log"\n'
        f'media_log = "{tmp}/media.log"\n'
    )


# -- the baseline -----------------------------------------------------------------------------


def bare_loop(frames: Sequence[bytes]) -> None:
    """What ``bench.e2e.bare.BareClient.onMessage`` does per frame, without its replies."""
    loads = json.loads
    for payload in frames:
        text = payload.decode("utf-8")
        kind = text[:1]
        if kind == "4" and text[1:2] == "2":
            i = 2
            while i < len(text) and text[i].isdigit():
                i += 1
            _name, *_ = loads(text[i:])
        elif kind == "0":
            loads(text[1:])
        elif text.startswith("40"):
            loads(text[2:])


def time_baseline(frames: Sequence[bytes], repeat: int) -> float:
    """Best CPU seconds of ``repeat`` runs of :func:`bare_loop`."""
    best = float("inf")
    for _ in range(repeat):
        start = time.thread_time()
        bare_loop(frames)
        best = min(best, time.thread_time() - start)
    return best


# -- CPU time of the other threads ------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def other_threads_cpu(own_tid: int) -> float:
    """CPU seconds (user + system) of every thread of this process but ``own_tid``."""
    total = 0
    for tid in os.listdir("/proc/self/task"):
        if int(tid) == own_tid:
            continue
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:  # the thread just ended
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / _TICK


# -- one pass over a fresh daemon ---------------------------------------------------------------


@dataclass
class Pass:
    """What one pass measured (seconds of CPU time, reactor thread unless said)."""

    stream: float  # first chunk to last
    drain: float  # after the last chunk until everything is written
    db_threads: float  # every other thread, first chunk until written
    wall: float  # first chunk to last, wall clock
    events_in: int  # events the metrics counted during the stream
    rows: tuple[int, int, int]  # chat lines, joins, leaves in the file after the pass
    dropped: int


class Feeder:
    """Hands ``frames`` to ``receive`` ``chunk`` at a time, one chunk per reactor turn."""

    def __init__(
        self, reactor: Any, receive: Callable[[str], None], frames: Sequence[bytes], chunk: int
    ) -> None:
        self._reactor = reactor
        self._receive = receive
        self._frames = frames
        self._chunk = chunk
        self._pos = 0
        self.done: Deferred[None] = Deferred()

    def start(self) -> Deferred[None]:
        self._reactor.callLater(0, self._step)
        return self.done

    def _step(self) -> None:
        receive = self._receive
        end = min(self._pos + self._chunk, len(self._frames))
        for payload in self._frames[self._pos : end]:
            receive(payload.decode("utf-8"))  # what CyTubeClientProtocol.onMessage does
        self._pos = end
        if end < len(self._frames):
            self._reactor.callLater(0, self._step)
        else:
            self.done.callback(None)


def _rows(db: Path) -> tuple[int, int, int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        chat = conn.execute("SELECT count(*) FROM chat_messages").fetchone()[0]
        actions = dict(
            conn.execute("SELECT action_type, count(*) FROM user_actions GROUP BY action_type")
        )
    finally:
        conn.close()
    return chat, actions.get("join", 0), actions.get("leave", 0)


async def one_pass(
    reactor: Any,
    tmp: Path,
    burst: list[str],
    frames: Sequence[bytes],
    chunk: int,
    profiler: cProfile.Profile | None,
) -> Pass:
    """Build, start and join a daemon in ``tmp``; stream ``frames``; drain; stop it."""
    from rosey.daemon.assemble import build
    from rosey.daemon.config import parse
    from rosey.daemon.memory import settle
    from rosey.storage.schema import upgrade
    from rosey.wire.driver import SessionDriver
    from rosey.wire.session import Session

    tmp.mkdir(parents=True, exist_ok=True)
    raw = tomllib.loads(config_text(tmp))
    config = parse(raw, {"ROSEY_PASSWORD": PASSWORD})
    upgrade(config.database.url.value)
    daemon = build(config, reactor, migrated=True)
    daemon.startService()
    bot = daemon.bots[next(iter(daemon.bots))]
    conn: Any = bot.connection
    await conn._client.stopService()  # never dial out; the session is driven by hand below
    sent: list[str] = []
    closes: list[bool] = []
    driver = SessionDriver(Session(4), reactor, sent.append, closes.append, conn)
    conn.reconnector.session_started()
    driver.open()
    driver.receive(OPEN)
    driver.receive('40{"sid":"bench"}')
    if not any('"login"' in s for s in sent):
        raise RuntimeError(f"rosey did not log in: {sent}")
    driver.receive('42["rank",3]')
    driver.receive(codec.encode_event("login", {"success": True, "name": BOT}))
    if not any('"joinChannel"' in s for s in sent):
        raise RuntimeError(f"rosey did not join: {sent}")
    for text in burst:
        driver.receive(text)
    driver.receive("2")
    if not conn.ready:
        raise RuntimeError("the join burst did not make the connection ready")
    (recorder,) = daemon.recorders
    await recorder.flush()
    settle()  # as the daemon does once READY=1 is out: collect, freeze, trim

    def counted() -> int:
        return sum(daemon.metrics._events_in.values())

    tid = threading.get_native_id()
    before_in = counted()
    db_before = other_threads_cpu(tid)
    wall = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    start = time.thread_time()
    await Feeder(reactor, driver.receive, frames, chunk).start()
    fed = time.thread_time()
    wall = time.perf_counter() - wall
    await recorder.flush()
    drained = time.thread_time()
    if profiler is not None:
        profiler.disable()
    db_cpu = other_threads_cpu(tid) - db_before
    events_in = counted() - before_in
    dropped = recorder.dropped
    await daemon.stopService()
    gc.unfreeze()
    return Pass(
        stream=fed - start,
        drain=drained - fed,
        db_threads=db_cpu,
        wall=wall,
        events_in=events_in,
        rows=_rows(tmp / "rosey.sqlite"),
        dropped=dropped,
    )


def begin_logging(path: Path) -> None:
    """Log as the daemon does (info and up, formatted) to ``path``: left alone, Twisted would
    keep every log event in its start-up buffer for the garbage collector to walk."""
    from twisted.logger import globalLogBeginner

    from rosey.daemon.config import LoggingConfig
    from rosey.daemon.logs import make_observer

    sink = path.open("a", encoding="utf-8")  # kept open for the whole run
    observer = make_observer(LoggingConfig(level="info", format="text"), sink)
    globalLogBeginner.beginLoggingTo([observer], discardBuffer=True, redirectStandardIO=False)


# -- main ---------------------------------------------------------------------------------------


def _us(seconds: float, events: int) -> float:
    return seconds / events * 1e6


def report(stream: Stream, base: float, passes: list[Pass]) -> None:
    n = stream.events
    print(f"stream: {n} events ({stream.chat} chat, {stream.joins} joins, {stream.leaves} leaves)")
    print(f"bare decode (baseline, best)     {_us(base, n):6.2f} µs/event")
    for i, p in enumerate(passes, 1):
        total = p.stream + p.drain
        print(
            f"rosey pass {i}: stream {_us(p.stream, n):6.2f} µs/event, + drain "
            f"{_us(total, n):6.2f}; db threads {_us(p.db_threads, n):5.2f}; "
            f"wall {n / p.wall:,.0f} ev/s; counted {p.events_in}; rows {p.rows}; "
            f"dropped {p.dropped}"
        )
    best = min(passes, key=lambda p: p.stream + p.drain)
    rosey = best.stream + best.drain
    print(
        f"rosey reactor thread (best)      {_us(rosey, n):6.2f} µs/event "
        f"(stream {_us(best.stream, n):.2f} + drain {_us(best.drain, n):.2f})"
    )
    # Neither side pays for websocket framing or the socket here: not the e2e ratio.
    print(f"ratio bare / rosey               {base / rosey:6.3f}  (decode only vs the daemon)")
    expected = (stream.chat, stream.joins, stream.leaves)
    for p in passes:
        if p.rows != expected or p.dropped:
            print(f"WARNING: rows {p.rows} != sent {expected} or dropped {p.dropped}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reactor_bench", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000, help="events in the stream")
    parser.add_argument("--users", type=int, default=1000, help="users in the join burst")
    parser.add_argument("--playlist", type=int, default=5000, help="items in the join burst")
    parser.add_argument("--chunk", type=int, default=400, help="frames per reactor turn")
    parser.add_argument("--repeat", type=int, default=3, help="rosey passes (fresh daemon each)")
    parser.add_argument("--baseline-repeat", type=int, default=5, help="baseline runs (best)")
    parser.add_argument("--profile", action="store_true", help="cProfile the rosey passes")
    parser.add_argument("--top", type=int, default=40, help="profile lines to print")
    parser.add_argument("--dump", help="with --profile: also write the pstats data to this file")
    parser.add_argument("--keep", action="store_true", help="keep the databases, logs and files")
    args = parser.parse_args(argv)
    os.environ.pop("NOTIFY_SOCKET", None)
    os.environ.setdefault("AUTOBAHN_USE_NVX", "0")  # as twistd rosey

    stream = build_stream(args.events, args.users)
    frames = [payload for op, payload in FrameReader().feed(stream.data) if op == TEXT]
    burst = join_burst(CHANNEL, args.users, args.playlist)

    from twisted.internet import reactor

    work = Path(tempfile.mkdtemp(prefix="rosey-reactor-bench-"))
    begin_logging(work / "rosey.log")
    # The default (wall-clock) timer: time.thread_time is a system call, ten times dearer than
    # most calls it would time. The reactor's waits for the GIL show up under epoll's poll.
    profiler = cProfile.Profile() if args.profile else None
    passes: list[Pass] = []
    failure: list[BaseException] = []
    base = time_baseline(frames, args.baseline_repeat)

    async def run() -> None:
        try:
            for i in range(args.repeat):
                passes.append(
                    await one_pass(reactor, work / f"pass{i}", burst, frames, args.chunk, profiler)
                )
        except BaseException as e:
            failure.append(e)
        finally:
            reactor.stop()

    reactor.callWhenRunning(lambda: ensureDeferred(run()))
    reactor.run()
    if failure:
        raise failure[0]
    base = min(base, time_baseline(frames, args.baseline_repeat))
    report(stream, base, passes)
    if args.keep:
        print(f"(databases, chat logs and the daemon's log in {work})")
    else:
        shutil.rmtree(work, ignore_errors=True)
    if profiler is not None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)
        if args.dump:
            stats.dump_stats(args.dump)
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
