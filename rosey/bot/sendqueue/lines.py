"""What the send queue sends, and how the server answers it.

A chat line is one of two kinds for the server (``src/channel/chat.js``): most lines, and the chat
commands ``/me``, ``/sp`` (and ``/say``, ``/shout``, ``/rcv`` from rank 1.5, ``/a`` for site
admins), are echoed back to the sender; the other server chat commands (``/kick``, ``/afk``,
``/rank`` …) produce no echo at all, only an error when they fail. :func:`classify` tells them
apart. Every line, echoed or not, spends one slot of the chat limiter.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall
from twisted.python.failure import Failure

from rosey.bot.ratelimit import FloodModel
from rosey.errors import ChannelError, CytubeError

__all__ = [
    "CommandRejected",
    "Item",
    "Lane",
    "Muted",
    "PMFailed",
    "QueueFull",
    "SpamFiltered",
    "all_done",
    "classify",
]


class Muted(ChannelError):
    """The bot is muted in the channel (``noflood`` with action ``chat``)."""


class SpamFiltered(ChannelError):
    """The server's new-account filter dropped the line (``spamFiltered``)."""


class CommandRejected(ChannelError):
    """The server refused a chat command the bot sent (``noflood`` or ``errorMsg``)."""


class PMFailed(ChannelError):
    """The server refused a PM (``errorMsg``: not signed in, unknown or absent user …)."""


class QueueFull(CytubeError):
    """The send queue already holds ``max_pending`` items; the new request was refused."""


# Chat commands the server handles itself (src/channel/{chat,kickban,ranks,poll,playlist}.js).
SERVER_COMMANDS = frozenset(
    {"me", "sp", "say", "shout", "rcv", "a", "clear", "afk", "mute", "smute", "unmute", "unsmute"}
    | {"kick", "kickanons", "ban", "ipban", "banip", "rank", "poll", "hpoll", "clean", "cleantitle"}
)
PM_ERRORS = ("You must be signed in to send PMs", "You can't PM yourself", "PM failed")
USERNAME = re.compile(r"[A-Za-z0-9_-]{1,20}")


def norm(text: str) -> str:
    """``text`` with whitespace collapsed and case folded, for comparing echoes."""
    return " ".join(text.split()).casefold()


def same_name(a: str | None, b: str) -> bool:
    """Whether two user names are the same (CyTube names are case-insensitive)."""
    return a is not None and (a == b or a.casefold() == b.casefold())  # equal: no casefold


@dataclass(eq=False, slots=True)
class Item:
    """One thing to send: a chat line or PM (confirmed by its echo) or a plain emit."""

    kind: str  # "chat" (echoed line), "command" (no echo), "pm", "emit"
    text: str = ""
    to: str | None = None
    meta: dict[str, Any] | None = None
    event: str = ""
    data: Any = None
    expect: str = ""  # normalized text the echo should carry
    cmd: str = ""  # server command name for "command" items
    done: Deferred[None] = field(default_factory=Deferred)
    timer: IDelayedCall | None = None


class Lane:
    """One paced stream of sends (``chat`` or ``queue``): what waits, what is re-sent first,
    the model of the server's limiter for it, and its wake-up timer."""

    def __init__(self, name: str, margin: float) -> None:
        self.name = name
        self.model = FloodModel(margin)
        self.pending: deque[Item] = deque()
        self.retry: deque[Item] = deque()  # throttled or unconfirmed items, sent first
        self.paused_until = 0.0
        self.timer: IDelayedCall | None = None
        # Reactor-turn hops until the model hears its last send has left (queue._departing).
        self.departure: IDelayedCall | None = None
        self.departure_turns = 0
        self.pumping = False
        self.again = False

    def __len__(self) -> int:
        return len(self.pending) + len(self.retry)


def classify(text: str, own_rank: float) -> tuple[str, str, str]:
    """``(kind, prefix, command)`` for a chat line: kind ``chat`` (echoed) or ``command`` (not),
    the prefix to repeat on every part when it is split (``"/me "``), the server command name."""
    if not text.startswith("/"):
        return "chat", "", ""
    cmd = text[1:].split(" ", 1)[0]
    if cmd not in SERVER_COMMANDS:
        return "chat", "", ""  # unknown commands are plain chat to the server
    echoed = (
        cmd in ("me", "sp")
        or (cmd in ("say", "shout", "rcv") and own_rank >= 1.5)
        or (cmd == "a" and own_rank >= 255)
    )
    if echoed:
        return "chat", f"/{cmd} ", cmd
    return "command", "", cmd


def all_done(parts: list[Deferred[None]]) -> Deferred[None]:
    """Fires when every part succeeded, or with the first part's failure (typed, unwrapped)."""
    if len(parts) == 1:
        return parts[0]

    def cancel(_: Deferred[None]) -> None:
        for part in parts:
            part.cancel()

    result: Deferred[None] = Deferred(cancel)
    remaining = [len(parts)]

    def succeeded(_: None) -> None:
        remaining[0] -= 1
        if remaining[0] == 0 and not result.called:
            result.callback(None)

    def failed(failure: Failure) -> None:
        if not result.called:
            result.errback(failure)

    for part in parts:
        part.addCallbacks(succeeded, failed)
    return result
