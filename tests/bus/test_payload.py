"""The published JSON body."""

from __future__ import annotations

import json

from rosey import events
from rosey.bus.payload import SCHEMA, encode, new_id
from rosey.events import Event


def test_a_chat_message() -> None:
    raw = {"username": "alice", "msg": "hi &amp; bye", "meta": {}, "time": 1700000000123}
    event = Event(events.MESSAGE, raw, user="alice", content="hi & bye", timestamp=1700000000.123)
    body = json.loads(encode(event, "cytu.be/mychannel", "abc", 1700000000.5))
    assert body == {
        "schema": SCHEMA,
        "id": "abc",
        "platform": "cytube",
        "channel": "cytu.be/mychannel",
        "event": "chat.message",
        "name": "message",
        "server_time": 1700000000.123,
        "received_at": 1700000000.5,
        "user": "alice",
        "content": "hi & bye",
        "replayed": False,
        "extra": {},
        "raw": raw,
    }


def test_extras_and_a_replayed_line_are_kept() -> None:
    event = Event(
        events.USER_LIST,
        [{"name": "a"}],
        replayed=True,
        extra={"users": ("a", "b"), "odd": object()},
    )
    body = json.loads(encode(event, "x/y", "id", 0.0))
    assert body["replayed"] is True
    assert body["extra"]["users"] == ["a", "b"]
    assert isinstance(body["extra"]["odd"], str)
    assert body["server_time"] is None


def test_ids_are_unique() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 32 for i in ids)


def test_a_non_finite_number_from_the_server_still_makes_valid_json() -> None:
    raw = json.loads('{"a": NaN, "b": [Infinity, -Infinity, 1.5]}')  # Python accepts these
    event = Event("customEvent", raw)
    out = encode(event, "cytu.be/lab", new_id(), 1.0)

    def refuse(constant: str) -> None:
        raise ValueError(constant)

    payload = json.loads(out, parse_constant=refuse)  # strict JSON: no NaN, no Infinity
    assert payload["raw"] == {"a": None, "b": [None, None, 1.5]}


def test_values_json_cannot_hold_are_written_as_text() -> None:
    error = ValueError("boom")
    event = Event(events.ERROR, error, extra={"fatal": True, "when": object})
    payload = json.loads(encode(event, "cytu.be/lab", new_id(), 1.0))
    assert payload["raw"] == "boom"
    assert payload["extra"]["fatal"] is True
    assert payload["extra"]["when"] == str(object)


def test_ids_of_one_process_are_ordered() -> None:
    first, second = new_id(), new_id()
    assert len(first) == len(second) == 32
    assert first < second
