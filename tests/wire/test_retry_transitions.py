"""The reconnect policy, transition by transition: every (phase, input) pair of
:data:`~rosey.wire.retry.TRANSITIONS`, and the ones it ignores.

Each case reaches its phase through the calls the connection makes, makes the call under test
and compares the policy's state with :data:`EXPECTED`, which states the behaviour a second time,
independently of the table; a table entry without an expectation (or the other way round) fails
:func:`test_every_transition_has_an_expectation`. The sequences a real ``ClientService`` drives
are in ``test_retry.py``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock

from rosey.wire.retry import TRANSITIONS, Input, Output, Phase, Reconnector, ReconnectPolicy

P, I = Phase, Input  # noqa: E741
#: Backoff 5, 10, 20 …; refused 1, 2, 3 …; a budget that barely refills while a test runs.
POLICY = ReconnectPolicy(jitter=0.0, budget_interval=1000.0)
START = 100.0  # the clock when the policy is made; a case's call comes at START + 1
HOLD = 30.0

#: The call each input is.
CALLS: dict[Input, Callable[[Reconnector], Any]] = {
    I.ATTEMPT: Reconnector.attempt_started,
    I.REFUSAL: Reconnector.connect_refused,
    I.SESSION_UP: Reconnector.session_started,
    I.SESSION_READY: Reconnector.session_ready,
    I.SESSION_DOWN: Reconnector.session_ended,
    I.DELAY: lambda r: r(1),
    I.HOLD: lambda r: r.hold(HOLD),
    I.RATE_LIMIT: Reconnector.rate_limited,
}
#: How each phase is reached from a new policy (the same calls the connection makes).
WALKS: dict[Phase, list[Input]] = {
    P.IDLE: [],
    P.CONNECTING: [I.ATTEMPT],
    P.REFUSED: [I.ATTEMPT, I.REFUSAL],
    P.IN_SESSION: [I.ATTEMPT, I.SESSION_UP],
    P.JOINED: [I.ATTEMPT, I.SESSION_UP, I.SESSION_READY],
}

# The state after each walk: penalty 0, floor 0, and
#   IDLE: 5 tokens, 0 refusals          CONNECTING: 4 tokens (one spent)
#   REFUSED: 5 tokens (refunded), 1     IN_SESSION: 4 tokens     JOINED: 4, joined at START
# A session that ends (or is overtaken by a new attempt) 1 s after joining is short.
HOLDS = {"floor": HOLD}
DRAINED = {"tokens": 0.0, "floor": POLICY.rate_limit_delay}

#: (phase, input) -> (new phase, the state that changes, the delay returned for DELAY).
EXPECTED: dict[tuple[Phase, Input], tuple[Phase, dict[str, float], float | None]] = {
    (P.IDLE, I.ATTEMPT): (P.CONNECTING, {"tokens": 4}, None),
    (P.IDLE, I.REFUSAL): (P.REFUSED, {"refusals": 1}, None),
    (P.IDLE, I.SESSION_UP): (P.IN_SESSION, {}, None),
    (P.IDLE, I.DELAY): (P.IDLE, {}, 5.0),
    (P.IDLE, I.HOLD): (P.IDLE, HOLDS, None),
    (P.IDLE, I.RATE_LIMIT): (P.IDLE, DRAINED, None),
    (P.CONNECTING, I.ATTEMPT): (P.CONNECTING, {"tokens": 3}, None),
    (P.CONNECTING, I.REFUSAL): (P.REFUSED, {"tokens": 5, "refusals": 1}, None),
    (P.CONNECTING, I.SESSION_UP): (P.IN_SESSION, {}, None),
    (P.CONNECTING, I.DELAY): (P.IDLE, {}, 5.0),
    (P.CONNECTING, I.HOLD): (P.CONNECTING, HOLDS, None),
    (P.CONNECTING, I.RATE_LIMIT): (P.CONNECTING, DRAINED, None),
    (P.REFUSED, I.ATTEMPT): (P.CONNECTING, {"tokens": 4}, None),
    (P.REFUSED, I.REFUSAL): (P.REFUSED, {"refusals": 2}, None),
    (P.REFUSED, I.SESSION_UP): (P.IN_SESSION, {"refusals": 0}, None),
    (P.REFUSED, I.DELAY): (P.IDLE, {}, 1.0),
    (P.REFUSED, I.HOLD): (P.REFUSED, HOLDS, None),
    (P.REFUSED, I.RATE_LIMIT): (P.REFUSED, DRAINED, None),
    (P.IN_SESSION, I.ATTEMPT): (P.CONNECTING, {"penalty": 1, "tokens": 3}, None),
    (P.IN_SESSION, I.REFUSAL): (P.REFUSED, {"penalty": 1, "refusals": 1}, None),
    (P.IN_SESSION, I.SESSION_UP): (P.IN_SESSION, {}, None),
    (P.IN_SESSION, I.SESSION_READY): (P.JOINED, {"ready_at": START + 1}, None),
    (P.IN_SESSION, I.SESSION_DOWN): (P.IDLE, {"penalty": 1}, None),
    (P.IN_SESSION, I.DELAY): (P.IN_SESSION, {}, 5.0),
    (P.IN_SESSION, I.HOLD): (P.IN_SESSION, HOLDS, None),
    (P.IN_SESSION, I.RATE_LIMIT): (P.IN_SESSION, DRAINED, None),
    (P.JOINED, I.ATTEMPT): (P.CONNECTING, {"penalty": 1, "tokens": 3}, None),
    (P.JOINED, I.REFUSAL): (P.REFUSED, {"penalty": 1, "refusals": 1}, None),
    (P.JOINED, I.SESSION_UP): (P.IN_SESSION, {}, None),
    (P.JOINED, I.SESSION_READY): (P.JOINED, {"ready_at": START + 1}, None),
    (P.JOINED, I.SESSION_DOWN): (P.IDLE, {"penalty": 1}, None),
    (P.JOINED, I.DELAY): (P.JOINED, {}, 5.0),
    (P.JOINED, I.HOLD): (P.JOINED, HOLDS, None),
    (P.JOINED, I.RATE_LIMIT): (P.JOINED, DRAINED, None),
}
ALL_PAIRS = list(itertools.product(Phase, Input))
IGNORED = [pair for pair in ALL_PAIRS if pair not in EXPECTED]


def policy_in(phase: Phase) -> tuple[Reconnector, Clock]:
    clock = Clock()
    clock.advance(START)
    r = Reconnector(clock, POLICY)
    for what in WALKS[phase]:
        CALLS[what](r)
    assert r.phase is phase
    clock.advance(1)
    return r, clock


def state(r: Reconnector) -> dict[str, Any]:
    """What the outputs change (white box: the refusals, floor and join time are private)."""
    return {
        "phase": r.phase,
        "penalty": r.penalty,
        "tokens": pytest.approx(r.budget.tokens, abs=0.01),  # refills 0.001 a second
        "refusals": r._refusals,
        "floor": r._floor,
        "ready_at": r._ready_at,
    }


def test_every_transition_has_an_expectation() -> None:
    assert set(EXPECTED) == set(TRANSITIONS), "a transition without a test, or a test without one"
    for pair, (new_phase, _, _) in EXPECTED.items():
        assert TRANSITIONS[pair][0] is new_phase, pair
    assert [
        (phase, what)
        for phase in (P.IDLE, P.CONNECTING, P.REFUSED)
        for what in (I.SESSION_READY, I.SESSION_DOWN)
    ] == IGNORED


def test_the_table_uses_every_output_and_every_phase_answers_the_delay_question() -> None:
    used = {out for _, outputs in TRANSITIONS.values() for out in outputs}
    assert used == set(Output)
    for phase in Phase:
        _, outputs = TRANSITIONS[(phase, I.DELAY)]
        assert {Output.BACKOFF, Output.REFUSED_BACKOFF} & set(outputs), phase


@pytest.mark.parametrize(("phase", "what"), list(EXPECTED), ids=str)
def test_transition(phase: Phase, what: Input) -> None:
    new_phase, changes, delay = EXPECTED[(phase, what)]
    r, _ = policy_in(phase)
    before = state(r)
    result = CALLS[what](r)
    assert result == delay
    assert state(r) == {**before, "phase": new_phase, **changes}


@pytest.mark.parametrize(("phase", "what"), IGNORED, ids=str)
def test_a_pair_not_in_the_table_is_ignored(phase: Phase, what: Input) -> None:
    r, _ = policy_in(phase)
    before = state(r)
    CALLS[what](r)
    assert state(r) == before


@pytest.mark.parametrize(("lasted", "penalty"), [(29.9, 3), (30, 2), (299.9, 2), (300, 0)])
def test_a_joined_session_is_scored_by_how_long_it_lasted(lasted: float, penalty: int) -> None:
    r, clock = policy_in(P.JOINED)
    r.penalty = 2
    clock.advance(lasted - 1)  # policy_in already advanced 1 s
    r.session_ended()
    assert r.penalty == penalty
    assert r.phase is P.IDLE


def test_a_refusal_after_an_attempt_that_failed_otherwise_refunds_nothing() -> None:
    """An attempt that failed some other way (a timeout: it may have reached the server) keeps
    its token; the refused socketconfig fetch of the next attempt gives back none of it."""
    r, _ = policy_in(P.CONNECTING)
    assert r(1) == 5
    assert r.phase is P.IDLE
    r.connect_refused()
    assert r.budget.tokens == pytest.approx(4, abs=0.01)


def test_last_refused_is_the_refused_phase() -> None:
    r, _ = policy_in(P.REFUSED)
    assert r.last_refused
    r.hold(3)
    assert r.last_refused
    r(1)
    assert not r.last_refused


@given(st.lists(st.sampled_from(list(Input)), max_size=40), st.floats(0, 0.999))
def test_any_sequence_of_calls_gives_delays_within_bounds(calls: list[Input], draw: float) -> None:
    clock = Clock()
    r = Reconnector(clock, ReconnectPolicy(), random_source=lambda: draw)
    p = r.policy
    ceiling = max(p.max_delay, p.rate_limit_delay, HOLD, p.budget_interval + 1)
    for what in calls:
        result = CALLS[what](r)
        if what is I.DELAY:
            assert 0 < result <= ceiling
            clock.advance(result)
        assert r.penalty >= 0
        assert 0 <= r.budget.tokens <= p.budget_burst
