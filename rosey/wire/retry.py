"""When to reconnect, and when not to.

:class:`Reconnector` is the ``retryPolicy`` handed to ``ClientService``: exponential backoff with
jitter, never faster than CyTube's per-IP connection budget (a token bucket of 5 connects
refilled at one per 10 s; the 6th quick connect is refused with ``44 Rate limit exceeded``), and
a penalty for sessions that die soon after joining, so a bot kicked at once never loops fast.
``ClientService`` resets its failure count on every TCP connect, which is why the penalty lives
here (twisted-notes §2.4). A refused TCP connect (the server is down, e.g. restarting) never
reached the server: it gives its budget token back and the next try comes after short steps
(``refused_step``, ``2 * refused_step``, … up to ``refused_max_delay``), so a server that is back
after a few seconds is rejoined within a second or two of it.

:class:`KickPolicy` says which kick reasons end the reconnect loop for good.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime

__all__ = ["ConnectBudget", "KickPolicy", "ReconnectPolicy", "Reconnector"]


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Reconnect settings. Times are in seconds.

    The n-th retry in a row waits ``initial_delay * factor**(n-1)``, at most ``max_delay``, less
    up to ``jitter`` (a fraction) of it at random. Never sooner than the connection budget allows
    (``budget_burst`` quick connects, then one per ``budget_interval``). A session that ends
    without joining, or less than ``short_session`` after joining, adds one to the penalty (one
    more step of backoff for every later retry); a session that lasted ``healthy_session`` clears
    it. After ``44 Rate limit exceeded`` the next attempt waits at least ``rate_limit_delay``.
    """

    initial_delay: float = 5.0
    factor: float = 2.0
    max_delay: float = 60.0
    jitter: float = 0.2
    budget_burst: int = 5
    budget_interval: float = 10.0
    short_session: float = 30.0
    healthy_session: float = 300.0
    rate_limit_delay: float = 10.0
    refused_step: float = 1.0
    refused_max_delay: float = 10.0

    def __post_init__(self) -> None:
        if self.initial_delay <= 0 or self.factor < 1 or self.max_delay < self.initial_delay:
            raise ValueError("need 0 < initial_delay <= max_delay and factor >= 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter is a fraction in [0, 1)")
        if self.budget_burst < 1 or self.budget_interval < 0:
            raise ValueError("need budget_burst >= 1 and budget_interval >= 0")
        if self.refused_step <= 0 or self.refused_max_delay < self.refused_step:
            raise ValueError("need 0 < refused_step <= refused_max_delay")

    def backoff(self, step: int) -> float:
        """The delay before jitter for the ``step``-th retry in a row (1-based)."""
        exponent = min(max(step, 1) - 1, 64)  # past the cap anyway; avoids float overflow
        return min(self.initial_delay * self.factor**exponent, self.max_delay)

    def refused_backoff(self, refusals: int) -> float:
        """The delay before jitter after ``refusals`` refused connects in a row (1-based)."""
        return min(self.refused_step * max(refusals, 1), self.refused_max_delay)


# CyTube's ban kicks and other kicks that will repeat on every rejoin.
_STOP_REASONS = (
    "Duplicate login",
    "You're banned!",
    "You are banned from this channel.",
    "You are banned from the server",
    "Invalid channel name",
    "This channel is blacklisted.",
    "Channel was banned",
)


@dataclass(frozen=True, slots=True)
class KickPolicy:
    """What to do after a kick (or a refused socket.io connect).

    A reason that starts with one of ``stop_reasons`` stops the reconnect loop: someone else
    logged in as the bot, the bot is banned, or the channel name is invalid. Any other kick
    rejoins after at least ``rejoin_delay`` seconds.
    """

    rejoin_delay: float = 10.0
    stop_reasons: tuple[str, ...] = _STOP_REASONS

    def stops(self, reason: str) -> bool:
        """True when a kick with this reason must end the reconnect loop."""
        return any(reason.startswith(r) for r in self.stop_reasons)


_EPSILON = 1e-9


class ConnectBudget:
    """A model of the server's per-IP connection token bucket, driven by ``clock``.

    :meth:`wait` adds ``margin`` seconds when it has to wait at all, because the server counts
    from when each connect reaches it, which network delays shift a little.
    """

    def __init__(
        self, clock: IReactorTime, burst: int = 5, interval: float = 10.0, margin: float = 0.5
    ) -> None:
        self._clock = clock
        self._burst = float(burst)
        self._interval = interval
        self._margin = margin
        self._tokens = float(burst)
        self._at = clock.seconds()

    def _refill(self) -> float:
        now = self._clock.seconds()
        if self._interval <= 0:
            self._tokens = self._burst
        else:
            self._tokens = min(self._burst, self._tokens + (now - self._at) / self._interval)
        self._at = now
        return self._tokens

    @property
    def tokens(self) -> float:
        """Connects the server would accept right now (fractions are partly refilled tokens)."""
        return self._refill()

    def spend(self) -> bool:
        """A connect was made now. Without a token the server refuses it and spends nothing.

        Returns whether a token was spent (to :meth:`refund` if the connect never arrived).
        """
        if self._refill() >= 1 - _EPSILON:
            self._tokens = max(0.0, self._tokens - 1)
            return True
        return False

    def refund(self) -> None:
        """A spent connect never reached the server (it was refused): give the token back."""
        self._tokens = min(self._burst, self._refill() + 1)

    def drain(self) -> None:
        """The server said the bucket is empty (``44 Rate limit exceeded``)."""
        self._refill()
        self._tokens = 0.0

    def wait(self) -> float:
        """Seconds until the server would accept a connect again."""
        missing = 1 - self._refill()
        if missing <= _EPSILON:
            return 0.0
        return missing * self._interval + self._margin


class Reconnector:
    """``ClientService`` retry policy with connection budget, penalty and one-off holds.

    Call it as ``retryPolicy(attempt)``. The connection reports what happens through
    :meth:`attempt_started`, :meth:`connect_refused`, :meth:`session_started`,
    :meth:`session_ready`, :meth:`session_ended`, :meth:`rate_limited` and :meth:`hold`.
    """

    def __init__(
        self,
        clock: IReactorTime,
        policy: ReconnectPolicy | None = None,
        random_source: Callable[[], float] = random.random,
    ) -> None:
        self.policy = policy if policy is not None else ReconnectPolicy()
        self.budget = ConnectBudget(clock, self.policy.budget_burst, self.policy.budget_interval)
        self.penalty = 0
        self._clock = clock
        self._random = random_source
        self._floor = 0.0
        self._ready_at: float | None = None
        self._in_session = False
        self._spent = False  # the attempt under way took a budget token
        self._refusals = 0  # refused connects since the last TCP connect
        self._last_refused = False  # the failure being retried is a refusal

    @property
    def last_refused(self) -> bool:
        """Whether the failure about to be retried was a refused connect."""
        return self._last_refused

    def __call__(self, attempt: int) -> float:
        """Seconds to wait before the next connect, ``attempt`` failures in a row so far."""
        p = self.policy
        if self._last_refused:
            delay = p.refused_backoff(self._refusals)
        else:
            # ClientService counts the refusals too; they are not backoff steps
            delay = p.backoff(attempt - self._refusals + self.penalty)
        self._last_refused = False
        delay -= delay * p.jitter * self._random()
        delay = max(delay, self._floor, self.budget.wait())
        self._floor = 0.0
        return delay

    def attempt_started(self) -> None:
        """A websocket connect is being made (it spends a token of the server's budget)."""
        self._spent = self.budget.spend()

    def connect_refused(self) -> None:
        """The TCP connect (websocket or socketconfig) was refused: the server never saw it."""
        if self._spent:
            self.budget.refund()
            self._spent = False
        self._refusals += 1
        self._last_refused = True

    def session_started(self) -> None:
        """A connection is up; :meth:`session_ended` must follow."""
        self._in_session = True
        self._ready_at = None
        self._spent = False
        self._refusals = 0
        self._last_refused = False

    def session_ready(self) -> None:
        """The session joined the channel."""
        self._ready_at = self._clock.seconds()

    def session_ended(self) -> None:
        """The session ended: raise the penalty if it was short, clear it if it was long."""
        if not self._in_session:
            return
        self._in_session = False
        p = self.policy
        lasted = None if self._ready_at is None else self._clock.seconds() - self._ready_at
        if lasted is None or lasted < p.short_session:
            self.penalty += 1
        elif lasted >= p.healthy_session:
            self.penalty = 0
        self._ready_at = None

    def rate_limited(self) -> None:
        """The server refused a connect for its rate limit: the next wait is at least 10 s."""
        self.budget.drain()
        self.hold(self.policy.rate_limit_delay)

    def hold(self, seconds: float) -> None:
        """The next delay is at least ``seconds`` (e.g. the rejoin delay after a kick)."""
        self._floor = max(self._floor, seconds)
