"""The tracker's coalesced writes: each high-water mark keeps its own time."""

from __future__ import annotations

from twisted.internet.task import Clock

from rosey.events import Event
from rosey.storage import ops as o
from rosey.storage.tracker import ChannelTracker


def test_both_peaks_in_one_batch_keep_their_own_times() -> None:
    clock = Clock()
    tracker = ChannelTracker(clock, lambda: "rosey", lambda op: None)
    clock.advance(100)
    tracker.handle(Event("usercount", 7))
    clock.advance(50)
    tracker.handle(Event("user_list", [{"name": "a", "rank": 1}, {"name": "b", "rank": 0}]))
    marks = [op for op in tracker.pending(clock.seconds()) if isinstance(op, o.HighWater)]
    by_count = {("chat" if m.chat_users is not None else "connected"): m for m in marks}
    assert by_count["connected"].connected_users == 7
    assert by_count["connected"].timestamp == 100
    assert by_count["chat"].chat_users == 2
    assert by_count["chat"].timestamp == 150
