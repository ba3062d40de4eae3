"""Declaring commands: the :func:`command` decorator, :class:`Command` and :class:`CommandRegistry`.

This is the one way to define a command::

    @command("roll", aliases=("dice",), args=[Arg("spec", dice_spec, default=None)],
             cooldown_user=3, help="Roll dice, e.g. 2d6+1.")
    def roll(ctx: CommandContext) -> str:
        ...

    registry.add(roll)

The handler takes a :class:`~rosey.bot.commands.context.CommandContext` and may be plain or
``async def`` (or return a Deferred); a returned ``str`` is sent as the reply. Decorated methods
of a class bind like methods: ``registry.add_from(plugin_instance)`` adds every command defined
on it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rosey.bot.commands.args import Arg, check_declaration, usage
from rosey.bot.permissions import rank_name

__all__ = ["ANYWHERE", "CHAT", "PM", "Command", "CommandRegistry", "Where", "command", "rank_name"]

#: A handler: takes a :class:`~rosey.bot.commands.context.CommandContext` (typed ``Any`` here:
#: that module imports this one, and the handlers name the type themselves).
Callback = Callable[[Any], Any]
#: What :func:`command` decorates: a handler, or a method taking ``(self, ctx)``.
Decorated = Callable[..., Any]


class Where(enum.Flag):
    """Where a command may be used: in channel chat, by private message, or both."""

    CHAT = enum.auto()
    PM = enum.auto()


CHAT = Where.CHAT
PM = Where.PM
ANYWHERE = Where.CHAT | Where.PM

_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}")


@dataclass(frozen=True, slots=True)
class Command:
    """One declared command (made by :func:`command`). Names are lower-case."""

    name: str
    callback: Callback
    aliases: tuple[str, ...] = ()
    min_rank: float = 0
    args: tuple[Arg, ...] = ()
    help: str = ""
    cooldown_user: float = 0
    cooldown_global: float = 0
    where: Where = ANYWHERE
    _bound: bool = field(default=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in (self.name, *self.aliases):
            if not _NAME.fullmatch(name):
                raise ValueError(f"bad command name {name!r}: use lower-case letters and digits")
        check_declaration(self.args)
        if self.cooldown_user < 0 or self.cooldown_global < 0:
            raise ValueError("cooldowns must be >= 0")
        if not self.where:
            raise ValueError("a command must be usable somewhere (CHAT and/or PM)")

    def __get__(self, obj: object, objtype: type | None = None) -> Command:
        # Defined on a class: bind the callback to the instance, like a method.
        if obj is None or self._bound or not hasattr(self.callback, "__get__"):
            return self
        return replace(self, callback=self.callback.__get__(obj, objtype), _bound=True)

    def __call__(self, ctx: Any) -> Any:
        """Run the handler directly (the router does more: rank, arguments, cooldowns)."""
        return self.callback(ctx)

    @property
    def names(self) -> tuple[str, ...]:
        """The name and every alias."""
        return (self.name, *self.aliases)

    def usage(self, prefix: str = "!") -> str:
        """``!roll [NdM±K]``."""
        return usage(prefix + self.name, self.args)

    def allowed(self, rank: float, where: Where | None = None) -> bool:
        """Whether a user of ``rank`` may run it (from ``where``, when given)."""
        return rank >= self.min_rank and (where is None or bool(self.where & where))


def command(
    name: str | None = None,
    *,
    aliases: Sequence[str] = (),
    min_rank: float = 0,
    args: Sequence[Arg] = (),
    help: str | None = None,
    cooldown_user: float = 0,
    cooldown_global: float = 0,
    where: Where = ANYWHERE,
) -> Callable[[Decorated], Command]:
    """Declare a command. ``name`` defaults to the function's name (``_cmd`` suffix removed);
    ``help`` to the first line of its docstring. Cooldowns are in seconds."""

    def declare(callback: Decorated) -> Command:
        doc = (callback.__doc__ or "").strip().splitlines()
        fallback = getattr(callback, "__name__", "command").removesuffix("_cmd")
        return Command(
            name=(name or fallback).lower(),
            callback=callback,
            aliases=tuple(a.lower() for a in aliases),
            min_rank=min_rank,
            args=tuple(args),
            help=help if help is not None else (doc[0] if doc else ""),
            cooldown_user=cooldown_user,
            cooldown_global=cooldown_global,
            where=where,
        )

    return declare


class CommandRegistry:
    """The commands a router knows, looked up by name or alias (case-insensitive)."""

    def __init__(self) -> None:
        self._by_name: dict[str, Command] = {}
        self._commands: dict[str, Command] = {}

    def add(self, *commands: Command) -> None:
        """Register commands; a name or alias already taken raises ``ValueError``."""
        for cmd in commands:
            taken = [n for n in cmd.names if n in self._by_name]
            if taken:
                raise ValueError(f"command name(s) already registered: {', '.join(taken)}")
            for n in cmd.names:
                self._by_name[n] = cmd
            self._commands[cmd.name] = cmd

    def add_from(self, source: object) -> list[Command]:
        """Register every :class:`Command` found as an attribute of ``source`` (a module, a class
        instance: methods come bound) and return them."""
        found = []
        for attr in dir(source):
            value = getattr(source, attr, None)
            if isinstance(value, Command):
                found.append(value)
        self.add(*found)
        return found

    def remove(self, name: str) -> None:
        """Unregister the command called ``name`` (or having it as an alias), if any."""
        cmd = self.get(name)
        if cmd is None:
            return
        for n in cmd.names:
            self._by_name.pop(n, None)
        self._commands.pop(cmd.name, None)

    def get(self, name: str) -> Command | None:
        """The command called ``name`` or having it as an alias."""
        return self._by_name.get(name.lower())

    def visible(self, rank: float) -> list[Command]:
        """The commands a user of ``rank`` may run, sorted by name."""
        return [c for c in self if c.allowed(rank)]

    def __iter__(self) -> Iterator[Command]:
        return iter(sorted(self._commands.values(), key=lambda c: c.name))

    def __len__(self) -> int:
        return len(self._commands)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._by_name
