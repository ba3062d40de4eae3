"""The end-to-end benchmark's results: what one run measured, its verdicts, and the printed
report (:mod:`bench.e2e_bench` runs it)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import Any

from bench.e2e.cli import print_verdicts
from bench.e2e.daemon import Rows

TARGET_SHARE, STRETCH_SHARE = 0.60, 0.90
TARGET_RSS_MB, TARGET_PER_CHANNEL_MB = 80.0, 3.0


@dataclass
class Results:
    """Everything measured in one run."""

    stream: dict[str, Any] = field(default_factory=dict)
    ceiling: float = 0.0
    baselines: list[float] = field(default_factory=list)
    bare_rss: float = 0.0
    received: float = 0.0
    receiveds: list[float] = field(default_factory=list)  # every rosey run's
    received_metrics: float | None = None
    persisted: float | None = None
    rows: Rows | None = None
    dropped: int | None = None
    exit_status: int | None = None
    stop_seconds: float = 0.0
    idle_rss_1: float = 0.0
    idle_rss_2: float | None = None
    idle_rss_0: float | None = None  # the channel's site refuses connections: no channel data
    peak_rss: float = 0.0
    #: CPU µs an event from the stream's start to the peer's "done": the daemon's own
    #: process, and its child processes (the bus process), summed.
    cpu_us: float | None = None
    child_cpu_us: float | None = None
    notes: list[str] = field(default_factory=list)
    profile: list[str] = field(default_factory=list)

    @property
    def baseline(self) -> float:
        return max(self.baselines)


def every_event_persisted(res: Results) -> bool:
    """Every run persisted every chat line, join and leave of the stream, dropped nothing and
    exited 0 on SIGTERM."""
    s = res.stream
    return (
        res.rows == Rows(s["chat"], s["joins"], s["leaves"])
        and res.exit_status == 0
        and not res.dropped
        and res.persisted is not None
    )


def verdicts(res: Results) -> list[tuple[str, bool]]:
    """(line, met) for each target."""
    share = res.received / res.baseline
    s = res.stream
    rows = res.rows
    complete = (
        rows is not None
        and rows == Rows(s["chat"], s["joins"], s["leaves"])
        and res.exit_status == 0
        and not res.dropped
    )
    out = [
        (
            f"received >= {TARGET_SHARE:.0%} of baseline: {share:.0%}"
            f" (stretch {STRETCH_SHARE:.0%}: {'met' if share >= STRETCH_SHARE else 'not met'})",
            share >= TARGET_SHARE,
        ),
        (
            "every event persisted, SIGTERM exit 0: "
            + ("yes" if complete else f"no (rows {rows}, exit {res.exit_status})"),
            complete,
        ),
        (
            f"idle RSS, 1,000 users + 5,000 items < {TARGET_RSS_MB:g} MB: {res.idle_rss_1:.1f} MB",
            res.idle_rss_1 < TARGET_RSS_MB,
        ),
    ]
    if res.idle_rss_2 is not None:
        extra = res.idle_rss_2 - res.idle_rss_1
        out.append(
            (
                f"per extra channel < {TARGET_PER_CHANNEL_MB:g} MB: {extra:+.1f} MB",
                extra < TARGET_PER_CHANNEL_MB,
            )
        )
    return out


def report(res: Results, args: argparse.Namespace) -> bool:
    s, base = res.stream, res.baseline
    print(
        f"stream: {s['events']:,} events ({s['chat']:,} chat incl. the marker, "
        f"{s['joins']:,} joins, {s['leaves']:,} leaves; {s['bytes'] / 1e6:.1f} MB) after a "
        f"burst of {args.users:,} users and {args.playlist:,} playlist items"
    )
    print(f"python {sys.version.split()[0]}; every figure from the same run\n")
    print(f"{'':34}{'events/s':>12}  {'x baseline':>10}")
    lines: list[tuple[str, float | None, str]] = [
        ("peer ceiling (raw sink)", res.ceiling, ""),
        (
            "bare Autobahn client (baseline)",
            base,
            "best of " + " / ".join(f"{b:,.0f}" for b in res.baselines),
        ),
        (
            "rosey received",
            res.received,
            "best of " + " / ".join(f"{r:,.0f}" for r in res.receiveds),
        ),
        ("rosey received (/metrics, 0.5 s)", res.received_metrics, ""),
        ("rosey persisted (SQLite)", res.persisted, ""),
    ]
    for label, rate, note in lines:
        if rate is None:
            print(f"{label:34}{'-':>12}")
            continue
        print(f"{label:34}{rate:12,.0f}  {rate / base:10.2f}  {note}")
    rows = res.rows
    if rows is not None:
        print(
            f"\nSQLite after SIGTERM (exit {res.exit_status} in {res.stop_seconds:.1f} s): "
            f"{rows.chat:,}/{s['chat']:,} chat lines, {rows.joins:,}/{s['joins']:,} joins, "
            f"{rows.leaves:,}/{s['leaves']:,} leaves; recorder dropped {res.dropped}"
        )
    print(
        f"RSS: rosey idle after the burst, 1 channel {res.idle_rss_1:.1f} MB"
        + (f", 2 channels {res.idle_rss_2:.1f} MB" if res.idle_rss_2 is not None else "")
        + f"; rosey peak under load (VmHWM) {res.peak_rss:.1f} MB; "
        f"bare client peak {res.bare_rss:.1f} MB"
    )
    if res.idle_rss_0 is not None:
        print(
            f"RSS without channel data (the site refuses connections) {res.idle_rss_0:.1f} MB:"
            f" the first channel costs {res.idle_rss_1 - res.idle_rss_0:+.1f} MB"
        )
    for note in res.notes:
        print(f"note: {note}")
    if res.profile:
        print(
            "\nwhere twistd's time went under load"
            " (py-spy: samples of each thread holding the GIL):"
        )
        print("\n".join(res.profile))
    print()
    return print_verdicts(verdicts(res))
