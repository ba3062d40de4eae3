"""Replay the recorded CyTube 3.86 traffic into a ChannelMirror and check the server's state.

Every fixture's server frames go through the real sans-IO ``Session`` and ``Normalizer``, one
connection after another, exactly as the connection layer hands them to the bot. The expected
values were written by reading the frames in ``tests/fixtures/*.jsonl``; ``Replay`` stops at
the scenario's own ``note`` records (or right after a given frame) to check intermediate states.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from twisted.logger import ILogObserver, Logger

from rosey.bot import mirror as mirror_module
from rosey.bot.mirror import ChannelMirror
from rosey.bot.permissions import DEFAULT_PERMISSIONS, can, require_event
from rosey.bot.state import Emote, Voteskip
from rosey.bot.state import playlist as playlist_module
from rosey.errors import ChannelPermissionError
from tests.recorded import SCENARIOS, EventReplay, Record, load

EMPTY_HASH = "1B2M2Y8AsgTpgAmY7PhCfg=="  # MD5 of "" in base64, as channelCSSJS sends it
LAB_MOTD = "Lab MOTD <b>bold</b>"


class Replay:
    """Feeds one scenario's records to a mirror, connection by connection."""

    def __init__(self, scenario: str) -> None:
        self.recording = load(scenario)
        self.mirror = ChannelMirror()
        self._records = self.recording.records
        self._pos = 0
        self._replay = EventReplay(self.recording, self.mirror.apply)

    def to_note(self, text: str) -> ChannelMirror:
        """Apply every record before the next ``note`` that starts with ``text``."""
        while self._pos < len(self._records):
            record = self._records[self._pos]
            self._pos += 1
            if record.meta.get("event") == "note" and record.meta["text"].startswith(text):
                return self.mirror
            self._feed(record)
        raise AssertionError(f"no note {text!r} left in {self.recording.header['scenario']}")

    def through(self, fragment: str) -> ChannelMirror:
        """Apply records up to and including the next server frame containing ``fragment``."""
        while self._pos < len(self._records):
            record = self._records[self._pos]
            self._pos += 1
            self._feed(record)
            if record.dir == "in" and fragment in (record.frame or ""):
                return self.mirror
        raise AssertionError(f"no frame {fragment!r} left in {self.recording.header['scenario']}")

    def to_end(self) -> ChannelMirror:
        """Apply everything left."""
        while self._pos < len(self._records):
            self._feed(self._records[self._pos])
            self._pos += 1
        return self.mirror

    def _feed(self, record: Record) -> None:
        self._replay.feed(record)


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Everything the mirror logs."""
    seen: list[dict[str, Any]] = []
    logger = Logger(observer=cast(ILogObserver, seen.append))
    monkeypatch.setattr(mirror_module, "log", logger)
    monkeypatch.setattr(playlist_module, "log", logger)
    return seen


def names(m: ChannelMirror) -> tuple[str, ...]:
    return m.users.names


def rank_of(m: ChannelMirror, name: str) -> float:
    user = m.users.get(name)
    assert user is not None, f"{name} is not listed"
    return user.rank


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_fixture_replays_without_a_complaint(
    scenario: str, logged: list[dict[str, Any]]
) -> None:
    Replay(scenario).to_end()
    assert logged == []


def test_guest_join() -> None:
    r = Replay("guest_join")
    m = r.to_note("guest login as lurker9783")
    # Anonymous after the join burst: not in the user list, rank -1.
    assert m.rank == -1
    assert m.name is None
    assert not m.logged_in
    assert m.me is None
    assert names(m) == ("labuser",)
    labuser = m.users.get("labuser")
    assert labuser is not None
    assert (labuser.rank, labuser.afk, labuser.muted) == (1, False, False)
    # guest view: no moderator fields
    assert labuser.aliases is None
    assert labuser.ip is None
    assert m.users.usercount is None  # the throttled usercount is not in this burst
    assert m.channel.permissions == DEFAULT_PERMISSIONS
    assert m.playlist.locked is True
    assert m.channel.emotes == ()
    assert m.channel.drink_count == 0
    assert (m.channel.css, m.channel.css_hash, m.channel.js, m.channel.js_hash) == (
        "",
        EMPTY_HASH,
        "",
        EMPTY_HASH,
    )
    assert m.channel.motd == LAB_MOTD
    assert m.channel.options["afk_timeout"] == 600
    assert m.channel.options["password"] is False
    assert m.playlist.items == ()
    assert m.playlist.current is None
    assert m.playlist.now_playing is None
    assert m.playlist.meta is not None
    assert m.playlist.meta.count == 0
    assert m.channel.registered is True
    assert m.channel.poll is None
    assert not can(m, "chat")  # anonymous may not chat

    m = r.to_note("labuser chats")
    assert (m.rank, m.name, m.guest) == (0, "lurker9783", True)
    assert names(m) == ("labuser", "lurker9783")
    assert m.me is not None
    assert m.me.rank == 0
    assert can(m, "chat")
    assert not can(m, "playlistadd")

    m = r.to_end()
    assert m.users.usercount == 2
    assert len(m.users) == 2
    assert m.users.anonymous_count == 0


def test_registered_login_after_join_while_playing() -> None:
    r = Replay("registered_login_admin")
    m = r.to_note("login as labbot")
    assert m.rank == -1
    assert m.name is None
    assert names(m) == ("labowner", "labuser")
    assert (rank_of(m, "labowner"), rank_of(m, "labuser")) == (5, 1)
    assert m.playlist.uids == (0, 1)
    assert [i.media.title for i in m.playlist.items] == ["Lab Long Video", "Lab Test Video One"]
    first = m.playlist.items[0]
    assert (first.queueby, first.temp) == ("labowner", False)
    assert (first.media.type, first.media.id) == ("cm", "http://127.0.0.1:8090/long.json")
    assert (first.media.seconds, first.media.duration) == (3600, "01:00:00")
    assert first.media.meta["direct"]["720"][0]["quality"] == 720
    assert m.playlist.current_uid == 0
    now = m.playlist.now_playing
    assert now is not None
    assert (now.media.title, now.uid, now.current_time, now.paused) == (
        "Lab Long Video",
        0,
        2,
        False,
    )
    meta = m.playlist.meta
    assert meta is not None
    assert (meta.count, meta.raw_time, meta.time) == (2, 3630, "01:00:30")
    assert m.playlist.total_seconds == 3630

    # The login sequence: rank 1, login, own addUser, rank 3, userlist (moderator view), ...
    m = r.through('"addUser",{"name":"labbot"')
    assert (m.rank, m.name, m.guest) == (1, "labbot", False)
    assert names(m) == ("labowner", "labuser", "labbot")
    assert rank_of(m, "labbot") == 1
    m = r.through('"rank",3')
    assert m.rank == 3
    m = r.through('"userlist"')
    owner = m.users.get("labowner")
    assert owner is not None
    assert owner.aliases == ("labowner",)
    assert owner.ip == "+Jk.8mt.w7K.DWD"
    assert owner.smuted is False
    assert rank_of(m, "labbot") == 3
    assert m.me is not None
    assert m.me.aliases == ("labbot",)

    m = r.to_note("requestPlaylist")
    now = m.playlist.now_playing
    assert now is not None
    assert (now.current_time, now.paused, now.uid) == (5.003, False, 0)
    assert m.rank == 3
    assert m.playlist.uids == (0, 1)
    assert m.playlist.current_uid == 0

    m = r.to_end()
    assert m.users.usercount == 3
    assert len(m.users) == 3
    assert m.playlist.uids == (0, 1)
    assert m.playlist.current_uid == 0
    assert m.playlist.now_playing is not None
    assert m.playlist.now_playing.media.title == "Lab Long Video"


def test_login_before_join() -> None:
    r = Replay("chat_and_pm")
    m = r.through('"login",{"success":true')
    assert (m.rank, m.name) == (1, "labbot")  # logged in, not joined yet
    m = r.through('"rank",3')
    assert m.rank == 3
    m = r.to_note("labuser sends chat")
    assert (m.rank, m.name, m.guest) == (3, "labbot", False)
    assert names(m) == ("labuser", "labbot")  # no own addUser, but listed in userlist
    assert m.me is not None
    assert m.me.rank == 3
    assert not m.afk
    assert not m.muted
    assert m.playlist.items == ()
    assert m.playlist.current_uid is None
    m = r.to_end()
    assert m.users.usercount == 2
    assert len(m.users) == 2


def test_users_coming_and_going() -> None:
    r = Replay("users_coming_and_going")
    m = r.through('"usercount",1')
    assert names(m) == ()
    assert m.users.usercount == 1
    assert m.users.anonymous_count == 1  # the bot itself, not logged in yet

    m = r.to_note("labuser joins + logs in")
    assert m.rank == 3
    assert names(m) == ("labbot",)
    assert m.me is not None
    assert m.me.ip == "+Jk.uw3.ch7.8Lh"

    m = r.to_note("an anonymous viewer joins")
    assert names(m) == ("labbot", "labuser")
    assert rank_of(m, "labuser") == 1
    labuser = m.users.get("labuser")
    assert labuser is not None
    assert labuser.aliases == ("labuser",)

    m = r.to_note("labmod joins")
    assert names(m) == ("labbot", "labuser", "visitor1461")
    assert rank_of(m, "visitor1461") == 0

    m = r.to_note("labuser: /afk")
    assert names(m) == ("labbot", "labuser", "visitor1461", "labmod")
    assert rank_of(m, "labmod") == 2  # addUser said 1, setUserRank 2 followed
    assert m.users.usercount == 5
    assert m.users.anonymous_count == 1

    m = r.to_note("labmod assigns leader to labuser")
    labuser = m.users.get("labuser")
    assert labuser is not None
    assert labuser.afk is True
    assert labuser.meta["afk"] is True
    assert m.users.leader is None

    m = r.to_note("labmod removes the leader")
    assert m.users.leader == "labuser"
    assert rank_of(m, "labuser") == 1.5
    assert not m.is_leader
    assert m.effective_rank == 3

    m = r.through('"setUserRank",{"name":"labuser","rank":1}')
    # rank comes first
    assert rank_of(m, "labuser") == 1
    assert m.users.leader == "labuser"
    m = r.through('"setLeader",""')
    assert m.users.leader is None

    m = r.to_note("labowner: setChannelRank labuser -> 2")
    assert names(m)[-1] == "labowner"
    assert rank_of(m, "labowner") == 5

    m = r.to_note("labowner: /rank labuser 1")
    assert rank_of(m, "labuser") == 2

    m = r.to_note("labuser: /afk again (back)")
    labuser = m.users.get("labuser")
    assert labuser is not None
    assert labuser.rank == 1
    assert labuser.afk is True

    m = r.to_note("guest visitor1461 leaves")
    labuser = m.users.get("labuser")
    assert labuser is not None
    assert labuser.afk is False
    assert m.users.usercount == 6

    m = r.to_note("anonymous viewer leaves")
    assert names(m) == ("labbot", "labuser", "labmod", "labowner")
    assert m.users.usercount == 5
    assert m.users.anonymous_count == 1

    m = r.to_note("wait for the trailing usercount")
    assert names(m) == ("labbot", "labowner")

    m = r.to_end()
    assert names(m) == ("labbot",)
    assert m.users.usercount == 1
    assert m.rank == 3


def test_playlist_operations() -> None:
    r = Replay("playlist_ops")
    m = r.to_note("queue test1 pos=end")
    assert m.rank == 3
    assert names(m) == ("labuser", "labbot")
    assert m.playlist.items == ()
    assert m.playlist.current_uid is None
    assert m.playlist.locked

    # The first item on an empty list starts at once, 3 s lead-in, paused.
    m = r.through('"changeMedia"')
    assert m.playlist.uids == (0,)
    assert m.playlist.current_uid == 0
    now = m.playlist.now_playing
    assert now is not None
    assert (now.media.title, now.uid, now.current_time, now.paused) == (
        "Lab Test Video One",
        0,
        -3,
        True,
    )
    m = r.through('"voteskip"')
    assert m.channel.voteskip == Voteskip(0, 0)
    assert m.channel.drink_count == 0

    m = r.to_note("queue test2 pos=end")
    assert m.playlist.now_playing is not None
    assert (m.playlist.now_playing.current_time, m.playlist.now_playing.paused) == (0, False)
    meta = m.playlist.meta
    assert meta is not None
    assert (meta.count, meta.raw_time) == (1, 30)

    m = r.to_note("queue test3 pos=end temp=True")
    assert m.playlist.uids == (0, 1)
    m = r.to_note("queue long pos=end")
    assert m.playlist.uids == (0, 1, 2)
    item = m.playlist.item(2)
    assert item is not None
    assert item.temp is True
    assert item.media.title == "Lab Test Video Three"
    m = r.to_note("queue short pos=next")
    assert m.playlist.uids == (0, 1, 2, 3)
    assert m.users.usercount == 2

    m = r.to_note("queue test2 pos=end")  # the duplicate
    assert m.playlist.uids == (0, 4, 1, 2, 3)  # "next" went right after the current item
    meta = m.playlist.meta
    assert meta is not None
    assert (meta.count, meta.raw_time, meta.time) == (5, 3743, "01:02:23")
    assert m.playlist.total_seconds == 3743
    assert m.playlist.now_playing is not None
    assert m.playlist.now_playing.current_time == 5.002

    m = r.to_note("setTemp uid 1 true")
    assert m.playlist.uids == (0, 4, 1, 2, 3)  # queueFail changed nothing
    m = r.to_note("moveMedia uid 3 after 0")
    item = m.playlist.item(1)
    assert item is not None
    assert item.temp is True
    m = r.to_note("delete uid 2")
    assert m.playlist.uids == (0, 3, 4, 1, 2)  # uid 3 moved after 0
    m = r.to_note("jumpTo uid 4")
    assert m.playlist.uids == (0, 3, 4, 1)
    meta = m.playlist.meta
    assert meta is not None
    assert (meta.count, meta.raw_time) == (4, 3683)
    assert m.playlist.total_seconds == 3683
    assert m.playlist.current_uid == 0

    m = r.through('"setCurrent",4')
    assert m.playlist.current_uid == 4
    current = m.playlist.current
    assert current is not None
    assert current.media.title == "Lab Short Clip"
    m = r.through('"changeMedia"')
    now = m.playlist.now_playing
    assert now is not None
    assert (now.media.title, now.uid, now.paused) == (
        "Lab Short Clip",
        4,
        True,
    )
    m = r.through('"mediaUpdate"')
    now = m.playlist.now_playing
    assert now is not None
    assert now.paused is True
    assert now.current_time == pytest.approx(-0.998)

    m = r.to_note("playNext")  # the 8 s clip ended by itself; uid 1 is next
    assert m.playlist.current_uid == 1
    assert m.playlist.uids == (0, 3, 4, 1)
    now = m.playlist.now_playing
    assert now is not None
    assert (now.media.title, now.uid, now.current_time, now.paused) == (
        "Lab Test Video Two",
        1,
        0,
        False,
    )

    m = r.through('"delete",{"uid":1}')  # playNext away from the temp item deletes it first
    assert m.playlist.uids == (0, 3, 4)
    assert m.playlist.now_playing is None
    m = r.to_note("shufflePlaylist")
    assert m.playlist.uids == (0, 3, 4)
    assert m.playlist.current_uid == 0
    now = m.playlist.now_playing
    assert now is not None
    assert (now.media.title, now.uid, now.current_time) == (
        "Lab Test Video One",
        0,
        -3,
    )
    meta = m.playlist.meta
    assert meta is not None
    assert (meta.count, meta.raw_time) == (3, 3638)

    m = r.to_note("togglePlaylistLock (unlock)")  # shuffled: uids renumbered
    assert m.playlist.uids == (6, 5, 7)
    assert m.playlist.current_uid == 6
    assert [i.media.title for i in m.playlist.items] == [
        "Lab Test Video One",
        "Lab Short Clip",
        "Lab Long Video",
    ]
    assert all(not i.temp and i.queueby == "labbot" for i in m.playlist.items)
    now = m.playlist.now_playing
    assert now is not None
    assert (now.media.title, now.uid, now.current_time, now.paused) == (
        "Lab Test Video One",
        6,
        0,
        False,
    )
    assert m.playlist.locked is True

    m = r.to_note("togglePlaylistLock (lock again)")
    assert m.playlist.locked is False
    m = r.to_note("clearPlaylist")
    assert m.playlist.locked is True

    m = r.to_end()
    assert m.playlist.items == ()
    assert m.playlist.current_uid is None
    assert m.playlist.now_playing is None
    meta = m.playlist.meta
    assert meta is not None
    assert (meta.count, meta.raw_time) == (0, 0)


def test_channel_admin() -> None:
    r = Replay("channel_admin")
    m = r.to_note("setMotd with HTML")
    assert m.rank == 3
    assert m.channel.motd == LAB_MOTD
    assert m.channel.css == ""
    original_options = dict(m.channel.options)

    m = r.to_note("setChannelCSS")
    assert m.channel.motd == (
        "<h3>Movie night</h3> every <b>Friday</b> &amp; <i>Saturday</i> "
        '<a href="https://example.com">info</a>'
    )
    m = r.to_note("setChannelJS")
    assert m.channel.css == "#chatwrap { background: #112233; }\n.lab { color: red; }"
    assert m.channel.css_hash == "tfX5cqdC7W/485PdNZieog=="
    assert (m.channel.js, m.channel.js_hash) == ("", EMPTY_HASH)
    m = r.to_note("setOptions (valid)")
    assert m.channel.js == "console.log('labchan js');"
    assert m.channel.js_hash == "DAOLAO5LHL5YCgOUDw+YRQ=="

    m = r.to_note("setOptions (invalid")
    options = m.channel.options
    assert (options["afk_timeout"], options["pagetitle"]) == (300, "Lab Movie Night")
    assert options["allow_dupes"] is True
    assert options["chat_antiflood"] is True
    assert options["chat_antiflood_params"] == {"burst": 5, "sustained": 2, "cooldown": 2.5}
    m = r.to_note("setPermissions (playlistadd 2, chat 1)")
    assert m.channel.options["voteskip_ratio"] == 0.5  # the validationErrors changed nothing
    assert m.channel.options["externalcss"] == ""

    # The bot sent {"playlistadd":2,"chat":1}; the server broadcast the whole table.
    m = r.to_note("updateEmote (add)")
    changed = {"playlistadd": 2, "chat": 1}
    assert m.channel.permissions == {**DEFAULT_PERMISSIONS, **changed}

    m = r.to_note("renameEmote")
    assert m.channel.emotes == (
        Emote(":labcat:", "https://media.example.invalid/labcat.png", r"(^|\s):labcat:(?!\S)"),
    )
    m = r.to_note("addFilter")
    assert [e.name for e in m.channel.emotes] == [":labkitty:"]
    assert m.channel.emote(":labcat:") is None
    assert m.channel.emote(":labkitty:") == Emote(
        ":labkitty:", "https://media.example.invalid/labcat.png", r"(^|\s):labkitty:(?!\S)"
    )

    m = r.to_note("labuser chats a message hit by the filter")
    assert m.channel.chat_filters is None  # only an update so far, not the list
    m = r.to_note("updateFilter (deactivate)")
    filters = m.channel.chat_filters
    assert filters is not None
    assert [f.name for f in filters] == [
        "monospace",
        "bold",
        "italic",
        "strike",
        "inline spoiler",
        "no spoilers",
    ]
    assert (filters[-1].source, filters[-1].flags, filters[-1].replace) == (
        "rosebud",
        "gi",
        "[redacted]",
    )
    assert filters[-1].active is True
    assert filters[0].replace == r"<code>\1</code>"
    m = r.to_note("restore everything")
    filters = m.channel.chat_filters
    assert filters is not None
    assert len(filters) == 6
    assert filters[-1].active is False
    m = r.to_note("removeEmote")
    filters = m.channel.chat_filters
    assert filters is not None
    assert [f.name for f in filters][-1] == "inline spoiler"
    m = r.to_note("setPermissions back")
    assert m.channel.emotes == ()
    m = r.to_note("setOptions back")
    assert m.channel.permissions == DEFAULT_PERMISSIONS
    m = r.to_note("setChannelJS back")
    assert m.channel.options == original_options
    assert m.channel.options["chat_antiflood_params"] == {"burst": 4, "sustained": 1, "cooldown": 4}
    m = r.to_note("setChannelCSS back")
    assert (m.channel.js, m.channel.js_hash) == ("", EMPTY_HASH)
    assert m.channel.css != ""
    m = r.to_note("setMotd back")
    assert (m.channel.css, m.channel.css_hash) == ("", EMPTY_HASH)
    m = r.to_end()
    assert m.channel.motd == LAB_MOTD
    assert m.users.usercount == 2


def test_errors_and_limits_across_connections() -> None:
    r = Replay("errors_and_limits")
    m = r.to_note("conn 2: join labchan")
    assert m.rank == -1
    assert names(m) == ()
    assert m.channel.permissions == {}

    m = r.to_note("login with a non-object payload")
    assert m.rank == -1
    assert names(m) == ()
    assert m.users.usercount == 1
    assert m.channel.permissions == DEFAULT_PERMISSIONS
    m = r.to_note("guest login errguest9751")
    # four refused logins change nothing
    assert m.rank == -1
    assert m.name is None

    m = r.to_note("setMotd as a guest -> kicked")
    assert (m.rank, m.name, m.guest) == (0, "errguest9751", True)
    assert names(m) == ("errguest9751",)
    # The server kicked the guest for this; the pre-check refuses it instead.
    with pytest.raises(ChannelPermissionError) as refused:
        require_event(m, "setMotd")
    assert "motdedit" in str(refused.value)
    assert "rank 3" in str(refused.value)
    assert "rank 0" in str(refused.value)

    m = r.to_note("password login as labbot")  # a new connection: everything was reset
    assert (m.rank, m.name, m.guest) == (-1, None, False)
    assert names(m) == ()
    assert m.users.usercount == 1

    m = r.to_note("/rank with bad syntax")
    assert (m.rank, m.name, m.guest) == (3, "labbot", False)
    assert m.me is not None
    assert m.me.aliases == ("errguest9751",)
    require_event(m, "setMotd")  # rank 3 may

    m = r.to_note("conns 4-9")
    assert m.users.usercount == 2
    assert m.rank == 3

    m = r.to_end()  # five bare connects (rank -1 each) and a refused sixth
    assert (m.rank, m.name) == (-1, None)
    assert names(m) == ()
    assert m.channel.permissions == {}
    assert m.users.usercount is None


def test_password_channel() -> None:
    r = Replay("password_channel")
    m = r.to_note("labowner sets the channel password")
    assert (m.rank, m.name, m.guest) == (0, "pwguest8550", True)
    assert names(m) == ("labowner", "pwguest8550")
    assert m.channel.options["password"] is False
    m = r.to_note("conn 2: joinChannel without a password")
    assert m.channel.options["password"] == "labsecret42"  # sent in clear, even to guests

    m = r.to_note("channelPassword (wrong)")  # new connection, still waiting for the password
    assert m.name is None
    assert m.rank == -1
    assert names(m) == ()
    assert dict(m.channel.options) == {}
    assert m.channel.motd == ""
    m = r.to_note("conn 3: joinChannel with a wrong pw")
    assert names(m) == ("labowner",)
    assert m.channel.options["password"] == "labsecret42"
    assert m.channel.motd == LAB_MOTD

    m = r.to_note("conn 4: joinChannel with the right pw")
    assert names(m) == ()
    assert dict(m.channel.options) == {}
    m = r.to_note("labowner removes the password")
    assert names(m) == ("labowner",)
    assert m.channel.options["password"] == "labsecret42"
    m = r.to_end()
    assert m.channel.options["password"] is False
