"""Command declarations, typed arguments and the router's rules."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted
from twisted.internet import task
from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import capturedLogs

from rosey import events
from rosey.bot.commands import (
    CHAT,
    PM,
    Arg,
    ArgumentError,
    Choice,
    Command,
    CommandContext,
    CommandRegistry,
    CommandRouter,
    OutputMemory,
    Rest,
    UserName,
    command,
)
from rosey.bot.commands.args import parse_args
from rosey.bot.dispatch import Dispatcher
from rosey.bot.sendqueue import Muted, SendQueue
from rosey.events import Event
from rosey.storage.errors import StorageUnavailable
from rosey.wire.fake import FakeConnection

ME = "rosey"


class Recorder:
    """A Sender that records what the router asked to send."""

    def __init__(self) -> None:
        self.said: list[str] = []
        self.pms: list[tuple[str, str]] = []
        self.result: Deferred[None] | None = None

    def say(self, text: str, meta: dict[str, Any] | None = None) -> Deferred[None]:
        self.said.append(text)
        return self.result if self.result is not None else succeed(None)

    def pm(self, to: str, text: str, meta: dict[str, Any] | None = None) -> Deferred[None]:
        self.pms.append((to, text))
        return succeed(None)


def chat(user: str, text: str, **kw: Any) -> Event:
    return Event(events.MESSAGE, None, user=user, content=text, **kw)


def pm(user: str, text: str) -> Event:
    return Event(events.PM, None, user=user, content=text, extra={"to": ME})


class Setup:
    def __init__(self, *commands: Command, ranks: dict[str, float] | None = None, **kw: Any):
        self.clock = task.Clock()
        self.sender = Recorder()
        self.registry = CommandRegistry()
        self.registry.add(*commands)
        self.memory = OutputMemory(self.clock)
        ranks = ranks or {}
        self.router = CommandRouter(
            self.registry,
            self.sender,
            self.clock,
            own_name=lambda: ME,
            rank_of=ranks.get,
            own_output=self.memory,
            services="the services",
            **kw,
        )


@command("echo", args=[Arg("text", Rest)])
def echo(ctx: CommandContext) -> str:
    """Say it back."""
    return ctx.args["text"]


# -- declarations ---------------------------------------------------------------------------------


def test_command_defaults_from_function() -> None:
    @command()
    def greet_cmd(ctx: CommandContext) -> None:
        """Greet someone.

        Longer text that is not the summary."""

    assert greet_cmd.name == "greet"
    assert greet_cmd.help == "Greet someone."
    assert greet_cmd.where == CHAT | PM
    assert greet_cmd.min_rank == 0


def test_bad_declarations() -> None:
    with pytest.raises(ValueError, match="bad command name"):
        command("two words")(lambda ctx: None)
    with pytest.raises(ValueError, match="last"):
        command("x", args=[Arg("a", Rest), Arg("b")])(lambda ctx: None)
    with pytest.raises(ValueError, match="follows an optional"):
        command("x", args=[Arg("a", default=1), Arg("b")])(lambda ctx: None)
    with pytest.raises(ValueError, match="somewhere"):
        command("x", where=CHAT & PM)(lambda ctx: None)


def test_registry_names_aliases_and_clashes() -> None:
    reg = CommandRegistry()
    roll = command("roll", aliases=("dice", "r"))(lambda ctx: None)
    reg.add(roll, echo)
    assert reg.get("ROLL") is roll
    assert reg.get("Dice") is roll
    assert "r" in reg
    assert [c.name for c in reg] == ["echo", "roll"]
    assert len(reg) == 2
    with pytest.raises(ValueError, match="dice"):
        reg.add(command("dice")(lambda ctx: None))
    reg.remove("r")
    assert reg.get("roll") is None
    assert len(reg) == 1


def test_commands_on_a_class_bind_to_the_instance() -> None:
    class Plugin:
        def __init__(self, greeting: str) -> None:
            self.greeting = greeting

        @command("hello", help="Say hello.")
        def hello(self, ctx: CommandContext) -> str:
            return f"{self.greeting}, {ctx.user}"

    reg = CommandRegistry()
    found = reg.add_from(Plugin("Howdy"))
    assert [c.name for c in found] == ["hello"]
    s = Setup()
    s.registry.add_from(Plugin("Hi"))
    s.router.handle(chat("alice", "!hello"))
    assert s.sender.said == ["Hi, alice"]


# -- arguments ------------------------------------------------------------------------------------


def test_typed_arguments() -> None:
    args = [
        Arg("n", int),
        Arg("x", float, default=1.5),
        Arg("mode", Choice("fast", "slow"), default="slow"),
        Arg("who", UserName, default=None),
        Arg("rest", Rest, default=""),
    ]
    assert parse_args(args, " 3 ") == {"n": 3, "x": 1.5, "mode": "slow", "who": None, "rest": ""}
    got = parse_args(args, "-2 0.25 FAST @Bob_1 and  the rest ")
    assert got == {"n": -2, "x": 0.25, "mode": "fast", "who": "Bob_1", "rest": "and  the rest"}
    for bad in ("", "1_000", "3.5", "1 nan", "1 inf", "1 1 medium", "1 1 fast [server]"):
        with pytest.raises(ArgumentError):
            parse_args(args, bad)
    with pytest.raises(ArgumentError, match="unexpected 'extra'"):
        parse_args([Arg("n", int)], "1 extra")


def test_custom_converter_errors_become_argument_errors() -> None:
    def even(text: str) -> int:
        value = int(text)
        if value % 2:
            raise ArgumentError("must be even")
        return value

    assert parse_args([Arg("n", even)], "4") == {"n": 4}
    with pytest.raises(ArgumentError, match="must be even"):
        parse_args([Arg("n", even)], "3")
    with pytest.raises(ArgumentError, match="bad <n>"):
        parse_args([Arg("n", even)], "x")  # int()'s own message is not shown to users


def test_usage_line() -> None:
    cmd = command(
        "kick", args=[Arg("who", UserName), Arg("why", Rest, default="", metavar="reason")]
    )(lambda ctx: None)
    assert cmd.usage("!") == "!kick <user> [reason...]"


# -- routing rules --------------------------------------------------------------------------------


def test_runs_and_replies_where_it_came_from() -> None:
    s = Setup(echo)
    assert s.router.handle(chat("alice", "!echo hi  there")) is not None
    s.router.handle(pm("bob", "!ECHO secret"))
    assert s.sender.said == ["hi  there"]
    assert s.sender.pms == [("bob", "secret")]


def test_context_contents() -> None:
    seen: list[CommandContext] = []

    @command("peek", args=[Arg("n", int, default=7)])
    def peek(ctx: CommandContext) -> None:
        seen.append(ctx)

    s = Setup(peek, ranks={"alice": 2})
    event = chat("alice", "!peek")
    s.router.handle(event)
    ctx = seen[0]
    assert (ctx.user, ctx.rank, ctx.where, dict(ctx.args)) == ("alice", 2, CHAT, {"n": 7})
    assert ctx.event is event
    assert ctx.services == "the services"
    assert ctx.invocation == "!peek"
    ctx.reply_pm("psst")
    assert s.sender.pms == [("alice", "psst")]


@pytest.mark.parametrize(
    "event",
    [
        chat("alice", "!echo x", replayed=True),
        chat("Rosey", "!echo x"),
        chat("[server]", "!echo x"),
        chat("[voteskip]", "!echo x"),
        chat("alice", "!echo x", extra={"server_whisper": True}),
        chat("alice", "echo x"),
        chat("alice", "! echo x"),
        chat("alice", "!nosuchcommand"),
        chat("alice", "!"),
        Event("user_join", None, user="alice", content="!echo x"),
        Event(events.MESSAGE, None, user=None, content="!echo x"),
    ],
)
def test_never_runs(event: Event) -> None:
    s = Setup(echo)
    assert s.router.handle(event) is None
    assert s.sender.said == []
    assert s.sender.pms == []


def test_never_runs_the_bots_own_output_under_another_name() -> None:
    s = Setup(echo)
    s.memory.remember("!echo  LOOP")
    assert s.router.handle(chat("relaybot", "!echo loop")) is None
    s.clock.advance(301)  # forgotten after the ttl
    assert s.router.handle(chat("relaybot", "!echo loop")) is not None


def test_rank_refusal_is_short_and_throttled() -> None:
    ban = command("ban", min_rank=2, args=[Arg("who", UserName)])(lambda ctx: "banned")
    s = Setup(ban, ranks={"mod": 2, "user": 1})
    s.router.handle(chat("user", "!ban troll"))
    s.router.handle(chat("user", "!ban troll"))
    s.router.handle(chat("stranger", "!ban troll"))  # unknown rank counts as 0
    assert s.sender.said == ["Sorry, !ban needs moderator rank."] * 2
    s.clock.advance(10)
    s.router.handle(chat("user", "!ban troll"))
    assert len(s.sender.said) == 3
    s.router.handle(chat("mod", "!ban troll"))
    assert s.sender.said[-1] == "banned"


def test_bad_arguments_answer_with_usage() -> None:
    add = command("add", args=[Arg("a", int), Arg("b", int)])(
        lambda ctx: str(ctx.args["a"] + ctx.args["b"])
    )
    s = Setup(add)
    s.router.handle(chat("alice", "!add 1 two"))
    assert s.sender.said == ["Usage: !add <number> <number> ('two' is not a whole number)"]
    s.router.handle(pm("bob", "!add 1"))
    assert s.sender.pms == [("bob", "Usage: !add <number> <number> (missing <number>)")]
    s.router.handle(chat("carol", "!add 1 2"))
    assert s.sender.said[-1] == "3"


def test_where_restrictions() -> None:
    secret = command("secret", where=PM)(lambda ctx: "42")
    loud = command("loud", where=CHAT)(lambda ctx: "LOUD")
    s = Setup(secret, loud)
    s.router.handle(chat("alice", "!secret"))
    s.router.handle(pm("bob", "!loud"))
    assert s.sender.said == ["Sorry, !secret only works by PM."]
    assert s.sender.pms == [("bob", "Sorry, !loud only works in chat.")]
    s.router.handle(pm("carol", "!secret"))
    assert s.sender.pms[-1] == ("carol", "42")


def test_user_and_global_cooldowns() -> None:
    ran: list[str] = []
    slow = command("slow", cooldown_user=5)(lambda ctx: ran.append(ctx.user))
    rare = command("rare", cooldown_global=60)(lambda ctx: ran.append("rare:" + ctx.user))
    s = Setup(slow, rare)
    for user in ("alice", "ALICE", "bob"):
        s.router.handle(chat(user, "!slow"))
    assert ran == ["alice", "bob"]
    s.clock.advance(5)
    s.router.handle(chat("alice", "!slow"))
    s.router.handle(chat("alice", "!rare"))
    s.router.handle(chat("bob", "!rare"))
    assert ran == ["alice", "bob", "alice", "rare:alice"]
    s.clock.advance(60)
    s.router.handle(chat("bob", "!rare"))
    assert ran[-1] == "rare:bob"


def test_cooldown_is_told_once_per_window() -> None:
    slow = command("slow", cooldown_user=30)(lambda ctx: "done")
    s = Setup(slow)
    s.router.handle(chat("alice", "!slow"))
    s.clock.advance(17.5)
    for _ in range(5):  # spamming yields one note, not one per try
        s.router.handle(chat("ALICE", "!slow"))
        s.clock.advance(1)
    assert s.sender.said == ["done", "ALICE: you can use !slow again in 13 seconds."]
    s.router.handle(pm("alice", "!slow"))  # same window: already told
    s.router.handle(chat("bob", "!slow"))
    assert s.sender.said[-1] == "done"
    assert s.sender.pms == []
    s.clock.advance(8)  # alice's window is over: she runs it and starts another
    s.router.handle(chat("alice", "!slow"))
    s.router.handle(pm("alice", "!slow"))
    s.router.handle(pm("alice", "!slow"))
    assert s.sender.said[-1] == "done"
    assert s.sender.pms == [("alice", "You can use !slow again in 30 seconds.")]


def test_global_cooldown_is_told_once_per_user() -> None:
    rare = command("rare", cooldown_global=120)(lambda ctx: "rare!")
    s = Setup(rare)
    s.router.handle(chat("alice", "!rare"))
    s.router.handle(chat("bob", "!rare"))
    s.router.handle(chat("bob", "!rare"))
    s.router.handle(chat("carol", "!rare"))
    assert s.sender.said == [
        "rare!",
        "bob: you can use !rare again in 2 minutes.",
        "carol: you can use !rare again in 2 minutes.",
    ]


def test_cooldown_note_never_starts_with_the_prefix() -> None:
    s = Setup(command("slow", cooldown_user=5)(lambda ctx: "ok"), prefix="x")
    s.router.handle(chat("xena", "xslow"))
    s.router.handle(chat("xena", "xslow"))
    assert s.sender.said == ["ok", "» xena: you can use xslow again in 5 seconds."]


@pytest.mark.parametrize(
    "reply",
    ["/kick bob", "  /clear", "!echo loop", "fine\n/ban bob", "fine\n !echo x", "/me hi\n/kick"],
)
def test_unsafe_reply_is_refused_with_a_short_answer(reply: str) -> None:
    s = Setup(command("say")(lambda ctx: reply))
    with capturedLogs() as logged:
        s.router.handle(chat("alice", "!say"))
        s.router.handle(pm("bob", "!say"))
    assert s.sender.said == ["alice: I can't say that."]
    assert s.sender.pms == [("bob", "I can't say that.")]
    assert sum("Not sending" in e.get("log_format", "") for e in logged) == 2


def test_handlers_replying_by_hand_are_checked_too() -> None:
    @command("hand")
    def hand(ctx: CommandContext) -> None:
        ctx.reply("/kick " + ctx.user)
        ctx.reply_pm("!hand")

    s = Setup(hand)
    s.router.handle(chat("alice", "!hand"))
    assert s.sender.said == ["alice: I can't say that."]
    assert s.sender.pms == [("alice", "I can't say that.")]


@pytest.mark.parametrize("reply", ["/me waves", "/sp spoiler", "say /kick", "a!b", "»/x"])
def test_safe_replies_pass(reply: str) -> None:
    s = Setup(command("say")(lambda ctx: reply))
    s.router.handle(chat("alice", "!say"))
    assert s.sender.said == [reply]


def test_refusals_are_throttled_per_command() -> None:
    add = command("add", args=[Arg("a", int)])(lambda ctx: "sum")
    ban = command("ban", min_rank=2)(lambda ctx: "banned")
    s = Setup(add, ban)
    s.router.handle(chat("alice", "!add x"))
    s.router.handle(chat("alice", "!add y"))
    s.router.handle(chat("alice", "!ban"))
    assert s.sender.said == [
        "Usage: !add <number> ('x' is not a whole number)",
        "Sorry, !ban needs moderator rank.",
    ]


@pytest_twisted.ensureDeferred
async def test_async_and_deferred_handlers() -> None:
    gate: Deferred[str] = Deferred()

    @command("later")
    async def later(ctx: CommandContext) -> str:
        return "waited for " + await gate

    s = Setup(later, command("now")(lambda ctx: succeed("deferred reply")))
    d = s.router.handle(chat("alice", "!later"))
    assert d is not None
    assert not d.called
    assert s.sender.said == []
    gate.callback("it")
    await d
    s.router.handle(chat("alice", "!now"))
    assert s.sender.said == ["waited for it", "deferred reply"]


def test_crash_is_logged_and_answered() -> None:
    def broken(ctx: CommandContext) -> None:
        raise RuntimeError("bug")

    with capturedLogs() as errors:
        s = Setup(command("broken")(broken))
        d = s.router.handle(chat("alice", "!broken"))
    assert d is not None
    assert d.called
    assert s.sender.said == ["Sorry, !broken failed."]
    assert any("log_failure" in e and e["log_failure"].check(RuntimeError) for e in errors)


def test_storage_unavailable_is_answered_without_a_traceback() -> None:
    def away(ctx: CommandContext) -> Deferred[str]:
        return fail(StorageUnavailable("database service: none is running"))

    with capturedLogs() as logged:
        s = Setup(command("modlog")(away))
        s.router.handle(chat("alice", "!modlog"))
    assert s.sender.said == ["Sorry, my records are not available right now."]
    assert not [e for e in logged if "log_failure" in e]
    assert any("storage unavailable" in e["log_format"] for e in logged)


def test_reply_failure_does_not_escape() -> None:
    s = Setup(echo)
    s.sender.result = fail(Muted("You have been muted"))
    d = s.router.handle(chat("alice", "!echo hi"))
    assert d is not None
    results: list[Any] = []
    d.addBoth(results.append)
    assert results == [None]


def test_custom_prefix() -> None:
    s = Setup(echo, prefix="$")
    s.router.handle(chat("alice", "!echo no"))
    s.router.handle(chat("alice", "$echo yes"))
    assert s.sender.said == ["yes"]
    with pytest.raises(ValueError, match="prefix must be a non-blank string"):
        Setup(echo, prefix=" ")


def test_output_memory_limits() -> None:
    clock = task.Clock()
    memory = OutputMemory(clock, ttl=10, size=3)
    for text in ("a", "b", "c", "d"):
        memory.remember(text)
    assert "a" not in memory
    assert "B" in memory
    assert len(memory) == 3
    clock.advance(11)
    assert "d" not in memory
    assert len(memory) == 0
    assert 5 not in memory


# -- with the real dispatcher, send queue and fake connection -----------------------------------


def test_end_to_end_reply_and_no_loop() -> None:
    clock = task.Clock()
    conn = FakeConnection(username=ME)
    disp = Dispatcher()
    conn.subscribe(disp.dispatch)
    memory = OutputMemory(clock)
    queue = SendQueue(conn, clock, own_rank=lambda: 3.0, remember=memory.remember)
    registry = CommandRegistry()
    registry.add(echo)
    router = CommandRouter(
        registry,
        queue,
        clock,
        own_name=lambda: conn.username,
        rank_of=lambda u: 1.0,
        own_output=memory,
    )
    router.attach(disp)
    conn.make_ready()
    queue.startService()

    conn.feed(chat("alice", "!echo !echo boom"))
    assert conn.sent == [("chatMsg", {"msg": "alice: I can't say that.", "meta": {}})]
    conn.feed(chat(ME, "alice: I can't say that."))
    # A plugin says a line that is a command; the server echoes it, a relay repeats it.
    queue.say("!echo boom")
    assert conn.sent[-1] == ("chatMsg", {"msg": "!echo boom", "meta": {}})
    conn.feed(chat(ME, "!echo boom"))
    conn.feed(chat("relay", "!echo boom"))
    assert len(conn.sent) == 2
    assert queue.in_flight == 0
    router.detach(disp)
    conn.feed(chat("alice", "!echo again"))
    assert len(conn.sent) == 2
