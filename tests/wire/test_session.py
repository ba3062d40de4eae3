"""The Engine.IO/Socket.IO session state machine (rosey.wire.session), with literal frames."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rosey.errors import CodecError
from rosey.wire.codec import EventPacket, Open
from rosey.wire.session import (
    AckReceived,
    CloseConnection,
    Connected,
    Deliver,
    Opened,
    SendText,
    Session,
    State,
    Violation,
)

# CyTube 3.86 on a direct websocket (from tests/fixtures/guest_join.jsonl).
OPEN4 = (
    '0{"sid":"VknV_Xeov8tL6WTsAAAO","upgrades":[],"pingInterval":25000,'
    '"pingTimeout":120000,"maxPayload":1048576}'
)
CONNECT4 = '40{"sid":"t5gtv5_UA587v51aAAAP"}'
# socket.io 2 (Engine.IO 3) has no maxPayload; CyTube's allowEIO3 keeps its own timings.
OPEN3 = '0{"sid":"Zx3kQyYq3Uo0aTtYAAAB","upgrades":[],"pingInterval":25000,"pingTimeout":120000}'
HANDSHAKE4 = Open("VknV_Xeov8tL6WTsAAAO", 25.0, 120.0, 1048576, ())


def opened(now: float = 0.0) -> Session:
    session = Session()
    session.receive(OPEN4, now)
    return session


def connected(now: float = 0.0) -> Session:
    session = opened(now)
    session.receive(CONNECT4, now)
    return session


# -- Engine.IO 4 ------------------------------------------------------------------------------


def test_open_answers_with_a_namespace_connect() -> None:
    session = Session()
    assert session.state is State.OPENING
    assert session.receive(OPEN4, 3.9) == [Opened(HANDSHAKE4), SendText("40")]
    assert session.state is State.OPEN
    assert session.handshake == HANDSHAKE4


def test_connect_reply_connects_the_namespace() -> None:
    session = opened()
    assert session.receive(CONNECT4, 0.1) == [Connected("t5gtv5_UA587v51aAAAP")]
    assert session.state is State.CONNECTED


def test_server_ping_is_answered_with_a_pong() -> None:
    session = connected()
    assert session.receive("2", 25.0) == [SendText("3")]
    assert session.receive("2probe", 50.0) == [SendText("3probe")]
    assert session.state is State.CONNECTED


def test_events_are_delivered_once_connected() -> None:
    session = connected()
    assert session.receive('42["rank",-1]', 0.1) == [Deliver(EventPacket("rank", (-1,)))]
    assert session.receive('42["closePoll",null]', 0.2) == [
        Deliver(EventPacket("closePoll", (None,)))
    ]


@pytest.mark.parametrize("make", [Session, opened], ids=["opening", "open"])
def test_events_before_the_namespace_connect_are_not_delivered(make) -> None:
    session = make()
    state = session.state
    [action] = session.receive('42["rank",-1]', 0.1)
    assert isinstance(action, Violation)
    assert action.frame == '42["rank",-1]'
    assert session.state is state


def test_ack_received() -> None:
    session = connected()
    assert session.receive("430[{}]", 1.0) == [AckReceived(0, ({},))]
    assert session.receive('432[{"error":{"message":"bad poll"}}]', 1.1) == [
        AckReceived(2, ({"error": {"message": "bad poll"}},))
    ]


def test_an_event_with_an_ack_id_from_the_server_is_delivered_with_it() -> None:
    session = connected()
    assert session.receive('427["x",1]', 1.0) == [Deliver(EventPacket("x", (1,), ack_id=7))]


def test_connect_refused() -> None:
    session = opened()
    [action] = session.receive('44{"message":"Rate limit exceeded"}', 0.1)
    assert action == CloseConnection("connect refused: Rate limit exceeded", refused=True)
    assert session.state is State.CLOSED
    assert session.close_reason == "connect refused: Rate limit exceeded"
    assert session.deadline() is None


def test_server_disconnect_closes() -> None:
    session = connected()
    session.receive('42["kick",{"reason":"Duplicate login"}]', 21.8)
    assert session.receive("41", 21.8) == [
        CloseConnection("server disconnected the namespace", refused=False)
    ]
    assert session.state is State.CLOSED


def test_engine_io_close_closes() -> None:
    session = connected()
    assert session.receive("1", 2.0) == [CloseConnection("server closed the session")]
    assert session.state is State.CLOSED


def test_nothing_happens_after_close() -> None:
    session = connected()
    session.receive("41", 1.0)
    # CyTube keeps pinging and sending after its 41 (fixtures README): all ignored.
    for frame in ["2", '42["rank",-1]', OPEN4, "40", "garbage"]:
        assert session.receive(frame, 2.0) == []
    assert session.tick(10_000.0) == []
    assert session.close() == []
    assert session.state is State.CLOSED


def test_noop_is_ignored() -> None:
    session = connected()
    assert session.receive("6", 1.0) == []
    assert session.state is State.CONNECTED


# -- heartbeat, Engine.IO 4 -------------------------------------------------------------------


def test_heartbeat_timeout_is_interval_plus_timeout_after_the_handshake() -> None:
    session = connected(100.0)
    assert session.deadline() == 245.0  # 100 + 25 + 120
    assert session.tick(244.999) == []
    assert session.state is State.CONNECTED
    assert session.tick(245.0) == [CloseConnection("heartbeat timeout: no ping from the server")]
    assert session.state is State.CLOSED


def test_each_ping_moves_the_heartbeat_deadline() -> None:
    session = connected(100.0)
    session.receive("2", 125.0)
    assert session.deadline() == 270.0
    assert session.tick(245.0) == []  # the old deadline no longer counts
    assert session.tick(269.999) == []
    session.receive("2", 150.0)
    assert session.tick(294.999) == []
    assert session.tick(295.0) == [CloseConnection("heartbeat timeout: no ping from the server")]


def test_other_traffic_does_not_count_as_a_ping() -> None:
    session = connected(0.0)
    session.receive('42["usercount",2]', 144.0)
    assert session.tick(145.0) == [CloseConnection("heartbeat timeout: no ping from the server")]


def test_no_deadline_before_the_handshake() -> None:
    session = Session()
    assert session.deadline() is None
    assert session.tick(1e9) == []
    assert session.state is State.OPENING


def test_the_client_never_pings_in_engine_io_4() -> None:
    session = connected(0.0)
    for now in (25.0, 50.0, 75.0, 100.0, 144.9):
        assert session.tick(now) == []


# -- Engine.IO 3 ------------------------------------------------------------------------------


def test_eio3_server_connects_the_namespace_by_itself() -> None:
    session = Session(eio=3)
    assert session.receive(OPEN3, 0.0) == [
        Opened(Open("Zx3kQyYq3Uo0aTtYAAAB", 25.0, 120.0, 1_000_000, ()))
    ]  # no "40" from the client
    assert session.receive("40", 0.01) == [Connected(None)]
    assert session.state is State.CONNECTED
    assert session.receive('42["rank",-1]', 0.02) == [Deliver(EventPacket("rank", (-1,)))]


def test_eio3_client_pings_every_interval() -> None:
    session = Session(eio=3)
    session.receive(OPEN3, 10.0)
    session.receive("40", 10.0)
    assert session.deadline() == 35.0
    assert session.tick(34.999) == []
    assert session.tick(35.0) == [SendText("2")]
    assert session.receive("3", 35.2) == []
    assert session.deadline() == 60.0  # the next ping, one interval after the last
    assert session.tick(59.999) == []
    assert session.tick(60.0) == [SendText("2")]
    assert session.state is State.CONNECTED


def test_eio3_pong_timeout_closes() -> None:
    session = Session(eio=3)
    session.receive(OPEN3, 0.0)
    session.receive("40", 0.0)
    assert session.tick(25.0) == [SendText("2")]
    assert session.deadline() == 145.0  # ping at 25 + pingTimeout 120
    assert session.tick(144.999) == []
    assert session.tick(145.0) == [CloseConnection("heartbeat timeout: no pong from the server")]
    assert session.state is State.CLOSED


def test_eio3_server_ping_is_a_violation() -> None:
    session = Session(eio=3)
    session.receive(OPEN3, 0.0)
    session.receive("40", 0.0)
    [action] = session.receive("2", 1.0)
    assert isinstance(action, Violation)
    assert session.state is State.CONNECTED
    assert session.deadline() == 25.0


def test_unsupported_engine_io_revision() -> None:
    with pytest.raises(ValueError, match=r"Engine\.IO revision 2"):
        Session(eio=2)


# -- leaving ----------------------------------------------------------------------------------


def test_close_when_connected_says_goodbye_first() -> None:
    session = connected()
    assert session.close() == [SendText("41"), CloseConnection("client closed")]
    assert session.state is State.CLOSED
    assert session.close_reason == "client closed"


@pytest.mark.parametrize("make", [Session, opened], ids=["opening", "open"])
def test_close_before_connected_sends_no_41(make) -> None:
    session = make()
    assert session.close("shutting down") == [CloseConnection("shutting down")]
    assert session.state is State.CLOSED


# -- sending ----------------------------------------------------------------------------------


def test_encode_event_numbers_acks_from_zero() -> None:
    session = connected()
    assert session.encode_event("chatMsg", {"msg": "hi", "meta": {}}) == (
        '42["chatMsg",{"msg":"hi","meta":{}}]',
        None,
    )
    assert session.encode_event("playNext") == ('42["playNext"]', None)
    assert session.encode_event("newPoll", {"title": "t"}, ack=True) == (
        '420["newPoll",{"title":"t"}]',
        0,
    )
    assert session.encode_event("newPoll", {"title": "u"}, ack=True) == (
        '421["newPoll",{"title":"u"}]',
        1,
    )


# -- violations -------------------------------------------------------------------------------

BAD_FRAMES: dict[State, list[Any]] = {
    State.OPENING: ["", "x", "42[", "45-[]", "40", "430[{}]", "41x", "0{bad", b"binary"],
    State.OPEN: ["", "x", "42[", '42["rank",-1]', "430[{}]", OPEN4, "42[1]", "7"],
    State.CONNECTED: ["", "x", "42[", "42[1]", OPEN4, "40", CONNECT4, "451-[]", "4x", "43[1]"],
}


@pytest.mark.parametrize(
    ("state", "frame"),
    [(state, frame) for state, frames in BAD_FRAMES.items() for frame in frames],
)
def test_violations_never_change_state(state: State, frame) -> None:
    session = {State.OPENING: Session, State.OPEN: opened, State.CONNECTED: connected}[state]()
    before = (session.state, session.handshake, session.deadline(), session.close_reason)
    [action] = session.receive(frame, 1.0)
    assert isinstance(action, Violation)
    assert isinstance(action.error, CodecError)
    assert action.frame == frame
    assert (session.state, session.handshake, session.deadline(), session.close_reason) == before


def test_a_session_survives_a_bad_frame() -> None:
    session = connected()
    session.receive("42[garbage", 1.0)
    assert session.receive('42["usercount",2]', 1.1) == [Deliver(EventPacket("usercount", (2,)))]


# -- property: arbitrary frame sequences ------------------------------------------------------

VALID = st.sampled_from(
    [
        OPEN4,
        OPEN3,
        "40",
        CONNECT4,
        "41",
        '44{"message":"no"}',
        "1",
        "2",
        "3",
        "6",
        '42["rank",-1]',
        "430[{}]",
        '432[{"error":{"message":"x"}}]',
    ]
)
STEP = st.one_of(
    st.tuples(st.just("frame"), VALID | st.text(max_size=30)),
    st.tuples(st.just("tick"), st.just("")),
    st.tuples(st.just("close"), st.just("")),
)
ACTIONS = (SendText, Opened, Connected, Deliver, AckReceived, Violation, CloseConnection)


@given(
    eio=st.sampled_from([3, 4]),
    steps=st.lists(st.tuples(STEP, st.floats(min_value=0, max_value=200)), max_size=30),
)
def test_any_sequence_of_frames_never_raises(eio: int, steps) -> None:
    session = Session(eio=eio)
    now = 0.0
    for (kind, frame), gap in steps:
        now += gap
        was_closed = session.state is State.CLOSED
        if kind == "frame":
            actions = session.receive(frame, now)
        elif kind == "tick":
            actions = session.tick(now)
        else:
            actions = session.close()
        assert all(isinstance(a, ACTIONS) for a in actions)
        if was_closed:
            assert actions == []
        if any(isinstance(a, CloseConnection) for a in actions):
            assert session.state is State.CLOSED
        if any(isinstance(a, Deliver | AckReceived) for a in actions):
            assert session.state is State.CONNECTED
        deadline = session.deadline()
        assert deadline is None or deadline == deadline  # never NaN


# -- receive_event: the driver's fast path ----------------------------------------------------

_FRAMES = [
    '42["rank",-1]',  # before the handshake: a violation
    OPEN4,
    '42["rank",-1]',  # before the namespace connect: a violation
    CONNECT4,
    '42["chatMsg",{"msg":"hi"}]',
    '427["x",1]',
    "2",
    "430[{}]",
    "6",
    "not a frame",
    '42["rank",3]',
    "41",
    '42["rank",3]',  # after close: nothing
]


def _comparable(actions: list[Any]) -> list[Any]:
    # Exceptions compare by identity: a violation by its message and frame.
    return [(str(a.error), a.frame) if isinstance(a, Violation) else a for a in actions]


def test_receive_event_is_receive_with_events_bare() -> None:
    slow, fast = Session(), Session()
    for i, frame in enumerate(_FRAMES):
        expected = slow.receive(frame, float(i))
        got = fast.receive_event(frame, float(i))
        if isinstance(got, EventPacket):
            assert expected == [Deliver(got)]
        else:
            assert _comparable(got) == _comparable(expected)
        assert (fast.state, fast.deadline(), fast.close_reason) == (
            slow.state,
            slow.deadline(),
            slow.close_reason,
        )
    assert fast.state is State.CLOSED


def test_receive_event_returns_the_packet_of_an_event_while_connected() -> None:
    session = connected()
    deadline = session.deadline()
    assert session.receive_event('42["rank",-1]', 30.0) == EventPacket("rank", (-1,))
    assert session.deadline() == deadline
