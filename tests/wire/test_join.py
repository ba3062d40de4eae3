"""The join flow, transition by transition: every (phase, input) pair, the ones in
:data:`~rosey.wire.join.TRANSITIONS` and the ones it ignores.

Each case reaches its phase the way a server would take it there (real events from
``start()`` on), checks that the event it is about to feed classifies as the input under test,
feeds it, and compares the steps and the flow's state with :data:`EXPECTED`, which states the
behaviour a second time, independently of the table. A table entry without an expectation (or
the other way round) fails :func:`test_every_transition_has_an_expectation`.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from rosey.errors import (
    BadCredentials,
    ChannelPasswordError,
    GuestLoginLimited,
    Kicked,
    LoginError,
    NameInUse,
)
from rosey.wire.join import (
    TRANSITIONS,
    BeginJoin,
    Fail,
    Input,
    JoinFlow,
    Note,
    Output,
    Phase,
    Ready,
    Send,
    SendLater,
)
from rosey.wire.retry import KickPolicy

P, I = Phase, Input  # noqa: E741
GUEST_LIMIT = "Guest logins are restricted to one per IP address per 30 seconds."
BAD_PASSWORD = "Invalid username/password combination"
LOGIN_OK = {"success": True, "name": "Bot", "guest": True}
#: The server event each input is fed as (the two start inputs are ``start()`` calls).
EVENTS: dict[Input, tuple[str, Any]] = {
    I.RANK: ("rank", 3),
    I.LOGIN_OK: ("login", LOGIN_OK),
    I.LOGIN_LIMITED: ("login", {"success": False, "error": GUEST_LIMIT}),
    I.LOGIN_REFUSED: ("login", {"success": False, "error": BAD_PASSWORD}),
    I.PASSWORD_ASKED: ("needPassword", False),
    I.PASSWORD_REFUSED: ("needPassword", True),
    I.BURST_END_RANKED: ("userlist", []),
    I.BURST_END: ("userlist", []),
    I.KICK: ("kick", {"reason": "Channel reloading"}),
    I.SERVER_ERROR: ("errorMsg", {"msg": "nope"}),
}

JOIN = [BeginJoin(), Send("joinChannel", {"name": "lab", "pw": "cpw"})]
KICKED = ("Fail", "Kicked", "Channel reloading", False, 10.0)
NOTE = [Note("server error while joining #lab: nope")]
PASSWORD_WRONG = ("Fail", "ChannelPasswordError", "channel password wrong", True, 0.0)

#: (phase, input) -> (new phase, steps, the attributes that change). Fail steps are compared
#: as (Fail, error type, error text, fatal, hold): errors compare by identity.
EXPECTED: dict[tuple[Phase, Input], tuple[Phase, list[Any], dict[str, Any]]] = {
    (P.IDLE, I.START_LOGIN): (P.LOGIN, [Send("login", {"name": "bot", "pw": "pw"})], {}),
    (P.IDLE, I.START_ANONYMOUS): (P.JOINING, JOIN, {}),
    (P.IDLE, I.RANK): (P.IDLE, [], {"rank": 3}),
    (P.IDLE, I.KICK): (P.DONE, [KICKED], {}),
    (P.IDLE, I.SERVER_ERROR): (P.IDLE, NOTE, {}),
    (P.LOGIN, I.RANK): (P.LOGIN, [], {"rank": 3}),
    (P.LOGIN, I.LOGIN_OK): (P.JOINING, JOIN, {"name": "Bot", "guest": True}),
    (P.LOGIN, I.LOGIN_LIMITED): (
        P.LOGIN,
        [
            Note(f"guest login limited: {GUEST_LIMIT!r}; retrying in 30 s (1/3)"),
            SendLater(30.0, "login", {"name": "bot", "pw": "pw"}),
        ],
        {"guest_retries": 1},
    ),
    (P.LOGIN, I.LOGIN_REFUSED): (
        P.DONE,
        [("Fail", "BadCredentials", BAD_PASSWORD, True, 0.0)],
        {},
    ),
    (P.LOGIN, I.KICK): (P.DONE, [KICKED], {}),
    (P.LOGIN, I.SERVER_ERROR): (P.LOGIN, NOTE, {}),
    (P.JOINING, I.RANK): (P.JOINING, [], {"rank": 3}),
    (P.JOINING, I.PASSWORD_ASKED): (P.JOINING, [Send("channelPassword", "cpw")], {}),
    (P.JOINING, I.PASSWORD_REFUSED): (P.DONE, [PASSWORD_WRONG], {}),
    (P.JOINING, I.BURST_END_RANKED): (P.READY, [Ready(2, "Bot", True)], {}),
    (P.JOINING, I.BURST_END): (P.BURST_DONE, [], {}),
    (P.JOINING, I.KICK): (P.DONE, [KICKED], {}),
    (P.JOINING, I.SERVER_ERROR): (P.JOINING, NOTE, {}),
    (P.BURST_DONE, I.RANK): (P.READY, [Ready(3, "Bot", True)], {"rank": 3}),
    (P.BURST_DONE, I.PASSWORD_ASKED): (P.BURST_DONE, [Send("channelPassword", "cpw")], {}),
    (P.BURST_DONE, I.PASSWORD_REFUSED): (P.DONE, [PASSWORD_WRONG], {}),
    (P.BURST_DONE, I.KICK): (P.DONE, [KICKED], {}),
    (P.BURST_DONE, I.SERVER_ERROR): (P.BURST_DONE, NOTE, {}),
    (P.READY, I.RANK): (P.READY, [], {"rank": 3}),
    (P.READY, I.KICK): (P.DONE, [KICKED], {}),
}

#: Pairs no sequence of events can produce, and why.
UNREACHABLE = {
    (P.LOGIN, I.START_ANONYMOUS): "a flow without a username never logs in",
    (P.BURST_DONE, I.BURST_END_RANKED): "the rank's arrival ends BURST_DONE",
    (P.READY, I.BURST_END): "ready means the rank is known",
}
ALL_PAIRS = list(itertools.product(Phase, Input))
IGNORED = [pair for pair in ALL_PAIRS if pair not in EXPECTED and pair not in UNREACHABLE]


def flow_for(what: Input) -> JoinFlow:
    if what is I.START_ANONYMOUS:
        return JoinFlow("lab", channel_password="cpw")
    return JoinFlow("lab", username="bot", password="pw", channel_password="cpw")


def walk(flow: JoinFlow, phase: Phase, ranked: bool) -> None:
    """Take ``flow`` to ``phase`` with real events; ``ranked``: the own rank (2) is known."""
    if phase is not P.IDLE:
        flow.start()
        if phase is not P.LOGIN and flow.username:
            flow.handle(*EVENTS[I.LOGIN_OK])
    if ranked:
        flow.handle("rank", 2)
    if phase in (P.BURST_DONE, P.READY):
        flow.handle("userlist", [])
    if phase is P.DONE:
        flow.handle("kick", {"reason": "Duplicate login"})
    assert flow.phase is phase


def ranked_for(phase: Phase, what: Input) -> bool:
    return what is I.BURST_END_RANKED or phase is P.READY


def shape(step: Any) -> Any:
    if isinstance(step, Fail):
        return ("Fail", type(step.error).__name__, str(step.error), step.fatal, step.hold)
    return step


def state(flow: JoinFlow) -> dict[str, Any]:
    names = ("rank", "name", "guest", "guest_retries")
    return {"phase": flow.phase, **{n: getattr(flow, n) for n in names}}


def feed(flow: JoinFlow, what: Input) -> list[Any]:
    if what in (I.START_LOGIN, I.START_ANONYMOUS):
        return [shape(s) for s in flow.start()]
    name, data = EVENTS[what]
    classified = flow.classify(name, data)
    assert classified is not None, (name, data, flow.phase)
    assert classified[0] is what, (name, data, flow.phase)
    return [shape(s) for s in flow.handle(name, data)]


def test_every_transition_has_an_expectation() -> None:
    assert set(EXPECTED) == set(TRANSITIONS), "a transition without a test, or a test without one"
    for pair, (new_phase, _, _) in EXPECTED.items():
        assert TRANSITIONS[pair][0] is new_phase, pair
    assert not set(UNREACHABLE) & set(TRANSITIONS)
    assert set(EXPECTED) | set(UNREACHABLE) | set(IGNORED) == set(ALL_PAIRS)


def test_the_table_uses_every_output_and_done_is_final() -> None:
    used = {out for _, outputs in TRANSITIONS.values() for out in outputs}
    assert used == set(Output)
    assert all(phase is not P.DONE for phase, _ in TRANSITIONS)
    assert {phase for phase, _ in TRANSITIONS} == set(Phase) - {P.DONE}


@pytest.mark.parametrize(("phase", "what"), list(EXPECTED), ids=str)
def test_transition(phase: Phase, what: Input) -> None:
    new_phase, steps, changes = EXPECTED[(phase, what)]
    flow = flow_for(what)
    walk(flow, phase, ranked_for(phase, what))
    before = state(flow)
    assert feed(flow, what) == steps
    assert state(flow) == {**before, "phase": new_phase, **changes}


@pytest.mark.parametrize(("phase", "what"), IGNORED, ids=str)
def test_a_pair_not_in_the_table_is_ignored(phase: Phase, what: Input) -> None:
    flow = flow_for(what)
    walk(flow, phase, ranked_for(phase, what))
    before = state(flow)
    assert feed(flow, what) == []
    assert state(flow) == before


def test_events_the_flow_does_not_read_are_no_input() -> None:
    flow = JoinFlow("lab", username="bot")
    for name, data in [
        ("rank", True),  # a bool is no rank
        ("rank", "2"),
        ("login", "yes"),
        ("login", None),
        ("chatMsg", {"msg": "hi"}),
        ("usercount", 3),
    ]:
        assert flow.classify(name, data) is None, (name, data)
        assert flow.handle(name, data) == []
    flow.start()
    assert flow.handle("rank", True) == []
    assert flow.rank is None


def test_password_asked_with_none_set_is_refused_as_required() -> None:
    flow = JoinFlow("lab")
    flow.start()
    seen = flow.classify("needPassword", False)
    assert seen is not None
    assert seen[0] is I.PASSWORD_REFUSED
    (step,) = flow.handle("needPassword", False)
    assert shape(step) == ("Fail", "ChannelPasswordError", "channel password required", True, 0.0)


def test_the_guest_limit_is_retried_up_to_the_limit_then_fatal() -> None:
    flow = JoinFlow("lab", username="guest", guest_retry_limit=2)
    flow.start()
    limited = EVENTS[I.LOGIN_LIMITED]
    for n in (1, 2):
        assert flow.classify(*limited)[0] is I.LOGIN_LIMITED  # type: ignore[index]
        steps = flow.handle(*limited)
        assert steps[1] == SendLater(30.0, "login", {"name": "guest"})
        assert flow.guest_retries == n
        assert flow.phase is P.LOGIN
    assert flow.classify(*limited)[0] is I.LOGIN_REFUSED  # type: ignore[index]
    (step,) = flow.handle(*limited)
    assert isinstance(step, Fail)
    assert isinstance(step.error, GuestLoginLimited)
    assert step.fatal
    assert flow.phase is P.DONE


@pytest.mark.parametrize(
    ("error", "fatal"),
    [
        ("Invalid username/password combination", BadCredentials),
        ("That name is already in use on this channel.", NameInUse),
        ("database on fire", LoginError),
    ],
)
def test_a_refused_login_is_fatal_only_when_retrying_cannot_help(error: str, fatal: type) -> None:
    flow = JoinFlow("lab", username="bot")
    flow.start()
    (step,) = flow.handle("login", {"success": False, "error": error})
    assert isinstance(step, Fail)
    assert type(step.error) is fatal
    assert step.fatal is (fatal is BadCredentials)
    assert step.hold == 0


@pytest.mark.parametrize(
    ("data", "reason", "fatal", "hold"),
    [
        ({"reason": "Duplicate login"}, "Duplicate login", True, 0.0),
        ({"reason": "You're banned!"}, "You're banned!", True, 0.0),
        ({"reason": "Channel reloading"}, "Channel reloading", False, 7.0),
        ("bare text", "bare text", False, 7.0),
        ({"reason": 42}, "42", False, 7.0),
    ],
)
def test_a_kick_stops_or_rejoins_by_the_kick_policy(
    data: Any, reason: str, fatal: bool, hold: float
) -> None:
    flow = JoinFlow("lab", kicks=KickPolicy(rejoin_delay=7.0))
    flow.start()
    (step,) = flow.handle("kick", data)
    assert isinstance(step, Fail)
    assert isinstance(step.error, Kicked)
    assert (step.error.reason, step.fatal, step.hold) == (reason, fatal, hold)


def test_a_second_start_does_nothing() -> None:
    flow = JoinFlow("lab", username="bot")
    assert flow.start() == [Send("login", {"name": "bot"})]
    assert flow.start() == []
    assert flow.phase is P.LOGIN


def test_a_login_answer_without_a_name_keeps_the_configured_one() -> None:
    flow = JoinFlow("lab", username="bot")
    flow.start()
    flow.handle("login", {"success": True})
    flow.handle("userlist", [])
    assert flow.handle("rank", 1) == [Ready(1, "bot", False)]


def test_the_password_error_is_the_typed_one() -> None:
    flow = JoinFlow("lab", channel_password="x")
    flow.start()
    (step,) = flow.handle("needPassword", True)
    assert isinstance(step, Fail)
    assert isinstance(step.error, ChannelPasswordError)
