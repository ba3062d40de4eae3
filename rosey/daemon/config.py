"""rosey's TOML configuration, validated into frozen dataclasses.

Every error names the key path, the bad value and what is expected; one run reports every error
of a file in one :class:`ConfigError` (:mod:`rosey.daemon.config_reader`). Secrets (account and
channel passwords, a database URL with a password) come from an environment variable
(``*_env``), a file (``*_file``) or systemd credentials (``$CREDENTIALS_DIRECTORY``) and are held
in :class:`Secret`, whose ``repr`` never shows the value.

A new key is one read in :func:`parse` (``r.table("logging").string("key", default)``): a key
no reader asked for is reported as unknown.
"""

from __future__ import annotations

import importlib.util
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from rosey.bus.settings import BusSettings
from rosey.daemon import logpaths
from rosey.daemon.config_reader import ConfigError as ConfigError  # re-exported
from rosey.daemon.config_reader import Problems, Reader
from rosey.daemon.config_reader import Secret as Secret  # re-exported
from rosey.daemon.plugin_config import PluginsConfig as PluginsConfig  # re-exported
from rosey.daemon.plugin_config import PluginsError, resolve_plugins
from rosey.daemon.plugin_discovery import Discovery
from rosey.dbbus.settings import DbServiceSettings
from rosey.interfaces import channel_label

CHANNEL_NAME = re.compile(r"^[\w-]{1,30}$")
LOG_LEVELS = ("debug", "info", "warn", "error")
LOG_FORMATS = ("text", "json")
#: The database URL schemes rosey works with (``postgres``/``postgresql`` mean psycopg 3).
DATABASE_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgresql", "postgres", "postgresql+psycopg")


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
        """``host/channel``: how logs and metrics name this channel, and the key its rows are
        scoped by in storage (:func:`rosey.interfaces.channel_label`)."""
        return channel_label(self.site, self.name)


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
    #: The database service's ids of the bus events it wrote (rosey.dbbus): kept longer than
    #: the stream keeps events (``[bus] max_age_days``), so no event the stream still holds can
    #: be written twice. Not part of :meth:`policy`: the service prunes them itself.
    bus_events_days: int = 31
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


#: ``[database] mode``: the bot's own database, or the database service over the bus.
DATABASE_MODES = ("local", "service")


@dataclass(frozen=True)
class DatabaseConfig:
    url: Secret = field(default_factory=lambda: Secret("sqlite:///rosey.sqlite", "default"))
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    #: ``"service"``: storage is the database service, asked over ``[bus]`` (rosey.dbbus).
    mode: str = "local"
    #: Seconds a request to the database service waits (mode ``"service"``).
    request_timeout: float = 1.5

    @property
    def service(self) -> bool:
        """True when the database is the database service on the bus."""
        return self.mode == "service"


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
class WebConfig(ListenerConfig):
    """``[web]``: the status page (docs/web.md); ``token`` lets ``POST …/say`` speak."""

    token: Secret | None = None


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
    #: ``[bus]``: every event on a NATS bus (docs/bus.md); None when the table is absent.
    bus: BusSettings | None = None
    #: ``[web]``: the status page (docs/web.md).
    web: WebConfig = field(default_factory=lambda: WebConfig(listen="tcp:8080:interface=127.0.0.1"))
    #: ``[dbservice]``: the database service (``rosey db serve``, docs/dbservice.md).
    dbservice: DbServiceSettings = field(default_factory=DbServiceSettings)


def load(
    path: str | os.PathLike[str],
    environ: Mapping[str, str] | None = None,
    *,
    plugins: Discovery | None = None,
    channel_secrets: bool = True,
    channels_required: bool = True,
) -> Config:
    """Read and validate a TOML file. Raises :class:`ConfigError` listing every problem.

    The plugins are discovered (importing their modules) unless ``plugins`` is given. With
    ``channel_secrets=False`` the channels' password keys are checked but not read (their
    passwords are None): the database commands need no chat password. With
    ``channels_required=False`` a file without ``[[channel]]`` is valid (the database
    service's)."""
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"cannot read config file {os.fspath(path)!r}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{os.fspath(path)}: not valid TOML: {e}") from None
    environ = os.environ if environ is None else environ
    return parse(
        raw,
        environ,
        plugins=plugins,
        channel_secrets=channel_secrets,
        channels_required=channels_required,
    )


def parse(
    raw: Mapping[str, Any],
    environ: Mapping[str, str],
    *,
    plugins: Discovery | None = None,
    channel_secrets: bool = True,
    channels_required: bool = True,
) -> Config:
    """Validate an already-parsed TOML document (discovering plugins unless given)."""
    problems = Problems(environ)
    r = Reader(raw, "", problems)
    channels = _channels(r, channel_secrets, channels_required)
    config = Config(
        channels=channels,
        database=_database(r.table("database"), bus="bus" in r.raw),
        bot=_bot(r.table("bot")),
        manhole=_manhole(r.table("manhole")),
        metrics=ListenerConfig(
            enabled=r.table("metrics").boolean("enabled", False),
            listen=_listen(r.table("metrics"), "tcp:9100:interface=127.0.0.1"),
        ),
        logging=_logging(r.table("logging")),
        plugins=_plugins(r, channels, plugins),
        bus=_bus(r),
        web=_web(r.table("web")),
        dbservice=_dbservice(r.table("dbservice")),
    )
    problems.check_unknown_keys()
    problems.raise_if_any()
    return config


def _channels(r: Reader, channel_secrets: bool, required: bool) -> tuple[ChannelConfig, ...]:
    r.known("channel")
    tables = r.raw.get("channel")
    if not required and tables is None:
        return ()
    if not isinstance(tables, list) or not tables:
        r.error("channel", "expected at least one [[channel]] table")
        return ()
    channels = tuple(
        _channel(Reader(t, f"channel[{i}]", r.problems), channel_secrets)
        for i, t in enumerate(tables)
    )
    seen: set[tuple[str, str]] = set()
    for i, ch in enumerate(channels):
        key = (ch.site, ch.name.lower())
        if key in seen:
            r.error(f"channel[{i}].name", f"{ch.site} {ch.name!r} is configured twice")
        seen.add(key)
    return channels


def _channel(r: Reader, channel_secrets: bool) -> ChannelConfig:
    site = r.string("site", None).rstrip("/")
    if not r.failed("site") and not _is_http_url(site):
        r.error("site", f"{site!r} is not an http(s):// URL")
    name = r.string("name", None)
    if not r.failed("name") and not CHANNEL_NAME.match(name):
        r.error("name", f"{name!r} is not a CyTube channel name ([A-Za-z0-9_-], 1-30)")
    username = r.optional_string("username")
    password = r.secret("password", resolve=channel_secrets)
    has_password = any(k in r.raw for k in ("password_env", "password_file"))
    if has_password and username is None and not r.failed("username"):
        r.error("username", "missing; a password is configured but no username")
    eio = r.integer("eio", 4)
    if eio not in (3, 4):
        r.error("eio", f"{eio} is not 3 or 4")
    return ChannelConfig(
        site,
        name,
        username,
        password,
        r.secret("channel_password", resolve=channel_secrets),
        eio,
        enable_plugins=r.strings("enable_plugins"),
        disable_plugins=r.strings("disable_plugins"),
    )


def _is_http_url(site: str) -> bool:
    try:
        parts = urlsplit(site)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _database(r: Reader, *, bus: bool) -> DatabaseConfig:
    retention = _retention(r.table("retention"))
    mode = r.choice("mode", "local", DATABASE_MODES)
    timeout = r.number("request_timeout", DatabaseConfig.request_timeout)
    if not 0 < timeout <= 60:
        r.error("request_timeout", f"{timeout:g} is not between 0 and 60 seconds")
    url = r.secret("url", inline=True)
    if mode == "service":
        if not bus:
            r.error("mode", '"service" needs a [bus] table (the database service is on the bus)')
        if url is not None:
            r.error("url", 'not with mode = "service" (the database service has the URL)')
        return DatabaseConfig(retention=retention, mode=mode, request_timeout=timeout)
    if url is None:
        return DatabaseConfig(retention=retention, request_timeout=timeout)
    scheme, sep, _ = url.value.partition("://")
    # The URL itself may hold a password: messages name its scheme at most.
    if not sep or not re.fullmatch(r"[A-Za-z][\w+.-]*", scheme):
        r.error("url", f"not a database URL such as sqlite:///rosey.sqlite (from {url.source})")
    elif scheme.lower() not in DATABASE_SCHEMES:
        r.error(
            "url",
            f"{scheme}:// is not supported (from {url.source}); rosey works with sqlite:// "
            "and postgresql:// (postgresql+psycopg://)",
        )
    elif scheme.lower().startswith("postgres") and not _installed("psycopg"):
        r.error(
            "url",
            "PostgreSQL needs the psycopg driver, which is not installed: "
            "pip install 'rosey[postgresql]'",
        )
    return DatabaseConfig(url=url, retention=retention, request_timeout=timeout)


def _retention(r: Reader) -> RetentionConfig:
    default = RetentionConfig()
    days = (
        "chat_days",
        "actions_days",
        "user_count_days",
        "media_days",
        "outbound_days",
        "bus_events_days",
    )
    kept = {name: r.integer(name, getattr(default, name)) for name in days}
    for name, value in kept.items():
        if value < 0:
            r.error(name, f"{value} is negative (0 keeps everything)")
    batch = r.integer("batch_size", default.batch_size)
    if not 1 <= batch <= 100_000:
        r.error("batch_size", f"{batch} is not between 1 and 100000")
    return RetentionConfig(**kept, batch_size=batch)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _bot(r: Reader) -> BotConfig:
    prefix = r.string("command_prefix", "!")
    if not prefix or len(prefix) > 3 or prefix.isspace():
        r.error("command_prefix", f"{prefix!r} is not 1-3 non-blank characters")
    return BotConfig(command_prefix=prefix)


def _manhole(r: Reader) -> ManholeConfig:
    manhole = ManholeConfig(
        enabled=r.boolean("enabled", False),
        listen=_listen(r, "tcp:2222:interface=127.0.0.1"),
        authorized_keys=r.optional_string("authorized_keys"),
        host_key=r.optional_string("host_key"),
    )
    if manhole.enabled:
        for needed in ("authorized_keys", "host_key"):
            if getattr(manhole, needed) is None and not r.failed(needed):
                r.error(needed, "required when manhole.enabled = true")
    return manhole


def _web(r: Reader) -> WebConfig:
    return WebConfig(
        enabled=r.boolean("enabled", False),
        listen=_listen(r, "tcp:8080:interface=127.0.0.1"),
        token=r.secret("token"),
    )


def _logging(r: Reader) -> LoggingConfig:
    return LoggingConfig(
        level=r.choice("level", "info", LOG_LEVELS),
        format=r.choice("format", "text", LOG_FORMATS),
        chat_log=_log_pattern(r, "chat_log"),
        media_log=_log_pattern(r, "media_log"),
    )


def _log_pattern(r: Reader, key: str) -> str | None:
    """A chat/media log path pattern (:mod:`rosey.daemon.logpaths`), checked."""
    pattern = r.optional_string(key)
    problem = None if pattern is None else logpaths.check(pattern)
    if problem is not None:
        r.error(key, problem)
    return pattern


def _plugins(
    r: Reader, channels: tuple[ChannelConfig, ...], found: Discovery | None
) -> PluginsConfig:
    table = r.section("plugins")
    try:
        return resolve_plugins(table, channels, found)
    except PluginsError as e:
        for message in e.errors:
            r.problems.add_message(message)
        return PluginsConfig()


def _listen(r: Reader, default: str) -> str:
    """A Twisted server endpoint description such as ``tcp:2222:interface=127.0.0.1``."""
    listen = r.string("listen", default)
    kind, _, rest = listen.partition(":")
    if kind not in ("tcp", "tcp6", "unix", "ssl") or not rest:
        r.error("listen", f"{listen!r} is not an endpoint like 'tcp:2222:interface=127.0.0.1'")
    return listen


BUS_SCHEMES = ("nats", "tls", "ws", "wss")


def _bus(r: Reader) -> BusSettings | None:
    """``[bus]`` (every key is read even when the table is absent, so each is a known key)."""
    present = "bus" in r.raw
    t = r.table("bus")
    default = BusSettings()
    if isinstance(t.raw.get("url"), list):
        urls = t.strings("url")
        if not urls:
            t.error("url", "an empty list; expected one or more nats:// URLs")
    else:
        urls = (t.string("url", default.urls[0]),)
    for url in urls:
        scheme, sep, _ = url.partition("://")
        if not sep or scheme.lower() not in BUS_SCHEMES or "@" in url:
            # Never echo the URL: it may hold a password.
            t.error(
                "url",
                f"not a NATS URL such as nats://127.0.0.1:4222 (scheme {scheme if sep else '?'}"
                "; credentials go in token_env/token_file or user + password_env/password_file)",
            )
    token = t.secret("token")
    user = t.optional_string("user")
    password = t.secret("password")
    creds_file = t.optional_string("creds_file")
    has_password = any(k in t.raw for k in ("password_env", "password_file"))
    if has_password != (user is not None) and not t.failed("user"):
        t.error("user", "user and password_env/password_file go together")
    ways = [w for w, on in (("token", token), ("user", user), ("creds_file", creds_file)) if on]
    if len(ways) > 1:
        t.error(ways[1], f"set only one way to authenticate, not {' and '.join(ways)}")
    stream = t.string("stream", default.stream)
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", stream):
        t.error("stream", f"{stream!r} is not a stream name ([A-Za-z0-9_-], 1-64)")
    numbers = {
        "max_age_days": t.integer("max_age_days", int(default.max_age_days)),
        "max_bytes": t.integer("max_bytes", default.max_bytes),
        "buffer": t.integer("buffer", default.buffer),
        "stop_timeout": t.integer("stop_timeout", int(default.stop_timeout)),
    }
    for key, value in numbers.items():
        if value < (1 if key == "buffer" else 0):
            t.error(key, f"{value} is {'not positive' if key == 'buffer' else 'negative'}")
    commands = t.boolean("commands", default.commands)
    if not present:
        return None
    return BusSettings(
        urls=urls,
        token=token.value if token else None,
        user=user,
        password=password.value if password else None,
        creds_file=creds_file,
        stream=stream,
        max_age_days=numbers["max_age_days"],
        max_bytes=numbers["max_bytes"],
        buffer=numbers["buffer"],
        stop_timeout=numbers["stop_timeout"],
        commands=commands,
    )


def _dbservice(r: Reader) -> DbServiceSettings:
    """``[dbservice]``: read by every rosey (the bot's file may hold it), used by the
    database service."""
    default = DbServiceSettings()
    durable = r.string("durable", default.durable)
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", durable):
        r.error("durable", f"{durable!r} is not a consumer name ([A-Za-z0-9_-], 1-64)")
    batch = r.integer("batch", default.batch)
    if not 1 <= batch <= 10_000:
        r.error("batch", f"{batch} is not between 1 and 10000")
    seconds = {
        key: r.number(key, getattr(default, key))
        for key in ("fetch_timeout", "ack_wait", "snapshot_interval", "retry_max")
    }
    for key, value in seconds.items():
        if value <= 0 and key != "snapshot_interval":
            r.error(key, f"{value} is not a positive number of seconds")
        elif value < 0:
            r.error(key, f"{value} is negative (0: no snapshots)")
    return DbServiceSettings(durable=durable, batch=batch, **seconds)
