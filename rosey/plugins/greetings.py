"""The **greetings** plugin: greets users who join the channel. Off by default.

Config (``[plugins.greetings]``, every key optional)::

    first_visit = "Welcome, {user}!"       # "" greets nobody on a first visit
    returning = "Welcome back, {user}!"    # "" greets nobody coming back
    returning_after_days = 7               # away at least this long to count as returning
    cooldown = 3600                        # seconds before the same user is greeted again
    max_per_minute = 6                     # at most this many greetings a minute (join floods)

A template may use ``{user}`` and nothing else (``{{`` and ``}}`` for braces); it may start with
``/me `` but no other ``/`` command. Only live joins are greeted: never the bot itself, never the
users listed or added during the join burst (before the connection's ``ready``), never
pseudo-users.

First visit or returning is read from storage (``get_user_stats``). The recorder may already
have written this very join when the greeting looks: a ``first_seen`` within the last
minute then means a first visit, and a ``last_seen`` within the last minute is this join, so the
user's last ``leave`` action says when they were here before. Without a database the plugin
greets nobody (it could not tell a newcomer from a regular).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from string import Formatter
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred

from rosey import events
from rosey.api import StorageError, UserStats
from rosey.events import Event
from rosey.plugin import Plugin, PluginFactory, Settings
from rosey.plugins.support import TaskSet, safe_line

if TYPE_CHECKING:
    from rosey.api import IPluginAPI

__all__ = ["Greetings", "GreetingsConfig", "greetings", "parse", "render"]

#: Seconds within which a storage time counts as "this join".
JOIN_SLACK = 60.0
#: Longest template, in characters.
MAX_TEMPLATE = 200
_USER_NAME = re.compile(r"[A-Za-z0-9_-]{1,20}")
_ME = "/me "


@dataclass(frozen=True)
class GreetingsConfig:
    """The parsed ``[plugins.greetings]`` table."""

    first_visit: str = "Welcome, {user}!"
    returning: str = "Welcome back, {user}!"
    returning_after_days: float = 7.0
    cooldown: float = 3600.0
    max_per_minute: int = 6


def _template(s: Settings, key: str, default: str) -> str:
    value = s.string(key, default)
    if len(value) > MAX_TEMPLATE or "\n" in value or "\r" in value:
        raise s.error(key, f"must be one line of at most {MAX_TEMPLATE} characters")
    try:
        fields = list(Formatter().parse(value))
    except ValueError as e:
        raise s.error(key, f"{value!r} is not a template ({e}); write {{{{ for a brace") from None
    for _, name, spec, conversion in fields:
        if name is not None and (name != "user" or spec or conversion):
            raise s.error(
                key, f"{value!r}: only a plain {{user}} is replaced (no other fields or formats)"
            )
    if value.startswith("/") and not value.startswith(_ME):
        raise s.error(key, f"{value!r} starts with a chat command (only /me is allowed)")
    return value


def parse(raw: Mapping[str, Any]) -> GreetingsConfig:
    """Validate ``[plugins.greetings]``; raises :class:`~rosey.plugin.PluginConfigError` naming
    the key."""
    s = Settings(raw, "greetings")
    s.only("first_visit", "returning", "returning_after_days", "cooldown", "max_per_minute")
    return GreetingsConfig(
        first_visit=_template(s, "first_visit", GreetingsConfig.first_visit),
        returning=_template(s, "returning", GreetingsConfig.returning),
        returning_after_days=s.number("returning_after_days", 7.0, min=0, max=3650),
        cooldown=s.number("cooldown", 3600.0, min=0, max=30 * 86400),
        max_per_minute=s.integer("max_per_minute", 6, min=1, max=60),
    )


def render(template: str, user: str, prefix: str) -> str:
    """The greeting line for ``user`` from a template :func:`parse` accepted. The name is only
    ever a value (never part of the format string), and the line never starts with ``/`` (bar
    ``/me``) or the command prefix."""
    line = template.format_map({"user": user})
    if template.startswith(_ME):
        return _ME + safe_line(line[len(_ME) :], prefix)
    return safe_line(line, prefix)


class Greetings(Plugin):
    """Greets live joins for one channel's bot (see the module docs)."""

    config: GreetingsConfig

    def __init__(self, api: IPluginAPI) -> None:
        super().__init__(api)
        if self.config is None:
            self.config = GreetingsConfig()
        self._live = False
        self._greeted: dict[str, float] = {}  # user (folded) -> when last looked at
        self._sent: deque[float] = deque()  # times of the greetings of the last minute
        self._active = TaskSet()
        #: Greetings sent (and confirmed by the server).
        self.sent = 0

    def start(self) -> None:
        """Watch joins and the connection's state."""
        if not self.api.persistent:
            self.log.warn("greetings: no database, so nobody is greeted")
            return
        self._live = bool(self.api.channel.ready)
        self.on(events.CONNECTED, self._not_live)
        self.on(events.DISCONNECTED, self._not_live)
        self.on(events.READY, self._now_live)
        self.on(events.USER_JOIN, self._joined)

    def idle(self) -> Deferred[None]:
        """Fires once no greeting is being looked up or sent (for tests)."""
        return self._active.idle()

    # -- events ---------------------------------------------------------------------------------

    def _not_live(self, event: Event) -> None:
        self._live = False

    def _now_live(self, event: Event) -> None:
        self._live = True

    def _joined(self, event: Event) -> None:
        if not self._live or event.replayed:
            return  # the join burst lists everybody already here: no greetings for them
        name = event.user
        if name is None and isinstance(event.platform_data, dict):
            name = event.platform_data.get("name")
        if not isinstance(name, str) or not _USER_NAME.fullmatch(name):
            return
        if self.api.channel.is_me(name):
            return
        now = self.api.clock.seconds()
        key = name.casefold()
        if now < self._greeted.get(key, float("-inf")) + self.config.cooldown:
            return
        if len(self._greeted) > 4096:
            oldest = now - self.config.cooldown
            self._greeted = {k: t for k, t in self._greeted.items() if t > oldest}
        self._greeted[key] = now
        self._track(Deferred.fromCoroutine(self._greet(name, now)))

    def _track(self, d: Deferred[None]) -> None:
        d.addErrback(lambda f: self.log.failure("greetings: greeting crashed", f))
        self._active.track(id(d), d)

    # -- greeting -------------------------------------------------------------------------------

    async def _greet(self, name: str, joined: float) -> None:
        try:
            stats = await self.api.storage.get_user_stats(self.api.storage_key, name)
            template = await self._choose(stats, joined)
        except StorageError as e:
            self.log.warn("greetings: cannot look {user} up: {error}", user=name, error=e)
            return
        if not template or name not in self.api.channel.users:
            return  # nothing to say, or they left already
        if not self._take_slot():
            self.log.info("greetings: {user} not greeted (many joins this minute)", user=name)
            return
        try:
            await self.api.say(render(template, name, self.api.prefix))
        except Exception as e:
            self.log.info("greetings: could not greet {user}: {error}", user=name, error=e)
            return
        self.sent += 1

    async def _choose(self, stats: UserStats | None, joined: float) -> str:
        cfg = self.config
        if stats is None or (stats.first_seen is None and stats.last_seen is None):
            return cfg.first_visit
        if stats.first_seen is not None and stats.first_seen >= joined - JOIN_SLACK:
            return cfg.first_visit  # the recorder wrote this join first: still a first visit
        last = stats.last_seen
        if last is None or last >= joined - JOIN_SLACK:
            # last_seen is this join: when they left last is in the action log.
            leaves = await self.api.storage.get_user_actions(
                self.api.storage_key, stats.username, "leave", limit=1
            )
            last = leaves[0].timestamp if leaves else None
        if last is not None and joined - last >= cfg.returning_after_days * 86400:
            return cfg.returning
        return ""

    def _take_slot(self) -> bool:
        now = self.api.clock.seconds()
        while self._sent and self._sent[0] <= now - 60:
            self._sent.popleft()
        if len(self._sent) >= self.config.max_per_minute:
            return False
        self._sent.append(now)
        return True


greetings = PluginFactory(
    "greetings",
    Greetings,
    description="Greets users who join (first visit, or back after a while).",
    default_enabled=False,
    parse=parse,
)
