"""What a command handler receives: :class:`CommandContext`, and the rule its replies obey.

Replies never run anything: a reply a line of which would start with ``/`` (a CyTube chat
command, run with the bot's rank; styled ``/me`` and ``/sp`` chat aside) or with the command
prefix is not sent. The caller gets a short neutral answer instead ("alice: I can't say that."),
never the refused text, so that they know the bot heard them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from rosey.bot.chattext import safe_line
from rosey.bot.commands.spec import PM, Command, Where
from rosey.events import Event

if TYPE_CHECKING:
    from rosey.bot.commands.spec import CommandRegistry

__all__ = ["CANT_SAY", "CommandContext", "Sender", "speakable"]

log = Logger()

#: What a caller gets instead of a reply that :func:`speakable` refuses.
CANT_SAY = "I can't say that."
_STYLED = ("/me ", "/sp ")


def speakable(text: str, prefix: str) -> bool:
    """Whether ``text`` may be sent as a reply: no line starts with ``prefix`` or with ``/``
    (except a first line of ``/me …`` or ``/sp …``)."""
    for i, line in enumerate(text.strip().splitlines()):
        line = line.lstrip()
        if line.startswith(prefix):
            return False
        if line.startswith("/") and not (i == 0 and line.startswith(_STYLED)):
            return False
    return True


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
        """Answer where the command came from: chat to chat, PM to PM (a text that is not
        :func:`speakable` is replaced by :data:`CANT_SAY`)."""
        if self.where is PM:
            return self.reply_pm(text)
        if not speakable(text, self.prefix):
            self._refused(text)
            text = safe_line(f"{self.user}: {CANT_SAY}", self.prefix)
        return self.sender.say(text)

    def reply_pm(self, text: str) -> Deferred[None]:
        """Answer the caller privately, wherever the command came from (a text that is not
        :func:`speakable` is replaced by :data:`CANT_SAY`)."""
        if not speakable(text, self.prefix):
            self._refused(text)
            text = CANT_SAY
        return self.sender.pm(self.user, text)

    def _refused(self, text: str) -> None:
        log.info(
            "Not sending {cmd}'s reply to {user}: it would start with / or {prefix!r} ({text!r})",
            cmd=self.invocation,
            user=self.user,
            prefix=self.prefix,
            text=text[:60],
        )
