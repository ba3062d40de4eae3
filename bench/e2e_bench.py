"""End-to-end benchmark: a full ``twistd rosey`` against a peer pushing chat, joins and leaves.

Run from the repository root: ``python -m bench.e2e_bench`` (see bench/README.md).

Every part is its own process. The peer (:mod:`bench.e2e.peer`, a raw asyncio websocket
server) admits a client with a join burst of ``--users`` users and ``--playlist`` items, then,
on command, writes ``--events`` pre-encoded events (80 % chat, 10 % joins, 10 % leaves, recorded
shapes) and a marker chat line as fast as TCP drains, and a ping whose pong marks the end.
In one run, on the same machine at the same time:

1. the peer's ceiling (a raw socket sink that only splits frames) and the baseline: a bare
   Autobahn client that decodes each frame (UTF-8 + ``json.loads``);
2. rosey: ``twistd --nodaemon --pidfile= rosey`` with every service on and a fresh peer. Events/s
   received (peer's first byte to the pong that follows the last event, cross-checked by
   ``/metrics``) and persisted (until every chat line and join/leave is in the SQLite file);
   then SIGTERM, which must exit 0 with every row written; peak RSS (``VmHWM``). The baseline
   and rosey alternate, ``--runs`` times each (default 2), and each side's best run is kept:
   one run of either moves by half from one minute to the next on a shared machine, so a lone
   run compared with the best of several would be biased;
3. memory: RSS once idle after the join burst, with 1 channel (the run above, before the
   stream) and with 2 channels (a second daemon, two channels on one peer); and the same daemon
   whose one channel's site refuses connections (every module and service, no channel data:
   what the first channel costs is the difference).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from bench.e2e import procs
from bench.e2e import spy as e2e_spy
from bench.e2e.cli import parse, stream_parser
from bench.e2e.daemon import Daemon, Rows
from bench.e2e.results import Results, report
from bench.e2e.stream import MARKER

POLL = 0.5
STALL = 15.0  # seconds without a new row, once the stream is handled, before giving up


def say(text: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def start_peer(args: argparse.Namespace, events: int) -> tuple[procs.Child, dict[str, Any]]:
    argv = [
        procs.PYTHON,
        "-m",
        "bench.e2e.peer",
        "--port",
        "0",
        "--events",
        str(events),
        "--users",
        str(args.users),
        "--playlist",
        str(args.playlist),
    ]
    peer = procs.Child("peer", argv, lines=True)
    return peer, peer.expect("listening", 60)


def ws_url(port: int) -> str:
    return f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"


def run_client(
    peer: procs.Child, port: int, argv: list[str], name: str, timeout: float
) -> tuple[float, float]:
    """One client process through burst and stream; (events/s, its peak RSS in MB)."""
    client = procs.Child(name, argv)
    ready = peer.expect("ready", 60)
    peer.send(f"go {ready['conn']}")
    done = peer.expect("done", timeout, lambda e: e["conn"] == ready["conn"])
    peak = procs.memory(client.pid)["VmHWM"]
    peer.send(f"close {ready['conn']}")
    client.stop(timeout=15)
    return done["rate"], peak


class Way(Protocol):
    """One way to run rosey in a benchmark of several (bus_bench, dbservice_bench)."""

    @property
    def key(self) -> str: ...

    @property
    def label(self) -> str: ...


W = TypeVar("W", bound=Way)


def run_rounds(
    args: argparse.Namespace,
    ways: Sequence[W],
    results: Mapping[str, Results],
    baselines: list[float],
    run_way: Callable[[W, Results], None],
) -> dict[str, Any]:
    """Start the peer, then ``args.runs`` rounds of: the bare Autobahn client (its rate appended
    to ``baselines``), then ``run_way(way, results[way.key])`` for each of ``ways``, their order
    rotated every round. Each result's ``stream`` is set before the first run; returns it."""
    peer, info = start_peer(args, args.events)
    for res in results.values():
        res.stream = info
    try:
        bare = [procs.PYTHON, "-m", "bench.e2e.bare", ws_url(info["port"])]
        for i in range(args.runs):
            say(f"baseline: bare Autobahn client ({i + 1}/{args.runs})")
            rate, _ = run_client(peer, info["port"], bare, "bare client", args.timeout)
            baselines.append(rate)
            turn = i % len(ways)
            for way in [*ways[turn:], *ways[:turn]]:
                say(f"rosey {way.key}: {way.label} ({i + 1}/{args.runs})")
                run_way(way, results[way.key])
    finally:
        peer.stop(timeout=10)
    return info


def run_rosey_best(
    args: argparse.Namespace, tmp: Path, res: Results, variant: Variant | None = None
) -> None:
    """One more rosey run, folded into ``res``: the received and persisted rates are the best
    run's (persisted only counts if every run persisted everything); the rows, exit status and
    drops are those of a run that lost something, if one did; memory and profiles come from the
    first run (the peak: the highest). ``variant``: how the daemon runs (:class:`Variant`)."""
    first = not res.receiveds
    if not first:  # one profile per benchmark
        args = argparse.Namespace(**{**vars(args), "py_spy": None, "profile": None})
    run = Results(stream=res.stream)
    run_rosey(args, tmp / f"rosey{len(res.receiveds)}", run, variant)
    res.receiveds.append(run.received)
    res.notes += run.notes
    res.peak_rss = max(res.peak_rss, run.peak_rss)
    if first:
        res.idle_rss_1, res.profile = run.idle_rss_1, run.profile
    if run.received >= res.received:
        res.received, res.received_metrics = run.received, run.received_metrics
        res.cpu_us, res.child_cpu_us = run.cpu_us, run.child_cpu_us
    if first or run.persisted is None or res.persisted is None:
        res.persisted = run.persisted if first else None
    else:
        res.persisted = max(res.persisted, run.persisted)
    s = run.stream
    lost = run.rows != Rows(s["chat"], s["joins"], s["leaves"]) or bool(run.dropped)
    if first or lost or run.exit_status != 0:
        res.rows, res.dropped = run.rows, run.dropped
        res.exit_status, res.stop_seconds = run.exit_status, run.stop_seconds


@dataclass(frozen=True)
class Variant:
    """How :func:`run_rosey` runs the daemon (the default: as this benchmark always has)."""

    #: twistd's ``--reactor`` (None: twistd's default).
    reactor: str | None = None
    #: TOML appended to the daemon's configuration (e.g. a ``[bus]`` table).
    extra_config: str = ""
    #: Called once every event is persisted, before SIGTERM, with the daemon and the stream's
    #: start (``time.monotonic``), e.g. to wait for the bus to drain and read its counters.
    before_stop: Callable[[Daemon, float], None] | None = None
    #: The ``[database]`` table's body (None: SQLite in the daemon's directory).
    database: str | None = None
    #: The SQLite file whose rows count as persisted (None: the daemon's own).
    rows_from: Path | None = None
    #: Called with the daemon just before the peer starts the stream (the daemon is idle).
    before_go: Callable[[Daemon], None] | None = None
    #: Seconds between two reads of the rows once the stream is handled.
    poll: float = POLL / 2


def run_rosey(
    args: argparse.Namespace, tmp: Path, res: Results, variant: Variant | None = None
) -> None:
    """Part 2, and the 1-channel half of part 3."""
    variant = variant or Variant()
    peer, info = start_peer(args, args.events)
    site = f"http://127.0.0.1:{info['port']}"
    daemon = Daemon(
        tmp / "load",
        [(site, "labchan")],
        args.profile,
        args.daemon_path,
        reactor=variant.reactor,
        extra_config=variant.extra_config,
        database=variant.database,
        rows_from=variant.rows_from,
    )
    spy: procs.Child | None = None
    try:
        ready = peer.expect("ready", args.timeout)
        daemon.wait_ready(30)
        res.idle_rss_1 = procs.settled_rss(daemon.pid)
        before = daemon.events_in() or 0.0
        expected = Rows(info["chat"], info["joins"], info["leaves"])
        if args.py_spy is not None:
            spy = e2e_spy.start(daemon.pid, args.py_spy)
        if variant.before_go is not None:
            variant.before_go(daemon)
        cpu = procs.cpu_seconds(daemon.pid)
        kids = {k: procs.cpu_seconds(k) for k in procs.children(daemon.pid)}
        peer.send(f"go {ready['conn']}")
        start = peer.expect("started", 10)["t"]
        done: dict[str, Any] | None = None
        deadline = time.monotonic() + args.timeout
        last_rows, last_change = Rows(0, 0, 0), time.monotonic()
        while res.persisted is None:
            now = time.monotonic()
            if now > deadline or (done is not None and now - last_change > STALL):
                res.notes.append(
                    f"gave up waiting at {now - start:.0f} s: "
                    + ("stream handled" if done else "stream not handled")
                    + f", rows {last_rows} of {expected}"
                )
                break
            if not daemon.child.alive():
                raise procs.BenchError("twistd died under load\n" + daemon.log_tail())
            if done is None:
                try:
                    done = peer.expect("done", POLL)
                    res.received = done["rate"]
                    n = info["events"]
                    res.cpu_us = (procs.cpu_seconds(daemon.pid) - cpu) / n * 1e6
                    used = sum(procs.cpu_seconds(k) - kids.get(k, 0.0) for k in kids)
                    res.child_cpu_us = used / n * 1e6
                except procs.BenchError:
                    pass
            else:
                time.sleep(variant.poll)
            now = time.monotonic()
            if res.received_metrics is None:
                seen = daemon.events_in()
                if seen is not None and seen - before >= info["events"]:
                    res.received_metrics = info["events"] / (now - start)
            rows = daemon.rows()
            if rows != last_rows:
                last_rows, last_change = rows, now
            if rows == expected:
                res.persisted = info["events"] / (now - start)
        if spy is not None:
            spy.stop(signal.SIGINT, timeout=30)
            if args.py_spy.exists():
                res.profile = e2e_spy.summarize(args.py_spy, daemon.pid)
            else:
                res.notes.append("py-spy wrote nothing: " + " / ".join(spy.text[-3:]))
        if variant.before_stop is not None:
            variant.before_stop(daemon, start)
        res.peak_rss = procs.memory(daemon.pid)["VmHWM"]
        res.exit_status, res.stop_seconds = daemon.stop(60)
        res.rows = daemon.rows()
        if not daemon.has_chat(MARKER):
            res.notes.append("the marker chat line is missing from SQLite")
        stats = daemon.recorder_stats()
        res.dropped = sum(s[3] for s in stats) if stats else None
        if "Traceback" in daemon.log_text():
            res.notes.append(f"tracebacks in {daemon.log_path}")
    finally:
        daemon.close()
        peer.stop(timeout=10)


def idle_rss(daemon: Daemon, what: str, res: Results) -> float:
    """``daemon``'s RSS (MB) once settled after ``READY=1``; then SIGTERM (exit 0 expected)."""
    daemon.wait_ready(30)
    rss = procs.settled_rss(daemon.pid)
    status, _ = daemon.stop(60)
    if status != 0:
        res.notes.append(f"the {what} exited {status} on SIGTERM")
    return rss


def run_two_channels(args: argparse.Namespace, tmp: Path, res: Results) -> None:
    """The 2-channel half of part 3: two channels on one peer, idle after their bursts."""
    peer, info = start_peer(args, 0)
    site = f"http://127.0.0.1:{info['port']}"
    daemon = Daemon(tmp / "two", [(site, "labchan"), (site, "labchan2")], path=args.daemon_path)
    try:
        for _ in range(2):
            peer.expect("ready", args.timeout)
        res.idle_rss_2 = idle_rss(daemon, "2-channel daemon", res)
    finally:
        daemon.close()
        peer.stop(timeout=10)


def run_no_channel(args: argparse.Namespace, tmp: Path, res: Results) -> None:
    """The daemon with every service on and one channel whose site refuses connections (it
    retries): all of rosey's modules and services, no channel data."""
    site = f"http://127.0.0.1:{procs.free_port()}"  # nothing listens there
    daemon = Daemon(tmp / "none", [(site, "labchan")], path=args.daemon_path)
    try:
        res.idle_rss_0 = idle_rss(daemon, "daemon without a channel", res)
    finally:
        daemon.close()


def measure(args: argparse.Namespace, tmp: Path) -> Results:
    res = Results()
    peer, info = start_peer(args, args.events)
    res.stream = info
    try:
        port = info["port"]
        sink = [procs.PYTHON, "-m", "bench.e2e.sink", str(port)]
        bare = [procs.PYTHON, "-m", "bench.e2e.bare", ws_url(port)]
        say("peer ceiling (raw sink)")
        res.ceiling, _ = run_client(peer, port, sink, "sink", args.timeout)
        for i in range(args.runs):
            say(f"baseline: bare Autobahn client ({i + 1}/{args.runs})")
            rate, rss = run_client(peer, port, bare, "bare client", args.timeout)
            res.baselines.append(rate)
            res.bare_rss = max(res.bare_rss, rss)
            say(f"rosey: twistd with every service on, fresh peer ({i + 1}/{args.runs})")
            run_rosey_best(args, tmp, res)
    finally:
        peer.stop(timeout=10)
    if not args.skip_memory:
        say("memory: twistd with 2 channels")
        run_two_channels(args, tmp, res)
        say("memory: twistd whose channel's site refuses connections (no channel data)")
        run_no_channel(args, tmp, res)
    return res


def main(argv: Sequence[str] | None = None) -> int:
    parser = stream_parser(
        "python -m bench.e2e_bench",
        __doc__,
        timeout="bound, in seconds, on each wait (a stream, persistence)",
        runs="runs of the baseline and of rosey, alternated; each keeps its best",
        daemon_path="put DIR before the repository on twistd's PYTHONPATH (A/B runs "
        "of a change: DIR holds a modified copy of rosey/); repeatable",
    )
    parser.add_argument(
        "--skip-memory", action="store_true", help="no 2-channel and no channel-less daemon"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="cProfile the loaded twistd (reactor thread) into this file",
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        default=None,
        metavar="FILE",
        help="sample the loaded twistd with py-spy (if installed) into FILE "
        "(raw collapsed stacks) and print where its time goes",
    )
    args = parse(parser, argv, ("profile", "py_spy"))
    return procs.run_bench(
        "e2e_bench", args.keep, lambda tmp: measure(args, tmp), lambda res: report(res, args)
    )


if __name__ == "__main__":
    raise SystemExit(main())
