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


def test_who_queued_a_play_comes_from_the_given_lookup_and_no_playlist_copy_is_kept() -> None:
    clock, ops = Clock(), list[o.WriteOp]()
    current: list[tuple[str, str, str | None] | None] = [("yt", "abc", "alice")]
    tracker = ChannelTracker(clock, lambda: "rosey", ops.append, queued_item=lambda: current[0])
    item = {"media": {"id": "zzz", "type": "yt"}, "uid": 7, "queueby": "mallory"}
    tracker.handle(Event("playlist", [item]))  # the tracker's own copy would say mallory
    tracker.handle(Event("setCurrent", 7))
    media = {"id": "abc", "type": "yt", "title": "Song", "seconds": 100}
    tracker.handle(Event("changeMedia", media))
    current[0] = ("yt", "other", "bob")  # the current item is not what plays: nobody queued it
    tracker.handle(Event("changeMedia", media))
    current[0] = None
    tracker.handle(Event("changeMedia", media))
    plays = [op for op in ops if isinstance(op, o.MediaChanged)]
    assert [p.queued_by for p in plays] == ["alice", None, None]
    assert tracker._items == {}
