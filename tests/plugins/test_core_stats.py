"""``!stats``, ``!seen``, ``!top``, ``!peak`` and ``!tell`` on a real SQLite file.

A Bot on a FakeConnection that answers like the CyTube server (chat and PM echoes, PM errors),
fed server frames through the real normalizer; the real Recorder writes what happens into a real
SQLStorage. The bot's clock is a ``task.Clock`` (cooldowns, send pacing, "ago"); the storage runs
on the real reactor's thread pool, and every wait on it is a Deferred with a bound.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from typing import Any

import pytest_twisted
from twisted.internet import task
from twisted.internet.defer import Deferred
from twisted.logger import capturedLogs, formatEvent

from rosey import events
from rosey.api_impl import PluginAPI
from rosey.bot.chattext import ago, clean_text, human_duration, js_substring, safe_line
from rosey.bot.sendqueue.split import split_message
from rosey.bot.service import Bot
from rosey.events import Event
from rosey.plugins import core_stats as stats_mod
from rosey.plugins.core_stats import install_stats, stats_commands
from rosey.plugins.core_tell import TellDelivery
from rosey.storage.errors import StorageError
from rosey.storage.interface import IStorage
from rosey.storage.recorder import Recorder
from rosey.storage.service import open_storage
from rosey.wire.fake import FakeConnection
from rosey.wire.normalize import Normalizer

ME = "rosey"
ROOM = "labchan"
CH = "cytube.example/labchan"  # the storage key: rows of two sites' labchans never mix
T0 = 1_800_000_000.0
BOUND = 5.0


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


def bounded(d: Deferred[Any]) -> Deferred[Any]:
    return d.addTimeout(BOUND, _reactor())


def user(name: str, rank: float = 1) -> dict[str, Any]:
    return {
        "name": name,
        "rank": rank,
        "profile": {"image": "", "text": ""},
        "meta": {"afk": False, "muted": False, "smuted": False, "aliases": [name]},
    }


class Server(FakeConnection):
    """A FakeConnection that answers like CyTube 3.86: every chat line and PM is echoed (on the
    next reactor turn), a PM to someone not connected gets the server's ``errorMsg``."""

    def __init__(self, lab: Lab) -> None:
        super().__init__(channel=ROOM, username=ME)
        self.lab = lab
        self.online: set[str] = set()
        self._waiters: list[Deferred[tuple[str, Any]]] = []

    def emit(self, event: str, data: Any = None) -> None:
        super().emit(event, data)
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.callback((event, data))
        lab, msg = self.lab, html.escape(data.get("msg", ""), quote=False)
        if event == "chatMsg":
            payload = {"username": ME, "msg": msg, "meta": {}, "time": lab.ms()}
            _reactor().callLater(0, lab.server, "chatMsg", payload)
        elif event == "pm":
            to = data["to"]
            if to.casefold() in self.online:
                payload = {"username": ME, "msg": msg, "meta": {}, "time": lab.ms(), "to": to}
                _reactor().callLater(0, lab.server, "pm", payload)
            else:
                error = {"msg": f"PM failed: {to} isn't connected to this channel."}
                _reactor().callLater(0, lab.server, "errorMsg", error)

    def next_frame(self) -> Deferred[tuple[str, Any]]:
        d: Deferred[tuple[str, Any]] = Deferred()
        self._waiters.append(d)
        return d


class Lab:
    """A bot with the stats commands, a recorder, and a real SQLite storage."""

    def __init__(self, url: str, clock: task.Clock | None = None) -> None:
        self.url = url
        self.clock = clock or task.Clock()
        if clock is None:
            self.clock.advance(T0)
        self.conn = Server(self)
        self.storage: IStorage = open_storage(url, _reactor())
        self.bot = Bot(self.conn, clock=self.clock, storage=self.storage, storage_key=CH)
        self.api = PluginAPI(self.bot, "core")
        self.tells = TellDelivery(self.api)
        self.bot.add_command(*stats_commands(self.api, self.tells))
        self.tells.attach()
        self.recorder = Recorder(
            self.storage,
            self.bot,
            view=self.bot.mirror,
            clock=self.clock,
            channel=CH,
            snapshot_interval=0,
        )
        self.normalizer = Normalizer()

    def ms(self) -> int:
        return int(self.clock.seconds() * 1000)

    async def start(self, users: tuple[str, ...] = ("alice", "mod"), rank: float = 3) -> Lab:
        await bounded(self.storage.connect())
        self.bot.startService()
        self.recorder.startService()
        self.conn.connect()
        self.server("rank", 1)
        self.server("login", {"success": True, "name": ME, "guest": False})
        self.server("rank", rank)
        self.normalizer.begin_join()
        listed = [user(ME, rank)] + [user(n, 2 if n == "mod" else 1) for n in users]
        self.server("userlist", listed)
        self.conn.online = {u["name"].casefold() for u in listed}
        self.conn.make_ready()
        return self

    async def stop(self) -> None:
        await bounded(self.tells.idle())
        await bounded(self.recorder.stopService())
        self.bot.stopService()
        await bounded(self.storage.close())

    # -- the server ---------------------------------------------------------------------------

    def server(self, name: str, data: Any = None) -> None:
        self.conn.feed(self.normalizer.normalize(name, data))

    def chat(self, who: str, text: str) -> None:
        self.server(
            "chatMsg",
            {"username": who, "msg": html.escape(text, quote=False), "meta": {}, "time": self.ms()},
        )

    def pm_in(self, who: str, text: str) -> None:
        self.server(
            "pm",
            {
                "username": who,
                "msg": html.escape(text, quote=False),
                "meta": {},
                "time": self.ms(),
                "to": ME,
            },
        )

    def join(self, name: str, rank: float = 1) -> None:
        self.conn.online.add(name.casefold())
        self.server("addUser", user(name, rank))

    def leave(self, name: str) -> None:
        self.conn.online.discard(name.casefold())
        self.server("userLeave", {"name": name})

    # -- the bot ------------------------------------------------------------------------------

    async def ask(self, who: str, text: str, *, pm: bool = False) -> str:
        """``who`` says ``text`` (in chat or by PM); the bot's answer."""
        frame = self.conn.next_frame()
        (self.pm_in if pm else self.chat)(who, text)
        event, data = await bounded(frame)
        assert event == ("pm" if pm else "chatMsg"), (event, data)
        if pm:
            assert data["to"] == who
        self.clock.advance(10)  # past every cooldown
        return str(data["msg"])

    async def flush(self) -> None:
        await bounded(self.recorder.flush())

    async def delivered(self) -> None:
        await bounded(self.tells.idle())

    def pms(self, to: str) -> list[str]:
        return [d["msg"] for e, d in self.conn.sent if e == "pm" and d["to"] == to]

    def said(self) -> list[str]:
        return [d["msg"] for e, d in self.conn.sent if e == "chatMsg"]


@pytest_twisted.async_yield_fixture()
async def lab(db_url: str) -> AsyncIterator[Lab]:
    lab = await Lab(db_url).start()
    yield lab
    await lab.stop()


# -- text helpers ---------------------------------------------------------------------------------


def test_human_durations() -> None:
    assert human_duration(0) == "0 seconds"
    assert human_duration(1) == "1 second"
    assert human_duration(90) == "1 minute 30 seconds"
    assert human_duration(3725) == "1 hour 2 minutes"
    assert human_duration(3605) == "1 hour"  # no "1 hour 5 seconds"
    assert human_duration(90061) == "1 day 1 hour"
    assert human_duration(400 * 86400) == "1 year 35 days"
    assert ago(0.4) == ago(-30) == "just now"
    assert ago(120) == "2 minutes ago"


def test_clean_text_and_safe_line() -> None:
    assert clean_text(" hi\n/kick bob\r\n\x00x\u2028y\t ") == "hi /kick bob x y"
    assert safe_line("/kick bob", "!") == "» /kick bob"
    assert safe_line("  !ping", "!") == "» !ping"
    assert safe_line("alice said: !ping", "!") == "alice said: !ping"
    assert safe_line("» x", "»") == "· » x"


# -- !stats, !seen, !top, !peak -------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_stats_own_other_and_unknown(lab: Lab) -> None:
    for i in range(3):
        lab.chat("alice", f"line {i}")
    lab.clock.advance(60)
    lab.join("bob")
    lab.chat("bob", "hi all")
    lab.clock.advance(125)
    lab.leave("bob")
    lab.clock.advance(3540)
    await lab.flush()

    own = await lab.ask("alice", "!stats")
    assert own == (
        "alice: 3 chat lines, connected 1 hour 2 minutes, first seen 1 hour 2 minutes ago, "
        "here now."
    )
    assert await lab.ask("mod", "!stats BOB") == (
        "bob: 1 chat line, connected 2 minutes 5 seconds, first seen 1 hour 1 minute ago, "
        "last seen 59 minutes 10 seconds ago."
    )
    assert await lab.ask("mod", "!stats carol") == "I have no stats for carol yet."
    lab.join("dave")  # the join is still buffered in the recorder
    assert await lab.ask("dave", "!stats") == "I have no stats for you yet."
    # by PM, the answer comes by PM (alice's own !stats line may be counted by now)
    assert (await lab.ask("mod", "!stats @alice", pm=True)).startswith("alice: ")


@pytest_twisted.ensureDeferred
async def test_seen(lab: Lab) -> None:
    lab.join("bob")
    lab.clock.advance(30)
    lab.leave("bob")
    lab.clock.advance(7200)
    await lab.flush()
    assert await lab.ask("mod", "!seen alice") == "alice is here now."
    assert await lab.ask("mod", "!seen ALICE") == "alice is here now."
    assert await lab.ask("mod", "!seen bob") == "bob was last seen 2 hours ago."
    assert await lab.ask("mod", "!seen carol") == "I've never seen carol."
    assert await lab.ask("mod", "!seen rosey") == "I'm right here."
    assert await lab.ask("mod", "!seen help") == "I've never seen help."


@pytest_twisted.ensureDeferred
async def test_top_lists_five_and_leaves_the_bot_out(lab: Lab) -> None:
    assert await lab.ask("alice", "!top") == "Nobody has said anything yet."
    await lab.flush()  # the bot's own answer is a chat line too, and counted in storage
    for i, name in enumerate(["u1", "u2", "u3", "u4", "u5", "u6"], start=1):
        await bounded(lab.storage.save_user_stats(CH, name, chat_lines=i * 1000))
    await bounded(lab.storage.save_user_stats(CH, ME, chat_lines=10**6))
    assert await lab.ask("alice", "!top") == (
        "Top chatters: 1. u6 (6,000), 2. u5 (5,000), 3. u4 (4,000), 4. u3 (3,000), 5. u2 (2,000)"
    )


@pytest_twisted.ensureDeferred
async def test_peak(lab: Lab) -> None:
    assert await lab.ask("alice", "!peak") == "No peak recorded yet."
    lab.server("usercount", 7)
    # (in one batch the recorder would give both marks the later time)
    await lab.flush()
    lab.clock.advance(600)
    lab.join("bob")  # four users listed now: the mark moves to this moment
    lab.server("usercount", 3)
    lab.clock.advance(3000)
    lab.leave("bob")
    await lab.flush()
    assert await lab.ask("alice", "!peak") == (
        "Peak: 4 users in chat (50 minutes ago); 7 connected (1 hour ago)."
    )


@pytest_twisted.ensureDeferred
async def test_cooldown_per_user_per_command(lab: Lab) -> None:
    router = lab.bot.router
    alice = Event(events.MESSAGE, None, user="alice", content="!seen bob")
    first = router.handle(alice)
    assert first is not None
    await bounded(first)
    lab.clock.advance(4.9)
    note = router.handle(alice)  # on cooldown: nothing runs, one note is said
    assert note is not None
    await bounded(note)
    assert "alice: you can use !seen again in 1 second." in lab.said()
    assert router.handle(alice) is None  # told once per cooldown
    assert router.handle(Event(events.MESSAGE, None, user="alice", content="!top")) is not None
    other = router.handle(Event(events.MESSAGE, None, user="mod", content="!seen bob"))
    assert other is not None  # another user is not held up
    await bounded(other)
    lab.clock.advance(0.2)
    again = router.handle(alice)
    assert again is not None
    await bounded(again)
    assert lab.said().count("I've never seen bob.") == 3


@pytest_twisted.ensureDeferred
async def test_storage_down_is_one_answer_not_a_crash(lab: Lab, db_url: str) -> None:
    broken = open_storage(db_url, _reactor())
    await bounded(broken.connect())
    await bounded(broken.close())
    lab.bot.storage = broken  # the recorder keeps the working one
    assert await lab.ask("alice", "!stats") == "Sorry, my records are not available right now."
    assert await lab.ask("alice", "!tell bob hi") == (
        "Sorry, my records are not available right now."
    )
    with capturedLogs() as logs:
        lab.join("bob")  # the delivery gives up quietly, in one log line
        await lab.delivered()
    assert [e["log_level"].name for e in logs] == ["warn"]
    assert "storage is closed" in formatEvent(logs[0])


# -- !tell ----------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_tell_is_delivered_once_by_pm_on_join(lab: Lab) -> None:
    assert await lab.ask("alice", "!tell Bob see you at <b>8</b> & bring snacks") == (
        "I'll tell Bob when they're next here."
    )
    lab.clock.advance(110)
    lab.join("bob")
    lab.chat("bob", "hello")  # joins and talks before the first delivery is done: one PM
    await lab.delivered()
    assert lab.pms("bob") == ["alice said: see you at <b>8</b> & bring snacks (2 minutes ago)"]
    assert await bounded(lab.storage.get_unsent_outbound(CH, "bob")) == []
    # even asked again right away, with the "nothing here" pause lifted
    lab.tells.expect("bob")
    again = lab.tells.deliver("bob")
    assert again is not None
    await bounded(again)
    lab.leave("bob")
    lab.join("bob")
    await lab.delivered()
    assert len(lab.pms("bob")) == 1
    assert lab.tells.sent == 1


@pytest_twisted.ensureDeferred
async def test_tell_is_delivered_on_chat_and_by_pm_command(lab: Lab) -> None:
    # asked by PM, answered by PM; delivered when the recipient (already here) next talks
    reply = await lab.ask("mod", "!tell alice the build is green", pm=True)
    assert reply == "I'll tell alice when they're next here."
    lab.clock.advance(5)
    lab.chat("alice", "back")
    await lab.delivered()
    assert lab.pms("alice") == ["mod said: the build is green (15 seconds ago)"]


@pytest_twisted.ensureDeferred
async def test_tell_goes_to_chat_when_the_user_cannot_be_pmed(lab: Lab) -> None:
    await lab.ask("alice", "!tell carol hi carol")
    lab.chat("carol", "hey")  # talks without being in the user list the bot was sent
    await lab.delivered()
    assert lab.pms("carol") == []
    assert lab.said()[-1] == "carol: alice said: hi carol (10 seconds ago)"
    assert await bounded(lab.storage.get_unsent_outbound(CH, "carol")) == []


@pytest_twisted.ensureDeferred
async def test_failed_pm_is_counted_and_retried_later(lab: Lab) -> None:
    await lab.ask("alice", "!tell bob ping")
    lab.join("bob")
    lab.conn.online.discard("bob")  # gone for the server by the time the PM arrives
    await lab.delivered()
    [row] = await bounded(lab.storage.get_unsent_outbound(CH, "bob"))
    assert row.retry_count == 1
    assert "isn't connected" in (row.last_error or "")
    lab.conn.online.add("bob")
    lab.chat("bob", "I'm here")  # too soon after the failure: no new attempt
    await lab.delivered()
    assert lab.tells.failed == 1
    assert lab.tells.sent == 0
    lab.clock.advance(61)
    lab.chat("bob", "still here")
    await lab.delivered()
    assert lab.pms("bob")[-1] == "alice said: ping (1 minute 11 seconds ago)"
    assert await bounded(lab.storage.get_unsent_outbound(CH, "bob")) == []


class Flaky:
    """The real storage, counting reads of outbound messages; marking sent fails once."""

    def __init__(self, storage: IStorage) -> None:
        self.storage = storage
        self.reads = 0
        self.mark_failures = 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.storage, name)

    def get_unsent_outbound(self, *args: Any, **kwargs: Any) -> Deferred[Any]:
        self.reads += 1
        return self.storage.get_unsent_outbound(*args, **kwargs)

    def mark_outbound_sent(self, *args: Any, **kwargs: Any) -> Deferred[None]:
        if self.mark_failures:
            self.mark_failures -= 1
            from twisted.internet.defer import fail

            return fail(StorageError("database is locked"))
        return self.storage.mark_outbound_sent(*args, **kwargs)


@pytest_twisted.ensureDeferred
async def test_delivered_but_not_marked_is_not_sent_again(lab: Lab) -> None:
    flaky = Flaky(lab.storage)
    lab.bot.storage = flaky  # type: ignore[assignment]
    await lab.ask("alice", "!tell bob hi")
    with capturedLogs() as logs:
        lab.join("bob")
        await lab.delivered()
    assert "cannot be marked sent" in formatEvent(logs[-1])
    assert len(await bounded(lab.storage.get_unsent_outbound(CH, "bob"))) == 1
    lab.tells.expect("bob")
    lab.chat("bob", "hello")
    await lab.delivered()
    assert lab.pms("bob") == ["alice said: hi (10 seconds ago)"]
    assert await bounded(lab.storage.get_unsent_outbound(CH, "bob")) == []
    # a chatty user with nothing waiting costs no read at all (storage knows from memory)
    reads = flaky.reads
    for i in range(5):
        lab.chat("bob", f"line {i}")
    await lab.delivered()
    assert flaky.reads == reads
    lab.clock.advance(lab.tells.recheck_after)
    lab.chat("bob", "later")
    await lab.delivered()
    assert flaky.reads == reads
    # a message queued straight through storage (not through !tell) is still found at once
    await bounded(lab.storage.enqueue_outbound(CH, "bob", "direct", sender="carol"))
    lab.chat("bob", "anything?")
    await lab.delivered()
    assert flaky.reads == reads + 1
    assert lab.pms("bob")[-1].startswith("carol said: direct")


@pytest_twisted.ensureDeferred
async def test_tell_survives_a_restart_and_is_not_repeated_after_one(db_url: str) -> None:
    first = await Lab(db_url).start()
    await first.ask("alice", "!tell bob remember the milk")
    await first.stop()

    second = await Lab(db_url, first.clock).start()
    second.clock.advance(3600)
    second.join("bob")
    await second.delivered()
    assert second.pms("bob") == ["alice said: remember the milk (1 hour ago)"]
    await second.stop()

    third = await Lab(db_url, first.clock).start()
    third.join("bob")
    await third.delivered()
    assert third.pms("bob") == []
    await third.stop()


@pytest_twisted.ensureDeferred
async def test_tell_refusals_and_limits(lab: Lab) -> None:
    assert await lab.ask("alice", "!tell rosey hi") == "I'm right here: just say it."
    assert await lab.ask("alice", "!tell ALICE hi") == "You can tell yourself that."
    assert await lab.ask("alice", "!tell bob " + "x" * 301) == (
        "That's 301 characters; !tell takes 300."
    )
    assert await lab.ask("alice", "!tell bob " + "y" * 300) == (
        "I'll tell bob when they're next here."
    )
    for name in ("c1", "c2", "c3", "c4"):
        assert (await lab.ask("alice", f"!tell {name} hi")).startswith("I'll tell")
    assert await lab.ask("alice", "!tell c5 hi") == (
        "You already have 5 messages waiting to be delivered (at most 5)."
    )
    assert (await lab.ask("mod", "!tell c5 hi")).startswith("I'll tell")  # per sender
    lab.join("c1")
    await lab.delivered()
    assert (await lab.ask("alice", "!tell c5 hi")).startswith("I'll tell")  # one was delivered
    # a user the server lists as anonymous (rank -1) may not
    lab.join("anon", rank=-1)
    assert await lab.ask("anon", "!tell bob hi") == "Sorry, !tell needs guest rank."


@pytest_twisted.ensureDeferred
async def test_many_senders_cannot_flood_one_recipient(lab: Lab) -> None:
    for i in range(stats_mod.MAX_PENDING_PER_RECIPIENT):
        await bounded(lab.storage.enqueue_outbound(CH, "bob", f"m{i}", sender=f"s{i}"))
    assert await lab.ask("alice", "!tell bob one more") == "bob already has 20 messages waiting."


@pytest_twisted.ensureDeferred
async def test_hostile_tell_text_never_becomes_a_command(lab: Lab) -> None:
    sender = "mallory_the_longname"
    lab.join(sender)
    # newlines (possible in a PM), a server command, the bot's prefix, HTML, unicode
    reply = await lab.ask(
        sender, "!tell bob hi\n/kick alice\n!tell x <script>é🌍</script>", pm=True
    )
    assert reply == "I'll tell bob when they're next here."
    # a message whose naive split puts "/…" at the start of the second line
    message = "x" * 200 + " /" + "k" * 98
    assert len(message) == 300
    assert split_message(f"{sender} said: {message} (10 seconds ago)", 318)[1].startswith("/")
    assert (await lab.ask(sender, f"!tell bob {message}")).startswith("I'll tell")
    [stored, _] = await bounded(lab.storage.get_unsent_outbound(CH, "bob"))
    assert stored.message == "hi /kick alice !tell x <script>é🌍</script>"  # one line
    lab.join("bob")
    await lab.delivered()
    sent = lab.pms("bob")
    assert sent[0] == f"{sender} said: hi /kick alice !tell x <script>é🌍</script> (20 seconds ago)"
    assert sent[2].startswith("» /kkk")
    assert sent[2].endswith("(10 seconds ago)")
    assert not any(m.startswith(("/", "!")) for m in sent + lab.said())
    # hostile arguments get the usage line, once
    assert await lab.ask("bob", "!seen b\u00f3b") == (
        "Usage: !seen <user> ('b\u00f3b' is not a user name)"
    )
    lab.clock.advance(10)
    assert (await lab.ask("carl", "!stats " + "a" * 5000)).startswith("Usage: !stats [user]")


@pytest_twisted.ensureDeferred
async def test_install_stats_adds_the_commands_and_the_delivery(db_url: str) -> None:
    clock = task.Clock()
    clock.advance(T0)
    storage = open_storage(db_url, _reactor())
    await bounded(storage.connect())
    bot = Bot(FakeConnection(ROOM, ME), clock=clock, storage=storage)
    install_stats(PluginAPI(bot, "core"))
    assert {"stats", "seen", "top", "peak", "tell"} <= {c.name for c in bot.commands}
    [on_join] = bot.dispatcher.handlers(events.USER_JOIN)
    assert isinstance(getattr(on_join, "__self__", None), TellDelivery)
    assert on_join in bot.dispatcher.handlers(events.MESSAGE)
    await bounded(storage.close())


def test_tell_without_a_database_says_so() -> None:
    clock = task.Clock()
    conn = FakeConnection(ROOM, ME)
    bot = Bot(conn, clock=clock)  # the no-op storage
    install_stats(PluginAPI(bot, "core"))
    bot.startService()
    conn.connect()
    normalizer = Normalizer()
    conn.feed(normalizer.normalize("rank", 1))
    conn.feed(normalizer.normalize("login", {"success": True, "name": ME, "guest": False}))
    conn.feed(normalizer.normalize("userlist", [user(ME), user("alice")]))
    conn.make_ready()
    chat = {"username": "alice", "msg": "!tell bob hi", "meta": {}, "time": 1_000}
    conn.feed(normalizer.normalize("chatMsg", chat))
    conn.feed(normalizer.normalize("addUser", user("bob")))  # nothing to deliver, no error
    assert conn.sent == [
        ("chatMsg", {"msg": "I have no database here, so I can't keep messages.", "meta": {}})
    ]
    bot.stopService()


def test_js_substring_counts_utf16_units_like_the_server() -> None:
    assert js_substring("abc", 2) == "ab"
    assert js_substring("a\N{CLAPPER BOARD}b", 3) == "a\N{CLAPPER BOARD}"  # the emoji is two
    assert js_substring("a\N{CLAPPER BOARD}b", 2) == "a\ud83c"  # cut in half: its first half
    assert js_substring("\N{CLAPPER BOARD}" * 3, 6) == "\N{CLAPPER BOARD}" * 3
    assert js_substring("x" * 10, 20) == "x" * 10
