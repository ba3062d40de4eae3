"""The send queue: paced, confirmed, never-flooding output (:mod:`.queue`), how it matches the
server's answers to what it sent (:mod:`.answers`), what it sends and how the server answers
(:mod:`.lines`), and how long text is split (:mod:`.split`)."""

from rosey.bot.sendqueue.lines import CommandRejected, Muted, PMFailed, QueueFull, SpamFiltered
from rosey.bot.sendqueue.queue import SendQueue
from rosey.bot.sendqueue.split import MAX_LENGTH, split_message, utf16_len

__all__ = [
    "MAX_LENGTH",
    "CommandRejected",
    "Muted",
    "PMFailed",
    "QueueFull",
    "SendQueue",
    "SpamFiltered",
    "split_message",
    "utf16_len",
]
