"""Reconnect policy: backoff sequence, connection budget, penalty, holds, kick policy.

Driven with ``task.Clock``; the last test runs it inside a real ``ClientService`` with a
refusing endpoint, so the delays are the ones ClientService actually waits.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import pytest
from twisted.application.internet import ClientService
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from zope.interface import implementer

from rosey.wire.retry import ConnectBudget, KickPolicy, Reconnector, ReconnectPolicy

NO_BUDGET = ReconnectPolicy(jitter=0.0, budget_burst=1000, budget_interval=0.0)


def delays(r: Reconnector, attempts: range) -> list[float]:
    return [r(n) for n in attempts]


def test_backoff_starts_at_5_doubles_and_caps_at_60() -> None:
    r = Reconnector(Clock(), NO_BUDGET)
    assert delays(r, range(1, 8)) == [5, 10, 20, 40, 60, 60, 60]


def test_backoff_is_configurable() -> None:
    policy = ReconnectPolicy(initial_delay=1, factor=3, max_delay=20, jitter=0, budget_interval=0)
    assert delays(Reconnector(Clock(), policy), range(1, 5)) == [1, 3, 9, 20]


def test_jitter_only_shortens_and_comes_from_the_injected_source() -> None:
    values = iter([0.0, 0.5, 0.999])
    policy = ReconnectPolicy(jitter=0.2, budget_burst=1000, budget_interval=0)
    r = Reconnector(Clock(), policy, random_source=lambda: next(values))
    assert r(1) == 5.0
    assert r(1) == pytest.approx(4.5)
    assert r(5) == pytest.approx(60 * (1 - 0.2 * 0.999))


def test_huge_attempt_numbers_do_not_overflow() -> None:
    assert Reconnector(Clock(), NO_BUDGET)(10**6) == 60


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="initial_delay"):
        ReconnectPolicy(initial_delay=0)
    with pytest.raises(ValueError, match="jitter"):
        ReconnectPolicy(jitter=1.0)
    with pytest.raises(ValueError, match="initial_delay <= max_delay"):
        ReconnectPolicy(max_delay=1.0)


def test_budget_allows_5_quick_connects_then_one_per_10_s() -> None:
    clock = Clock()
    budget = ConnectBudget(clock, burst=5, interval=10)
    for _ in range(5):
        assert budget.wait() == 0
        budget.spend()
    assert budget.wait() == pytest.approx(10.5)  # 10 s, plus a margin for network delays
    clock.advance(4)
    assert budget.wait() == pytest.approx(6.5)
    clock.advance(6)
    assert budget.wait() == 0
    budget.spend()
    assert budget.wait() == pytest.approx(10.5)
    clock.advance(1000)
    assert budget.tokens == 5  # refills up to the burst, no further


def test_reconnector_never_goes_faster_than_the_budget() -> None:
    clock = Clock()
    policy = ReconnectPolicy(initial_delay=1, max_delay=1, jitter=0)
    r = Reconnector(clock, policy)
    waits = []
    for _ in range(8):
        r.attempt_started()
        wait = r(1)
        waits.append(wait)
        clock.advance(wait)
    # 5 tokens: the first four retries wait the backoff, then the budget rules (1 per 10 s)
    assert waits[:4] == [1, 1, 1, 1]
    assert waits[4] == pytest.approx(6.5)
    assert waits[5:] == [pytest.approx(10)] * 3


def test_rate_limit_refusal_waits_at_least_10_s_even_with_a_short_backoff() -> None:
    clock = Clock()
    r = Reconnector(clock, ReconnectPolicy(initial_delay=1, max_delay=1, jitter=0))
    r.rate_limited()
    assert r(1) == pytest.approx(10.5)
    clock.advance(10.5)
    assert r(1) == 1  # one token back: the hold was for one retry only


def test_short_sessions_raise_the_penalty_and_a_healthy_one_resets_it() -> None:
    clock = Clock()
    r = Reconnector(clock, NO_BUDGET)
    for expected in (10, 20, 40):  # kicked right after joining, three times
        r.session_started()
        r.session_ready()
        clock.advance(2)
        r.session_ended()
        assert r(1) == expected  # ClientService says attempt 1 after every TCP connect
    assert r.penalty == 3
    r.session_started()
    r.session_ready()
    clock.advance(100)  # between short and healthy: penalty kept
    r.session_ended()
    assert r.penalty == 3
    r.session_started()
    r.session_ready()
    clock.advance(300)
    r.session_ended()
    assert r.penalty == 0
    assert r(1) == 5


def test_a_session_that_never_joined_counts_as_short() -> None:
    r = Reconnector(Clock(), NO_BUDGET)
    r.session_started()
    r.session_ended()
    r.session_ended()  # a second report of the same end is ignored
    assert r.penalty == 1


def test_hold_sets_a_floor_for_the_next_delay_only() -> None:
    r = Reconnector(Clock(), NO_BUDGET)
    r.hold(25)
    r.hold(12)
    assert r(1) == 25
    assert r(1) == 5


def test_kick_policy_stops_on_duplicate_login_bans_and_invalid_channel() -> None:
    kicks = KickPolicy()
    for reason in (
        "Duplicate login",
        "You're banned!",
        "You are banned from this channel.",
        "You are banned from the server",
        "Invalid channel name",
        "Channel was banned: spam",
    ):
        assert kicks.stops(reason), reason
    for reason in ("Channel reloading", "Too many connections from your IP address",
                   "Attempted setMotd with insufficient permission", ""):  # fmt: skip
        assert not kicks.stops(reason), reason
    assert kicks.rejoin_delay == 10


def test_kick_policy_is_configurable() -> None:
    kicks = KickPolicy(rejoin_delay=30, stop_reasons=("Channel reloading",))
    assert kicks.stops("Channel reloading")
    assert not kicks.stops("Duplicate login")


@implementer(IStreamClientEndpoint)
class _Refusing:
    def __init__(self, reconnector: Reconnector) -> None:
        self.reconnector = reconnector
        self.attempts = 0

    def connect(self, factory: Any) -> Deferred[Any]:
        self.attempts += 1
        self.reconnector.attempt_started()
        return fail(ConnectionRefusedError())


def test_client_service_waits_what_the_reconnector_says() -> None:
    clock = Clock()
    r = Reconnector(clock, ReconnectPolicy(jitter=0))
    endpoint = _Refusing(r)
    service = ClientService(endpoint, Factory.forProtocol(Protocol), r, clock=clock)
    service.startService()
    times = [clock.seconds()]
    for _ in range(7):
        before = endpoint.attempts
        while endpoint.attempts == before:
            clock.advance(0.5)
        times.append(clock.seconds())
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps == [5, 10, 20, 40, 60, 60, 60]
    service.stopService()


def test_refused_connects_retry_in_short_capped_steps() -> None:
    r = Reconnector(Clock(), NO_BUDGET)
    waits = []
    for attempt in range(1, 13):
        r.connect_refused()
        waits.append(r(attempt))
    assert waits == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 10]


def test_refusals_are_not_backoff_steps_for_the_failures_after_them() -> None:
    r = Reconnector(Clock(), NO_BUDGET)
    for attempt in range(1, 4):
        r.connect_refused()
        assert r(attempt) == attempt
    # the server listens again but fails otherwise (e.g. a timeout): the backoff starts at 5
    assert r(4) == 5
    assert r(5) == 10
    r.session_started()  # a TCP connect: the refusal count starts over
    r.session_ended()
    r.connect_refused()
    assert r(1) == 1


def test_refused_delays_get_jitter_and_respect_holds() -> None:
    r = Reconnector(Clock(), ReconnectPolicy(budget_interval=0), random_source=lambda: 0.5)
    r.connect_refused()
    assert r(1) == pytest.approx(0.9)  # 1 s less 20 % * 0.5
    r.hold(10)
    r.connect_refused()
    assert r(2) == 10


def test_a_refused_connect_gives_its_budget_token_back() -> None:
    clock = Clock()
    r = Reconnector(clock, ReconnectPolicy(jitter=0))
    for _ in range(20):  # the server is down: 20 quick refused connects, none reached it
        r.attempt_started()
        r.connect_refused()
    assert r.budget.tokens == 5
    for _ in range(5):  # real connects do spend
        r.attempt_started()
        r.session_started()
    assert r.budget.wait() > 0
    r.attempt_started()  # no token: the server refuses it with no token spent...
    r.connect_refused()  # ...and a TCP refusal after it refunds nothing it did not spend
    assert r.budget.tokens == 0


@implementer(IStreamClientEndpoint)
class _Restarting:
    """Refuses TCP connects until ``back_at`` on ``clock``, then connects."""

    def __init__(self, reconnector: Reconnector, clock: Clock, back_at: float) -> None:
        self.reconnector = reconnector
        self.clock = clock
        self.back_at = back_at
        self.connected_at: float | None = None

    def connect(self, factory: Any) -> Deferred[Any]:
        if self.clock.seconds() < self.back_at:
            self.reconnector.connect_refused()
            return fail(ConnectionRefusedError())
        self.reconnector.attempt_started()
        self.reconnector.session_started()
        self.connected_at = self.clock.seconds()
        protocol = factory.buildProtocol(None)
        protocol.makeConnection(_NullTransport())
        return succeed(protocol)


class _NullTransport:
    def loseConnection(self) -> None:
        pass


@pytest.mark.parametrize(("down", "back_within"), [(3, 5.0), (7, 9.0), (20, 22.0)])
def test_after_a_server_restart_rosey_is_back_soon_after_the_server(
    down: float, back_within: float
) -> None:
    """A drop at t=0 (first retry after ~5 s less jitter), the server listening again at
    ``down``: the refused tries that follow are 1, 2, 3 s apart, not 10 and 20 s."""
    for jitter_draw in (0.0, 0.999):
        clock = Clock()
        r = Reconnector(
            clock, ReconnectPolicy(), random_source=functools.partial(float, jitter_draw)
        )
        endpoint = _Restarting(r, clock, back_at=down)
        service = ClientService(endpoint, Factory.forProtocol(Protocol), r, clock=clock)
        r.session_started()  # the session that the restart dropped had lasted a while
        r.session_ready()
        clock.advance(100)
        r.session_ended()
        endpoint.back_at += clock.seconds()
        start = clock.seconds()
        # ClientService after a lost connection: the first retry waits policy(1)
        clock.callLater(r(1), service.startService)
        while endpoint.connected_at is None and clock.seconds() - start < 120:
            clock.advance(min(c.getTime() for c in clock.getDelayedCalls()) - clock.seconds())
        assert endpoint.connected_at is not None
        assert endpoint.connected_at - start <= back_within, jitter_draw
        service.stopService()
