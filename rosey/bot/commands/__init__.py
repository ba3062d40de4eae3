"""The command layer: declare commands with :func:`command`, register them in a
:class:`CommandRegistry`, and let a :class:`CommandRouter` run them from chat and PMs.

- :mod:`.args`: typed arguments (:class:`Arg`, :data:`Rest`, :data:`UserName`, :class:`Choice`).
- :mod:`.spec`: :func:`command`, :class:`Command`, :class:`CommandRegistry`, :class:`Where`.
- :mod:`.context`: :class:`CommandContext`, what a handler receives.
- :mod:`.router`: :class:`CommandRouter` and :class:`OutputMemory`.
"""

from rosey.bot.commands.args import REQUIRED, Arg, ArgumentError, Choice, Rest, UserName
from rosey.bot.commands.context import CommandContext, Sender
from rosey.bot.commands.router import CommandRouter, OutputMemory
from rosey.bot.commands.spec import (
    ANYWHERE,
    CHAT,
    PM,
    Command,
    CommandRegistry,
    Where,
    command,
    rank_name,
)

__all__ = [
    "ANYWHERE",
    "CHAT",
    "PM",
    "REQUIRED",
    "Arg",
    "ArgumentError",
    "Choice",
    "Command",
    "CommandContext",
    "CommandRegistry",
    "CommandRouter",
    "OutputMemory",
    "Rest",
    "Sender",
    "UserName",
    "Where",
    "command",
    "rank_name",
]
