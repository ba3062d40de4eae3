"""``rosey config migrate OLD.json``: Rosey-Robot's JSON configuration as rosey TOML.

Two shapes exist. v1 is flat (``domain``, ``channel``, ``user``, ``response_timeout``,
``restart_delay``, ``log_level``, ``chat_log_file``, ``media_log_file``, ``shell``, ``db``);
v2 (``"version": "2.0"``) nests them (``platforms[]``, ``nats``, ``database``, ``shell``,
``logging``, ``llm``, ``plugins``). ``channel`` and ``user`` are a name or ``[name, password]``.

Passwords never reach the output: the TOML names an environment variable
(``password_env = "ROSEY_PASSWORD"``) and a comment tells the operator to put the old password
there. Every key without an equivalent gets a ``# not carried over:`` comment; values are shown
only for keys known to hold no secret. The result is checked with ``config.parse`` before it is
returned, so what this module emits always loads once the variables are set.
"""

from __future__ import annotations

import json
import posixpath
import textwrap
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from shlex import quote
from typing import Any
from urllib.parse import urlsplit

from rosey.daemon.config import ConfigError, parse

PASSWORD_VAR = "ROSEY_PASSWORD"
CHANNEL_PASSWORD_VAR = "ROSEY_CHANNEL_PASSWORD"
DATABASE_FILE = "rosey.sqlite"

LOG_LEVELS = {
    "debug": "debug",
    "info": "info",
    "warn": "warn",
    "warning": "warn",
    "error": "error",
    "critical": "error",
    "fatal": "error",
}

# Why a key has no equivalent. Keys listed in _SHOWN may have their value quoted in the note.
_REASONS = {
    "response_timeout": "rosey's acknowledgement timeouts are built in",
    "restart_delay": "rosey reconnects by itself, with exponential backoff",
    "retry": "rosey retries connections by itself, with exponential backoff",
    "retry_delay": "rosey retries connections by itself, with exponential backoff",
    "shell": "Rosey-Robot's TCP shell is gone; use rosey's SSH manhole instead",
    "nats": "rosey needs no event bus: storage runs inside the daemon",
    "proxy": "rosey has no proxy setting",
    "llm": "rosey has no LLM integration",
    "llm_log_file": "rosey has no LLM integration",
    "plugins": "Rosey-Robot's plugins do not carry over; see rosey's [plugins] table",
    "run_as_service": "storage always runs inside the rosey daemon",
    "name": "rosey names each channel host/channel in logs and metrics",
}
_SHOWN = {
    "response_timeout",
    "restart_delay",
    "retry",
    "retry_delay",
    "shell",
    "run_as_service",
    "name",
    "type",
    "enabled",
    "log_level",
    "level",
}


class LegacyConfigError(ValueError):
    """The old configuration cannot be migrated; the message is one line and holds no secret."""


@dataclass(frozen=True)
class Migration:
    """The TOML text and the environment variables it expects (name, what to put there)."""

    text: str
    secrets: tuple[tuple[str, str], ...]


def migrate(old: Mapping[str, Any]) -> str:
    """rosey TOML equivalent to a parsed Rosey-Robot v1 or v2 JSON config."""
    return migration(old).text


def migration(old: Mapping[str, Any]) -> Migration:
    """Like :func:`migrate`, also naming the environment variables the operator must set."""
    if not isinstance(old, Mapping):
        raise LegacyConfigError("expected a JSON object at the top level")
    plan = _Plan()
    if _is_v2(old):
        _from_v2(old, plan)
    else:
        _from_v1(old, plan)
    text = plan.render()
    placeholders = {var: "placeholder" for var, _ in plan.secrets.listed}
    try:
        parse(tomllib.loads(text), placeholders)
    except ConfigError as e:
        raise LegacyConfigError(f"the migrated configuration would not load: {e}") from None
    return Migration(text, tuple(plan.secrets.listed))


# -- reading the old shapes -------------------------------------------------------------------


def _is_v2(old: Mapping[str, Any]) -> bool:
    version = old.get("version")
    if version is not None:
        try:
            return float(str(version).split(".")[0]) >= 2
        except ValueError:
            raise LegacyConfigError('version: expected a number such as "2.0"') from None
    return "platforms" in old


def _from_v1(old: Mapping[str, Any], plan: _Plan) -> None:
    plan.origin = "a Rosey-Robot v1 (flat) configuration"
    channel_keys = [k for k in ("response_timeout", "restart_delay") if k in old]
    plan.channels.append(_channel(old, "", plan.secrets, channel_keys))
    plan.database(old.get("db"), "db")
    plan.log_level(old.get("log_level"), "log_level")
    plan.chat_log = _optional_str(old, "chat_log_file", "")
    plan.media_log = _optional_str(old, "media_log_file", "")
    if old.get("shell"):
        plan.manhole_notes.append(_note("shell", old["shell"]))
    handled = {
        "domain",
        "channel",
        "user",
        "db",
        "log_level",
        "chat_log_file",
        "media_log_file",
        "shell",
        "response_timeout",
        "restart_delay",
    }
    plan.top_notes += [_note(k, v) for k, v in old.items() if k not in handled and _is_key(k)]


def _from_v2(old: Mapping[str, Any], plan: _Plan) -> None:
    plan.origin = f"a Rosey-Robot v{old.get('version', '2')} configuration"
    platforms = old.get("platforms")
    if not isinstance(platforms, list) or not platforms:
        raise LegacyConfigError("platforms: expected a list with at least one platform")
    for i, platform in enumerate(platforms):
        where = f"platforms[{i}]"
        if not isinstance(platform, Mapping):
            raise LegacyConfigError(f"{where}: expected an object")
        kind = platform.get("type", "cytube")
        if kind != "cytube":
            plan.top_notes.append(_note(where, kind, "rosey speaks only to CyTube", show=False))
            continue
        noted = [
            k
            for k in platform
            if k not in {"domain", "channel", "user", "type", "enabled"} and _is_key(k)
        ]
        channel = _channel(platform, where, plan.secrets, noted)
        channel.disabled = platform.get("enabled", True) is False
        plan.channels.append(channel)
    if all(ch.disabled for ch in plan.channels):
        raise LegacyConfigError("platforms: no enabled CyTube platform to migrate")

    database = old.get("database")
    if isinstance(database, Mapping):
        plan.database(database.get("path"), "database.path")
        plan.database_notes += [
            _note(f"database.{k}", v) for k, v in database.items() if k != "path" and _is_key(k)
        ]
    elif database is not None:
        plan.database_notes.append(_note("database", database, "expected an object"))

    logging = old.get("logging")
    if isinstance(logging, Mapping):
        plan.log_level(logging.get("level"), "logging.level")
        plan.chat_log = _optional_str(logging, "chat_log_file", "logging.")
        plan.media_log = _optional_str(logging, "media_log_file", "logging.")
        plan.logging_notes += [
            _note(f"logging.{k}", v)
            for k, v in logging.items()
            if k not in {"level", "chat_log_file", "media_log_file"} and _is_key(k)
        ]

    shell = old.get("shell")
    if isinstance(shell, Mapping) and shell.get("enabled", True):
        address = f"{shell.get('host', 'localhost')}:{shell.get('port', '')}"
        plan.manhole_notes.append(_note("shell", address))
    elif shell:
        plan.manhole_notes.append(_note("shell", "disabled"))

    handled = {"version", "platforms", "database", "logging", "shell"}
    plan.top_notes += [_note(k, v) for k, v in old.items() if k not in handled and _is_key(k)]


@dataclass
class _Channel:
    site: str
    name: str
    username: str | None
    password_env: str | None
    channel_password_env: str | None
    notes: list[str]
    disabled: bool = False


def _channel(raw: Mapping[str, Any], where: str, secrets: _Secrets, noted: list[str]) -> _Channel:
    """One ``[[channel]]`` from a v1 config or a v2 platform; ``noted`` keys are not carried."""
    prefix = f"{where}." if where else ""
    domain = raw.get("domain")
    if not isinstance(domain, str) or not domain.strip():
        raise LegacyConfigError(f'{prefix}domain: expected the CyTube site, e.g. "https://cytu.be"')
    site = domain.strip().rstrip("/")
    if "://" not in site:
        site = f"https://{site}"
    name, channel_password = _name_and_password(raw.get("channel"), f"{prefix}channel")
    if name is None:
        raise LegacyConfigError(f"{prefix}channel: missing; expected the channel name")
    username, password = _name_and_password(raw.get("user"), f"{prefix}user")
    password_env = None
    if password is not None:
        if username is None:
            raise LegacyConfigError(f"{prefix}user: a password without a user name")
        password_env = secrets.variable(
            PASSWORD_VAR, password, f"the password of the CyTube account {username!r}"
        )
    channel_password_env = None
    if channel_password is not None:
        channel_password_env = secrets.variable(
            CHANNEL_PASSWORD_VAR, channel_password, f"the password of the channel {name!r}"
        )
    notes = [
        _note(f"{prefix}{k}", raw[k], _NO_RECONNECT if _never_reconnects(k, raw[k]) else None)
        for k in noted
    ]
    return _Channel(site, name, username, password_env, channel_password_env, notes)


def _name_and_password(value: Any, key: str) -> tuple[str | None, str | None]:
    """A name or ``[name, password]`` (either may be null or empty). Never shows the value."""
    if value is None or isinstance(value, str):
        return value or None, None
    if isinstance(value, list) and 1 <= len(value) <= 2:
        name = value[0]
        password = value[1] if len(value) == 2 else None
        if (name is None or isinstance(name, str)) and (
            password is None or isinstance(password, str)
        ):
            return name or None, password or None
    raise LegacyConfigError(f"{key}: expected a name or [name, password]")


def _optional_str(raw: Mapping[str, Any], key: str, prefix: str) -> str | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise LegacyConfigError(f"{prefix}{key}: expected a file name")
    return value


_NO_RECONNECT = "the old bot did not reconnect; rosey always does, with exponential backoff"


def _never_reconnects(key: str, value: Any) -> bool:
    """Rosey-Robot's ``restart_delay`` of null or below zero meant "do not reconnect"."""
    return key == "restart_delay" and (
        value is None
        or (isinstance(value, int | float) and not isinstance(value, bool) and value < 0)
    )


def _is_key(key: str) -> bool:
    """Rosey-Robot's configs document themselves with ``_comment``/``_note`` keys: not settings."""
    return not key.startswith("_")


def _note(key: str, value: Any, reason: str | None = None, show: bool | None = None) -> str:
    """``# not carried over: key = value (reason)``, the value only when it cannot be a secret."""
    leaf = key.rsplit(".", 1)[-1].split("[", 1)[0]
    reason = reason or _REASONS.get(leaf, "no equivalent in rosey")
    if show is None:
        show = leaf in _SHOWN and (
            isinstance(value, int | float | bool) or (isinstance(value, str) and len(value) <= 80)
        )
    text = f"{key} = {_value(value)}" if show else key
    return _comment(f"not carried over: {text} ({reason})")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _string(value)
    return str(value)


# -- writing TOML -----------------------------------------------------------------------------


class _Secrets:
    """Environment variable names for the old passwords, one per distinct password and kind."""

    def __init__(self) -> None:
        self._by_value: dict[tuple[str, str], str] = {}
        self.listed: list[tuple[str, str]] = []

    def variable(self, base: str, password: str, what: str) -> str:
        key = (base, password)
        if key not in self._by_value:
            count = sum(1 for kind, _ in self._by_value if kind == base)
            var = base if count == 0 else f"{base}_{count + 1}"
            self._by_value[key] = var
            self.listed.append((var, what))
        return self._by_value[key]


@dataclass
class _Plan:
    origin: str = ""
    channels: list[_Channel] = field(default_factory=list)
    secrets: _Secrets = field(default_factory=_Secrets)
    database_url: str = f"sqlite:///{DATABASE_FILE}"
    database_notes: list[str] = field(default_factory=list)
    level: str = "info"
    chat_log: str | None = None
    media_log: str | None = None
    logging_notes: list[str] = field(default_factory=list)
    manhole_notes: list[str] = field(default_factory=list)
    top_notes: list[str] = field(default_factory=list)

    def database(self, path: Any, key: str) -> None:
        if path is None or path == "":
            return
        if not isinstance(path, str):
            raise LegacyConfigError(f"{key}: expected a file name")
        directory, old_name = posixpath.split(path)
        new_name = DATABASE_FILE if old_name != DATABASE_FILE else f"new-{DATABASE_FILE}"
        self.database_url = url = f"sqlite:///{posixpath.join(directory, new_name)}"
        # Rows are scoped by the channel's label, "<site host>/<name>" (ChannelConfig.label).
        channel = next(
            (f"{urlsplit(ch.site).netloc}/{ch.name}" for ch in self.channels if not ch.disabled),
            "HOST/CHANNEL",
        )
        self.database_notes.append(
            _comment(
                f"not carried over: {key} = {_string(path)} (Rosey-Robot's tables differ from "
                "rosey's, so rosey keeps its own database beside it and leaves the old file alone. "
                f"To bring the old data over: rosey db upgrade --url {quote(url)} && rosey db "
                f"import-legacy {quote(path)} --channel {quote(channel)} --url {quote(url)})"
            )
        )

    def log_level(self, value: Any, key: str) -> None:
        if value is None:
            return
        level = LOG_LEVELS.get(str(value).lower())
        if level is None:
            self.logging_notes.append(_note(key, value, "not a level rosey knows"))
        else:
            self.level = level

    def render(self) -> str:
        out = [
            _comment(
                f"rosey configuration, migrated by `rosey config migrate` from {self.origin}."
                " Review it, then validate it with: rosey config check THIS_FILE"
            ),
        ]
        if self.secrets.listed:
            out += [
                "#",
                "# Passwords are not kept in this file. Before starting rosey, put each old",
                "# password into its environment variable (for systemd: an EnvironmentFile=",
                "# readable only by rosey, or LoadCredential= with password_file instead):",
            ]
            out += [_comment(f"  {var}: {what}") for var, what in self.secrets.listed]
        if self.top_notes:
            out.append("#")
            out += self.top_notes
        for ch in self.channels:
            out += ["", *self._channel(ch)]
        out += ["", "[database]", *self.database_notes, f"url = {_string(self.database_url)}"]
        out += ["", "[bot]", 'command_prefix = "!"']
        out += [
            "",
            "[manhole]",
            *self.manhole_notes,
            "enabled = false",
            'listen = "tcp:2222:interface=127.0.0.1"',
            '# authorized_keys = "/etc/rosey/authorized_keys"',
            '# host_key = "/var/lib/rosey/ssh_host_ed25519_key"',
        ]
        out += ["", "[metrics]", "enabled = false", 'listen = "tcp:9100:interface=127.0.0.1"']
        out += [
            "",
            "[logging]",
            *self.logging_notes,
            f"level = {_string(self.level)}",
            'format = "text"',
        ]
        if self.chat_log:
            out.append(f"chat_log = {_string(self.chat_log)}")
        if self.media_log:
            out.append(f"media_log = {_string(self.media_log)}")
        return "\n".join(out) + "\n"

    @staticmethod
    def _channel(ch: _Channel) -> list[str]:
        settings = ["[[channel]]", f"site = {_string(ch.site)}", f"name = {_string(ch.name)}"]
        if ch.username is not None:
            settings.append(f"username = {_string(ch.username)}")
        if ch.disabled:
            if ch.password_env is not None:
                settings.append(f"password_env = {_string(ch.password_env)}")
            if ch.channel_password_env is not None:
                settings.append(f"channel_password_env = {_string(ch.channel_password_env)}")
            return [
                *ch.notes,
                "# This platform was disabled (enabled = false); uncomment to use it:",
                *(f"# {line}" for line in settings),
            ]
        lines = settings
        if ch.password_env is not None:
            lines += [
                "# The old config held this account's password. Put it into the environment",
                f"# variable {ch.password_env}, or into a file only rosey can read and use",
                '# password_file = "/path/to/file" instead of the next line.',
                f"password_env = {_string(ch.password_env)}",
            ]
        if ch.channel_password_env is not None:
            lines += [
                "# The old config held this channel's password: put it into the environment",
                f"# variable {ch.channel_password_env} (or use channel_password_file).",
                f"channel_password_env = {_string(ch.channel_password_env)}",
            ]
        return lines + ch.notes


def _string(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's, except that DEL must be escaped too)."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _comment(text: str) -> str:
    """Comment lines of at most 100 characters, whatever control characters ``text`` holds."""
    safe = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    lines = textwrap.wrap(safe, width=98, subsequent_indent="  ", break_on_hyphens=False)
    return "\n".join(f"# {line}" for line in lines or [""])
