"""Sending text that contains what users typed: split, and no part led by ``/`` or the prefix.

The send queue already keeps a split part from starting with ``/``; these helpers also keep any
part (the first one included) from starting with the bot's command prefix, the way
:mod:`rosey.bot.stats` does for ``!tell``: a quote or a reminder must never read as a command,
to the server or to another bot sharing the prefix.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from rosey.bot.chattext import safe_line
from rosey.bot.commands import CommandContext
from rosey.bot.sendqueue.lines import all_done
from rosey.bot.sendqueue.split import MAX_LENGTH, split_message

__all__ = ["reply_safe", "safe_parts", "safe_replies", "send_safe"]

log = Logger()


def safe_parts(text: str, prefix: str, limit: int = MAX_LENGTH) -> list[str]:
    """``text`` split into parts that fit ``limit`` once a guard mark is added, each made safe
    with :func:`~rosey.bot.stats.safe_line`."""
    room = max(20, limit - 2)
    return [safe_line(part, prefix) for part in split_message(text, room)]


def send_safe(
    send: Callable[[str], Deferred[None]], text: str, prefix: str, limit: int = MAX_LENGTH
) -> Deferred[None]:
    """Send ``text`` with ``send`` (``bot.say``, or a PM partial) in safe parts; fires when all
    parts were confirmed, or fails with the first failure."""
    return all_done([send(part) for part in safe_parts(text, prefix, limit)])


def reply_safe(
    ctx: CommandContext, text: str, limit: int = MAX_LENGTH, *, private: bool = False
) -> Deferred[None]:
    """Answer a command in safe parts (chat to chat, PM to PM; by PM when ``private``). Fires
    when sent; never fails (a failed send is logged)."""

    def failed(failure: Failure) -> None:
        log.info(
            "Could not answer {user} ({cmd}): {error}",
            user=ctx.user,
            cmd=ctx.invocation,
            error=failure.getErrorMessage(),
        )

    send = ctx.reply_pm if private else ctx.reply
    return send_safe(send, text, ctx.prefix, limit).addErrback(failed)


def safe_replies(
    handler: Callable[[CommandContext], Awaitable[str | None]], limit: int = MAX_LENGTH
) -> Callable[[CommandContext], Deferred[None]]:
    """``handler`` with its text answer sent by :func:`reply_safe` (whatever it quotes)."""

    async def run(ctx: CommandContext) -> None:
        text = await handler(ctx)
        if text:
            await reply_safe(ctx, text, limit)

    @functools.wraps(handler)
    def wrapped(ctx: CommandContext) -> Deferred[None]:
        return Deferred.fromCoroutine(run(ctx))

    return wrapped
