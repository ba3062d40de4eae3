"""What the end-to-end benchmarks (e2e_bench, bus_bench, dbservice_bench) share on their command
line and in their last lines: the stream's options, and the verdicts."""

from __future__ import annotations

import argparse
from collections.abc import Iterable


def stream_parser(
    prog: str, description: str | None, *, timeout: str, runs: str
) -> argparse.ArgumentParser:
    """A parser with the stream's options (``--events``, ``--users``, ``--playlist``), the
    bound on each wait (``--timeout``, help ``timeout``) and the rounds (``--runs``, help
    ``runs``)."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000, help="events in the stream")
    parser.add_argument("--users", type=int, default=1000, help="users in the join burst")
    parser.add_argument("--playlist", type=int, default=5000, help="playlist items in the burst")
    parser.add_argument("--timeout", type=float, default=150.0, help=timeout)
    parser.add_argument("--runs", type=int, default=2, help=runs)
    return parser


def print_verdicts(verdicts: Iterable[tuple[str, bool]]) -> bool:
    """One ``target: …: OK|MISSED`` line each; True when every target is met."""
    ok = True
    for line, met in verdicts:
        print(f"target: {line}: {'OK' if met else 'MISSED'}")
        ok = ok and met
    return ok
