"""``rosey config check FILE`` and the ``rosey config`` command group.

``check`` loads the file exactly as the daemon does and prints the effective configuration
(every default filled in) with secrets masked: passwords as ``<hidden, from $VAR>``, the
database URL with its password (and any password-like query parameter) replaced by ``***``.
A broken file prints one line on stderr and exits 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from rosey.daemon.config import Config, ConfigError, Secret, load
from rosey.daemon.migrate_config import add_migrate_parser

_SECRET_QUERY_WORDS = ("pass", "secret", "token", "key")


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
    check.add_argument("file", metavar="FILE", help="rosey TOML configuration")
    check.set_defaults(func=run_check)
    add_migrate_parser(commands)


def run_check(args: argparse.Namespace) -> int:
    """Handle ``rosey config check``: 0 and the masked config on stdout, or 1 and one line."""
    try:
        config = load(args.file)
    except ConfigError as e:
        message = " ".join(str(e).splitlines())
        sys.stderr.write(f"rosey: config error: {message}\n")
        return 1
    sys.stdout.write(f"# {args.file}: valid. Effective configuration, secrets masked:\n\n")
    sys.stdout.write(render(config))
    return 0


def render(config: Config) -> str:
    """The effective configuration as TOML-like text, secrets masked."""
    lines: list[str] = []
    for channel in config.channels:
        label = f"# shown in logs and metrics as {channel.label}"
        lines += ["[[channel]]", *_fields(channel), label, ""]
    for f in dataclasses.fields(config):
        if f.name == "channels":
            continue
        lines += [f"[{f.name}]", *_fields(getattr(config, f.name)), ""]
    return "\n".join(lines)


def _fields(obj: Any) -> list[str]:
    lines = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if value is None:
            lines.append(f"# {f.name} is not set")
        elif isinstance(value, Secret):
            lines.append(_secret(f.name, value))
        else:
            lines.append(f"{f.name} = {_value(value)}")
    return lines


def _secret(name: str, secret: Secret) -> str:
    origin = f"  # from {secret.source}" if secret.source else ""
    if name == "url":
        masked = _masked_url(secret.value)
        if masked is not None:
            return f"{name} = {_value(masked)}{origin}"
    hidden = f"<hidden, from {secret.source}>" if secret.source else "<hidden>"
    return f"{name} = {_value(hidden)}"


def _masked_url(url: str) -> str | None:
    """A database URL without its secrets, or None if it does not parse as one."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None
    secret_keys = [k for k in parsed.query if any(w in k.lower() for w in _SECRET_QUERY_WORDS)]
    if secret_keys:
        parsed = parsed.update_query_dict(dict.fromkeys(secret_keys, "***"))
    masked: str = parsed.render_as_string(hide_password=True)
    return masked.replace("%2A%2A%2A", "***")


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
