"""The Bot service on a FakeConnection and a ``task.Clock``: event order, handlers, commands.

Events reach the bot the way :class:`~rosey.wire.connection.CyTubeConnection` delivers them: the
payloads are in CyTube 3.86's exact shapes and go through the real
:class:`~rosey.wire.normalize.Normalizer` (which marks the join burst's replayed chat).
"""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet import task
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import capturedLogs
from twisted.python.failure import Failure

from rosey import events
from rosey.api_impl import run_plugin
from rosey.bot.commands import Arg, CommandContext, Rest, command
from rosey.bot.dispatch import MAX_CACHED_NAMES
from rosey.bot.service import Bot
from rosey.errors import ConnectionClosed
from rosey.events import Event
from rosey.plugins.core import core
from rosey.wire.fake import FakeConnection
from rosey.wire.normalize import Normalizer

ME = "rosey"
BUILTINS = ("about", "flip", "help", "ping", "roll")


def user(name: str, rank: float = 1) -> dict[str, Any]:
    """A ``userlist``/``addUser`` entry as a rank-3 viewer sees it."""
    return {
        "name": name,
        "rank": rank,
        "profile": {"image": "", "text": ""},
        "meta": {"afk": False, "muted": False, "smuted": False, "aliases": [name], "ip": "+x.y"},
    }


class Lab:
    """A Bot on a FakeConnection, fed server events through the real normalizer."""

    def __init__(self, *, with_core: bool = True, **bot_kwargs: Any) -> None:
        self.clock = task.Clock()
        self.clock.advance(1_000)
        self.conn = FakeConnection(channel="testchan", username=ME)
        self.bot = Bot(self.conn, clock=self.clock, **bot_kwargs)
        if with_core:  # the core plugin, as the daemon enables it by default
            run_plugin(self.bot, core)
        self.normalizer = Normalizer()
        self.ms = 1_800_000_000_000  # chatMsg.time, epoch milliseconds
        self.echoed = 0  # how many of the bot's chatMsg frames were echoed back

    def join(self, rank: float = 3, *, replay: tuple[tuple[str, str], ...] = ()) -> Lab:
        """Start the bot, then a registered login and join burst (with chat ``replay``ed)."""
        self.bot.startService()
        self.conn.connect()
        self.server("rank", 1)
        self.server("login", {"success": True, "name": ME, "guest": False})
        self.server("rank", rank)
        self.normalizer.begin_join()  # joinChannel sent: chat before the userlist is history
        self.server("setPermissions", {})
        for who, text in replay:
            self.chat(who, text)
        self.server("setMotd", "Lab MOTD")
        self.server("userlist", [user(ME, rank), user("alice", 1), user("mod", 2)])
        self.conn.make_ready()
        return self

    def server(self, name: str, data: Any = None) -> None:
        """The server sent event ``name`` with ``data``."""
        self.conn.feed(self.normalizer.normalize(name, data))

    def chat(self, who: str, text: str) -> None:
        self.ms += 1000
        self.server("chatMsg", {"username": who, "msg": text, "meta": {}, "time": self.ms})

    def said(self) -> list[str]:
        """Every chat line the bot sent, in order."""
        return [data["msg"] for name, data in self.conn.sent if name == "chatMsg"]

    def echo(self) -> None:
        """The server echoes every chat line the bot sent since the last echo."""
        lines = self.said()
        for text in lines[self.echoed :]:
            self.chat(ME, text)
        self.echoed = len(lines)


# -- event order ---------------------------------------------------------------------------------


def test_handlers_see_the_mirror_already_updated_by_their_event() -> None:
    lab = Lab().join()
    seen: list[Any] = []
    lab.bot.on(events.USER_JOIN, lambda e: seen.append(lab.bot.mirror.users.get(e.user or "")))
    lab.bot.on("setMotd", lambda e: seen.append(lab.bot.mirror.channel.motd))
    lab.bot.on(events.USER_LEAVE, lambda e: seen.append(e.user in lab.bot.mirror.users))
    lab.server("addUser", user("bob", 2))
    lab.server("setMotd", "<b>new</b> motd")
    lab.server("userLeave", {"name": "bob"})
    assert seen[0] is not None
    assert seen[0].name == "bob"
    assert seen[0].rank == 2
    assert seen[1:] == ["<b>new</b> motd", False]


def test_the_queue_and_the_actions_are_confirmed_before_handlers_run() -> None:
    lab = Lab().join()
    said = lab.bot.say("hello")
    motd = lab.bot.actions.set_motd("changed")
    assert ("setMotd", {"motd": "changed"}) in lab.conn.sent
    at_handler: dict[str, bool] = {}
    lab.bot.on(events.MESSAGE, lambda e: at_handler.setdefault("say", said.called))
    lab.bot.on("setMotd", lambda e: at_handler.setdefault("motd", motd.called))
    lab.echo()
    lab.server("setMotd", "changed")
    assert at_handler == {"say": True, "motd": True}
    assert said.result is None
    assert motd.result == "changed"


def test_events_before_start_and_after_stop_do_not_reach_the_bot() -> None:
    lab = Lab()
    seen: list[Event] = []
    lab.bot.on("*", seen.append)
    lab.server("setMotd", "too early")
    assert seen == []
    assert lab.bot.mirror.channel.motd == ""
    assert not lab.bot.queue.running
    lab.join()
    assert lab.bot.running
    assert lab.bot.queue.running
    assert lab.bot.mirror.channel.motd == "Lab MOTD"
    assert lab.bot.mirror.rank == 3
    assert events.READY in [e.name for e in seen]
    lab.bot.stopService()
    count = len(seen)
    lab.server("setMotd", "too late")
    assert len(seen) == count
    assert lab.bot.mirror.channel.motd == "Lab MOTD"
    assert not lab.bot.running
    assert not lab.bot.queue.running


def test_stopping_the_bot_fails_what_the_queue_still_holds() -> None:
    lab = Lab().join()
    sent = lab.bot.say("in flight")
    lab.conn.ready = lab.conn.connected = False  # nothing more goes out
    lab.server(events.DISCONNECTED, {"reason": "test"})
    sent.addErrback(lambda f: None)
    held = lab.bot.say("held while disconnected")
    failures: list[Failure] = []
    held.addErrback(failures.append)
    lab.bot.stopService()
    assert len(failures) == 1
    assert failures[0].check(ConnectionClosed)


# -- on / off / errors ---------------------------------------------------------------------------


def test_on_and_off() -> None:
    lab = Lab().join()
    calls: list[str] = []

    def first(event: Event) -> None:
        calls.append("first:" + (event.content or ""))

    def everything(event: Event) -> None:
        if event.name == events.MESSAGE:
            calls.append("*:" + (event.content or ""))

    assert lab.bot.on(events.MESSAGE, first) is first
    lab.bot.on("*", everything)
    lab.chat("alice", "one")
    lab.bot.off(events.MESSAGE, first)
    lab.chat("alice", "two")
    lab.bot.off("*", everything)
    lab.bot.off("*", everything)  # unknown: ignored
    lab.chat("alice", "three")
    assert calls == ["first:one", "*:one", "*:two"]


def test_a_handler_returning_true_stops_the_later_ones() -> None:
    lab = Lab().join()
    calls: list[str] = []

    def first(event: Event) -> bool:
        calls.append("a")
        return event.content == "stop"

    lab.bot.on(events.MESSAGE, first)
    lab.bot.on(events.MESSAGE, lambda e: calls.append("b"))
    lab.chat("alice", "go on")
    lab.chat("alice", "stop")
    assert calls == ["a", "b", "a"]


def test_a_failing_handler_becomes_an_error_event_and_the_others_still_run() -> None:
    lab = Lab().join()
    calls: list[str] = []
    errors: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("handler bug")

    lab.bot.on(events.MESSAGE, lambda e: calls.append("before"))
    lab.bot.on(events.MESSAGE, broken)
    lab.bot.on(events.MESSAGE, lambda e: calls.append("after"))
    lab.bot.on(events.ERROR, errors.append)
    with capturedLogs() as logged:
        lab.chat("alice", "hi")
    assert calls == ["before", "after"]
    assert len(errors) == 1
    error = errors[0]
    assert isinstance(error.platform_data, Failure)
    assert error.platform_data.check(RuntimeError)
    assert error.extra["event"].content == "hi"
    assert "broken" in error.extra["handler"]
    assert any("handler bug" in str(e.get("log_failure", "")) for e in logged)
    # the bot goes on: the next event, and commands, still work
    lab.chat("alice", "!ping")
    assert lab.said() == ["pong"]
    assert calls == ["before", "after", "before", "after"]


def test_handle_event_answers_a_plain_bool_when_every_handler_is_synchronous() -> None:
    """No Deferred per event on the common path (the connection accepts any return value)."""
    lab = Lab().join()
    lab.bot.on("drinkCount", lambda e: None)
    assert lab.bot.handle_event(Event("drinkCount", 2)) is False
    lab.bot.on("drinkCount", lambda e: True)
    assert lab.bot.handle_event(Event("drinkCount", 3)) is True
    assert lab.bot.mirror.channel.drink_count == 3


def test_handlers_added_or_removed_after_events_flowed_take_effect_at_once() -> None:
    """handle_event keeps each event name's steps; every on/off (also on the dispatcher itself,
    as the command router does) must reach the next event."""
    lab = Lab().join()
    seen: list[object] = []
    lab.server("drinkCount", 1)  # the steps for drinkCount are made and kept now

    def handler(event: Event) -> None:
        seen.append(event.platform_data)

    lab.bot.on("drinkCount", handler)
    lab.server("drinkCount", 2)
    lab.bot.dispatcher.on("*", handler)
    lab.server("drinkCount", 3)
    lab.bot.off("drinkCount", handler)
    lab.bot.dispatcher.off("*", handler)
    lab.server("drinkCount", 4)
    assert seen == [2, 3, 3]
    assert lab.bot.mirror.channel.drink_count == 4


def test_event_names_the_server_invents_keep_the_bot_bounded() -> None:
    lab = Lab().join()
    seen: list[str] = []
    lab.bot.on("*", lambda event: seen.append(event.name))
    names = [f"invented{i}" for i in range(3 * MAX_CACHED_NAMES)]
    for name in names:
        lab.server(name, None)
    assert seen[-len(names) :] == names
    assert len(lab.bot._routes) <= MAX_CACHED_NAMES
    assert len(lab.bot.dispatcher._table) <= MAX_CACHED_NAMES
    lab.chat("alice", "!ping")  # and the bot still works
    assert lab.said() == ["pong"]


def test_handle_event_never_fails_and_waits_for_async_handlers() -> None:
    lab = Lab().join()
    gate: Deferred[None] = Deferred()
    calls: list[str] = []

    async def slow(event: Event) -> None:
        await gate
        calls.append("slow")

    def failing_later(event: Event) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        lab.clock.callLater(1, d.errback, ValueError("later"))
        return d

    lab.bot.on("drinkCount", slow)
    lab.bot.on("drinkCount", failing_later)
    lab.bot.on("drinkCount", lambda e: calls.append("last"))
    errors: list[Event] = []
    lab.bot.on(events.ERROR, errors.append)
    outcome: list[object] = []
    maybeDeferred(lab.bot.handle_event, Event("drinkCount", 2)).addBoth(outcome.append)
    assert lab.bot.mirror.channel.drink_count == 2  # the mirror does not wait for handlers
    assert outcome == []
    assert calls == []
    gate.callback(None)
    assert calls == ["slow"]
    assert outcome == []
    lab.clock.advance(1)
    assert calls == ["slow", "last"]
    assert outcome == [False]
    assert len(errors) == 1
    assert errors[0].platform_data.check(ValueError)


# -- commands ------------------------------------------------------------------------------------


def test_ping_is_answered_through_the_queue_and_confirmed_by_the_echo() -> None:
    lab = Lab().join()
    lab.chat("alice", "!ping")
    assert lab.conn.sent[-1] == ("chatMsg", {"msg": "pong", "meta": {}})
    assert lab.bot.queue.in_flight == 1
    with capturedLogs() as logged:
        lab.echo()
        lab.clock.advance(60)  # well past the queue's ack timeout
    assert lab.bot.queue.in_flight == 0
    complaints = ("Could not answer", "no echo")
    assert not [e for e in logged if any(c in (e.get("log_format") or "") for c in complaints)]
    assert lab.said() == ["pong"]


def test_replies_wait_for_ready_and_go_out_in_order() -> None:
    lab = Lab()
    lab.bot.startService()
    lab.conn.connect()
    lab.server("login", {"success": True, "name": ME, "guest": False})
    lab.server("rank", 3)
    lab.server("userlist", [user(ME, 3), user("alice", 1)])
    lab.chat("alice", "!ping")  # live (no joinChannel yet) but not ready: held
    assert lab.said() == []
    lab.conn.make_ready()
    assert lab.said() == ["pong"]


def test_a_replayed_ping_never_runs() -> None:
    lab = Lab().join(replay=(("alice", "!ping"), ("mod", "!help")))
    assert lab.said() == []
    lab.clock.advance(10)
    assert lab.said() == []
    lab.chat("alice", "!ping")  # the same line live does run: the replay was not just lost
    assert lab.said() == ["pong"]


def test_the_bots_own_ping_never_runs() -> None:
    lab = Lab().join()
    lab.chat(ME, "!ping")
    lab.chat("ROSEY", "!ping")  # names compare ignoring case, as on CyTube
    lab.server("pm", {"username": ME, "msg": "!ping", "meta": {}, "time": lab.ms, "to": "alice"})
    assert lab.said() == []
    assert not [s for s in lab.conn.sent if s[0] == "pm"]


def test_a_ping_the_bot_said_itself_is_not_run_when_someone_repeats_it() -> None:
    lab = Lab().join()
    lab.bot.say("!ping")
    lab.echo()
    lab.chat("alice", "!ping")  # a relay bot repeating rosey's line
    assert lab.said() == ["!ping"]
    lab.clock.advance(400)  # the memory of own output expires
    lab.chat("alice", "!ping")
    assert lab.said() == ["!ping", "pong"]


def test_help_lists_the_builtins_and_explains_one() -> None:
    lab = Lab().join()
    lab.chat("alice", "!help")
    (listing,) = lab.said()
    assert listing.startswith("Commands: ")
    for name in BUILTINS:
        assert f"!{name}" in listing
    lab.chat("mod", "!help roll")
    assert lab.said()[1].startswith("Usage: !roll")
    assert "also !dice" in lab.said()[1]


def test_help_by_pm_is_answered_by_pm() -> None:
    lab = Lab().join()
    pm = {"username": "alice", "msg": "!help ping", "meta": {}, "time": lab.ms, "to": ME}
    lab.server("pm", pm)
    (data,) = [d for n, d in lab.conn.sent if n == "pm"]
    assert data["to"] == "alice"
    assert data["msg"].startswith("Usage: !ping")
    assert lab.said() == []


def test_added_commands_and_a_custom_prefix() -> None:
    lab = Lab(prefix="~").join()

    @command("echo", args=[Arg("text", Rest)], help="Say it back.")
    def echo_cmd(ctx: CommandContext) -> str:
        return f"{ctx.user}: {ctx.args['text']}"

    lab.bot.add_command(echo_cmd)
    lab.chat("alice", "!ping")  # not this bot's prefix
    lab.chat("alice", "~echo hi there")
    lab.chat("mod", "~ping")
    assert lab.said() == ["alice: hi there", "pong"]
    with pytest.raises(ValueError, match="already registered"):
        lab.bot.add_command(echo_cmd)  # a name is taken once


def test_subscribers_see_each_event_after_the_mirror_and_before_the_handlers() -> None:
    """What the recorder relies on: the mirror has applied the event it is handed, and a
    handler's reply comes after it; a subscriber that raises is logged, the event goes on."""
    conn = FakeConnection("testchan", ME)
    bot = Bot(conn, clock=task.Clock())
    seen: list[tuple[str, int]] = []

    def broken(event: Event) -> None:
        raise RuntimeError("boom")

    bot.subscribe(broken)
    bot.subscribe(lambda e: seen.append((e.name, bot.mirror.user_count)))
    bot.on(events.USER_JOIN, lambda e: seen.append(("handler", bot.mirror.user_count)))
    bot.startService()
    with capturedLogs() as logs:
        conn.feed(Event(events.USER_JOIN, user("alice"), user="alice"))
    assert seen == [(events.USER_JOIN, 1), ("handler", 1)]
    assert any(e.get("log_failure") for e in logs)
    bot.unsubscribe(broken)
    conn.feed(Event(events.USER_JOIN, user("bob"), user="bob"))
    assert seen[-2:] == [(events.USER_JOIN, 2), ("handler", 2)]
