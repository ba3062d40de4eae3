"""Requests as other programs send them (raw NATS, JSON by hand): the documented shapes, and a
clear error reply plus one log line for each malformed one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rosey.dbbus import codec
from rosey.storage.rows import BotStatus, UserStats
from tests.bus.natsserver import NatsServer
from tests.dbbus.aio import on_asyncio_reactor
from tests.dbbus.rpc import aw, rig

CH = "cytu.be/lab"


def test_the_documented_example_and_malformed_requests(
    nats_server: NatsServer, migrated_url: str, logged: list[dict[str, Any]]
) -> None:
    requests = [
        (
            "rosey.db.kv.kv_set",
            b'{"args": {"channel": "cytu.be/lab", "namespace": "n", "key": "k", "value": "v"}}',
        ),
        (
            "rosey.db.kv.kv_get",
            b'{"args": {"channel": "cytu.be/lab", "namespace": "n", "key": "k"}}',
        ),
        (
            "rosey.db.stats.get_user_stats",
            b'{"args": {"channel": "cytu.be/lab", "username": "alice"}}',
        ),
        ("rosey.db.kv.kv_get", b"not json"),
        ("rosey.db.kv.kv_get", b'["args"]'),
        ("rosey.db.kv.kv_get", b'{"args": {"channel": "c"}}'),
        (
            "rosey.db.kv.kv_get",
            b'{"args": {"channel": "c", "namespace": "n", "key": "k", "colour": 1}}',
        ),
        ("rosey.db.kv.kv_get", b'{"args": [1, 2]}'),
        ("rosey.db.kv.kv_get", b'{"arguments": {}}'),
        ("rosey.db.status.update", b'{"args": {"channel": "c", "status": {"$record": "Nope"}}}'),
        ("rosey.db.no.such_method", b"{}"),
    ]

    async def scenario(reactor: Any) -> list[dict[str, Any]]:
        async with rig(reactor, migrated_url, nats_server.url) as r:
            await aw(r.storage.save_user_stats(CH, "alice", first_seen=1.5, chat_lines=3))
            replies = []
            for subject, data in requests:
                msg = await r.nc.request(subject, data, timeout=5)
                replies.append(json.loads(msg.data))
            return replies

    replies = on_asyncio_reactor(scenario)
    assert replies[0] == {"ok": True, "result": None}
    assert replies[1] == {"ok": True, "result": "v"}
    assert replies[2] == {
        "ok": True,
        "result": {
            "$record": "UserStats",
            "channel": CH,
            "username": "alice",
            "first_seen": 1.5,
            "last_seen": None,
            "total_chat_lines": 3,
            "total_time_connected": 0.0,
            "current_session_start": None,
        },
    }
    errors = [(r["ok"], r["error"]["type"], r["error"]["message"]) for r in replies[3:]]
    assert errors == [
        (False, "BadRequest", "not JSON: Expecting value: line 1 column 1 (char 0)"),
        (False, "BadRequest", "not a JSON object but list"),
        (False, "BadRequest", "kv_get() missing required argument 'namespace'"),
        (False, "BadRequest", "kv_get() got an unexpected argument 'colour'"),
        (False, "BadRequest", "'args' must be an object, not list"),
        (False, "BadRequest", "unknown keys ['arguments'] (a request is {'args': {…}})"),
        (False, "BadRequest", "unknown row type 'Nope'"),
        (False, "UnknownMethod", "no storage method is served on rosey.db.no.such_method"),
    ]
    bad = [e for e in logged if "bad request" in str(e.get("log_format", ""))]
    assert len(bad) == len(errors)  # one line each, no traceback
    assert not [e for e in logged if e.get("log_failure") is not None]


def test_rows_nested_in_lists_tuples_and_dicts_come_back_typed() -> None:
    user = UserStats(CH, "a", 1.0, None, 2, 0.5, None)
    value = {
        "users": [user, user],
        "pair": (BotStatus(CH), None, 1, 1.0, float("inf")),
        "$odd": {"x": [True, "ü"]},
    }
    back = codec.decode(json.loads(codec.dumps({"v": codec.encode(value)}))["v"])
    assert back == value
    assert repr(back) == repr(value)  # 1 stays an int, 1.0 a float


@pytest.mark.parametrize("value", [object(), {1: "a"}, {1, 2}])
def test_what_json_cannot_hold_is_refused(value: object) -> None:
    with pytest.raises(codec.CodecError):
        codec.encode(value)


def test_docs_bus_md_names_every_origin_subject_and_domain() -> None:
    from rosey.dbbus.methods import METHODS, ORIGIN_SUBJECTS
    from tests.daemon.test_twistd import REPO

    doc = (REPO / "docs" / "bus.md").read_text(encoding="utf-8")
    for method, subject in ORIGIN_SUBJECTS.items():
        assert f"| `{method}` | `{subject}` |" in doc
        assert METHODS[method].subject == subject
    derived = METHODS["get_outbound_recipients"].subject
    assert derived == "rosey.db.outbound.get_outbound_recipients"
    assert f"| `get_outbound_recipients` | `{derived}` |" in doc
    for domain in {m.domain for m in METHODS.values()}:
        assert f"`{domain}`" in doc
