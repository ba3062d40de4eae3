"""CyTube events to normalized Events (rosey.wire.normalize), with payloads from the captures."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rosey.events import Event
from rosey.wire.normalize import Normalizer

USER = {
    "name": "lurker9783",
    "rank": 0,
    "profile": {"image": "", "text": ""},
    "meta": {"afk": False, "muted": False},
}
MOD_VIEW_USER = {
    "name": "labuser",
    "rank": 1,
    "profile": {"image": "", "text": ""},
    "meta": {
        "afk": True,
        "muted": False,
        "smuted": False,
        "aliases": ["labuser"],
        "ip": "+Jk.qJz.XYm.Z5r",
    },
}


def chat(msg: str, meta: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    return {"username": "labuser", "msg": msg, "meta": meta or {}, "time": 1795296733972, **fields}


# -- chatMsg ----------------------------------------------------------------------------------


def test_chat_message() -> None:
    data = chat(
        "<strong>bold</strong> <em>italic</em> <code>code</code> <s>strike</s> "
        '<span class="spoiler">spoiler</span>'
    )
    event = Normalizer().normalize("chatMsg", data)
    assert event == Event(
        "message",
        platform_data=data,
        user="labuser",
        content="bold italic code strike spoiler",
        timestamp=1795296733.972,
        replayed=False,
        extra={"action": False, "shadow": False, "server_whisper": False, "meta": {}},
    )
    assert event.platform_data["msg"].startswith("<strong>")  # the HTML is kept as sent


def test_chat_action() -> None:
    meta = {"addClass": "action", "action": True}
    event = Normalizer().normalize("chatMsg", chat("waves at everyone", meta))
    assert event.content == "waves at everyone"
    assert event.extra["action"] is True
    assert event.extra["meta"] == meta


def test_chat_greentext_is_plain_text_with_its_meta() -> None:
    event = Normalizer().normalize("chatMsg", chat("&gt;greentext line", {"addClass": "greentext"}))
    assert event.content == ">greentext line"
    assert event.extra["action"] is False
    assert event.extra["meta"]["addClass"] == "greentext"


def test_server_whisper() -> None:
    data = {
        "username": "[server]",
        "msg": "labuser joined (aliases: labuser)",
        "meta": {"addClass": "server-whisper", "addClassToNameAndTimestamp": True},
        "time": 1795296790856,
    }
    event = Normalizer().normalize("chatMsg", data)
    assert (event.name, event.user) == ("message", "[server]")
    assert event.extra["server_whisper"] is True
    assert event.extra["action"] is False


def test_shadow_muted_chat_as_a_moderator_sees_it() -> None:
    event = Normalizer().normalize("chatMsg", chat("psst", {"shadow": True}))
    assert event.extra["shadow"] is True


def test_chat_without_meta_or_with_a_float_time() -> None:
    data = {"username": "a", "msg": "x", "time": 1500.5}
    event = Normalizer().normalize("chatMsg", data)
    assert event.timestamp == 1.5005
    assert event.extra["meta"] == {}


# -- pm ---------------------------------------------------------------------------------------


def test_pm() -> None:
    data = {
        "username": "labuser",
        "msg": 'hey bot, private question: &lt;are&gt; you &amp; "there"? 🤖',
        "meta": {},
        "time": 1795296735170,
        "to": "labbot",
    }
    event = Normalizer().normalize("pm", data)
    assert event == Event(
        "pm",
        platform_data=data,
        user="labuser",
        content='hey bot, private question: <are> you & "there"? 🤖',
        timestamp=1795296735.17,
        extra={"to": "labbot", "meta": {}},
    )


def test_pm_is_never_replayed() -> None:
    normalizer = Normalizer()
    normalizer.begin_join()
    event = normalizer.normalize("pm", chat("hi", to="labbot"))
    assert event.replayed is False


# -- presence ---------------------------------------------------------------------------------


def test_add_user() -> None:
    event = Normalizer().normalize("addUser", USER)
    assert event == Event(
        "user_join",
        platform_data=USER,
        user="lurker9783",
        extra={
            "rank": 0,
            "afk": False,
            "muted": False,
            "profile": {"image": "", "text": ""},
            "meta": {"afk": False, "muted": False},
        },
    )


def test_add_user_in_the_moderator_view() -> None:
    event = Normalizer().normalize("addUser", MOD_VIEW_USER)
    assert (event.user, event.extra["rank"], event.extra["afk"]) == ("labuser", 1, True)
    assert event.extra["meta"]["aliases"] == ["labuser"]


def test_user_leave() -> None:
    data = {"name": "visitor1461"}
    assert Normalizer().normalize("userLeave", data) == Event(
        "user_leave", platform_data=data, user="visitor1461"
    )


def test_userlist() -> None:
    data = [USER, MOD_VIEW_USER]
    assert Normalizer().normalize("userlist", data) == Event(
        "user_list", platform_data=data, extra={"users": ("lurker9783", "labuser")}
    )


def test_empty_userlist() -> None:
    assert Normalizer().normalize("userlist", []).extra == {"users": ()}


# -- pass-through -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("rank", -1),
        ("usercount", 5),
        ("setLeader", ""),
        ("closePoll", None),
        ("addFilterSuccess", None),
        ("kick", {"reason": "Duplicate login"}),
        ("setMotd", "Lab MOTD <b>bold</b>"),  # HTML outside chat is not touched
        ("mediaUpdate", {"currentTime": -0.9980000000000002, "paused": True}),
        ("someFutureEvent", {"x": [1, 2]}),
    ],
)
def test_other_events_pass_through(name: str, data: Any) -> None:
    assert Normalizer().normalize(name, data) == Event(name, platform_data=data)


# -- the join burst ---------------------------------------------------------------------------


def test_replay_window_runs_from_join_to_userlist() -> None:
    normalizer = Normalizer()
    assert normalizer.normalize("chatMsg", chat("before join")).replayed is False
    normalizer.begin_join()
    assert normalizer.replaying is True
    assert normalizer.normalize("chatMsg", chat("buffered")).replayed is True
    assert normalizer.normalize("setMotd", "x").replayed is False  # only chat is replayed
    assert normalizer.replaying is True
    normalizer.normalize("userlist", [USER])
    assert normalizer.replaying is False
    assert normalizer.normalize("chatMsg", chat("live")).replayed is False
    # The userlist resent after a login does not reopen the window.
    normalizer.normalize("userlist", [USER, MOD_VIEW_USER])
    assert normalizer.normalize("chatMsg", chat("still live")).replayed is False


def test_a_malformed_userlist_still_ends_the_replay_window() -> None:
    normalizer = Normalizer()
    normalizer.begin_join()
    event = normalizer.normalize("userlist", {"not": "a list"})
    assert event.extra["malformed"]
    assert normalizer.replaying is False


def test_every_join_opens_a_new_window() -> None:
    normalizer = Normalizer()
    normalizer.begin_join()
    normalizer.normalize("userlist", [])
    normalizer.begin_join()
    assert normalizer.normalize("chatMsg", chat("buffered again")).replayed is True


# -- malformed payloads -----------------------------------------------------------------------

MALFORMED = [
    ("chatMsg", "hello", "payload is not an object"),
    ("chatMsg", None, "payload is not an object"),
    ("chatMsg", ["labuser", "hi"], "payload is not an object"),
    ("chatMsg", {"msg": "x", "time": 1}, "username is not a string"),
    ("chatMsg", {"username": 5, "msg": "x", "time": 1}, "username is not a string"),
    ("chatMsg", {"username": "a", "msg": None, "time": 1}, "msg is not a string"),
    ("chatMsg", {"username": "a", "msg": "x"}, "time missing"),
    ("chatMsg", {"username": "a", "msg": "x", "time": "1795296733972"}, "time is not a number"),
    ("chatMsg", {"username": "a", "msg": "x", "time": True}, "time is not a number"),
    ("chatMsg", {"username": "a", "msg": "x", "time": float("nan")}, "time out of range"),
    ("chatMsg", {"username": "a", "msg": "x", "time": float("inf")}, "time out of range"),
    ("chatMsg", {"username": "a", "msg": "x", "time": 10**400}, "time out of range"),
    ("chatMsg", {"username": "a", "msg": "x", "time": 10**5000}, "time out of range"),
    ("pm", 42, "payload is not an object"),
    ("pm", {"username": "a", "msg": "x", "time": 1}, "to is not a string"),
    ("pm", {"username": "a", "msg": "x", "time": None, "to": "b"}, "time missing"),
    ("addUser", "lurker9783", "payload is not an object"),
    ("addUser", {"rank": 0}, "name is not a string"),
    ("userLeave", [], "payload is not an object"),
    ("userLeave", {"name": None}, "name is not a string"),
    ("userlist", None, "payload is not a list"),
    ("userlist", [USER, "labuser"], "entry 1 has no string name"),
    ("userlist", [{"rank": 1}], "entry 0 has no string name"),
]


@pytest.mark.parametrize(("name", "data", "why"), MALFORMED)
def test_malformed_payloads_pass_through_with_the_reason(name: str, data: Any, why: str) -> None:
    event = Normalizer().normalize(name, data)
    assert event.name == name  # under the CyTube name, not the normalized one
    assert event.platform_data is data
    assert event.extra["malformed"].startswith(why)
    assert (event.user, event.content, event.timestamp) == (None, None, None)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
KNOWN = ["chatMsg", "pm", "addUser", "userLeave", "userlist"]
FIELDS = ["username", "msg", "time", "meta", "to", "name", "rank", "profile"]
# Objects with the real keys and arbitrary values reach deeper than arbitrary JSON alone.
NEAR_MISS = st.dictionaries(st.sampled_from(FIELDS), JSON | st.text(), max_size=len(FIELDS))


@given(
    name=st.sampled_from(KNOWN) | st.text(max_size=12),
    data=JSON | NEAR_MISS | st.lists(NEAR_MISS, max_size=3),
    joining=st.booleans(),
)
def test_normalize_never_raises(name: str, data: Any, joining: bool) -> None:
    normalizer = Normalizer()
    if joining:
        normalizer.begin_join()
    event = normalizer.normalize(name, data)
    assert isinstance(event, Event)
    assert event.platform_data is data
    if "malformed" in event.extra or name not in KNOWN:
        assert event.name == name
    elif name in ("chatMsg", "pm"):
        assert event.replayed is (joining and name == "chatMsg")
        assert isinstance(event.content, str)
        assert isinstance(event.timestamp, float)
    json.dumps(event.extra.get("users", ()))  # names only: plain strings
