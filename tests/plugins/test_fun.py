"""The **fun** plugin on a real SQLite file: 8ball, choose, quotes, reminders and countdowns.

Each test runs the real plugin lifecycle (``fun.create(PluginAPI(bot, "fun", settings))``,
``start``, ``stop``) on the bot harness of ``tests/plugins/test_core_stats.py``: a
FakeConnection answering like the CyTube server, the real recorder and a real migrated SQLite
storage. The bot's clock is a ``task.Clock``; storage runs on the real reactor's thread pool and
every wait is bounded. A "restart" is a new Bot, a new storage object and a new plugin instance
on the same file."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import task
from twisted.internet.defer import Deferred, maybeDeferred

from rosey import events
from rosey.api_impl import PluginAPI
from rosey.events import Event
from rosey.plugin import PluginConfigError
from rosey.plugins.fun import EIGHTBALL_ANSWERS, Fun, fun
from rosey.plugins.fun_quotes import PAGE_SIZE
from rosey.plugins.fun_timedata import parse_when
from rosey.plugins.support import parse_duration
from tests.plugins.test_core_stats import CH, T0, Lab, bounded

ALICE_RANK, MOD_RANK = 1, 2


class FunLab:
    """A :class:`Lab` bot with the fun plugin."""

    def __init__(
        self, url: str, clock: task.Clock | None = None, config: dict[str, Any] | None = None
    ) -> None:
        self.lab = Lab(url, clock)
        plugin = fun.create(PluginAPI(self.lab.bot, fun.name, fun.parse_config(config or {})))
        assert isinstance(plugin, Fun)
        plugin.rng = random.Random(7)
        self.plugin = plugin
        self.clock = self.lab.clock
        self.conn = self.lab.conn

    async def start(self) -> FunLab:
        await self.lab.start()
        await bounded(self.plugin.start())
        return self

    async def stop(self) -> None:
        await bounded(maybeDeferred(self.plugin.stop))
        await self.lab.stop()

    async def ask(self, who: str, text: str, *, pm: bool = False) -> str:
        return await self.lab.ask(who, text, pm=pm)

    async def idle(self) -> None:
        await bounded(self.plugin.idle())

    async def kv(self, key: str) -> str | None:
        result: str | None = await bounded(self.lab.storage.kv_get(CH, "fun", key))
        return result

    def said(self) -> list[str]:
        return self.lab.said()

    def pms(self, to: str) -> list[str]:
        return self.lab.pms(to)


@pytest_twisted.async_yield_fixture()
async def lab(db_url: str) -> AsyncIterator[FunLab]:
    lab = await FunLab(db_url).start()
    yield lab
    await lab.stop()


def clock_at(when: float) -> task.Clock:
    clock = task.Clock()
    clock.advance(when)
    return clock


# -- config and parsing ---------------------------------------------------------------------------


def test_config_defaults_and_errors_name_the_key() -> None:
    cfg = fun.parse_config({})
    assert cfg.eightball_cooldown == 10
    assert cfg.timers.max_reminders_per_user == 10
    assert cfg.timers.max_reminder_seconds == 30 * 86400
    assert fun.default_enabled is True
    assert fun.parse_config({"eightball_cooldown": 0, "eightball_answers": [" Yes "]}) is not None
    bad: list[tuple[dict[str, Any], str]] = [
        ({"eightball_cooldown": -1}, "plugins.fun.eightball_cooldown"),
        ({"eightball_cooldown": "10"}, "plugins.fun.eightball_cooldown"),
        ({"eightball_cooldown": True}, "plugins.fun.eightball_cooldown"),
        ({"eightball_answers": []}, "plugins.fun.eightball_answers"),
        ({"eightball_answers": ["ok", "two\nlines"]}, "plugins.fun.eightball_answers"),
        ({"max_reminders_per_user": 0}, "plugins.fun.max_reminders_per_user"),
        ({"max_reminder_days": 1e9}, "plugins.fun.max_reminder_days"),
        ({"quote_delete_rank": "mod"}, "plugins.fun.quote_delete_rank"),
        ({"eightbal_cooldown": 3}, "plugins.fun.eightbal_cooldown"),
    ]
    for raw, key in bad:
        with pytest.raises(PluginConfigError, match=key.replace(".", r"\.")):
            fun.parse_config(raw)


def test_durations_and_times() -> None:
    assert parse_duration("30s") == 30
    assert parse_duration("10m") == 600
    assert parse_duration("2h") == 7200
    assert parse_duration("1d") == 86400
    assert parse_duration("1h30m") == 5400
    assert parse_duration("1H 30M") == 5400
    for bad in ("", "10", "m", "0s", "1x", "-5m", "99999999d", "1h30", "１０m"):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)
    new_year = datetime(2027, 1, 1, tzinfo=UTC).timestamp()
    assert parse_when("2027-01-01 00:00", 0) == new_year
    assert parse_when("2027-01-01T00:00 UTC", 0) == new_year
    assert parse_when("10m", 100.0) == 700.0
    with pytest.raises(ValueError, match="not a real date and time"):
        parse_when("2027-02-30 10:00", 0)


# -- !8ball and !choose ---------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_eightball_answers_with_a_per_user_cooldown(lab: FunLab) -> None:
    answer = await lab.ask("alice", "!8ball will it rain?")
    assert answer.startswith("alice: ")
    assert answer.removeprefix("alice: ") in EIGHTBALL_ANSWERS
    usage = await lab.ask("alice", "!8ball")
    assert usage.startswith("Usage: !8ball")
    # a very long question still gets an ordinary answer
    assert (await lab.ask("mod", "!8ball " + "why " * 500)).startswith("mod: ")

    router = lab.lab.bot.router
    asked = Event(events.MESSAGE, None, user="alice", content="!8ball again?")
    first = router.handle(asked)
    assert first is not None
    await bounded(first)
    lab.clock.advance(9.9)
    note = router.handle(asked)  # on cooldown: nothing runs, one note is said
    assert note is not None
    await bounded(note)
    assert router.handle(asked) is None  # told once per cooldown
    assert router.handle(Event(events.MESSAGE, None, user="mod", content="!8ball me?")) is not None
    lab.clock.advance(0.2)
    assert router.handle(asked) is not None


@pytest_twisted.ensureDeferred
async def test_eightball_cooldown_is_configurable(db_url: str) -> None:
    lab = await FunLab(db_url, config={"eightball_cooldown": 60}).start()
    try:
        router = lab.lab.bot.router
        asked = Event(events.MESSAGE, None, user="alice", content="!8ball ok?")
        first = router.handle(asked)
        assert first is not None
        await bounded(first)
        lab.clock.advance(59)
        assert router.handle(asked) is not None  # the cooldown note
        assert router.handle(asked) is None
        lab.clock.advance(1)
        assert router.handle(asked) is not None
    finally:
        await lab.stop()


@pytest_twisted.ensureDeferred
async def test_choose_picks_a_trimmed_option(lab: FunLab) -> None:
    picked = await lab.ask("alice", "!choose  tea |coffee  |  hot chocolate ")
    assert picked in ("alice: tea", "alice: coffee", "alice: hot chocolate")
    assert (await lab.ask("alice", "!choose red, green")) in ("alice: red", "alice: green")
    seen = {await lab.ask("alice", "!choose a | b") for _ in range(12)}
    assert seen == {"alice: a", "alice: b"}  # both come up: it is random, not fixed
    assert (await lab.ask("alice", "!choose a | | b")).startswith("Option 2 is empty.")
    assert (await lab.ask("alice", "!choose a |")).startswith("Option 2 is empty.")
    assert (await lab.ask("alice", "!choose just one")).startswith("Usage: !choose")
    many = " | ".join(str(i) for i in range(21))
    assert (await lab.ask("alice", f"!choose {many}")).startswith("Usage: !choose")
    assert (await lab.ask("alice", f"!choose a | {'x' * 101}")).startswith("Option 2 is too long")


# -- !quote ----------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_quote_add_get_random_search(lab: FunLab) -> None:
    assert (await lab.ask("alice", "!quote")).startswith("No quotes yet.")
    assert await lab.ask("alice", "!quote add  the cake   is a lie ") == "Quote #1 added."
    assert await lab.ask("mod", "!quote add never gonna give you up") == "Quote #2 added."
    assert await lab.ask("alice", "!quote add The cake is a LIE") == "That's already quote #1."
    got = await lab.ask("mod", "!quote get 1")
    assert got == "Quote #1: the cake is a lie (alice, 30 seconds ago)"
    assert (await lab.ask("mod", "!quote #2")).startswith("Quote #2: never gonna give you up (mod")
    assert await lab.ask("mod", "!quote get 9") == "There is no quote #9."
    assert (await lab.ask("mod", "!quote random")).startswith(("Quote #1:", "Quote #2:"))
    assert (await lab.ask("mod", "!quote search CAKE")).startswith("Quote #1: the cake")
    assert await lab.ask("mod", "!quote add you are the cake") == "Quote #3 added."
    assert await lab.ask("mod", "!quote search cake") == (
        "2 quotes match: #1, #3. Say !quote <id> to read one."
    )
    assert await lab.ask("mod", "!quote search pie") == "No quote matches that."
    assert (await lab.ask("mod", "!quote frobnicate 3")).startswith("Usage: !quote add <text>")
    assert (await lab.ask("mod", "!quote get x")).startswith("Usage: !quote")
    too_long = await lab.ask("alice", "!quote add " + "a" * 301)
    assert too_long == "That's 301 characters; a quote takes at most 300."


@pytest_twisted.ensureDeferred
async def test_quote_delete_needs_the_author_or_a_moderator(lab: FunLab) -> None:
    lab.lab.join("bob", ALICE_RANK)
    assert await lab.ask("alice", "!quote add first") == "Quote #1 added."
    assert await lab.ask("alice", "!quote add second") == "Quote #2 added."
    refused = await lab.ask("bob", "!quote del 1")
    assert refused == "Sorry, only alice or a moderator can delete quote #1."
    assert (await lab.ask("bob", "!quote 1")).startswith("Quote #1: first")
    assert await lab.ask("alice", "!quote del 1") == "Quote #1 deleted."
    assert await lab.ask("mod", "!quote delete #2") == "Quote #2 deleted."
    assert await lab.ask("mod", "!quote del 2") == "There is no quote #2."
    assert await lab.ask("alice", "!quote add third") == "Quote #3 added."  # ids never reused


@pytest_twisted.ensureDeferred
async def test_quote_add_rank_is_configurable(db_url: str) -> None:
    lab = await FunLab(db_url, config={"quote_add_rank": 2}).start()
    try:
        assert (
            await lab.ask("alice", "!quote add hi") == "Sorry, adding quotes needs a higher rank."
        )
        assert await lab.ask("mod", "!quote add hi") == "Quote #1 added."
    finally:
        await lab.stop()


@pytest_twisted.ensureDeferred
async def test_quotes_survive_a_restart_with_stable_ids(db_url: str) -> None:
    first = await FunLab(db_url).start()
    book = first.plugin.quotes
    assert await bounded(book.loader.ensure())
    for i in range(1, PAGE_SIZE + 3):  # across a page boundary
        _, saved = await bounded(Deferred.fromCoroutine(book.add(f"quote {i}", "alice", T0 + i)))
        assert saved
    assert await first.ask("mod", "!quote del 2") == "Quote #2 deleted."
    assert (
        await first.ask("mod", f"!quote del {PAGE_SIZE + 1}") == f"Quote #{PAGE_SIZE + 1} deleted."
    )
    assert await first.kv("quote:next") == str(PAGE_SIZE + 3)
    await first.stop()

    again = await FunLab(db_url, clock=clock_at(T0 + 86400)).start()
    try:
        assert (await again.ask("alice", "!quote 1")).startswith(
            "Quote #1: quote 1 (alice, 23 hours"
        )
        assert await again.ask("alice", "!quote 2") == "There is no quote #2."
        assert (await again.ask("alice", "!quote 52")).startswith("Quote #52: quote 52 (alice,")
        assert await again.ask("alice", f"!quote {PAGE_SIZE + 1}") == "There is no quote #51."
        assert len(again.plugin.quotes) == PAGE_SIZE
        assert await again.ask("alice", "!quote add new one") == f"Quote #{PAGE_SIZE + 3} added."
    finally:
        await again.stop()


@pytest_twisted.ensureDeferred
async def test_quote_when_storage_is_unavailable(db_url: str) -> None:
    path = db_url.removeprefix("sqlite:///")
    lab = FunLab(db_url)
    await lab.lab.start()
    await lab.lab.flush()  # the channel's row exists: reads go to the table
    _sql(path, "ALTER TABLE plugin_kv RENAME TO plugin_kv_away")  # the key/value store breaks
    try:
        await bounded(lab.plugin.start())
        assert await lab.ask("alice", "!quote add x") == (
            "Sorry, my quote book is not available right now."
        )
        assert await lab.ask("alice", "!remindme 5m x") == (
            "Sorry, my reminders are not available right now."
        )
        assert await lab.ask("alice", "!countdown") == (
            "Sorry, my reminders are not available right now."
        )
        _sql(path, "ALTER TABLE plugin_kv_away RENAME TO plugin_kv")  # back: loads on next use
        assert await lab.ask("alice", "!quote add x") == "Quote #1 added."
        assert (await lab.ask("alice", "!remindme 5m x")).endswith("(reminder #1).")

        # a write that fails is reported, kept in memory and retried later
        _sql(path, "ALTER TABLE plugin_kv RENAME TO plugin_kv_away")
        assert await lab.ask("alice", "!quote add y") == (
            "Quote #2 added, but not saved yet: my records are unavailable."
        )
        assert (await lab.ask("mod", "!quote 2")).startswith("Quote #2: y (alice")
        await lab.idle()
        assert sorted(lab.plugin.writer.unsaved) == ["quote:next", "quote:page:0"]
        _sql(path, "ALTER TABLE plugin_kv_away RENAME TO plugin_kv")
        lab.clock.advance(30)
        await lab.idle()
        assert lab.plugin.writer.unsaved == []
        assert '"y"' in (await lab.kv("quote:page:0") or "")
    finally:
        await lab.stop()


def _sql(path: str, statement: str) -> None:
    with sqlite3.connect(path) as db:
        db.execute(statement)


@pytest_twisted.ensureDeferred
async def test_hostile_quotes_never_become_commands(db_url: str) -> None:
    lab = await FunLab(db_url).start()
    lab.lab.join("quote", ALICE_RANK)  # a user named like a command
    assert await lab.ask("quote", "!quote add /kick bob") == "Quote #1 added."
    assert await lab.ask("alice", "!quote add !quote del 1") == "Quote #2 added."
    assert await lab.ask("alice", "!quote add <script>alert('x')</script> &amp;") == (
        "Quote #3 added."
    )
    unicode = "héllo wörld 🎉 世界 \u202eevil\u202c"
    assert await lab.ask("alice", f"!quote add {unicode}") == "Quote #4 added."
    assert await lab.ask("alice", "!quote add " + "x" * 20_000) == (
        "That's 20,000 characters; a quote takes at most 300."
    )
    assert await lab.ask("alice", "!quote add a\nb\x00c") == "Quote #5 added."
    await lab.stop()

    again = await FunLab(db_url, clock=clock_at(T0 + 3600)).start()
    try:
        assert (await again.ask("alice", "!quote get 1")).startswith("Quote #1: /kick bob (quote,")
        assert (await again.ask("alice", "!quote 2")).startswith("Quote #2: !quote del 1 (alice")
        assert (await again.ask("alice", "!quote 3")).startswith(
            "Quote #3: <script>alert('x')</script> &amp; (alice"
        )
        assert (await again.ask("alice", "!quote 4")).startswith(f"Quote #4: {unicode} (alice")
        assert (await again.ask("alice", "!quote 5")).startswith("Quote #5: a b c (alice")
        # the bot's own line "Quote #2: !quote del 1" ran nothing: quote 1 is still there
        assert (await again.ask("mod", "!quote 1")).startswith("Quote #1:")
        for line in again.said():
            assert not line.startswith(("/", "!")), line
    finally:
        await again.stop()


@pytest_twisted.ensureDeferred
async def test_long_quotes_are_split_and_every_part_is_safe(db_url: str) -> None:
    lab = await FunLab(db_url, config={"quote_max_length": 1000}).start()
    try:
        text = " ".join(["word"] * 60 + ["/kick", "bob"] + ["!ping"] * 60)
        assert await lab.ask("alice", f"!quote add {text}") == "Quote #1 added."
        before = len(lab.said())
        for _ in range(3):  # about 680 characters: three lines
            frame = lab.conn.next_frame()
            if len(lab.said()) == before:
                lab.lab.chat("alice", "!quote 1")
            lab.clock.advance(1)
            await bounded(frame)
        parts = lab.said()[before:]
        assert parts[0].startswith("Quote #1: word word")
        assert " ".join(parts).endswith("!ping (alice, 10 seconds ago)")
        for line in lab.said():
            assert not line.startswith(("/", "!")), line
    finally:
        await lab.stop()


# -- !remindme -------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_remindme_by_pm_when_present_else_in_chat(lab: FunLab) -> None:
    lab.lab.join("bob", ALICE_RANK)
    set_at = lab.clock.seconds()
    answer = await lab.ask("alice", "!remindme 10m take the /tea out")
    assert answer == "OK, I'll remind you in 10 minutes (reminder #1)."
    assert await lab.ask("bob", "!remindme 1h30m stretch") == (
        "OK, I'll remind you in 1 hour 30 minutes (reminder #2)."
    )
    lab.lab.leave("bob")
    lab.clock.advance(set_at + 600 - 0.5 - lab.clock.seconds())
    assert lab.pms("alice") == []
    frame = lab.conn.next_frame()
    lab.clock.advance(0.5)
    event, data = await bounded(frame)
    assert (event, data["to"]) == ("pm", "alice")
    assert data["msg"] == "Reminder from 10 minutes ago: take the /tea out"
    await lab.idle()
    assert lab.plugin.timers.reminders_of("alice") == []
    assert await lab.kv("remind:user:alice") is None

    frame = lab.conn.next_frame()
    lab.clock.advance(set_at + 10 + 5400 - lab.clock.seconds())
    event, data = await bounded(frame)
    assert event == "chatMsg"  # bob left: in chat, addressed to him
    assert data["msg"] == "bob: Reminder from 1 hour 30 minutes ago: stretch"
    await lab.idle()
    assert await lab.kv("remind:index") == '{"next":3,"users":[]}'


@pytest_twisted.ensureDeferred
async def test_remindme_limits_list_and_cancel(db_url: str) -> None:
    lab = await FunLab(db_url, config={"max_reminders_per_user": 2}).start()
    try:
        assert (await lab.ask("alice", "!remindme soon tea")).startswith("Usage: !remindme")
        assert (await lab.ask("alice", "!remindme 10m")).startswith("Usage: !remindme")
        assert await lab.ask("alice", "!remindme 31d x") == "At most 30 days ahead, please."
        assert await lab.ask("alice", "!remindme 10m " + "y" * 201) == (
            "That's 201 characters; a reminder takes 200."
        )
        assert (await lab.ask("alice", "!remindme 10m one")).endswith("(reminder #1).")
        assert (await lab.ask("alice", "!remindme 2h two")).endswith("(reminder #2).")
        assert await lab.ask("alice", "!remindme 1h three") == (
            "You have 2 reminders waiting already; that's the limit."
        )
        assert (await lab.ask("mod", "!remindme 1h mine")).endswith("(reminder #3).")
        frame = lab.conn.next_frame()
        lab.lab.chat("alice", "!reminders")  # asked in chat, answered by PM
        event, data = await bounded(frame)
        assert (event, data["to"]) == ("pm", "alice")
        lab.clock.advance(10)
        listed = data["msg"]
        assert listed.startswith("Your reminders: #1 in 9 minutes")
        assert "#2 in 1 hour 59 minutes: two" in listed
        assert await lab.ask("alice", "!reminders cancel 3") == "You have no reminder #3."
        assert await lab.ask("alice", "!reminders cancel #1") == "Reminder #1 cancelled."
        assert (await lab.ask("alice", "!remindme 1h three")).endswith("(reminder #4).")
        lab.clock.advance(700)
        await lab.idle()
        assert len(lab.pms("alice")) == 1  # the list only: the cancelled one never fires
        assert sorted(lab.plugin.timers.reminders) == [2, 3, 4]
    finally:
        await lab.stop()


@pytest_twisted.ensureDeferred
async def test_reminders_fire_on_time_after_a_restart(db_url: str) -> None:
    first = await FunLab(db_url).start()
    set_at = first.clock.seconds()
    assert (await first.ask("alice", "!remindme 10m on time")).endswith("(reminder #1).")
    assert (await first.ask("alice", "!remindme 1h overdue")).endswith("(reminder #2).")
    assert (await first.ask("mod", "!countdown launch 2h")).startswith("Countdown launch: 2 hours")
    await first.stop()

    # down for 5 minutes: nothing is due yet when it comes back
    second = await FunLab(db_url, clock=clock_at(set_at + 300)).start()
    assert sorted(second.plugin.timers.reminders) == [1, 2]
    second.clock.advance(299)
    assert second.pms("alice") == []
    frame = second.conn.next_frame()
    second.clock.advance(1)
    _, data = await bounded(frame)
    assert data["msg"] == "Reminder from 10 minutes ago: on time"  # not late
    await second.idle()
    await second.stop()

    # down for three hours: the one-hour reminder and the countdown fire at once, marked late
    third = FunLab(db_url, clock=clock_at(set_at + 3 * 3600))
    await third.lab.start()
    frame = third.conn.next_frame()
    await bounded(third.plugin.start())
    await bounded(frame)
    await third.idle()
    try:
        assert third.pms("alice") == [
            "Reminder from 2 hours 59 minutes ago (late: it was due 1 hour 59 minutes ago): overdue"
        ]
        assert "Countdown launch: time's up! (late: it was due 59 minutes 40 seconds ago)" in (
            third.said()
        )
        assert third.plugin.timers.reminders == {}
        assert third.plugin.timers.countdowns == {}
    finally:
        await third.stop()

    fourth = await FunLab(db_url, clock=clock_at(set_at + 4 * 3600)).start()
    try:
        assert fourth.plugin.timers.reminders == {}  # delivered ones are gone for good
        assert fourth.plugin.timers.countdowns == {}
        assert await fourth.ask("alice", "!remindme 1m next") == (
            "OK, I'll remind you in 1 minute (reminder #3)."
        )
    finally:
        await fourth.stop()


@pytest_twisted.ensureDeferred
async def test_due_reminders_wait_for_the_connection(lab: FunLab) -> None:
    set_at = lab.clock.seconds()
    assert (await lab.ask("alice", "!remindme 1m hello")).endswith("(reminder #1).")
    lab.conn.lose("network down")
    lab.clock.advance(set_at + 180 - lab.clock.seconds())
    assert lab.plugin.timers.reminders_of("alice") != []  # not lost, just waiting
    assert lab.said()[-1] != ""
    assert not lab.pms("alice")
    frame = lab.conn.next_frame()
    lab.lab.conn.online.clear()
    await lab.lab.start()  # reconnect: login, the join burst, ready
    _, data = await bounded(frame)
    assert "Reminder from 3 minutes ago (late: it was due 2 minutes ago): hello" in data["msg"]
    await lab.idle()
    assert lab.plugin.timers.reminders == {}


# -- !countdown ------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_countdown_start_show_list_and_announce(lab: FunLab) -> None:
    lab.lab.join("bob", ALICE_RANK)
    assert await lab.ask("alice", "!countdown") == (
        "No countdowns running. Start one: !countdown <name> <when>"
    )
    set_at = lab.clock.seconds()
    assert (await lab.ask("alice", "!countdown tea 5m")).startswith("Countdown tea: 5 minutes left")
    target = datetime.fromtimestamp(set_at + 86400, UTC).strftime("%Y-%m-%d %H:%M")
    started = await lab.ask("bob", f"!countdown party {target}")
    assert started.startswith("Countdown party: 23 hours 59 minutes left (until ")
    assert (await lab.ask("bob", "!countdown TEA")).startswith("tea: 4 minutes 40 seconds left")
    assert await lab.ask("bob", "!countdown nope") == "No countdown called nope."
    listed = await lab.ask("bob", "!countdown")
    assert listed.startswith("Countdowns: tea (4 minutes 20 seconds), party (23 hours")
    assert await lab.ask("bob", "!countdown old 2000-01-01 00:00") == (
        "That time has passed already."
    )
    assert await lab.ask("bob", "!countdown far 400d") == "At most 1 year 1 day ahead, please."
    assert (await lab.ask("bob", "!countdown x 2027-13-01 00:00")).startswith("Usage: !countdown")
    assert (await lab.ask("bob", "!countdown /kick 5m")).startswith("Usage: !countdown")
    assert await lab.ask("bob", "!countdown tea 10m") == "tea belongs to alice; pick another name."
    assert await lab.ask("bob", "!countdown tea cancel") == (
        "Sorry, only alice or a moderator can cancel tea."
    )
    frame = lab.conn.next_frame()
    lab.clock.advance(set_at + 300 - lab.clock.seconds())
    event, data = await bounded(frame)
    assert (event, data["msg"]) == ("chatMsg", "Countdown tea: time's up!")
    await lab.idle()
    assert await lab.ask("mod", "!countdown party cancel") == "Countdown party cancelled."
    assert lab.plugin.timers.countdowns == {}
    assert await lab.kv("countdown:all") is None


@pytest_twisted.ensureDeferred
async def test_countdown_limits(db_url: str) -> None:
    lab = await FunLab(db_url, config={"max_countdowns": 3, "max_countdowns_per_user": 2}).start()
    try:
        assert (await lab.ask("alice", "!countdown a 1h")).startswith("Countdown a:")
        assert (await lab.ask("alice", "!countdown b 1h")).startswith("Countdown b:")
        assert await lab.ask("alice", "!countdown c 1h") == (
            "You have 2 countdowns running already; that's the limit."
        )
        assert (await lab.ask("alice", "!countdown a 2h")).startswith("Countdown a: 2 hours")
        assert (await lab.ask("mod", "!countdown c 1h")).startswith("Countdown c:")
        assert await lab.ask("mod", "!countdown d 1h") == (
            "3 countdowns are running already; that's the limit."
        )
        assert (await lab.ask("mod", "!countdown a 3h")).startswith("Countdown a: 3 hours")
        assert lab.plugin.timers.countdowns["a"].by == "mod"
    finally:
        await lab.stop()
