"""hello: a complete rosey plugin (see docs/plugins.md).

``!hello`` greets you and counts how often you said it; the count lives in the plugin's
key/value store and is forgotten after ``remember_days`` without a hello. Saying ``o/`` in chat
gets a ``\\o`` back.

Drop this file into a directory listed in ``[plugins] dirs`` and it runs in every channel
(``default_enabled``); configure it with::

    [plugins.hello]
    greeting = "Howdy"
    remember_days = 7
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred

from rosey import events
from rosey.api import CommandContext, Event, command
from rosey.plugin import Plugin, PluginFactory, Settings


@dataclass(frozen=True)
class HelloConfig:
    """The validated ``[plugins.hello]`` table."""

    greeting: str = "Hello"
    remember_days: float = 30.0


def parse(raw: Mapping[str, Any]) -> HelloConfig:
    """Validate ``[plugins.hello]``; errors name the key (``plugins.hello.greeting: …``)."""
    s = Settings(raw, "hello")
    s.only("greeting", "remember_days")
    greeting = s.string("greeting", HelloConfig.greeting).strip()
    if not greeting or greeting.startswith("/") or len(greeting) > 50:
        raise s.error("greeting", f"{greeting!r} is not 1-50 characters not starting with /")
    return HelloConfig(greeting, s.number("remember_days", HelloConfig.remember_days, min=0.01))


class Hello(Plugin):
    """One channel's hello plugin."""

    config: HelloConfig

    def start(self) -> Deferred[None] | None:
        hello = command("hello", cooldown_user=5, help="Say hello; I count how often you do.")
        self.add_command(hello(self.hello))
        self.on(events.MESSAGE, self.wave)
        return None

    async def hello(self, ctx: CommandContext) -> str:
        key = ctx.user.casefold()
        count = int(await self.kv.get(key) or 0) + 1
        await self.kv.set(key, str(count), ttl=self.config.remember_days * 86400)
        if count == 1:
            return f"{self.config.greeting}, {ctx.user}!"
        return f"{self.config.greeting} again, {ctx.user}! That's {count} times."

    def wave(self, event: Event) -> None:
        # Only live lines: never the history the server replays on join, never our own.
        if event.replayed or self.api.channel.is_me(event.user or ""):
            return
        if (event.content or "").strip() == "o/":
            # Not returned: the other handlers need not wait for the server to confirm it.
            self.api.say("\\o").addErrback(
                lambda f: self.log.warn("could not wave back: {error}", error=f.value)
            )


hello = PluginFactory(
    "hello", Hello, description="!hello, with a count; waves back at o/", parse=parse
)
