"""The tracker: coalesced writes (each high-water mark keeps its own time), and everything it
knows of the channel read from the view (the bot's mirror) after the view applied the event."""

from __future__ import annotations

from twisted.internet.task import Clock
from zope.interface.verify import verifyObject

from rosey.bot.mirror import ChannelMirror
from rosey.events import Event
from rosey.interfaces import IChannelState
from rosey.storage import ops as o
from rosey.storage.tracker import ChannelTracker


class Lab:
    """A mirror and a tracker reading it, fed as the bot feeds them: mirror first."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.mirror = ChannelMirror()
        self.ops: list[o.WriteOp] = []
        self.tracker = ChannelTracker(self.clock, self.mirror, self.ops.append)

    def feed(self, name: str, data: object = None, **kwargs: object) -> None:
        event = Event(name, data, **kwargs)  # type: ignore[arg-type]
        self.mirror.apply(event)
        self.tracker.handle(event)


def test_the_mirror_is_a_channel_view() -> None:
    lab = Lab()
    assert verifyObject(IChannelState, lab.mirror)
    lab.feed("login", {"success": True, "name": "rosey"})
    lab.feed("user_list", [{"name": "a", "rank": 1}, {"name": "rosey", "rank": 2}])
    lab.feed("usercount", 9)
    view: IChannelState = lab.mirror
    assert (view.name, view.user_count, view.user_names, view.connected_count) == (
        "rosey",
        2,
        ("a", "rosey"),
        9,
    )


def test_both_peaks_in_one_batch_keep_their_own_times() -> None:
    lab = Lab()
    lab.clock.advance(100)
    lab.feed("usercount", 7)
    lab.clock.advance(50)
    lab.feed("user_list", [{"name": "a", "rank": 1}, {"name": "b", "rank": 0}])
    marks = [op for op in lab.tracker.pending(150) if isinstance(op, o.HighWater)]
    by_count = {("chat" if m.chat_users is not None else "connected"): m for m in marks}
    assert by_count["connected"].connected_users == 7
    assert by_count["connected"].timestamp == 100
    assert by_count["chat"].chat_users == 2
    assert by_count["chat"].timestamp == 150


def test_who_queued_a_play_is_the_views_current_item() -> None:
    lab = Lab()
    alice = {"media": {"id": "abc", "type": "yt"}, "uid": 7, "queueby": "alice"}
    bob = {"media": {"id": "other", "type": "yt"}, "uid": 8, "queueby": "bob"}
    media = {"id": "abc", "type": "yt", "title": "Song", "seconds": 100}
    lab.feed("playlist", [alice, bob])
    lab.feed("setCurrent", 7)
    lab.feed("changeMedia", media)
    lab.feed("setCurrent", 8)  # the current item is not what plays: nobody queued it
    lab.feed("changeMedia", media)
    lab.feed("delete", {"uid": 8})  # no current item
    lab.feed("changeMedia", media)
    plays = [op for op in lab.ops if isinstance(op, o.MediaChanged)]
    assert [p.queued_by for p in plays] == ["alice", None, None]
    assert not hasattr(lab.tracker, "_items")  # no copy of the playlist of its own


def test_users_and_the_bots_own_state_come_from_the_view() -> None:
    lab = Lab()
    lab.tracker.started(0)
    lab.feed("connected")
    lab.feed("rank", 1)
    lab.feed("login", {"success": True, "name": "Rosey"})
    lab.feed("user_list", [{"name": "Rosey", "rank": 2}, {"name": "alice", "rank": 1}])
    lab.feed("setUserRank", {"name": "Rosey", "rank": 3})
    lab.feed("user_join", {"name": "ALICE", "rank": 1}, user="ALICE")  # same user, new case
    lab.feed("setAFK", {"name": "Rosey", "afk": True})
    lab.feed("pm", {"username": "Rosey"}, user="Rosey", content="own echo")
    lab.feed("pm", {"username": "alice"}, user="alice", content="hi")
    status = next(op for op in lab.tracker.pending(1) if isinstance(op, o.StatusChanged))
    s = status.status
    assert (s.bot_name, s.bot_rank, s.bot_afk, s.chat_users) == ("Rosey", 3, True, 2)
    assert [op.username for op in lab.ops if isinstance(op, o.ActionLogged)] == ["alice"]
    presence = next(op for op in lab.ops if isinstance(op, o.Presence))
    assert presence.usernames == ("Rosey", "alice")


def test_no_snapshot_while_disconnected_though_the_mirror_keeps_the_old_list() -> None:
    lab = Lab()
    assert lab.tracker.sample(0) is None
    lab.feed("user_list", [{"name": "a", "rank": 1}])
    lab.feed("usercount", 4)
    assert lab.tracker.sample(1) == o.UserCountSample(1, 1, 4)
    lab.feed("disconnected", {"reason": "lost"})
    assert lab.mirror.user_count == 1  # the mirror forgets on the next ``connected``
    assert lab.tracker.sample(2) is None
    assert any(isinstance(op, o.SessionsEnded) for op in lab.ops)
