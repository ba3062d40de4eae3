"""CyTube's flood limiter, and the client-side model rosey paces its sends with.

CyTube (``src/utilities.js`` ``newRateLimiter``) is not a token bucket. Each user has one limiter
per kind (chat and PMs share one, playlist ``queue`` has another) holding ``count`` and
``lastTime``, and every call does, with ``cooldown`` defaulting to ``burst / sustained`` seconds::

    if lastTime < now - cooldown*1000:  count = 1; lastTime = now; allow   # quiet long enough
    elif count < burst:                 count += 1; lastTime = now; allow
    elif now - lastTime < 1000/sustained:  THROTTLE                        # state unchanged
    else:                               lastTime = now; allow

So ``count`` never goes down: after ``burst`` messages, only one message per ``1/sustained`` s is
allowed until the user stays quiet for more than ``cooldown`` s. :class:`CytubeRateLimiter` is an
exact port (the test oracle); :class:`FloodModel` plans sends so that the server never throttles,
even when network jitter of up to ``margin`` seconds compresses the gaps between arrivals.

Parameters (``src/channel/chat.js``, ``src/channel/playlist.js``): chat and PMs
``{burst 20, sustained 10}``; when ``channelOpts.chat_antiflood`` is on, chat from users of rank
below 2 uses ``chat_antiflood_params`` instead (PMs always 20/10); ``queue`` ``{3, 1}`` below
rank 2, ``{10, 2}`` from rank 2.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CHAT_FLOOD",
    "QUEUE_FLOOD",
    "QUEUE_FLOOD_MOD",
    "AntifloodParams",
    "CytubeRateLimiter",
    "FloodModel",
    "RateParams",
    "chat_params",
    "queue_params",
]

# Added to every planned wait so that float rounding never lands a send a hair too early.
_EPSILON = 1e-6


@dataclass(frozen=True, slots=True)
class RateParams:
    """One set of limiter parameters: ``burst`` messages, then ``sustained`` per second.

    ``cooldown`` is the silence (seconds) that resets the limiter; ``None`` means
    ``burst / sustained`` as on the server.
    """

    burst: float
    sustained: float
    cooldown: float | None = None

    @property
    def reset_after(self) -> float:
        """Seconds of silence after which the server resets the count."""
        if self.cooldown is not None:
            return self.cooldown
        return self.burst / self.sustained if self.sustained > 0 else math.inf

    @property
    def gap(self) -> float:
        """Minimum seconds between messages once the burst is spent."""
        return 1.0 / self.sustained if self.sustained > 0 else math.inf

    @classmethod
    def from_channel_opts(cls, opts: Mapping[str, Any]) -> RateParams | None:
        """The chat antiflood parameters in a ``channelOpts`` payload, or None when it is off.

        Missing or non-numeric values fall back the way the server's limiter does (burst 10,
        sustained 2, cooldown ``burst/sustained``).
        """
        if not opts.get("chat_antiflood"):
            return None
        raw = opts.get("chat_antiflood_params")
        raw = raw if isinstance(raw, Mapping) else {}
        burst = _number(raw.get("burst"))
        sustained = _number(raw.get("sustained"))
        return cls(
            10.0 if burst is None else burst,
            2.0 if sustained is None else sustained,
            _number(raw.get("cooldown")),
        )


#: The name the rest of rosey uses for ``chat_antiflood_params``.
AntifloodParams = RateParams

CHAT_FLOOD = RateParams(20, 10)
QUEUE_FLOOD = RateParams(3, 1)
QUEUE_FLOOD_MOD = RateParams(10, 2)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def chat_params(own_rank: float, antiflood: RateParams | None, *, pm: bool = False) -> RateParams:
    """The parameters the server applies to the bot's next chat line (or PM)."""
    if pm or antiflood is None or own_rank >= 2:
        return CHAT_FLOOD
    return antiflood


def queue_params(own_rank: float) -> RateParams:
    """The parameters the server applies to the bot's next ``queue``."""
    return QUEUE_FLOOD_MOD if own_rank >= 2 else QUEUE_FLOOD


class CytubeRateLimiter:
    """An exact port of CyTube's ``newRateLimiter`` (the server's view). Times in milliseconds."""

    def __init__(self) -> None:
        self.count = 0.0
        # The server starts at 0 with Date.now() in the trillions: any first call resets.
        self.last_time = -math.inf

    def throttle(self, now_ms: float, params: RateParams) -> bool:
        """True when the server would drop a message arriving at ``now_ms`` (and answer
        ``cooldown``); False when it allows it (and updates its state)."""
        if self.last_time < now_ms - params.reset_after * 1000:
            self.count = 1
            self.last_time = now_ms
            return False
        if self.count < params.burst:
            self.count += 1
            self.last_time = now_ms
            return False
        if now_ms - self.last_time < params.gap * 1000:
            return True
        self.last_time = now_ms
        return False


class FloodModel:
    """rosey's side of one server limiter: when may the next message go out?

    Times are what rosey can see: :meth:`record` is called when a message is handed to the
    transport, but it leaves only when the reactor flushes the transport's buffer, which may be
    a long reactor turn later. Until :meth:`left` says it has gone (at a time no earlier than
    its real departure) the model counts it as leaving *now*: the burst may go on, but no
    sustained-mode send and no count reset is approved. Spacing is then measured from the
    departure time, never from the decision.

    The model assumes each message reaches the server's limiter between 0 and ``margin``
    seconds after it left, in order (one TCP connection). It resets its count only after a
    silence longer than ``reset_after + margin`` since the last departure, and in sustained mode
    it spaces departures by ``gap + margin``. Its count is therefore never below the server's,
    and the server never sees two sustained-mode messages closer than ``gap``: no send it
    approves is throttled. Times in seconds (``clock.seconds()``).
    """

    def __init__(self, margin: float = 0.025) -> None:
        if margin < 0:
            raise ValueError("margin must be >= 0")
        self.margin = margin
        self.count = 0.0
        self.last = -math.inf
        #: A recorded message has not been confirmed gone (see :meth:`left`).
        self.leaving = False

    def _since(self, now: float) -> float:
        return 0.0 if self.leaving else now - self.last

    def delay(self, now: float, params: RateParams) -> float:
        """Seconds to wait from ``now`` before a message with ``params`` may be sent (0: go).

        While a message is :attr:`leaving`, a positive delay is only a lower bound: ask again
        after :meth:`left`.
        """
        since = self._since(now)
        if since > params.reset_after + self.margin or self.count < params.burst:
            return 0.0
        wait_gap = params.gap + self.margin - since
        wait_reset = params.reset_after + self.margin - since
        wait = min(wait_gap, wait_reset) + _EPSILON
        return wait if wait > _EPSILON else 0.0

    def record(self, now: float, params: RateParams) -> None:
        """A message with ``params`` was handed to the transport at ``now``; it is leaving."""
        if self._since(now) > params.reset_after + self.margin:
            self.count = 1
        elif self.count < params.burst:
            self.count += 1
        self.last = max(self.last, now)
        self.leaving = True

    def left(self, now: float) -> None:
        """Everything recorded so far had left the machine by ``now``."""
        if self.leaving:
            self.last = max(self.last, now)
            self.leaving = False

    def penalize(self, now: float) -> None:
        """The server throttled us anyway: assume the burst is spent, as of ``now``."""
        self.count = math.inf
        self.last = max(self.last, now)
