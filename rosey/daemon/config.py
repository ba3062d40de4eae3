"""rosey's TOML configuration, validated into frozen dataclasses.

Every error names the key path, the bad value and what is expected (``ConfigError``). Secrets
(account and channel passwords, a database URL with a password) come from an environment
variable (``*_env``), a file (``*_file``) or systemd credentials (``$CREDENTIALS_DIRECTORY``) and
are held in :class:`Secret`, whose ``repr`` never shows the value.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rosey.daemon.plugin_config import PluginsConfig, resolve_plugins
from rosey.daemon.plugins import Discovery

CHANNEL_NAME = re.compile(r"^[\w-]{1,30}$")
LOG_LEVELS = ("debug", "info", "warn", "error")
LOG_FORMATS = ("text", "json")


class ConfigError(ValueError):
    """The configuration is invalid; the message says where and what is expected."""


@dataclass(frozen=True)
class Secret:
    """A secret value that never shows itself in logs, reprs or ``config check`` output."""

    value: str = field(repr=False)
    source: str = ""

    def __repr__(self) -> str:
        return f"Secret(<hidden>, from {self.source})" if self.source else "Secret(<hidden>)"

    __str__ = __repr__


@dataclass(frozen=True)
class ChannelConfig:
    """One ``[[channel]]`` table."""

    site: str
    name: str
    username: str | None = None
    password: Secret | None = None
    channel_password: Secret | None = None
    eio: int = 4
    #: Plugins enabled here on top of ``[plugins] enable`` (and the plugins' defaults).
    enable_plugins: tuple[str, ...] = ()
    #: Plugins not run here.
    disable_plugins: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """``host/channel``: how logs and metrics name this channel."""
        return f"{urlsplit(self.site).netloc}/{self.name}"


@dataclass(frozen=True)
class RetentionConfig:
    """``[database.retention]``: how many days of each kind of history to keep (0: forever).

    The defaults keep a year of what people said and did, which is what an operator expects
    of a chat log, and what the moderation log (``!modlog``: the actions) and the greetings
    ("welcome back" after days away: the last leave action) look back on. User counts (one
    snapshot per channel every five minutes) and what played are kept as long, so graphs and
    "recently played" rules compare like with like. A delivered ``!tell`` has done its job: it
    goes after a month (long enough for a moderator to look into abuse); one never delivered
    is kept, still waiting. Expired plugin values always go. ``batch_size`` rows go per
    transaction, so the bot's own writes slip in between.
    """

    chat_days: int = 365
    actions_days: int = 365
    user_count_days: int = 365
    media_days: int = 365
    outbound_days: int = 30
    batch_size: int = 500

    def policy(self) -> dict[str, float]:
        """Days to keep per history table, as ``IStorage.prune`` takes them."""
        return {
            "chat_messages": self.chat_days,
            "user_actions": self.actions_days,
            "user_count_history": self.user_count_days,
            "media_history": self.media_days,
            "outbound_messages": self.outbound_days,
        }


@dataclass(frozen=True)
class DatabaseConfig:
    url: Secret = field(default_factory=lambda: Secret("sqlite:///rosey.sqlite", "default"))
    retention: RetentionConfig = field(default_factory=RetentionConfig)


@dataclass(frozen=True)
class BotConfig:
    command_prefix: str = "!"


@dataclass(frozen=True)
class ListenerConfig:
    enabled: bool = False
    listen: str = ""


@dataclass(frozen=True)
class ManholeConfig(ListenerConfig):
    authorized_keys: str | None = None
    host_key: str | None = None


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "info"
    format: str = "text"
    chat_log: str | None = None
    media_log: str | None = None


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    channels: tuple[ChannelConfig, ...]
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    bot: BotConfig = field(default_factory=BotConfig)
    manhole: ManholeConfig = field(
        default_factory=lambda: ManholeConfig(listen="tcp:2222:interface=127.0.0.1")
    )
    metrics: ListenerConfig = field(
        default_factory=lambda: ListenerConfig(listen="tcp:9100:interface=127.0.0.1")
    )
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    plugins: PluginsConfig = field(default_factory=PluginsConfig)


def load(
    path: str | os.PathLike[str],
    environ: Mapping[str, str] | None = None,
    *,
    plugins: Discovery | None = None,
) -> Config:
    """Read and validate a TOML file. Raises :class:`ConfigError`.

    The plugins are discovered (importing their modules) unless ``plugins`` is given."""
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"cannot read config file {os.fspath(path)!r}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{os.fspath(path)}: not valid TOML: {e}") from None
    return parse(raw, os.environ if environ is None else environ, plugins=plugins)


def parse(
    raw: Mapping[str, Any], environ: Mapping[str, str], *, plugins: Discovery | None = None
) -> Config:
    """Validate an already-parsed TOML document (discovering plugins unless given)."""
    r = _Reader(raw, "", environ)
    r.only("channel", "database", "bot", "manhole", "metrics", "logging", "plugins")
    tables = raw.get("channel")
    if not isinstance(tables, list) or not tables:
        raise ConfigError("channel: expected at least one [[channel]] table")
    channels = tuple(_channel(_Reader(t, f"channel[{i}]", environ)) for i, t in enumerate(tables))
    seen: set[tuple[str, str]] = set()
    for i, ch in enumerate(channels):
        key = (ch.site, ch.name.lower())
        if key in seen:
            raise ConfigError(f"channel[{i}]: {ch.site} {ch.name!r} is configured twice")
        seen.add(key)

    db = r.table("database")
    url = db.secret("url") or Secret("sqlite:///rosey.sqlite", "default")
    bot = r.table("bot")
    prefix = bot.string("command_prefix", "!")
    if not prefix or len(prefix) > 3 or prefix.isspace():
        raise ConfigError(f"bot.command_prefix: {prefix!r} is not 1-3 non-blank characters")
    mh = r.table("manhole")
    mh.only("enabled", "listen", "authorized_keys", "host_key")
    r.table("metrics").only("enabled", "listen")
    r.table("logging").only("level", "format", "chat_log", "media_log")
    r.table("bot").only("command_prefix")
    db.only("url", "url_env", "url_file", "retention")
    mt = r.table("metrics")
    lg = r.table("logging")
    if mh.boolean("enabled", False):
        for needed in ("authorized_keys", "host_key"):
            if mh.optional_string(needed) is None:
                raise ConfigError(f"manhole.{needed}: required when manhole.enabled = true")
    for table in (mh, mt):
        _check_listen(table)
    level = lg.choice("level", "info", LOG_LEVELS)
    fmt = lg.choice("format", "text", LOG_FORMATS)
    plugins_config = _plugins(r.table("plugins"), channels, plugins)
    return Config(
        channels=channels,
        database=DatabaseConfig(url=url, retention=_retention(db.table("retention"))),
        bot=BotConfig(command_prefix=prefix),
        manhole=ManholeConfig(
            enabled=mh.boolean("enabled", False),
            listen=mh.string("listen", "tcp:2222:interface=127.0.0.1"),
            authorized_keys=mh.optional_string("authorized_keys"),
            host_key=mh.optional_string("host_key"),
        ),
        metrics=ListenerConfig(
            enabled=mt.boolean("enabled", False),
            listen=mt.string("listen", "tcp:9100:interface=127.0.0.1"),
        ),
        logging=LoggingConfig(
            level=level,
            format=fmt,
            chat_log=lg.optional_string("chat_log"),
            media_log=lg.optional_string("media_log"),
        ),
        plugins=plugins_config,
    )


def _channel(r: _Reader) -> ChannelConfig:
    r.only(
        "site",
        "name",
        "username",
        "eio",
        "password",
        "channel_password",
        "password_env",
        "password_file",
        "channel_password_env",
        "channel_password_file",
        "enable_plugins",
        "disable_plugins",
    )
    site = r.string("site", None).rstrip("/")
    parts = urlsplit(site)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{r.path}.site: {site!r} is not an http(s):// URL")
    name = r.string("name", None)
    if not CHANNEL_NAME.match(name):
        raise ConfigError(
            f"{r.path}.name: {name!r} is not a CyTube channel name ([A-Za-z0-9_-], 1-30)"
        )
    username = r.optional_string("username")
    password = r.secret("password")
    if password is not None and username is None:
        raise ConfigError(f"{r.path}: a password is configured but no username")
    eio = r.integer("eio", 4)
    if eio not in (3, 4):
        raise ConfigError(f"{r.path}.eio: {eio} is not 3 or 4")
    return ChannelConfig(
        site,
        name,
        username,
        password,
        r.secret("channel_password"),
        eio,
        enable_plugins=r.strings("enable_plugins"),
        disable_plugins=r.strings("disable_plugins"),
    )


def _retention(r: _Reader) -> RetentionConfig:
    days = ("chat_days", "actions_days", "user_count_days", "media_days", "outbound_days")
    r.only(*days, "batch_size")
    default = RetentionConfig()
    kept = {name: r.integer(name, getattr(default, name)) for name in days}
    for name, value in kept.items():
        if value < 0:
            raise ConfigError(f"{r.key(name)}: {value} is negative (0 keeps everything)")
    batch = r.integer("batch_size", default.batch_size)
    if not 1 <= batch <= 100_000:
        raise ConfigError(f"{r.key('batch_size')}: {batch} is not between 1 and 100000")
    return RetentionConfig(**kept, batch_size=batch)


def _plugins(
    r: _Reader, channels: tuple[ChannelConfig, ...], found: Discovery | None
) -> PluginsConfig:
    try:
        return resolve_plugins(r.raw, channels, found)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def _check_listen(r: _Reader) -> None:
    """A Twisted server endpoint description such as ``tcp:2222:interface=127.0.0.1``."""
    listen = r.string("listen", "tcp:0")
    kind, _, rest = listen.partition(":")
    if kind not in ("tcp", "tcp6", "unix", "ssl") or not rest:
        raise ConfigError(
            f"{r.key('listen')}: {listen!r} is not an endpoint like 'tcp:2222:interface=127.0.0.1'"
        )


class _Reader:
    """Typed access to one TOML table, producing errors with key paths."""

    def __init__(self, raw: Any, path: str, environ: Mapping[str, str]) -> None:
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{path or '<top>'}: expected a table, got {type(raw).__name__}")
        self.raw, self.path, self.environ = raw, path, environ

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def only(self, *allowed: str) -> None:
        for k in self.raw:
            if k not in allowed:
                expected = ", ".join(allowed)
                raise ConfigError(f"{self.key(k)}: unknown key (expected one of {expected})")

    def table(self, name: str) -> _Reader:
        return _Reader(self.raw.get(name, {}), self.key(name), self.environ)

    def _get(self, name: str, kind: type | tuple[type, ...], what: str, default: Any) -> Any:
        if name not in self.raw:
            if default is None:
                raise ConfigError(f"{self.key(name)}: missing; expected {what}")
            return default
        value = self.raw[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"{self.key(name)}: {value!r} is not {what}")
        return value

    def string(self, name: str, default: str | None) -> str:
        value: str = self._get(name, str, "a string", default)
        return value

    def optional_string(self, name: str) -> str | None:
        return self.string(name, "") or None

    def integer(self, name: str, default: int) -> int:
        value: int = self._get(name, int, "an integer", default)
        return value

    def strings(self, name: str) -> tuple[str, ...]:
        """A list of strings (empty when absent)."""
        value = self._get(name, list, "a list of strings", [])
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise ConfigError(f"{self.key(name)}[{i}]: {item!r} is not a string")
        return tuple(value)

    def boolean(self, name: str, default: bool) -> bool:
        value: bool = self._get(name, bool, "true or false", default)
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.string(name, default)
        if value not in choices:
            raise ConfigError(f"{self.key(name)}: {value!r} is not one of {', '.join(choices)}")
        return value

    def secret(self, name: str) -> Secret | None:
        """``name`` itself (allowed only for the database URL), ``name_env`` or ``name_file``."""
        sources = [k for k in (name, f"{name}_env", f"{name}_file") if k in self.raw]
        if len(sources) > 1:
            raise ConfigError(f"{self.path}: set only one of {', '.join(map(self.key, sources))}")
        if not sources:
            return None
        key = sources[0]
        ref = self.string(key, None)
        if key == name:
            if name != "url":
                raise ConfigError(
                    f"{self.key(name)}: secrets are not written in the config; "
                    f"use {name}_env or {name}_file"
                )
            return Secret(ref, "config")
        if key.endswith("_env"):
            if ref not in self.environ:
                raise ConfigError(f"{self.key(key)}: environment variable {ref!r} is not set")
            return Secret(self.environ[ref], f"${ref}")
        return Secret(_read_secret_file(ref, self.key(key), self.environ), ref)


def _read_secret_file(ref: str, key: str, environ: Mapping[str, str]) -> str:
    path = Path(ref)
    creds = environ.get("CREDENTIALS_DIRECTORY")
    if not path.is_absolute() and creds:
        path = Path(creds) / ref  # systemd LoadCredential= names
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as e:
        raise ConfigError(f"{key}: cannot read secret file {str(path)!r}: {e.strerror}") from None
