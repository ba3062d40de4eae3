"""The ``rosey config`` command group: ``check [--config] FILE`` and ``migrate OLD.json``.

``check`` loads the file exactly as the daemon does and prints the effective configuration
(every default filled in) with secrets masked: passwords as ``<hidden, from $VAR>``, the
database URL with its password (and any password-like query parameter) replaced by ``***``.
A broken file prints its problems on stderr (one line for one problem, else a count and one line
per problem) and exits 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from rosey.daemon.config import Config, ConfigError, Secret, load
from rosey.daemon.legacy_config import LegacyConfigError, migration


def add_config_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``config`` with its subcommands ``check`` and ``migrate``.

    Each subcommand sets ``func``: the caller runs ``sys.exit(args.func(args))``.
    """
    config = subparsers.add_parser("config", help="check or migrate a configuration file")
    commands = config.add_subparsers(dest="config_command", required=True)
    check = commands.add_parser(
        "check",
        help="validate a config file and print it with secrets masked",
        description="Load FILE as the daemon would and print the effective configuration "
        "(defaults included) with secrets masked. Exit status 1 if it is invalid.",
    )
    where = check.add_mutually_exclusive_group()
    where.add_argument("file", metavar="FILE", nargs="?", help="rosey TOML configuration")
    where.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        help="the same, as `rosey run` takes it (default: rosey.toml)",
    )
    check.set_defaults(func=run_check)
    add_migrate_parser(commands)


def run_check(args: argparse.Namespace) -> int:
    """Handle ``rosey config check``: 0 and the masked config on stdout, or 1 and every problem
    on stderr."""
    path = args.file or args.config or "rosey.toml"
    try:
        config = load(path)
    except ConfigError as e:
        sys.stderr.write(f"rosey: config error: {e}\n")
        return 1
    sys.stdout.write(f"# {path}: valid. Effective configuration, secrets masked:\n\n")
    sys.stdout.write(render(config))
    return 0


def add_migrate_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``migrate OLD.json [-o FILE] [--force]`` under ``rosey config``."""
    p = subparsers.add_parser(
        "migrate",
        help="turn a Rosey-Robot JSON config (v1 or v2) into rosey TOML",
        description="Print rosey TOML equivalent to a Rosey-Robot config.json. Passwords are "
        "not copied: the output names environment variables for them.",
    )
    p.add_argument("old", metavar="OLD.json", help="Rosey-Robot configuration file")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.set_defaults(func=run_migrate)


def run_migrate(args: argparse.Namespace) -> int:
    """Handle ``rosey config migrate``: 0, or 1 with one line on stderr."""
    try:
        with open(args.old, encoding="utf-8") as f:
            old = json.load(f)
    except OSError as e:
        return _fail(f"cannot read {args.old}: {e.strerror}")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        # JSONDecodeError's message gives only the position, never the content.
        return _fail(f"{args.old} is not JSON: {e}")
    try:
        result = migration(old)
    except LegacyConfigError as e:
        return _fail(f"cannot migrate {args.old}: {e}")
    if args.output is None:
        sys.stdout.write(result.text)
    else:
        try:
            with open(args.output, "w" if args.force else "x", encoding="utf-8") as f:
                f.write(result.text)
        except FileExistsError:
            return _fail(f"{args.output} exists; add --force to overwrite it")
        except OSError as e:
            return _fail(f"cannot write {args.output}: {e.strerror}")
        sys.stderr.write(f"rosey: wrote {args.output}\n")
    for var, what in result.secrets:
        sys.stderr.write(f"rosey: before starting, set {var} to {what}\n")
    return 0


def _fail(message: str) -> int:
    sys.stderr.write(f"rosey: {' '.join(message.splitlines())}\n")
    return 1


def render(config: Config) -> str:
    """The effective configuration as TOML-like text, secrets masked."""
    lines: list[str] = []
    for channel in config.channels:
        label = f"# shown in logs and metrics as {channel.label}"
        lines += ["[[channel]]", *_fields(channel), label, ""]
    for f in dataclasses.fields(config):
        if f.name == "channels":
            continue
        table = getattr(config, f.name)
        if table is None:  # an optional table that is absent ([bus])
            lines += [f"# [{f.name}] is not set", ""]
            continue
        said = {}
        if table is config.database and config.database.service:
            said["url"] = '# url: the database service\'s (mode = "service")'  # not the default
        lines += [f"[{f.name}]", *_fields(table, said), ""]
    return "\n".join(lines)


def _fields(obj: Any, said: dict[str, str] | None = None) -> list[str]:
    """A line per field of ``obj``; ``said``: the line of a field whose value is not shown."""
    lines = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if said and f.name in said:
            lines.append(said[f.name])
        elif value is None:
            lines.append(f"# {f.name} is not set")
        elif isinstance(value, Secret):
            lines.append(_secret(f.name, value))
        elif not f.repr:  # a secret already read (the bus's token and password)
            lines.append(f'{f.name} = "<hidden>"')
        else:
            lines.append(f"{f.name} = {_value(value)}")
    return lines


def _secret(name: str, secret: Secret) -> str:
    origin = f"  # from {secret.source}" if secret.source else ""
    if name == "url":
        from rosey.storage.engine import masked_url

        masked = masked_url(secret.value)
        if masked is not None:
            return f"{name} = {_value(masked)}{origin}"
    hidden = f"<hidden, from {secret.source}>" if secret.source else "<hidden>"
    return f"{name} = {_value(hidden)}"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return json.dumps(repr(value))
