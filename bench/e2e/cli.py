"""What the end-to-end benchmarks (e2e_bench, bus_bench, dbservice_bench) share on their command
line and in their last lines: the stream's options, the A/B and clean-up options, and the
verdicts."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from pathlib import Path


def stream_parser(
    prog: str, description: str | None, *, timeout: str, runs: str, daemon_path: str
) -> argparse.ArgumentParser:
    """A parser with the stream's options (``--events``, ``--users``, ``--playlist``), the
    bound on each wait (``--timeout``, help ``timeout``), the rounds (``--runs``, help
    ``runs``), the copies of the tree for an A/B (``--daemon-path``, help ``daemon_path``) and
    ``--keep``. Parse with :func:`parse`."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000, help="events in the stream")
    parser.add_argument("--users", type=int, default=1000, help="users in the join burst")
    parser.add_argument("--playlist", type=int, default=5000, help="playlist items in the burst")
    parser.add_argument("--timeout", type=float, default=150.0, help=timeout)
    parser.add_argument("--runs", type=int, default=2, help=runs)
    parser.add_argument(
        "--daemon-path",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help=daemon_path,
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser


def parse(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None, paths: Sequence[str] = ()
) -> argparse.Namespace:
    """``parser``'s arguments, with ``--daemon-path`` and the options named in ``paths`` (files
    or None) made absolute: the processes they are handed to run in other directories."""
    args = parser.parse_args(argv)
    args.daemon_path = [p.resolve() for p in args.daemon_path]
    for name in paths:
        if getattr(args, name) is not None:
            setattr(args, name, getattr(args, name).resolve())
    return args


def print_verdicts(verdicts: Iterable[tuple[str, bool]]) -> bool:
    """One ``target: …: OK|MISSED`` line each; True when every target is met."""
    ok = True
    for line, met in verdicts:
        print(f"target: {line}: {'OK' if met else 'MISSED'}")
        ok = ok and met
    return ok
