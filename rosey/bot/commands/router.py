"""Routing chat lines and PMs to commands: :class:`CommandRouter`, and :class:`OutputMemory`.

The router runs a command only for a live line from a real user: never a line the server replayed
from before the bot joined, never the bot's own line, never a pseudo-user (``[server]``,
``[voteskip]``: not valid user names) or a server whisper, and never a text the bot itself sent
recently (whoever repeats it: a relay, another bot), as remembered by :class:`OutputMemory`.

Refusals. Unknown commands are ignored silently (other bots may share the prefix). A command on
cooldown gets one short note per cooldown window, user and command ("alice: !quote again in 12
seconds."), however often it is tried. A command the caller's rank does not allow, one used in the
wrong place (chat vs PM) or given bad arguments gets one short answer (the usage line for bad
arguments), and so does a handler that crashed; such notices are limited to one per user and
command per ``notice_interval`` seconds so that nobody can make the bot flood. Replies go through
:meth:`CommandContext.reply`, which refuses text that would run a chat command or another
command. Users the ``rank_of`` callable does not know count as rank 0 (guest).
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Callable, Container
from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from rosey import events
from rosey.bot.chattext import human_duration, safe_line
from rosey.bot.commands.args import ArgumentError, parse_args
from rosey.bot.commands.context import CommandContext, Sender
from rosey.bot.commands.cooldowns import Cooldowns
from rosey.bot.commands.spec import CHAT, PM, Command, CommandRegistry, Where, rank_name
from rosey.bot.dispatch import Dispatcher
from rosey.events import Event
from rosey.storage.errors import StorageUnavailable

__all__ = ["CommandRouter", "OutputMemory"]

#: What a command whose data cannot be read now answers (as core_stats does).
UNAVAILABLE = "Sorry, my records are not available right now."
_USER_NAME = re.compile(r"[A-Za-z0-9_-]{1,20}")


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


class OutputMemory:
    """The texts the bot sent recently (at most ``size``, for ``ttl`` seconds).

    ``text in memory`` compares with whitespace collapsed and case folded.
    """

    def __init__(self, clock: IReactorTime, ttl: float = 300.0, size: int = 2000) -> None:
        self._clock = clock
        self.ttl = ttl
        self.size = size
        self._seen: OrderedDict[str, float] = OrderedDict()

    def remember(self, text: str) -> None:
        """Record ``text`` as sent now."""
        key = _norm(text)
        if not key:
            return
        self._seen[key] = self._clock.seconds()
        self._seen.move_to_end(key)
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)

    def __contains__(self, text: object) -> bool:
        if not isinstance(text, str):
            return False
        self._expire()
        return _norm(text) in self._seen

    def __len__(self) -> int:
        self._expire()
        return len(self._seen)

    def _expire(self) -> None:
        oldest = self._clock.seconds() - self.ttl
        while self._seen:
            key, when = next(iter(self._seen.items()))
            if when >= oldest:
                break
            del self._seen[key]


class CommandRouter:
    """Turns ``message`` and ``pm`` events into command runs.

    ``own_name`` gives the bot's current name and ``rank_of`` a user's rank (None when unknown);
    both come from the channel mirror. ``own_output`` answers "did the bot send this text
    recently?" (an :class:`OutputMemory` the send queue feeds). ``services`` is handed to every
    :class:`CommandContext`.
    """

    log = Logger()

    def __init__(
        self,
        registry: CommandRegistry,
        sender: Sender,
        clock: IReactorTime,
        *,
        own_name: Callable[[], str | None],
        rank_of: Callable[[str], float | None],
        prefix: str = "!",
        own_output: Container[str] = (),
        services: Any = None,
        notice_interval: float = 10.0,
    ) -> None:
        if not prefix or prefix.isspace():
            raise ValueError("the command prefix must be a non-blank string")
        self.registry = registry
        self.sender = sender
        self.prefix = prefix
        self.services = services
        self._clock = clock
        self._own_name = own_name
        self._rank_of = rank_of
        self._own_output = own_output
        self.cooldowns = Cooldowns(clock, notice_interval)

    def attach(self, dispatcher: Dispatcher) -> None:
        """Subscribe to ``message`` and ``pm`` events (commands run without holding them up)."""
        dispatcher.on(events.MESSAGE, self._on_event)
        dispatcher.on(events.PM, self._on_event)

    def detach(self, dispatcher: Dispatcher) -> None:
        """Undo :meth:`attach`."""
        dispatcher.off(events.MESSAGE, self._on_event)
        dispatcher.off(events.PM, self._on_event)

    def _on_event(self, event: Event) -> None:
        content = event.content
        if content is not None and self.prefix in content:  # cheap first test: most chat isn't
            self.handle(event)

    # -- routing --------------------------------------------------------------------------------

    def handle(self, event: Event) -> Deferred[None] | None:
        """Route one event. Returns None when there is nothing to do (not a command for this bot,
        on cooldown, refusal already sent recently), else a Deferred that fires (never fails) once
        the command and its reply, or the refusal, are done."""
        where = CHAT if event.name == events.MESSAGE else PM if event.name == events.PM else None
        user, content = event.user, event.content
        if where is None or event.replayed or user is None or content is None:
            return None
        if not _USER_NAME.fullmatch(user) or event.extra.get("server_whisper"):
            return None  # [server], [voteskip] and other pseudo-users
        own = self._own_name()
        if own is not None and user.casefold() == own.casefold():
            return None
        text = content.strip()
        if not text.startswith(self.prefix):
            return None
        body = text[len(self.prefix) :]
        words = body.split(None, 1) if body[:1] and not body[0].isspace() else []
        cmd = self.registry.get(words[0]) if words else None
        if cmd is None:
            return None
        if text in self._own_output:
            self.log.info("Not running {text!r} from {user}: rosey said it", text=text, user=user)
            return None
        return self._run(cmd, event, user, where, words[1] if len(words) > 1 else "")

    def _run(
        self, cmd: Command, event: Event, user: str, where: Where, raw: str
    ) -> Deferred[None] | None:
        rank = self._rank_of(user)
        rank = 0.0 if rank is None else rank
        invocation = self.prefix + cmd.name
        if not cmd.where & where:
            place = "by PM" if cmd.where is PM else "in chat"
            return self._notice(cmd, user, where, f"Sorry, {invocation} only works {place}.")
        if rank < cmd.min_rank:
            need = rank_name(cmd.min_rank)
            return self._notice(cmd, user, where, f"Sorry, {invocation} needs {need} rank.")
        try:
            args = parse_args(cmd.args, raw)
        except ArgumentError as e:
            return self._notice(cmd, user, where, f"Usage: {cmd.usage(self.prefix)} ({e})")
        left = self.cooldowns.take(cmd.name, user, cmd.cooldown_user, cmd.cooldown_global)
        if left:
            return self._cooldown_note(cmd, user, where, left)
        ctx = CommandContext(
            user=user,
            rank=rank,
            where=where,
            args=args,
            command=cmd,
            event=event,
            sender=self.sender,
            registry=self.registry,
            prefix=self.prefix,
            services=self.services,
        )
        d = maybeDeferred(cmd.callback, ctx)
        d.addCallbacks(self._done, self._crashed, callbackArgs=(ctx,), errbackArgs=(ctx,))
        return d

    @property
    def notice_interval(self) -> float:
        """Seconds between two refusals of one command to one user."""
        return self.cooldowns.notice_interval

    def _cooldown_note(
        self, cmd: Command, user: str, where: Where, left: float
    ) -> Deferred[None] | None:
        invocation = self.prefix + cmd.name
        if not self.cooldowns.tell_wait(cmd.name, user, left):
            self.log.debug("{cmd} on cooldown for {user}", cmd=invocation, user=user)
            return None
        wait = f"{invocation} again in {human_duration(math.ceil(left))}."
        if where is PM:
            return self._send(self.sender.pm(user, f"You can use {wait}"), "cooldown note", user)
        return self._send(
            self.sender.say(safe_line(f"{user}: you can use {wait}", self.prefix)),
            "cooldown note",
            user,
        )

    # -- results --------------------------------------------------------------------------------

    def _done(self, result: object, ctx: CommandContext) -> Deferred[None] | None:
        if isinstance(result, str) and result.strip():
            return self._send(ctx.reply(result), ctx.invocation, ctx.user)
        return None

    def _crashed(self, failure: Failure, ctx: CommandContext) -> Deferred[None] | None:
        if failure.check(StorageUnavailable):
            # An outage (the database or its service is away), not a bug: no traceback.
            self.log.warn(
                "Command {cmd} from {user}: storage unavailable: {error}",
                cmd=ctx.invocation,
                user=ctx.user,
                error=failure.getErrorMessage(),
            )
            return self._notice(ctx.command, ctx.user, ctx.where, UNAVAILABLE)
        self.log.failure(
            "Command {cmd} from {user} failed ({text!r})",
            failure,
            cmd=ctx.invocation,
            user=ctx.user,
            text=ctx.event.content,
        )
        return self._notice(ctx.command, ctx.user, ctx.where, f"Sorry, {ctx.invocation} failed.")

    def _notice(self, cmd: Command, user: str, where: Where, text: str) -> Deferred[None] | None:
        if not self.cooldowns.notice(cmd.name, user):
            return None
        sent = self.sender.pm(user, text) if where is PM else self.sender.say(text)
        return self._send(sent, "notice", user)

    def _send(self, sent: Deferred[None], what: str, user: str) -> Deferred[None]:
        def failed(failure: Failure) -> None:
            self.log.info(
                "Could not answer {user} ({what}): {error}",
                user=user,
                what=what,
                error=failure.getErrorMessage(),
            )

        return sent.addErrback(failed)
