"""The built-in commands, run through the real router."""

from __future__ import annotations

import random
from typing import Any

import pytest
from twisted.internet import task
from twisted.internet.defer import Deferred, succeed

import rosey
from rosey import events
from rosey.bot.commands import PM, ArgumentError, CommandRegistry, CommandRouter, command
from rosey.events import Event
from rosey.plugins.core_builtins import DiceSpec, builtin_commands, format_duration


class Recorder:
    def __init__(self) -> None:
        self.said: list[str] = []
        self.pms: list[tuple[str, str]] = []

    def say(self, text: str, meta: dict[str, Any] | None = None) -> Deferred[None]:
        self.said.append(text)
        return succeed(None)

    def pm(self, to: str, text: str, meta: dict[str, Any] | None = None) -> Deferred[None]:
        self.pms.append((to, text))
        return succeed(None)


class Bot:
    def __init__(self, seed: int = 1) -> None:
        self.clock = task.Clock()
        self.clock.advance(1000)
        self.rng = random.Random(seed)
        self.sender = Recorder()
        self.registry = CommandRegistry()
        self.registry.add(*builtin_commands(self.clock, lambda: "labchan", rng=self.rng))
        self.ranks = {"mod": 2.0, "alice": 1.0}
        self.router = CommandRouter(
            self.registry, self.sender, self.clock, own_name=lambda: "rosey", rank_of=self.ranks.get
        )

    def chat(self, user: str, text: str) -> str:
        before = len(self.sender.said)
        self.router.handle(Event(events.MESSAGE, None, user=user, content=text))
        self.clock.advance(60)  # past every cooldown
        assert len(self.sender.said) == before + 1, f"no reply to {text!r}"
        return self.sender.said[-1]


def test_ping() -> None:
    assert Bot().chat("alice", "!ping") == "pong"


def test_about_has_version_uptime_and_channel() -> None:
    bot = Bot()
    bot.clock.advance(3725)
    assert bot.chat("alice", "!about") == (
        f"rosey {rosey.__version__}, a CyTube bot. Up 1h 2m 5s in channel labchan."
    )


def test_format_duration() -> None:
    assert format_duration(0) == "0s"
    assert format_duration(59.9) == "59s"
    assert format_duration(3600) == "1h 0m 0s"
    assert format_duration(90061) == "1d 1h 1m 1s"


def test_roll_is_deterministic_with_injected_randomness() -> None:
    bot = Bot(seed=7)
    expected = random.Random(7)
    rolls = [expected.randint(1, 6) for _ in range(2)]
    assert bot.chat("alice", "!roll 2d6+1") == (
        f"alice rolls 2d6+1: [{rolls[0]}, {rolls[1]}] +1 = {sum(rolls) + 1}"
    )
    one = expected.randint(1, 20)
    assert bot.chat("alice", "!dice d20") == f"alice rolls 1d20: {one}"
    default = expected.randint(1, 6)
    assert bot.chat("alice", "!roll") == f"alice rolls 1d6: {default}"


def test_roll_many_dice_shows_the_sum_only() -> None:
    reply = Bot().chat("alice", "!roll 100d1000000-5")
    prefix, _, total = reply.rpartition(" = ")
    assert prefix.startswith("alice rolls 100d1000000-5: ")
    assert "[" not in prefix
    assert 95 <= int(total) <= 100_000_000 - 5


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("101d6", "between 1 and 100 dice"),
        ("0d6", "between 1 and 100 dice"),
        ("2d1000001", "1 to 1,000,000 sides"),
        ("2d0", "1 to 1,000,000 sides"),
        ("1d6+1000001", "at most ±1,000,000"),
        ("banana", "'banana' is not dice"),
        ("2d6+", "is not dice"),
        ("99999999999d6", "is not dice"),
    ],
)
def test_roll_bad_spec_answers_usage(spec: str, why: str) -> None:
    reply = Bot().chat("alice", f"!roll {spec}")
    assert reply.startswith("Usage: !roll [NdM±K] (")
    assert why in reply


def test_dice_spec_parse_and_str() -> None:
    assert DiceSpec.parse("3D8-2") == DiceSpec(3, 8, -2)
    assert str(DiceSpec(1, 20)) == "1d20"
    assert str(DiceSpec(2, 6, 3)) == "2d6+3"
    with pytest.raises(ArgumentError):
        DiceSpec.parse("d")


def test_flip() -> None:
    bot = Bot(seed=3)
    expected = random.Random(3)
    results = [bot.chat("alice", "!flip") for _ in range(6)]
    sides = [expected.choice(("heads", "tails")) for _ in range(6)]
    assert results == [f"alice flips a coin: {side}" for side in sides]
    assert len(set(sides)) == 2  # the seed shows both faces
    assert bot.chat("alice", "!coin").startswith("alice flips a coin: ")


def test_help_lists_only_what_the_caller_may_run() -> None:
    bot = Bot()
    bot.registry.add(command("ban", min_rank=2, help="Ban someone.")(lambda ctx: None))
    bot.registry.add(command("secret", where=PM, help="Psst.")(lambda ctx: None))
    user_help = bot.chat("alice", "!help")
    assert user_help == (
        "Commands: !about, !flip, !help, !ping, !roll, !secret (by PM). "
        "Say !help <command> for details."
    )
    mod_help = bot.chat("mod", "!help")
    assert "!ban" in mod_help
    assert bot.chat("alice", "!help ban") == "No command !ban here. Say !help for the list."
    assert bot.chat("mod", "!help !ban") == "Usage: !ban - Ban someone."


def test_help_for_one_command() -> None:
    bot = Bot()
    assert bot.chat("alice", "!help dice") == (
        "Usage: !roll [NdM±K] - Roll dice, e.g. 2d6+1 (at most 100d1000000). "
        "(also !dice; cooldown 3s)"
    )
    assert (
        bot.chat("alice", "!help ping")
        == "Usage: !ping - Check that the bot is alive. (cooldown 3s)"
    )


def test_help_by_pm_answers_by_pm() -> None:
    bot = Bot()
    bot.router.handle(
        Event(events.PM, None, user="alice", content="!help ping", extra={"to": "rosey"})
    )
    assert bot.sender.pms == [
        ("alice", "Usage: !ping - Check that the bot is alive. (cooldown 3s)")
    ]


def test_builtins_have_cooldowns() -> None:
    bot = Bot()
    bot.router.handle(Event(events.MESSAGE, None, user="alice", content="!ping"))
    bot.router.handle(Event(events.MESSAGE, None, user="alice", content="!ping"))
    bot.router.handle(Event(events.MESSAGE, None, user="alice", content="!ping"))
    assert bot.sender.said == ["pong", "alice: you can use !ping again in 3 seconds."]


def test_roll_given_a_chat_command_is_answered() -> None:
    bot = Bot()
    for text in ("!ping now", "!roll /kick", "!roll /kick"):
        bot.router.handle(Event(events.MESSAGE, None, user="alice", content=text))
    # One refusal per command and window: another command's refusal just before does not mute it.
    assert bot.sender.said == [
        "Usage: !ping (unexpected 'now')",
        "Usage: !roll [NdM±K] ('/kick' is not dice like 2d6+1)",
    ]
