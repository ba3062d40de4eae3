"""Every bot action against the real socket.io CyTube peer: success and failure paths.

The fixtures and :class:`LiveBot` come from :mod:`tests.bot.test_service_live`; that module covers
chat, pm, queue, delete, set_temp, new_poll and set_motd. Here each remaining action runs over
the real connection: what the peer received and broadcast, the bot's mirror afterwards, and for
a failure either the server's own answer or the local refusal with nothing sent (the events the
action would have sent are counted on the peer) and no kick. Every wait is bounded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import pytest_twisted

from rosey import events
from rosey.bot.actions import ActionFailed, ActionRefused, OptionsRejected, TargetNotFound
from rosey.bot.state import ChatFilter, Emote, Voteskip
from rosey.errors import ChannelPermissionError
from tests.bot.test_service_live import (
    LiveBot,
    bots,
    chat_from,
    joined,
    mirror_playlist,
    peer,
    peer_playlist,
    peer_state,
)
from tests.peers import shapes
from tests.peers.cytube import CyTubePeer

__all__ = ["bots", "peer"]  # the fixtures, imported for pytest

SERVER_WHISPER = {"addClass": "server-whisper", "addClassToNameAndTimestamp": True}


def sent_counts(peer: CyTubePeer, *events: str) -> dict[str, int]:
    """How many of each event the bot has sent the peer."""
    return {event: len(peer.events(event, "labbot")) for event in events}


def contents(live: LiveBot, user: str) -> list[str]:
    """The plain text of every chat line from ``user`` the bot saw."""
    return [e.content or "" for e in live.events if e.name == events.MESSAGE and e.user == user]


def behind_the_mirrors_back(peer: CyTubePeer, change: Callable[[Any], None]) -> None:
    """Change the peer's channel without telling anyone: the bot's mirror goes stale, so a
    request the bot thinks valid meets the server's own refusal."""
    peer_state(peer, change)


async def demote(live: LiveBot, peer: CyTubePeer, rank: float) -> None:
    peer.set_rank("labbot", rank)
    await live.until(lambda: live.bot.mirror.rank == rank)


async def refused_locally(
    live: LiveBot, peer: CyTubePeer, calls: dict[str, Callable[[], Any]], *events: str
) -> None:
    """Each call fails with ChannelPermissionError and none of ``events`` reaches the peer."""
    before = sent_counts(peer, *events)
    for what, call in calls.items():
        with pytest.raises(ChannelPermissionError):
            await live.bound(call())
        assert live.bot.queue.pending == 0, what
    await sync(live, peer)
    assert sent_counts(peer, *events) == before


async def sync(live: LiveBot, peer: CyTubePeer) -> None:
    """Once this returns, whatever the bot wrote before has reached the peer: a marker event
    (one the peer ignores) sent on the same socket has arrived."""
    marks = len(peer.events("rosey-test-sync", "labbot"))
    live.conn.emit("rosey-test-sync", None)
    await live.bound(peer.when(lambda p: len(p.events("rosey-test-sync", "labbot")) > marks))


# -- chat and moderation -------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_chat_and_moderation_actions(peer: CyTubePeer, bots: list[LiveBot]) -> None:
    peer.add_virtual_user("labuser", 1)
    peer.add_virtual_user("labmod", 2)
    peer.add_virtual_user("peeradmin", 3)
    live = await joined(peer, bots)
    actions, mirror = live.bot.actions, live.bot.mirror

    # /me: an action line, escaped by the server.
    await live.bound(actions.me("waves <hi>"))
    assert chat_from(peer, "labbot")[-1] == "/me waves <hi>"
    line = peer_state(peer, lambda chan: chan.chat.buffer[-1])
    assert line["msg"] == "waves &lt;hi&gt;"
    assert line["meta"]["action"] is True

    # /afk toggles; the answer is the new state.
    assert await live.bound(actions.afk()) is True
    assert mirror.afk
    assert peer_state(peer, lambda chan: chan.find("labbot").afk)  # type: ignore[union-attr]
    assert await live.bound(actions.afk()) is False
    assert not mirror.afk
    assert not peer_state(peer, lambda chan: chan.find("labbot").afk)

    # /clear empties the server's buffer and tells everyone who did it.
    peer.chat("labuser", "something to clear")
    await live.until(lambda: "something to clear" in contents(live, "labuser"))
    await live.bound(actions.clear_chat())
    assert peer_state(peer, lambda chan: list(chan.chat.buffer)) == []
    # The action fires as the confirmations see the event, before the handlers (live.events) do.
    await live.until(lambda: any(e.name == "clearchat" for e in live.events))
    assert [e.platform_data for e in live.events if e.name == "clearchat"] == [
        {"clearedBy": "labbot"}
    ]

    # /mute, /unmute, /smute: confirmed by setUserMeta, announced to the mods.
    await live.bound(actions.mute("labuser"))
    assert mirror.users.get("labuser").muted
    assert peer_state(peer, lambda chan: chan.find("labuser").muted)
    with pytest.raises(ActionFailed) as not_muted:
        await live.bound(actions.unmute("labmod"))
    assert not_muted.value.server_message == "labmod is not muted."
    await live.bound(actions.unmute("labuser"))
    assert not mirror.users.get("labuser").muted
    await live.bound(actions.smute("labmod"))
    smuted = mirror.users.get("labmod")
    assert smuted is not None
    assert smuted.muted
    assert smuted.smuted
    await live.bound(actions.unmute("labmod"))
    assert not mirror.users.get("labmod").smuted

    def mute_notices() -> list[str]:
        return [t for t in contents(live, "[server]") if "mute" in t]

    await live.until(lambda: len(mute_notices()) == 4)
    assert mute_notices() == [
        "labbot muted labuser",
        "labbot unmuted labuser",
        "labbot shadowmuted labmod",
        "labbot unmuted labmod",
    ]
    with pytest.raises(ChannelPermissionError):  # peeradmin ranks with the bot: not sent
        await live.bound(actions.mute("peeradmin"))
    with pytest.raises(TargetNotFound):
        await live.bound(actions.smute("nobody"))

    # A rank the bot does not know about: the server's refusals.
    behind_the_mirrors_back(peer, lambda chan: setattr(chan.find("labuser"), "rank", 4))
    with pytest.raises(ActionFailed) as outranked:
        await live.bound(actions.mute("labuser"))
    assert outranked.value.server_message == (
        "/mute failed - labuser has equal or higher rank than you."
    )
    with pytest.raises(ActionFailed) as unkickable:
        await live.bound(actions.kick("labuser"))
    assert unkickable.value.server_message == "You do not have permission to kick labuser"
    behind_the_mirrors_back(peer, lambda chan: setattr(chan.find("labuser"), "rank", 1))
    assert "labuser" in peer.users

    # /kick: confirmed by the user's leave.
    await live.bound(actions.kick("labuser", "bye  now"))
    assert chat_from(peer, "labbot")[-1] == "/kick labuser bye now"
    assert "labuser" not in peer.users
    assert mirror.users.get("labuser") is None
    assert peer.kicks == 1
    with pytest.raises(TargetNotFound):
        await live.bound(actions.kick("labuser"))
    with pytest.raises(ChannelPermissionError):
        await live.bound(actions.kick("peeradmin"))

    # /ban: an offline name, then again, then an offline name that outranks the bot.
    await live.bound(actions.ban("Troll", "spam"))
    bans = peer_state(peer, lambda chan: [dict(b) for b in chan.chat.moderation.bans])
    assert [(b["name"], b["reason"], b["bannedby"]) for b in bans] == [("troll", "spam", "labbot")]
    await live.until(lambda: "labbot namebanned troll" in contents(live, "[server]"))
    with pytest.raises(ActionFailed) as again:
        await live.bound(actions.ban("troll"))
    assert again.value.server_message == "troll is already banned"
    with pytest.raises(ActionFailed) as owner:  # not listed: only the server knows its rank
        await live.bound(actions.ban("labowner"))
    assert owner.value.server_message == "You don't have permission to ban labowner"
    # An online user is banned, then kicked.
    await live.bound(actions.ban("labmod"))
    await live.until(lambda: mirror.users.get("labmod") is None)
    assert "labmod" not in peer.users
    assert peer.kicks == 2

    # unban: the ban list, then one unban per entry.
    assert await live.bound(actions.unban("TROLL")) == 1
    names = peer_state(peer, lambda chan: [b["name"] for b in chan.chat.moderation.bans])
    assert names == ["labmod"]
    assert [r.data for r in peer.events("unban", "labbot")] == [{"id": 1, "name": "troll"}]
    with pytest.raises(TargetNotFound):
        await live.bound(actions.unban("troll"))

    # Without the permissions: refused locally, nothing sent.
    peer.add_virtual_user("labuser", 1)
    await demote(live, peer, 1)
    await refused_locally(
        live,
        peer,
        {
            "clear_chat": actions.clear_chat,
            "kick": lambda: actions.kick("labuser"),
            "ban": lambda: actions.ban("someone"),
            "unban": lambda: actions.unban("labmod"),
            "mute": lambda: actions.mute("labuser"),
            "smute": lambda: actions.smute("labuser"),
            "unmute": lambda: actions.unmute("labuser"),
        },
        "chatMsg",
        "requestBanlist",
    )
    peer.set_permissions(chat=2)
    await live.until(lambda: live.bot.mirror.channel.permissions.get("chat") == 2)
    await refused_locally(
        live, peer, {"me": lambda: actions.me("hello"), "afk": actions.afk}, "chatMsg"
    )
    # labuser's and labmod's kicks only
    assert peer.kicks == 2
    assert live.conn.ready


# -- the playlist --------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_playlist_actions(peer: CyTubePeer, bots: list[LiveBot]) -> None:
    live = await joined(peer, bots)
    actions, playlist = live.bot.actions, live.bot.mirror.playlist

    def in_sync() -> bool:
        return mirror_playlist(live) == peer_playlist(peer)

    with pytest.raises(ActionRefused):  # nothing plays
        await live.bound(actions.play_next())
    first = await live.bound(actions.queue(("yt", "dQw4w9WgXcQ")))
    second = await live.bound(actions.queue(("yt", "9bZkp7q19f0")))
    third = await live.bound(actions.queue(("yt", "third000000")))
    await live.until(lambda: in_sync() and playlist.current_uid == first)

    # move: confirmed by moveVideo.
    await live.bound(actions.move(third, "prepend"))
    await live.bound(actions.move(first, second))
    order = [third, second, first]
    assert [r.data for r in peer.events("moveMedia", "labbot")] == [
        {"from": third, "after": "prepend"},
        {"from": first, "after": second},
    ]
    assert [i[0] for i in peer_playlist(peer)[0]] == order == [i.uid for i in playlist.items]
    with pytest.raises(TargetNotFound):
        await live.bound(actions.move(999, "append"))
    with pytest.raises(ValueError, match="cannot go after itself"):
        await live.bound(actions.move(first, first))

    # jump and play_next: confirmed by setCurrent.
    await live.bound(actions.jump(second))
    assert playlist.current_uid == second == peer_playlist(peer)[1]
    assert await live.bound(actions.play_next()) == first
    assert peer_playlist(peer)[1] == first
    assert await live.bound(actions.play_next()) == third  # wraps around
    await live.bound(actions.set_temp(third, True))
    assert await live.bound(actions.play_next()) == second  # the temporary item is deleted
    await live.until(in_sync)
    assert [i[0] for i in peer_playlist(peer)[0]] == [second, first]
    with pytest.raises(TargetNotFound):
        await live.bound(actions.jump(third))

    # shuffle: every uid renumbered, the current item first and still current.
    media_before = {i.media.id for i in playlist.items}
    playing = playlist.current.media.id  # type: ignore[union-attr]
    await live.bound(actions.shuffle())
    await live.until(in_sync)
    items, current = peer_playlist(peer)
    assert {mid for _, mid, _, _ in items} == media_before
    assert min(uid for uid, _, _, _ in items) > third
    assert current == items[0][0]
    assert items[0][1] == playing

    # The playlist lock: toggled, or set (nothing sent when it already is).
    assert playlist.locked is True
    assert await live.bound(actions.toggle_playlist_lock()) is False
    assert not peer_state(peer, lambda chan: bool(chan.playlist.locked))
    assert await live.bound(actions.set_playlist_locked(False)) is False
    assert len(peer.events("togglePlaylistLock", "labbot")) == 1
    assert await live.bound(actions.set_playlist_locked(True)) is True
    assert playlist.locked
    assert peer_state(peer, lambda chan: chan.playlist.locked)

    # Below the permissions: refused locally, nothing sent.
    await demote(live, peer, 1)
    uid = playlist.items[0].uid
    await refused_locally(
        live,
        peer,
        {
            "move": lambda: actions.move(uid, "append"),
            "jump": lambda: actions.jump(uid),
            "play_next": actions.play_next,
            "shuffle": actions.shuffle,
            "clear_playlist": actions.clear_playlist,
            "toggle_playlist_lock": actions.toggle_playlist_lock,
            "set_playlist_locked": lambda: actions.set_playlist_locked(False),
        },
        "moveMedia",
        "jumpTo",
        "playNext",
        "shufflePlaylist",
        "clearPlaylist",
        "togglePlaylistLock",
    )
    await demote(live, peer, 3)

    # clear_playlist: confirmed by playlist [].
    await live.bound(actions.clear_playlist())
    assert peer_playlist(peer) == ([], None)
    assert len(playlist) == 0
    assert playlist.current_uid is None
    assert peer.kicks == 0
    assert live.conn.ready


# -- the leader, playback and voteskip -----------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_leader_playback_and_voteskip(peer: CyTubePeer, bots: list[LiveBot]) -> None:
    peer.add_virtual_user("labuser", 1)
    peer.add_virtual_user("labmod", 2)
    live = await joined(peer, bots)
    actions, mirror = live.bot.actions, live.bot.mirror
    first = await live.bound(actions.queue(("yt", "dQw4w9WgXcQ")))
    second = await live.bound(actions.queue(("yt", "9bZkp7q19f0")))
    await live.until(lambda: mirror.playlist.now_playing is not None)

    with pytest.raises(ActionRefused):  # not the leader
        await live.bound(actions.pause())

    # The bot leads: pause, seek, play, each confirmed by the server's mediaUpdate.
    await live.bound(actions.assign_leader("labbot"))
    assert mirror.is_leader
    assert peer_state(peer, lambda chan: chan.leader.name) == "labbot"  # type: ignore[union-attr]
    await live.bound(actions.pause())
    await live.bound(actions.seek(100.5))
    assert peer_state(peer, lambda chan: chan.playlist.current_time()) == 100.5
    now = mirror.playlist.now_playing
    assert now is not None
    assert now.current_time == 100.5
    assert now.paused
    await live.bound(actions.play())
    now = mirror.playlist.now_playing
    assert now is not None
    assert now.current_time == 100.5
    assert not now.paused
    sent = [(r.data["currentTime"], r.data["paused"]) for r in peer.events("mediaUpdate")]
    assert sent[-2:] == [(100.5, True), (100.5, False)]
    with pytest.raises(ValueError, match="9999 is outside"):
        await live.bound(actions.seek(9999))

    # Leadership passes to labuser (rank 1.5 while leading), then is taken away.
    await live.bound(actions.assign_leader("labuser"))
    await live.until(lambda: mirror.users.get("labuser").rank == 1.5)  # type: ignore[union-attr]
    assert not mirror.is_leader
    assert peer.rank_of("labuser") == 1.5
    with pytest.raises(ActionRefused):
        await live.bound(actions.seek(10))
    await live.bound(actions.remove_leader())
    await live.until(lambda: mirror.users.get("labuser").rank == 1)
    assert peer_state(peer, lambda chan: chan.leader) is None
    assert peer.rank_of("labuser") == 1
    with pytest.raises(TargetNotFound):
        await live.bound(actions.assign_leader("nobody"))
    # labmod is gone as far as the server knows, not as far as the mirror knows.
    labmod = peer_state(peer, lambda chan: chan.find("labmod"))
    behind_the_mirrors_back(peer, lambda chan: chan.users.remove(labmod))
    with pytest.raises(ActionFailed) as missing:
        await live.bound(actions.assign_leader("labmod"))
    assert missing.value.server_message == "Unable to assign leader: could not find user labmod"
    behind_the_mirrors_back(peer, lambda chan: chan.users.append(labmod))

    # voteskip: 3 eligible users need 2 votes; the bot's counts once per IP.
    assert await live.bound(actions.voteskip()) == Voteskip(count=1, need=2)
    assert mirror.channel.voteskip == Voteskip(count=1, need=2)
    # Again on the same media: the server would not answer (one vote per IP), so nothing goes.
    with pytest.raises(ActionRefused, match="voted on this media already"):
        await live.bound(actions.voteskip())
    await live.round_trip("after the second vote")
    assert len(peer.events("voteskip", "labbot")) == 1
    # labmod leaves: 2 eligible need 1, the vote passes and the next item plays.
    peer.remove_virtual_user("labmod")
    await live.until(lambda: mirror.playlist.current_uid == second)
    assert contents(live, "[voteskip]") == [
        "Voteskip passed: 1/2 skipped; eligible voters: 2 = total (2) - AFK (0) - "
        "no permission (0); ratio = 0.5"
    ]
    assert mirror.channel.voteskip == Voteskip(count=0, need=0)
    # Now the bot's vote alone passes: the answer is the reset count.
    assert await live.bound(actions.voteskip()) == Voteskip(count=0, need=0)
    await live.until(lambda: mirror.playlist.current_uid == first)
    assert len(contents(live, "[voteskip]")) == 2

    # Local refusals: voteskip turned off, no permission; below leaderctl.
    before = sent_counts(peer, "voteskip", "assignLeader", "mediaUpdate")
    peer.set_options(allow_voteskip=False)
    await live.until(lambda: mirror.channel.options.get("allow_voteskip") is False)
    with pytest.raises(ActionRefused):
        await live.bound(actions.voteskip())
    peer.set_options(allow_voteskip=True)
    peer.set_permissions(voteskip=4)
    await live.until(lambda: mirror.channel.permissions.get("voteskip") == 4)
    await demote(live, peer, 1)
    await refused_locally(
        live,
        peer,
        {
            "voteskip": actions.voteskip,
            "assign_leader": lambda: actions.assign_leader("labuser"),
            "remove_leader": actions.remove_leader,
        },
        "voteskip",
        "assignLeader",
    )
    assert sent_counts(peer, "voteskip", "assignLeader", "mediaUpdate") == before
    assert peer.kicks == 0
    assert live.conn.ready


# -- channel administration ----------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_admin_actions(peer: CyTubePeer, bots: list[LiveBot]) -> None:
    peer.add_virtual_user("labuser", 1)
    live = await joined(peer, bots)
    actions, channel = live.bot.actions, live.bot.mirror.channel

    # Polls: vote and close.
    with pytest.raises(ActionRefused):
        await live.bound(actions.vote(0))
    with pytest.raises(ActionRefused):
        await live.bound(actions.close_poll())
    await live.bound(actions.new_poll("lunch?", ["pizza", "soup"]))
    await live.until(lambda: channel.poll is not None)
    await live.bound(actions.vote(1))
    assert channel.poll is not None
    assert channel.poll.counts == (0, 1)
    assert peer_state(peer, lambda chan: chan.admin.poll["counts"]) == [0, 1]  # type: ignore[index]
    with pytest.raises(ValueError, match="option 2 is not in"):
        await live.bound(actions.vote(2))
    peer.set_permissions(pollvote=4)
    await live.until(lambda: channel.permissions.get("pollvote") == 4)
    await refused_locally(live, peer, {"vote": lambda: actions.vote(0)}, "vote")
    peer.set_permissions(pollvote=-1)
    await live.until(lambda: channel.permissions.get("pollvote") == -1)
    await live.bound(actions.close_poll())
    assert channel.poll is None
    assert peer_state(peer, lambda chan: chan.admin.poll) is None

    # CSS and JS: channelCSSJS with the hashes; unchanged text is not sent.
    css, js = "#chatwrap { background: #112233; }", "console.log('labchan js');"
    await live.bound(actions.set_css(css))
    await live.bound(actions.set_js(js))
    assert (channel.css, channel.css_hash) == (css, shapes.md5_b64(css))
    assert (channel.js, channel.js_hash) == (js, shapes.md5_b64(js))
    assert peer_state(peer, lambda chan: (chan.custom.css, chan.custom.js)) == (css, js)
    await live.bound(actions.set_css(css))
    assert sent_counts(peer, "setChannelCSS", "setChannelJS") == {
        "setChannelCSS": 1,
        "setChannelJS": 1,
    }
    # Longer than the server keeps: it cuts at 20000 UTF-16 units, here through an emoji (two
    # units), leaving its first half; the same text again would change nothing: not sent.
    long_css = "/*" + "x" * 19_997 + "\N{CLAPPER BOARD}*/"
    await live.bound(actions.set_css(long_css))
    assert channel.css == long_css[:19_999] + "\ud83c"
    assert peer_state(peer, lambda chan: chan.custom.css) == channel.css
    await live.bound(actions.set_css(long_css))
    assert sent_counts(peer, "setChannelCSS") == {"setChannelCSS": 2}

    # Options: channelOpts; a bad external CSS URL draws the server's validationError.
    opts = await live.bound(actions.set_options(afk_timeout=300, allow_dupes=True))
    assert opts["afk_timeout"] == 300
    assert opts["allow_dupes"] is True
    assert channel.options["afk_timeout"] == 300
    assert peer_state(peer, lambda chan: chan.options["afk_timeout"]) == 300
    with pytest.raises(OptionsRejected) as rejected:
        await live.bound(actions.set_options(externalcss="http://insecure.example.com/x.css"))
    assert rejected.value.target == "#cs-externalcss"
    assert rejected.value.server_message == (
        "Invalid URL for external CSS:  URL must begin with 'https://'"
    )
    assert peer_state(peer, lambda chan: chan.options["externalcss"]) == ""

    # Permissions: the whole table comes back.
    await live.bound(actions.set_permissions({"playlistadd": 2, "chat": 1}))
    assert channel.permissions["playlistadd"] == 2
    assert channel.permissions["chat"] == 1
    assert peer_state(peer, lambda chan: chan.permissions["playlistadd"]) == 2

    # Emotes: added with their source regex, renamed, removed.
    image = "https://media.example.invalid/labcat.png"
    added = await live.bound(actions.update_emote(":labcat:", image))
    assert added == Emote(name=":labcat:", image=image, source="(^|\\s):labcat:(?!\\S)")
    assert channel.emote(":labcat:") == added
    renamed = await live.bound(actions.rename_emote(":labcat:", ":labkitty:"))
    assert renamed.name == ":labkitty:"
    assert renamed.image == image
    assert channel.emote(":labcat:") is None
    assert channel.emote(":labkitty:") == renamed
    assert peer_state(peer, lambda chan: list(chan.custom.emotes)) == [":labkitty:"]
    with pytest.raises(TargetNotFound):
        await live.bound(actions.rename_emote(":labcat:", ":other:"))
    with pytest.raises(ValueError, match="must not be blank"):
        await live.bound(actions.update_emote(":blank:", ""))
    await live.bound(actions.remove_emote(":labkitty:"))
    assert channel.emotes == ()
    assert peer_state(peer, lambda chan: chan.custom.emotes) == {}

    # Chat filters: fetched, added, updated, removed; a bad regex is the server's error.
    filters = await live.bound(actions.request_chat_filters())
    assert [f.name for f in filters] == ["monospace", "bold", "italic", "strike", "inline spoiler"]
    await live.bound(actions.add_filter("no spoilers", "rosebud", "[redacted]", flags="gi"))
    assert len(peer.events("addFilter", "labbot")) == 1
    await live.until(lambda: channel.chat_filters is not None and len(channel.chat_filters) == 6)
    await live.bound(actions.update_filter("no spoilers", active=False))
    expected = ChatFilter("no spoilers", "rosebud", "gi", "[redacted]", False, False)
    assert channel.chat_filters is not None
    assert channel.chat_filters[-1] == expected
    assert peer_state(peer, lambda chan: chan.custom.filters[-1]["active"]) is False
    with pytest.raises(ActionFailed) as bad:
        await live.bound(actions.add_filter("broken", "(", "x"))
    assert bad.value.server_message == "Invalid regex: missing )"
    with pytest.raises(TargetNotFound):
        await live.bound(actions.update_filter("never added", active=True))
    await live.bound(actions.remove_filter("no spoilers"))
    assert [f.name for f in channel.chat_filters or ()] == [f.name for f in filters]
    assert len(peer_state(peer, lambda chan: chan.custom.filters)) == 5

    # Rank 2: every admin action is refused locally (CSS, JS, permissions would get a kick).
    await demote(live, peer, 2)
    await refused_locally(
        live,
        peer,
        {
            "set_css": lambda: actions.set_css("body {}"),
            "set_js": lambda: actions.set_js("alert(1)"),
            "set_options": lambda: actions.set_options(externalcss="https://x.example/a.css"),
            "set_permissions": lambda: actions.set_permissions({"chat": 0}),
            "update_emote": lambda: actions.update_emote(":x:", image),
            "remove_emote": lambda: actions.remove_emote(":x:"),
            "request_chat_filters": actions.request_chat_filters,
            "add_filter": lambda: actions.add_filter("x", "x", "y"),
            "update_filter": lambda: actions.update_filter("bold", active=False),
            "remove_filter": lambda: actions.remove_filter("bold"),
        },
        "setChannelCSS",
        "setChannelJS",
        "setOptions",
        "setPermissions",
        "updateEmote",
        "removeEmote",
        "requestChatFilters",
        "addFilter",
        "updateFilter",
        "removeFilter",
    )
    await demote(live, peer, 1)
    await refused_locally(
        live,
        peer,
        {
            "set_options": lambda: actions.set_options(allow_dupes=False),
            "close_poll": actions.close_poll,
        },
        "setOptions",
        "closePoll",
    )
    assert peer.kicks == 0
    assert live.conn.ready
