"""Batched writes keep each user's order: joins, leaves and chat in one batch."""

from __future__ import annotations

import random

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
    assert alice is not None
    assert bob is not None
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


def _random_ops(rng: random.Random, n: int) -> list[o.WriteOp]:
    """Joins, leaves, chat lines and PMs of a few users, times mostly but not always rising
    (a leave may come before its join's time: a session never counts negative)."""
    ops: list[o.WriteOp] = []
    t = 1000.0
    for _ in range(n):
        t += rng.choice([0.0, 1.0, 2.5, 7.0])
        ts = t - rng.choice([0.0, 0.0, 0.0, 30.0])
        user = rng.choice(["ann", "bo", "cy", "di"])
        kind = rng.choice([o.UserJoined, o.UserLeft, o.ChatLine, o.ChatLine, o.ActionLogged])
        if kind is o.ChatLine:
            ops.append(o.ChatLine(ts, user, f"line at {ts}"))
        elif kind is o.ActionLogged:
            ops.append(o.ActionLogged(ts, user, "pm", "psst"))
        else:
            ops.append(kind(ts, user))
    return ops


async def _stats(storage: SQLStorage, channel: str) -> list[tuple[object, ...]]:
    rows = await storage.get_all_user_stats(channel)
    return [
        (
            r.username,
            r.first_seen,
            r.last_seen,
            r.total_chat_lines,
            round(r.total_time_connected, 6),
            r.current_session_start,
        )
        for r in rows
    ]


@pytest_twisted.ensureDeferred
async def test_a_batch_has_the_effect_of_its_operations_one_by_one(storage: SQLStorage) -> None:
    """A run's per-user fold (one upsert per user) matches applying each operation alone, from
    users with and without a session open before the batch."""
    rng = random.Random(5)
    for round_ in range(6):
        before = _random_ops(rng, 12)
        ops = _random_ops(rng, 60)
        for channel, batches in (("one", [ops]), ("each", [[op] for op in ops])):
            name = f"{channel}{round_}"
            await storage.record(name, before)
            for batch in batches:
                await storage.record(name, batch)
        assert await _stats(storage, f"one{round_}") == await _stats(storage, f"each{round_}")
        actions = await storage.get_user_actions(f"one{round_}", limit=1000)
        singles = await storage.get_user_actions(f"each{round_}", limit=1000)
        assert [(a.timestamp, a.username, a.action_type, a.details) for a in actions] == [
            (a.timestamp, a.username, a.action_type, a.details) for a in singles
        ]
        assert len(actions) == sum(type(op) is not o.ChatLine for op in [*before, *ops])


@pytest_twisted.ensureDeferred
async def test_sessions_follow_each_users_order(storage: SQLStorage) -> None:
    """Hand-computed: an open session closed and reopened within one batch, a leave without a
    session, a join while a session is open."""
    await storage.record(CHANNEL, [o.UserJoined(10.0, "ann"), o.UserJoined(10.0, "bo")])
    await storage.record(
        CHANNEL,
        [
            o.UserJoined(15.0, "ann"),  # already in: the session from 10 stays
            o.UserLeft(20.0, "ann"),  # +10
            o.UserLeft(21.0, "cy"),  # no session: only seen
            o.UserJoined(30.0, "ann"),
            o.ChatLine(31.0, "ann", "hi"),
            o.UserLeft(34.0, "ann"),  # +4
            o.UserJoined(40.0, "ann"),  # open at the end
            o.UserLeft(5.0, "bo"),  # before the session's start: +0
        ],
    )
    ann = await storage.get_user_stats(CHANNEL, "ann")
    bo = await storage.get_user_stats(CHANNEL, "bo")
    cy = await storage.get_user_stats(CHANNEL, "cy")
    assert ann is not None
    assert bo is not None
    assert cy is not None
    assert (ann.first_seen, ann.last_seen, ann.total_chat_lines) == (10.0, 40.0, 1)
    assert (ann.total_time_connected, ann.current_session_start) == (14.0, 40.0)
    assert (bo.total_time_connected, bo.current_session_start, bo.first_seen) == (0.0, None, 5.0)
    assert (cy.first_seen, cy.last_seen, cy.total_time_connected) == (21.0, 21.0, 0.0)
    assert cy.current_session_start is None


@pytest_twisted.ensureDeferred
async def test_replayed_lines_are_kept_once_within_and_across_runs(storage: SQLStorage) -> None:
    """A replayed line matching a live one earlier in the same batch is dropped, whether that
    one is still pending in the run or was written before an operation that ended the run."""
    await storage.record(
        CHANNEL,
        [
            o.ChatLine(1.0, "ann", "live"),
            o.ChatLine(1.0, "ann", "live", replayed=True),  # same run, pending
            o.ChatLine(2.0, "bo", "before"),
            o.HighWater(2.5, chat_users=3),  # ends the run: the lines above are written
            o.ChatLine(2.0, "bo", "before", replayed=True),
            o.ChatLine(3.0, "cy", "new", replayed=True),  # never seen: kept
            o.ChatLine(3.0, "cy", "new", replayed=True),  # but once
            o.ChatLine(4.0, "cy", "after"),
            o.ChatLine(4.0, "cy", "after", replayed=True),  # live after a replayed one
        ],
    )
    lines = await storage.get_recent_messages(CHANNEL, limit=10)
    assert sorted((m.timestamp, m.username, m.message) for m in lines) == [
        (1.0, "ann", "live"),
        (2.0, "bo", "before"),
        (3.0, "cy", "new"),
        (4.0, "cy", "after"),
    ]
    stats = {s.username: s.total_chat_lines for s in await storage.get_all_user_stats(CHANNEL)}
    assert stats == {"ann": 1, "bo": 1, "cy": 2}
