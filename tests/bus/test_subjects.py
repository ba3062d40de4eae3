"""Channel tokens and event subjects: reversible, one NATS token, readable."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from rosey import events
from rosey.bus.subjects import channel_from_token, channel_token, event_suffix, subject

#: What a NATS token may hold: no dot, wildcard, whitespace or control character.
TOKEN = re.compile(r"[^.*>\s\x00-\x1f\x7f]+")


def test_a_usual_channel_stays_readable() -> None:
    assert channel_token("cytu.be/mychannel") == "cytu_2ebe_2fmychannel"
    assert channel_from_token("cytu_2ebe_2fmychannel") == "cytu.be/mychannel"


@given(st.text(min_size=1))
@example("cytu.be/a.b*c>d e\tf")
@example("_2e")
@example("host:8443/ünïcødé 🎉")
@example("../..>*")
def test_any_channel_round_trips_through_one_token(label: str) -> None:
    token = channel_token(label)
    assert TOKEN.fullmatch(token)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert channel_from_token(token) == label


@given(st.text(min_size=1), st.text(min_size=1))
def test_two_channels_never_share_a_token(a: str, b: str) -> None:
    if a != b:
        assert channel_token(a) != channel_token(b)


@pytest.mark.parametrize("token", ["", "a.b", "_", "_2", "_2E", "_61", "_ff", "a b", "a*"])
def test_what_is_no_channels_token_is_refused(token: str) -> None:
    with pytest.raises(ValueError, match="token"):
        channel_from_token(token)


def test_an_empty_channel_has_no_token() -> None:
    with pytest.raises(ValueError, match="empty"):
        channel_token("")


@pytest.mark.parametrize(
    ("name", "suffix"),
    [
        (events.MESSAGE, "chat.message"),
        (events.PM, "pm"),
        (events.USER_JOIN, "user.joined"),
        (events.USER_LEAVE, "user.left"),
        (events.USER_LIST, "user.list"),
        ("changeMedia", "media.changed"),
        ("usercount", "usercount"),
        (events.READY, "bot.ready"),
        (events.DISCONNECTED, "bot.disconnected"),
        ("setCurrent", "cytube.setCurrent"),
        ("queue", "cytube.queue"),
        ("odd.name*", "cytube.odd_2ename_2a"),
    ],
)
def test_event_suffixes(name: str, suffix: str) -> None:
    assert event_suffix(name) == suffix


def test_subject() -> None:
    assert (
        subject("cytu.be/mychannel", events.USER_JOIN)
        == "rosey.platform.cytube.cytu_2ebe_2fmychannel.user.joined"
    )
