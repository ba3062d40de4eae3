"""A published payload reads back into the event the publisher encoded."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rosey import events
from rosey.bus import payload
from rosey.dbbus.decode import BadPayload, decode
from rosey.events import Event
from tests.dbbus.capture import capture
from tests.recorded import SCENARIOS


def as_json(value: Any) -> Any:
    """What JSON keeps of a value (tuples become lists)."""
    return json.loads(json.dumps(value))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_recorded_events_round_trip(scenario: str) -> None:
    for published in capture(scenario):
        e = published.event
        back = decode(payload.encode(e, published.channel, published.event_id, 12.5))
        assert (back.channel, back.event_id, back.received_at) == (
            published.channel,
            published.event_id,
            12.5,
        )
        got = back.event
        assert (got.name, got.user, got.content, got.timestamp, got.replayed, got.platform) == (
            e.name,
            e.user,
            e.content,
            e.timestamp,
            e.replayed,
            e.platform,
        )
        assert got.platform_data == as_json(e.platform_data)
        assert dict(got.extra) == as_json(dict(e.extra))


def test_plain_event_is_equal_after_the_round_trip() -> None:
    e = Event(events.MESSAGE, {"msg": "hi"}, user="alice", content="hi", timestamp=1.5)
    assert decode(payload.encode(e, "cytu.be/x", "id1", 2.0)).event == e


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\xff", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"schema": 2}', "schema 2"),
        (b'{"schema": 1, "name": "message", "received_at": "x"}', "'received_at'"),
        (
            b'{"schema": 1, "name": "message", "received_at": 1, "platform": "cytube",'
            b' "channel": "", "id": "a"}',
            "'channel'",
        ),
    ],
)
def test_bad_payloads_say_why(data: bytes, why: str) -> None:
    with pytest.raises(BadPayload, match=why):
        decode(data)
