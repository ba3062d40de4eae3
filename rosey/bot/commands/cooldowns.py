"""Command cooldowns and the throttle on what the router says on its own: :class:`Cooldowns`.

A command's per-user and global cooldowns start when it runs. A caller hitting one is told once
per window ("alice: !quote again in 12 seconds."), not once per try, so that spamming a command
yields one note and the bot never answers a flood with a flood. Refusals (rank, place, usage, a
crash) are limited to one per user and command per ``notice_interval`` seconds.
"""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime

__all__ = ["Cooldowns"]

#: Entries kept before expired ones are dropped (each table; a live bot has far fewer).
_MAX_ENTRIES = 4096


def _prune(table: dict[tuple[str, str], float], now: float) -> dict[tuple[str, str], float]:
    if len(table) <= _MAX_ENTRIES:
        return table
    return {key: until for key, until in table.items() if until > now}


class Cooldowns:
    """When each command may run again, per user and for everyone, and which waits were told.

    Keys are ``(command name, user name case-folded)``; ``""`` stands for everyone.
    """

    def __init__(self, clock: IReactorTime, notice_interval: float = 10.0) -> None:
        self._clock = clock
        self.notice_interval = notice_interval
        self._ready_at: dict[tuple[str, str], float] = {}
        self._told_until: dict[tuple[str, str], float] = {}
        self._notice_until: dict[tuple[str, str], float] = {}

    def take(self, name: str, user: str, per_user: float, per_all: float) -> float:
        """Start the cooldowns of command ``name`` for ``user`` and return 0, or, when one is
        still running, return the seconds left (and start nothing)."""
        now = self._clock.seconds()
        user_key, all_key = (name, user.casefold()), (name, "")
        ready = max(self._ready_at.get(user_key, now), self._ready_at.get(all_key, now))
        if ready > now:
            return ready - now
        self._ready_at = _prune(self._ready_at, now)
        if per_user:
            self._ready_at[user_key] = now + per_user
        if per_all:
            self._ready_at[all_key] = now + per_all
        return 0.0

    def tell_wait(self, name: str, user: str, left: float) -> bool:
        """Whether to tell ``user`` that ``name`` is on cooldown for ``left`` more seconds: True
        once per window (then False until the window that was told has ended)."""
        now = self._clock.seconds()
        key = (name, user.casefold())
        if self._told_until.get(key, now) > now:
            return False
        self._told_until = _prune(self._told_until, now)
        self._told_until[key] = now + left
        return True

    def notice(self, name: str, user: str) -> bool:
        """Whether a refusal of ``name`` may be sent to ``user`` now (then not again for
        ``notice_interval`` seconds)."""
        now = self._clock.seconds()
        key = (name, user.casefold())
        if self._notice_until.get(key, now) > now:
            return False
        self._notice_until = _prune(self._notice_until, now)
        self._notice_until[key] = now + self.notice_interval
        return True
