"""The **greetings** plugin on a real SQLite file, through the real plugin lifecycle.

The harness is the one of ``tests/plugins/test_core_stats.py``: a FakeConnection answering like
the CyTube server, the real recorder writing joins and leaves into a real migrated SQLite
storage (which is what tells a first visit from a return), and a ``task.Clock`` for the bot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import task
from twisted.internet.defer import maybeDeferred

from rosey.api_impl import PluginAPI
from rosey.bot.service import Bot
from rosey.plugin import PluginConfigError
from rosey.plugins.greetings import Greetings, greetings, render
from rosey.storage import ops as o
from rosey.wire.fake import FakeConnection
from tests.plugins.test_core_stats import CH, ME, Lab, bounded, user

DAY = 86400.0


class GreetLab:
    """A :class:`Lab` bot with the greetings plugin."""

    def __init__(self, url: str, config: dict[str, Any] | None = None) -> None:
        self.lab = Lab(url)
        plugin = greetings.create(
            PluginAPI(self.lab.bot, greetings.name, greetings.parse_config(config or {}))
        )
        assert isinstance(plugin, Greetings)
        self.plugin = plugin
        self.clock = self.lab.clock

    async def start(self) -> GreetLab:
        await self.lab.start()
        await bounded(maybeDeferred(self.plugin.start))
        return self

    async def stop(self) -> None:
        await bounded(maybeDeferred(self.plugin.stop))
        await self.lab.stop()

    async def joins(self, name: str, rank: float = 1) -> list[str]:
        """``name`` joins; the chat lines the bot said about it."""
        before = len(self.lab.said())
        self.lab.join(name, rank)
        await bounded(self.plugin.idle())
        return self.lab.said()[before:]

    async def visit(self, name: str, stay: float = 60) -> None:
        """``name`` joins, stays a while and leaves; all of it recorded."""
        await self.joins(name)
        self.clock.advance(stay)
        self.lab.leave(name)
        await self.lab.flush()


@pytest_twisted.async_yield_fixture()
async def lab(db_url: str) -> AsyncIterator[GreetLab]:
    lab = await GreetLab(db_url).start()
    yield lab
    await lab.stop()


# -- config ---------------------------------------------------------------------------------------


def test_off_by_default_and_config_errors_name_the_key() -> None:
    assert greetings.default_enabled is False
    cfg = greetings.parse_config({})
    assert (cfg.first_visit, cfg.returning) == ("Welcome, {user}!", "Welcome back, {user}!")
    assert (cfg.returning_after_days, cfg.cooldown) == (7, 3600)
    fine = greetings.parse_config({"first_visit": "/me waves at {user} {{:)}}", "returning": ""})
    assert fine.first_visit == "/me waves at {user} {{:)}}"
    bad: list[tuple[dict[str, Any], str, str]] = [
        ({"first_visit": "Hi {0.__class__}"}, "first_visit", "only a plain {user}"),
        ({"first_visit": "Hi {user.__class__}"}, "first_visit", "only a plain {user}"),
        ({"returning": "Hi {user!r}"}, "returning", "only a plain {user}"),
        ({"returning": "Hi {user:>999999}"}, "returning", "only a plain {user}"),
        ({"returning": "Hi {name}"}, "returning", "only a plain {user}"),
        ({"returning": "Hi {}"}, "returning", "only a plain {user}"),
        ({"first_visit": "Hi {user"}, "first_visit", "not a template"),
        ({"first_visit": "Hi }"}, "first_visit", "not a template"),
        ({"first_visit": "/kick {user}"}, "first_visit", "chat command"),
        ({"first_visit": "x" * 201}, "first_visit", "at most 200"),
        ({"first_visit": 3}, "first_visit", "not a string"),
        ({"returning_after_days": -1}, "returning_after_days", "less than 0"),
        ({"cooldown": "1h"}, "cooldown", "not a number"),
        ({"max_per_minute": 0}, "max_per_minute", "less than 1"),
        ({"greeting": "hi"}, "greeting", "unknown key"),
    ]
    for raw, key, why in bad:
        with pytest.raises(PluginConfigError) as e:
            greetings.parse_config(raw)
        assert str(e.value).startswith(f"plugins.greetings.{key}: "), str(e.value)
        assert why in str(e.value), str(e.value)


def test_render_only_ever_inserts_the_name() -> None:
    assert render("Hi {user}!", "{0.__class__}", "!") == "Hi {0.__class__}!"
    assert render("{user} {{x}}", "{user}", "!") == "{user} {x}"
    assert render("{user}, welcome", "!ban", "!") == "» !ban, welcome"
    assert render("!kick {user}", "bob", "!") == "» !kick bob"
    assert render("/me waves at {user}", "bob", "!") == "/me waves at bob"
    assert render("/me {user}", "/kick", "!") == "/me » /kick"


# -- greeting -------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_first_visit_then_returning_after_the_configured_absence(lab: GreetLab) -> None:
    assert await lab.joins("bob") == ["Welcome, bob!"]
    lab.clock.advance(60)
    lab.lab.leave("bob")
    await lab.lab.flush()
    lab.clock.advance(2 * DAY)
    assert await lab.joins("bob") == []  # away two days: not "returning" yet
    lab.clock.advance(60)
    lab.lab.leave("bob")
    await lab.lab.flush()
    lab.clock.advance(7 * DAY)
    assert await lab.joins("BOB") == ["Welcome back, BOB!"]
    assert lab.plugin.sent == 2


@pytest_twisted.ensureDeferred
async def test_a_join_the_recorder_wrote_first_is_still_judged_right(lab: GreetLab) -> None:
    storage, now = lab.lab.storage, lab.clock.seconds()
    old = now - 10 * DAY
    await bounded(storage.record(CH, [o.UserJoined(old, "frank"), o.UserLeft(old + 60, "frank")]))
    # the recorder won the race: both joins are in storage before the greeting looks
    await bounded(storage.record(CH, [o.UserJoined(now, "frank"), o.UserJoined(now, "erin")]))
    assert await lab.joins("frank") == ["Welcome back, frank!"]
    assert await lab.joins("erin") == ["Welcome, erin!"]


@pytest_twisted.ensureDeferred
async def test_no_greetings_in_the_join_burst_or_for_the_bot(lab: GreetLab) -> None:
    lab.lab.conn.lose("network down")
    conn, server = lab.lab.conn, lab.lab.server
    conn.connect()
    server("login", {"success": True, "name": ME, "guest": False})
    server("rank", 3)
    lab.lab.normalizer.begin_join()
    assert await lab.joins("carol") == []  # still in the join burst
    server("userlist", [user(ME, 3), user("alice"), user("carol")])
    conn.online = {ME, "alice", "carol"}
    assert await lab.joins("dora") == []  # the burst lasts until ready
    conn.make_ready()
    assert await lab.joins("gina") == ["Welcome, gina!"]
    assert await lab.joins(ME) == []  # the bot itself (e.g. a second session)
    assert await lab.joins("Rosey") == []
    lab.lab.conn.feed(lab.lab.normalizer.normalize("addUser", user("[server]")))
    lab.lab.conn.feed(lab.lab.normalizer.normalize("addUser", {"name": "{0.__class__}"}))
    lab.lab.conn.feed(lab.lab.normalizer.normalize("addUser", "garbage"))
    await bounded(lab.plugin.idle())
    assert lab.lab.said() == ["Welcome, gina!"]


@pytest_twisted.ensureDeferred
async def test_cooldown_and_flood_limit(db_url: str) -> None:
    lab = await GreetLab(db_url, {"cooldown": 600, "max_per_minute": 2}).start()
    try:
        assert await lab.joins("hank") == ["Welcome, hank!"]
        lab.clock.advance(10)
        lab.lab.leave("hank")
        await lab.lab.flush()
        assert await lab.joins("hank") == []  # rejoined within the cooldown
        lab.clock.advance(1)
        greeted = [line for n in ("u1", "u2", "u3") for line in await lab.joins(n)]
        assert greeted == ["Welcome, u1!"]  # two a minute, hank's included
        lab.clock.advance(60)
        assert await lab.joins("u4") == ["Welcome, u4!"]
    finally:
        await lab.stop()


@pytest_twisted.ensureDeferred
async def test_templates_and_hostile_names(db_url: str) -> None:
    config = {"first_visit": "!{user} is new", "returning": "/me waves at {user}"}
    lab = await GreetLab(db_url, config).start()
    try:
        assert await lab.joins("kick") == ["» !kick is new"]  # a name like a command
        assert await lab.joins("help") == ["» !help is new"]
        await lab.visit("ivy")
        lab.clock.advance(8 * DAY)
        assert await lab.joins("ivy") == ["/me waves at ivy"]
        for line in lab.lab.said():
            assert not line.startswith("!")
            assert not line.startswith("/kick")
    finally:
        await lab.stop()


@pytest_twisted.ensureDeferred
async def test_a_disabled_greeting_and_a_stopped_plugin_say_nothing(db_url: str) -> None:
    lab = await GreetLab(db_url, {"first_visit": ""}).start()
    try:
        assert await lab.joins("jack") == []
        await bounded(maybeDeferred(lab.plugin.stop))
        assert await lab.joins("kate") == []
    finally:
        await lab.lab.stop()


@pytest_twisted.ensureDeferred
async def test_without_a_database_nobody_is_greeted() -> None:
    clock = task.Clock()
    conn = FakeConnection(channel="room", username=ME)
    bot = Bot(conn, clock=clock)
    bot.startService()
    conn.make_ready()
    plugin = greetings.create(PluginAPI(bot, greetings.name, greetings.parse_config({})))
    assert isinstance(plugin, Greetings)
    plugin.start()
    assert bot.dispatcher.handlers("user_join") == ()  # it listens to nothing
    conn.feed(lab_join("newbie"))
    await bounded(plugin.idle())
    assert conn.sent == []
    plugin.stop()
    bot.stopService()


def lab_join(name: str) -> Any:
    from rosey.wire.normalize import Normalizer

    return Normalizer().normalize("addUser", user(name))
