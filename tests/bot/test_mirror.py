"""ChannelMirror unit cases with hand-written events (shapes as CyTube 3.86 sends them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import pytest
from twisted.logger import ILogObserver, Logger

from rosey import events
from rosey.bot import mirror as mirror_module
from rosey.bot.mirror import ChannelMirror
from rosey.bot.state import ChatFilter, Emote, Poll, Profile, Voteskip
from rosey.bot.state import playlist as playlist_module
from rosey.events import Event


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Everything the mirror logs."""
    seen: list[dict[str, Any]] = []
    logger = Logger(observer=cast(ILogObserver, seen.append))
    monkeypatch.setattr(mirror_module, "log", logger)
    monkeypatch.setattr(playlist_module, "log", logger)
    return seen


def ev(name: str, data: Any = None) -> Event:
    return Event(name, data)


def user(name: str, rank: float = 1, **meta: Any) -> dict[str, Any]:
    return {
        "name": name,
        "rank": rank,
        "profile": {"image": "", "text": ""},
        "meta": {"afk": False, "muted": False, **meta},
    }


def media(n: int, seconds: int = 30, type_: str = "yt") -> dict[str, Any]:
    return {
        "id": f"vid{n}",
        "title": f"Video {n}",
        "seconds": seconds,
        "duration": f"00:{seconds:02d}",
        "type": type_,
        "meta": {},
    }


def item(uid: int, seconds: int = 30, temp: bool = False) -> dict[str, Any]:
    return {"media": media(uid, seconds), "uid": uid, "temp": temp, "queueby": "someone"}


def feed(m: ChannelMirror, *evs: Event) -> ChannelMirror:
    for e in evs:
        m.apply(e)
    return m


def joined(rank: float = 3, name: str = "rosey") -> ChannelMirror:
    """A mirror after a login and a small join burst."""
    return feed(
        ChannelMirror(),
        ev(events.CONNECTED),
        ev("rank", -1),
        ev("setPermissions", {"chat": 0, "kick": 1.5}),
        ev("setPlaylistLocked", True),
        ev("emoteList", [{"name": ":a:", "image": "a.png", "source": "a"}]),
        ev("setMotd", "hello"),
        ev("channelOpts", {"afk_timeout": 600}),
        ev("playlist", [item(0), item(1)]),
        ev("setCurrent", 0),
        ev("changeMedia", {**media(0), "currentTime": 12.5, "paused": False}),
        ev(events.USER_LIST, [user("alice", 2), user(name, rank)]),
        ev("usercount", 4),
        ev("rank", rank),
        ev("login", {"success": True, "name": name}),
    )


# -- own user ----------------------------------------------------------------------------------


def test_fresh_mirror_is_anonymous() -> None:
    m = ChannelMirror()
    assert (m.name, m.rank, m.guest, m.logged_in, m.me) == (None, -1, False, False, None)
    assert not m.afk
    assert not m.muted
    assert not m.is_leader


def test_own_user_from_login_rank_and_user_list() -> None:
    m = joined(rank=2)
    assert (m.name, m.rank, m.guest, m.logged_in) == ("rosey", 2, False, True)
    assert m.me is not None
    assert m.me.rank == 2
    m.apply(ev("setUserMeta", {"name": "rosey", "meta": {"afk": True, "muted": True}}))
    assert m.afk
    assert m.muted
    m.apply(ev("setUserRank", {"name": "ROSEY", "rank": 4}))  # names match ignoring case
    assert m.rank == 4
    assert m.me is not None
    assert m.me.rank == 4
    m.apply(ev("setUserRank", {"name": "alice", "rank": 3}))
    assert m.rank == 4


def test_guest_login_and_failed_login() -> None:
    m = feed(
        ChannelMirror(),
        ev("login", {"success": False, "error": "That username is registered."}),
    )
    assert m.name is None
    m.apply(ev("login", {"success": True, "name": "guest1", "guest": True}))
    assert (m.name, m.guest) == ("guest1", True)


def test_leader_counts_as_rank_one_and_a_half() -> None:
    m = joined(rank=1)
    assert m.effective_rank == 1
    m.apply(ev("setLeader", "Rosey"))
    assert m.is_leader
    assert m.effective_rank == 1.5
    m.apply(ev("setLeader", ""))
    assert not m.is_leader
    assert m.users.leader is None
    assert m.effective_rank == 1
    m.apply(ev("rank", 3))
    m.apply(ev("setLeader", "rosey"))
    assert m.effective_rank == 3


# -- users -------------------------------------------------------------------------------------


def test_user_changes() -> None:
    m = joined()
    m.apply(ev(events.USER_JOIN, user("bob", 0)))
    assert m.users.names == ("alice", "rosey", "bob")
    assert m.users.usercount == 4
    assert m.users.anonymous_count == 1
    m.apply(ev("setAFK", {"name": "bob", "afk": True}))
    bob = m.users.get("Bob")
    assert bob is not None
    assert bob.afk
    assert bob.meta["afk"] is True
    m.apply(ev("setUserProfile", {"name": "bob", "profile": {"image": "i.png", "text": "hi"}}))
    bob = m.users.get("bob")
    assert bob is not None
    assert bob.profile == Profile(image="i.png", text="hi")
    assert bob.afk
    m.apply(ev(events.USER_JOIN, user("BOB", 1)))  # logged in again: replaces the entry
    assert m.users.names == ("alice", "rosey", "BOB")
    m.apply(ev(events.USER_LEAVE, {"name": "bob"}))
    assert m.users.names == ("alice", "rosey")
    assert "bob" not in m.users
    m.apply(ev("setUserRank", {"name": "offline", "rank": 2}))  # not listed: nothing to do
    assert len(m.users) == 2


def test_moderator_view_and_shadow_mute() -> None:
    m = joined()
    m.apply(
        ev(
            events.USER_JOIN,
            user("carol", 1, smuted=False, aliases=["carol", "c2"], ip="+Jk.1.2.3"),
        )
    )
    carol = m.users.get("carol")
    assert carol is not None
    assert carol.aliases == ("carol", "c2")
    assert carol.ip == "+Jk.1.2.3"
    meta = {"afk": False, "muted": True, "smuted": True, "aliases": ["carol"], "ip": "+Jk.1.2.3"}
    m.apply(ev("setUserMeta", {"name": "carol", "meta": meta}))
    carol = m.users.get("carol")
    assert carol is not None
    assert carol.muted
    assert carol.smuted
    assert carol.aliases == ("carol",)


def test_userlist_replaces_everyone() -> None:
    m = joined()
    m.apply(ev(events.USER_LIST, [user("zed", 0)]))
    assert m.users.names == ("zed",)
    assert m.me is None


# -- playlist ----------------------------------------------------------------------------------


def test_queue_move_delete_and_temp() -> None:
    m = joined()
    m.apply(ev("queue", {"item": item(2), "after": 0}))
    m.apply(ev("queue", {"item": item(3), "after": "prepend"}))
    assert m.playlist.uids == (3, 0, 2, 1)
    m.apply(ev("moveVideo", {"from": 3, "after": "append"}))
    assert m.playlist.uids == (0, 2, 1, 3)
    m.apply(ev("moveVideo", {"from": 1, "after": "prepend"}))
    assert m.playlist.uids == (1, 0, 2, 3)
    m.apply(ev("moveVideo", {"from": 1, "after": 2}))
    assert m.playlist.uids == (0, 2, 1, 3)
    m.apply(ev("setTemp", {"uid": 2, "temp": True}))
    moved = m.playlist.item(2)
    assert moved is not None
    assert moved.temp
    m.apply(ev("delete", {"uid": 2}))
    assert m.playlist.uids == (0, 1, 3)
    assert m.playlist.item(2) is None
    assert m.playlist.total_seconds == 90


def test_queue_after_an_unknown_uid_appends_and_warns(logged: list[dict[str, Any]]) -> None:
    m = joined()
    m.apply(ev("queue", {"item": item(9), "after": 42}))
    assert m.playlist.uids == (0, 1, 9)
    assert len(logged) == 1
    assert "out of step" in logged[0]["log_format"]


def test_now_playing_follows_set_current_change_media_and_media_update() -> None:
    m = joined()
    now = m.playlist.now_playing
    assert now is not None
    assert (now.uid, now.current_time, now.paused) == (0, 12.5, False)
    m.apply(ev("mediaUpdate", {"currentTime": 17.5, "paused": True}))
    now = m.playlist.now_playing
    assert now is not None
    assert (now.current_time, now.paused) == (17.5, True)
    m.apply(ev("setCurrent", 0))  # resent (requestPlaylist, login): same item, kept
    assert m.playlist.now_playing is not None
    m.apply(ev("setCurrent", 1))
    assert m.playlist.current_uid == 1
    assert m.playlist.now_playing is None
    current = m.playlist.current
    assert current is not None
    assert current.media.title == "Video 1"
    m.apply(ev("changeMedia", {**media(1), "currentTime": -3, "paused": True}))
    now = m.playlist.now_playing
    assert now is not None
    assert (now.uid, now.media.title, now.current_time) == (1, "Video 1", -3)


def test_deleting_the_current_item_stops_playback() -> None:
    m = joined()
    m.apply(ev("delete", {"uid": 0}))
    assert m.playlist.current_uid is None
    assert m.playlist.now_playing is None


def test_playlist_reload_keeps_the_current_item_only_if_listed() -> None:
    m = joined()
    m.apply(ev("playlist", [item(1), item(0)]))
    assert m.playlist.current_uid == 0
    assert m.playlist.now_playing is not None
    m.apply(ev("playlist", []))  # clearPlaylist
    assert m.playlist.current_uid is None
    assert m.playlist.now_playing is None


def test_media_update_with_nothing_playing_is_ignored() -> None:
    m = ChannelMirror()
    m.apply(ev("mediaUpdate", {"currentTime": 3, "paused": False}))
    assert m.playlist.now_playing is None


def test_playlist_meta_and_lock() -> None:
    m = joined()
    m.apply(ev("setPlaylistMeta", {"count": 2, "rawTime": 60, "time": "01:00"}))
    assert m.playlist.meta is not None
    assert m.playlist.meta.raw_time == 60
    m.apply(ev("setPlaylistLocked", False))
    assert m.playlist.locked is False


# -- channel -----------------------------------------------------------------------------------


def test_emotes_keep_the_servers_order() -> None:
    m = joined()
    m.apply(ev("updateEmote", {"name": ":b:", "image": "b.png", "source": "b"}))
    m.apply(ev("updateEmote", {"name": ":a:", "image": "a2.png", "source": "a"}))
    assert [e.name for e in m.channel.emotes] == [":a:", ":b:"]  # an update keeps its place
    m.apply(ev("renameEmote", {"old": ":a:", "name": ":c:", "image": "a2.png", "source": "c"}))
    assert m.channel.emotes == (Emote(":b:", "b.png", "b"), Emote(":c:", "a2.png", "c"))
    m.apply(ev("removeEmote", {"name": ":b:"}))
    assert [e.name for e in m.channel.emotes] == [":c:"]


def test_chat_filters_once_the_list_is_known() -> None:
    m = joined()
    f = {"name": "x", "source": "x", "flags": "g", "replace": "y", "active": True}
    m.apply(ev("updateChatFilter", {**f, "filterlinks": False}))
    assert m.channel.chat_filters is None
    m.apply(ev("chatFilters", [{**f, "name": "a", "filterlinks": False}]))
    m.apply(ev("updateChatFilter", {**f, "filterlinks": False}))
    m.apply(ev("updateChatFilter", {**f, "name": "a", "active": False, "filterlinks": True}))
    assert m.channel.chat_filters == (
        ChatFilter("a", "x", "g", "y", False, True),
        ChatFilter("x", "x", "g", "y", True, False),
    )
    m.apply(ev("deleteChatFilter", {**f, "name": "a"}))
    filters = m.channel.chat_filters
    assert filters is not None
    assert [c.name for c in filters] == ["x"]


def test_polls() -> None:
    m = joined()
    poll = {
        "title": "Next?",
        "options": ["a", "b"],
        "counts": [0, 0],
        "initiator": "alice",
        "timestamp": 1795296711770,
    }
    m.apply(ev("newPoll", poll))
    assert m.channel.poll == Poll("Next?", ("a", "b"), (0, 0), False, "alice", 1795296711.77)
    m.apply(ev("updatePoll", {**poll, "counts": ["1?", "?"]}))  # hidden votes
    assert m.channel.poll is not None
    assert (m.channel.poll.counts, m.channel.poll.obscured) == ((1, None), True)
    m.apply(ev("closePoll", None))
    assert m.channel.poll is None


def test_voteskip_drinks_and_registration() -> None:
    m = joined()
    m.apply(ev("voteskip", {"count": 1, "need": 2}))
    m.apply(ev("drinkCount", 3))
    assert m.channel.voteskip == Voteskip(1, 2)
    assert m.channel.drink_count == 3
    assert m.channel.registered is True
    m.apply(ev("channelNotRegistered", None))
    assert m.channel.registered is False


def test_options_and_permissions_are_replaced_whole_and_read_only() -> None:
    m = joined()
    m.apply(ev("channelOpts", {"pagetitle": "x"}))
    assert dict(m.channel.options) == {"pagetitle": "x"}
    m.apply(ev("setPermissions", {"chat": 1}))
    assert dict(m.channel.permissions) == {"chat": 1}
    with pytest.raises(TypeError):
        m.channel.permissions["chat"] = 5  # type: ignore[index]


def test_permissions_take_any_finite_number_even_one_too_big_for_a_float() -> None:
    m = joined()
    table = {"chat": 0, "kick": 1.5, "oplaylistadd": -1, "huge": 10**400}
    m.apply(ev("setPermissions", table))
    assert dict(m.channel.permissions) == table


# -- lifecycle and bad input -------------------------------------------------------------------


def test_connected_resets_everything() -> None:
    m = joined()
    feed(
        m,
        ev("setLeader", "alice"),
        ev("newPoll", {"title": "t", "options": [], "counts": [], "initiator": "a"}),
        ev("voteskip", {"count": 1, "need": 1}),
        ev("chatFilters", []),
        ev("channelNotRegistered"),
        ev("setPlaylistLocked", False),
        ev("setPlaylistMeta", {"count": 2, "rawTime": 60, "time": "01:00"}),
        ev("channelCSSJS", {"css": "a", "cssHash": "h", "js": "b", "jsHash": "h"}),
        ev("drinkCount", 2),
    )
    m.apply(ev(events.DISCONNECTED, "connection lost"))
    # kept until the next session
    assert m.name == "rosey"
    assert len(m.users) == 2
    m.apply(ev(events.CONNECTED))
    assert (m.name, m.rank, m.guest) == (None, -1, False)
    assert len(m.users) == 0
    assert m.users.leader is None
    assert m.users.usercount is None
    assert m.playlist.items == ()
    assert m.playlist.current_uid is None
    assert m.playlist.now_playing is None
    assert m.playlist.meta is None
    assert m.playlist.locked
    c = m.channel
    assert (c.motd, c.css, c.css_hash, c.js, c.js_hash) == ("", "", "", "", "")
    assert dict(c.options) == {}
    assert dict(c.permissions) == {}
    assert c.emotes == ()
    assert c.chat_filters is None
    assert c.poll is None
    assert c.voteskip is None
    assert c.drink_count == 0
    assert c.registered is True


MALFORMED = [
    ("rank", "3"),
    ("rank", None),
    ("login", ["labbot"]),
    ("login", {"success": True}),
    ("login", {"success": True, "name": "other", "guest": "no"}),
    (events.USER_LIST, {"name": "x"}),
    (events.USER_LIST, [{"name": "x"}]),  # no rank
    (events.USER_JOIN, {"name": "x", "rank": "1"}),
    (events.USER_LEAVE, {}),
    ("setUserRank", {"name": "alice"}),
    ("setUserRank", {"name": "alice", "rank": True}),
    ("setAFK", {"name": "alice", "afk": "yes"}),
    ("setUserMeta", {"name": "alice", "meta": []}),
    ("setUserMeta", {"name": "alice", "meta": {"aliases": "alice"}}),
    ("setUserProfile", {"name": "alice", "profile": "pic"}),
    ("setLeader", None),
    ("usercount", -1),
    ("usercount", 2.5),
    ("playlist", {"0": item(0)}),
    ("playlist", [item(0), {"uid": 1}]),
    ("queue", {"item": item(5), "after": None}),
    ("queue", {"item": item(0), "after": "end"}),  # uid 0 is listed: must stay put
    ("queue", {"item": {**item(5), "uid": "5"}, "after": 0}),
    ("delete", 1),
    ("moveVideo", {"from": 1, "after": "top"}),
    ("setTemp", {"uid": 1}),
    ("setCurrent", "1"),
    ("setCurrent", 1.5),
    ("changeMedia", {"id": "x", "title": "t", "type": "yt", "currentTime": "0"}),
    ("changeMedia", {"title": "t", "type": "yt"}),
    ("mediaUpdate", {"currentTime": float("nan")}),
    ("mediaUpdate", {"paused": True}),
    ("setPlaylistLocked", "true"),
    ("setPlaylistMeta", {"count": "2"}),
    ("setMotd", {"motd": "x"}),
    ("channelCSSJS", {"css": 1}),
    ("channelOpts", []),
    ("setPermissions", {"chat": "0"}),
    ("setPermissions", None),
    # the parsers' inline type tests fall back on the strict readers for anything unusual
    ("setPermissions", {"chat": 1, "seeplaylist": float("nan")}),
    ("setPermissions", {"chat": float("inf")}),
    ("setPermissions", {"chat": True}),
    (events.USER_LIST, [{**user("x"), "name": 5}]),
    (events.USER_LIST, [user("x", afk="yes")]),
    (events.USER_LIST, [{**user("x"), "profile": {"image": None}}]),
    (events.USER_JOIN, user("x", aliases=["x", 5])),
    (events.USER_JOIN, user("x", ip=7)),
    ("playlist", [{**item(0), "media": {**media(0), "meta": []}}]),
    ("playlist", [{**item(0), "media": {**media(0), "duration": 30}}]),
    ("playlist", [{**item(0), "media": {**media(0), "type": None}}]),
    ("playlist", [{**item(0), "temp": "no"}]),
    ("playlist", [{**item(0), "queueby": 3}]),
    ("playlist", [{**item(0), "uid": 1.5}]),
    ("setPlaylistMeta", {"count": 2, "rawTime": 60, "time": 60}),
    ("channelCSSJS", {"css": "", "cssHash": None}),
    ("emoteList", [{"name": ":a:"}]),
    ("updateEmote", {"name": ":a:", "image": None}),
    ("renameEmote", {"name": ":b:", "image": "b.png"}),
    ("removeEmote", ":a:"),
    ("chatFilters", [{"name": "a"}]),
    ("updateChatFilter", "x"),
    ("deleteChatFilter", {}),
    ("drinkCount", "1"),
    ("voteskip", {"count": 1}),
    ("newPoll", {"title": "t", "options": ["a"], "counts": []}),
    ("newPoll", {"title": "t", "options": ["a"], "counts": ["x"]}),
    ("updatePoll", None),
]


@pytest.mark.parametrize(("name", "data"), MALFORMED)
def test_malformed_payload_is_logged_once_and_ignored(
    name: str, data: Any, logged: list[dict[str, Any]]
) -> None:
    m = joined()
    before = snapshot(m)
    m.apply(ev(name, data))
    assert snapshot(m) == before
    assert len(logged) == 1
    assert logged[0]["name"] == name
    assert "malformed" in logged[0]["log_format"]


def snapshot(m: ChannelMirror) -> tuple[Any, ...]:
    c = m.channel
    return (
        m.name,
        m.rank,
        m.guest,
        tuple(m.users),
        m.users.leader,
        m.users.usercount,
        m.playlist.items,
        m.playlist.current_uid,
        m.playlist.now_playing,
        m.playlist.locked,
        m.playlist.meta,
        (c.motd, c.css, c.js, dict(c.options), dict(c.permissions), c.emotes),
        (c.chat_filters, c.drink_count, c.voteskip, c.poll, c.registered),
    )


def test_malformed_events_are_logged_once_per_name_and_session(
    logged: list[dict[str, Any]],
) -> None:
    m = joined()
    for _ in range(3):
        m.apply(ev("setCurrent", "x"))
    m.apply(ev("setMotd", None))
    assert [e["name"] for e in logged] == ["setCurrent", "setMotd"]
    m.apply(ev(events.CONNECTED))
    m.apply(ev("setCurrent", "x"))
    assert [e["name"] for e in logged] == ["setCurrent", "setMotd", "setCurrent"]


def test_playlist_out_of_step_warnings_once_per_session(logged: list[dict[str, Any]]) -> None:
    m = joined()
    m.apply(ev("moveVideo", {"from": 42, "after": 0}))
    m.apply(ev("queue", {"item": item(9), "after": 42}))
    assert len(logged) == 1
    assert m.playlist.uids == (0, 1, 9)
    m.apply(ev(events.CONNECTED))
    m.apply(ev("moveVideo", {"from": 42, "after": 0}))
    assert len(logged) == 2


def test_events_the_normalizer_flagged_are_skipped_silently(
    logged: list[dict[str, Any]],
) -> None:
    m = joined()
    m.apply(Event("userlist", "junk", extra={"malformed": "payload is not a list"}))
    m.apply(Event(events.USER_JOIN, {"name": 5}, extra={"malformed": "name is not a string"}))
    assert m.users.names == ("alice", "rosey")
    assert logged == []


def test_unknown_and_chat_events_change_nothing(logged: list[dict[str, Any]]) -> None:
    m = joined()
    before = snapshot(m)
    for e in (
        Event(events.MESSAGE, {}, user="alice", content="hi"),
        ev("someFutureEvent", {"x": 1}),
        ev(events.READY),
        ev(events.KICKED, {"reason": "x"}),
        ev("clearchat", {"clearedBy": "alice"}),
    ):
        m.apply(e)
    assert snapshot(m) == before
    assert logged == []


def test_a_failing_handler_is_logged_never_raised(
    logged: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    m = joined()

    def broken(data: Any) -> None:
        raise RuntimeError("bug")

    monkeypatch.setitem(m._handlers, "setMotd", broken)
    m.apply(ev("setMotd", "x"))
    assert len(logged) == 1
    assert logged[0]["log_failure"].check(RuntimeError)
    m.apply(ev("setLeader", "alice"))  # still working
    assert m.users.leader == "alice"


def test_parsed_values_equal_constructed_ones_and_share_what_repeats() -> None:
    """The parsers build records (rosey.records) and share the strings and empty parts that
    repeat; what comes out is the same value as one built by its constructor."""
    from rosey.bot.state import Media, PlaylistItem, User

    m = joined()
    m.apply(ev(events.USER_LIST, [user("alice", 2, aliases=["alice"], ip="+a.b")]))
    m.apply(ev("playlist", [item(0), {**item(1), "queueby": "alice"}]))
    alice = m.users.get("alice")
    expected = User(
        "alice",
        2.0,
        profile=Profile(),
        aliases=("alice",),
        ip="+a.b",
        meta={"afk": False, "muted": False, "aliases": ["alice"], "ip": "+a.b"},
    )
    assert alice == expected
    assert hash(alice) == hash(expected)
    if TYPE_CHECKING:  # records are frozen to mypy: with warn_unused_ignores this is checked
        alice.rank = 3  # type: ignore[misc]
    first, second = m.playlist.items
    media = Media("yt", "vid0", title="Video 0", seconds=30, duration="00:30")
    assert first == PlaylistItem(0, media, temp=False, queueby="someone")
    # one empty mapping
    assert first.media.meta == {}
    assert first.media.meta is second.media.meta
    assert second.queueby is alice.name  # interned: one copy of each name
    assert first.media.type is second.media.type
