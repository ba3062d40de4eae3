"""The ``rosey`` command: operator subcommands.

- ``rosey run --config FILE``: the same as ``twistd --nodaemon --pidfile= rosey --config FILE``.
- ``rosey db upgrade|downgrade REV|current|history|import-legacy …``: the database.
- ``rosey config check FILE`` / ``rosey config migrate OLD.json``: the configuration.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    from rosey.storage.cli import add_db_parser

    parser = argparse.ArgumentParser(prog="rosey", description="rosey, a CyTube chat bot daemon")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = sub.add_parser("run", help="run the daemon in the foreground (twistd -n rosey)")
    run.add_argument("--config", "-c", default="rosey.toml", help="the TOML configuration")
    run.set_defaults(func=_run)
    add_db_parser(sub)
    try:
        from rosey.daemon.check import add_config_parser
    except ImportError:  # pragma: no cover - while the config commands are not installed
        pass
    else:
        add_config_parser(sub)
    return parser


def _run(args: argparse.Namespace) -> int:
    twistd = Path(sys.executable).with_name("twistd")
    argv = [str(twistd), "--nodaemon", "--pidfile=", "rosey", "--config", args.config]
    os.execv(argv[0], argv)  # replaces this process: signals reach twistd directly
    return 1  # pragma: no cover


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rosey`` console script."""
    args = build_parser().parse_args(argv)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
