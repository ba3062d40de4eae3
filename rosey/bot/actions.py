"""The bot's actions: each returns a Deferred that fires on the server's confirmation.

An action first checks locally, with :mod:`rosey.bot.permissions` and the channel mirror, that the
server would honour it (CyTube ignores most refused requests without a word and kicks the sender
for a few); a refusal is a failed Deferred with :class:`~rosey.errors.ChannelPermissionError`,
:class:`~rosey.bot.errors.ActionRefused` / :class:`~rosey.bot.errors.TargetNotFound`, or
``ValueError``/``TypeError`` for bad arguments, and nothing is sent. Without a joined session it
fails at once with :class:`~rosey.errors.NotConnected`. Otherwise the request is sent and the
Deferred fires when the server's broadcast confirms it, or fails with the server's refusal
(:class:`~rosey.bot.errors.ActionFailed` and subclasses), :class:`~rosey.errors.AckTimeout`, or
:class:`~rosey.errors.ConnectionClosed` when the session ends first.

The groups live in :mod:`rosey.bot.actions_chat` (chat and moderation),
:mod:`rosey.bot.actions_playlist` (playlist, playback, leader, voteskip) and
:mod:`rosey.bot.actions_admin` (polls, MOTD/CSS/JS, options, permissions, emotes, filters).
"""

from __future__ import annotations

from rosey.bot.actions_admin import AdminActions
from rosey.bot.actions_base import PMSender, QueueSender, Sender
from rosey.bot.actions_chat import ChatActions
from rosey.bot.actions_playlist import After, PlaylistActions, Position
from rosey.bot.errors import (
    ActionFailed,
    ActionRefused,
    OptionsRejected,
    PollRejected,
    QueueFailed,
    TargetNotFound,
)

__all__ = [
    "ActionFailed",
    "ActionRefused",
    "Actions",
    "After",
    "OptionsRejected",
    "PMSender",
    "PollRejected",
    "Position",
    "QueueFailed",
    "QueueSender",
    "Sender",
    "TargetNotFound",
]


class Actions(ChatActions, PlaylistActions, AdminActions):
    """Everything the bot can do in its channel.

    ``Actions(connection, mirror, confirmations, say, pm, clock, *, queue_add=None, timeout=10.0,
    queue_timeout=30.0)``: ``say(text, meta)`` and ``pm(to, text)`` send through the flood-safe
    send queue; ``queue_add(payload)``, when given, paces playlist adds through it as well.
    ``confirmations`` must be fed every event after the mirror.
    """
