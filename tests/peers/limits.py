"""The two rate limiters CyTube 3.86 uses, with an injectable clock.

- :class:`TokenBucket` is ``src/util/token-bucket.js``: the per-IP connection throttle and the
  optional global incoming-event limit.
- :class:`RateLimiter` is ``utilities.newRateLimiter``: burst, then one action per
  ``1/sustained`` s, reset after ``cooldown`` s (default ``burst/sustained``) of silence. Chat,
  PM, queue and requestPlaylist use it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

Clock = Callable[[], float]


class TokenBucket:
    """``capacity`` tokens, refilled continuously at ``refill`` tokens per second."""

    def __init__(self, capacity: float, refill: float, clock: Clock = time.monotonic) -> None:
        self.capacity = capacity
        self.refill = refill
        self._clock = clock
        self._tokens = capacity
        self._last = clock()

    def throttle(self) -> bool:
        """Take one token; True means there was none (the action must be refused)."""
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.refill)
        self._last = now
        if self._tokens < 1:
            return True
        self._tokens -= 1
        return False


class RateLimiter:
    """CyTube's ``newRateLimiter()``: the state lives here, the limits come with each call."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._count = 0
        self._last = -math.inf

    def throttle(self, burst: float, sustained: float, cooldown: float | None = None) -> bool:
        """Record one action; True means it is throttled (drop it)."""
        if cooldown is None:
            cooldown = burst / sustained if sustained else math.inf
        now = self._clock()
        if self._last < now - cooldown:
            self._count = 1
            self._last = now
            return False
        if self._count < burst:
            self._count += 1
            self._last = now
            return False
        if sustained <= 0 or now - self._last < 1 / sustained:
            return True
        self._last = now
        return False
