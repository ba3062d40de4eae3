"""Errors of the bot's actions (:mod:`rosey.bot.actions`), beside :mod:`rosey.errors`.

``ActionRefused`` and ``TargetNotFound`` are decided locally, before anything is sent: the server
would ignore the request without a word (so the action could only time out). ``ActionFailed`` and
its subclasses carry the server's own refusal text in ``server_message``.
"""

from __future__ import annotations

from rosey.errors import ChannelError

__all__ = [
    "ActionFailed",
    "ActionRefused",
    "OptionsRejected",
    "PollRejected",
    "QueueFailed",
    "TargetNotFound",
]


class ActionRefused(ChannelError):
    """The action cannot apply to the channel as it is now (nothing playing, live media, the bot
    not leader, voteskip disabled …); it was refused locally and nothing was sent."""


class TargetNotFound(ActionRefused):
    """The user, playlist item, poll, emote or ban the action names does not exist here."""


class ActionFailed(ChannelError):
    """The server refused the action; ``server_message`` is its own text."""

    def __init__(self, server_message: str) -> None:
        super().__init__(server_message)
        self.server_message = server_message


class QueueFailed(ActionFailed):
    """``queueFail``: the server did not add the media (duplicate, too long, lookup error …).

    ``link`` and ``media_id`` are the server's ``link`` and ``id`` fields.
    """

    def __init__(self, server_message: str, link: str | None, media_id: str | None) -> None:
        super().__init__(server_message)
        self.link = link
        self.media_id = media_id


class PollRejected(ActionFailed):
    """The ``newPoll`` ack carried ``{"error": {"message": …}}`` (title or options invalid)."""


class OptionsRejected(ActionFailed):
    """``setOptions`` got a ``validationError`` (``target`` is the form field, e.g.
    ``#cs-externalcss``) or an ``errorMsg`` (a reserved page title). Other keys of the same call may
    still have been applied: the ``channelOpts`` that follows updates the mirror."""

    def __init__(self, server_message: str, target: str | None = None) -> None:
        super().__init__(server_message)
        self.target = target
