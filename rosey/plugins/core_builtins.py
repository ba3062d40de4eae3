"""The commands every rosey has: ``help``, ``about``, ``ping``, ``roll`` and ``flip``.

:func:`builtin_commands` makes them with their dependencies (clock, randomness, channel name)
injected; register the result with ``api.add_command``.
Part of the **core** plugin (:mod:`rosey.plugins.core`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime

import rosey
from rosey.api import PM, Arg, ArgumentError, Command, CommandContext, command

__all__ = ["DiceSpec", "builtin_commands", "format_duration"]

_DICE = re.compile(r"(\d{1,4})?[dD](\d{1,8})(?:([+-])(\d{1,8}))?")


@dataclass(frozen=True, slots=True)
class DiceSpec:
    """``NdM±K``: roll ``count`` dice with ``sides`` sides and add ``modifier``."""

    count: int = 1
    sides: int = 6
    modifier: int = 0

    MAX_COUNT = 100
    MAX_SIDES = 1_000_000
    MAX_MODIFIER = 1_000_000

    @classmethod
    def parse(cls, text: str) -> DiceSpec:
        """Parse ``2d6``, ``d20``, ``3d8+2``, ``1d100-5``; raises :class:`ArgumentError`."""
        match = _DICE.fullmatch(text.strip())
        if match is None:
            raise ArgumentError(f"{text!r} is not dice like 2d6+1")
        count = int(match[1]) if match[1] else 1
        sides = int(match[2])
        modifier = int(match[4] or 0) * (-1 if match[3] == "-" else 1)
        if not 1 <= count <= cls.MAX_COUNT:
            raise ArgumentError(f"between 1 and {cls.MAX_COUNT} dice, please")
        if not 1 <= sides <= cls.MAX_SIDES:
            raise ArgumentError(f"dice have 1 to {cls.MAX_SIDES:,} sides")
        if abs(modifier) > cls.MAX_MODIFIER:
            raise ArgumentError(f"the modifier is at most ±{cls.MAX_MODIFIER:,}")
        return cls(count, sides, modifier)

    def __str__(self) -> str:
        bonus = f"{self.modifier:+d}" if self.modifier else ""
        return f"{self.count}d{self.sides}{bonus}"

    def roll(self, rng: random.Random) -> list[int]:
        """One result per die."""
        return [rng.randint(1, self.sides) for _ in range(self.count)]


def format_duration(seconds: float) -> str:
    """``3725`` → ``1h 2m 5s``; ``90061`` → ``1d 1h 1m 1s``."""
    total = max(0, int(seconds))
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if total >= size or parts:
            parts.append(f"{total // size}{unit}")
            total %= size
    parts.append(f"{total}s")
    return " ".join(parts)


def _place_note(cmd: Command, ctx: CommandContext) -> str:
    if cmd.where & ctx.where:
        return ""
    return " (by PM)" if cmd.where is PM else " (in chat)"


def builtin_commands(
    clock: IReactorTime,
    channel: Callable[[], str],
    *,
    rng: random.Random | None = None,
    started: float | None = None,
    version: str = rosey.__version__,
) -> list[Command]:
    """The built-in commands. ``channel`` gives the channel name, ``started`` the time uptime
    counts from (default: now), ``rng`` the randomness for ``roll`` and ``flip``."""
    rng = rng if rng is not None else random.Random()
    since = clock.seconds() if started is None else started

    @command(
        "help",
        args=[Arg("command", default=None)],
        cooldown_user=5,
        help="List the commands you can use, or explain one: help <command>.",
    )
    def help_cmd(ctx: CommandContext) -> str:
        p = ctx.prefix
        asked = ctx.args["command"]
        if asked is None:
            names = ", ".join(
                p + c.name + _place_note(c, ctx) for c in ctx.registry.visible(ctx.rank)
            )
            return f"Commands: {names}. Say {p}help <command> for details."
        name = asked.removeprefix(p)
        cmd = ctx.registry.get(name)
        if cmd is None or not cmd.allowed(ctx.rank):
            return f"No command {p}{name[:30]} here. Say {p}help for the list."
        text = "Usage: " + cmd.usage(p)  # a reply never starts with the prefix
        if cmd.help:
            text += f" - {cmd.help}"
        notes = []
        if cmd.aliases:
            notes.append("also " + ", ".join(p + a for a in cmd.aliases))
        if cmd.where is PM:
            notes.append("by PM only")
        elif not cmd.where & PM:
            notes.append("in chat only")
        if cmd.cooldown_user or cmd.cooldown_global:
            notes.append(f"cooldown {max(cmd.cooldown_user, cmd.cooldown_global):g}s")
        return text + (f" ({'; '.join(notes)})" if notes else "")

    @command("about", cooldown_user=10, help="What this bot is, and how long it has been up.")
    def about_cmd(ctx: CommandContext) -> str:
        uptime = format_duration(clock.seconds() - since)
        return f"rosey {version}, a CyTube bot. Up {uptime} in channel {channel()}."

    @command("ping", cooldown_user=3, help="Check that the bot is alive.")
    def ping_cmd(ctx: CommandContext) -> str:
        return "pong"

    @command(
        "roll",
        aliases=("dice",),
        args=[Arg("spec", DiceSpec.parse, default=DiceSpec(), metavar="NdM±K")],
        cooldown_user=3,
        help=f"Roll dice, e.g. 2d6+1 (at most {DiceSpec.MAX_COUNT}d{DiceSpec.MAX_SIDES}).",
    )
    def roll_cmd(ctx: CommandContext) -> str:
        spec: DiceSpec = ctx.args["spec"]
        rolls = spec.roll(rng)
        total = sum(rolls) + spec.modifier
        if spec.count == 1 and not spec.modifier:
            return f"{ctx.user} rolls {spec}: {total}"
        shown = f"[{', '.join(map(str, rolls))}]" if spec.count <= 20 else f"{sum(rolls)}"
        bonus = f" {spec.modifier:+d}" if spec.modifier else ""
        return f"{ctx.user} rolls {spec}: {shown}{bonus} = {total}"

    @command("flip", aliases=("coin",), cooldown_user=3, help="Flip a coin.")
    def flip_cmd(ctx: CommandContext) -> str:
        return f"{ctx.user} flips a coin: {rng.choice(('heads', 'tails'))}"

    return [help_cmd, about_cmd, ping_cmd, roll_cmd, flip_cmd]
