"""The ``fun`` plugin's timer data: reminders, countdowns, their limits, and parsing times.

``parse_when`` takes a duration (:func:`rosey.plugins.support.parse_duration`: ``30s``, ``1h30m``)
or an absolute UTC time ``YYYY-MM-DD HH:MM``. Rows are stored as JSON
lists; ``from_row`` refuses anything malformed (the store is read back after a restart, and a
bad row must be skipped, not crash the load).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rosey.api import ArgumentError
from rosey.plugins.support import parse_duration

__all__ = [
    "Countdown",
    "Reminder",
    "TimerRules",
    "countdown_name",
    "is_name",
    "parse_when",
    "utc",
]

_ABSOLUTE = re.compile(
    r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})[ t]([0-9]{1,2}):([0-9]{2})(?: ?(?:utc|z))?"
)
_NAME = re.compile(r"[A-Za-z0-9_-]{1,20}")


def parse_when(text: str, now: float) -> float:
    """A duration from ``now`` or an absolute UTC time ``YYYY-MM-DD HH:MM`` → Unix seconds."""
    match = _ABSOLUTE.fullmatch(" ".join(text.split()).lower())
    if match is None:
        return now + parse_duration(text)
    year, month, day, hour, minute = (int(g) for g in match.groups())
    try:
        when = datetime(year, month, day, hour, minute, tzinfo=UTC)
    except ValueError:
        raise ArgumentError(f"{text[:30]!r} is not a real date and time") from None
    return when.timestamp()


def is_name(text: object) -> bool:
    """Whether ``text`` is a user or countdown name: 1 to 20 letters, digits, ``_`` or ``-``."""
    return isinstance(text, str) and _NAME.fullmatch(text) is not None


def countdown_name(text: str) -> str:
    """Argument converter for a countdown's name (see :func:`is_name`)."""
    if not is_name(text):
        raise ArgumentError(f"{text[:30]!r} is not a name (letters, digits, _ and -, up to 20)")
    return text


def utc(timestamp: float) -> str:
    """``2027-01-01 00:00 UTC``."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class Reminder:
    """One pending reminder for ``user`` (times in Unix seconds)."""

    id: int
    user: str
    due: float
    created: float
    text: str

    def row(self) -> list[Any]:
        """The stored form."""
        return [self.id, self.user, self.due, self.created, self.text]

    @classmethod
    def from_row(cls, row: object) -> Reminder | None:
        """The reminder a stored row describes, or None."""
        if not isinstance(row, list) or len(row) != 5:
            return None
        rid, user, due, created, text = row
        if isinstance(rid, bool) or not isinstance(rid, int) or rid < 1:
            return None
        if not (is_name(user) and _number(due) and _number(created) and isinstance(text, str)):
            return None
        return cls(rid, user, float(due), float(created), text)


@dataclass(frozen=True, slots=True)
class Countdown:
    """One running countdown, started by ``by``."""

    name: str
    due: float
    created: float
    by: str

    @property
    def key(self) -> str:
        """Names are case-insensitive."""
        return self.name.casefold()

    def row(self) -> list[Any]:
        """The stored form."""
        return [self.name, self.due, self.created, self.by]

    @classmethod
    def from_row(cls, row: object) -> Countdown | None:
        """The countdown a stored row describes, or None."""
        if not isinstance(row, list) or len(row) != 4:
            return None
        name, due, created, by = row
        if not (is_name(name) and is_name(by) and _number(due) and _number(created)):
            return None
        return cls(name, float(due), float(created), by)


@dataclass(frozen=True, slots=True)
class TimerRules:
    """Limits for reminders and countdowns (from the plugin config)."""

    max_reminders_per_user: int = 10
    max_reminders: int = 1000
    max_reminder_seconds: float = 30 * 86400.0
    max_reminder_length: int = 200
    max_countdowns: int = 20
    max_countdowns_per_user: int = 3
    max_countdown_seconds: float = 366 * 86400.0
    #: Rank that may cancel or replace anybody's countdown.
    manage_rank: float = 2
