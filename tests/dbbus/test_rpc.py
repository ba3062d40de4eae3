"""Every served storage method through a real nats-server and a real SQLite storage equals
the direct call; errors keep their type; a request nobody answers is ``StorageUnavailable``
within the timeout."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from twisted.internet.defer import Deferred

from rosey.dbbus.methods import METHODS
from rosey.storage.errors import StorageError, StorageUnavailable
from rosey.storage.rows import BotStatus
from tests.bus.natsserver import NatsServer
from tests.dbbus.aio import on_asyncio_reactor
from tests.dbbus.rpc import aw, rig

CH = "cytu.be/lab"
T0 = 1_700_000_000.25

#: Reads (method, positional args, keyword args): compared with the direct call.
READS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("get_recent_messages", (CH,), {}),
    ("get_recent_messages", (CH,), {"limit": 2, "offset": 1, "username": "alice"}),
    ("get_user_stats", (CH, "ALICE"), {}),
    ("get_user_stats", (CH, "nobody"), {}),
    ("get_all_user_stats", (CH,), {}),
    ("get_top_chatters", (CH, 1), {}),
    ("get_channel_stats", (CH,), {}),
    ("get_channel_stats", ("cytu.be/empty",), {}),
    ("get_user_count_history", (CH,), {"start_time": T0, "end_time": T0 + 10}),
    ("get_status", (CH,), {}),
    ("get_status", ("cytu.be/empty",), {}),
    ("get_media_history", (CH,), {}),
    ("get_user_actions", (CH,), {"username": "bob"}),
    ("get_unsent_outbound", (CH, "Carol"), {}),
    ("get_outbound_recipients", (), {}),
    ("kv_get", (CH, "fun", "greeting"), {}),
    ("kv_get", (CH, "fun", "absent"), {}),
    ("count_prunable", ({"chat_messages": 1.0},), {"now": T0 + 10 * 86400}),
    # the status page's aggregates
    ("get_chat_activity", (CH, T0, T0 + 10), {"bucket": 2}),
    ("get_chatters_between", (CH, T0, T0 + 10), {}),
    ("get_user_count_series", (CH, T0, T0 + 10), {"bucket": 5}),
    ("get_most_played", (CH,), {}),
    ("get_most_played", (CH,), {"start_time": T0 + 1, "end_time": T0 + 10, "limit": 1}),
]

#: Writes through the bus (method, args, what it returns, a direct read and what it must give).
WRITES = {
    "save_message",
    "save_user_stats",
    "update_channel_stats",
    "log_user_count",
    "set_status",
    "log_media",
    "log_user_action",
    "enqueue_outbound",
    "mark_outbound_sent",
    "mark_outbound_failed",
    "kv_set",
    "kv_delete",
}

STATUS = BotStatus(CH, "rosey", 3.0, True, 4, 5, 6, "song", 212, T0, True, T0 + 1)


async def populate(s: Any) -> int:
    """Rows of every kind in CH, written directly; the id of an unsent message."""
    for i, (who, text) in enumerate([("alice", "hi"), ("bob", "yo"), ("alice", "ünïcode ✓")]):
        await aw(s.save_message(CH, who, text, timestamp=T0 + i))
    await aw(s.save_user_stats(CH, "alice", first_seen=T0, last_seen=T0 + 5, chat_lines=2))
    await aw(s.save_user_stats(CH, "bob", first_seen=T0, session_start=T0 + 1.5))
    await aw(s.update_channel_stats(CH, max_users=4, max_connected=9, timestamp=T0))
    await aw(s.log_user_count(CH, 3, 7, timestamp=T0 + 1))
    await aw(s.log_user_count(CH, 4, 9, timestamp=T0 + 2))
    await aw(s.set_status(CH, STATUS))
    await aw(s.log_media(CH, "yt", "abc", "A song", 212, queued_by="bob", started_at=T0))
    await aw(s.log_media(CH, "yt", "def", "No one", 10, started_at=T0 + 3))
    await aw(s.log_user_action(CH, "bob", "join", timestamp=T0))
    await aw(s.log_user_action(CH, "bob", "ban", details="spam", timestamp=T0 + 1))
    message_id: int = await aw(s.enqueue_outbound(CH, "carol", "hello", "alice", timestamp=T0))
    await aw(s.kv_set(CH, "fun", "greeting", "hello there", ttl=3600))
    return message_id


def test_every_read_through_the_bus_equals_the_direct_call(
    nats_server: NatsServer, migrated_url: str
) -> None:
    async def scenario(reactor: Any) -> list[tuple[str, str, str]]:
        async with rig(reactor, migrated_url, nats_server.url) as r:
            await populate(r.storage)
            out = []
            for name, args, kwargs in READS:
                direct = await aw(getattr(r.storage, name)(*args, **kwargs))
                through = await aw(getattr(r.client, name)(*args, **kwargs))
                # repr: the same types too (1 == 1.0, but not in repr)
                out.append((name, repr(direct), repr(through)))
            return out

    results = on_asyncio_reactor(scenario)
    for name, direct, through in results:
        assert through == direct, name
    # the typed rows came back typed (not dicts): a status, a user, chat lines
    shown = " ".join(d for _, d, _ in results)
    assert all(f"{row}(" in shown for row in ("BotStatus", "UserStats", "ChatMessage"))
    assert {name for name, _, _ in READS} | WRITES == set(METHODS)


def test_every_write_through_the_bus_lands(nats_server: NatsServer, migrated_url: str) -> None:
    async def scenario(reactor: Any) -> dict[str, Any]:
        async with rig(reactor, migrated_url, nats_server.url) as r:
            c, s = r.client, r.storage
            got: dict[str, Any] = {}
            got["save_message"] = await aw(c.save_message(CH, "dave", "via bus", T0))
            got["save_user_stats"] = await aw(c.save_user_stats(CH, "dave", chat_lines=7))
            got["update_channel_stats"] = await aw(c.update_channel_stats(CH, 11, 12, T0))
            got["log_user_count"] = await aw(c.log_user_count(CH, 1, 2, timestamp=T0))
            got["set_status"] = await aw(c.set_status(CH, STATUS))
            got["log_media"] = await aw(c.log_media(CH, "yt", "x", "X", 5, None, T0))
            got["log_user_action"] = await aw(c.log_user_action(CH, "dave", "mute", "x", T0))
            mid = await aw(c.enqueue_outbound(CH, "erin", "psst", sender="dave", timestamp=T0))
            other = await aw(c.enqueue_outbound(CH, "erin", "again", timestamp=T0 + 1))
            got["enqueue_outbound"] = (type(mid), other == mid + 1)
            got["mark_outbound_failed"] = await aw(c.mark_outbound_failed(CH, other, "gone"))
            got["mark_outbound_sent"] = await aw(c.mark_outbound_sent(CH, mid, timestamp=T0))
            got["kv_set"] = await aw(c.kv_set(CH, "ns", "k", "v"))
            got["kv_delete"] = await aw(c.kv_delete(CH, "ns", "k"))
            got["kv_delete again"] = await aw(c.kv_delete(CH, "ns", "k"))
            # what landed, read directly
            got["rows"] = (
                (await aw(s.get_recent_messages(CH)))[0].message,
                (await aw(s.get_user_stats(CH, "dave"))).total_chat_lines,  # type: ignore[union-attr]
                (await aw(s.get_channel_stats(CH))).max_connected,
                (await aw(s.get_user_count_history(CH)))[0].connected_users,
                await aw(s.get_status(CH)) == STATUS,
                (await aw(s.get_media_history(CH)))[0].title,
                (await aw(s.get_user_actions(CH, "dave")))[0].details,
                [(m.message, m.retry_count) for m in await aw(s.get_unsent_outbound(CH, "erin"))],
            )
            return got

    got = on_asyncio_reactor(scenario)
    assert got.pop("rows") == ("via bus", 7, 12, 2, True, "X", "x", [("again", 1)])
    assert got.pop("enqueue_outbound") == (int, True)
    assert got.pop("mark_outbound_failed") == 1
    assert got.pop("kv_delete") is True
    assert got.pop("kv_delete again") is False
    assert set(got) | {"enqueue_outbound", "mark_outbound_failed", "kv_delete"} == WRITES
    assert all(v is None for v in got.values()), got


def test_errors_keep_their_type(nats_server: NatsServer, migrated_url: str) -> None:
    async def scenario(reactor: Any) -> list[tuple[str, str]]:
        async with rig(reactor, migrated_url, nats_server.url) as r:
            out = []
            c: Any = r.client  # wrong calls on purpose
            calls: list[Callable[[], Deferred[Any]]] = [
                lambda: c.mark_outbound_failed(CH, 999, "x"),  # StorageError
                lambda: c.count_prunable({"no_such_table": 1}),  # ValueError
                lambda: c.get_user_stats(CH),  # missing argument: caught in the client
                lambda: c.get_user_stats(CH, "a", "b"),
            ]
            for call in calls:
                try:
                    await aw(call())
                except Exception as e:
                    out.append((type(e).__name__, str(e)))
            assert r.responder is not None
            out.append(("answered/failed", f"{r.responder.answered}/{r.responder.failed}"))
            return out

    out = on_asyncio_reactor(scenario)
    assert out[0] == ("StorageError", "no outbound message 999 in cytu.be/lab")
    assert out[1][0] == "ValueError"
    assert "no_such_table" in out[1][1]
    assert out[2] == ("TypeError", "get_user_stats() missing required argument 'username'")
    assert out[3] == ("TypeError", "get_user_stats() takes 2 arguments, 3 given")
    assert out[4] == ("answered/failed", "1/2")  # 1: the client's load of who has messages


def test_no_responder_is_unavailable_within_the_timeout(
    nats_server: NatsServer, migrated_url: str
) -> None:
    async def scenario(reactor: Any) -> list[tuple[type[BaseException], float]]:
        async with rig(reactor, migrated_url, nats_server.url, respond=False, timeout=0.5) as r:
            out: list[tuple[type[BaseException], float]] = []
            for _ in range(2):
                start = time.monotonic()
                with pytest.raises(StorageError) as caught:
                    await aw(r.client.get_user_stats(CH, "alice"))
                out.append((type(caught.value), time.monotonic() - start))
            return out

    for kind, seconds in on_asyncio_reactor(scenario):
        assert kind is StorageUnavailable
        assert seconds < 0.6
