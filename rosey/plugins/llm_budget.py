"""How much the ``llm`` plugin may ask: per-user cooldowns, requests per minute, tokens per hour
and the server's own ``retry-after`` (:class:`Budget`).

Every figure is a sliding window over ``clock.seconds()``, so a test drives it with a
``task.Clock``. Tokens come from the answer's ``usage.total_tokens``; when a server gives none,
:func:`estimate_tokens` guesses from the characters sent and received (about four a token).
"""

from __future__ import annotations

import math
from collections import deque

__all__ = ["Budget", "estimate_tokens"]

_MINUTE = 60.0
_HOUR = 3600.0


def estimate_tokens(*texts: str) -> int:
    """A rough token count for ``texts`` (one token per four characters, at least one)."""
    return max(1, math.ceil(sum(len(t) for t in texts) / 4))


class Budget:
    """Cooldowns and the global budget; ``now`` is always passed in (the plugin's clock)."""

    def __init__(
        self, user_cooldown: float, requests_per_minute: int, tokens_per_hour: int
    ) -> None:
        self.user_cooldown = user_cooldown
        self.requests_per_minute = requests_per_minute
        self.tokens_per_hour = tokens_per_hour
        self._next_for: dict[str, float] = {}
        self._requests: deque[float] = deque()
        self._tokens: deque[tuple[float, int]] = deque()
        #: No request before this time (a 429's ``retry-after``).
        self.paused_until = 0.0

    def _trim(self, now: float) -> None:
        while self._requests and self._requests[0] <= now - _MINUTE:
            self._requests.popleft()
        while self._tokens and self._tokens[0][0] <= now - _HOUR:
            self._tokens.popleft()

    def requests_used(self, now: float) -> int:
        """Requests made in the last minute."""
        self._trim(now)
        return len(self._requests)

    def tokens_used(self, now: float) -> int:
        """Tokens spent in the last hour."""
        self._trim(now)
        return sum(n for _, n in self._tokens)

    def cooling(self, user: str, now: float) -> float:
        """Seconds before ``user`` may ask again (0: now)."""
        return max(0.0, self._next_for.get(user.casefold(), 0.0) - now)

    def touch(self, user: str, now: float) -> None:
        """``user``'s question was taken: start their cooldown."""
        if len(self._next_for) > 1000:  # forget the cooled-down ones now and then
            self._next_for = {k: t for k, t in self._next_for.items() if t > now}
        self._next_for[user.casefold()] = now + self.user_cooldown

    def refusal(self, now: float) -> str | None:
        """Why no request may start now (budget spent, server asked to wait), or None."""
        if now < self.paused_until:
            return f"the server asked me to wait {math.ceil(self.paused_until - now)} s"
        if self.requests_used(now) >= self.requests_per_minute:
            return "too many questions this minute"
        if self.tokens_used(now) >= self.tokens_per_hour:
            return "my token budget for this hour is spent"
        return None

    def spend_request(self, now: float) -> None:
        """A request starts now."""
        self._requests.append(now)

    def spend_tokens(self, now: float, tokens: int) -> None:
        """An answer cost ``tokens``."""
        self._tokens.append((now, max(0, tokens)))

    def pause(self, now: float, seconds: float) -> None:
        """Ask nothing for ``seconds`` (a 429's ``retry-after``, capped at an hour)."""
        self.paused_until = max(self.paused_until, now + min(max(seconds, 0.0), _HOUR))

    def describe(self, now: float) -> str:
        """``2/6 requests this minute, 1,234/20,000 tokens this hour``."""
        text = (
            f"{self.requests_used(now)}/{self.requests_per_minute} requests this minute, "
            f"{self.tokens_used(now):,}/{self.tokens_per_hour:,} tokens this hour"
        )
        if now < self.paused_until:
            text += f", paused by the server for {math.ceil(self.paused_until - now)} s"
        return text
