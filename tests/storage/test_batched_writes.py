"""Batched writes keep each user's order: joins, leaves and chat in one batch."""

from __future__ import annotations

import pytest_twisted

from rosey.storage import ops as o
from rosey.storage.sql import SQLStorage

CHANNEL = "cytu.be/test"


@pytest_twisted.ensureDeferred
async def test_join_leave_join_chat_in_one_batch(storage: SQLStorage) -> None:
    await storage.record(
        CHANNEL,
        [
            o.UserJoined(100.0, "alice"),
            o.ChatLine(101.0, "alice", "hi"),
            o.UserJoined(102.0, "bob"),
            o.UserLeft(110.0, "alice"),
            o.ChatLine(111.0, "bob", "bye alice"),
            o.UserJoined(120.0, "alice"),
            o.ChatLine(121.0, "alice", "back"),
        ],
    )
    alice = await storage.get_user_stats(CHANNEL, "alice")
    bob = await storage.get_user_stats(CHANNEL, "bob")
    assert alice is not None and bob is not None
    assert alice.first_seen == 100.0
    assert alice.total_time_connected == 10.0  # the first session only: the second is open
    assert alice.current_session_start == 120.0
    assert alice.total_chat_lines == 2
    assert (bob.first_seen, bob.current_session_start, bob.total_chat_lines) == (102.0, 102.0, 1)
    lines = await storage.get_recent_messages(CHANNEL, limit=10)
    assert [m.message for m in sorted(lines, key=lambda m: m.timestamp)] == [
        "hi",
        "bye alice",
        "back",
    ]
