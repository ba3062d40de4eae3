"""Every IStorage method against a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import pytest
import pytest_twisted
from zope.interface.verify import verifyObject

from rosey.storage import ops as o
from rosey.storage.errors import StorageError
from rosey.storage.interface import DOMAINS, IStorage
from rosey.storage.noop import NoopStorage
from rosey.storage.rows import BotStatus, ChannelStats
from rosey.storage.sql import SQLStorage

CH = "labchan"


def test_implementations_provide_the_interface(sqlite_url):
    from twisted.internet import reactor

    for storage, persistent in ((SQLStorage(sqlite_url, reactor), True), (NoopStorage(), False)):
        verifyObject(IStorage, storage)
        assert storage.persistent is persistent
        # One component per domain, each providing its domain's interface.
        for name, domain in DOMAINS.items():
            verifyObject(domain, getattr(storage, name))


def test_every_method_belongs_to_one_domain():
    owners: dict[str, str] = {}
    for name, domain in DOMAINS.items():
        for method in domain.names():
            assert method not in owners, f"{method} in {owners.get(method)} and {name}"
            owners[method] = name
    lifecycle = {"connect", "close", "record", "is_connected", "persistent"}
    assert set(IStorage.names(all=True)) == set(owners) | lifecycle
    assert set(IStorage.names()) == lifecycle


@pytest_twisted.ensureDeferred
async def test_the_flat_methods_are_the_components(storage: SQLStorage):
    await storage.chat.save_message(CH, "alice", "through the component", timestamp=1)
    assert [m.message for m in await storage.get_recent_messages(CH)] == ["through the component"]
    assert storage.get_recent_messages == storage.chat.get_recent_messages
    assert storage.may_have_outbound == storage.outbound.may_have_outbound


@pytest_twisted.ensureDeferred
async def test_user_stats(storage: SQLStorage):
    await storage.save_user_stats(CH, "Alice", first_seen=10, last_seen=20, chat_lines=3)
    await storage.save_user_stats(CH, "Alice", last_seen=30, time_connected=5.5)
    await storage.save_user_stats(CH, "bob", first_seen=1, chat_lines=9)
    await storage.save_user_stats("other", "carol", chat_lines=99)

    alice = await storage.get_user_stats(CH, "alice")  # case-insensitive
    assert alice is not None
    assert (alice.username, alice.first_seen, alice.last_seen) == ("Alice", 10, 30)
    assert (alice.total_chat_lines, alice.total_time_connected) == (3, 5.5)
    assert not alice.present
    assert await storage.get_user_stats(CH, "nobody") is None
    assert await storage.get_user_stats("nochannel", "alice") is None

    everyone = await storage.get_all_user_stats(CH)
    assert [u.username for u in everyone] == ["Alice", "bob"]
    page = await storage.get_all_user_stats(CH, limit=1, offset=1)
    assert [u.username for u in page] == ["bob"]
    top = await storage.get_top_chatters(CH, limit=5)
    assert [(u.username, u.total_chat_lines) for u in top] == [("bob", 9), ("Alice", 3)]
    assert [u.username for u in await storage.get_top_chatters("other")] == ["carol"]


@pytest_twisted.ensureDeferred
async def test_user_actions_filters_and_paging(storage: SQLStorage):
    for i, (user, kind) in enumerate(
        [("alice", "join"), ("bob", "join"), ("alice", "pm"), ("alice", "leave")]
    ):
        await storage.log_user_action(CH, user, kind, details=f"d{i}", timestamp=100 + i)
    await storage.log_user_action("other", "alice", "join", timestamp=1)

    everything = await storage.get_user_actions(CH)
    assert [(a.username, a.action_type) for a in everything] == [
        ("alice", "leave"),
        ("alice", "pm"),
        ("bob", "join"),
        ("alice", "join"),
    ]
    assert [a.details for a in await storage.get_user_actions(CH, username="alice")] == [
        "d3",
        "d2",
        "d0",
    ]
    assert [a.username for a in await storage.get_user_actions(CH, action_type="join")] == [
        "bob",
        "alice",
    ]
    joins_of_alice = await storage.get_user_actions(CH, username="alice", action_type="join")
    assert [a.timestamp for a in joins_of_alice] == [100]
    page = await storage.get_user_actions(CH, limit=2, offset=1)
    assert [a.details for a in page] == ["d2", "d1"]


@pytest_twisted.ensureDeferred
async def test_channel_stats_high_water(storage: SQLStorage):
    assert await storage.get_channel_stats(CH) == ChannelStats(CH, 0, None, 0, None, None)
    await storage.update_channel_stats(CH, max_users=5, max_connected=8, timestamp=10)
    await storage.update_channel_stats(CH, max_users=3, max_connected=12, timestamp=20)
    await storage.update_channel_stats(CH, max_users=7, timestamp=30)
    stats = await storage.get_channel_stats(CH)
    assert (stats.max_users, stats.max_users_timestamp) == (7, 30)
    assert (stats.max_connected, stats.max_connected_timestamp) == (12, 20)
    assert stats.last_updated == 30
    assert (await storage.get_channel_stats("other")).max_users == 0


@pytest_twisted.ensureDeferred
async def test_user_count_history_time_range(storage: SQLStorage):
    for t in range(10):
        await storage.log_user_count(CH, chat_users=t, connected_users=t + 1, timestamp=1000 + t)
    await storage.log_user_count("other", 50, 50, timestamp=1003)
    rows = await storage.get_user_count_history(CH, start_time=1002, end_time=1005)
    assert [(r.timestamp, r.chat_users, r.connected_users) for r in rows] == [
        (1002, 2, 3),
        (1003, 3, 4),
        (1004, 4, 5),
        (1005, 5, 6),
    ]
    assert len(await storage.get_user_count_history(CH)) == 10
    assert [r.chat_users for r in await storage.get_user_count_history(CH, limit=2)] == [0, 1]


@pytest_twisted.ensureDeferred
async def test_messages_recent_and_paging(storage: SQLStorage):
    for i in range(20):
        await storage.save_message(CH, "alice" if i % 2 else "bob", f"line {i}", timestamp=i)
    await storage.save_message("other", "x", "elsewhere", timestamp=5)

    recent = await storage.get_recent_messages(CH, limit=3)
    assert [m.message for m in recent] == ["line 19", "line 18", "line 17"]
    page = await storage.get_recent_messages(CH, limit=2, offset=3)
    assert [m.message for m in page] == ["line 16", "line 15"]
    by_bob = await storage.get_recent_messages(CH, limit=2, username="bob")
    assert [m.message for m in by_bob] == ["line 18", "line 16"]
    alice = await storage.get_user_stats(CH, "alice")
    # save_message counts lines
    assert alice is not None
    assert alice.total_chat_lines == 10
    assert len(await storage.get_recent_messages("other")) == 1


@pytest_twisted.ensureDeferred
async def test_outbound_messages(storage: SQLStorage):
    first = await storage.enqueue_outbound(CH, "Bob", "hi bob", sender="alice", timestamp=1)
    second = await storage.enqueue_outbound(CH, "bob", "again", sender="carol", timestamp=2)
    await storage.enqueue_outbound(CH, "dave", "not for bob", timestamp=3)
    await storage.enqueue_outbound("other", "bob", "other channel", timestamp=4)

    unsent = await storage.get_unsent_outbound(CH, "BOB")
    assert [(m.id, m.message, m.sender) for m in unsent] == [
        (first, "hi bob", "alice"),
        (second, "again", "carol"),
    ]
    assert await storage.mark_outbound_failed(CH, first, "bob left") == 1
    assert await storage.mark_outbound_failed(CH, first, "bob left again") == 2
    retried = await storage.get_unsent_outbound(CH, "bob", max_retries=2)
    assert [m.id for m in retried] == [second]
    failed = (await storage.get_unsent_outbound(CH, "bob"))[0]
    assert (failed.retry_count, failed.last_error) == (2, "bob left again")

    await storage.mark_outbound_sent(CH, second, timestamp=50)
    assert [m.id for m in await storage.get_unsent_outbound(CH, "bob")] == [first]
    assert await storage.get_unsent_outbound(CH, "bob", limit=0) == []
    with pytest.raises(StorageError):
        await storage.mark_outbound_failed(CH, 987654, "no such message")


@pytest_twisted.ensureDeferred
async def test_outbound_recipients(storage: SQLStorage):
    assert await storage.get_outbound_recipients() == []
    first = await storage.enqueue_outbound(CH, "Bob", "hi bob", timestamp=1)
    await storage.enqueue_outbound(CH, "Bob", "again", timestamp=2)  # the same pair: once
    await storage.enqueue_outbound(CH, None, "for nobody", timestamp=3)
    sent = await storage.enqueue_outbound("cytu.be/Other", "carol", "delivered", timestamp=4)
    await storage.enqueue_outbound("cytu.be/Other", "dave", "waits", timestamp=5)
    await storage.mark_outbound_sent("cytu.be/other", sent)
    await storage.mark_outbound_failed(CH, first, "bob left")  # failed: still unsent

    pairs = await storage.get_outbound_recipients()
    # the channel's storage key; the recipient as queued
    assert len(pairs) == 3
    assert set(pairs) == {(CH, None), (CH, "Bob"), ("cytu.be/other", "dave")}
    assert all(type(p) is tuple for p in pairs)
    assert await NoopStorage().get_outbound_recipients() == []


@pytest_twisted.ensureDeferred
async def test_media_history(storage: SQLStorage):
    await storage.log_media(CH, "yt", "abc", "First", 100, queued_by="alice", started_at=10)
    await storage.log_media(CH, "yt", "def", "Second", 200, started_at=200)
    # The same play seen again (a rejoin mid-item) is not a new play.
    await storage.log_media(CH, "yt", "def", "Second", 200, queued_by="bob", started_at=203)
    await storage.log_media(CH, "yt", "abc", "First again", 100, started_at=500)
    plays = await storage.get_media_history(CH)
    assert [(p.media_id, p.title, p.started_at, p.queued_by) for p in plays] == [
        ("abc", "First again", 500, None),
        ("def", "Second", 200, "bob"),
        ("abc", "First", 10, "alice"),
    ]
    assert [p.media_id for p in await storage.get_media_history(CH, limit=1, offset=1)] == ["def"]


@pytest_twisted.ensureDeferred
async def test_status(storage: SQLStorage):
    assert await storage.get_status(CH) is None
    status = BotStatus(
        channel=CH,
        bot_name="labbot",
        bot_rank=3.0,
        chat_users=4,
        connected_users=6,
        playlist_items=2,
        media_title="Song",
        media_duration=180,
        start_time=100.0,
        connected=True,
        last_updated=150.0,
    )
    await storage.set_status(CH, status)
    assert await storage.get_status(CH) == status
    await storage.set_status(CH, BotStatus(channel=CH, bot_name="labbot", bot_afk=True))
    changed = await storage.get_status(CH)
    assert changed is not None
    assert changed.bot_afk
    assert not changed.connected


@pytest_twisted.ensureDeferred
async def test_plugin_kv_with_ttl(storage: SQLStorage):
    await storage.kv_set(CH, "quotes", "last", "hello", ttl=1000)
    await storage.kv_set(CH, "quotes", "forever", "x")
    await storage.kv_set(CH, "quotes", "gone", "y", ttl=-1)  # already expired
    assert await storage.kv_get(CH, "quotes", "last") == "hello"
    assert await storage.kv_get(CH, "quotes", "gone") is None
    assert await storage.kv_get("other", "quotes", "last") is None
    await storage.kv_set(CH, "quotes", "last", "overwritten")
    assert await storage.kv_get(CH, "quotes", "last") == "overwritten"
    assert (await storage.prune({}))["plugin_kv"] == 1  # expired values always go
    assert await storage.kv_delete(CH, "quotes", "forever") is True
    assert await storage.kv_delete(CH, "quotes", "forever") is False
    assert await storage.kv_get(CH, "quotes", "forever") is None


@pytest_twisted.ensureDeferred
async def test_record_sessions_and_replay_dedupe(storage: SQLStorage):
    await storage.record(
        CH,
        [
            o.Presence(100, ("alice", "bob")),
            o.UserJoined(110, "carol"),
            o.ChatLine(120, "carol", "hi"),
            o.ChatLine(121, "alice", "hey"),
            o.UserLeft(150, "carol"),
        ],
    )
    # A rejoin: the server replays the buffer, with one line rosey never saw.
    await storage.record(
        CH,
        [
            o.ChatLine(120, "carol", "hi", replayed=True),
            o.ChatLine(121, "alice", "hey", replayed=True),
            o.ChatLine(122, "bob", "missed", replayed=True),
            o.ChatLine(122, "bob", "missed", replayed=True),
        ],
    )
    lines = await storage.get_recent_messages(CH)
    assert [m.message for m in lines] == ["missed", "hey", "hi"]
    carol = await storage.get_user_stats(CH, "carol")
    assert carol is not None
    assert (carol.total_chat_lines, carol.total_time_connected, carol.present) == (1, 40, False)
    bob = await storage.get_user_stats(CH, "bob")
    assert bob is not None
    assert bob.total_chat_lines == 1
    assert bob.present

    # The bot disconnects at 200: every open session ends there.
    await storage.record(CH, [o.SessionsEnded(200)])
    alice = await storage.get_user_stats(CH, "alice")
    assert alice is not None
    assert alice.total_time_connected == 100
    assert not alice.present
    kinds = [(a.username, a.action_type) for a in await storage.get_user_actions(CH)]
    assert kinds == [("carol", "leave"), ("carol", "join")]


@pytest_twisted.ensureDeferred
async def test_hostile_text_is_kept_not_fatal(storage: SQLStorage):
    """NUL (PostgreSQL refuses it) and a lone surrogate (no driver can encode it) cost only
    themselves: the batch is salvaged one operation at a time, cleaned."""
    await storage.record(
        CH,
        [
            o.ChatLine(1, "alice", "fine"),
            o.ChatLine(2, "mallory", "nul\x00byte"),
            o.ChatLine(3, "mallory", "lone \ud800 surrogate"),
            o.ChatLine(4, "alice", "also fine"),
        ],
    )
    lines = [m.message for m in await storage.get_recent_messages(CH)]
    assert lines[0] == "also fine"
    assert lines[-1] == "fine"
    assert "lone \ufffd surrogate" in lines
    assert len(lines) == 4
    assert storage.dropped_ops == 0
