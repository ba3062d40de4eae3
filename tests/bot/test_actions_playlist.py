"""Playlist and playback actions, in lockstep with playlist_ops (labbot, rank 3).

Each test stops at the scenario's note, runs the action, compares the emitted frame with the
recorded ``out`` frame and replays the server's answer. Leader, playback and voteskip answers are
written in the shapes of src/channel/playlist.js and voteskip.js.
"""

from __future__ import annotations

from typing import Any

import pytest

from rosey.bot.errors import ActionFailed, ActionRefused, QueueFailed, TargetNotFound
from rosey.bot.medialink import MediaLink
from rosey.bot.permissions import DEFAULT_PERMISSIONS
from rosey.bot.state import Voteskip
from rosey.errors import AckTimeout, ChannelPermissionError
from tests.bot.test_actions import Lab, failed, ok

BASE = "http://127.0.0.1:8090/"


def at(note: str, **kwargs: Any) -> Lab:
    return Lab("playlist_ops", **kwargs).to_note(note)


def item(
    media_type: str,
    media_id: str,
    uid: int,
    *,
    seconds: int = 0,
    temp: bool = False,
    queueby: str = "labbot",
) -> dict[str, Any]:
    """A playlist item as ``queue`` / ``playlist`` carry it."""
    duration = "--:--" if seconds == 0 else f"{seconds // 60:02d}:{seconds % 60:02d}"
    media = {
        "id": media_id,
        "title": media_id,
        "seconds": seconds,
        "duration": duration,
        "type": media_type,
        "meta": {},
    }
    return {"media": media, "uid": uid, "temp": temp, "queueby": queueby}


# -- queue ---------------------------------------------------------------------------------------


def test_queue_first_item_at_end() -> None:
    lab = at("queue test1 pos=end")
    d = lab.actions.queue(BASE + "test1.json")
    assert lab.sent == [lab.recorded_out()]
    assert lab.sent == [("queue", {"id": BASE + "test1.json", "type": "cm", "pos": "end"})]
    lab.replay()
    assert ok(d) == 0
    assert lab.mirror.playlist.uids == (0,)


def test_queue_temp_item() -> None:
    lab = at("queue test3 pos=end temp=True")
    d = lab.actions.queue(MediaLink("cm", BASE + "test3.json"), temp=True)
    assert lab.sent == [lab.recorded_out()]
    lab.replay()
    assert ok(d) == 2
    assert lab.mirror.playlist.item(2).temp  # type: ignore[union-attr]


def test_queue_next() -> None:
    lab = at("queue short pos=next")
    d = lab.actions.queue(("cm", BASE + "short.json"), pos="next")
    assert lab.sent == [lab.recorded_out()]
    lab.replay()
    assert ok(d) == 4
    assert lab.mirror.playlist.uids[:2] == (0, 4)


def test_queue_duplicate_fails_with_the_servers_message() -> None:
    lab = at("queue short pos=next")
    lab.to_note("queue test2 pos=end")  # the second add of test2
    d = lab.actions.queue(BASE + "test2.json")
    assert lab.sent == [lab.recorded_out()]
    lab.replay()
    error = failed(d, QueueFailed)
    assert error.server_message == "This item is already on the playlist"
    assert error.link == BASE + "test2.json"
    assert error.media_id == BASE + "test2.json"


def test_queue_ignores_other_items_and_other_failures() -> None:
    lab = at("queue test2 pos=end")
    d = lab.actions.queue(BASE + "test2.json")
    lab.server("queueFail", {"msg": "nope", "link": "x", "id": "other"})
    lab.server("queue", {"item": item("cm", BASE + "test2.json", 7, queueby="labuser"), "after": 0})
    lab.server("queue", {"item": item("cm", BASE + "other.json", 8), "after": 0})
    assert not d.called
    lab.replay()
    assert ok(d) == 1


def test_queue_live_with_duration() -> None:
    lab = at("queue test2 pos=end")
    d = lab.actions.queue("https://www.twitch.tv/somechannel", duration=90)
    assert lab.sent == [
        ("queue", {"id": "somechannel", "type": "tw", "pos": "end", "duration": 90})
    ]
    lab.server("queue", {"item": item("tw", "somechannel", 1, seconds=90), "after": 0})
    assert ok(d) == 1


def test_queue_custom_embed_matches_by_type_and_queuer() -> None:
    lab = at("queue test2 pos=end")
    embed = '<iframe src="https://e.invalid/x"></iframe>'
    d = lab.actions.queue(("cu", embed), title="Custom")
    assert lab.sent == [("queue", {"id": embed, "type": "cu", "pos": "end", "title": "Custom"})]
    lab.server("queue", {"item": item("cu", "cu:abcdef", 1), "after": 0})
    assert ok(d) == 1


def test_queue_through_the_send_queue() -> None:
    lab = at("queue test1 pos=end", queue_add=True)
    d = lab.actions.queue(BASE + "test1.json")
    assert lab.sent == []
    assert lab.queued == [{"id": BASE + "test1.json", "type": "cm", "pos": "end"}]
    lab.replay()
    assert ok(d) == 0


def test_queue_times_out_after_the_queue_timeout() -> None:
    lab = at("queue test1 pos=end")
    d = lab.actions.queue(BASE + "test1.json")
    lab.clock.advance(29.9)
    assert not d.called
    lab.clock.advance(0.2)
    assert "queue of cm:" in str(failed(d, AckTimeout))


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"media": "yt:abcdefghijk", "duration": 10}, "only for live media"),
        ({"media": "yt:abcdefghijk", "title": "x"}, "only for cu and fi"),
        ({"media": "yt:abcdefghijk", "pos": "first"}, "pos must be"),
        ({"media": ("zz", "x")}, "unknown media type"),
        ({"media": ("yt", "")}, "empty media id"),
        ({"media": "not a link"}, "could not tell the media type"),
    ],
)
def test_queue_bad_arguments(kwargs: dict[str, Any], words: str) -> None:
    lab = at("queue test1 pos=end")
    assert words in str(failed(lab.actions.queue(**kwargs), ValueError))
    assert lab.quiet()


def test_queue_permanent_needs_addnontemp() -> None:
    lab = at("queue test1 pos=end")
    lab.server("setPermissions", {**DEFAULT_PERMISSIONS, "addnontemp": 4})
    error = failed(lab.actions.queue(BASE + "test1.json", temp=False), ChannelPermissionError)
    assert "addnontemp" in str(error)
    assert lab.quiet()
    lab.actions.queue(BASE + "test1.json")  # the server decides: it will be temporary
    assert lab.sent == [("queue", {"id": BASE + "test1.json", "type": "cm", "pos": "end"})]


def test_queue_checks_the_media_types_permission() -> None:
    lab = at("queue test1 pos=end")
    lab.server("setPermissions", {**DEFAULT_PERMISSIONS, "playlistaddrawfile": 4})
    error = failed(lab.actions.queue(BASE + "test1.json"), ChannelPermissionError)
    assert "playlistaddrawfile" in str(error)
    assert lab.quiet()


# -- editing the list ----------------------------------------------------------------------------


def test_set_temp() -> None:
    lab = at("setTemp uid 1 true")
    d = lab.actions.set_temp(1, True)
    assert lab.sent == [lab.recorded_out()] == [("setTemp", {"uid": 1, "temp": True})]
    lab.replay()
    assert ok(d) is None
    assert lab.mirror.playlist.item(1).temp  # type: ignore[union-attr]


def test_move() -> None:
    lab = at("moveMedia uid 3 after 0")
    d = lab.actions.move(3, 0)
    assert lab.sent == [lab.recorded_out()] == [("moveMedia", {"from": 3, "after": 0})]
    lab.replay()
    assert ok(d) is None
    assert lab.mirror.playlist.uids[:2] == (0, 3)


@pytest.mark.parametrize("after", ["prepend", "append"])
def test_move_to_an_end(after: str) -> None:
    lab = at("moveMedia uid 3 after 0")
    d = lab.actions.move(3, after)  # type: ignore[arg-type]
    assert lab.sent == [("moveMedia", {"from": 3, "after": after})]
    lab.server("moveVideo", {"from": 3, "after": after})
    ok(d)


def test_delete_sends_a_bare_uid() -> None:
    lab = at("delete uid 2")
    d = lab.actions.delete(2)
    assert lab.sent == [lab.recorded_out()] == [("delete", 2)]
    lab.server("delete", {"uid": 1})  # someone else's
    assert not d.called
    lab.replay()
    assert ok(d) is None
    assert 2 not in lab.mirror.playlist.uids


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda a: a.delete(99), TargetNotFound),
        (lambda a: a.set_temp(99, True), TargetNotFound),
        (lambda a: a.jump(99), TargetNotFound),
        (lambda a: a.move(99, 0), TargetNotFound),
        (lambda a: a.move(3, 99), TargetNotFound),
        (lambda a: a.move(3, 3), ValueError),
        (lambda a: a.move(3, "middle"), ValueError),
        (lambda a: a.delete(True), TypeError),
    ],
)
def test_unknown_uids_are_refused_locally(call: Any, error: type[Exception]) -> None:
    lab = at("delete uid 2")
    failed(call(lab.actions), error)
    assert lab.quiet()


def test_jump() -> None:
    lab = at("jumpTo uid 4")
    d = lab.actions.jump(4)
    assert lab.sent == [lab.recorded_out()] == [("jumpTo", 4)]
    lab.replay()
    assert ok(d) is None


def test_play_next_fires_with_the_new_current() -> None:
    lab = at("playNext")
    d = lab.actions.play_next()
    assert lab.sent == [lab.recorded_out()] == [("playNext", None)]
    lab.replay()
    assert ok(d) == 0
    assert lab.mirror.playlist.current_uid == 0


def test_play_next_from_the_last_temporary_item() -> None:
    lab = at("clearPlaylist")
    lab.replay()
    lab.server(
        "queue", {"item": item("cm", BASE + "t.json", 9, seconds=8, temp=True), "after": "prepend"}
    )
    lab.server("setCurrent", 9)
    d = lab.actions.play_next()
    lab.server("delete", {"uid": 9})
    assert ok(d) is None


def test_play_next_with_nothing_playing() -> None:
    lab = at("queue test1 pos=end")
    failed(lab.actions.play_next(), ActionRefused)
    assert lab.quiet()


def test_shuffle() -> None:
    lab = at("shufflePlaylist")
    d = lab.actions.shuffle()
    assert lab.sent == [lab.recorded_out()] == [("shufflePlaylist", None)]
    lab.replay()
    assert ok(d) is None


def test_clear_playlist_waits_for_the_empty_list() -> None:
    lab = at("clearPlaylist")
    d = lab.actions.clear_playlist()
    assert lab.sent == [lab.recorded_out()] == [("clearPlaylist", None)]
    lab.server("playlist", [item("cm", BASE + "x.json", 50, seconds=5)])  # not the answer
    assert not d.called
    lab.replay()
    assert ok(d) is None
    assert len(lab.mirror.playlist) == 0


def test_toggle_then_set_the_playlist_lock() -> None:
    lab = at("togglePlaylistLock (unlock)")
    d = lab.actions.toggle_playlist_lock()
    assert lab.sent == [lab.recorded_out()] == [("togglePlaylistLock", None)]
    lab.replay()
    assert ok(d) is False
    lab.to_note("togglePlaylistLock (lock again)")
    d = lab.actions.set_playlist_locked(True)
    assert lab.sent[1:] == [lab.recorded_out()]
    lab.replay()
    assert ok(d) is True
    assert ok(lab.actions.set_playlist_locked(True)) is True
    assert len(lab.sent) == 2  # already locked: nothing sent


# -- leader and playback -------------------------------------------------------------------------


def test_assign_leader_uses_the_exact_name() -> None:
    lab = at("queue test2 pos=end")
    d = lab.actions.assign_leader("LABUSER")
    assert lab.sent == [("assignLeader", {"name": "labuser"})]
    lab.server("setLeader", "labuser")
    lab.server("setUserRank", {"name": "labuser", "rank": 1.5})
    assert ok(d) is None
    assert lab.mirror.users.leader == "labuser"


def test_assign_leader_refused_by_the_server() -> None:
    lab = at("queue test2 pos=end")
    d = lab.actions.assign_leader("labuser")
    lab.server("errorMsg", {"msg": "Unable to assign leader: could not find user labuser"})
    assert "could not find user" in failed(d, ActionFailed).server_message


def test_assign_leader_to_someone_absent() -> None:
    lab = at("queue test2 pos=end")
    failed(lab.actions.assign_leader("labmod"), TargetNotFound)
    assert lab.quiet()


def test_remove_leader() -> None:
    lab = at("queue test2 pos=end")
    lab.server("setLeader", "labuser")
    d = lab.actions.remove_leader()
    assert lab.sent == [("assignLeader", {"name": ""})]
    lab.server("setUserRank", {"name": "labuser", "rank": 1})  # CyTube sends this first
    assert not d.called
    lab.server("setLeader", "")
    assert ok(d) is None


def leading() -> Lab:
    """labbot leads while test1 (30 s, cm) plays at 0 s."""
    lab = at("queue test2 pos=end")
    lab.server("setLeader", "labbot")
    return lab


def test_pause_play_and_seek_as_leader() -> None:
    lab = leading()
    url = BASE + "test1.json"
    d = lab.actions.pause()
    assert lab.sent[-1] == (
        "mediaUpdate",
        {"id": url, "currentTime": 0, "paused": True, "type": "cm"},
    )
    lab.server("mediaUpdate", {"currentTime": 0, "paused": False})  # not what was asked
    assert not d.called
    lab.server("mediaUpdate", {"currentTime": 0, "paused": True})
    ok(d)
    d = lab.actions.seek(12.5)
    assert lab.sent[-1] == (
        "mediaUpdate",
        {"id": url, "currentTime": 12.5, "paused": True, "type": "cm"},
    )
    lab.server("mediaUpdate", {"currentTime": 12.5, "paused": True})
    ok(d)
    d = lab.actions.play()
    assert lab.sent[-1] == (
        "mediaUpdate",
        {"id": url, "currentTime": 12.5, "paused": False, "type": "cm"},
    )
    lab.server("mediaUpdate", {"currentTime": 12.5, "paused": False})
    ok(d)


@pytest.mark.parametrize("seconds", [-1, 30.5, float("nan")])
def test_seek_outside_the_item(seconds: float) -> None:
    lab = leading()
    failed(lab.actions.seek(seconds), ValueError)
    assert lab.quiet()


def test_playback_needs_the_leader() -> None:
    lab = at("queue test2 pos=end")
    assert "not the leader" in str(failed(lab.actions.pause(), ActionRefused))
    assert lab.quiet()


def test_playback_of_live_media_is_refused() -> None:
    lab = leading()
    lab.server("queue", {"item": item("tw", "somechannel", 9), "after": 0})
    lab.server("setCurrent", 9)
    lab.server(
        "changeMedia", {**item("tw", "somechannel", 9)["media"], "currentTime": 0, "paused": False}
    )
    assert "live" in str(failed(lab.actions.pause(), ActionRefused))
    assert lab.quiet()


# -- voteskip ------------------------------------------------------------------------------------


def test_voteskip_fires_with_the_count() -> None:
    lab = at("queue test2 pos=end")
    d = lab.actions.voteskip()
    assert lab.sent == [("voteskip", None)]
    lab.server("voteskip", {"count": 1, "need": 1})
    assert ok(d) == Voteskip(count=1, need=1)


def test_voteskip_once_per_media_then_again_after_a_media_change() -> None:
    lab = at("queue test2 pos=end")
    lab.server("setPermissions", {**DEFAULT_PERMISSIONS, "viewvoteskip": 4})
    assert ok(lab.actions.voteskip()) is None
    assert "voted on this media already" in str(failed(lab.actions.voteskip(), ActionRefused))
    assert lab.sent == [("voteskip", None)]
    media = lab.mirror.playlist.items[0].media
    lab.server(
        "changeMedia",
        {
            "id": media.id,
            "type": media.type,
            "title": media.title,
            "seconds": media.seconds,
            "currentTime": 0,
            "paused": False,
        },
    )
    assert ok(lab.actions.voteskip()) is None  # the same media again is a new round
    assert lab.sent == [("voteskip", None), ("voteskip", None)]


def test_voteskip_without_viewvoteskip_fires_once_sent() -> None:
    lab = at("queue test2 pos=end")
    lab.server("setPermissions", {**DEFAULT_PERMISSIONS, "viewvoteskip": 4})
    assert ok(lab.actions.voteskip()) is None
    assert lab.sent == [("voteskip", None)]
    assert lab.confirmations.pending == 0


def test_voteskip_refused_locally() -> None:
    lab = at("queue test1 pos=end")
    assert "empty" in str(failed(lab.actions.voteskip(), ActionRefused))
    lab.to_note("queue test2 pos=end")
    opts = dict(lab.mirror.channel.options)
    lab.server("channelOpts", {**opts, "allow_voteskip": False})
    assert "turned off" in str(failed(lab.actions.voteskip(), ActionRefused))
    assert lab.quiet()
