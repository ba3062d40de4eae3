"""Tests of the hello plugin: a real bot on a fake channel, with real SQLite storage.

Run them with ``pytest docs/example_plugin`` (they need pytest-twisted, as rosey's own tests).
The bot's clock is a ``task.Clock`` that the storage shares, so cooldowns and the key/value
store's expiry are driven by the test; the database runs on the reactor's thread pool, and every
wait on it is bounded.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from hello import Hello, HelloConfig, hello, parse
from twisted.internet import task
from twisted.internet.defer import Deferred

from rosey.api_impl import PluginAPI
from rosey.bot.service import Bot
from rosey.plugin import PluginConfigError
from rosey.storage import schema
from rosey.storage.service import open_storage
from rosey.wire.fake import FakeConnection
from rosey.wire.normalize import Normalizer

ME = "rosey"


def reactor() -> Any:
    from twisted.internet import reactor

    return reactor


class Channel(FakeConnection):
    """A fake CyTube channel: the server's frames go through the real normalizer, and every
    chat line the bot sends is echoed back, as the server does (that confirms it)."""

    def __init__(self) -> None:
        super().__init__("labchan", ME)
        self.normalizer = Normalizer()
        self.waiting: list[Deferred[str]] = []

    def server(self, name: str, data: Any) -> None:
        self.feed(self.normalizer.normalize(name, data))

    def chat(self, user: str, text: str) -> None:
        msg = html.escape(text, quote=False)
        self.server("chatMsg", {"username": user, "msg": msg, "meta": {}, "time": 0})

    def emit(self, event: str, data: Any = None) -> None:
        super().emit(event, data)
        if event == "chatMsg":
            reactor().callLater(0, self.chat, ME, data["msg"])
            waiting, self.waiting = self.waiting, []
            for d in waiting:
                d.callback(data["msg"])

    async def ask(self, user: str, text: str) -> str:
        """``user`` says ``text``; the bot's next chat line."""
        answer: Deferred[str] = Deferred()
        self.waiting.append(answer)
        self.chat(user, text)
        return await answer.addTimeout(5, reactor())


class Room:
    def __init__(self, channel: Channel, bot: Bot, plugin: Hello, clock: task.Clock) -> None:
        self.channel, self.bot, self.plugin, self.clock = channel, bot, plugin, clock


@pytest_twisted.async_yield_fixture()
async def room(tmp_path: Path) -> AsyncIterator[Room]:
    url = f"sqlite:///{tmp_path / 'rosey.sqlite'}"
    schema.upgrade(url)  # blocking, as the daemon does before its reactor starts
    clock = task.Clock()
    clock.advance(1_800_000_000)
    storage = open_storage(url, reactor(), clock=clock)
    await storage.connect().addTimeout(5, reactor())
    channel = Channel()
    bot = Bot(channel, clock=clock, storage=storage)
    settings = hello.parse_config({"greeting": "Howdy", "remember_days": 1})
    plugin = hello.create(PluginAPI(bot, hello.name, settings))
    assert isinstance(plugin, Hello)
    bot.startService()
    plugin.start()
    channel.connect()
    channel.server("login", {"success": True, "name": ME, "guest": False})
    channel.server("rank", 2)
    channel.server(
        "userlist",
        [{"name": n, "rank": 1, "profile": {}, "meta": {}} for n in (ME, "alice", "bob")],
    )
    channel.make_ready()
    yield Room(channel, bot, plugin, clock)
    plugin.stop()
    bot.stopService()
    await storage.close()


def test_settings_have_defaults_and_errors_name_the_key() -> None:
    assert parse({}) == HelloConfig("Hello", 30.0)
    assert parse({"greeting": " Hi ", "remember_days": 2}) == HelloConfig("Hi", 2.0)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"greeting": 3}, "plugins.hello.greeting: 3 is not a string"),
        ({"greeting": "/kick alice"}, "plugins.hello.greeting: '/kick alice' is not 1-50"),
        ({"remember_days": 0}, "plugins.hello.remember_days: 0 is less than 0.01"),
        ({"greting": "Hi"}, "plugins.hello.greting: unknown key"),
    ]
    for raw, message in cases:
        with pytest.raises(PluginConfigError) as e:
            parse(raw)
        assert str(e.value).startswith(message)


@pytest_twisted.ensureDeferred
async def test_hello_counts_per_user_and_forgets_after_remember_days(room: Room) -> None:
    ask = room.channel.ask
    assert await ask("alice", "!hello") == "Howdy, alice!"
    room.clock.advance(10)  # past the cooldown
    assert await ask("alice", "!hello") == "Howdy again, alice! That's 2 times."
    assert await ask("bob", "!hello") == "Howdy, bob!"
    room.clock.advance(2 * 86400)  # the count expires after a day without a hello
    assert await ask("ALICE", "!hello") == "Howdy, ALICE!"


@pytest_twisted.ensureDeferred
async def test_waves_back_at_live_lines_only(room: Room) -> None:
    assert await room.channel.ask("alice", "o/") == "\\o"
    room.channel.normalizer.begin_join()  # what the server replays on a rejoin is history
    room.channel.chat("bob", "o/")
    assert [d for e, d in room.channel.sent if e == "chatMsg"] == [{"msg": "\\o", "meta": {}}]


def test_stop_takes_the_command_and_the_handler_away(room: Room) -> None:
    assert "hello" in room.bot.commands
    room.plugin.stop()
    assert "hello" not in room.bot.commands
    assert room.plugin.wave not in room.bot.dispatcher.handlers("message")
