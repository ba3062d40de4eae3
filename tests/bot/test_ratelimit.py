"""The server limiter port, and rosey's model of it: no planned send is ever throttled."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from rosey.bot.ratelimit import (
    CHAT_FLOOD,
    QUEUE_FLOOD,
    QUEUE_FLOOD_MOD,
    CytubeRateLimiter,
    FloodModel,
    RateParams,
    chat_params,
    queue_params,
)
from tests.recorded import load

ANTIFLOOD_DEFAULT = RateParams(4, 1, 4)


# -- the server's algorithm ----------------------------------------------------------------------


def test_port_matches_the_recorded_flood() -> None:
    """errors_and_limits: a /rank 1.2 s before a 30-line flood; the server echoed 19 and
    answered 11 `cooldown 100`. Replaying the recorded send times through the port agrees."""
    rec = load("errors_and_limits")
    sends = [
        (r.t, json.loads(r.frame[2:])[1]["msg"])
        for r in rec.records
        if r.dir == "out" and r.conn == 3 and r.frame and '"chatMsg"' in r.frame
    ]
    assert sends[0][1] == "/rank labuser"
    assert len(sends) == 32
    echoed = [
        json.loads(r.frame[2:])[1]["msg"]
        for r in rec.records
        if r.dir == "in"
        and r.conn == 3
        and r.t >= sends[1][0]  # not the join burst's replay
        and r.frame
        and r.frame.startswith('42["chatMsg"')
    ]
    cooldowns = [r for r in rec.records if r.frame == '42["cooldown",100]']
    limiter = CytubeRateLimiter()
    allowed = [text for t, text in sends if not limiter.throttle(t * 1000, CHAT_FLOOD)]
    flood_allowed = [m for m in allowed if m.startswith("flood")]
    assert flood_allowed == [m for m in echoed if m.startswith("flood")]
    assert len(flood_allowed) == 19
    assert len(cooldowns) == 11
    assert "after the flood" in allowed  # 5 s of silence reset it


def test_port_edges() -> None:
    lim = CytubeRateLimiter()
    p = RateParams(2, 10)  # cooldown 0.2 s, gap 100 ms
    assert not lim.throttle(0, p)
    assert not lim.throttle(0, p)  # burst of 2
    assert lim.throttle(99, p)  # inside the gap
    assert not lim.throttle(100, p)  # exactly the gap is allowed
    assert lim.throttle(150, p)
    assert not lim.throttle(300, p)  # quiet exactly cooldown (200 ms): not a reset, but gap ok
    assert lim.count == 2
    assert not lim.throttle(501, p)  # quiet > cooldown: reset
    assert lim.count == 1


def test_port_sustained_zero_throttles_until_cooldown() -> None:
    lim = CytubeRateLimiter()
    p = RateParams(1, 0, 60)  # requestPlaylist
    assert not lim.throttle(0, p)
    assert lim.throttle(59_999, p)
    assert lim.throttle(60_000, p)
    assert not lim.throttle(60_001, p)


def test_params_selection() -> None:
    assert chat_params(0, None) == CHAT_FLOOD
    assert chat_params(1.5, ANTIFLOOD_DEFAULT) == ANTIFLOOD_DEFAULT
    assert chat_params(2, ANTIFLOOD_DEFAULT) == CHAT_FLOOD
    assert chat_params(0, ANTIFLOOD_DEFAULT, pm=True) == CHAT_FLOOD
    assert queue_params(1) == QUEUE_FLOOD
    assert queue_params(2) == QUEUE_FLOOD_MOD
    assert CHAT_FLOOD.reset_after == 2
    assert CHAT_FLOOD.gap == 0.1


def test_params_from_channel_opts() -> None:
    off = {"chat_antiflood": False, "chat_antiflood_params": {"burst": 4, "sustained": 1}}
    assert RateParams.from_channel_opts(off) is None
    on = {
        "chat_antiflood": True,
        "chat_antiflood_params": {"burst": 4, "sustained": 1, "cooldown": 4},
    }
    assert RateParams.from_channel_opts(on) == RateParams(4, 1, 4)
    junk = {"chat_antiflood": True, "chat_antiflood_params": {"burst": "x", "sustained": None}}
    parsed = RateParams.from_channel_opts(junk)
    assert parsed == RateParams(10, 2, None)
    assert parsed.reset_after == 5
    assert RateParams.from_channel_opts({"chat_antiflood": True}) == RateParams(10, 2)


# -- the model never lets a throttled send through ---------------------------------------------

PARAMS = st.sampled_from(
    [CHAT_FLOOD, ANTIFLOOD_DEFAULT, RateParams(1, 1, 1), RateParams(0, 10, 0), RateParams(20, 0.5)]
)


def plan(
    requests: list[tuple[float, RateParams]],
    model: FloodModel,
    lags: list[float] | None = None,
) -> list[float]:
    """Send each request as early as the model allows, in order; return when each left.

    Message ``i`` is written when the model allows it but leaves ``lags[i]`` s later (a late
    flush; in order), and the model is told so (:meth:`FloodModel.left`).
    """
    times: list[float] = []
    last = departed = -math.inf
    for i, (at, params) in enumerate(requests):
        now = max(at, last)
        now += model.delay(now, params)
        assert model.delay(now, params) == 0
        model.record(now, params)
        departed = max(departed, now + (lags[i] if lags else 0.0))
        model.left(departed)
        times.append(departed)
        last = now
    return times


@settings(max_examples=300, deadline=None)
@given(
    gaps=st.lists(st.floats(0, 6, allow_nan=False), min_size=1, max_size=80),
    params=st.lists(PARAMS, min_size=80, max_size=80),
    jitter=st.lists(st.floats(0, 1), min_size=80, max_size=80),
    lags=st.lists(st.sampled_from([0.0, 0.0, 0.001, 0.03, 0.2, 0.7]), min_size=80, max_size=80),
    margin=st.sampled_from([0.002, 0.025, 0.2]),
    start=st.floats(0, 1e6),
)
def test_planned_sends_are_never_throttled(
    gaps: list[float],
    params: list[RateParams],
    jitter: list[float],
    lags: list[float],
    margin: float,
    start: float,
) -> None:
    requests = []
    at = start
    for i, gap in enumerate(gaps):
        at += gap
        requests.append((at, params[i]))
    sent = plan(requests, FloodModel(margin), lags)
    # Each line reaches the server 0..(margin - 1 ms) late, in order; Date.now() is whole ms.
    server = CytubeRateLimiter()
    arrived = -math.inf
    for i, (t, (_, p)) in enumerate(zip(sent, requests, strict=True)):
        arrived = max(arrived, t + jitter[i] * (margin - 0.001))
        assert not server.throttle(math.floor(arrived * 1000), p), f"message {i} throttled"


def test_model_is_not_needlessly_slow() -> None:
    margin = 0.025
    sent = plan([(0.0, CHAT_FLOOD)] * 1000, FloodModel(margin))
    assert sent[19] == 0.0
    assert sent[20] > 0
    expected = 980 * (CHAT_FLOOD.gap + margin)
    assert expected <= sent[-1] < expected + 0.01
    # After a quiet spell longer than cooldown + margin, a full burst goes at once again.
    model = FloodModel(margin)
    plan([(0.0, CHAT_FLOOD)] * 30, model)
    quiet = model.last + CHAT_FLOOD.reset_after + margin + 0.001
    assert plan([(quiet, CHAT_FLOOD)] * 20, model) == [quiet] * 20


def test_penalize_forces_sustained_mode() -> None:
    model = FloodModel(0.0)
    model.record(0.0, CHAT_FLOOD)
    assert model.delay(0.05, CHAT_FLOOD) == 0
    model.penalize(0.05)
    assert 0.1 <= model.delay(0.05, CHAT_FLOOD) < 0.1001
