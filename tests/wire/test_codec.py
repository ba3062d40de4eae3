"""Engine.IO/Socket.IO text packets (rosey.wire.codec), with frames copied from the captures."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rosey.errors import CodecError
from rosey.wire import codec
from rosey.wire.codec import (
    Ack,
    Close,
    Connect,
    ConnectError,
    Disconnect,
    EventPacket,
    Noop,
    Open,
    Ping,
    Pong,
)
from tests.recorded import SCENARIOS, load

OPEN_FRAME = (
    '0{"sid":"VknV_Xeov8tL6WTsAAAO","upgrades":[],"pingInterval":25000,'
    '"pingTimeout":120000,"maxPayload":1048576}'
)


# -- decoding: every frame kind ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "packet"),
    [
        (
            OPEN_FRAME,
            Open("VknV_Xeov8tL6WTsAAAO", 25.0, 120.0, 1048576, ()),
        ),
        (
            '0{"sid":"p","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":120000}',
            Open("p", 25.0, 120.0, 1_000_000, ("websocket",)),
        ),
        ("1", Close()),
        ("2", Ping()),
        ("2probe", Ping("probe")),
        ("3", Pong()),
        ("3probe", Pong("probe")),
        ("5", Noop()),
        ("6", Noop()),
        ("40", Connect()),
        ('40{"sid":"t5gtv5_UA587v51aAAAP"}', Connect("t5gtv5_UA587v51aAAAP")),
        ("41", Disconnect()),
        ('44{"message":"Rate limit exceeded"}', ConnectError("Rate limit exceeded")),
        ('44"Not authorized"', ConnectError("Not authorized")),  # socket.io 2 (EIO=3) form
        ('42["rank",-1]', EventPacket("rank", (-1,))),
        ('42["closePoll",null]', EventPacket("closePoll", (None,))),
        ('42["addFilterSuccess"]', EventPacket("addFilterSuccess", ())),
        ('42["setLeader",""]', EventPacket("setLeader", ("",))),
        (
            '42["chatMsg",{"username":"labbot","msg":"hello labuser! I read you 👋",'
            '"meta":{},"time":1795296736673}]',
            EventPacket(
                "chatMsg",
                (
                    {
                        "username": "labbot",
                        "msg": "hello labuser! I read you 👋",
                        "meta": {},
                        "time": 1795296736673,
                    },
                ),
            ),
        ),
        (
            '42["mediaUpdate",{"currentTime":-0.9980000000000002,"paused":true}]',
            EventPacket("mediaUpdate", ({"currentTime": -0.9980000000000002, "paused": True},)),
        ),
        (
            '420["newPoll",{"title":"lunch?","opts":["pizza","tacos"],"obscured":false}]',
            EventPacket(
                "newPoll",
                ({"title": "lunch?", "opts": ["pizza", "tacos"], "obscured": False},),
                ack_id=0,
            ),
        ),
        ("430[{}]", Ack(0, ({},))),
        (
            '432[{"error":{"message":"Poll title must be a string"}}]',
            Ack(2, ({"error": {"message": "Poll title must be a string"}},)),
        ),
        ("4312[]", Ack(12, ())),
        ('42["two","args"]', EventPacket("two", ("args",))),
    ],
)
def test_decode(frame: str, packet: codec.Packet) -> None:
    assert codec.decode(frame) == packet


def test_event_data_is_the_first_argument() -> None:
    assert codec.decode('42["usercount",5]').data == 5  # type: ignore[union-attr]
    assert codec.decode('42["closePoll"]').data is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("frame", "packet"),
    [
        ('40/admin,{"sid":"abc"}', Connect("abc", "/admin")),
        ("40/admin,", Connect(None, "/admin")),
        ("41/admin,", Disconnect("/admin")),
        ('44/admin,{"message":"no"}', ConnectError("no", "/admin")),
        ('42/admin,["x",1]', EventPacket("x", (1,), None, "/admin")),
        ('42/admin,7["x"]', EventPacket("x", (), 7, "/admin")),
        ("43/admin,5[1]", Ack(5, (1,), "/admin")),
    ],
)
def test_namespaces(frame: str, packet: codec.Packet) -> None:
    assert codec.decode(frame) == packet
    assert codec.encode_packet(packet) == frame


def test_namespace_without_the_comma() -> None:
    # socket.io-parser omits the "," when nothing follows the namespace.
    assert codec.decode("41/admin") == Disconnect("/admin")


# -- decoding: refusals -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        "bBAUG",  # Engine.IO v3 base64 binary
        '451-["upload",{"_placeholder":true,"num":0}]',  # Socket.IO BINARY_EVENT
        "461-0[{}]",  # Socket.IO BINARY_ACK
    ],
)
def test_binary_packets_are_refused(frame: str) -> None:
    with pytest.raises(CodecError, match="binary"):
        codec.decode(frame)


@pytest.mark.parametrize("frame", [b'42["rank",-1]', bytearray(b"2"), None, 42])
def test_non_text_frames_are_refused(frame: Any) -> None:
    with pytest.raises(CodecError, match="binary"):
        codec.decode(frame)


@pytest.mark.parametrize(
    "frame",
    ["", "7", "9abc", "x", "{}", "4", "47", "49[]", "4x", "4²[]", "4٣[1]", "-1"],
)
def test_unknown_packet_types(frame: str) -> None:
    with pytest.raises(CodecError):
        codec.decode(frame)


@pytest.mark.parametrize(
    "frame",
    [
        '42["chatMsg",{"msg":"unterminated"',
        "42[nope]",
        '42["a"] trailing',
        "40{bad",
        "44{bad",
        "430notjson",
        "0{bad",
        "0",
        "0[]",
        '0"sid"',
        '0{"sid":"a"}',
        '0{"sid":"a","pingInterval":"soon","pingTimeout":1}',
        '0{"sid":"a","pingInterval":1,"pingTimeout":1,"maxPayload":Infinity}',
        '0{"sid":"a","pingInterval":NaN,"pingTimeout":1}',
        '0{"sid":"a","pingInterval":25000,"pingTimeout":-1}',
        '0{"sid":"a","pingInterval":1,"pingTimeout":1,"upgrades":5}',
        "42[" * 100_000,  # nesting deeper than the recursion limit
        "42[" + "9" * 5000 + "]",  # an int beyond Python's 4300-digit limit
    ],
)
def test_non_json_payloads(frame: str) -> None:
    with pytest.raises(CodecError):
        codec.decode(frame)


@pytest.mark.parametrize(
    "frame",
    [
        "42",
        "42[]",
        "42{}",
        "42null",
        '42"chatMsg"',
        "42[1,2]",
        "42[null]",
        '42/admin,[{"name":"x"}]',
        "421",
        "43[1]",  # ack without an id
        "431{}",  # ack args not a list
        "431",
        "405{}",  # ack id on a connect
        "415",
        "42" + "1" * 16 + '["x"]',  # ack id longer than any JavaScript integer
    ],
)
def test_invalid_event_and_ack_payloads(frame: str) -> None:
    with pytest.raises(CodecError):
        codec.decode(frame)


def test_codec_error_quotes_the_frame() -> None:
    with pytest.raises(CodecError, match=r"'42\[1,2\]'"):
        codec.decode("42[1,2]")


# -- encoding ---------------------------------------------------------------------------------


def test_encode_event() -> None:
    assert codec.encode_event("joinChannel", {"name": "labchan"}) == (
        '42["joinChannel",{"name":"labchan"}]'
    )
    assert codec.encode_event("chatMsg", {"msg": "hello labuser! I read you 👋", "meta": {}}) == (
        '42["chatMsg",{"msg":"hello labuser! I read you 👋","meta":{}}]'
    )
    assert codec.encode_event("playNext") == '42["playNext"]'
    assert codec.encode_event("delete", 2) == '42["delete",2]'
    assert codec.encode_event("newPoll", {"title": "t"}, ack_id=0) == '420["newPoll",{"title":"t"}]'
    assert codec.encode_event("x", 1, 2, ack_id=17) == '4217["x",1,2]'


def test_encode_control_packets() -> None:
    assert codec.encode_ack(3, {}) == "433[{}]"
    assert codec.encode_ack(0) == "430[]"
    assert codec.encode_connect() == "40"
    assert codec.encode_connect({"token": "t"}) == '40{"token":"t"}'
    assert codec.encode_disconnect() == "41"
    assert codec.encode_ping() == "2"
    assert codec.encode_ping("probe") == "2probe"
    assert codec.encode_pong() == "3"
    assert codec.encode_pong("probe") == "3probe"


def test_encode_open() -> None:
    assert codec.encode_open("VknV_Xeov8tL6WTsAAAO", 25.0, 120.0, 1048576) == OPEN_FRAME
    # 1.001 * 1000 == 1000.9999999999999: the interval must still come out as 1001 ms
    assert codec.decode(codec.encode_open("s", 1.001, 0.57)) == Open("s", 1.001, 0.57, 1_000_000)
    assert codec.encode_open("s", upgrades=["websocket"]).startswith(
        '0{"sid":"s","upgrades":["websocket"],'
    )


@pytest.mark.parametrize(
    ("packet", "frame"),
    [
        (Close(), "1"),
        (Ping("x"), "2x"),
        (Pong(), "3"),
        (Noop(), "6"),
        (Connect(), "40"),
        (Connect("abc"), '40{"sid":"abc"}'),
        (Disconnect(), "41"),
        (ConnectError("Rate limit exceeded"), '44{"message":"Rate limit exceeded"}'),
        (EventPacket("rank", (-1,)), '42["rank",-1]'),
        (EventPacket("newPoll", ({},), ack_id=0), '420["newPoll",{}]'),
        (Ack(0, ({},)), "430[{}]"),
    ],
)
def test_encode_packet(packet: codec.Packet, frame: str) -> None:
    assert codec.encode_packet(packet) == frame


def test_encode_packet_refuses_what_is_not_a_packet() -> None:
    with pytest.raises(CodecError):
        codec.encode_packet("42[]")  # type: ignore[arg-type]


# -- every recorded frame ---------------------------------------------------------------------

RECORDED = [
    pytest.param(frame, id=f"{scenario}:{i}")
    for scenario in SCENARIOS
    for i, frame in enumerate(
        r.frame for r in load(scenario).records if r.frame is not None and r.dir != "meta"
    )
]


def _payload_json(frame: str) -> Any:
    digits = len(frame) - len(frame.lstrip("0123456789"))
    return json.loads(frame[digits:]) if frame[digits:] else None


@pytest.mark.parametrize("frame", RECORDED)
def test_every_recorded_frame_decodes_and_reencodes(frame: str) -> None:
    packet = codec.decode(frame)
    again = codec.encode_packet(packet)
    assert codec.decode(again) == packet
    assert again[:2] == frame[:2]  # same packet types
    assert _payload_json(again) == _payload_json(frame)


def test_the_captures_hold_every_kind_of_frame() -> None:
    frames = [str(p.values[0]) for p in RECORDED]
    kinds = {type(codec.decode(frame)) for frame in frames}
    assert kinds == {Open, Ping, Pong, Connect, Disconnect, ConnectError, EventPacket}


# -- properties -------------------------------------------------------------------------------

PREFIXES = st.sampled_from(
    ["", "0", "1", "2", "3", "4", "40", "41", "42", "43", "44", "45", "42/a,", "431", "b"]
)
JSONISH = st.text(alphabet='[]{}",:0123456789.eE-+truefalsnl /\\u', max_size=30)


@given(st.text())
def test_decode_raises_only_codec_error(frame: str) -> None:
    with contextlib.suppress(CodecError):
        codec.decode(frame)


@given(PREFIXES, st.text() | JSONISH)
def test_decode_raises_only_codec_error_near_valid_frames(prefix: str, rest: str) -> None:
    with contextlib.suppress(CodecError):
        codec.decode(prefix + rest)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=10,
)
NAMESPACES = st.just("/") | st.from_regex(r"\A/[a-z0-9_-]{1,10}\Z")
ACK_IDS = st.integers(min_value=0, max_value=10**15 - 1)
MILLISECONDS = st.integers(min_value=0, max_value=10**9).map(lambda ms: ms / 1000)

PACKETS = st.one_of(
    st.builds(
        EventPacket,
        name=st.text(),
        args=st.lists(JSON, max_size=3).map(tuple),
        ack_id=st.none() | ACK_IDS,
        namespace=NAMESPACES,
    ),
    st.builds(
        Ack, ack_id=ACK_IDS, args=st.lists(JSON, max_size=3).map(tuple), namespace=NAMESPACES
    ),
    st.builds(Connect, sid=st.none() | st.text(), namespace=NAMESPACES),
    st.builds(ConnectError, message=st.text(), namespace=NAMESPACES),
    st.builds(Disconnect, namespace=NAMESPACES),
    st.builds(Ping, data=st.text()),
    st.builds(Pong, data=st.text()),
    st.builds(
        Open,
        sid=st.text(),
        ping_interval=MILLISECONDS,
        ping_timeout=MILLISECONDS,
        max_payload=st.integers(min_value=0, max_value=2**31),
        upgrades=st.lists(st.text(), max_size=2).map(tuple),
    ),
    st.just(Close()),
    st.just(Noop()),
)


@given(PACKETS)
def test_encode_decode_round_trip(packet: codec.Packet) -> None:
    assert codec.decode(codec.encode_packet(packet)) == packet
