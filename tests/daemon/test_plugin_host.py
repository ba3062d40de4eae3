"""Loading plugins per channel: start order, isolation of a raising plugin, stop in reverse."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from typing import Any, ClassVar

from twisted.internet.defer import Deferred
from twisted.logger import capturedLogs, formatEvent

from rosey import events
from rosey.api_impl import run_plugin
from rosey.bot.commands import CommandContext, command
from rosey.daemon.config import parse
from rosey.daemon.plugin_discovery import Discovery
from rosey.daemon.plugin_host import PluginHost
from rosey.daemon.reload import PluginManager
from rosey.events import Event
from rosey.plugin import Plugin, PluginFactory
from rosey.plugins.core import core
from tests.plugins.lab import Lab

CORE_COMMANDS = ["about", "flip", "help", "peak", "ping", "roll", "seen", "stats", "tell", "top"]


class Recording(Plugin):
    """Registers ``!<name>`` answering its name, and records its life in ``journal``."""

    journal: ClassVar[list[str]] = []

    def start(self) -> Deferred[None] | None:
        self.journal.append(f"start {self.name}")

        @command(self.name, help=f"The {self.name} command.")
        def answer(ctx: CommandContext) -> str:
            return f"{self.name} here"

        self.add_command(answer)
        self.on(events.MESSAGE, lambda e: self.journal.append(f"{self.name} saw {e.content}"))
        return None

    def stop(self) -> Deferred[None] | None:
        self.journal.append(f"stop {self.name}")
        return super().stop()


def recording(name: str) -> PluginFactory:
    return PluginFactory(name, Recording)


def host(lab: Lab, *factories: PluginFactory | Any) -> PluginHost:
    h = PluginHost(lab.bot, "cytube.example/labchan", [(f.name, f, None) for f in factories])
    h.setServiceParent(lab.bot)
    return h


def logged_lines(logged: Sequence[Any]) -> list[str]:
    return [formatEvent(e) for e in logged]


def test_plugins_start_after_the_bot_in_order_and_stop_in_reverse() -> None:
    Recording.journal = []
    lab = Lab()
    h = host(lab, recording("zeta"), recording("alpha"), core)
    # nothing before start
    assert Recording.journal == []
    assert len(lab.bot.commands) == 0
    lab.join()
    assert h.started is not None
    assert h.started.called
    assert Recording.journal == ["start alpha", "start zeta"]  # core first, then by name
    assert list(h.instances) == ["core", "alpha", "zeta"]
    assert lab.chat("alice", "!alpha") == ["alpha here"]
    assert lab.chat("alice", "!ping") == ["pong"]
    stopped = lab.bot.stopService()
    assert stopped is not None
    assert stopped.called
    assert Recording.journal[-2:] == ["stop zeta", "stop alpha"]
    assert h.instances == {}
    assert len(lab.bot.commands) == 0  # every plugin's commands went with it
    assert lab.bot.dispatcher.handlers(events.USER_JOIN) == ()


def test_help_lists_the_commands_of_every_plugin() -> None:
    lab = Lab()
    host(lab, core, recording("alpha"))
    lab.join()
    (listing,) = lab.chat("alice", "!help")
    for name in [*CORE_COMMANDS, "alpha"]:
        assert f"!{name}" in listing
    assert lab.chat("alice", "!help alpha") == ["Usage: !alpha - The alpha command."]


class CreateFails(Plugin):
    def __init__(self, api: Any) -> None:
        raise RuntimeError("cannot create")


class StartFails(Plugin):
    def start(self) -> Deferred[None] | None:
        self.add_command(command("half", help="Registered before the crash.")(lambda c: "x"))
        raise ValueError("start bug")


class StartFailsLater(Plugin):
    def start(self) -> Deferred[None] | None:
        self.add_command(command("later", help="Registered before the failure.")(lambda c: "x"))
        d: Deferred[None] = Deferred()
        self.api.clock.callLater(5, d.errback, OSError("state did not load"))
        return d


class AsyncStart(Plugin):
    async def start(self) -> None:  # type: ignore[override]
        self.add_command(command("asyncy", help="From an async start.")(lambda c: "async ok"))


def test_a_plugin_that_raises_on_create_or_start_is_logged_and_isolated() -> None:
    lab = Lab()
    h = host(
        lab,
        core,
        PluginFactory("makebad", CreateFails),
        PluginFactory("startbad", StartFails),
        PluginFactory("latebad", StartFailsLater),
        PluginFactory("asyncgood", AsyncStart),
    )
    with capturedLogs() as logged:
        lab.join()
        assert "later" in lab.bot.commands  # its start is still running
        assert h.started is not None
        assert not h.started.called
        lab.clock.advance(5)
    assert h.started.called
    lines = logged_lines(logged)
    for name, why in [
        ("makebad", "could not be created: cannot create"),
        ("startbad", "failed to start: start bug"),
        ("latebad", "failed to start: state did not load"),
    ]:
        assert any(f"plugin {name} in cytube.example/labchan {why}" in line for line in lines), (
            name,
            lines,
        )
    assert set(h.failed) == {"makebad", "startbad", "latebad"}
    assert h.failed["startbad"] == "start: ValueError: start bug"
    assert list(h.instances) == ["core", "asyncgood"]
    # What the failed plugins had registered is gone; the others work.
    assert "half" not in lab.bot.commands
    assert "later" not in lab.bot.commands
    assert lab.chat("alice", "!asyncy") == ["async ok"]
    assert lab.chat("alice", "!ping") == ["pong"]


class Faulty(Plugin):
    """A handler and a command that raise."""

    def start(self) -> Deferred[None] | None:
        self.on(events.MESSAGE, self.explode)

        @command("boom", help="Always fails.")
        def boom(ctx: CommandContext) -> str:
            raise ZeroDivisionError("command bug")

        self.add_command(boom)
        return None

    def explode(self, event: Event) -> None:
        raise KeyError("handler bug")


def test_a_raising_handler_or_command_in_a_plugin_is_isolated() -> None:
    Recording.journal = []
    lab = Lab()
    host(lab, core, PluginFactory("faulty", Faulty), recording("zeta"))
    lab.join()
    errors: list[Event] = []
    lab.bot.on(events.ERROR, errors.append)
    with capturedLogs() as logged:
        assert lab.chat("alice", "!boom") == ["Sorry, !boom failed."]
        lab.clock.advance(10)  # past the router's one-notice-per-user interval
        assert lab.chat("alice", "!ping") == ["pong"]
    lines = logged_lines(logged)
    assert any("Command !boom from alice failed" in line for line in lines)
    assert any("handler bug" in str(e.get("log_failure", "")) for e in logged)
    # The handler registered after the broken one still saw every line.
    assert "zeta saw !boom" in Recording.journal
    assert "zeta saw !ping" in Recording.journal
    assert errors
    assert all(e.extra["handler"].endswith("explode") for e in errors)


def test_per_channel_enable_and_disable_through_the_manager() -> None:
    Recording.journal = []
    found = Discovery(
        factories={"core": core, "alpha": recording("alpha"), "beta": recording("beta")},
        modules={"core": "rosey.plugins.core"},
    )
    doc = tomllib.loads("""
[plugins]
disable = ["beta"]

[[channel]]
site = "https://cytu.be"
name = "one"

[[channel]]
site = "https://cytu.be"
name = "two"
enable_plugins = ["beta"]
disable_plugins = ["alpha", "core"]
""")
    config = parse(doc, {}, plugins=found)
    manager = PluginManager(config.plugins)
    one, two = Lab("one"), Lab("two")
    manager.host_for(one.bot, config.channels[0]).setServiceParent(one.bot)
    manager.host_for(two.bot, config.channels[1]).setServiceParent(two.bot)
    one.join()
    two.join()
    assert one.chat("alice", "!alpha") == ["alpha here"]
    assert one.chat("alice", "!beta") == []
    assert one.chat("alice", "!ping") == ["pong"]
    assert two.chat("alice", "!beta") == ["beta here"]
    assert two.chat("alice", "!alpha") == []
    assert two.chat("alice", "!ping") == []
    status = repr(manager.status())
    assert "alpha: running in cytu.be/one\n" in status
    assert "beta: running in cytu.be/two\n" in status


def test_a_standalone_bot_gets_the_core_commands_with_run_plugin() -> None:
    bare = Lab()
    assert len(bare.bot.commands) == 0
    lab = Lab()
    run_plugin(lab.bot, core)
    lab.join()
    assert sorted(c.name for c in lab.bot.commands) == CORE_COMMANDS
    assert lab.chat("alice", "!ping") == ["pong"]
    assert lab.chat("alice", "!tell bob hi") == [
        "I have no database here, so I can't keep messages."
    ]
