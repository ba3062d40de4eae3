"""Settings and pure rules of the **playlist** plugin (no I/O): per-user limits, the skip
threshold, blacklist keys and the choice of refill candidates."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rosey.api import MediaPlay, PlaylistItem
from rosey.plugin import Settings

__all__ = [
    "PlaylistConfig",
    "clock_time",
    "limit_breach",
    "media_key",
    "parse",
    "refill_candidates",
    "skip_threshold",
]

_KEYS = (
    "max_items_per_user",
    "max_seconds_per_user",
    "exempt_rank",
    "skip_min_votes",
    "skip_ratio",
    "blacklist_rank",
    "history_max",
    "refill",
    "refill_not_played_hours",
    "refill_items",
    "refill_attempts",
)


@dataclass(frozen=True)
class PlaylistConfig:
    """The parsed ``[plugins.playlist]`` table (0 turns a limit off)."""

    max_items_per_user: int = 0
    max_seconds_per_user: float = 0.0
    exempt_rank: float = 2.0
    skip_min_votes: int = 3
    skip_ratio: float = 0.5
    blacklist_rank: float = 2.0
    history_max: int = 10
    refill: bool = False
    refill_not_played_hours: float = 6.0
    refill_items: int = 3
    refill_attempts: int = 10


def parse(raw: Mapping[str, Any]) -> PlaylistConfig:
    """Validate ``[plugins.playlist]``; raises :class:`~rosey.plugin.PluginConfigError`."""
    s = Settings(raw, "playlist")
    s.only(*_KEYS)
    return PlaylistConfig(
        max_items_per_user=s.integer("max_items_per_user", 0, min=0, max=10_000),
        max_seconds_per_user=s.number("max_seconds_per_user", 0, min=0, max=7 * 86400),
        exempt_rank=s.number("exempt_rank", 2, min=1, max=255),
        skip_min_votes=s.integer("skip_min_votes", 3, min=1, max=1000),
        skip_ratio=s.number("skip_ratio", 0.5, min=0, max=1),
        blacklist_rank=s.number("blacklist_rank", 2, min=2, max=255),
        history_max=s.integer("history_max", 10, min=1, max=50),
        refill=s.boolean("refill", False),
        refill_not_played_hours=s.number("refill_not_played_hours", 6, min=0, max=24 * 365),
        refill_items=s.integer("refill_items", 3, min=1, max=50),
        refill_attempts=s.integer("refill_attempts", 10, min=1, max=100),
    )


def media_key(media_type: str, media_id: str) -> str:
    """The blacklist's key for one medium: ``type:id``, as CyTube's shorthand writes it."""
    return f"{media_type}:{media_id}"


def clock_time(seconds: float) -> str:
    """``75`` → ``1:15``, ``3725`` → ``1:02:05``."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def limit_breach(config: PlaylistConfig, items: Sequence[PlaylistItem], who: str) -> str | None:
    """Why the items queued by ``who`` (the new one included) break a limit, or None."""
    mine = [i for i in items if i.queueby.casefold() == who.casefold()]
    if config.max_items_per_user and len(mine) > config.max_items_per_user:
        return f"you may have at most {config.max_items_per_user} items in the queue"
    total = sum(i.media.seconds for i in mine)
    if config.max_seconds_per_user and total > config.max_seconds_per_user:
        return (
            f"your items may last at most {clock_time(config.max_seconds_per_user)} in all"
            f" (they would last {clock_time(total)})"
        )
    return None


def skip_threshold(min_votes: int, ratio: float, eligible: int) -> int:
    """Votes needed: ``max(min_votes, ceil(ratio × eligible))``."""
    return max(min_votes, math.ceil(ratio * eligible))


def refill_candidates(
    history: Iterable[MediaPlay], now: float, not_played_for: float, blacklist: set[str]
) -> list[MediaPlay]:
    """Distinct media from ``history`` (newest first) whose latest play is older than
    ``not_played_for`` seconds and that are not blacklisted; the oldest-played first."""
    latest: dict[str, MediaPlay] = {}
    for play in history:
        key = media_key(play.media_type, play.media_id)
        if key not in latest or play.started_at > latest[key].started_at:
            latest[key] = play
    fresh = [
        play
        for key, play in latest.items()
        if key not in blacklist and now - play.started_at >= not_played_for
    ]
    return sorted(fresh, key=lambda play: play.started_at)
