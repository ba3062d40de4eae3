"""The local permission decision against CyTube 3.86's rules (src/channel/permissions.js)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rosey import events
from rosey.bot.mirror import ChannelMirror
from rosey.bot.permissions import (
    DEFAULT_PERMISSIONS,
    KICKING_EVENTS,
    UNREGISTERED_PERMISSIONS,
    allowed,
    can,
    forces_temp,
    needed_rank,
    permissions_of,
    queue_nodes,
    rank_label,
    require,
    require_event,
    require_options,
    require_outranks,
    require_queue,
    require_rank,
)
from rosey.errors import ChannelPermissionError
from rosey.events import Event
from tests.recorded import load


def mirror(
    rank: float,
    *,
    permissions: dict[str, Any] | None = None,
    locked: bool = True,
    registered: bool = True,
    others: tuple[tuple[str, float], ...] = (),
) -> ChannelMirror:
    """A joined mirror for a bot called rosey with ``rank``."""
    m = ChannelMirror()
    frames: list[tuple[str, Any]] = [
        (events.CONNECTED, None),
        ("setPermissions", dict(DEFAULT_PERMISSIONS if permissions is None else permissions)),
        ("setPlaylistLocked", locked),
        (
            events.USER_LIST,
            [{"name": n, "rank": r, "meta": {}} for n, r in (("rosey", rank), *others)],
        ),
    ]
    if not registered:
        frames.append(("channelNotRegistered", None))
    frames += [("rank", rank), ("login", {"success": True, "name": "rosey"})]
    for name, data in frames:
        m.apply(Event(name, data))
    return m


def test_default_table_is_what_a_registered_channel_sends() -> None:
    frames = load("guest_join").frames("in")
    burst = next(f for f in frames if f.startswith('42["setPermissions"'))
    assert json.loads(burst[2:])[1] == DEFAULT_PERMISSIONS


def test_unregistered_table_leaves_out_moderation_nodes() -> None:
    missing = set(DEFAULT_PERMISSIONS) - set(UNREGISTERED_PERMISSIONS)
    assert missing == {
        "playlistaddrawfile",
        "mute",
        "kick",
        "ban",
        "motdedit",
        "filteredit",
        "filterimport",
        "emoteedit",
        "emoteimport",
        "exceedmaxdurationperuser",
    }
    assert UNREGISTERED_PERMISSIONS["playlistadd"] == -1
    assert UNREGISTERED_PERMISSIONS["leaderctl"] == 0


@pytest.mark.parametrize(
    ("rank", "node", "locked", "expected"),
    [
        # plain nodes: rank >= node
        (1.5, "kick", True, True),
        (1, "kick", True, False),
        (0, "chat", True, True),
        (-1, "chat", True, False),
        (2, "ban", False, True),
        (1.5, "ban", False, False),
        # locked playlist: the o-nodes do not apply
        (-1, "playlistadd", True, False),
        (1, "playlistadd", True, False),
        (1.5, "playlistadd", True, True),
        # unlocked: oplaylistadd -1 lets anyone add, oplaylistnext stays 1.5
        (-1, "playlistadd", False, True),
        (1, "playlistnext", False, False),
        (1.5, "playlistnext", False, True),
        (1.5, "playlistdelete", False, False),  # oplaylistdelete is 2 as well
        # nodes starting with "playlist" but without an o-node use the plain node
        (1, "playlistaddlive", False, False),
        (1.5, "playlistaddlive", False, True),
        (2, "playlistaddcustom", False, False),
        # unknown nodes: nobody
        (255, "nosuchnode", False, False),
    ],
)
def test_decision_table(rank: float, node: str, locked: bool, expected: bool) -> None:
    assert allowed(rank, node, DEFAULT_PERMISSIONS, locked=locked) is expected
    assert can(mirror(rank, locked=locked), node) is expected


def test_needed_rank() -> None:
    assert needed_rank("playlistadd", DEFAULT_PERMISSIONS, locked=True) == 1.5
    assert needed_rank("playlistadd", DEFAULT_PERMISSIONS, locked=False) == -1
    assert needed_rank("motdedit", UNREGISTERED_PERMISSIONS, locked=False) is None


def test_the_open_rule_only_lowers_the_bar() -> None:
    perms = {"playlistmove": 1, "oplaylistmove": 3}
    assert allowed(1, "playlistmove", perms, locked=False)
    assert not allowed(0, "playlistmove", perms, locked=False)


def test_non_numeric_levels_pass_no_one() -> None:
    assert not allowed(255, "chat", {"chat": None}, locked=True)
    assert not allowed(255, "chat", {"chat": True}, locked=True)


def test_unregistered_channel() -> None:
    guest = mirror(0, permissions=dict(UNREGISTERED_PERMISSIONS), locked=False, registered=False)
    assert can(guest, "playlistadd")
    assert can(guest, "playlistnext")
    assert can(guest, "pollctl")
    assert can(guest, "playlistaddlive")
    assert can(guest, "leaderctl")
    assert not can(guest, "playlistaddrawfile")  # the recorded queueFail for a cm item
    founder = mirror(5, permissions=dict(UNREGISTERED_PERMISSIONS), registered=False)
    for node in ("kick", "mute", "ban", "motdedit", "emoteedit", "playlistaddrawfile"):
        assert not can(founder, node), node
    assert can(founder, "chatclear")


def test_tables_used_before_the_server_sent_one() -> None:
    m = ChannelMirror()
    m.apply(Event("rank", 0))
    assert permissions_of(m) is DEFAULT_PERMISSIONS
    m.apply(Event("channelNotRegistered"))
    assert permissions_of(m) is UNREGISTERED_PERMISSIONS
    m.apply(Event("setPermissions", {"chat": 1}))
    assert dict(permissions_of(m)) == {"chat": 1}
    assert not can(m, "chat")


def test_permissions_follow_set_permissions() -> None:
    m = mirror(1.5)
    assert can(m, "playlistadd")
    m.apply(Event("setPermissions", {**DEFAULT_PERMISSIONS, "playlistadd": 2}))
    assert not can(m, "playlistadd")


def test_leader_gets_rank_one_and_a_half() -> None:
    m = mirror(1)
    assert not can(m, "playlistjump")
    m.apply(Event("setLeader", "rosey"))
    assert can(m, "playlistjump")
    assert can(m, "pollctl")
    assert not can(m, "playlistdelete")
    m.apply(Event("setLeader", ""))
    assert not can(m, "playlistjump")


def test_require_names_node_needed_rank_and_bot_rank() -> None:
    require(mirror(2), "ban", "ban troll")
    with pytest.raises(ChannelPermissionError) as e:
        require(mirror(1.5), "ban", "ban troll")
    assert str(e.value) == (
        "ban troll refused: permission 'ban' needs rank 2 (moderator); "
        "the bot has rank 1.5 (leader)"
    )
    with pytest.raises(ChannelPermissionError) as e:
        require(mirror(5, permissions=dict(UNREGISTERED_PERMISSIONS)), "kick", "kick x")
    assert "'kick' is granted to no rank" in str(e.value)
    assert "rank 5 (founder)" in str(e.value)
    with pytest.raises(ChannelPermissionError) as e:
        require(mirror(-1, locked=False), "playlistnext", "queue next")
    assert "needs rank 1.5 (leader) (playlist unlocked)" in str(e.value)


def test_require_rank() -> None:
    require_rank(mirror(3), 3, "set CSS")
    with pytest.raises(ChannelPermissionError, match=r"set CSS refused: needs rank 3"):
        require_rank(mirror(2), 3, "set CSS")


def test_require_outranks() -> None:
    m = mirror(2, others=(("mod", 2), ("user", 1), ("admin", 3)))
    require_outranks(m, "user", "kick")
    require_outranks(m, "USER", "kick")
    require_outranks(m, "gone", "ban")  # not listed: the server decides
    for target in ("mod", "admin", "rosey"):
        with pytest.raises(ChannelPermissionError) as e:
            require_outranks(m, target, "kick")
        assert "not lower than the bot's" in str(e.value)
    with pytest.raises(ChannelPermissionError, match=r"admin has rank 3 \(channel admin\)"):
        require_outranks(m, "admin", "mute")


@pytest.mark.parametrize(
    ("event", "too_low", "enough"),
    [
        ("setOptions", 1.5, 2),
        ("setPermissions", 2, 3),
        ("setChannelCSS", 2, 3),
        ("setChannelJS", 2, 3),
        ("setMotd", 2, 3),  # motdedit 3
        ("assignLeader", 1.5, 2),  # leaderctl 2
        ("readChanLog", 2, 3),
        ("initACP", 5, 255),
    ],
)
def test_events_that_kick(event: str, too_low: float, enough: float) -> None:
    assert event in KICKING_EVENTS
    with pytest.raises(ChannelPermissionError, match=event):
        require_event(mirror(too_low), event)
    require_event(mirror(enough), event)


def test_node_based_kick_checks_follow_the_channel_table() -> None:
    perms = {**DEFAULT_PERMISSIONS, "motdedit": 1, "leaderctl": 1}
    require_event(mirror(1, permissions=perms), "setMotd")
    require_event(mirror(1, permissions=perms), "assignLeader")
    with pytest.raises(ChannelPermissionError):
        require_event(mirror(4, permissions=dict(UNREGISTERED_PERMISSIONS)), "setMotd")


def test_other_events_never_kick() -> None:
    for event in ("chatMsg", "queue", "delete", "togglePlaylistLock"):
        require_event(mirror(-1), event)


def test_require_options() -> None:
    require_options(mirror(2), ["afk_timeout", "allow_dupes"])
    with pytest.raises(ChannelPermissionError, match="setOptions pagetitle, password"):
        require_options(mirror(2), ["password", "afk_timeout", "pagetitle"])
    require_options(mirror(3), ["password", "pagetitle"])
    with pytest.raises(ChannelPermissionError, match="setOptions refused"):
        require_options(mirror(1), ["afk_timeout"])


@pytest.mark.parametrize(
    ("media_type", "pos", "nodes"),
    [
        ("yt", "end", ("playlistadd",)),
        ("yt", "next", ("playlistadd", "playlistnext")),
        ("yp", "end", ("playlistadd", "playlistaddlist")),
        ("tw", "end", ("playlistadd", "playlistaddlive")),
        ("hl", "next", ("playlistadd", "playlistnext", "playlistaddlive")),
        ("cu", "end", ("playlistadd", "playlistaddlive", "playlistaddcustom")),
        ("fi", "end", ("playlistadd", "playlistaddrawfile")),
        ("cm", "end", ("playlistadd", "playlistaddrawfile")),
        ("vi", "end", ("playlistadd",)),
    ],
)
def test_queue_nodes(media_type: str, pos: str, nodes: tuple[str, ...]) -> None:
    assert queue_nodes(media_type, pos) == nodes


def test_queue_position_must_be_next_or_end() -> None:
    with pytest.raises(ValueError, match="'top'"):
        queue_nodes("yt", "top")


def test_require_queue_on_a_registered_channel() -> None:
    leader_rank = mirror(1.5)
    for media_type, pos in (("yt", "end"), ("yt", "next"), ("tw", "end"), ("yp", "next")):
        require_queue(leader_rank, media_type, pos)
    with pytest.raises(ChannelPermissionError, match="playlistaddrawfile"):
        require_queue(leader_rank, "cm", "end")
    with pytest.raises(ChannelPermissionError, match="playlistaddcustom"):
        require_queue(mirror(2), "cu", "end")
    require_queue(mirror(2), "cm", "next")
    with pytest.raises(ChannelPermissionError, match="queue yt at end refused"):
        require_queue(mirror(1), "yt", "end")
    require_queue(mirror(-1, locked=False), "yt", "end")  # open playlist: anyone may add


def test_forces_temp() -> None:
    assert forces_temp(mirror(1.5))
    assert not forces_temp(mirror(2))


def test_rank_label() -> None:
    assert rank_label(1.5) == "1.5 (leader)"
    assert rank_label(3.0) == "3 (channel admin)"
    assert rank_label(-1) == "-1 (anonymous)"
    assert rank_label(7) == "7"
