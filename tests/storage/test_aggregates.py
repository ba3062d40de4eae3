"""The status page's aggregate reads (chat per hour, top chatters in a period, the user-count
history downsampled, the most played media) on both engines."""

from __future__ import annotations

import pytest
import pytest_twisted

from rosey.storage import ops as o
from rosey.storage.rows import ChatterCount, CountBucket, UserCountBucket
from rosey.storage.sql import SQLStorage

CH = "labchan"
H = 3600.0
T0 = 1_700_000_000.0 - 1_700_000_000.0 % H  # an hour boundary


@pytest_twisted.ensureDeferred
async def test_chat_activity_per_hour_and_chatters(storage: SQLStorage):
    lines = [(T0 + 10, "alice"), (T0 + 20, "bob"), (T0 + H + 5, "alice"), (T0 + 3 * H, "alice")]
    await storage.record(CH, [o.ChatLine(t, u, "hi") for t, u in lines])
    await storage.record("other", [o.ChatLine(T0 + 1, "carol", "elsewhere")])

    activity = await storage.get_chat_activity(CH, T0, T0 + 4 * H)
    assert activity == [CountBucket(T0, 2), CountBucket(T0 + H, 1), CountBucket(T0 + 3 * H, 1)]
    # The end is exclusive, the start inclusive.
    assert await storage.get_chat_activity(CH, T0 + 20, T0 + 3 * H) == [
        CountBucket(T0, 1),
        CountBucket(T0 + H, 1),
    ]
    daily = await storage.get_chat_activity(CH, T0, T0 + 4 * H, bucket=86400)
    assert sum(b.count for b in daily) == 4

    assert await storage.get_chatters_between(CH, T0, T0 + 4 * H) == [
        ChatterCount("alice", 3),
        ChatterCount("bob", 1),
    ]
    assert await storage.get_chatters_between(CH, T0, T0 + 4 * H, limit=1) == [
        ChatterCount("alice", 3)
    ]
    assert await storage.get_chatters_between(CH, T0 + H, T0 + 2 * H) == [ChatterCount("alice", 1)]
    assert await storage.get_chat_activity("nochannel", T0, T0 + H) == []
    assert await storage.get_chatters_between("nochannel", T0, T0 + H) == []


@pytest_twisted.ensureDeferred
async def test_a_long_period_gets_wider_buckets(storage: SQLStorage):
    await storage.record(CH, [o.ChatLine(T0 + i * H, "alice", "x") for i in range(50)])
    year = await storage.get_chat_activity(CH, T0, T0 + 365 * 86400, bucket=60)
    assert len(year) <= 2000
    assert sum(b.count for b in year) == 50
    with pytest.raises(ValueError, match="bucket"):
        storage.get_chat_activity(CH, T0, T0 + H, bucket=0)


@pytest_twisted.ensureDeferred
async def test_user_count_series_keeps_each_buckets_highest(storage: SQLStorage):
    samples = [(T0 + 10, 3, 5), (T0 + 200, 7, 9), (T0 + 400, 2, 4), (T0 + 700, 1, 1)]
    await storage.record(CH, [o.UserCountSample(t, c, n) for t, c, n in samples])
    series = await storage.get_user_count_series(CH, T0, T0 + 900, bucket=300)
    assert series == [
        UserCountBucket(T0, 7, 9),
        UserCountBucket(T0 + 300, 2, 4),
        UserCountBucket(T0 + 600, 1, 1),
    ]
    assert await storage.get_user_count_series(CH, T0 + 600, T0 + 900) == [
        UserCountBucket(T0 + 600, 1, 1)
    ]


@pytest_twisted.ensureDeferred
async def test_most_played(storage: SQLStorage):
    plays = [
        (T0, "yt", "a", "Song A", "alice"),
        (T0 + 100, "yt", "b", "Song B", "bob"),
        (T0 + 200, "yt", "a", "Song A (renamed)", "carol"),
        (T0 + 300, "vi", "a", "Other A", "bob"),
    ]
    await storage.record(CH, [o.MediaChanged(t, k, i, title, 60, q) for t, k, i, title, q in plays])
    top = await storage.get_most_played(CH)
    assert [(m.media_type, m.media_id, m.plays) for m in top] == [
        ("yt", "a", 2),
        ("vi", "a", 1),
        ("yt", "b", 1),
    ]
    # The title and queuer of the last play.
    assert (top[0].title, top[0].queued_by, top[0].last_played) == (
        "Song A (renamed)",
        "carol",
        T0 + 200,
    )
    since = await storage.get_most_played(CH, start_time=T0 + 100, end_time=T0 + 300, limit=5)
    assert [(m.media_id, m.plays) for m in since] == [("a", 1), ("b", 1)]
    assert await storage.get_most_played("nochannel") == []
