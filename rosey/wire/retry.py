"""When to reconnect, and when not to.

:class:`Reconnector` is the ``retryPolicy`` handed to ``ClientService``: exponential backoff with
jitter, never faster than CyTube's per-IP connection budget (a token bucket of 5 connects
refilled at one per 10 s; the 6th quick connect is refused with ``44 Rate limit exceeded``), and
a penalty for sessions that die soon after joining, so a bot kicked at once never loops fast.
``ClientService`` resets its failure count on every TCP connect, which is why the penalty lives
here (twisted-notes §2.4). A refused TCP connect (the server is down, e.g. restarting) never
reached the server: it gives its budget token back and the next try comes after short steps
(``refused_step``, ``2 * refused_step``, … up to ``refused_max_delay``), so a server that is back
after a few seconds is rejoined within a second or two of it. Every transition of the policy
is in :data:`TRANSITIONS`: ``(phase, input) -> (new phase, outputs)``.

:class:`KickPolicy` says which kick reasons end the reconnect loop for good.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime

__all__ = [
    "TRANSITIONS",
    "ConnectBudget",
    "Input",
    "KickPolicy",
    "Output",
    "Phase",
    "ReconnectPolicy",
    "Reconnector",
]


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


class Phase(enum.StrEnum):
    """Where the connection is, as the reconnect policy sees it."""

    IDLE = "idle"  # nothing under way: before the first attempt, after a session or a failure
    CONNECTING = "connecting"  # a websocket connect is under way
    REFUSED = "refused"  # the last connect was refused; its retry delay not yet asked for
    IN_SESSION = "in session"  # connected, not joined
    JOINED = "joined"  # joined the channel at a time the policy keeps


class Input(enum.Enum):
    """The calls the connection makes (and ``ClientService``'s question, :attr:`DELAY`)."""

    ATTEMPT = "attempt_started()"
    REFUSAL = "connect_refused()"
    SESSION_UP = "session_started()"
    SESSION_READY = "session_ready()"
    SESSION_DOWN = "session_ended()"
    DELAY = "__call__(attempt): how long until the next connect?"
    HOLD = "hold(seconds)"
    RATE_LIMIT = "rate_limited()"


class Output(enum.Enum):
    """What a transition does (:meth:`Reconnector._output`)."""

    SPEND_TOKEN = "spend a token of the connection budget, if there is one"
    REFUND_TOKEN = "give the token back: the server never saw the connect"
    COUNT_REFUSAL = "count the refusal (refusals are no backoff steps)"
    NEW_SESSION = "start a session: forget the refusals and any join time"
    NOTE_JOIN_TIME = "note when the session joined"
    PENALIZE = "the session never joined: penalty + 1"
    SCORE_SESSION = "joined less than short_session ago: penalty + 1; healthy_session: 0"
    BACKOFF = "the delay: backoff(attempt - refusals + penalty)"
    REFUSED_BACKOFF = "the delay: refused_backoff(refusals)"
    RAISE_FLOOR = "the next delay is at least this long"
    DRAIN_BUDGET = "the server's budget is empty"


_P, _I, _O = Phase, Input, Output

#: Every transition of the reconnect policy: (phase, input) -> (new phase, outputs). A pair
#: that is not here is ignored. Every delay (:attr:`Input.DELAY`) then loses up to ``jitter``
#: at random and is at least the floor and the budget's wait; the floor holds for one delay.
TRANSITIONS: dict[tuple[Phase, Input], tuple[Phase, tuple[Output, ...]]] = {
    (_P.IDLE, _I.ATTEMPT): (_P.CONNECTING, (_O.SPEND_TOKEN,)),
    (_P.IDLE, _I.REFUSAL): (_P.REFUSED, (_O.COUNT_REFUSAL,)),  # the socketconfig fetch
    (_P.IDLE, _I.SESSION_UP): (_P.IN_SESSION, (_O.NEW_SESSION,)),
    (_P.IDLE, _I.DELAY): (_P.IDLE, (_O.BACKOFF,)),
    (_P.IDLE, _I.HOLD): (_P.IDLE, (_O.RAISE_FLOOR,)),
    (_P.IDLE, _I.RATE_LIMIT): (_P.IDLE, (_O.DRAIN_BUDGET, _O.RAISE_FLOOR)),
    (_P.CONNECTING, _I.ATTEMPT): (_P.CONNECTING, (_O.SPEND_TOKEN,)),  # the last was cancelled
    (_P.CONNECTING, _I.REFUSAL): (_P.REFUSED, (_O.REFUND_TOKEN, _O.COUNT_REFUSAL)),
    (_P.CONNECTING, _I.SESSION_UP): (_P.IN_SESSION, (_O.NEW_SESSION,)),
    (_P.CONNECTING, _I.DELAY): (_P.IDLE, (_O.BACKOFF,)),  # it failed otherwise
    (_P.CONNECTING, _I.HOLD): (_P.CONNECTING, (_O.RAISE_FLOOR,)),
    (_P.CONNECTING, _I.RATE_LIMIT): (_P.CONNECTING, (_O.DRAIN_BUDGET, _O.RAISE_FLOOR)),
    (_P.REFUSED, _I.ATTEMPT): (_P.CONNECTING, (_O.SPEND_TOKEN,)),
    (_P.REFUSED, _I.REFUSAL): (_P.REFUSED, (_O.COUNT_REFUSAL,)),
    (_P.REFUSED, _I.SESSION_UP): (_P.IN_SESSION, (_O.NEW_SESSION,)),
    (_P.REFUSED, _I.DELAY): (_P.IDLE, (_O.REFUSED_BACKOFF,)),
    (_P.REFUSED, _I.HOLD): (_P.REFUSED, (_O.RAISE_FLOOR,)),
    (_P.REFUSED, _I.RATE_LIMIT): (_P.REFUSED, (_O.DRAIN_BUDGET, _O.RAISE_FLOOR)),
    # a new attempt (or its refusal) while a session is up: the session is over for the policy
    (_P.IN_SESSION, _I.ATTEMPT): (_P.CONNECTING, (_O.PENALIZE, _O.SPEND_TOKEN)),
    (_P.IN_SESSION, _I.REFUSAL): (_P.REFUSED, (_O.PENALIZE, _O.COUNT_REFUSAL)),
    (_P.IN_SESSION, _I.SESSION_UP): (_P.IN_SESSION, (_O.NEW_SESSION,)),
    (_P.IN_SESSION, _I.SESSION_READY): (_P.JOINED, (_O.NOTE_JOIN_TIME,)),
    (_P.IN_SESSION, _I.SESSION_DOWN): (_P.IDLE, (_O.PENALIZE,)),
    (_P.IN_SESSION, _I.DELAY): (_P.IN_SESSION, (_O.BACKOFF,)),
    (_P.IN_SESSION, _I.HOLD): (_P.IN_SESSION, (_O.RAISE_FLOOR,)),
    (_P.IN_SESSION, _I.RATE_LIMIT): (_P.IN_SESSION, (_O.DRAIN_BUDGET, _O.RAISE_FLOOR)),
    (_P.JOINED, _I.ATTEMPT): (_P.CONNECTING, (_O.SCORE_SESSION, _O.SPEND_TOKEN)),
    (_P.JOINED, _I.REFUSAL): (_P.REFUSED, (_O.SCORE_SESSION, _O.COUNT_REFUSAL)),
    (_P.JOINED, _I.SESSION_UP): (_P.IN_SESSION, (_O.NEW_SESSION,)),
    (_P.JOINED, _I.SESSION_READY): (_P.JOINED, (_O.NOTE_JOIN_TIME,)),
    (_P.JOINED, _I.SESSION_DOWN): (_P.IDLE, (_O.SCORE_SESSION,)),
    (_P.JOINED, _I.DELAY): (_P.JOINED, (_O.BACKOFF,)),
    (_P.JOINED, _I.HOLD): (_P.JOINED, (_O.RAISE_FLOOR,)),
    (_P.JOINED, _I.RATE_LIMIT): (_P.JOINED, (_O.DRAIN_BUDGET, _O.RAISE_FLOOR)),
}


class Reconnector:
    """``ClientService`` retry policy with connection budget, penalty and one-off holds.

    Call it as ``retryPolicy(attempt)``. The connection reports what happens through
    :meth:`attempt_started`, :meth:`connect_refused`, :meth:`session_started`,
    :meth:`session_ready`, :meth:`session_ended`, :meth:`rate_limited` and :meth:`hold`; each
    call is one :class:`Input` of :data:`TRANSITIONS`.
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
        self._phase = Phase.IDLE
        self._floor = 0.0
        self._ready_at = 0.0  # when the session joined (in JOINED)
        self._spent = False  # the attempt under way took a budget token
        self._refusals = 0  # refused connects since the last TCP connect

    @property
    def phase(self) -> Phase:
        """Where the connection is, as the policy sees it."""
        return self._phase

    @property
    def last_refused(self) -> bool:
        """Whether the failure about to be retried was a refused connect."""
        return self._phase is Phase.REFUSED

    def __call__(self, attempt: int) -> float:
        """Seconds to wait before the next connect, ``attempt`` failures in a row so far."""
        delay = self._fire(Input.DELAY, attempt)
        assert delay is not None  # every phase has a DELAY transition with a backoff
        delay -= delay * self.policy.jitter * self._random()
        delay = max(delay, self._floor, self.budget.wait())
        self._floor = 0.0
        return delay

    def attempt_started(self) -> None:
        """A websocket connect is being made (it spends a token of the server's budget)."""
        self._fire(Input.ATTEMPT)

    def connect_refused(self) -> None:
        """The TCP connect (websocket or socketconfig) was refused: the server never saw it."""
        self._fire(Input.REFUSAL)

    def session_started(self) -> None:
        """A connection is up; :meth:`session_ended` must follow."""
        self._fire(Input.SESSION_UP)

    def session_ready(self) -> None:
        """The session joined the channel."""
        self._fire(Input.SESSION_READY)

    def session_ended(self) -> None:
        """The session ended: raise the penalty if it was short, clear it if it was long."""
        self._fire(Input.SESSION_DOWN)

    def rate_limited(self) -> None:
        """The server refused a connect for its rate limit: the next wait is at least 10 s."""
        self._fire(Input.RATE_LIMIT, self.policy.rate_limit_delay)

    def hold(self, seconds: float) -> None:
        """The next delay is at least ``seconds`` (e.g. the rejoin delay after a kick)."""
        self._fire(Input.HOLD, seconds)

    # -- the machine ----------------------------------------------------------------------------

    def _fire(self, what: Input, arg: float = 0.0) -> float | None:
        """Take the transition for ``what``; the delay, if an output computed one."""
        move = TRANSITIONS.get((self._phase, what))
        if move is None:
            return None
        self._phase, outputs = move
        delay = None
        for output in outputs:
            value = self._output(output, arg)
            if value is not None:
                delay = value
        return delay

    def _output(self, output: Output, arg: float) -> float | None:
        p = self.policy
        match output:
            case Output.SPEND_TOKEN:
                self._spent = self.budget.spend()
            case Output.REFUND_TOKEN:
                if self._spent:
                    self.budget.refund()
                self._spent = False
            case Output.COUNT_REFUSAL:
                self._refusals += 1
            case Output.NEW_SESSION:
                self._spent = False
                self._refusals = 0
            case Output.NOTE_JOIN_TIME:
                self._ready_at = self._clock.seconds()
            case Output.PENALIZE:
                self.penalty += 1
            case Output.SCORE_SESSION:
                lasted = self._clock.seconds() - self._ready_at
                if lasted < p.short_session:
                    self.penalty += 1
                elif lasted >= p.healthy_session:
                    self.penalty = 0
            case Output.BACKOFF:
                # ClientService counts the refusals too; they are not backoff steps
                return p.backoff(int(arg) - self._refusals + self.penalty)
            case Output.REFUSED_BACKOFF:
                return p.refused_backoff(self._refusals)
            case Output.RAISE_FLOOR:
                self._floor = max(self._floor, arg)
            case Output.DRAIN_BUDGET:
                self.budget.drain()
        return None
