"""The ``[plugins.moderation]`` table: spam thresholds, the action ladder, word filters.

Every key is optional; see :func:`parse` for the defaults. A threshold of 0 turns its rule off.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rosey.plugin import Settings

__all__ = ["ACTIONS", "ModerationConfig", "SpamRules", "WordFilter", "parse"]

#: What the ladder and the word filters may do.
ACTIONS = ("warn", "mute", "kick", "ban")


@dataclass(frozen=True)
class SpamRules:
    """Per-user spam thresholds (0 turns a rule off)."""

    window: float = 10.0  # seconds the rate, repeat and link rules look back
    max_messages: int = 6  # messages in ``window`` (the 7th is spam)
    max_repeats: int = 3  # the same text in ``window`` (the 4th is spam)
    max_links: int = 3  # links in ``window`` (the 4th is spam)
    caps_ratio: float = 0.8  # share of upper-case letters of a message …
    caps_min_letters: int = 12  # … that has at least this many letters
    max_mentions: int = 5  # distinct user names mentioned in one message


@dataclass(frozen=True)
class WordFilter:
    """Words (whole words, case-insensitive) and what saying one does."""

    action: str
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class ModerationConfig:
    """The parsed ``[plugins.moderation]`` table."""

    spam: SpamRules = field(default_factory=SpamRules)
    ladder: tuple[str, ...] = ("warn", "mute", "kick", "ban")
    strike_decay: float = 600.0  # a strike is forgotten after this many seconds
    mute_seconds: float = 300.0  # a ladder or filter mute lasts this long
    ban_seconds: float = 86400.0  # a ladder ban lasts this long (0: until !unban)
    exempt_rank: float = 2.0  # users of this rank or more are never acted on
    shadow_mute: bool = False  # mute with /smute: the bot still sees the lines, so it can escalate
    filters: tuple[WordFilter, ...] = ()
    max_timeout_days: float = 30.0
    max_tempban_days: float = 3660.0


_KEYS = (
    "window",
    "max_messages",
    "max_repeats",
    "max_links",
    "caps_ratio",
    "caps_min_letters",
    "max_mentions",
    "ladder",
    "strike_decay",
    "mute_seconds",
    "ban_seconds",
    "exempt_rank",
    "shadow_mute",
    "filter_warn",
    "filter_mute",
    "filter_kick",
    "max_timeout_days",
    "max_tempban_days",
)


def _words(s: Settings, key: str, action: str) -> WordFilter | None:
    words = [w.strip() for w in s.strings(key) if w.strip()]
    if not words:
        return None
    for w in words:
        if len(w) > 100:
            raise s.error(key, f"{w[:20]!r}… is longer than 100 characters")
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return WordFilter(action, re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE))


def parse(raw: Mapping[str, Any]) -> ModerationConfig:
    """Validate ``[plugins.moderation]``; errors name the key."""
    s = Settings(raw, "moderation")
    s.only(*_KEYS)
    spam = SpamRules(
        window=s.number("window", 10.0, min=1, max=3600),
        max_messages=s.integer("max_messages", 6, min=0, max=1000),
        max_repeats=s.integer("max_repeats", 3, min=0, max=1000),
        max_links=s.integer("max_links", 3, min=0, max=1000),
        caps_ratio=s.number("caps_ratio", 0.8, min=0, max=1),
        caps_min_letters=s.integer("caps_min_letters", 12, min=1, max=1000),
        max_mentions=s.integer("max_mentions", 5, min=0, max=1000),
    )
    ladder = s.strings("ladder", ModerationConfig.ladder)
    if not ladder:
        raise s.error("ladder", "needs at least one step")
    for step in ladder:
        if step not in ACTIONS:
            raise s.error("ladder", f"{step!r} is not one of {', '.join(ACTIONS)}")
    filters = [
        _words(s, "filter_warn", "warn"),
        _words(s, "filter_mute", "mute"),
        _words(s, "filter_kick", "kick"),
    ]
    return ModerationConfig(
        spam=spam,
        ladder=ladder,
        strike_decay=s.number("strike_decay", 600.0, min=1, max=30 * 86400),
        mute_seconds=s.number("mute_seconds", 300.0, min=1, max=30 * 86400),
        ban_seconds=s.number("ban_seconds", 86400.0, min=0, max=3660 * 86400),
        exempt_rank=s.number("exempt_rank", 2.0, min=1, max=255),
        shadow_mute=s.boolean("shadow_mute", False),
        filters=tuple(f for f in filters if f is not None),
        max_timeout_days=s.number("max_timeout_days", 30.0, min=0.01, max=3660),
        max_tempban_days=s.number("max_tempban_days", 3660.0, min=0.01, max=3660),
    )
