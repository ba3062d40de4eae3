"""Write operations: what :meth:`IStorage.record` applies, in order, in one transaction.

The recorder turns events into these; the single-row write methods of :class:`IStorage`
(``save_message``, ``log_user_action`` …) are shortcuts for a one-operation batch. Timestamps are
Unix seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from rosey.records import record
from rosey.storage.rows import BotStatus

# ChatLine, UserJoined and UserLeft, one per chat line, join and leave, are records
# (rosey.records: a cheaper __init__ than a frozen dataclass's); the rest are frozen dataclasses.


@record
class ChatLine:
    """A chat line: stored in the chat log and counted in the user's stats.

    A ``replayed`` line (join-burst history) is skipped if the same (time, user, text) is already
    in the log, so history is never counted twice.
    """

    timestamp: float
    username: str
    message: str
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class ActionLogged:
    """A user action (``pm`` for a PM to the bot, with the text as details)."""

    timestamp: float
    username: str
    action_type: str
    details: str | None = None


@record
class UserJoined:
    """A user joined: logs ``join``, opens a session, sets first/last seen."""

    timestamp: float
    username: str


@record
class UserLeft:
    """A user left: logs ``leave``, closes the session and adds its length to the total."""

    timestamp: float
    username: str


@dataclass(frozen=True, slots=True)
class Presence:
    """The full user list (join burst): opens sessions for everyone listed; sessions of users
    no longer listed are closed at their last-seen time."""

    timestamp: float
    usernames: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SessionsEnded:
    """The bot stopped seeing the channel (disconnect, stop): every open session closes now."""

    timestamp: float


@dataclass(frozen=True, slots=True)
class UserCountSample:
    """A user-count snapshot for the history."""

    timestamp: float
    chat_users: int
    connected_users: int


@dataclass(frozen=True, slots=True)
class HighWater:
    """Raise the channel's high-water marks if these counts beat them (None = not measured)."""

    timestamp: float
    chat_users: int | None = None
    connected_users: int | None = None


@dataclass(frozen=True, slots=True)
class MediaChanged:
    """An item started playing at ``started_at``. The same item seen again within a few seconds
    of the same start (a rejoin, a shuffle resend) is not a new play."""

    started_at: float
    media_type: str
    media_id: str
    title: str
    duration: int
    queued_by: str | None = None


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """Overwrite the bot's status row (its ``channel`` field is ignored: the batch's wins)."""

    status: BotStatus


@dataclass(frozen=True, slots=True)
class UserStatsSet:
    """Set a user's stats to these values (None = leave unchanged); creates the row if needed."""

    username: str
    first_seen: float | None = None
    last_seen: float | None = None
    total_chat_lines: int | None = None
    total_time_connected: float | None = None
    current_session_start: float | None = None


WriteOp = (
    ChatLine
    | ActionLogged
    | UserJoined
    | UserLeft
    | Presence
    | SessionsEnded
    | UserCountSample
    | HighWater
    | MediaChanged
    | StatusChanged
    | UserStatsSet
)
