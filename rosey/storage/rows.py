"""Plain rows that storage queries return: frozen dataclasses, never live SQL results.

Timestamps are Unix seconds (float); durations are seconds. Every row names its channel.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UserStats:
    """What rosey knows about one user in one channel."""

    channel: str
    username: str
    first_seen: float | None
    last_seen: float | None
    total_chat_lines: int
    total_time_connected: float
    current_session_start: float | None

    @property
    def present(self) -> bool:
        """True while rosey sees the user in the channel (a session is open)."""
        return self.current_session_start is not None


@dataclass(frozen=True, slots=True)
class UserAction:
    """One logged action: ``join``, ``leave``, ``pm`` (details = the text) or a plugin's own."""

    id: int
    channel: str
    timestamp: float
    username: str
    action_type: str
    details: str | None


@dataclass(frozen=True, slots=True)
class ChannelStats:
    """High-water marks: most chat users (logged in) and most connections (``usercount``)."""

    channel: str
    max_users: int
    max_users_timestamp: float | None
    max_connected: int
    max_connected_timestamp: float | None
    last_updated: float | None


@dataclass(frozen=True, slots=True)
class UserCount:
    """One user-count snapshot."""

    id: int
    channel: str
    timestamp: float
    chat_users: int
    connected_users: int


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One chat line of the full chat log (plain text)."""

    id: int
    channel: str
    timestamp: float
    username: str
    message: str


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A message waiting to be delivered to ``recipient`` (``!tell``), or already delivered."""

    id: int
    channel: str
    created_at: float
    recipient: str | None
    sender: str | None
    message: str
    sent: bool
    sent_at: float | None
    retry_count: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class MediaPlay:
    """One item that played: when it started, what it was, who queued it."""

    id: int
    channel: str
    started_at: float
    media_type: str
    media_id: str
    title: str
    duration: int
    queued_by: str | None


@dataclass(frozen=True, slots=True)
class BotStatus:
    """The bot's current status in one channel (one row per channel, overwritten)."""

    channel: str
    bot_name: str | None = None
    bot_rank: float | None = None
    bot_afk: bool = False
    chat_users: int = 0
    connected_users: int = 0
    playlist_items: int = 0
    media_title: str | None = None
    media_duration: int | None = None
    start_time: float | None = None
    connected: bool = False
    last_updated: float | None = None


@dataclass(frozen=True, slots=True)
class CountBucket:
    """How many rows fell in one time bucket: ``[start, start + bucket seconds)``."""

    start: float
    count: int


@dataclass(frozen=True, slots=True)
class UserCountBucket:
    """The highest user counts seen in one time bucket (a downsampled user-count history)."""

    start: float
    chat_users: int
    connected_users: int


@dataclass(frozen=True, slots=True)
class ChatterCount:
    """One user's chat lines in a period."""

    username: str
    lines: int


@dataclass(frozen=True, slots=True)
class MediaPlayCount:
    """One item's plays in a period: the title and queuer of its last play."""

    media_type: str
    media_id: str
    title: str
    plays: int
    last_played: float
    queued_by: str | None
