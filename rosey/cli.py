"""The ``rosey`` command: operator subcommands.

- ``rosey run --config FILE``: the same as ``twistd --nodaemon --pidfile= rosey --config FILE``
  (with ``--reactor=asyncio`` when the file has a ``[bus]`` table: nats-py is asyncio).
- ``rosey db serve --config FILE``: the database service in the foreground, the same as
  ``twistd --reactor=asyncio --nodaemon --pidfile= rosey-db --config FILE`` (docs/dbservice.md).
- ``rosey db upgrade|downgrade REV|current|history|prune|import-legacy … [--url URL | --config
  FILE]``: the database (with ``--config``, ``upgrade`` also migrates the enabled plugins and
  ``prune`` follows ``[database.retention]``; without, ``prune`` keeps rosey's defaults).
- ``rosey config check [--config] FILE`` / ``rosey config migrate OLD.json``: the configuration.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rosey.version import version_line

if TYPE_CHECKING:
    from rosey.daemon.config import RetentionConfig


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    from rosey.storage.cli import add_db_parser

    parser = argparse.ArgumentParser(prog="rosey", description="rosey, a CyTube chat bot daemon")
    parser.add_argument("--version", action="version", version=version_line())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = sub.add_parser("run", help="run the daemon in the foreground (twistd -n rosey)")
    run.add_argument("--config", "-c", default="rosey.toml", help="the TOML configuration")
    run.set_defaults(func=_run)
    add_db_parser(sub).set_defaults(func=_db)
    try:
        from rosey.daemon.check import add_config_parser
    except ImportError:  # pragma: no cover - while the config commands are not installed
        pass
    else:
        add_config_parser(sub)
    return parser


def twistd_argv(twistd: Path, config: str) -> list[str]:
    """The ``twistd`` command line for ``rosey run``: the asyncio reactor when the
    configuration has a ``[bus]`` table. A file that cannot be read or parsed gets the default
    reactor, and twistd's ``rosey`` reports the problem."""
    import tomllib

    try:
        with open(config, "rb") as f:
            bus = "bus" in tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError):
        bus = False
    reactor = ["--reactor=asyncio"] if bus else []
    return [str(twistd), *reactor, "--nodaemon", "--pidfile=", "rosey", "--config", config]


def db_serve_argv(twistd: Path, config: str) -> list[str]:
    """The ``twistd`` command line for ``rosey db serve`` (nats-py is asyncio)."""
    return [
        str(twistd),
        "--reactor=asyncio",
        "--nodaemon",
        "--pidfile=",
        "rosey-db",
        "--config",
        config,
    ]


def _run(args: argparse.Namespace) -> int:
    return _exec_twistd("rosey run", twistd_argv(_twistd(), args.config))


def _twistd() -> Path:
    return Path(sys.executable).with_name("twistd")


def _exec_twistd(what: str, argv: list[str]) -> int:
    twistd, command = Path(argv[0]), argv[argv.index("--pidfile=") + 1]
    try:
        os.execv(argv[0], argv)  # replaces this process: signals reach twistd directly
    except OSError as e:
        sys.stderr.write(
            f"{what}: cannot start {twistd}: {e.strerror}; install rosey (and Twisted) into "
            f"the environment of {sys.executable}, or run `twistd -n {command} --config FILE`\n"
        )
    return 1


def _db(args: argparse.Namespace) -> int:
    """``rosey db …``; with ``--config``, the database (and, for ``upgrade`` to the head, the
    enabled plugins' migrations) come from the daemon's configuration, whose chat passwords are
    not read (a shell that runs database commands need not hold them)."""
    from rosey.daemon.config import RetentionConfig
    from rosey.storage.cli import run_db_command

    if args.db_command == "serve":
        return _exec_twistd("rosey db serve", db_serve_argv(_twistd(), args.config))
    if not getattr(args, "config", None):
        _retention(args, RetentionConfig())
        return run_db_command(args)
    from rosey.daemon.config import ConfigError, load

    try:
        config = load(args.config, channel_secrets=False)
    except ConfigError as e:
        sys.stderr.write(f"rosey db {args.db_command}: config error: {e}\n")
        return 1
    if config.database.service:
        sys.stderr.write(
            f"rosey db {args.db_command}: {args.config} has no database of its own "
            '([database] mode = "service"): give the database service\'s configuration, '
            "the one `rosey db serve` reads, or --url\n"
        )
        return 1
    args.url = config.database.url.value
    _retention(args, config.database.retention)
    status = run_db_command(args)
    if status != 0 or args.db_command != "upgrade" or args.revision != "head":
        return status
    return _upgrade_plugins(config)


def _retention(args: argparse.Namespace, kept: RetentionConfig) -> None:
    """``db prune`` takes its policy from the daemon's configuration (a RetentionConfig)."""
    if args.db_command == "prune":
        args.policy = kept.policy()
        args.default_batch_size = kept.batch_size


def _upgrade_plugins(config: Any) -> int:
    from rosey.daemon.assemble import plugin_migration_folders
    from rosey.daemon.plugin_schema import upgrade_plugins
    from rosey.storage import StorageError

    folders = plugin_migration_folders(config)
    if not folders:
        return 0
    try:
        done = upgrade_plugins(config.database.url.value, folders)
    except StorageError as e:
        sys.stderr.write(f"rosey db upgrade: error: {e}\n")
        return 1
    for name, (before, after) in done.items():
        moved = f"{before or '<base>'} -> {after}" if before != after else f"already at {after}"
        sys.stdout.write(f"plugin {name}: {moved}\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rosey`` console script."""
    args = build_parser().parse_args(argv)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
