"""What a command handler receives: :class:`CommandContext`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from twisted.internet.defer import Deferred

from rosey.bot.commands.spec import PM, Command, Where
from rosey.events import Event

if TYPE_CHECKING:
    from rosey.bot.commands.spec import CommandRegistry

__all__ = ["CommandContext", "Sender"]


class Sender(Protocol):
    """Where replies go: the bot's send queue (:class:`rosey.bot.sendqueue.SendQueue`)."""

    def say(self, text: str, meta: dict[str, Any] | None = None) -> Deferred[None]:
        """Send a chat line."""
        ...

    def pm(self, to: str, text: str, meta: dict[str, Any] | None = None) -> Deferred[None]:
        """Send a private message."""
        ...


@dataclass(frozen=True, slots=True)
class CommandContext:
    """One command invocation.

    ``user`` is the caller as the server spells the name, ``rank`` their rank (0 when unknown),
    ``where`` :data:`~rosey.bot.commands.spec.CHAT` or :data:`~rosey.bot.commands.spec.PM`,
    ``args`` the converted arguments by name, ``services`` whatever the Bot hands its commands.
    """

    user: str
    rank: float
    where: Where
    args: Mapping[str, Any]
    command: Command
    event: Event
    sender: Sender
    registry: CommandRegistry
    prefix: str = "!"
    services: Any = None

    @property
    def invocation(self) -> str:
        """The command as typed, normalized: ``!roll``."""
        return self.prefix + self.command.name

    def reply(self, text: str) -> Deferred[None]:
        """Answer where the command came from: chat to chat, PM to PM."""
        if self.where is PM:
            return self.sender.pm(self.user, text)
        return self.sender.say(text)

    def reply_pm(self, text: str) -> Deferred[None]:
        """Answer the caller privately, wherever the command came from."""
        return self.sender.pm(self.user, text)
